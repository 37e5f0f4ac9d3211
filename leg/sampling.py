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

from leg import defaults
from leg._validation import check_choice, check_float, check_image, check_int
from leg.covariance import Covariance, get_covariance
from leg.designs import DrawStream, check_design, draw_streams
from leg.grid import Grid
from leg.models import evaluate
from leg.regression import PENALTIES, RidgeFit, design_matrix

MODES = ("per_channel", "joint")
SCORES = ("probability", "logit")
SATURATION_STD = 0.2  # per-cell noise std (in [0, 1] units) above which we warn
#: Noise level on [0, 1] images (laplacian scheme: per-cell std ~2σ). Chosen on the shipped
#: ImageNet model, where the network is far from linear at larger σ: docs/estimators.md.
DEFAULT_SIGMA = defaults.SIGMA


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
    design: str = "iid"
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

    def halves(self) -> tuple[Responses, Responses]:
        """The even and the odd units (antithetic pairs, or samples): two independent runs
        of half the samples each (see :mod:`leg.reliability`)."""
        unit = 2 if self.antithetic else 1
        units = self.n_samples // unit
        if units < 2:
            what = "antithetic pairs" if unit == 2 else "samples"
            raise ValueError(f"Splitting the samples needs at least 2 {what}; got {units}.")
        s, k, q = self.delta.shape[0], self.delta.shape[2], self.eps.shape[2]
        eps = self.eps[:, :units * unit].reshape(s, units, unit, q)
        delta = self.delta[:, :units * unit].reshape(s, units, unit, k)
        return tuple(replace(self, eps=eps[:, i::2].reshape(s, -1, q),
                             delta=delta[:, i::2].reshape(s, -1, k)) for i in (0, 1))

    def concat(self, more: Responses) -> Responses:
        """These samples followed by ``more``'s (same image, grid, law and mode): one set of
        responses of ``n_samples + more.n_samples`` per set."""
        same = (more.grid.shape == self.grid.shape and more.sigma == self.sigma
                and more.mode == self.mode and more.antithetic == self.antithetic
                and more.covariance.scheme == self.covariance.scheme
                and more.eps.shape[0] == self.eps.shape[0] and more.score == self.score
                and np.array_equal(more.f0, self.f0))
        if not same:
            raise ValueError("Responses can only be concatenated with responses of the same "
                             "image, grid, sigma, scheme, mode and score.")
        timings = {k: self.timings.get(k, 0.0) + more.timings.get(k, 0.0)
                   for k in set(self.timings) | set(more.timings)}
        return replace(self, eps=np.concatenate([self.eps, more.eps], axis=1),
                       delta=np.concatenate([self.delta, more.delta], axis=1),
                       timings=timings)


def _factorise(eps: np.ndarray, antithetic: bool, cov: Covariance, penalty: str) -> RidgeFit:
    X, dof = design_matrix(eps, antithetic)
    return RidgeFit.from_design(X, dof, cov, penalty)


def antithetic_draws(cov: Covariance, rng: np.random.Generator | DrawStream, n: int,
                     sigma: float) -> np.ndarray:
    """``n`` (even) grid perturbations ``(n, q)`` as pairs ``ε, −ε`` with ``ε ~ N(0, σ²Σ)``
    (i.i.d. from ``rng``, or the next draws of a design's :class:`~leg.designs.DrawStream`)."""
    draws = (rng.next(n // 2) if isinstance(rng, DrawStream) else cov.sample(rng, n // 2)
             ) * sigma
    return np.stack([draws, -draws], axis=1).reshape(-1, cov.q)


def draw_perturbations(streams: list[DrawStream], n: int, sigma: float, antithetic: bool
                       ) -> np.ndarray:
    """The next ``n`` perturbations of every set: ``(S, n, q)`` float32 (per set, in order)."""
    cov = streams[0].cov
    out = np.empty((len(streams), n, cov.q), dtype=np.float32)
    for s, stream in enumerate(streams):
        out[s] = (antithetic_draws(cov, stream, n, sigma) if antithetic
                  else stream.next(n) * sigma)
    return out


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
    design: str = "iid",
) -> Responses:
    """Draw perturbations, evaluate ``classifier`` and return the :class:`Responses`.

    ``n_samples`` is per sample set: ``per_channel`` mode costs ``C * n_samples`` model
    evaluations, ``joint`` mode ``n_samples``. ``design`` lays out the draws
    (:mod:`leg.designs`). The next batch of perturbed images is built in a background thread
    while the model evaluates the current one.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    sampler = Sampler(classifier, image, grid, sigma=sigma, scheme=scheme, mode=mode,
                      antithetic=antithetic, clip=clip, score=score, batch_size=batch_size,
                      seed=seed, progress=progress, design=design)
    return sampler.draw(n_samples)


class Sampler:
    """Perturbs one image in rounds: each :meth:`draw` continues the design's draw streams,
    so rounds add samples to the earlier ones (see :meth:`Responses.concat`) and nothing is
    drawn or evaluated twice. Arguments as :func:`sample_responses`."""

    def __init__(self, classifier, image: np.ndarray, grid: Grid, *,
                 sigma: float = DEFAULT_SIGMA, scheme: str = "laplacian",
                 mode: str = "per_channel", antithetic: bool = True, clip: bool = False,
                 score: str = "probability", batch_size: int = 64, seed: int | None = None,
                 progress: bool | None = None, design: str = "iid"):
        image = check_image(image)
        self.sigma = check_float(sigma, "sigma", low=0.0, low_inclusive=False)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.mode = check_choice(mode, "mode", MODES)
        self.score = check_choice(score, "score", SCORES)
        self.design = check_design(design)
        if (grid.height, grid.width) != image.shape[:2]:
            raise ValueError(f"The grid covers {grid.height}x{grid.width} px but the image is "
                             f"{image.shape[0]}x{image.shape[1]} px.")
        cov = get_covariance(grid.shape, scheme)
        cell_std = self.sigma * cov.cell_std
        if cell_std > SATURATION_STD:
            warnings.warn(
                f"sigma={sigma:g} with scheme={scheme!r} gives a per-cell noise std of about "
                f"{cell_std:.2f} on a [0, 1] image: the perturbed images saturate and the "
                "estimate degrades. The laplacian scheme's noise is ~2*sigma per cell; sigma "
                "in 0.0025-0.02 is typical "
                "(the 2019 README's 0.3 was meant for scheme='smooth').",
                UserWarning, stacklevel=3,
            )
        self.classifier, self.image, self.grid, self.cov = classifier, image, grid, cov
        self.antithetic, self.clip, self.seed, self.progress = bool(antithetic), bool(clip), \
            seed, progress
        self.score_fn = _score_function(classifier, self.score)
        self.n_sets = image.shape[2] if self.mode == "per_channel" else 1
        self.streams = draw_streams(cov, self.design, np.random.default_rng(seed), self.n_sets)
        self.f0: np.ndarray | None = None

    def draw(self, n_samples: int) -> Responses:
        """The next ``n_samples`` samples per set (even when antithetic), evaluated."""
        n_samples = check_int(n_samples, "n_samples", minimum=2)
        if self.antithetic and n_samples % 2:
            raise ValueError(
                f"The 'n_samples' parameter must be even with antithetic=True (pairs ε, −ε); "
                f"got {n_samples}. Use {n_samples - 1} or {n_samples + 1}.")
        classifier, image, grid, cov = self.classifier, self.image, self.grid, self.cov
        mode, clip, antithetic = self.mode, self.clip, self.antithetic
        t_start = time.perf_counter()
        if self.f0 is None:
            self.f0 = evaluate(self.score_fn, image[None])[0]
        f0 = self.f0
        k = f0.shape[0]
        # All noise of the round is drawn up front (per set, in order), so results do not
        # depend on batch_size nor on where the perturbed images are built.
        eps_all = draw_perturbations(self.streams, n_samples, self.sigma, antithetic)
        batch_size = self.batch_size
        step = batch_size if not antithetic else max(2, batch_size - batch_size % 2)
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        with tqdm(total=self.n_sets * n_samples, disable=not show, delay=2.0, unit="eval",
                  desc="LEG sampling", leave=False) as bar:
            factorised = {}
            if getattr(classifier, "device_batches", False):
                # The classifier builds the perturbed images where its model runs (a GPU):
                # only the grid-sized draws go in, only the scores come back. Meanwhile the
                # host factorises the regression, which needs the draws alone.
                if not clip:
                    factorised = _factorise_in_background(eps_all, antithetic, cov)
                t0 = time.perf_counter()
                scores, applied = classifier.perturbed_scores(
                    image, grid.pixel_cells(), eps_all, mode=mode, clip=clip,
                    score=self.score, batch_size=step, progress=bar.update)
                model_seconds = time.perf_counter() - t0
            else:
                scores, applied, model_seconds = _host_scores(
                    self.score_fn, image, grid, eps_all, mode=mode, clip=clip,
                    batch_size=step, n_classes=k, progress=bar.update,
                    # a model that computes in float32 is spared a float64 batch and its cast
                    dtype=getattr(classifier, "input_dtype", np.float64))
        if scores.shape[-1] != k:
            raise ValueError(f"The model returned {scores.shape[-1]} classes for the perturbed "
                             f"images but {k} for the image itself.")
        delta = np.subtract(scores, f0, out=scores)
        if clip:
            eps_all = np.asarray(applied, dtype=np.float32)
        timings = {"sampling": time.perf_counter() - t_start, "model": model_seconds}
        responses = Responses(image=image, grid=grid, covariance=cov, sigma=self.sigma,
                              mode=mode, eps=eps_all, delta=delta, f0=f0,
                              antithetic=antithetic, clip=clip, score=self.score,
                              seed=self.seed, timings=timings, design=self.design)
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
