r"""LEG's exact estimand for a differentiable model, by autodiff.

Stein's identity gives ``E[ε Δf] = σ²Σ E[∇_ε f(x0 + ε)]``, so every LEG estimator (moment,
least squares, ridge) targets

.. math::  γ^* = E_ε[∇_ε f(x_0 + ε)],

the gradient with respect to the cell intensities (pixel gradients summed over each
cell's pixels, and over the channels in joint mode) averaged over the perturbation law.
:func:`leg_estimand` computes it by Monte Carlo over gradients at perturbed images drawn
from that law (antithetic pairs), with its own precision: the correlation of the
estimates from the two halves of the draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leg._validation import check_choice, check_float, check_image, check_int
from leg.covariance import get_covariance
from leg.grid import Grid
from leg.sampling import MODES, SCORES, antithetic_draws, perturbed_batch


@dataclass
class Estimand:
    """``γ*`` on the grid.

    Attributes
    ----------
    channel_maps : ndarray (S, ph, pw)
        One map per sample set (``S = C`` per channel, 1 joint), as ``LEGResult.channel_maps``.
    half_correlation : float
        Pearson correlation of the maps from the two halves of the draws (precision).
    n_draws : int
        Gradients averaged.
    """

    channel_maps: np.ndarray
    half_correlation: float
    n_draws: int
    sigma: float
    scheme: str
    mode: str
    target: int | tuple[int, int]
    grid: Grid


def _gradient(model, images: np.ndarray, target, score: str) -> np.ndarray:
    if isinstance(target, tuple):
        return (model.gradient(images, target[0], score=score)
                - model.gradient(images, target[1], score=score))
    return model.gradient(images, target, score=score)


def _cell_gradient(model, image, grid: Grid, draws: np.ndarray, mode: str, channel: int,
                   target, score: str) -> np.ndarray:
    """``(n, q)`` cell gradients at ``image`` plus each of ``draws`` ``(n, q)``."""
    batch = perturbed_batch(image, grid, draws, mode, channel)
    grad = _gradient(model, batch, target, score)
    del batch
    grad = grad[..., channel] if mode == "per_channel" else grad.sum(axis=-1)
    return grid.cell_sums(grad).reshape(len(draws), -1)


def leg_estimand(model, image: np.ndarray, grid: Grid, target: int | tuple[int, int], *,
                 sigma: float, scheme: str = "laplacian", mode: str = "joint",
                 score: str = "probability", n_draws: int = 4096, batch_size: int = 64,
                 gradient_batch_size: int = 16, seed: int | None = 0) -> Estimand:
    """``γ* = E[∇_ε f(x0 + ε)]`` for ``model`` at ``image`` ``(H, W, C)`` in ``[0, 1]``.

    ``model`` must have ``.gradient(images, target, score=...)`` returning ``(N, H, W, C)``
    pixel gradients (``KerasClassifier``, the ground-truth models, the zoo's models).
    ``n_draws`` gradients per sample set (even: antithetic pairs), drawn ``batch_size`` at a
    time (the draws depend on it and the seed) and reduced to running cell sums per half;
    the images go to ``model.gradient`` ``gradient_batch_size`` at a time (fewer if the
    model's own ``batch_size`` is smaller) and are reduced to cells at once. Peak memory is
    set by the gradient batch (a backward pass keeps every activation; docs/performance.md
    has Lite0's numbers), never by ``n_draws``; the gradient batch
    changes the result only by the model's float rounding.
    """
    if not callable(getattr(model, "gradient", None)):
        raise TypeError(
            f"The estimand needs a differentiable model with a .gradient(images, target, "
            f"score=...) method (KerasClassifier has one); {type(model).__name__} has none."
        )
    image = check_image(image)
    sigma = check_float(sigma, "sigma", low=0.0, low_inclusive=False)
    check_choice(mode, "mode", MODES)
    check_choice(score, "score", SCORES)
    n_draws = check_int(n_draws, "n_draws", minimum=4)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    gradient_batch_size = check_int(gradient_batch_size, "gradient_batch_size", minimum=1)
    if n_draws % 4:
        raise ValueError(f"The 'n_draws' parameter must be a multiple of 4 (antithetic pairs "
                         f"in two halves); got {n_draws}.")
    cov = get_covariance(grid.shape, scheme)
    rng = np.random.default_rng(seed)
    n_sets = image.shape[2] if mode == "per_channel" else 1
    half = n_draws // 2
    sums = np.zeros((2, n_sets, grid.size))
    step = max(2, batch_size - batch_size % 2)
    chunk = min(step, gradient_batch_size)
    for s in range(n_sets):
        for start in range(0, n_draws, step):
            stop = min(start + step, n_draws)
            draws = antithetic_draws(cov, rng, stop - start, sigma)
            # one gradient batch of images at a time, reduced to cells at once
            cells = np.concatenate([
                _cell_gradient(model, image, grid, draws[a:a + chunk], mode, s, target, score)
                for a in range(0, len(draws), chunk)])
            for h, (a, b) in enumerate([(start, min(stop, half)), (max(start, half), stop)]):
                if b > a:
                    sums[h, s] += cells[a - start:b - start].sum(axis=0)
    halves = sums / half
    maps = halves.mean(axis=0)
    r = np.corrcoef(halves[0].ravel(), halves[1].ravel())[0, 1]
    return Estimand(channel_maps=maps.reshape(n_sets, *grid.shape),
                    half_correlation=float(r), n_draws=n_draws, sigma=sigma, scheme=scheme,
                    mode=mode, target=target, grid=grid)
