"""LEG and LEG-TV estimates from sampled responses, and the explainer classes.

LEG estimates ``γ* = E[∇_ε f(x0 + ε)]``, the noise-smoothed gradient of the target score
with respect to the cell intensities, with one of three estimators on the same samples:

- ``"ridge"`` (default): the half-differences of antithetic pairs regressed on their
  perturbations, penalty chosen by generalised cross-validation (:mod:`leg.regression`);
- ``"ols"``: the same regression unpenalised (needs more pairs than cells);
- ``"moment"``: the paper's ``γ = (σ²Σ)⁻¹ ŷ`` with ``ŷ = mean_i(Δf_i ε_i)``.

LEG-TV: the sparse-gradient LP of :mod:`leg.tv`; with a regression estimator its right-hand
side is ``σ²Σγ̂`` (so ``λ = 0`` returns ``γ̂`` and ``λ`` keeps its meaning).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from leg import defaults
from leg._validation import check_choice, check_float, check_image, check_int
from leg.designs import DEFAULT_DESIGN, check_design
from leg.grid import Grid
from leg.models import as_classifier
from leg.regression import ESTIMATORS, PENALTIES, check_alpha, design, fit
from leg.reliability import Reliability, from_halves, from_split_ratio, from_stderr
from leg.sampling import DEFAULT_SIGMA, Responses, Sampler, sample_responses
from leg.tv import DEFAULT_SOLVER, check_solver, solve_leg_tv

COMBINE = ("mean_abs", "sum", "mean", "sum_abs")
Target = int | tuple[int, int] | None


@dataclass
class LEGResult:
    """One saliency estimate.

    Attributes
    ----------
    saliency : ndarray (H, W)
        Pixel-resolution map (cells copied to their pixels).
    cell_map : ndarray (ph, pw)
        The estimate on the cell grid.
    channel_maps : ndarray (S, ph, pw)
        One signed map per sample set (``S = C`` in per-channel mode, 1 in joint mode).
    stderr : ndarray (ph, pw) or None
        Per-cell standard error of ``cell_map`` (LEG only; the spread of the per-pair terms
        for ``"moment"``, which assumes i.i.d. draws and overstates the error of the other
        designs; the HC2 sandwich for the regressions; for ``mean_abs`` it ignores the
        sign).
    target : int or (int, int)
        Class index, or ``(k, k')`` for the contrast ``score_k − score_k'``.
    score : float
        The target score of the unperturbed image.
    estimator : {"ridge", "ols", "moment"}
    alpha, penalty : list or None
        The ridge strength and penalty matrix of each sample set (chosen by GCV unless fixed).
    reliability : leg.reliability.Reliability or None
        Predicted correlation of ``cell_map`` with a rerun's (another seed, same settings):
        ``.pearson``, ``.spearman`` in ``[0, 1]`` and ``.method`` (see
        :mod:`leg.reliability`). Too optimistic with fewer antithetic pairs than cells.
    auto : AutoSampling or None
        With ``n_samples="auto"``: the target, whether it was reached, the rounds drawn.
    design : {"iid", "orthogonal", "sobol"}
        How the perturbations were drawn (:mod:`leg.designs`).
    """

    method: str
    saliency: np.ndarray
    cell_map: np.ndarray
    channel_maps: np.ndarray
    stderr: np.ndarray | None
    channel_stderr: np.ndarray | None
    target: int | tuple[int, int]
    score: float
    sigma: float
    lam: float | None
    n_samples: int
    n_evaluations: int
    scheme: str
    mode: str
    combine: str
    seed: int | None
    grid: Grid
    estimator: str = "moment"
    alpha: list[float] | None = None
    penalty: list[str] | None = None
    timings: dict = field(default_factory=dict)
    reliability: Reliability | None = None
    auto: AutoSampling | None = None
    design: str = "iid"
    #: What was explained: the classifier's ``"probability"`` or its ``"logit"``.
    score_kind: str = "probability"

    def upsampled(self, method: str = "bilinear") -> np.ndarray:
        """The cell map upsampled to ``(H, W)`` with ``"nearest"`` or ``"bilinear"``."""
        return self.grid.upsample(self.cell_map, method)

    def summary(self) -> dict:
        """JSON-ready parameters and timings (no arrays)."""
        return {
            "method": self.method, "target": self.target, "score": self.score,
            "sigma": self.sigma, "lambda": self.lam, "n_samples": self.n_samples,
            "n_evaluations": self.n_evaluations, "scheme": self.scheme, "mode": self.mode,
            "combine": self.combine, "seed": self.seed, "grid": list(self.grid.shape),
            "estimator": self.estimator, "alpha": self.alpha,
            "penalty": self.penalty, "design": self.design,
            "reliability": None if self.reliability is None else self.reliability.summary(),
            "auto": None if self.auto is None else self.auto.summary(),
            "timings": dict(self.timings),
        }


@dataclass
class AutoSampling:
    """What ``n_samples="auto"`` did: drew rounds until the predicted reliability
    (``LEGResult.reliability.spearman``) reached ``target`` or the samples per set reached
    ``max_samples``.

    ``history``: ``(samples per set, predicted Spearman)`` after each round.
    """

    target: float
    reached: bool
    max_samples: int
    n_samples: int
    n_evaluations: int
    history: list[tuple[int, float]]

    @property
    def rounds(self) -> int:
        return len(self.history)

    def summary(self) -> dict:
        return {"target": self.target, "reached": self.reached, "rounds": self.rounds,
                "max_samples": self.max_samples, "n_samples": self.n_samples,
                "n_evaluations": self.n_evaluations,
                "history": [[n, round(r, 4)] for n, r in self.history]}


def resolve_target(responses: Responses, target: Target) -> int | tuple[int, int]:
    """``None`` -> top-1 class of the unperturbed image; checks indices are in range."""
    k = responses.n_classes
    if target is None:
        return int(np.argmax(responses.f0))
    items = target if isinstance(target, tuple | list) else (target,)
    if len(items) not in (1, 2):
        raise ValueError(f"The 'target' must be a class index or a pair (k, k'); got {target!r}.")
    for t in items:
        if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 0 <= t < k:
            raise ValueError(
                f"The 'target' must be a class index in [0, {k - 1}] or a pair of them; "
                f"got {target!r}."
            )
    return (int(items[0]), int(items[1])) if len(items) == 2 else int(items[0])


def _target_delta(responses: Responses, target) -> tuple[np.ndarray, float]:
    if isinstance(target, tuple):
        k, k2 = target
        return (responses.delta[..., k] - responses.delta[..., k2],
                float(responses.f0[k] - responses.f0[k2]))
    return responses.delta[..., target], float(responses.f0[target])


def _combine(maps: np.ndarray, how: str) -> np.ndarray:
    if maps.shape[0] == 1:
        return maps[0]
    if how == "mean_abs":
        return np.abs(maps).mean(axis=0)
    if how == "sum_abs":
        return np.abs(maps).sum(axis=0)
    if how == "sum":
        return maps.sum(axis=0)
    return maps.mean(axis=0)


def _combine_stderr(se: np.ndarray, how: str) -> np.ndarray:
    if se.shape[0] == 1:
        return se[0]
    total = np.sqrt((se**2).sum(axis=0))
    return total / se.shape[0] if how in ("mean_abs", "mean") else total


def rhs(responses: Responses, target) -> np.ndarray:
    """``ŷ = mean_i(Δf_i ε_i)`` per sample set: ``(S, q)``."""
    d, _ = _target_delta(responses, target)
    return np.einsum("sn,snq->sq", d, responses.eps, dtype=np.float64) / responses.n_samples


def _check_estimator(estimator: str, alpha, penalty: str) -> tuple[str, str | float, str]:
    return (check_choice(estimator, "estimator", ESTIMATORS), check_alpha(alpha),
            check_choice(penalty, "penalty", PENALTIES))


def _regression_maps(responses: Responses, d: np.ndarray, estimator: str, alpha, penalty: str,
                     *, with_stderr: bool):
    """Per sample set: γ̂ ``(S, q)``, standard errors ``(S, q)`` or None, and the
    regularisation ``([α per set], [penalty per set])``."""
    maps, ses, alphas, penalties = [], [], [], []
    for s in range(d.shape[0]):
        X, y, dof = design(responses.eps[s], d[s][:, None], responses.antithetic)
        fits, which, gamma, alpha_s = fit(
            X, y, dof, responses.covariance, estimator=estimator, alpha=alpha, penalty=penalty,
            factorised=lambda name, s=s: responses.ridge_fit(s, name))
        maps.append(gamma[:, 0])
        alphas.append(float(alpha_s[0]))
        penalties.append(fits[which[0]].penalty)
        if with_stderr:
            ses.append(fits[which[0]].stderr(y[:, 0], alpha_s[0]))
    return np.stack(maps), (np.stack(ses) if with_stderr else None), (alphas, penalties)


def estimate_leg(responses: Responses, target: Target = None, *, combine: str = "mean_abs",
                 estimator: str = "ridge", alpha: str | float = "gcv",
                 penalty: str = "auto", reliability: str | None = "stderr") -> LEGResult:
    """LEG with per-cell standard errors, from sampled responses.

    ``estimator``: ``"ridge"`` (``alpha="gcv"`` or a number; ``penalty="auto"``,
    ``"identity"`` or ``"covariance"``), ``"ols"`` or ``"moment"`` (the paper's
    ``(σ²Σ)⁻¹ŷ``); see :mod:`leg.regression`. ``reliability``: how the map's reproducibility
    is predicted, ``"stderr"`` (from the standard errors, free), ``"split"`` (the estimate
    on two halves of the samples; None below 4 pairs) or None (see :mod:`leg.reliability`).
    """
    check_choice(combine, "combine", COMBINE)
    if reliability is not None:
        check_choice(reliability, "reliability", ("stderr", "split"))
    estimator, alpha, penalty = _check_estimator(estimator, alpha, penalty)
    t0 = time.perf_counter()
    target = resolve_target(responses, target)
    d, score = _target_delta(responses, target)
    ph, pw = responses.grid.shape
    regularisation = None
    if estimator == "moment":
        maps, ses = _moment_maps(responses, d)
    else:
        maps, ses, regularisation = _regression_maps(responses, d, estimator, alpha,
                                                     penalty, with_stderr=True)
    result = _result("leg", responses, target, score, maps.reshape(-1, ph, pw),
                     ses.reshape(-1, ph, pw), None, combine,
                     {"estimate": time.perf_counter() - t0}, estimator, regularisation)
    if reliability == "stderr":
        result.reliability = from_stderr(result.cell_map, result.stderr)
        if estimator != "moment":
            rows = responses.n_samples // 2 if responses.antithetic else responses.n_samples - 1
            result.reliability = replace(result.reliability, trusted=rows > responses.grid.size)
    elif reliability == "split" and responses.n_samples >= 4 * (2 if responses.antithetic
                                                                 else 1):
        a, b = (estimate_leg(half, target, combine=combine, estimator=estimator, alpha=alpha,
                             penalty=penalty, reliability=None).cell_map
                for half in responses.halves())
        result.reliability = from_halves(a, b)
    return result


def _moment_maps(responses: Responses, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's ``(σ²Σ)⁻¹ mean(Δf ε)`` per set, with standard errors from the per-unit
    terms (antithetic pairs are one unit: their two terms are dependent)."""
    cov, s2 = responses.covariance, responses.sigma**2
    n_sets, n = d.shape
    unit = 2 if responses.antithetic else 1
    terms = (d[..., None] * responses.eps).reshape(n_sets, n // unit, unit, -1).mean(axis=2)
    maps, ses = [], []
    for s in range(n_sets):
        per_unit = cov.solve(terms[s].T) / s2  # (q, units)
        maps.append(per_unit.mean(axis=1))
        ses.append(per_unit.std(axis=1, ddof=1) / np.sqrt(per_unit.shape[1]))
    return np.stack(maps), np.stack(ses)


def estimate_leg_tv(responses: Responses, target: Target = None, *,
                    lambdas: float | Sequence[float] = 0.075, solver: str = DEFAULT_SOLVER,
                    combine: str = "mean_abs", estimator: str = "ridge",
                    alpha: str | float = "gcv", penalty: str = "auto",
                    reliability: str | None = "split") -> list[LEGResult]:
    """LEG-TV for each ``λ`` (one LP per sample set and ``λ``; the samples are shared).

    With a regression ``estimator`` the LP's right-hand side is ``σ²Σγ̂`` instead of the
    moment ``ŷ``: ``λ = 0`` returns the regression estimate, and ``λ`` bounds the distance
    to it in the same scale as before. ``reliability="split"`` (default) predicts each map's
    reproducibility from LEG-TV and LEG on two halves of the samples (method
    ``"split-ratio"`` of :mod:`leg.reliability`: two more LPs per set and ``λ``; None below 4
    pairs); ``reliability=None`` skips it.
    """
    check_choice(combine, "combine", COMBINE)
    if reliability is not None:
        check_choice(reliability, "reliability", ("split",))
    estimator, alpha, penalty = _check_estimator(estimator, alpha, penalty)
    lambdas = [check_float(v, "lambda", low=0.0) for v in np.atleast_1d(lambdas)]
    t0 = time.perf_counter()
    target = resolve_target(responses, target)
    d, score = _target_delta(responses, target)
    regularisation = None
    if estimator == "moment":
        y = rhs(responses, target)
    else:
        gamma, _, regularisation = _regression_maps(responses, d, estimator, alpha,
                                                    penalty, with_stderr=False)
        y = responses.sigma**2 * responses.covariance.matvec(gamma.T).T
    per_set = [solve_leg_tv(y[s], responses.covariance, responses.sigma, lambdas, solver=solver)
               for s in range(y.shape[0])]
    seconds = (time.perf_counter() - t0) / len(lambdas)
    ph, pw = responses.grid.shape
    results = []
    for j, lam in enumerate(lambdas):
        channel_maps = np.stack([sols[j] for sols in per_set]).reshape(-1, ph, pw)
        results.append(_result("leg-tv", responses, target, score, channel_maps, None, lam,
                               combine, {"estimate": seconds}, estimator, regularisation))
    if reliability == "split" and responses.n_samples >= 4 * (2 if responses.antithetic else 1):
        t1 = time.perf_counter()
        options = dict(combine=combine, estimator=estimator, alpha=alpha, penalty=penalty)
        anchor = estimate_leg(responses, target, **options).reliability
        halves = responses.halves()
        legs = [estimate_leg(half, target, reliability=None, **options).cell_map
                for half in halves]
        tvs = [estimate_leg_tv(half, target, lambdas=lambdas, solver=solver,
                               reliability=None, **options) for half in halves]
        for j, res in enumerate(results):
            res.reliability = from_split_ratio(
                anchor, (tvs[0][j].cell_map, tvs[1][j].cell_map), tuple(legs))
            res.timings["reliability"] = (time.perf_counter() - t1) / len(lambdas)
    return results


def _result(method, responses, target, score, channel_maps, channel_se, lam, combine,
            timings, estimator, regularisation) -> LEGResult:
    cell_map = _combine(channel_maps, combine)
    return LEGResult(
        method=method,
        saliency=responses.grid.upsample(cell_map),
        cell_map=cell_map,
        channel_maps=channel_maps,
        stderr=None if channel_se is None else _combine_stderr(channel_se, combine),
        channel_stderr=channel_se,
        target=target, score=score, sigma=responses.sigma, lam=lam,
        n_samples=responses.n_samples, n_evaluations=responses.n_evaluations,
        scheme=responses.covariance.scheme, mode=responses.mode, combine=combine,
        seed=responses.seed, grid=responses.grid, estimator=estimator,
        alpha=None if regularisation is None else regularisation[0],
        penalty=None if regularisation is None else regularisation[1],
        timings={**responses.timings, **timings}, design=responses.design,
        score_kind=responses.score,
    )


def estimate_leg_all_classes(responses: Responses, *, estimator: str = "ridge",
                             alpha: str | float = "gcv",
                             penalty: str = "auto") -> np.ndarray:
    """Signed LEG cell maps for every class from one set of samples: ``(K, S, ph, pw)``.

    One factorisation per sample set serves every class (each with its own GCV ``α``).
    """
    estimator, alpha, penalty = _check_estimator(estimator, alpha, penalty)
    s, k = responses.delta.shape[0], responses.n_classes
    if estimator == "moment":
        y = np.einsum("snk,snq->skq", responses.delta, responses.eps,
                      dtype=np.float64) / responses.n_samples
        q = y.shape[-1]
        gam = responses.covariance.solve(y.reshape(s * k, q).T).T / responses.sigma**2
    else:
        gam = np.stack([
            fit(*design(responses.eps[i], responses.delta[i], responses.antithetic),
                responses.covariance, estimator=estimator, alpha=alpha, penalty=penalty,
                factorised=lambda name, i=i: responses.ridge_fit(i, name))[2].T
            for i in range(s)])
    return gam.reshape(s, k, *responses.grid.shape).transpose(1, 0, 2, 3)


class LEG:
    """LEG saliency for a black-box classifier.

    The defaults are ``leg explain``'s (:mod:`leg.defaults`): ``LEG(model).explain(image,
    seed=0)`` is the map ``leg explain IMAGE`` writes (14x14 cells, joint mode, ridge, samples
    drawn until the predicted reliability reaches 0.9, at most 4000).

    Parameters
    ----------
    model : keras.Model or callable
        A classifier mapping ``(N, H, W, C)`` images in ``[0, 1]`` to ``(N, K)`` scores.
        A ``keras.Model`` is wrapped by :class:`leg.models.KerasClassifier` (pass
        ``preprocessing=``/``softmax=`` via ``model_options``).
    cell_size : int, optional
        Side of the square grid cells in pixels (last cells absorb any remainder), e.g. 8
        (the paper's: 28x28 cells on 224 px).
    grid : (int, int), optional
        Number of cells ``(ph, pw)``; overrides ``cell_size``. Neither given: 14x14 (fewer
        on an image under 14 px).
    sigma : float, default 0.0025
        Noise level ``σ``; noise is ``N(0, σ²Σ)`` on ``[0, 1]`` images.
    n_samples : int or "auto", default "auto"
        Perturbations per sample set (even when antithetic). ``"auto"``: draw rounds until
        the map's predicted reliability (``result.reliability.spearman``) reaches
        ``target_reliability`` or the samples per set reach ``max_samples``; every round
        adds to the earlier ones.
    target_reliability : float in (0, 1), default 0.9
    max_samples : int, default 4000
        Cap of ``n_samples="auto"``, per sample set like ``n_samples`` (model evaluations:
        sets x samples + 1).
    round_samples : int, default 500
        The first round of ``"auto"`` (per set), and the smallest round after it.
    scheme : {"laplacian", "smooth", "iid"}, default "laplacian"
    mode : {"joint", "per_channel"}, default "joint"
        Noise on all colour channels at once (one sample set; the map keeps its sign), or
        on one channel at a time (the paper's scheme: C sample sets, C times the cost).
    design : {"iid", "orthogonal", "sobol"}, default "orthogonal"
        How the perturbations are laid out (:mod:`leg.designs`); all share LEG's law.
    combine : {"mean_abs", "sum", "mean", "sum_abs"}, default "mean_abs"
        How per-channel maps become one map (joint mode keeps the sign).
    score : {"probability", "logit"}, default "probability"
    estimator : {"ridge", "ols", "moment"}, default "ridge"
        How the map is estimated from the samples (see :mod:`leg.regression`); ``"moment"``
        is the paper's estimator.
    alpha : "gcv" or float, default "gcv"
        The ridge penalty (chosen by generalised cross-validation by default).
    penalty : {"auto", "identity", "covariance"}, default "auto"
        The ridge penalty's matrix (``"auto"``: the one with the lower GCV score).
    antithetic, clip : bool
    batch_size : int, default 64
    progress : bool or None
        ``None``: a progress bar on terminals for runs over two seconds.
    """

    name = "leg"
    DEFAULT_SIGMA = DEFAULT_SIGMA

    def __init__(self, model, *, cell_size: int | None = None,
                 grid: tuple[int, int] | None = None,
                 sigma: float = DEFAULT_SIGMA, n_samples: int | str = defaults.N_SAMPLES,
                 scheme: str = defaults.SCHEME, mode: str = defaults.MODE,
                 combine: str = "mean_abs", score: str = "probability",
                 estimator: str = defaults.ESTIMATOR, alpha: str | float = "gcv",
                 penalty: str = "auto", antithetic: bool = True, clip: bool = False,
                 batch_size: int = defaults.BATCH_SIZE, progress: bool | None = None,
                 design: str = DEFAULT_DESIGN,
                 target_reliability: float = defaults.TARGET_RELIABILITY,
                 max_samples: int = defaults.MAX_SAMPLES,
                 round_samples: int = defaults.ROUND_SAMPLES,
                 model_options: dict | None = None):
        self.classifier = as_classifier(model, **(model_options or {}))
        self.cell_size = None if cell_size is None else check_int(cell_size, "cell_size",
                                                                  minimum=1)
        # neither given: the shared default grid (at most one cell per pixel on small images)
        self.default_grid = cell_size is None and grid is None
        self.grid_shape = defaults.GRID if self.default_grid else grid
        self.auto = check_auto(n_samples, target_reliability, max_samples, round_samples,
                               antithetic=bool(antithetic))
        self.sampling = dict(
            sigma=check_float(sigma, "sigma", low=0.0, low_inclusive=False),
            n_samples=(self.auto["round_samples"] if self.auto else
                       check_int(n_samples, "n_samples", minimum=2)),
            scheme=check_choice(scheme, "scheme", ("laplacian", "smooth", "iid")),
            mode=check_choice(mode, "mode", ("per_channel", "joint")),
            antithetic=bool(antithetic), clip=bool(clip),
            score=check_choice(score, "score", ("probability", "logit")),
            batch_size=check_int(batch_size, "batch_size", minimum=1),
            progress=progress,
            design=check_design(design),
        )
        self.combine = check_choice(combine, "combine", COMBINE)
        estimator, alpha, penalty = _check_estimator(estimator, alpha, penalty)
        self.estimation = dict(combine=self.combine, estimator=estimator, alpha=alpha,
                               penalty=penalty)

    def grid_for(self, image: np.ndarray) -> Grid:
        h, w = image.shape[:2]
        if self.default_grid:
            return Grid.from_shape(h, w, (min(self.grid_shape[0], h), min(self.grid_shape[1], w)))
        if self.grid_shape is not None:
            return Grid.from_shape(h, w, self.grid_shape)
        return Grid.from_cell_size(h, w, self.cell_size)

    @property
    def evaluations_per_image(self) -> int:
        """Model evaluations for a 3-channel image (with ``"auto"``: at most)."""
        sets = 3 if self.sampling["mode"] == "per_channel" else 1
        per_set = self.auto["max_samples"] if self.auto else self.sampling["n_samples"]
        return sets * per_set + 1

    def sampler(self, image: np.ndarray, *, seed: int | None = None) -> Sampler:
        """A :class:`leg.sampling.Sampler` of ``image`` with this explainer's settings."""
        image = check_image(image)
        options = {k: v for k, v in self.sampling.items() if k != "n_samples"}
        return Sampler(self.classifier, image, self.grid_for(image), seed=seed, **options)

    def sample(self, image: np.ndarray, *, seed: int | None = None) -> Responses:
        """Perturb ``image`` ``(H, W, C)`` in ``[0, 1]`` and record the responses
        (``n_samples`` of them; with ``"auto"``: its first round)."""
        image = check_image(image)
        return sample_responses(self.classifier, image, self.grid_for(image), seed=seed,
                                **self.sampling)

    def explain(self, image: np.ndarray, target: Target = None, *,
                seed: int | None = None) -> LEGResult:
        """LEG map of ``image`` ``(H, W, C)`` in ``[0, 1]`` for ``target`` (default top-1)."""
        if self.auto:
            return self.explain_auto(image, target, seed=seed)[1]
        return estimate_leg(self.sample(image, seed=seed), target, **self.estimation)

    def explain_auto(self, image: np.ndarray, target: Target = None, *,
                     seed: int | None = None, sampler=None, estimate=None
                     ) -> tuple[Responses, LEGResult]:
        """``n_samples="auto"``: the responses drawn and the final result (its ``.auto``
        says what happened). ``sampler``: anything with ``.draw(n) -> Responses`` (default
        :meth:`sampler`); ``estimate(responses) -> LEGResult`` (default LEG's)."""
        if not self.auto:
            raise ValueError("explain_auto needs n_samples='auto'.")
        sampler = sampler if sampler is not None else self.sampler(image, seed=seed)
        if estimate is None:
            def estimate(responses):
                return estimate_leg(responses, target, **self.estimation)
        return sample_until_reliable(sampler, estimate, **self.auto)


def check_auto(n_samples, target_reliability, max_samples, round_samples, *,
               antithetic: bool = True) -> dict | None:
    """The settings of ``n_samples="auto"`` (None for a fixed ``n_samples``), checked."""
    if not (isinstance(n_samples, str) and n_samples == "auto"):
        if isinstance(n_samples, str):
            raise ValueError(f"The 'n_samples' parameter must be an integer >= 2 or 'auto'; "
                             f"got {n_samples!r}.")
        return None
    target = check_float(target_reliability, "target_reliability")
    if not 0.0 < target < 1.0:
        raise ValueError(f"The 'target_reliability' parameter must be in (0, 1) (a predicted "
                         f"seed-to-seed Spearman correlation, e.g. 0.9); got {target:g}.")
    unit = 2 if antithetic else 1
    round_samples = check_int(round_samples, "round_samples", minimum=4 * unit)
    round_samples += round_samples % unit
    max_samples = check_int(max_samples, "max_samples", minimum=1)
    if max_samples < round_samples:
        raise ValueError(
            f"The 'max_samples' cap ({max_samples}) is below one round of n_samples='auto' "
            f"(round_samples={round_samples}); use max_samples >= {round_samples} or a "
            "smaller round_samples.")
    return dict(target=target, max_samples=max_samples - max_samples % unit,
                round_samples=round_samples, unit=unit)


def sample_until_reliable(sampler, estimate, *, target: float, max_samples: int,
                          round_samples: int, unit: int = 2) -> tuple[Responses, LEGResult]:
    """Draw rounds from ``sampler`` until ``estimate(responses).reliability.spearman`` reaches
    ``target`` or the samples per set reach ``max_samples``; every round is added to the
    earlier ones (:meth:`Responses.concat`).

    The prediction is trusted only once the regression has more rows (antithetic pairs)
    than cells (``reliability.trusted``): below that its residuals, hence its standard
    errors, are too small. After
    each round the next size is projected from the prediction (noise variance ∝ 1/n: a map
    at Pearson ``r`` after ``n`` samples reaches ``t`` after ``n·(1−r)/r·t/(1−t)``), with a
    10 % margin, at least ``round_samples / 2`` and at most doubling the total.
    """
    t_start = time.perf_counter()
    target_pearson = pearson_for_spearman(target)
    responses = sampler.draw(round_samples)
    q = responses.grid.size
    history = []
    while True:
        result = estimate(responses)
        r = result.reliability
        n = responses.n_samples
        history.append((n, r.spearman))
        trusted = r.trusted
        reached = trusted and r.spearman >= target
        if reached or n >= max_samples:
            break
        if not trusted:
            wanted = unit * (q + 1) + unit
        elif r.pearson <= 0.0:
            wanted = 2 * n
        else:
            wanted = 1.1 * n * (1.0 - r.pearson) / r.pearson * target_pearson / (
                1.0 - target_pearson)
        at_most = n if trusted else max(n, wanted - n)  # doubling, once trusted
        more = int(np.ceil(min(max(wanted - n, round_samples / 2), at_most, max_samples - n)))
        more += more % unit
        more = min(more, max_samples - n)
        if more < unit:
            break
        responses = responses.concat(sampler.draw(more))
    result.auto = AutoSampling(target=target, reached=bool(reached), max_samples=max_samples,
                               n_samples=responses.n_samples,
                               n_evaluations=responses.n_evaluations, history=history)
    result.timings["auto"] = time.perf_counter() - t_start
    return responses, result


def pearson_for_spearman(rho: float) -> float:
    """The Pearson correlation of a bivariate normal whose Spearman correlation is ``rho``."""
    return float(2.0 * np.sin(np.pi * rho / 6.0))


class LEGTV:
    """LEG-TV: LEG's samples, then the total-variation LP (see :mod:`leg.tv`).

    Takes LEG's parameters (``n_samples="auto"`` included: its rounds then check the
    LEG-TV map's reliability) plus ``lam`` (default 0.075, in ``[0, 1]``: 0 is LEG, 1 the
    zero map) and ``solver`` (``"highs"`` default; ``"mosek"`` or any cvxpy solver).
    """

    name = "leg-tv"

    def __init__(self, model, *, lam: float = defaults.LAMBDA, solver: str = DEFAULT_SOLVER,
                 **leg_options):
        self.leg = LEG(model, **leg_options)
        self.lam = check_float(lam, "lam", low=0.0)
        self.solver = check_solver(solver)

    @property
    def classifier(self):
        return self.leg.classifier

    @property
    def evaluations_per_image(self) -> int:
        return self.leg.evaluations_per_image

    def explain(self, image: np.ndarray, target: Target = None, *,
                seed: int | None = None) -> LEGResult:
        """LEG-TV map of ``image`` for ``target`` at ``self.lam``."""
        if self.leg.auto:
            return self.explain_auto(image, target, seed=seed)[1]
        return self.explain_path(image, [self.lam], target, seed=seed)[0]

    def explain_auto(self, image: np.ndarray, target: Target = None, *,
                     seed: int | None = None, sampler=None) -> tuple[Responses, LEGResult]:
        """As :meth:`LEG.explain_auto`, checking the LEG-TV map at ``self.lam``."""
        return self.leg.explain_auto(
            image, target, seed=seed, sampler=sampler,
            estimate=lambda responses: estimate_leg_tv(
                responses, target, lambdas=[self.lam], solver=self.solver,
                **self.leg.estimation)[0])

    def explain_path(self, image: np.ndarray, lambdas: Sequence[float], target: Target = None,
                     *, seed: int | None = None) -> list[LEGResult]:
        """One result per ``λ`` in ``lambdas``, all from one set of samples (with ``"auto"``:
        the samples drawn for ``self.lam``)."""
        if self.leg.auto:
            responses, first = self.explain_auto(image, target, seed=seed)
        else:
            responses, first = self.leg.sample(image, seed=seed), None
        results = estimate_leg_tv(responses, target, lambdas=lambdas, solver=self.solver,
                                  **self.leg.estimation)
        if first is not None:
            for res in results:
                res.auto = first.auto
        return results
