"""A stored run of another version of the same model as the baseline: each check compared
with paired statistics over the images both runs share, the explanations' drift, and the
fail expressions that say how much worse a check may get (``--leg-compare-fail``).

A *version* is the same model spec, profile, parameters, seeds and images with other
weights (another model fingerprint, :func:`leg.harness.report.baseline.check_compatible`).
Two runs of the same weights are compared row by row, exactly
(:func:`leg.harness.report.baseline.compare`); across versions per-image numbers move by
the retraining's noise, so a table's rows are grouped into *units* -- every key column but
the image (a check, model, method, stage and metric) -- and each unit is compared over the
images both runs scored (:func:`compare_versions`):

* :func:`leg.harness.checks.statistics.compare_paired` of this run's values against the
  stored ones, paired by image (one-sided Wilcoxon signed-rank, percentile-bootstrap CI of
  the median difference); a NaN value (a key size no alpha reached) counts as worse than
  every finite value of the unit, as in the exact comparison;
* the p-values of "worse" are Holm-adjusted across the units of the table (:func:`holm`:
  the family-wise error of a table's comparison stays below ``alpha``), and so, separately,
  those of "better";
* a unit *regressed* when it is significantly worse after the correction and its median
  worsening (in the metric's bad direction) exceeds its limit: the fail expression's for
  its check or metric, else the profile's ``regression_tolerance`` (absolute). Significantly
  worse within the limit reads ``"worse"`` (reported, not a failure); fewer than
  :func:`~leg.harness.checks.statistics.min_images_for` shared images, ``"undecided"``.

Fail expressions (:func:`parse_compare_fail`), as pytest-benchmark's
``--benchmark-compare-fail``: a comma list of ``NAME:LIMIT``. ``NAME`` is a check of the
verdict matrix (``relevance-mass``, ``key-size``, ``cascading``) or a metric
(``relevance_mass``, ``spearman_abs``), matched against a row's ``check`` and ``metric``
with case, ``-`` and ``_`` ignored (so ``key-size`` names the ``keysize`` rows of
``perturbation_scores.csv``); ``all`` (every check not named) or ``drift``. ``LIMIT``: a
number (absolute, in the metric's units), ``N%`` (relative to the baseline's ``|median|``
of the unit; of the row's value in an exact comparison) or ``off`` (never fails; still
reported). In an exact comparison the limit replaces the tolerance of the rows it names.

Drift (:func:`drift`). Per method and image, the Spearman rank correlation of ``|map|``
between the new version's map and the stored one's, set against the method's own
seed-to-seed agreement on one version (the same similarity between two seeds' maps of the
same model: the sanity suite's ``reproducibility`` rows, the mean of both runs' where both
have it). Per model and method: the paired comparison of the similarities with the
agreements (Holm across methods); ``"drifted"`` when the maps moved significantly more than
two seeds' maps do, ``"stable"`` otherwise. Drift fails the run only under ``drift:LIMIT``
(a drifted method whose median ``agreement - similarity`` exceeds the limit; ``N%`` of the
median agreement). A deterministic method agrees with itself exactly, so any change of its
maps is drift beyond its noise; the limit says how much is acceptable.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DRIFT_COLUMNS", "UNIT_COLUMNS", "CompareFail", "Limit", "drift", "holm",
           "compare_fail_option", "compare_versions", "load_maps", "maps_bytes",
           "parse_compare_fail"]

#: Significance level of the comparisons across versions and of the drift.
ALPHA = 0.05
#: The columns of a unit row besides its key columns.
UNIT_COLUMNS = ["n_images", "baseline", "current", "delta", "ci_low", "ci_high", "worsening",
                "limit", "p_worse", "p_holm", "status"]
#: The columns of a drift row.
DRIFT_COLUMNS = ["model", "method", "n_images", "similarity", "agreement", "drift",
                 "ci_low", "ci_high", "p_value", "p_holm", "limit", "verdict", "status"]
_USAGE = ("NAME:LIMIT[,NAME:LIMIT...], NAME a check, a metric, 'all' or 'drift', LIMIT a "
          "number (absolute), N% (relative to the baseline) or 'off'; e.g. "
          "relevance-mass:0.05,key-size:10%,drift:0.3")


def holm(p_values: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order.

    ``p_values``: ``(m,)`` in ``[0, 1]``. Sorted ascending, the ``i``-th (0-based) becomes
    ``max_{j <= i} min(1, (m - j) p_(j))``; rejecting where the adjusted value is below
    ``alpha`` is Holm's procedure (family-wise error at most ``alpha``). Empty in, empty out.
    """
    p = np.asarray(list(p_values), dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"holm needs a 1-D sequence of p-values; got shape {p.shape}.")
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError(f"p-values must lie in [0, 1]; got {p.tolist()}.")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out


# ----------------------------------------------------------------------- fail expressions
def _norm(name: str) -> str:
    return re.sub(r"[-_\s]", "", str(name).lower())


@dataclass(frozen=True)
class Limit:
    """How much worse a check may get: ``value`` (``None``: never fails), absolute or
    ``relative`` (a fraction of the baseline's magnitude)."""

    value: float | None
    relative: bool = False

    def absolute(self, scale: float) -> float:
        """The limit in the metric's units (``scale``: the baseline's value it is relative
        to); ``inf`` for ``off``."""
        if self.value is None:
            return math.inf
        return self.value * abs(scale) if self.relative else self.value

    def __str__(self) -> str:
        if self.value is None:
            return "off"
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


@dataclass(frozen=True)
class CompareFail:
    """Parsed ``--leg-compare-fail``: normalised name -> :class:`Limit`; ``text`` as given."""

    limits: dict = field(default_factory=dict)
    text: str = ""

    def limit(self, *names: str, default: Limit | None = None) -> Limit | None:
        """The limit of the first of ``names`` (a row's check, then its metric) that an
        expression names, else ``all``'s, else ``default``."""
        for n in names:
            if n is not None and _norm(n) in self.limits:
                return self.limits[_norm(n)]
        return self.limits.get("all", default)

    @property
    def drift(self) -> Limit | None:
        """``drift:LIMIT`` (``None``: drift is reported, never fatal)."""
        return self.limits.get("drift")


def parse_compare_fail(text: str | None, known: Iterable[str] = ()) -> CompareFail:
    """``--leg-compare-fail`` (module docstring) as a :class:`CompareFail`. ``known``: the
    names a check or metric may have (an unknown name is refused, naming them; empty: any
    name). ``ValueError`` with one line for a bad expression."""
    if text is None:
        return CompareFail()
    known_n = {_norm(k): k for k in known} | {"all": "all", "drift": "drift"}
    limits = {}
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ValueError(f"--leg-compare-fail: empty; expected {_USAGE}.")
    for part in parts:
        m = re.fullmatch(r"([A-Za-z][\w\-]*)\s*:\s*(off|[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)(%?)",
                         part)
        if not m or (m.group(2) == "off" and m.group(3)):
            raise ValueError(f"--leg-compare-fail: {part!r} is not NAME:LIMIT; expected "
                             f"{_USAGE}.")
        name, number, pct = m.groups()
        if known and _norm(name) not in known_n:
            names = ", ".join(sorted({k for k in known} | {"all", "drift"}))
            raise ValueError(f"--leg-compare-fail: unknown check or metric {name!r}; choose "
                             f"from {names}.")
        if _norm(name) in limits:
            raise ValueError(f"--leg-compare-fail: {name!r} is given twice.")
        value = None if number == "off" else float(number) / (100.0 if pct else 1.0)
        limits[_norm(name)] = Limit(value, bool(pct))
    return CompareFail(limits, str(text))


def compare_fail_option(text: str | None) -> CompareFail | None:
    """``--leg-compare-fail`` parsed with the names of every check and metric of the
    installed suites (:func:`parse_compare_fail`); ``None`` without the option."""
    if text is None:
        return None
    from leg.harness.checks.metrics import METRICS
    from leg.harness.engine.suite import checks

    return parse_compare_fail(text, known=[*checks(), *METRICS])


# -------------------------------------------------------------------- across versions
def _direction(row: dict) -> bool:
    v = row.get("higher_is_better")
    return v is True or str(v).lower() == "true"


def _float(v) -> float:
    return float("nan") if v is None or v == "" else float(v)


def _worst_filled(cur: np.ndarray, base: np.ndarray, higher: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """NaN replaced by a value worse than every finite one of the unit (both runs): the
    finite extreme moved by the unit's spread plus 1 in the bad direction (0 when nothing
    is finite: every pair ties)."""
    finite = np.concatenate([cur[np.isfinite(cur)], base[np.isfinite(base)]])
    if finite.size == 0:
        return np.zeros_like(cur), np.zeros_like(base)
    step = float(np.ptp(finite)) + 1.0
    worst = float(finite.min()) - step if higher else float(finite.max()) + step
    return np.where(np.isfinite(cur), cur, worst), np.where(np.isfinite(base), base, worst)


def compare_versions(current: list[dict], stored: list[dict], *, key: tuple[str, ...],
                     tolerance: float, fail: CompareFail | None = None, seed: int = 0,
                     alpha: float = ALPHA) -> list[dict]:
    """One row per unit (the ``key`` columns but ``image``) of a metric table, comparing
    this run's values (``current``) with the stored version's (``stored``) over the images
    both have (module docstring). Rows: the unit's key columns (``image`` empty), then
    :data:`UNIT_COLUMNS` (``baseline``/``current``: the medians over the shared images;
    ``delta``: the median paired difference, ``ci_low``..``ci_high`` its CI; ``worsening``:
    that median in the bad direction; ``p_worse``: one-sided "worse", ``p_holm`` Holm-
    adjusted; ``status``: ``"regressed"``, ``"worse"``, ``"improved"``, ``"same"``,
    ``"undecided"``, ``"new"`` or ``"missing"``). A table without an ``image`` column has
    nothing to pair over: use :func:`leg.harness.report.baseline.compare`."""
    from leg.harness.checks.statistics import compare_paired, min_images_for

    if "image" not in key:
        raise ValueError("compare_versions pairs rows by their 'image' column; the table's "
                         f"key {key} has none.")
    fail = fail or CompareFail()
    unit_cols = tuple(c for c in key if c != "image")

    def units(rows):
        out: dict[tuple, dict[str, dict]] = {}
        for r in rows:
            if r.get("check") == "reference":
                continue
            u = tuple(str(r.get(c, "")) for c in unit_cols)
            out.setdefault(u, {})[str(r["image"])] = r
        return out

    now, then = units(current), units(stored)
    out, tests = [], []
    for u in list(now) + [u for u in then if u not in now]:
        row = dict(zip(unit_cols, u, strict=True))
        row["image"] = ""
        a, b = now.get(u, {}), then.get(u, {})
        shared = [i for i in a if i in b]
        if not shared:
            status = "new" if a else "missing"
            out.append({**row, "n_images": 0, "status": status})
            continue
        higher = _direction(a[shared[0]])
        cur = np.array([_float(a[i]["value"]) for i in shared])
        base = np.array([_float(b[i]["value"]) for i in shared])
        cur_f, base_f = _worst_filled(cur, base, higher)
        cmp = compare_paired(cur_f, base_f, higher_is_better=higher, alpha=alpha,
                             rule="compare", seed=seed)
        limit = fail.limit(row.get("check"), row.get("metric"), default=Limit(tolerance))
        base_med = float(np.nanmedian(base)) if np.isfinite(base).any() else float("nan")
        scale = abs(base_med) if np.isfinite(base_med) else 0.0
        worsening = -cmp.median if higher else cmp.median
        row.update({
            "n_images": len(shared),
            "baseline": base_med,
            "current": float(np.nanmedian(cur)) if np.isfinite(cur).any() else float("nan"),
            "delta": cmp.median, "ci_low": cmp.ci_low, "ci_high": cmp.ci_high,
            "worsening": worsening, "limit": limit.absolute(scale), "limit_text": str(limit),
            "p_worse": cmp.p_worse, "p_better": cmp.p_value,
            "higher_is_better": higher, "test": cmp.test,
            "decidable": len(shared) >= min_images_for(alpha)})
        tests.append(row)
        out.append(row)
    worse = holm([r["p_worse"] for r in tests])
    better = holm([r["p_better"] for r in tests])
    for r, pw, pb in zip(tests, worse, better, strict=True):
        r["p_holm"] = float(pw)
        r["p_holm_better"] = float(pb)
        if not r.pop("decidable"):
            r["status"] = "undecided"
        elif pw < alpha:
            r["status"] = "regressed" if r["worsening"] > r["limit"] else "worse"
        elif pb < alpha:
            r["status"] = "improved"
        else:
            r["status"] = "same"
        r["tolerance"] = r["limit"]
    return out


# ---------------------------------------------------------------------------- drift
def maps_bytes(maps: dict[tuple[str, str, str], np.ndarray]) -> bytes:
    """``(model, image, method) -> (H, W)`` maps as the bytes of a compressed ``.npz``
    (float32; the keys in an array ``keys`` of ``model\\timage\\tmethod`` strings)."""
    keys = sorted(maps)
    arrays = {f"m{i}": np.asarray(maps[k], dtype=np.float32) for i, k in enumerate(keys)}
    buf = io.BytesIO()
    np.savez_compressed(buf, keys=np.array(["\t".join(k) for k in keys], dtype=str),
                        **arrays)
    return buf.getvalue()


def load_maps(source) -> dict[tuple[str, str, str], np.ndarray]:
    """The maps :func:`maps_bytes` stored (``source``: a path or the bytes)."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    with np.load(source, allow_pickle=False) as z:
        keys = [tuple(str(k).split("\t")) for k in z["keys"]]
        return {k: z[f"m{i}"] for i, k in enumerate(keys) if len(k) == 3}


def drift(current: dict, stored: dict, agreement: dict, *, limit: Limit | None = None,
          seed: int = 0, alpha: float = ALPHA) -> tuple[list[dict], list[dict]]:
    """The drift of each method's maps between two versions (module docstring).

    ``current``, ``stored``: ``(model, image, method) -> (H, W)`` maps (compared as
    float32, the precision :func:`maps_bytes` keeps); ``agreement``:
    ``(model, image, method) -> `` the method's seed-to-seed Spearman ``|map|`` on one
    version. Returns ``(summary, per_image)``: per model and method :data:`DRIFT_COLUMNS`
    (``similarity``, ``agreement``: medians; ``drift``: the median of ``agreement -
    similarity`` with its CI; ``p_value``: one-sided "the similarity is below the
    agreement", ``p_holm`` across the methods; ``verdict`` ``"drifted"``, ``"stable"`` or
    ``"undecided"``; ``status`` ``"regressed"`` where ``limit`` makes it fatal), and per
    image ``model, image, method, similarity, agreement, drift``."""
    from leg.harness.checks.randomization.similarity import spearman_abs
    from leg.harness.checks.statistics import compare_paired, min_images_for

    per_image, groups = [], {}
    for k in sorted(set(current) & set(stored) & set(agreement)):
        # both as stored (float32): a map kept unchanged must be exactly as similar as itself
        a = np.asarray(current[k], dtype=np.float32)
        b = np.asarray(stored[k], dtype=np.float32)
        ag = agreement[k]
        if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))
                                      and np.isfinite(ag)):
            continue
        sim = spearman_abs(a, b)
        model, image, method = k
        per_image.append({"model": model, "image": image, "method": method,
                          "similarity": sim, "agreement": float(ag),
                          "drift": float(ag) - sim})
        groups.setdefault((model, method), []).append(per_image[-1])
    summary = []
    for (model, method), rows in groups.items():
        sim = [r["similarity"] for r in rows]
        ag = [r["agreement"] for r in rows]
        cmp = compare_paired(sim, ag, higher_is_better=True, alpha=alpha, seed=seed)
        med_ag = float(np.median(ag))
        summary.append({"model": model, "method": method, "n_images": len(rows),
                        "similarity": float(np.median(sim)), "agreement": med_ag,
                        "drift": -cmp.median, "ci_low": -cmp.ci_high, "ci_high": -cmp.ci_low,
                        "p_value": cmp.p_worse,
                        "limit": None if limit is None else limit.absolute(med_ag),
                        "limit_text": "" if limit is None else str(limit),
                        "decidable": len(rows) >= min_images_for(alpha)})
    for r, p in zip(summary, holm([r["p_value"] for r in summary]), strict=True):
        r["p_holm"] = float(p)
        decidable = r.pop("decidable")
        r["verdict"] = ("undecided" if not decidable else "drifted" if p < alpha
                        else "stable")
        fatal = (r["verdict"] == "drifted" and r["limit"] is not None
                 and r["drift"] > r["limit"])
        r["status"] = "regressed" if fatal else r["verdict"]
    return summary, per_image
