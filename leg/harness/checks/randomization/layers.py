"""Model-parameter randomization of Keras models (Adebayo et al., 2018), always undone.

PyTorch models (a :class:`leg.TorchClassifier` or an ``nn.Module``) go through the same
functions: :func:`layer_groups`, :func:`randomize_groups`, :func:`recalibrate_batchnorm`
and :func:`randomized` hand them to :mod:`leg.harness.checks.randomization.layers_torch`, which
applies
this scheme to modules (same groups for Lite0, same seeding and restoring; the draws are
each module's own ``reset_parameters()``; the differences are documented there).
:func:`randomization_scheme` names the scheme a model gets (it is part of the cache key).

Layer groups
    The layers that hold weights are grouped and ordered from the output to the input
    (:func:`layer_groups`). Layers named ``block<i>_*``, ``head_*`` and ``stem_*`` (the
    EfficientNet-Lite0 of :mod:`leg.zoo.lite0`) form one group per prefix, so Lite0 gives
    ``logits`` (the classifier dense), ``head`` (conv head + its batch norm), ``block15``
    ... ``block0``, ``stem``. Every other weighted layer is its own group: the digits CNN
    gives ``logits``, ``dense1``, ``conv2``, ``conv1``.

Stages
    *Cascading* stage ``g`` re-initialises every group from the output down to and including
    ``g`` (cumulative, ``order="top-down"``, Adebayo et al.); with ``order="bottom-up"``
    (Binder et al., CVPR 2023) stage ``g`` re-initialises every group from the input up to
    and including ``g`` (kind ``"bottom-up"``, names ``bottom-up-<g>``), so the lower
    layers' forward signal is destroyed first; both orders end with every group
    randomized. *Independent* stage ``g`` re-initialises group ``g`` alone.

Re-initialisation scheme (documented, seeded): ``layer-initializers+bn-recalibration/v2``
    Each weight variable is drawn from its layer's own initializer when the layer has one
    for it (``kernel_initializer``, ``bias_initializer``, ``depthwise_initializer``,
    ``gamma_initializer``, ``beta_initializer``, ``moving_mean_initializer``,
    ``moving_variance_initializer``), re-created from its config with a seed. Otherwise a
    truncated normal (cut at 2 standard deviations) with standard deviation
    ``1 / sqrt(fan_in)``, ``fan_in`` = product of all dimensions but the last (the length
    for a vector). So dense/conv kernels get Glorot-uniform draws, biases and batch-norm
    shifts zeros, batch-norm scales ones — the layer's state at construction. The seed
    of each variable is derived from ``(seed, layer name, variable name)``, so the same
    seed gives the same weights whatever else is randomized.

    **Batch-norm statistics are re-estimated** (when ``calibration`` images are given,
    as the harness always does): after the draw, the moving mean and variance of every
    randomized ``BatchNormalization`` layer are set to the batch moments of its input
    on the calibration images, in topological order (one forward pass in training mode,
    with momentum 0 for the randomized layers and every other batch-norm layer frozen,
    so it runs on its stored statistics). A randomly initialised batch-norm network is
    only ever used with batch statistics — that is what normalises it — so this is the
    randomized network's own inference-mode state; it keeps no statistic of the trained
    model. Without ``calibration`` the moving statistics take their initializers' values
    (mean 0, variance 1: the state before any data was seen).

    Why (evidence, EfficientNet-Lite0, three photos, all 19 groups randomized): with the
    moving statistics reset to 0/1 the activations shrink about 40-fold per block
    (standard deviation 0.15 after the stem, 4e-4 after block 1, 3e-9 after block 7,
    1e-13 at the logits) — Keras' Glorot draw for a depthwise kernel uses a fan-in of
    ``k*k*C`` although each output sees ``k*k`` inputs, and nothing renormalises in
    inference mode. The softmax is then exactly uniform in float32, so every
    perturbation-based or gradient map is identically zero and a similarity check
    "passes" trivially. Keeping the *trained* moving statistics keeps the magnitudes in
    range (logit std 0.3) but not the image: the logits' spread across images is 3e-8
    and the largest input gradient 6e-18 — the output is a constant offset. A variance-
    preserving He draw with 0/1 statistics still vanishes (logits 2e-8). Re-estimated
    statistics give unit-variance activations through the network (std 1.0 after blocks
    1, 7 and 15), logits that differ between images (spread 0.11) and gradients of
    1e-2: a random network that still responds to its input, which is what the check
    needs. (Adebayo et al. re-initialise the learned weights; the moving statistics are
    not learned by gradient descent but estimated from activations, so they are
    re-estimated for the new weights rather than kept from the trained model.)

:func:`randomized` is a context manager that restores every touched variable when the
block exits, also when it raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from leg.harness.checks.randomization.seeds import ORDERS, check_order, seed_for  # noqa: F401  (ORDERS: API)

__all__ = [
    "ORDERS",
    "SCHEME",
    "Stage",
    "cascading_stages",
    "independent_stages",
    "keras_model_of",
    "layer_groups",
    "randomization_scheme",
    "randomize_groups",
    "randomized",
    "recalibrate_batchnorm",
    "seed_for",
]

SCHEME = "layer-initializers+bn-recalibration/v2"  # the Keras scheme (cache-key version)
_GROUP_PATTERN = re.compile(r"^(block\d+|head|stem)_")
#: Cascade orders: from the output down (Adebayo et al.) or from the input up.
def _torch_backend(model):
    """:mod:`leg.harness.checks.randomization.layers_torch` when ``model`` is a PyTorch model, else
    None."""
    from leg.harness.checks.randomization import layers_torch as randomization_torch

    return randomization_torch if randomization_torch.is_torch_model(model) else None


def randomization_scheme(model) -> str:
    """The name and version of the scheme ``model``'s randomization follows."""
    backend = _torch_backend(model)
    return backend.SCHEME if backend else SCHEME


def keras_model_of(model):
    """The ``keras.Model`` inside ``model`` (a KerasClassifier or a keras.Model)."""
    import keras

    inner = getattr(model, "model", model)
    if not isinstance(inner, keras.Model):
        raise TypeError(
            "Parameter randomization needs a Keras model (a keras.Model or a KerasClassifier "
            "with a .model) or a PyTorch one (a torch.nn.Module or a leg.TorchClassifier); got "
            f"{type(model).__name__}."
        )
    return inner


def _group_name(layer_name: str) -> str:
    m = _GROUP_PATTERN.match(layer_name)
    return m.group(1) if m else layer_name


def layer_groups(model, order: str = "top-down") -> list[tuple[str, list]]:
    """Weighted layers grouped and ordered from the output to the input.

    Returns a list of ``(group name, [layers])``; groups are ordered by the position of
    their last layer in ``model.layers`` (topological order), last first
    (``order="top-down"``) or first first (``"bottom-up"``). PyTorch models:
    ``(group name, [modules])``
    (:func:`leg.harness.checks.randomization.layers_torch.module_groups`).
    """
    check_order(order)
    backend = _torch_backend(model)
    if backend:
        return backend.module_groups(model, order)
    inner = keras_model_of(model)
    groups: dict[str, list] = {}
    last_index: dict[str, int] = {}
    for i, layer in enumerate(inner.layers):
        if not layer.weights:
            continue
        name = _group_name(layer.name)
        groups.setdefault(name, []).append(layer)
        last_index[name] = i
    names = sorted(groups, key=lambda g: last_index[g], reverse=order == "top-down")
    return [(g, groups[g]) for g in names]


@dataclass(frozen=True)
class Stage:
    """One state of a model in a sanity check.

    ``kind``: ``"original"``, ``"cascading"`` (``groups`` = every group from the output
    down to ``name``'s group), ``"bottom-up"`` (every group from the input up to
    ``name``'s group), ``"independent"`` (one group) or ``"label"`` (another model,
    ``model`` = its spec, trained on permuted labels). ``depth``: position in the cascade
    (0 = original).
    """

    name: str
    kind: str
    groups: tuple[str, ...] = ()
    depth: int = 0
    model: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "groups": list(self.groups),
                "depth": self.depth, "model": self.model}


def cascading_stages(group_names: Sequence[str], at: Sequence[str] | None = None,
                     order: str = "top-down") -> list[Stage]:
    """Cascading stages over ``group_names`` (output first, as :func:`layer_groups` gives
    them by default), explained at groups ``at``.

    ``order="top-down"``: stage ``cascade-<g>`` (kind ``"cascading"``) randomizes the groups
    from the output down to ``g``; ``"bottom-up"``: stage ``bottom-up-<g>`` (kind
    ``"bottom-up"``) randomizes them from the input up to ``g``, its first stage the input
    group alone. ``at=None`` explains after every group. The group reached last (the input
    group top-down, the output group bottom-up) is always included: full randomization.
    ``depth`` counts the randomized groups.
    """
    check_order(order)
    group_names = list(group_names)
    if order == "bottom-up":
        group_names.reverse()
    prefix, kind = ("cascade", "cascading") if order == "top-down" else ("bottom-up",
                                                                        "bottom-up")
    wanted = set(group_names if at is None else at) | {group_names[-1]}
    unknown = wanted - set(group_names)
    if unknown:
        raise ValueError(f"Unknown layer groups {sorted(unknown)}; the model has {group_names}.")
    stages = []
    for i, g in enumerate(group_names):
        if g in wanted:
            stages.append(Stage(f"{prefix}-{g}", kind, tuple(group_names[:i + 1]), i + 1))
    return stages


def independent_stages(group_names: Sequence[str], at: Sequence[str]) -> list[Stage]:
    """One stage per group in ``at`` that randomizes that group alone."""
    index = {g: i for i, g in enumerate(group_names)}
    unknown = set(at) - set(index)
    if unknown:
        raise ValueError(f"Unknown layer groups {sorted(unknown)}; the model has "
                         f"{list(group_names)}.")
    return [Stage(f"independent-{g}", "independent", (g,), index[g] + 1) for g in at]


def _var_name(v) -> str:
    return getattr(v, "name", str(v)).split("/")[-1].split(":")[0]


def _initializer_for(layer, var_name: str):
    for attr in (f"{var_name}_initializer", var_name.replace("_kernel", "") + "_initializer"):
        init = getattr(layer, attr, None)
        if init is not None and hasattr(init, "get_config"):
            return init
    return None


def _draw(layer, var, seed: int) -> np.ndarray:
    shape = tuple(int(d) for d in var.shape)
    dtype = str(getattr(var, "dtype", "float32"))
    name = _var_name(var)
    s = seed_for(seed, layer.name, name)
    init = _initializer_for(layer, name)
    if init is not None:
        import keras

        cfg = dict(init.get_config())
        if "seed" in cfg:
            cfg["seed"] = s
        fresh = type(init).from_config(cfg)
        return np.asarray(keras.ops.convert_to_numpy(fresh(shape, dtype=dtype)))
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else max(1, shape[0] if shape else 1)
    std = 1.0 / np.sqrt(fan_in)
    rng = np.random.default_rng(s)
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    return (x * std).astype(dtype)


def _calibration_inputs(model, calibration) -> np.ndarray:
    """``calibration`` images in the Keras model's input space (preprocessed if needed)."""
    x = np.asarray(calibration, dtype=np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"The 'calibration' images must have shape (N, H, W, C) with N >= 1; "
                         f"got {x.shape}.")
    preprocess = getattr(model, "preprocess", None)
    if callable(preprocess) and getattr(model, "model", None) is not None:
        x = np.asarray(preprocess(x), dtype=np.float32)
    return x


def _all_layers(model) -> Iterator:
    """Every layer of ``model``, nested models' layers included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def recalibrate_batchnorm(model, layers: Sequence, calibration) -> list:
    """Set the moving statistics of the batch-norm ``layers`` to their input's batch moments.

    ``calibration``: ``(N, H, W, C)`` images (``[0, 1]``, preprocessed by a
    KerasClassifier's ``preprocess`` when ``model`` is one). One forward pass in training
    mode: the given layers normalise with their batch moments and store them (momentum
    0); every other batch-norm layer is frozen for the pass (``trainable=False``, so it
    uses its stored statistics) and Dropout rates are 0. Flags are restored afterwards.
    Returns the variables that changed. PyTorch models:
    :func:`leg.harness.checks.randomization.layers_torch.recalibrate_batchnorm`.
    """
    backend = _torch_backend(model)
    if backend:
        return backend.recalibrate_batchnorm(model, layers, calibration)
    import keras

    bns = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return []
    inner = keras_model_of(model)
    x = _calibration_inputs(model, calibration)
    chosen = {id(layer) for layer in bns}
    every = list(_all_layers(inner))
    others = [layer for layer in every
              if isinstance(layer, keras.layers.BatchNormalization) and id(layer) not in chosen]
    drops = [layer for layer in every if isinstance(layer, keras.layers.Dropout)]
    saved = ([(layer, "momentum", layer.momentum) for layer in bns]
             + [(layer, "trainable", layer.trainable) for layer in bns + others]
             + [(layer, "rate", layer.rate) for layer in drops])
    try:
        for layer in bns:
            layer.momentum = 0.0
            layer.trainable = True
        for layer in others:
            layer.trainable = False
        for layer in drops:
            layer.rate = 0.0
        inner(x, training=True)
    finally:
        for layer, attr, value in saved:
            setattr(layer, attr, value)
    return [v for layer in bns for v in (layer.moving_mean, layer.moving_variance)]


def randomize_groups(model, groups: Sequence[str], *, seed: int = 0,
                     calibration=None) -> list:
    """Re-initialise (in place, not restored) the layers of ``groups``; returns the variables.

    ``calibration``: ``(N, H, W, C)`` images on which the randomized batch-norm layers'
    moving statistics are re-estimated (:func:`recalibrate_batchnorm`); ``None`` leaves
    them at their initializers' values. Prefer :func:`randomized`, which restores them.
    """
    backend = _torch_backend(model)
    if backend:
        return backend.randomize_groups(model, groups, seed=seed, calibration=calibration)
    available = dict(layer_groups(model))
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise ValueError(f"Unknown layer groups {unknown}; the model has {list(available)}.")
    touched = []
    for g in groups:
        for layer in available[g]:
            for var in layer.weights:
                var.assign(_draw(layer, var, seed))
                touched.append(var)
    if calibration is not None:
        recalibrate_batchnorm(model, [layer for g in groups for layer in available[g]],
                              calibration)
    return touched


@contextmanager
def randomized(model, groups: Sequence[str], *, seed: int = 0, calibration=None) -> Iterator:
    """Context manager: ``groups`` re-initialised inside, original weights restored after.

    ``model``: a KerasClassifier or keras.Model; yields ``model`` itself. ``calibration``:
    images for the batch-norm statistics (see :func:`randomize_groups`). The saved values
    are restored in a ``finally`` clause, so an exception inside the block (or during the
    randomization itself) leaves the model exactly as it was. A TorchClassifier or an
    ``nn.Module`` goes to :func:`leg.harness.checks.randomization.layers_torch.randomized`.
    """
    backend = _torch_backend(model)
    if backend:
        with backend.randomized(model, groups, seed=seed, calibration=calibration) as m:
            yield m
        return
    available = dict(layer_groups(model))
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise ValueError(f"Unknown layer groups {unknown}; the model has {list(available)}.")
    saved = [(var, np.array(var.numpy(), copy=True))
             for g in groups for layer in available[g] for var in layer.weights]
    try:
        randomize_groups(model, groups, seed=seed, calibration=calibration)
        yield model
    finally:
        for var, value in saved:
            var.assign(value)
