"""The 2019 research code's API, kept working on top of :mod:`leg`.

Migration from the original scripts is one line::

    from LEG import *            # before
    from leg.compat import *     # now

``LEG_Explain`` takes images in ``[0, 255]`` (as ``keras.preprocessing.image.img_to_array``
gives) and feeds the model VGG "caffe" preprocessing by default, like the original; pass
``preprocessing=`` to choose another. It draws i.i.d. perturbations, as the original did,
with the laplacian covariance (see docs/migrating.md: the original README's
``noise_lvl = 0.3`` was meant for the older "smooth" scheme and saturates under the
laplacian one — a warning says so).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from leg._validation import check_choice, check_image, check_int
from leg.estimator import LEG, estimate_leg_tv
from leg.models import as_classifier
from leg.plotting import LEG_LABEL, STYLES, apply_direction, show_style, value_label

__all__ = ["LEG_Explain", "LEG_est", "generateHeatmap"]

#: What :func:`LEG_Explain`'s maps are (per-channel maps combined as absolute values).
COMPAT_LABEL = "LEG saliency: sum over channels of |d P(class) / d cell intensity|"


class LEG_est:  # noqa: N801 - the original public name
    """One result of :func:`LEG_Explain`: ``sol`` (H x W map), ``lbd`` (lambda), ``sz`` (noise)."""

    def __init__(self, sol=None, lbd=None, sz=None, result=None):
        self.sol = sol
        self.lbd = lbd
        self.sz = sz
        self.result = result  # the full leg.LEGResult (standard errors, channel maps, ...)

    def __repr__(self) -> str:
        shape = None if self.sol is None else np.shape(self.sol)
        return f"LEG_est(sol=<{shape}>, lbd={self.lbd}, sz={self.sz})"


def LEG_Explain(target_model, image0, filename=None, noise_lvl=(0.02,), lambda_lvl=(0.075,),  # noqa: N802
                sampling_size: int = 200, conv: int = 8, chosen_class: int | None = None, *,
                preprocessing: str | Callable = "caffe", softmax: bool = False,
                scheme: str = "laplacian", seed: int | None = None, solver: str = "highs",
                progress: bool | None = None) -> list[LEG_est]:
    """LEG-TV maps for every ``(noise, lambda)`` pair, noise-major, as the original did.

    Parameters
    ----------
    target_model : keras.Model or callable
        A Keras model (wrapped with ``preprocessing``) or a classifier on ``[0, 1]`` images.
    image0 : array (H, W, 3) in [0, 255]
    filename : str, unused
        Kept for the original signature (it named the image).
    noise_lvl, lambda_lvl : array-like of float
        One result per pair; ``lambda = 0`` gives plain LEG.
    sampling_size : int
        Perturbations per colour channel (the original's per-channel scheme).
    conv : int
        Cell size in pixels (224 px with 8 gives a 28 x 28 grid).
    chosen_class : int, optional
        Class to explain; default: the model's top-1 class.

    Returns
    -------
    list of LEG_est
        ``len(noise_lvl) * len(lambda_lvl)`` results, ``sol`` of shape ``(H, W)`` with the
        channel maps combined as the sum of absolute values (the original's choice).
    """
    image = check_image(image0, name="image0", value_range=(0.0, 255.0)) / 255.0
    noise = np.atleast_1d(np.asarray(noise_lvl, dtype=np.float64))
    lambdas = np.atleast_1d(np.asarray(lambda_lvl, dtype=np.float64))
    if noise.size == 0 or lambdas.size == 0:
        raise ValueError("The 'noise_lvl' and 'lambda_lvl' arrays must each hold at least one "
                         "value, e.g. np.array([0.02]) and np.array([0.075]).")
    sampling_size = check_int(sampling_size, "sampling_size", minimum=2)
    sampling_size += sampling_size % 2  # antithetic pairs, as the original drew them
    classifier = _classifier(target_model, preprocessing, softmax)
    results = []
    for i, sigma in enumerate(noise):
        explainer = LEG(classifier, cell_size=conv, sigma=float(sigma), n_samples=sampling_size,
                        scheme=scheme, mode="per_channel", combine="sum_abs", clip=True,
                        estimator="moment", design="iid", progress=progress)
        responses = explainer.sample(image, seed=None if seed is None else seed + i)
        for res in estimate_leg_tv(responses, chosen_class, lambdas=lambdas, solver=solver,
                                   combine="sum_abs", estimator="moment"):
            results.append(LEG_est(res.saliency, res.lam, float(sigma), res))
    return results


def _classifier(model, preprocessing, softmax):
    import sys

    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return as_classifier(model, preprocessing=preprocessing, softmax=softmax)
    return as_classifier(model)


def generateHeatmap(image0, heatmap, result_path, name, style="heatmap_only",  # noqa: N802
                    showOption=True, direction="all", *, label=None):  # noqa: N803
    """Save a figure of ``heatmap`` to ``result_path/name`` (and show it if ``showOption``).

    ``style``: ``"heatmap_only"`` (the map and a colour bar) or ``"gray"`` (the map over the
    grey image); ``"overlay"`` (colour over the image) is new. ``direction``: ``"all"``,
    ``"positive"`` (negatives set to 0) or ``"negative"`` (sign flipped, then negatives set
    to 0), as in the original. ``image0`` is in ``[0, 255]``. Returns the saved path.

    Colours changed where the original's were wrong for signed values: it drew every
    ``"heatmap_only"`` map with the one-sided ``hot`` map scaled to its own minimum and
    maximum, so zero had no colour of its own and the sign could not be read. Now a map
    with negative values (``direction="all"`` on a signed map) is drawn in the diverging
    ``RdBu_r``, centred on zero (limits ``±max|map|``), and a non-negative one (what
    ``"positive"`` and ``"negative"`` give, and :func:`LEG_Explain`'s maps, sums of
    absolute values) in a sequential map from zero (``inferno``; grey for ``"gray"``, as
    in the original). The colour bar is labelled: ``label``, by default what the values are
    for :func:`LEG_Explain`'s maps (see :mod:`leg.plotting`).
    """
    import matplotlib.pyplot as plt

    check_choice(style, "style", STYLES)
    image = check_image(image0, name="image0", value_range=(0.0, 255.0)) / 255.0
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.shape != image.shape[:2]:
        raise ValueError(f"The 'heatmap' must have the image's shape {image.shape[:2]}; got "
                         f"{heat.shape}.")
    os.makedirs(result_path, exist_ok=True)
    dest = os.path.join(result_path, name)
    values = apply_direction(heat, direction)
    if label is None:
        signed = bool(np.nanmin(heat) < 0)
        label = value_label(LEG_LABEL if signed else COMPAT_LABEL, direction)
    fig, _ = show_style(image, values, style, label=label)
    fig.savefig(dest, bbox_inches="tight")
    if showOption:
        plt.show()
    plt.close(fig)
    return dest


