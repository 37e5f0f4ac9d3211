"""Perturb an image with structured Gaussian noise and record the model's responses.

One call to :func:`sample_responses` draws ``n`` grid perturbations ``ε ~ N(0, σ²Σ)`` per
sample set, adds them (upsampled to pixels) to the image, evaluates the model in batches and
keeps ``Δf = f(x0 + ε) − f(x0)`` for *every* class, so LEG, LEG-TV, any target and any
contrast can be estimated later from the same samples without calling the model again.
"""

from __future__ import annotations

import sys
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from leg._validation import check_choice, check_float, check_image, check_int
from leg.covariance import Covariance, get_covariance
from leg.grid import Grid
from leg.models import evaluate
from leg.regression import PENALTIES, RidgeFit, design_matrix

MODES = ("per_channel", "joint")
SCORES = ("probability", "logit")
SATURATION_STD = 0.2  # per-cell noise std (in [0, 1] units) above which we warn
#: Noise level on [0, 1] images (laplacian scheme: per-cell std ~2σ). Chosen on the shipped
#: ImageNet model, where the network is far from linear at larger σ: see the README.
DEFAULT_SIGMA = 0.0025


@dataclass
class Responses:
    """The model's responses to perturbations of one image.

    Attributes
    ----------
    image : ndarray (H, W, C) in [0, 1]
    grid : Grid
    covariance : Covariance
    sigma : float
    mode : {"per_channel", "joint"}
        ``per_channel``: one sample set per colour channel; ``joint``: one set, noise added
        to all channels equally.
    eps : ndarray (S, n, q), float32
        Grid perturbations actually applied (``S`` sample sets, ``n`` per set). With
        clipping they are the pooled effective perturbations.
    delta : ndarray (S, n, K)
        ``f(x0 + ε) − f(x0)`` for every class.
    f0 : ndarray (K,)
        Scores of the unperturbed image.
    antithetic : bool
        Samples ``2j`` and ``2j+1`` are ``ε`` and ``−ε``.
    """

    image: np.ndarray
    grid: Grid
    covariance: Covariance
    sigma: float
    mode: str
    eps: np.ndarray
    delta: np.ndarray
    f0: np.ndarray
    antithetic: bool
    clip: bool
    score: str
    seed: int | None
    timings: dict = field(default_factory=dict)
    #: ``(set, penalty) -> RidgeFit`` (or its future): see :meth:`ridge_fit`.
    _fits: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_samples(self) -> int:
        return self.eps.shape[1]

    @property
    def n_evaluations(self) -> int:
        return self.eps.shape[0] * self.eps.shape[1] + 1

    @property
    def n_classes(self) -> int:
        return self.f0.shape[0]

    def ridge_fit(self, set_index: int, penalty: str) -> RidgeFit:
        """The regression's factorisation for sample set ``set_index`` and ``penalty``.

        It depends on the perturbations alone, so it is computed once and shared by every
        target, estimator and λ — or, when the model ran on a device, on the host while
        the device evaluated the perturbed images.
        """
        entry = self._fits.get((set_index, penalty))
        if entry is None:
            entry = self._fits[(set_index, penalty)] = _factorise(
                self.eps[set_index], self.antithetic, self.covariance, penalty)
        return entry.result() if isinstance(entry, Future) else entry

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fits"] = {}  # futures do not pickle; the factorisations are recomputed
        return state

    def head(self, n_samples: int) -> Responses:
        """The first ``n_samples`` samples of every set (whole antithetic pairs): what a
        smaller budget would have seen, without calling the model again."""
        unit = 2 if self.antithetic else 1
        if not unit <= n_samples <= self.n_samples or n_samples % unit:
            raise ValueError(f"'n_samples' must be {'an even number ' if unit == 2 else ''}"
                             f"between {unit} and {self.n_samples}; got {n_samples}.")
        return replace(self, eps=self.eps[:, :n_samples], delta=self.delta[:, :n_samples])


def _factorise(eps: np.ndarray, antithetic: bool, cov: Covariance, penalty: str) -> RidgeFit:
    X, dof = design_matrix(eps, antithetic)
    return RidgeFit.from_design(X, dof, cov, penalty)


def antithetic_draws(cov: Covariance, rng: np.random.Generator, n: int, sigma: float
                     ) -> np.ndarray:
    """``n`` (even) grid perturbations ``(n, q)`` as pairs ``ε, −ε`` with ``ε ~ N(0, σ²Σ)``."""
    draws = cov.sample(rng, n // 2) * sigma
    return np.stack([draws, -draws], axis=1).reshape(-1, cov.q)


def perturbed_batch(image: np.ndarray, grid: Grid, draws: np.ndarray, mode: str,
                    channel: int, dtype=np.float64) -> np.ndarray:
    """``image`` ``(H, W, C)`` plus each of ``draws`` ``(n, q)`` upsampled to pixels, on
    ``channel`` (``per_channel`` mode) or on every channel (``joint``): ``(n, H, W, C)``,
    summed in ``dtype``."""
    image = np.asarray(image, dtype=dtype)
    pixel_noise = grid.upsample(np.asarray(draws, dtype=dtype).reshape(-1, *grid.shape))
    if mode != "per_channel":
        return image[None] + pixel_noise[..., None]  # one pass over the batch
    batch = np.repeat(image[None], len(pixel_noise), axis=0)
    batch[..., channel] += pixel_noise
    return batch


def _score_function(classifier, score: str):
    if score == "probability":
        return classifier
    logits = getattr(classifier, "logits", None)
    if logits is None:
        raise ValueError(
            "score='logit' needs a classifier with a .logits(images) method (KerasClassifier "
            f"has one); {type(classifier).__name__} has none. Use score='probability', or "
            "pass a callable that returns logits."
        )
    return logits


def _host_scores(score_fn, image: np.ndarray, grid: Grid, eps: np.ndarray, *, mode: str,
                 clip: bool, batch_size: int, n_classes: int, progress, dtype=np.float64
                 ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Scores ``(S, n, K)`` of ``image`` plus each of ``eps`` ``(S, n, q)``, the perturbed
    images built in NumPy in a background thread while the model evaluates the previous
    batch; with ``clip`` also the applied perturbations pooled to cells; and the seconds
    spent in the model. The images are summed in ``dtype``."""
    n_sets, n, _ = eps.shape
    scores = np.empty((n_sets, n, n_classes))
    applied = np.empty(eps.shape, dtype=np.float32) if clip else None
    base = np.asarray(image, dtype=dtype)

    def make_batch(set_index: int, start: int, stop: int):
        batch = perturbed_batch(base, grid, eps[set_index, start:stop], mode, set_index, dtype)
        moved = None
        if clip:
            np.clip(batch, 0.0, 1.0, out=batch)
            moved = batch - base
            moved = moved.mean(axis=-1) if mode == "joint" else moved[..., set_index]
            moved = grid.pool(moved).reshape(stop - start, grid.size)
        return set_index, start, stop, batch, moved

    jobs = [(s, a, min(a + batch_size, n)) for s in range(n_sets)
            for a in range(0, n, batch_size)]
    model_seconds = 0.0
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(make_batch, *jobs[0])
        for job_index in range(len(jobs)):
            set_index, start, stop, batch, moved = pending.result()
            if job_index + 1 < len(jobs):
                pending = pool.submit(make_batch, *jobs[job_index + 1])
            t0 = time.perf_counter()
            scores[set_index, start:stop] = evaluate(score_fn, batch, expected_classes=n_classes)
            model_seconds += time.perf_counter() - t0
            if clip:
                applied[set_index, start:stop] = moved
            progress(stop - start)
    return scores, applied, model_seconds


def sample_responses(
    classifier,
    image: np.ndarray,
    grid: Grid,
    *,
    sigma: float = DEFAULT_SIGMA,
    n_samples: int = 300,
    scheme: str = "laplacian",
    mode: str = "per_channel",
    antithetic: bool = True,
    clip: bool = False,
    score: str = "probability",
    batch_size: int = 64,
    seed: int | None = None,
    progress: bool | None = None,
) -> Responses:
    """Draw perturbations, evaluate ``classifier`` and return the :class:`Responses`.

    ``n_samples`` is per sample set: ``per_channel`` mode costs ``C * n_samples`` model
    evaluations, ``joint`` mode ``n_samples``. The next batch of perturbed images is built
    in a background thread while the model evaluates the current one.
    """
    image = check_image(image)
    sigma = check_float(sigma, "sigma", low=0.0, low_inclusive=False)
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_choice(mode, "mode", MODES)
    check_choice(score, "score", SCORES)
    if antithetic and n_samples % 2:
        raise ValueError(f"The 'n_samples' parameter must be even with antithetic=True (pairs "
                         f"ε, −ε); got {n_samples}. Use {n_samples - 1} or {n_samples + 1}.")
    if (grid.height, grid.width) != image.shape[:2]:
        raise ValueError(f"The grid covers {grid.height}x{grid.width} px but the image is "
                         f"{image.shape[0]}x{image.shape[1]} px.")
    cov = get_covariance(grid.shape, scheme)
    cell_std = sigma * cov.cell_std
    if cell_std > SATURATION_STD:
        warnings.warn(
            f"sigma={sigma:g} with scheme={scheme!r} gives a per-cell noise std of about "
            f"{cell_std:.2f} on a [0, 1] image: the perturbed images saturate and the estimate "
            "degrades. The laplacian scheme's noise is ~2*sigma per cell; sigma in 0.0025-0.02 "
            "is typical "
            "(the 2019 README's 0.3 was meant for scheme='smooth').",
            UserWarning, stacklevel=2,
        )
    score_fn = _score_function(classifier, score)
    rng = np.random.default_rng(seed)
    h, w, c = image.shape
    n_sets = c if mode == "per_channel" else 1
    t_start = time.perf_counter()
    f0 = evaluate(score_fn, image[None])[0]
    k = f0.shape[0]
    eps_all = np.empty((n_sets, n_samples, grid.size), dtype=np.float32)

    # All noise is drawn up front (per set, in order), so results do not depend on batch_size
    # nor on where the perturbed images are built.
    for set_index in range(n_sets):
        eps_all[set_index] = (antithetic_draws(cov, rng, n_samples, sigma) if antithetic
                              else cov.sample(rng, n_samples) * sigma)

    step = batch_size if not antithetic else max(2, batch_size - batch_size % 2)
    show = progress if progress is not None else sys.stderr.isatty()
    with tqdm(total=n_sets * n_samples, disable=not show, delay=2.0, unit="eval",
              desc="LEG sampling", leave=False) as bar:
        factorised = {}
        if getattr(classifier, "device_batches", False):
            # The classifier builds the perturbed images where its model runs (a GPU): only
            # the grid-sized draws go in, only the scores come back. Meanwhile the host
            # factorises the regression, which needs the draws alone.
            if not clip:
                factorised = _factorise_in_background(eps_all, antithetic, cov)
            t0 = time.perf_counter()
            scores, applied = classifier.perturbed_scores(
                image, grid.pixel_cells(), eps_all, mode=mode, clip=clip, score=score,
                batch_size=step, progress=bar.update)
            model_seconds = time.perf_counter() - t0
        else:
            scores, applied, model_seconds = _host_scores(
                score_fn, image, grid, eps_all, mode=mode, clip=clip, batch_size=step,
                n_classes=k, progress=bar.update,
                # a model that computes in float32 is spared a float64 batch and its cast
                dtype=getattr(classifier, "input_dtype", np.float64))
    if scores.shape[-1] != k:
        raise ValueError(f"The model returned {scores.shape[-1]} classes for the perturbed "
                         f"images but {k} for the image itself.")
    delta = np.subtract(scores, f0, out=scores)
    if clip:
        eps_all = np.asarray(applied, dtype=np.float32)
    timings = {"sampling": time.perf_counter() - t_start, "model": model_seconds}
    responses = Responses(image=image, grid=grid, covariance=cov, sigma=sigma, mode=mode,
                          eps=eps_all, delta=delta, f0=f0, antithetic=antithetic, clip=clip,
                          score=score, seed=seed, timings=timings)
    responses._fits.update(factorised)
    return responses


def _factorise_in_background(eps: np.ndarray, antithetic: bool, cov: Covariance
                             ) -> dict[tuple[int, str], Future]:
    """Futures of every set's factorisation for both penalties, computed in one host thread
    (LAPACK releases the GIL)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leg-factorise")
    futures = {(s, penalty): pool.submit(_factorise, eps[s], antithetic, cov, penalty)
               for s in range(eps.shape[0]) for penalty in PENALTIES if penalty != "auto"}
    pool.shutdown(wait=False)
    return futures
