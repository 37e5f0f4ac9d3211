"""How reliable a saliency metric is (Tomsett et al., AAAI 2020, "Sanity checks for saliency
metrics"): does it rank the methods consistently across images, and do two metrics (or two
backgrounds of one metric) rank them alike?

* :func:`kendalls_w`: Kendall's coefficient of concordance of a metric's per-image scores,
  images as raters and methods as items, with the tie correction; and Friedman's test of
  "no concordance" (``chi2 = m (n - 1) W``, exactly :func:`scipy.stats.friedmanchisquare`'s
  statistic where that applies). ``W = 1``: every image ranks the methods alike; near 0: the
  ranking is noise across images, so a leaderboard of that metric means little. The
  direction of the metric does not matter (reversing every ranking leaves ``W``).
* :func:`metric_agreement`: the rank correlation between two metrics' orderings of the
  methods (Kendall's tau-b or Spearman), oriented so that +1 means "the same methods
  best", per image (then averaged; Tomsett et al.'s inter-method reliability) and of the
  medians over images. :func:`agreement_matrix` does every pair of a dict of metrics.
* :func:`reliability_rows`: both, per model, from a long table of per-image scores (the
  report's "Reliability of the metrics" tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.stats import chi2, kendalltau, rankdata, spearmanr

from leg._validation import check_choice

__all__ = ["CORRELATIONS", "Concordance", "MetricAgreement", "agreement_matrix", "kendalls_w",
           "metric_agreement", "reliability_rows"]

CORRELATIONS = ("kendall", "spearman")


def _check_scores(scores, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 2:
        raise ValueError(f"The {name!r} must be a 2-D array (images, methods) with at least 2 "
                         f"methods; got shape {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"The {name!r} contain non-finite values; map a missing result to a "
                         f"finite worst value first.")
    return s


@dataclass(frozen=True)
class Concordance:
    """Kendall's ``w`` in [0, 1] (NaN when every image ties every method), Friedman's
    ``chi2`` with ``n_items - 1`` degrees of freedom and its ``p_value`` (H0: the images
    rank the methods at random), over ``n_raters`` images and ``n_items`` methods."""

    w: float
    chi2: float
    p_value: float
    n_raters: int
    n_items: int


def kendalls_w(scores) -> Concordance:
    """Kendall's W of ``scores`` ``(m raters, n items)``: each row is ranked (ties get their
    average rank, :func:`scipy.stats.rankdata`), ``R_i`` the rank sum of item ``i``,
    ``S = sum_i (R_i - m (n + 1) / 2)**2`` and, with ``T_j = sum (t**3 - t)`` over the tie
    groups of rater ``j``, ``W = 12 S / (m**2 (n**3 - n) - m sum_j T_j)``."""
    s = _check_scores(scores)
    m, n = s.shape
    ranks = rankdata(s, axis=1)
    sums = ranks.sum(axis=0)
    ss = float(((sums - m * (n + 1) / 2.0) ** 2).sum())
    ties = 0.0
    for row in s:
        _, t = np.unique(row, return_counts=True)
        ties += float((t.astype(np.float64) ** 3 - t).sum())
    denom = m ** 2 * (n ** 3 - n) - m * ties
    if denom <= 0:
        return Concordance(float("nan"), float("nan"), float("nan"), m, n)
    w = 12.0 * ss / denom
    stat = m * (n - 1) * w
    return Concordance(w, stat, float(chi2.sf(stat, n - 1)), m, n)


@dataclass(frozen=True)
class MetricAgreement:
    """Agreement of two metrics' orderings of the methods, in [-1, 1] (+1: same order of
    merit). ``mean_per_image``: the mean over the images where both metrics separate some
    methods (``n_images`` of them; NaN if none); ``of_medians``: of the per-method medians
    over images; ``method``: ``"kendall"`` (tau-b) or ``"spearman"``."""

    mean_per_image: float
    of_medians: float
    n_images: int
    method: str


def _corr(a: np.ndarray, b: np.ndarray, method: str) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a metric that ties every method orders nothing
    if method == "kendall":
        return float(kendalltau(a, b).statistic)
    return float(spearmanr(a, b).statistic)


def metric_agreement(a, b, *, a_higher_is_better: bool, b_higher_is_better: bool,
                     method: str = "kendall") -> MetricAgreement:
    """How alike two metrics order the methods.

    ``a``, ``b``: ``(images, methods)`` scores of the same methods on the same images (e.g.
    deletion areas and key sizes, or deletion areas under two backgrounds); the directions
    say which way is better, so agreement is about merit, not raw values.
    """
    check_choice(method, "method", CORRELATIONS)
    sa, sb = _check_scores(a, "a"), _check_scores(b, "b")
    if sa.shape != sb.shape:
        raise ValueError(f"The 'a' and 'b' must have the same shape (images, methods); got "
                         f"{sa.shape} and {sb.shape}.")
    sa = sa if a_higher_is_better else -sa
    sb = sb if b_higher_is_better else -sb
    per = np.array([_corr(x, y, method) for x, y in zip(sa, sb, strict=True)])
    ok = np.isfinite(per)
    mean = float(per[ok].mean()) if ok.any() else float("nan")
    med = _corr(np.median(sa, axis=0), np.median(sb, axis=0), method)
    return MetricAgreement(mean, med, int(ok.sum()), method)


def agreement_matrix(metrics: dict[str, tuple[np.ndarray, bool]], *, method: str = "kendall"
                     ) -> dict[tuple[str, str], MetricAgreement]:
    """:func:`metric_agreement` of every pair of ``metrics`` (name -> ``(scores (images,
    methods), higher_is_better)``), keyed ``(first, second)`` in the dict's order."""
    return {(x, y): metric_agreement(metrics[x][0], metrics[y][0],
                                     a_higher_is_better=metrics[x][1],
                                     b_higher_is_better=metrics[y][1], method=method)
            for x, y in combinations(metrics, 2)}


def _score_tables(rows: list[dict], model: str) -> dict[str, tuple[np.ndarray, bool]]:
    """Per comparison of ``model``: the ``(images, methods)`` scores over the images and
    methods every comparison of the model has (so that all tables are comparable)."""
    mine = [r for r in rows if r["model"] == model and np.isfinite(r["value"])]
    comparisons = list(dict.fromkeys(r["comparison"] for r in mine))
    cells = {(r["comparison"], r["image"], r["method"]): float(r["value"]) for r in mine}
    images = [i for i in dict.fromkeys(r["image"] for r in mine)
              if all((c, i, m) in cells for c in comparisons
                     for m in {r["method"] for r in mine if r["comparison"] == c})]
    methods = [m for m in dict.fromkeys(r["method"] for r in mine)
               if all((c, i, m) in cells for c in comparisons for i in images)]
    higher = {r["comparison"]: bool(r["higher_is_better"]) for r in mine}
    return {c: (np.array([[cells[(c, i, m)] for m in methods] for i in images]), higher[c])
            for c in comparisons} if images and len(methods) >= 2 else {}


def reliability_rows(rows: list[dict], *, method: str = "kendall"
                     ) -> tuple[list[dict], list[dict]]:
    """How far a model's comparisons can be trusted, from per-image scores.

    ``rows``: one per (model, comparison, image, method) with keys ``model``, ``comparison``
    (e.g. ``"deletion_auc / mean"``), ``image``, ``method``, ``value`` (NaN rows are dropped)
    and ``higher_is_better``. Per model only the images and methods present in every
    comparison are used. Returns ``(concordance, agreement)``: per (model, comparison)
    Kendall's ``w`` with Friedman's ``p_value`` over ``n_images`` x ``n_methods``; per
    (model, pair of comparisons) the agreement of their orderings of the methods
    (:func:`metric_agreement`, ``method`` correlation).
    """
    concordance, agreement = [], []
    for model in dict.fromkeys(r["model"] for r in rows):
        tables = _score_tables(rows, model)
        for name, (scores, _) in tables.items():
            c = kendalls_w(scores)
            concordance.append({"model": model, "comparison": name, "kendalls_w": c.w,
                                "p_value": c.p_value, "n_images": c.n_raters,
                                "n_methods": c.n_items})
        for (a, b), g in agreement_matrix(tables, method=method).items():
            agreement.append({"model": model, "first": a, "second": b,
                              "per_image": g.mean_per_image, "of_medians": g.of_medians,
                              "n_images": g.n_images, "correlation": g.method})
    return concordance, agreement
