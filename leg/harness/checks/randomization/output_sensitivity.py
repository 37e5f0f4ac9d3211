"""How much of a model's output randomizing its layer groups changes.

The independent-randomization check asks an explanation to change when one layer group is
re-initialised alone. That is only a fair demand where the *model* changes: on a residual
network a block randomized alone is largely bypassed by its skip connection, so the
logits, and any faithful explanation of them, may hardly move. :func:`output_change`
measures it: per stage (one group alone, or a cascade), the logits of the same images
before and after, compared per image over the classes:

``pearson`` / ``spearman``
    Median over images of the Pearson / Spearman correlation, over the ``K`` classes, of
    the original and the randomized logits of that image (1: the ranking of the classes is
    untouched; about 0: unrelated).
``top1_agreement``
    Fraction of images whose top-1 class is unchanged.
``relative_change``
    Median over images of ``||z' - z|| / ||z||`` (logit vectors ``z``, ``z'``).

Logits are the model's pre-softmax scores (:func:`model_logits`). Randomization is
:func:`leg.harness.checks.randomization.layers.randomized` (seeded, batch-norm statistics
re-estimated on
``calibration``, default the images themselves as the harness does), always undone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leg.harness.checks.randomization.layers import cascading_stages, layer_groups, randomized

__all__ = ["KINDS", "model_logits", "logit_agreement", "output_change"]

KINDS = ("independent", "cascading", "bottom-up")


def _keras_logit_fn(model):
    import keras

    from leg.harness.checks.randomization.layers import keras_model_of

    inner = keras_model_of(model)
    last = inner.layers[-1]
    softmax_layer = (isinstance(last, keras.layers.Activation)
                     and last.get_config().get("activation") == "softmax")
    net = keras.Model(inner.input, last.input) if softmax_layer else inner
    preprocess = getattr(model, "preprocess", None)

    def logits(x):
        if callable(preprocess) and getattr(model, "model", None) is not None:
            x = preprocess(x)
        return np.asarray(net(np.asarray(x, dtype=np.float32), training=False), np.float64)

    return logits


def _torch_logit_fn(model):
    import torch

    from leg.harness.checks.randomization.layers_torch import torch_module_of
    from leg.torch_models import torch_module_inputs

    module = torch_module_of(model)

    def logits(x):
        inp = (torch_module_inputs(model, np.asarray(x, np.float32)) if hasattr(model, "module")
               else torch.as_tensor(np.asarray(x, np.float32)))
        with torch.no_grad():
            return module(inp).detach().cpu().double().numpy()

    return logits


def model_logits(model, images) -> np.ndarray:
    """``(N, K)`` pre-softmax scores of ``images`` ``(N, H, W, C)`` in ``[0, 1]``.

    A Keras model ending in a softmax ``Activation`` layer (the digits CNN) gives that
    layer's input; a KerasClassifier with ``softmax=True`` (Lite0) or a PyTorch module, the
    network's own output (preprocessed as the classifier does).
    """
    return _logit_fn(model)(images)


def _logit_fn(model):
    from leg.harness.checks.randomization.layers_torch import is_torch_model

    return _torch_logit_fn(model) if is_torch_model(model) else _keras_logit_fn(model)


def logit_agreement(before, after) -> dict:
    """Agreement of two ``(N, K)`` logit arrays of the same images (see the module)."""
    from scipy.stats import pearsonr, spearmanr

    z, w = np.asarray(before, np.float64), np.asarray(after, np.float64)
    if z.ndim != 2 or z.shape != w.shape or z.shape[1] < 2:
        raise ValueError(f"Expected two (N, K) logit arrays of one shape with K >= 2; got "
                         f"{z.shape} and {w.shape}.")

    def corr(fn, a, b):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return 1.0 if np.array_equal(a, b) else 0.0
        return float(fn(a, b).statistic)

    p = [corr(pearsonr, a, b) for a, b in zip(z, w, strict=True)]
    s = [corr(spearmanr, a, b) for a, b in zip(z, w, strict=True)]
    rel = np.linalg.norm(w - z, axis=1) / np.maximum(np.linalg.norm(z, axis=1), 1e-300)
    return {"pearson": float(np.median(p)), "spearman": float(np.median(s)),
            "pearson_min": float(np.min(p)), "spearman_min": float(np.min(s)),
            "top1_agreement": float(np.mean(z.argmax(1) == w.argmax(1))),
            "relative_change": float(np.median(rel))}


def output_change(model, images, *, kind: str = "independent",
                  groups: Sequence[str] | None = None, seed: int = 0,
                  calibration=None) -> list[dict]:
    """Per stage: :func:`logit_agreement` of the original and the randomized logits.

    ``images``: ``(N, H, W, C)`` in ``[0, 1]``, ``N >= 1``. ``kind``: ``"independent"``
    (each group of ``groups`` alone; default every group, output first), ``"cascading"``
    or ``"bottom-up"`` (the cumulative stages explained at ``groups``, default all).
    ``calibration``: batch-norm images, default ``images``. Each row: ``stage``,
    ``groups`` (those randomized), ``n_images`` and the agreement numbers.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; choose one of {list(KINDS)}.")
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"The images must have shape (N, H, W, C) with N >= 1; got {x.shape}.")
    calibration = x if calibration is None else calibration
    names = [g for g, _ in layer_groups(model)]
    unknown = sorted(set(groups or ()) - set(names))
    if unknown:
        raise ValueError(f"Unknown layer groups {unknown}; the model has {names}.")
    if kind == "independent":
        stages = [(f"independent-{g}", (g,)) for g in (groups or names)]
    else:
        order = "top-down" if kind == "cascading" else "bottom-up"
        stages = [(s.name, s.groups) for s in cascading_stages(names, groups, order=order)]
    logits = _logit_fn(model)
    z = logits(x)
    rows = []
    for name, chosen in stages:
        with randomized(model, chosen, seed=seed, calibration=calibration):
            w = logits(x)
        rows.append({"stage": name, "groups": list(chosen), "n_images": len(x),
                     **logit_agreement(z, w)})
    return rows
