"""Paired statistics over images: one mechanism for the perturbation comparisons and the
sanity checks.

Every comparison is *paired*: image ``i`` gives a value of the method and a value of the
reference on the same image (a perturbation metric of the method and of ``random-cells``;
for a sanity check, the similarity after randomization and the unrelated-map level of that
image, plus the margin, if the caller wants one). :func:`compare_paired` returns a
:class:`PairedComparison`:

* the median of the paired differences ``d = method - reference`` (in the metric's units)
  and a percentile-bootstrap confidence interval of that median
  (:func:`scipy.stats.bootstrap`, seeded). Percentile, not BCa: the median is not a smooth
  statistic, BCa's jackknife acceleration is unreliable for it at a handful of images, and
  the percentile interval of the median always contains the sample median.
* ``p_value``: the one-sided paired Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`)
  of "the method is better than the reference", and ``p_worse`` of "it is worse". Zero
  differences are dropped (Wilcoxon's convention). Without tied ``|d|``, SciPy's exact null
  distribution up to 50 non-zero differences and its normal approximation beyond; with ties
  (midranks) the exact null distribution of the tied statistic (a convolution over the
  ``2**n`` sign patterns, the same p-value as an exhaustive
  :class:`scipy.stats.PermutationMethod` and much faster) up to :data:`EXACT_MAX` non-zero
  differences, the tie-corrected normal approximation beyond. ``test="sign"`` uses the exact
  sign test (:func:`scipy.stats.binomtest`) instead, for metrics whose differences have a
  sign but no meaningful size. When every difference is zero neither test is defined: both
  p-values are 1 and ``test`` is ``"none"``.
* ``verdict`` at level ``alpha`` (a p-value counts when ``p < alpha``), by ``rule``:

  - ``"compare"`` (perturbation metrics against ``random-cells``): ``"pass"`` when the method
    is significantly better, ``"fail"`` when it is significantly worse, else
    ``"not significant"``.
  - ``"require"`` (sanity checks: the randomized similarity must be shown to fall below the
    reference): ``"pass"`` when significantly better; ``"not significant"`` when there are
    fewer than :func:`min_images_for` ``(alpha)`` images (no data could have shown it); else
    ``"fail"``: enough images, and the drop was not shown.

  Under either rule fewer than :func:`min_images_for` ``(alpha)`` images always give
  ``"not significant"`` (the smallest one-sided p-value of ``n`` paired values is ``2**-n``
  for both tests), so a single image never passes or fails.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from leg._validation import check_choice, check_float, check_int

__all__ = ["EXACT_MAX", "RULES", "STATISTICS_VERDICTS", "TESTS", "PairedComparison",
           "compare_paired", "detectable", "images_for_power", "median_ci", "min_images_for",
           "min_p_value", "pearson", "sign_test_power"]

#: The verdicts a comparison can give.
STATISTICS_VERDICTS = ("pass", "fail", "not significant")
#: The verdict rules (see the module docstring).
RULES = ("compare", "require")
#: The tests ``compare_paired`` accepts.
TESTS = ("wilcoxon", "sign")
#: With tied ``|d|``, Wilcoxon's null distribution is computed exactly up to this many
#: non-zero differences; the tie-corrected normal approximation beyond.
EXACT_MAX = 200


@dataclass(frozen=True)
class PairedComparison:
    """A method against a reference over ``n_images`` paired values.

    ``median``, ``ci_low``, ``ci_high``: the median of ``method - reference`` and its
    bootstrap CI (metric units; negative is better when lower is better).
    ``method_median``, ``reference_median``: the medians of the two sides.
    ``p_value``: one-sided, H1 "the method is better"; ``p_worse``: H1 "it is worse".
    ``n_better``, ``n_worse``, ``n_tied``: images where the method is better, worse, equal.
    ``test``: ``"wilcoxon"``, ``"sign"`` or ``"none"`` (all differences zero).
    ``verdict``: one of :data:`STATISTICS_VERDICTS` under ``rule`` at ``alpha``.
    """

    n_images: int
    median: float
    ci_low: float
    ci_high: float
    p_value: float
    p_worse: float
    verdict: str
    method_median: float
    reference_median: float
    n_better: int
    n_worse: int
    n_tied: int
    higher_is_better: bool
    test: str
    rule: str
    alpha: float
    confidence_level: float

    def row(self) -> dict:
        """The columns a verdict row gains: ``n_images``, ``ci_low``, ``ci_high``, ``p_value``."""
        return {"n_images": self.n_images, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "p_value": self.p_value}

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for a report, e.g. ``"median diff -0.12 [95% CI -0.2, -0.05], p = 0.0039
        (wilcoxon, n = 8): pass"``."""
        return (f"median diff {self.median:.3g} [{self.confidence_level:.0%} CI "
                f"{self.ci_low:.3g}, {self.ci_high:.3g}], p = {self.p_value:.2g} "
                f"({self.test}, n = {self.n_images}): {self.verdict}")


def min_p_value(n_images: int) -> float:
    """The smallest one-sided p-value ``2**-n`` that ``n`` paired values can give (exact
    Wilcoxon and sign test alike: every image better)."""
    n = check_int(n_images, "n_images", minimum=0)
    return 0.5 ** n


def min_images_for(alpha: float = 0.05) -> int:
    """The smallest number of images at which a one-sided exact test can reach ``p < alpha``:
    the smallest ``n`` with ``2**-n < alpha`` (5 for ``alpha = 0.05``: ``p = 1/32``). At that
    ``n`` it takes every image to be better; more images tolerate some losses."""
    alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False)
    return int(math.floor(-math.log2(alpha))) + 1 if alpha < 1.0 else 1


def _sign_critical(n: int, alpha: float) -> int | None:
    """The smallest number of wins out of ``n`` whose one-sided sign test gives ``p < alpha``."""
    from scipy.stats import binom

    k = np.arange(n + 1)
    ok = np.flatnonzero(binom.sf(k - 1, n, 0.5) < alpha)
    return int(ok[0]) if ok.size else None


def sign_test_power(n_images: int, p_better: float, alpha: float = 0.05) -> float:
    """Exact power of the one-sided sign test over ``n_images`` when the method beats the
    reference on each image independently with probability ``p_better``: the chance that
    the profile's test reaches ``p < alpha``. Assumption-free (the sizes of the differences
    do not enter), so a planning figure for :func:`compare_paired` ``(test="sign")``."""
    from scipy.stats import binom

    n = check_int(n_images, "n_images", minimum=1)
    p_better = check_float(p_better, "p_better", low=0.0, high=1.0)
    alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False)
    k = _sign_critical(n, alpha)
    return 0.0 if k is None else float(binom.sf(k - 1, n, p_better))


def images_for_power(p_better: float, power: float = 0.8, alpha: float = 0.05,
                     max_images: int = 1000) -> int:
    """The smallest number of images at which :func:`sign_test_power` reaches ``power``
    (the power is not monotone in ``n``: the first ``n`` that reaches it). Raises when
    ``max_images`` do not suffice (e.g. ``p_better <= 0.5``)."""
    power = check_float(power, "power", low=0.0, high=1.0, low_inclusive=False)
    max_images = check_int(max_images, "max_images", minimum=1)
    for n in range(1, max_images + 1):
        if sign_test_power(n, p_better, alpha) >= power:
            return n
    raise ValueError(f"No number of images up to {max_images} gives power {power} at "
                     f"p_better={p_better}, alpha={alpha}.")


def detectable(n_images: int, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """The smallest share of images on which a method must beat its reference for
    ``n_images`` to show it with ``power`` (:func:`sign_test_power`; the first of 0.51,
    0.52, ..., 1.00 that reaches it); ``None`` when no share can (too few images)."""
    n = check_int(n_images, "n_images", minimum=1)
    for share in np.arange(51, 101) / 100:  # the power rises with the share
        if sign_test_power(n, float(share), alpha) >= power:
            return float(share)
    return None


def _check_pairs(values, reference) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"The 'values' must be a non-empty 1-D array (one per image); got "
                         f"shape {v.shape}.")
    r = np.asarray(reference, dtype=np.float64)
    if r.ndim == 0:
        r = np.full_like(v, float(r))
    if r.shape != v.shape:
        raise ValueError(f"The 'reference' must be a scalar or match the values' shape "
                         f"{v.shape} (paired per image); got {r.shape}.")
    for name, a in (("values", v), ("reference", r)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"The {name!r} contain non-finite values; map a missing result "
                             f"to a finite worst value before comparing.")
    return v, r


def _bootstrap_ci(d: np.ndarray, confidence_level: float, n_resamples: int, seed: int
                  ) -> tuple[float, float]:
    if d.size == 1 or np.all(d == d[0]):
        return float(d[0]), float(d[0])  # the bootstrap distribution is one point
    from scipy.stats import bootstrap

    # only the bootstrap distribution is used ("percentile": SciPy's cheapest interval)
    res = bootstrap((d,), np.median, n_resamples=n_resamples, method="percentile",
                    vectorized=True, rng=np.random.default_rng(seed))
    # The percentile interval, taken with NumPy's quantile rather than SciPy's: both read the
    # same two order statistics of the bootstrap distribution (linear interpolation), but
    # SciPy's (1 - g) * a + g * b can land one float step outside [a, b] when a == b (e.g.
    # a = b = -997.9999999999999), putting the CI just beside a median it should contain.
    # NumPy's interpolation returns a exactly when a == b, and stays within [a, b].
    alpha = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(res.bootstrap_distribution, [alpha, 1.0 - alpha])
    return float(low), float(high)


def median_ci(values, seed: int = 0, confidence_level: float = 0.95
              ) -> tuple[float, float, float]:
    """``(median, ci_low, ci_high)`` of ``values`` (1-D, finite): the percentile-bootstrap
    CI of the median (:func:`scipy.stats.bootstrap`, seeded, 9999 resamples; one value or
    all equal: the value itself)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"The 'values' must be a non-empty finite 1-D array; got {v!r}.")
    lo, hi = _bootstrap_ci(v, confidence_level, 9999, seed)
    return float(np.median(v)), lo, hi


def _signed_rank_tied(nz: np.ndarray, alternative: str) -> float:
    """Exact one-sided p-value of Wilcoxon's ``W+`` with tied ``|d|`` (midranks): the null
    distribution of ``sum_i s_i r_i`` over independent fair signs ``s_i``, by convolution on
    the doubled (integral) ranks."""
    from scipy.stats import rankdata

    r2 = np.rint(2.0 * rankdata(np.abs(nz))).astype(np.int64)
    dist = np.zeros(int(r2.sum()) + 1)
    dist[0] = 1.0
    top = 0
    for r in r2:
        dist[r:top + r + 1] += dist[:top + 1].copy()
        dist[:top + r + 1] *= 0.5
        top += int(r)
    observed = int(r2[nz > 0].sum())
    p = dist[observed:].sum() if alternative == "greater" else dist[:observed + 1].sum()
    return float(min(1.0, p))


def _wilcoxon(nz: np.ndarray, alternative: str) -> float:
    from scipy.stats import wilcoxon

    ties = np.unique(np.abs(nz)).size < nz.size
    if ties and nz.size <= EXACT_MAX:
        return _signed_rank_tied(nz, alternative)
    if not ties and nz.size <= 50:
        return float(wilcoxon(nz, alternative=alternative, method="exact").pvalue)
    return float(wilcoxon(nz, alternative=alternative, method="asymptotic").pvalue)


def _p_values(d: np.ndarray, test: str, higher_is_better: bool) -> tuple[float, float, str]:
    nz = d[d != 0]
    if nz.size == 0:
        return 1.0, 1.0, "none"
    better, worse = ("greater", "less") if higher_is_better else ("less", "greater")
    if test == "sign":
        from scipy.stats import binomtest

        k = int(np.count_nonzero(nz > 0))
        return (float(binomtest(k, nz.size, alternative=better).pvalue),
                float(binomtest(k, nz.size, alternative=worse).pvalue), "sign")
    return _wilcoxon(nz, better), _wilcoxon(nz, worse), "wilcoxon"


def compare_paired(values, reference, *, higher_is_better: bool, alpha: float = 0.05,
                   rule: str = "compare", test: str = "wilcoxon",
                   confidence_level: float = 0.95, n_resamples: int = 9999, seed: int = 0
                   ) -> PairedComparison:
    """Compare a method's per-image values with a reference's, paired by image.

    Parameters
    ----------
    values : array (n,)
        The method's value on each image (finite).
    reference : array (n,) or float
        The reference's value on the same images (a scalar: one level for all).
    higher_is_better : bool
        The metric's direction.
    alpha : float in (0, 1], default 0.05
        Significance level; a p-value counts when ``p < alpha``.
    rule : {"compare", "require"}
        How the p-values become a verdict (module docstring).
    test : {"wilcoxon", "sign"}
    confidence_level : float in (0, 1), default 0.95
    n_resamples : int, default 9999
        Bootstrap resamples.
    seed : int
        Seeds the bootstrap (the tests are exact or deterministic).
    """
    v, r = _check_pairs(values, reference)
    if not isinstance(higher_is_better, bool | np.bool_):
        raise TypeError(f"The 'higher_is_better' must be a bool; got {higher_is_better!r}.")
    higher_is_better = bool(higher_is_better)
    alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False)
    check_choice(rule, "rule", RULES)
    check_choice(test, "test", TESTS)
    confidence_level = check_float(confidence_level, "confidence_level", low=0.0, high=1.0,
                                   low_inclusive=False)
    if confidence_level >= 1.0:
        raise ValueError(f"The 'confidence_level' must be below 1; got {confidence_level}.")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    seed = check_int(seed, "seed", minimum=0)

    d = v - r
    n = int(d.size)
    p_better, p_worse, used = _p_values(d, test, higher_is_better)
    lo, hi = _bootstrap_ci(d, confidence_level, n_resamples, seed)
    sign = 1.0 if higher_is_better else -1.0
    n_better = int(np.count_nonzero(sign * d > 0))
    n_worse = int(np.count_nonzero(sign * d < 0))

    if n < min_images_for(alpha):
        verdict = "not significant"  # no data of this size could decide
    elif p_better < alpha:
        verdict = "pass"
    elif rule == "require" or p_worse < alpha:
        verdict = "fail"
    else:
        verdict = "not significant"
    return PairedComparison(
        n_images=n, median=float(np.median(d)), ci_low=lo, ci_high=hi, p_value=p_better,
        p_worse=p_worse, verdict=verdict, method_median=float(np.median(v)),
        reference_median=float(np.median(r)), n_better=n_better, n_worse=n_worse,
        n_tied=n - n_better - n_worse, higher_is_better=higher_is_better, test=used, rule=rule,
        alpha=alpha, confidence_level=confidence_level)


def pearson(a, b) -> float:
    """Pearson correlation of two arrays (flattened) in ``[-1, 1]``; 0 when either is
    constant (no direction to correlate)."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
