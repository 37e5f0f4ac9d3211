"""Model-parameter randomization of PyTorch modules: the scheme of
:mod:`leg.harness.checks.randomization.layers` (Keras) for ``torch.nn.Module`` s, always undone.

:mod:`leg.harness.checks.randomization.layers` dispatches here for a :class:`leg.TorchClassifier`
or a bare
``nn.Module``; the sanity suites call only that module. What is the same as for Keras, and
what differs:

Module groups
    The *weighted modules* are those holding parameters or buffers of their own
    (``recurse=False``). EfficientNet naming (``_conv_stem``, ``_bn0``, ``_blocks.<i>``,
    ``_conv_head``, ``_bn1``, ``_fc``: :mod:`leg.zoo.lite0_torch` and the
    ``efficientnet-pytorch`` packages) gives the Keras Lite0 groups: ``logits`` (``_fc``),
    ``head`` (``_conv_head``, ``_bn1``), ``block15`` ... ``block0``, ``stem`` (``_conv_stem``,
    ``_bn0``). Any other module: one group per top-level weighted module, where containers
    (``nn.Sequential``, ``nn.ModuleList``, ``nn.ModuleDict``) are opened as Keras flattens a
    ``Sequential`` — a root ``nn.Sequential(conv, bn, relu, linear)`` gives ``3``, ``1``,
    ``0``; ``resnet18`` gives ``fc``, ``layer4.1``, ... ``bn1``, ``conv1``. Parameters of
    the root module itself form the group ``root``. Groups are ordered from the output to
    the input by the registration position of their last weighted module (registration
    order stands in for Keras' topological order; it is the order of ``forward`` in every
    model of the zoo, but a module may register its layers in any order).

Re-initialisation (scheme ``reset-parameters+bn-recalibration/v1``)
    Each weighted module gets the draw of its own ``reset_parameters()`` — PyTorch's
    construction-time initialisation (Kaiming-uniform convolution and linear weights with
    fan-in-scaled uniform biases, batch-norm scale 1, shift 0, statistics 0/1) — where the
    Keras scheme uses the layer's initializers (Glorot-uniform kernels, zero biases): each
    framework re-creates the layer as it would construct it. A module without
    ``reset_parameters`` gets, per parameter, a normal truncated at 2 standard deviations
    with standard deviation ``1 / sqrt(fan_in)`` (``fan_in`` = all dimensions but the first,
    PyTorch's ``(out, in, ...)`` layout; the length for a vector), as Keras' fallback; its
    buffers are kept. Every parameter is drawn with the seed derived from ``(seed, module
    name, parameter name)`` exactly as in Keras (module names are qualified,
    ``_blocks.3._bn1``): ``reset_parameters()`` runs on a CPU copy of the module under
    :func:`torch.random.fork_rng` seeded for that parameter, once per parameter, and only
    that parameter is kept. So the same seed gives the same weights whatever else is
    randomized, on any device (the draw is on the CPU), and the global random state is left
    as it was.

Batch-norm re-estimation
    As for Keras, with ``calibration`` images: the statistics of every randomized batch-
    norm module (``nn.BatchNorm1d/2d/3d`` and subclasses with running statistics) are set to
    its input's batch moments in one forward pass over all calibration images, with those
    modules in training mode and ``momentum=None`` (a cumulative average: after one batch,
    the batch's moments) and every other module in evaluation mode (other batch norms use
    their stored statistics, dropout is off); modes and momenta are restored afterwards.
    One difference: PyTorch stores the *unbiased* batch variance (``n / (n - 1)`` times
    Keras' biased one, ``n`` = images x height x width at that layer, so at least ``N``;
    2 x 112 x 112 at Lite0's stem) — PyTorch's convention, kept. Without calibration the
    statistics keep ``reset_parameters``' 0/1. Why re-estimate: see
    :mod:`leg.harness.checks.randomization.layers`.

:func:`randomized` restores every touched parameter and buffer in place (the tensors, and
so a TorchClassifier wrapping the module, stay the same objects) when the block exits, also
when it raises.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from leg.harness.checks.randomization.seeds import check_order, seed_for

__all__ = [
    "SCHEME",
    "is_torch_model",
    "module_groups",
    "randomize_groups",
    "randomized",
    "recalibrate_batchnorm",
    "torch_module_of",
]

SCHEME = "reset-parameters+bn-recalibration/v1"

#: EfficientNet-PyTorch's top-level modules and their Keras Lite0 group names.
_EFFICIENTNET = {"_conv_stem": "stem", "_bn0": "stem", "_conv_head": "head", "_bn1": "head",
                 "_fc": "logits"}


def is_torch_model(model) -> bool:
    """Whether ``model`` is an ``nn.Module`` or wraps one (``.module``), without importing
    torch when nothing imported it yet."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(getattr(model, "module", model), torch.nn.Module)


def torch_module_of(model):
    """The ``nn.Module`` of ``model`` (a TorchClassifier's ``.module`` or the module)."""
    if not is_torch_model(model):
        raise TypeError("Expected a torch.nn.Module or a leg.TorchClassifier (with .module); "
                        f"got {type(model).__name__}.")
    return getattr(model, "module", model)


def _own_tensors(module) -> list:
    return [*module.named_parameters(recurse=False),
            *((n, b) for n, b in module.named_buffers(recurse=False) if b is not None)]


def _top_level(root, name: str) -> str:
    """The outermost module above ``name`` that is not a container (containers opened)."""
    from torch import nn

    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    parts = name.split(".")
    for k in range(1, len(parts) + 1):
        prefix = ".".join(parts[:k])
        if not isinstance(root.get_submodule(prefix), containers):
            return prefix
    return name


def _group_name(root, name: str, efficientnet: bool) -> str:
    if not name:
        return "root"
    parts = name.split(".")
    if efficientnet:
        if parts[0] == "_blocks" and len(parts) > 1:
            return f"block{parts[1]}"
        if parts[0] in _EFFICIENTNET:
            return _EFFICIENTNET[parts[0]]
    return _top_level(root, name)


def _named_groups(model) -> list[tuple[str, list[tuple[str, object]]]]:
    """``(group, [(qualified module name, module)])``, output first."""
    root = torch_module_of(model)
    children = {n for n, _ in root.named_children()}
    efficientnet = {"_conv_stem", "_blocks", "_fc"} <= children
    groups: dict[str, list] = {}
    last: dict[str, int] = {}
    for i, (name, module) in enumerate(root.named_modules()):
        if not _own_tensors(module):
            continue
        g = _group_name(root, name, efficientnet)
        groups.setdefault(g, []).append((name, module))
        last[g] = i
    return [(g, groups[g]) for g in sorted(groups, key=last.__getitem__, reverse=True)]


def module_groups(model, order: str = "top-down") -> list[tuple[str, list]]:
    """Weighted modules grouped and ordered from the output to the input
    (``order="top-down"``) or from the input to the output (``"bottom-up"``):
    ``[(group name, [modules])]`` (see the module docstring)."""

    groups = [(g, [m for _, m in members]) for g, members in _named_groups(model)]
    return groups[::-1] if check_order(order) == "bottom-up" else groups


def _select(model, groups: Sequence[str]) -> list[tuple[str, object]]:
    available = dict(_named_groups(model))
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise ValueError(f"Unknown layer groups {unknown}; the model has {list(available)}.")
    return [pair for g in groups for pair in available[g]]


def _fallback_draw(tensor, seed: int):
    """Truncated normal (2 std), std ``1/sqrt(fan_in)``, on the CPU, float32."""
    import torch

    shape = tuple(tensor.shape)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else max(1, shape[0] if shape else 1)
    std = 1.0 / math.sqrt(fan_in)
    out = torch.empty(shape)
    gen = torch.Generator().manual_seed(seed)
    torch.nn.init.trunc_normal_(out, std=std, a=-2 * std, b=2 * std, generator=gen)
    return out


def _draws(name: str, module, seed: int) -> dict:
    """The new value (CPU tensor) of each own parameter and buffer of ``module``."""
    import torch

    params = [n for n, _ in module.named_parameters(recurse=False)]
    reset = getattr(module, "reset_parameters", None)
    if not callable(reset):
        return {p: _fallback_draw(getattr(module, p), seed_for(seed, name, p)) for p in params}
    cpu = copy.deepcopy(module).to("cpu")
    out = {}
    for p in params or [None]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(seed, name, p or ""))
            with torch.no_grad():
                cpu.reset_parameters()
        if p is not None:
            out[p] = getattr(cpu, p).detach().clone()
    out.update({n: b.detach().clone() for n, b in cpu.named_buffers(recurse=False)
                if b is not None})
    return out


def _calibration_inputs(model, calibration):
    """``calibration`` as the module's input: a TorchClassifier's ``(N, H, W, C)`` ``[0, 1]``
    images preprocessed (:func:`leg.torch_models.torch_module_inputs`); for a bare module,
    its own inputs as they are (on its device)."""
    import torch

    from leg.torch_models import torch_module_inputs

    x = np.asarray(calibration, dtype=np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"The 'calibration' images must have shape (N, H, W, C) with N >= 1 "
                         f"(a bare module: its own 4-D input); got {x.shape}.")
    if hasattr(model, "module") and callable(getattr(model, "preprocess", None)):
        return torch_module_inputs(model, x)
    device = next(iter(model.parameters()), torch.empty(0)).device
    return torch.as_tensor(x, device=device)


def recalibrate_batchnorm(model, modules: Sequence, calibration) -> list:
    """Set the running statistics of the batch-norm ``modules`` to their input's batch
    moments on ``calibration`` (see the module docstring); returns the changed tensors."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    bns = [m for m in modules if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not bns:
        return []
    root = torch_module_of(model)
    x = _calibration_inputs(model, calibration)
    modes = [(m, m.training) for m in root.modules()]
    momenta = [(m, m.momentum) for m in bns]
    try:
        root.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        with torch.no_grad():
            root(x)
    finally:
        for m, training in modes:
            m.training = training
        for m, momentum in momenta:
            m.momentum = momentum
    return [t for m in bns for t in (m.running_mean, m.running_var)]


def randomize_groups(model, groups: Sequence[str], *, seed: int = 0,
                     calibration=None) -> list:
    """Re-initialise (in place, not restored) the modules of ``groups``; returns the
    tensors. ``calibration`` as in :func:`recalibrate_batchnorm`. Prefer :func:`randomized`."""
    import torch

    chosen = _select(model, groups)
    touched = []
    with torch.no_grad():
        for name, module in chosen:
            own = dict(_own_tensors(module))
            for key, value in _draws(name, module, seed).items():
                own[key].copy_(value)
                touched.append(own[key])
    if calibration is not None:
        recalibrate_batchnorm(model, [m for _, m in chosen], calibration)
    return touched


@contextmanager
def randomized(model, groups: Sequence[str], *, seed: int = 0, calibration=None) -> Iterator:
    """Context manager: ``groups`` re-initialised inside, every parameter and buffer of
    their modules restored in place after (also on error); yields ``model``."""
    import torch

    saved = [(t, t.detach().clone()) for _, module in _select(model, groups)
             for _, t in _own_tensors(module)]
    try:
        randomize_groups(model, groups, seed=seed, calibration=calibration)
        yield model
    finally:
        with torch.no_grad():
            for tensor, value in saved:
                tensor.copy_(value)
