"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018): plan, compute, judge.

Checks
    *Cascading randomization*: groups of layers re-initialised cumulatively from the output
    down (:mod:`leg.harness.checks.randomization.layers`); *independent randomization*: one group
    at a
    time; *label randomization*: the digits CNN trained on permuted labels against the
    true-label one; *bottom-up cascading* (``Profile.cascade_order`` ``"bottom-up"`` or
    ``"both"``, Binder et al., CVPR 2023): groups re-initialised cumulatively from the
    input up (kind ``"bottom-up"``, check ``cascading-bottom-up``, reported); *sMPRT*
    (check ``smprt``): the original and fully randomized maps, each averaged over
    ``ModelPlan.smprt_copies`` copies of the image (the noiseless one is the ordinary map,
    the others carry seeded Gaussian noise of ``smprt_noise`` times the image's range, the
    same copies in both states; LEG and LEG-TV use ``n_samples // smprt_copies`` samples per
    noisy copy, so a smoothed LEG map costs about two ordinary maps), compared like
    cascading against references from the smoothed original maps of other images; *eMPRT*
    (check ``emprt``): the complexity rise after full randomization
    (:mod:`leg.harness.checks.randomization.mprt`). Every state explains the same images for the
    same class: the original
    model's top-1 class. All states use the same explanation seed (common random numbers:
    a stochastic method sees the same perturbations everywhere, so its maps differ only
    because the model does — the stricter choice).

Similarities (:mod:`leg.harness.checks.randomization.similarity`): Spearman of absolute and of
signed maps, SSIM,
HOG Pearson, between the original and the randomized map of the same image; lower is
better.

Thresholds (calibrated as data, reported with every run)
    The *reference* of a (model, method, metric) is the set of similarities between
    explanations of *different* images: the original model's map of image ``i`` against
    the map of image ``j != i`` under the original model and under every randomized state
    of the run — how similar unrelated maps of that method already are (shared centre
    bias, smoothness, block structure of the grid). A randomized map
    "fell to the level of unrelated maps" when its similarity to the original is at most
    ``threshold = quantile_q(reference) + margin`` (``q`` and the per-metric margins in
    :class:`leg.harness.profiles.Thresholds`; 0.95 and 0.1 by default). :func:`verdict` applies
    the rule to one image's value or to the median of several (the pooled threshold is
    reported and gates informativeness).

Paired statistics (every verdict over images)
    Per image ``i`` and metric the *reference* is the ``quantile`` over ``j != i`` of the
    similarity of the original maps of ``i`` and ``j``, plus the margin
    (:func:`per_image_references`; the ``threshold`` column of the per-image rows in
    ``sanity.csv``). The similarities after randomization are compared with their images'
    references by :func:`paired_verdict` (:func:`leg.harness.checks.statistics.compare_paired`,
    one-sided Wilcoxon signed-rank, rule ``"require"``, alpha :data:`ALPHA`, a bootstrap CI
    of the median difference): ``"pass"`` when the drop is significant, ``"fail"`` when it
    is not with at least 5 images, ``"not-significant"`` with fewer (no 4 paired values can
    reach p < 0.05). A check over several metrics (and stages) takes the worst
    (:data:`ORDER`): degenerate, fail, not-significant, uninformative, pass. eMPRT: the
    rise of each image against its own ``|rise|`` between two seeds plus the margin,
    higher is better. The verdicts carry ``n_images``, ``ci_low``, ``ci_high``, ``p_value``
    (matrix, ``verdicts.csv``, the summary tables).

Informativeness (reproducibility)
    A method whose maps are mostly estimation noise passes the randomization checks
    trivially: its maps are unrelated to anything, randomized or not. So the original
    model explains every image a second time with seed ``seed + repeat + reseed_offset``
    (:class:`leg.harness.profiles.Profile`, 1000 by default; a method without randomness gives
    the same map again; the seed is part of the cache key), and the same similarities are
    computed between the two original maps: ``check="reproducibility"``,
    ``stage="original-reseeded"`` in ``sanity.csv`` (here higher is better). The original
    maps of an image are *informative* when this reproducibility exceeds the verdict's own
    threshold (same model, method and metric) on every metric of
    ``Thresholds.informative``: two runs of the explanation agree more than unrelated maps
    ever do, so a randomized map that falls to the unrelated level has lost something
    estimation noise alone does not explain. A randomization case that would pass but
    whose original maps are not informative gets the verdict ``"uninformative"``: never a
    pass (:func:`verdict`, :func:`informativeness`). Informativeness is necessary, not
    sufficient: a deterministic model-independent map (the ``edge`` control) is perfectly
    reproducible, and the randomization check is what catches it.

    Which metrics decide informativeness: ``spearman_abs`` (does the ranking of important
    pixels reproduce) and ``ssim`` (does the spatial structure of ``|map|`` reproduce); both
    are near 0 for noise. Not ``spearman_signed``: on per-channel maps (``combine=mean_abs``,
    the paper profile's Lite0) the map is non-negative and it equals ``spearman_abs``; on
    signed maps the sign of the many near-zero cells is estimation noise, so it can be low
    for a map whose important cells reproduce well. Not ``hog_pearson``: LEG maps are
    piecewise constant on the cell grid and the grid's block edges, the same in every map of
    every image, dominate the HOG — on the digits CNN with 4 px cells and 2000 samples two
    seeds agree at about 0.6 and unrelated maps reach about 0.6 too, so HOG cannot tell an
    informative cell map from noise. Both are still computed and reported.

Degenerate maps
    A map that is constant (all-zero included; :func:`is_degenerate`) carries no ranking,
    so every similarity to it is meaningless and a low one would be a trivial "pass". Such
    a case (the original or the randomized map of the image, any repeat) gets the verdict
    ``"degenerate"`` in ``sanity.csv`` and in the summaries, and counts as not passing.
    It happens when a randomized network's output no longer depends on its input (see
    the batch-norm re-estimation in :mod:`leg.harness.checks.randomization.layers`).

What is asserted
    LEG and LEG-TV must be informative on every image (the ``original-reseeded`` cases,
    image by image) and must pass on every decisive metric at full cascading randomization
    and under label randomization, judged *over images with the paired statistics* (one
    case per model x method x decisive stage, image ``"all-images"``), with no image
    degenerate and every image informative: "fail", "degenerate" and "uninformative" fail
    the test, "not-significant" (fewer than 5 images, e.g. the smoke profile's two Lite0
    photos) skips it with the reason. Over images, not each image: with 4 metrics x 2
    stages x 2 methods x several images, per-image judging of a 0.95-quantile threshold
    fails by chance (the smoke run had one digit at SSIM 0.334 against 0.316 under one seed
    and none under two others); per-image values and verdicts stay in ``sanity.csv``. Where
    a model plan lists a method in ``informative_reported`` (with its measured numbers), its
    uninformative cases are expected failures (``xfail``) instead, never passes. The model-
    independent ``edge`` control must fail
    (``test_check_catches_model_independent_explainer``: cascading and label randomization,
    and sMPRT and eMPRT where the model has at least 5 images): the check can fail; that an
    informativeness check can fail is tested on a noise explainer
    (``tests/test_sanity_verdict.py``). ``gradient`` and ``random`` are reported, not
    asserted (``random`` with a fixed seed gives every image the same map, so its reference
    is 1 and it would "pass" the randomization check trivially; a new seed gives a new map:
    it is uninformative, never a pass). Intermediate, independent and bottom-up stages,
    sMPRT and eMPRT of the other methods are reported (matrix, ``sanity.csv``, curves).
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from leg.harness.checks.metrics import metric as metric_of
from leg.harness.checks.randomization.layers import (
    Stage,
    cascading_stages,
    independent_stages,
    layer_groups,
    randomization_scheme,
)
from leg.harness.checks.randomization.mprt import emprt, emprt_threshold
from leg.harness.checks.randomization.seeds import seed_for
from leg.harness.checks.randomization.similarity import DEGENERATE_ATOL, SIMILARITIES, is_degenerate  # noqa: F401
from leg.harness.checks.statistics import PairedComparison, compare_paired, min_images_for
from leg.harness.checks.verdicts import Verdict
from leg.harness.engine.cache import explanation_key
from leg.harness.engine.inputs import array_hash, load_model_once, model_input_shape
from leg.harness.engine.jobs import ExplainItem, ExplainJob
from leg.harness.engine.pipeline import Pipeline, image_ids
from leg.harness.engine.suite import Cell, Check, Suite, SuiteResult
from leg.harness.profiles import ModelPlan, Profile, cell_size_for
from leg.zoo import TWINS

__all__ = [
    "ALL_IMAGES",
    "ORIGINAL",
    "ZOO_GROUPS",
    "SanityCase",
    "RESEEDED",
    "SanityResults",
    "informativeness",
    "is_degenerate",
    "paired_verdict",
    "per_image_references",
    "matrix_verdicts",
    "plan_cases",
    "smprt_options",
    "run_sanity",
    "threshold",
    "verdict",
]

ORIGINAL = Stage("original", "original")
#: The original model explained again with another seed (informativeness check).
RESEEDED = "original-reseeded"
ALL_IMAGES = "all-images"  # the image of a case judged over images (paired statistics)
#: Significance level of the paired tests of every sanity verdict over images.
ALPHA = 0.05
#: Order of badness of a check's verdicts over metrics and stages (the first decides).
ORDER = ("degenerate", "fail", "not-significant", "uninformative", "pass")

#: Layer groups (output first) of the zoo models, known without loading them.
ZOO_GROUPS = {
    "digits": ("logits", "dense1", "conv2", "conv1"),
    "lite0": ("logits", "head", *(f"block{i}" for i in range(15, -1, -1)), "stem"),
}
ZOO_GROUPS.update({twin: ZOO_GROUPS[original] for twin, original in TWINS.items()})


def threshold(reference, quantile: float, margin: float) -> float:
    """``quantile`` of the reference similarities plus ``margin`` (``+inf`` if none)."""
    ref = np.asarray(reference, dtype=np.float64)
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return float("inf")
    return float(np.quantile(ref, quantile) + margin)


def _median(values) -> float:
    return float(np.median(np.atleast_1d(np.asarray(values, dtype=np.float64))))


def verdict(values, reference, *, quantile: float = 0.95, margin: float = 0.1,
            degenerate: bool = False, informative: bool = True) -> str:
    """``"pass"`` when the similarity has fallen to the level of unrelated maps, else ``"fail"``.

    ``values``: one similarity (original vs randomized map of an image) or several (their
    median is judged); ``reference``: similarities of unrelated maps (different images,
    same model). Pass iff ``median(values) <= quantile(reference) + margin``.
    ``degenerate=True`` (a compared map is constant, :func:`is_degenerate`) gives
    ``"degenerate"`` whatever the values; ``informative=False`` (the original maps do not
    reproduce under another seed, :func:`informativeness`) turns a would-be pass into
    ``"uninformative"``. Neither is ever a pass.
    """
    if degenerate:
        return "degenerate"
    if _median(values) > threshold(reference, quantile, margin):
        return "fail"
    return "pass" if informative else "uninformative"


def per_image_references(pairs: dict, images, quantile: float, margin: float
                         ) -> dict[str, float]:
    """Per image ``i``: the ``quantile`` over ``j != i`` of ``pairs[(i, j)]`` (the similarity
    of the original maps of images ``i`` and ``j``; symmetric, either order given) plus
    ``margin``; ``+inf`` where ``i`` has no finite pair."""
    out = {}
    for i in images:
        vals = [pairs.get((i, j), pairs.get((j, i))) for j in images if j != i]
        out[i] = threshold([v for v in vals if v is not None], quantile, margin)
    return out


def paired_verdict(values, references, *, higher_is_better: bool = False,
                   degenerate: bool = False, informative: bool = True, seed: int = 0
                   ) -> tuple[str, PairedComparison | None]:
    """The verdict of one check and metric over images, with its statistics.

    ``values`` ``(n,)``: per image, the similarity of the original and the randomized map
    (or eMPRT's complexity rise, ``higher_is_better=True``); ``references`` ``(n,)``: the
    per-image level it must be shown to fall below (rise above). One-sided paired test
    (:func:`leg.harness.checks.statistics.compare_paired`, rule ``"require"``, :data:`ALPHA`):
    ``"pass"`` when significant, ``"fail"`` when not with enough images, else
    ``"not-significant"`` (fewer than 5 images can never decide). ``degenerate``:
    ``"degenerate"`` (no statistics); ``informative=False`` turns a pass into
    ``"uninformative"``; non-finite values or references (a missing reference) give
    ``"degenerate"`` too.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    r = np.asarray(references, dtype=np.float64).ravel()
    if degenerate or v.size == 0 or not (np.all(np.isfinite(v)) and np.all(np.isfinite(r))):
        return "degenerate", None
    comp = compare_paired(v, r, higher_is_better=higher_is_better, rule="require",
                          alpha=ALPHA, seed=seed)
    out = {"not significant": "not-significant", "fail": "fail"}.get(comp.verdict)
    if out is None:
        out = "pass" if informative else "uninformative"
    return out, comp


def not_significant_reason(n_images: int) -> str:
    """Why a verdict over ``n_images`` images is not significant, in one line."""
    need = min_images_for(ALPHA)
    if n_images < need:
        return (f"not significant: {n_images} images, at least {need} are needed for "
                f"p < {ALPHA}")
    return f"not significant at p < {ALPHA} over {n_images} images"


def informativeness(values, reference, *, quantile: float = 0.95, margin: float = 0.1,
                    degenerate: bool = False) -> str:
    """``"informative"`` when two explanations of the original model with different seeds
    are more similar than unrelated maps, else ``"uninformative"``.

    ``values``: the reproducibility of one image (similarity of its two original maps) or
    of several (their median is judged); ``reference`` as in :func:`verdict`. Informative
    iff ``median(values) > quantile(reference) + margin`` — strictly above the very
    threshold a randomized map must fall to. ``degenerate=True`` gives ``"degenerate"``.
    """
    if degenerate:
        return "degenerate"
    if _median(values) > threshold(reference, quantile, margin):
        return "informative"
    return "uninformative"


@dataclass(frozen=True)
class SanityCase:
    """One parametrized test: ``model`` x ``image`` x ``method`` x ``stage``."""

    model: str
    image: str
    method: str
    stage: str
    kind: str  # a Stage kind, or "reproducibility" (stage RESEEDED)
    decisive: bool  # full cascading randomization, label randomization or reproducibility

    @property
    def id(self) -> str:
        return f"{self.model}-{self.image}-{self.method}-{self.stage}"


@functools.cache
def _not_randomizable(spec: str) -> str | None:
    """Why the model ``spec`` cannot be randomized (it has no Keras layers or PyTorch
    modules, e.g. a ground-truth model), or ``None``."""
    if spec in ZOO_GROUPS:
        return None
    try:
        layer_groups(load_model_once(spec))
    except TypeError as exc:
        return f"the sanity checks cannot randomize {spec!r}: {exc}"
    return None


def _model_groups(spec: str) -> list[str]:
    if spec in ZOO_GROUPS:
        return list(ZOO_GROUPS[spec])
    return [g for g, _ in layer_groups(load_model_once(spec))]


def model_stages(plan: ModelPlan, order: str = "top-down") -> list[Stage]:
    """Randomized states of ``plan``'s model (without the original). ``order``
    (:data:`leg.harness.profiles.CASCADE_ORDERS`): ``"bottom-up"`` or ``"both"`` add the
    bottom-up cascade (kind ``"bottom-up"``, stages ``bottom-up-<group>``, at the same groups)
    to the top-down one, which the suite always runs (it is the asserted check)."""
    from leg.harness.profiles import CASCADE_ORDERS

    if order not in CASCADE_ORDERS:
        raise ValueError(f"Unknown cascade order {order!r}; choose one of "
                         f"{list(CASCADE_ORDERS)}.")
    groups = _model_groups(plan.spec)
    at = plan.cascade_at
    if isinstance(at, int):  # N evenly spaced groups, the last (full randomization) included
        picks = np.unique(np.linspace(len(groups) - 1, 0, max(1, at)).round().astype(int))
        at = tuple(groups[i] for i in picks)
    stages = cascading_stages(groups, at)
    if order != "top-down":
        stages += cascading_stages(groups, at, order="bottom-up")
    stages += independent_stages(groups, plan.independent)
    if plan.label_twin:
        stages.append(Stage("label-permuted", "label", depth=0, model=plan.label_twin))
    return stages


def plan_cases(profile: Profile, images_dir: str | None = None) -> list[SanityCase]:
    """Every (model, image, method, stage) test case of ``profile`` (models not loaded for
    the zoo)."""
    cases = []
    for plan in profile.models:
        stages = model_stages(plan, profile.cascade_order)
        last_cascade = [s for s in stages if s.kind == "cascading"][-1].name
        decisive = [s for s in stages if s.name == last_cascade or s.kind == "label"]
        for image, method in itertools.product(
                image_ids(plan.spec, plan.n_images, images_dir), profile.methods):
            cases.append(SanityCase(plan.spec, image, method, RESEEDED, "reproducibility",
                                    True))
            cases.extend(SanityCase(plan.spec, image, method, stage.name, stage.kind, False)
                         for stage in stages if stage not in decisive)
        cases.extend(SanityCase(plan.spec, ALL_IMAGES, method, stage.name, stage.kind, True)
                     for method in profile.methods for stage in decisive)
    return cases


@dataclass
class SanityResults(SuiteResult):
    """Everything the sanity tests assert on and the report shows."""

    rows: list[dict] = field(default_factory=list)
    maps: dict = field(default_factory=dict)  # (model, image, method, stage, repeat) -> map
    images: dict = field(default_factory=dict)  # (model, image) -> array
    stages: dict = field(default_factory=dict)  # model -> [Stage]
    references: dict = field(default_factory=dict)  # (model, method, metric) -> [float]
    informative: dict = field(default_factory=dict)  # (model, method, image) -> bool
    thresholds: dict = field(default_factory=dict)  # (model, method, metric) -> float
    targets: dict = field(default_factory=dict)  # (model, image) -> class
    model_info: dict = field(default_factory=dict)
    #: eMPRT, per image: the complexity rise after full randomization (rows of sanity.csv,
    #: check "emprt"), and per (model, method): (verdict, median rise, threshold).
    emprt_rows: list[dict] = field(default_factory=list)
    emprt: dict = field(default_factory=dict)
    #: sMPRT, per image and metric: the similarity of the smoothed original and fully
    #: randomized maps (rows of sanity.csv, check "smprt", threshold = the image's
    #: reference); ``smoothed``: (model, image, method, stage) -> smoothed map.
    smprt_rows: list[dict] = field(default_factory=list)
    smoothed: dict = field(default_factory=dict)

    def case_rows(self, case: SanityCase) -> list[dict]:
        """The case's rows (every image's for an ``ALL_IMAGES`` case)."""
        return [r for r in self.rows if r["check"] != "reference" and r["model"] == case.model
                and case.image in (ALL_IMAGES, r["image"]) and r["method"] == case.method
                and r["stage"] == case.stage]

    def median_verdicts(self, case: SanityCase, rows: list[dict] | None = None
                        ) -> dict[str, tuple[str, float, float, PairedComparison | None]]:
        """Per decisive metric: ``(verdict, median value over images, median reference,
        statistics)`` of a case (:func:`paired_verdict` of the images' values against
        their own references; ``rows``: the case's rows when not :meth:`case_rows`)."""
        th = self.profile.thresholds
        rows = self.case_rows(case) if rows is None else rows
        images = {r["image"] for r in rows}
        informative = all(self.informative.get((case.model, case.method, img), False)
                          for img in images)
        out = {}
        for metric in th.decisive:
            mrows = [r for r in rows if r["metric"] == metric]
            if not mrows:
                continue
            degenerate = any(r["verdict"] == "degenerate" for r in mrows)
            values = [r["value"] for r in mrows]
            refs = [np.inf if r["threshold"] is None else r["threshold"] for r in mrows]
            v, comp = paired_verdict(values, refs, degenerate=degenerate,
                                     informative=informative, seed=self.profile.seed)
            out[metric] = (v, _median(values), _median(refs), comp)
        return out


def _resolve_options(options: dict, shape) -> dict:
    out = dict(options)
    if isinstance(out.get("cell_size"), str):
        out["cell_size"] = cell_size_for(out["cell_size"], shape)
    return out


def run_sanity(profile: Profile, *, cache_root: str, images_dir: str | None = None,
               executor=None) -> SanityResults:
    """Compute (or read from the cache) every explanation of ``profile``, then the
    similarities, references, thresholds and verdicts."""
    res = SanityResults(profile=profile)
    return SUITE.run(Pipeline(profile, res, cache_root=cache_root, images_dir=images_dir,
                              executor=executor))


def _explain(pipe: Pipeline) -> None:
    """Plan every explanation of the profile's models, run them through ``pipe`` and read
    the maps back into ``pipe.result``."""
    from leg.harness.methods import available

    res, profile = pipe.result, pipe.profile
    jobs, index = [], {}
    t_plan = time.perf_counter()
    for plan in profile.models:
        clf = pipe.model(plan.spec)
        shape = model_input_shape(clf)
        res.model_info[plan.spec] = {"input_shape": list(shape),
                                     "metrics": getattr(clf, "metrics", None)}
        scheme = randomization_scheme(clf)
        actual = [g for g, _ in layer_groups(clf)]
        expected = _model_groups(plan.spec)
        if actual != expected:
            raise RuntimeError(f"The model {plan.spec!r} has layer groups {actual}; the plan "
                               f"expected {expected}.")
        images = pipe.images(plan.spec, plan.n_images, clf)
        if len(images) < 2:
            raise ValueError(f"The sanity checks need at least 2 images (the unrelated-map "
                             f"reference compares different images); got {len(images)}.")
        calibration_hash = array_hash(np.stack([img for _, img in sorted(images,
                                                                        key=lambda t: t[0])]))
        top1, _ = pipe.top1(clf, images)
        methods, skipped = available(profile.methods, clf, profile.user_methods)
        res.skipped.update(skipped)
        stages = [ORIGINAL, *model_stages(plan, profile.cascade_order)]
        res.stages[plan.spec] = stages
        smprt_at = _smprt_stages(plan, stages)
        noisy = ({img_id: _noisy_copies(plan, profile, img_id, img) for img_id, img in images}
                 if smprt_at else {})
        for (img_id, img), k in zip(images, top1, strict=True):
            res.images[(plan.spec, img_id)] = img
            res.targets[(plan.spec, img_id)] = k
        for stage in stages:
            spec = stage.model or plan.spec
            fingerprint = pipe.fingerprint(spec)
            state = {"stage": stage.name, "groups": list(stage.groups),
                     "seed": profile.randomization_seed if stage.groups else None,
                     "scheme": scheme if stage.groups else None}
            if stage.groups:  # batch-norm statistics are re-estimated on these images
                state["calibration"] = calibration_hash
            items = []
            # the original model also explains every image with a second seed (informativeness)
            runs = [(stage.name, 0)]
            if stage.kind == "original":
                runs.append((RESEEDED, profile.reseed_offset))
            for (img_id, img), method, r, (name, offset) in itertools.product(
                    images, methods, range(profile.repeats), runs):
                options = _resolve_options(plan.options.get(method, {}), shape)
                seed = profile.seed + r + offset
                target = res.targets[(plan.spec, img_id)]
                key = explanation_key(model=fingerprint, state=state, image=array_hash(img),
                                      method=method, options=options, seed=seed,
                                      target=target)
                index[(plan.spec, img_id, method, name, r)] = key
                items.append(ExplainItem(key, img_id, img, method, options, seed, target))
            if stage.name in smprt_at:  # sMPRT: the noisy copies (the last is the image)
                for (img_id, _), method in itertools.product(images, methods):
                    options = smprt_options(method, _resolve_options(
                        plan.options.get(method, {}), shape), plan.smprt_copies)
                    target = res.targets[(plan.spec, img_id)]
                    for k, copy in enumerate(noisy[img_id][:-1]):
                        copy_state = {**state, "smprt": {
                            "copy": k, "copies": plan.smprt_copies, "noise": plan.smprt_noise,
                            "noise_seed": _noise_seed(profile, img_id)}}
                        key = explanation_key(model=fingerprint, state=copy_state,
                                              image=array_hash(copy), method=method,
                                              options=options, seed=profile.seed + k,
                                              target=target)
                        index[(plan.spec, img_id, method, _smprt_name(stage.name, k), 0)] = key
                        items.append(ExplainItem(key, f"{img_id}~smprt{k}", copy, method,
                                                 options, profile.seed + k, target,
                                                 calibrate=False))
            # a randomized stage is one job (its batch-norm calibration uses all its
            # images, not their noisy copies); the model as loaded is one job per image
            # (with its noisy copies), so workers share it
            parts: dict[str, list[ExplainItem]] = {}
            for it in items:
                parts.setdefault("" if stage.groups else it.image_id.split("~smprt")[0],
                                 []).append(it)
            jobs += [ExplainJob(spec, stage.name, stage.groups, profile.randomization_seed,
                                tuple(part), pipe.cache_root) for part in parts.values()]
    res.timings["plan"] = time.perf_counter() - t_plan
    entries = pipe.run(jobs, index, timing="explain")
    # an error is the image's, whatever the repeat
    res.errors = {name[:4]: why for name, why in res.errors.items()}
    for name, entry in entries.items():
        res.maps[name] = entry["saliency"]
    for (model, _, _, stage, _), key in index.items():
        tkey = f"explain:{model}:{stage}"
        res.timings[tkey] = res.timings.get(tkey, 0.0) + pipe.status.get(key, ("", 0.0))[1]


def _smprt_stages(plan: ModelPlan, stages: list[Stage]) -> set[str]:
    """The states whose maps sMPRT smooths: the original and full cascading randomization
    (none when ``plan.smprt_copies`` is 1)."""
    full = [s.name for s in stages if s.kind == "cascading"][-1:]
    return {ORIGINAL.name, *full} if plan.smprt_copies > 1 and full else set()


def _smprt_name(stage: str, k: int) -> str:
    """The ``res.maps`` stage of sMPRT's noisy copy ``k`` of ``stage``'s map."""
    return f"smprt{k}:{stage}"


def _noise_seed(profile: Profile, img_id: str) -> int:
    """The seed of an image's sMPRT noise (the same for every model state and method)."""
    return seed_for(profile.seed, img_id, "smprt-noise")


def _noisy_copies(plan: ModelPlan, profile: Profile, img_id: str, image) -> np.ndarray:
    """``(smprt_copies, H, W, C)`` copies of ``image`` in ``[0, 1]``, the last the image."""
    from leg.harness.checks.randomization.mprt import noisy_copies

    copies = noisy_copies(image, plan.smprt_copies, plan.smprt_noise,
                          seed=_noise_seed(profile, img_id), clip=(0.0, 1.0))
    copies[-1] = image  # exactly the ordinary image (its map is the ordinary one)
    return copies.astype(np.asarray(image).dtype)


def smprt_options(method: str, options: dict, copies: int) -> dict:
    """A method's options on one noisy copy: a sampled method (LEG, LEG-TV:
    :attr:`leg.harness.methods.Method.sampled`) takes ``n_samples // copies`` samples,
    rounded down to an even number (antithetic pairs), at least 2, so the smoothed map costs
    about two ordinary maps."""
    n = options.get("n_samples")
    if isinstance(n, int) and not isinstance(n, bool):
        return {**options, "n_samples": max(2, n // copies // 2 * 2)}
    return options


def _score(res: SanityResults) -> None:
    prof = res.profile
    th = prof.thresholds
    methods = sorted({k[2] for k in res.maps})
    for plan in prof.models:
        model = plan.spec
        img_ids = [i for (m, i) in res.images if m == model]
        needed = [s.name for s in res.stages[model]] + [RESEEDED]
        for method, (name, sim) in itertools.product(methods, SIMILARITIES.items()):
            if not all((model, i, method, s, r) in res.maps for i in img_ids
                       for s in needed for r in range(prof.repeats)):
                continue  # an explanation failed: reported through res.errors
            role = prof.role(method)
            ref = []
            states = [s.name for s in res.stages[model]]
            pairs = [(a, b, "original") for a, b in itertools.combinations(img_ids, 2)]
            pairs += [(a, b, st) for a, b in itertools.permutations(img_ids, 2)
                      for st in states[1:]]
            unrelated = {}  # (i, j) -> similarity of the original maps of images i and j
            for a, b, st in pairs:
                v = np.mean([sim(res.maps[(model, a, method, "original", r)],
                                 res.maps[(model, b, method, st, r)])
                             for r in range(prof.repeats)])
                ref.append(float(v))
                if st == "original":
                    unrelated[(a, b)] = float(v)
                res.rows.append(_row("reference", model, f"{a}~{b}", method,
                                     f"original~{st}", 0, name, v, None, None, role=role))
            res.references[(model, method, name)] = ref
            t = threshold(ref, th.quantile, th.margin.get(name, 0.0))
            res.thresholds[(model, method, name)] = t
            per_image = per_image_references(unrelated, img_ids, th.quantile,
                                             th.margin.get(name, 0.0))
            for img in img_ids:  # informativeness: the original model under two seeds
                v = float(np.mean([sim(res.maps[(model, img, method, "original", r)],
                                       res.maps[(model, img, method, RESEEDED, r)])
                                   for r in range(prof.repeats)]))
                flat = any(is_degenerate(res.maps[(model, img, method, st, r)])
                           for st in ("original", RESEEDED) for r in range(prof.repeats))
                res.rows.append(_row("reproducibility", model, img, method, RESEEDED, 0, name,
                                     v, t, "degenerate" if flat else "informative" if v > t
                                     else "uninformative", role=role, higher_is_better=True))
            for stage in res.stages[model][1:]:
                for img in img_ids:
                    v = float(np.mean([sim(res.maps[(model, img, method, "original", r)],
                                           res.maps[(model, img, method, stage.name, r)])
                                       for r in range(prof.repeats)]))
                    flat = any(is_degenerate(res.maps[(model, img, method, st, r)])
                               for st in ("original", stage.name) for r in range(prof.repeats))
                    t_i = per_image[img]  # the image's own unrelated-map level
                    res.rows.append(_row(stage.kind, model, img, method, stage.name, stage.depth,
                                         name, v, t_i, "degenerate" if flat
                                         else "pass" if v <= t_i else "fail", role=role))
    _gate_on_informativeness(res)


def _score_emprt(res: SanityResults) -> None:
    """eMPRT (Hedström et al., TMLR 2024; :mod:`leg.harness.checks.randomization.mprt`): per image,
    the relative
    rise in complexity (entropy of the ``|map|`` histogram) from the original to the fully
    randomized model's map, paired with the image's own reference: the ``|rise|`` between
    the original model's maps under two seeds plus the margin (:func:`emprt_threshold` of
    that one image). It passes when the rise is significantly above the reference over the
    images (:func:`paired_verdict`, higher is better): a map that does not change with the
    model (the edge control) rises by 0 and fails."""
    for plan in res.profile.models:
        model = plan.spec
        full = [s.name for s in res.stages[model] if s.kind == "cascading"][-1:]
        if not full:
            continue
        stage = full[0]
        img_ids = [i for (m, i) in res.images if m == model]
        for method in sorted({k[2] for k in res.maps if k[0] == model}):
            keys = [(model, i, method, st, 0) for i in img_ids
                    for st in ("original", RESEEDED, stage)]
            if not all(k in res.maps for k in keys):
                continue
            original = [res.maps[(model, i, method, "original", 0)] for i in img_ids]
            rand = emprt(original, [res.maps[(model, i, method, stage, 0)] for i in img_ids])
            reseed = emprt(original, [res.maps[(model, i, method, RESEEDED, 0)]
                                      for i in img_ids])
            flat = bool(np.any(rand.degenerate) or np.any(reseed.degenerate))
            refs = np.array([emprt_threshold([r]) for r in reseed.rise])
            v, comp = paired_verdict(rand.rise, refs, higher_is_better=True, degenerate=flat,
                                     seed=res.profile.seed)
            res.emprt[(model, method)] = (v, float(np.median(rand.rise)),
                                          float(np.median(refs)), comp)
            for img, rise, deg, thr in zip(img_ids, rand.rise, rand.degenerate, refs,
                                           strict=True):
                res.emprt_rows.append(_row(
                    "emprt", model, img, method, stage, 0, "complexity_rise", rise, thr,
                    "degenerate" if deg else "pass" if rise > thr else "fail",
                    role=res.profile.role(method), higher_is_better=True))


def _score_smprt(res: SanityResults) -> None:
    """sMPRT (Hedström et al., TMLR 2024; :mod:`leg.harness.checks.randomization.mprt`): per image,
    the mean of
    the maps of its noisy copies and of its ordinary map, under the original and the fully
    randomized model; per metric, their similarity (rows ``check="smprt"``) against the
    image's reference: the ``Thresholds.quantile`` of the similarities of its smoothed
    original map to the other images' smoothed original maps, plus the margin. Judged like
    cascading (:meth:`SanityResults.median_verdicts`), informativeness gate included."""
    prof = res.profile
    th = prof.thresholds
    for plan in prof.models:
        model = plan.spec
        at = _smprt_stages(plan, res.stages.get(model, []))
        if not at:
            continue
        full = next(s for s in reversed(res.stages[model]) if s.kind == "cascading")
        img_ids = [i for (m, i) in res.images if m == model]
        for method in sorted({k[2] for k in res.maps if k[0] == model}):
            keys = [(model, i, method, name, 0) for i in img_ids for st in at
                    for name in (st, *(_smprt_name(st, k)
                                       for k in range(plan.smprt_copies - 1)))]
            if not all(k in res.maps for k in keys):
                continue  # an explanation failed: reported through res.errors
            for i, st in itertools.product(img_ids, at):
                maps = [res.maps[(model, i, method, _smprt_name(st, k), 0)]
                        for k in range(plan.smprt_copies - 1)]
                maps.append(res.maps[(model, i, method, st, 0)])
                res.smoothed[(model, i, method, st)] = np.mean(maps, axis=0)
            role = prof.role(method)
            for name, sim in SIMILARITIES.items():
                orig = {i: res.smoothed[(model, i, method, "original")] for i in img_ids}
                unrelated = {(a, b): float(sim(orig[a], orig[b]))
                             for a, b in itertools.combinations(img_ids, 2)}
                refs = per_image_references(unrelated, img_ids, th.quantile,
                                            th.margin.get(name, 0.0))
                for i in img_ids:
                    rand = res.smoothed[(model, i, method, full.name)]
                    v = float(sim(orig[i], rand))
                    flat = is_degenerate(orig[i]) or is_degenerate(rand)
                    ok = res.informative.get((model, method, i), False)
                    res.smprt_rows.append(_row(
                        "smprt", model, i, method, full.name, full.depth, name, v, refs[i],
                        "degenerate" if flat else "fail" if v > refs[i]
                        else "pass" if ok else "uninformative", role=role))


def _gate_on_informativeness(res: SanityResults) -> None:
    """Per (model, method, image): informative iff the reproducibility row of every
    ``Thresholds.informative`` metric says so; a randomization "pass" of an image that is
    not informative becomes "uninformative"."""
    decisive = set(res.profile.thresholds.informative)
    ok: dict = {}
    for r in res.rows:
        if r["check"] == "reproducibility" and r["metric"] in decisive:
            key = (r["model"], r["method"], r["image"])
            ok[key] = ok.get(key, True) and r["verdict"] == "informative"
    res.informative.update(ok)
    for r in res.rows:
        if (r["check"] not in ("reference", "reproducibility") and r["verdict"] == "pass"
                and not ok.get((r["model"], r["method"], r["image"]), False)):
            r["verdict"] = "uninformative"


def _row(check, model, image, method, stage, depth, metric, value, thr, verdict_, *,
         role: str, higher_is_better: bool | None = None) -> dict:
    if higher_is_better is None:
        higher_is_better = metric_of(metric).higher_is_better
    return {"check": check, "model": model, "image": image, "method": method, "stage": stage,
            "depth": depth, "metric": metric, "value": float(value),
            "threshold": None if thr is None else float(thr), "verdict": verdict_ or "",
            "higher_is_better": higher_is_better, "role": role}


# ---------------------------------------------------------------------------- reporting
def summary_rows(res: SanityResults) -> list[dict]:
    """One row per (model, method, stage, check, metric) over images, with its verdict and
    statistics (``n_images``, ``ci_low``, ``ci_high``, ``p_value``).

    Reproducibility rows get :func:`informativeness` of the median (no statistics);
    randomization, sMPRT and eMPRT rows get :func:`paired_verdict` of the images' values
    against their own references (the rows' ``threshold``; ``threshold`` here is their
    median), "uninformative" instead of "pass" unless the medians of the method's
    reproducibility are informative on every ``Thresholds.informative`` metric (column
    ``informative``, the same on every row of a model and method; eMPRT is not gated).
    """
    groups: dict = {}
    flat: set = set()
    for r in res.rows + res.smprt_rows + res.emprt_rows:
        if r["check"] == "reference":
            continue
        key = (r["model"], r["method"], r["stage"], r["check"], r["depth"], r["metric"])
        groups.setdefault(key, []).append(r)
        if r["verdict"] == "degenerate":
            flat.add(key)
    th = res.profile.thresholds
    informative: dict = {}
    for key, rows in groups.items():
        model, method, _, check, _, metric = key
        if check == "reproducibility" and metric in th.informative:
            v = informativeness([r["value"] for r in rows], res.references[(model, method,
                                                                             metric)],
                                quantile=th.quantile, margin=th.margin.get(metric, 0.0),
                                degenerate=key in flat)
            informative[(model, method)] = (informative.get((model, method), True)
                                            and v == "informative")
    out = []
    for key, rows in groups.items():
        model, method, stage, check, depth, metric = key
        vals = [r["value"] for r in rows]
        stats = {"n_images": len(rows), "ci_low": None, "ci_high": None, "p_value": None}
        if check == "reproducibility":
            thr = res.thresholds[(model, method, metric)]
            v = informativeness(vals, res.references[(model, method, metric)],
                                quantile=th.quantile, margin=th.margin.get(metric, 0.0),
                                degenerate=key in flat)
        else:
            refs = [np.inf if r["threshold"] is None else r["threshold"] for r in rows]
            thr = _median(refs)
            v, comp = paired_verdict(
                vals, refs, higher_is_better=bool(rows[0]["higher_is_better"]),
                degenerate=key in flat, seed=res.profile.seed,
                informative=check == "emprt" or informative.get((model, method), False))
            if comp is not None:
                stats = comp.row()
        finite = [x for x in vals if np.isfinite(x)]
        out.append({"model": model, "method": method, "role": res.profile.role(method),
                    "check": check, "stage": stage, "depth": depth, "metric": metric,
                    "median": _median(vals), "min": float(np.min(finite)) if finite else None,
                    "max": float(np.max(finite)) if finite else None, "threshold": thr,
                    "degenerate_images": sum(r["verdict"] == "degenerate" for r in rows),
                    "informative": informative.get((model, method), False),
                    "verdict": v, **stats})
    return out


def threshold_rows(res: SanityResults) -> list[dict]:
    """One row per (model, method, metric): the reference, the threshold, and the median
    reproducibility (original model, two seeds) that must exceed it where the metric
    decides informativeness."""
    th = res.profile.thresholds
    out = []
    for (m, meth, met), ref in sorted(res.references.items()):
        rep = [r["value"] for r in res.rows if r["check"] == "reproducibility"
               and r["model"] == m and r["method"] == meth and r["metric"] == met]
        out.append({"model": m, "method": meth, "metric": met, "reference_n": len(ref),
                    "reference_median": float(np.median(ref)) if ref else None,
                    "quantile": th.quantile,
                    "reference_quantile": float(np.quantile(ref, th.quantile)) if ref else None,
                    "margin": th.margin.get(met, 0.0),
                    "threshold": res.thresholds[(m, meth, met)],
                    "reproducibility_median": float(np.median(rep)) if rep else None,
                    "decides_informativeness": met in th.informative})
    return out


def _deciding(parts: list[tuple]) -> tuple:
    """Of ``(verdict, median value, median reference, where, statistics)`` parts of one
    check, the one that decides it: the worst verdict (:data:`ORDER`), and among those the
    median furthest over (or closest under) its reference."""
    return min(parts, key=lambda p: (ORDER.index(p[0]), -(p[1] - p[2])))


def _informativeness_verdict(res: SanityResults, model: str, method: str, asserted: bool,
                             reported: str | None) -> Verdict:
    """Informative iff every image's reproducibility beats its threshold on every
    ``Thresholds.informative`` metric (as the tests judge it, image by image)."""
    rows = [r for r in res.rows if r["check"] == "reproducibility" and r["model"] == model
            and r["method"] == method and r["metric"] in res.profile.thresholds.informative]
    flat = [r for r in rows if r["verdict"] == "degenerate"]
    worst = flat[0] if flat else min(rows, key=lambda r: r["value"] - r["threshold"])
    if flat:
        verdict_ = "degenerate"
    elif all(r["verdict"] == "informative" for r in rows):
        verdict_ = "pass"
    else:
        verdict_ = "expected-failure" if asserted and reported else "uninformative"
    return Verdict(model, method, "informativeness", verdict_, worst["value"],
                   worst["threshold"], True, asserted,
                   f"{worst['metric']} on {worst['image']}: {worst['value']:.3f}, must exceed "
                   f"{worst['threshold']:.3f}" + (f" ({reported})" if reported else ""))


#: Matrix check -> the stage kind it judges.
_CHECK_KINDS = {"cascading": "cascading", "cascading-bottom-up": "bottom-up",
                "independent": "independent", "label": "label"}


def planned_cells(profile: Profile) -> list[tuple[str, str, str]]:
    """``(model, method, check)`` of every matrix cell this suite would fill for ``profile``
    (shown as "not run" when the suite did not run)."""
    out = []
    for plan in profile.models:
        checks = ["cascading",
                  *(["cascading-bottom-up"] if profile.cascade_order != "top-down" else []),
                  *(["independent"] if plan.independent else []),
                  *(["label"] if plan.label_twin else []), "informativeness", "emprt",
                  *(["smprt"] if plan.smprt_copies > 1 else [])]
        out += [(plan.spec, method, check) for method in profile.methods for check in checks]
    return out


def _stats(comp: PairedComparison | None, n_images: int) -> dict:
    """The Verdict fields of a comparison (``n_images`` alone without one)."""
    if comp is None:
        return {"n_images": n_images}
    return {"n_images": comp.n_images, "ci_low": comp.ci_low, "ci_high": comp.ci_high,
            "p_value": comp.p_value}


def _detail(where: str, med: float, ref: float, comp: PairedComparison | None,
            higher: bool = False) -> str:
    side = "above" if higher else "below"
    text = f"{where}: median {med:.3f} vs median reference {ref:.3f} (must be {side}"
    if comp is None:
        return text + ")"
    return (text + f" on every image, paired: diff {comp.median:.3f} [{comp.ci_low:.3f}, "
            f"{comp.ci_high:.3f}], p = {comp.p_value:.2g}, n = {comp.n_images})")


def matrix_verdicts(res: SanityResults) -> list[Verdict]:
    """One verdict per model, method and sanity check (cascading, bottom-up cascading,
    independent, label, informativeness, eMPRT, sMPRT), judged as the tests judge them
    (:meth:`SanityResults.median_verdicts`: paired statistics over images), with the
    deciding metric's statistics."""
    th = res.profile.thresholds
    out = []
    for plan in res.profile.models:
        model = plan.spec
        stages = res.stages.get(model, [])
        by_check = {check: [s.name for s in stages if s.kind == kind]
                    for check, kind in _CHECK_KINDS.items()}
        by_check["cascading"] = by_check["cascading"][-1:]  # full randomization decides
        # bottom-up: the last stage before full randomization (every group but the output
        # end randomized: the forward signal is gone, so a faithful map must have changed;
        # its first stages randomize so little that a faithful map need not change)
        by_check["cascading-bottom-up"] = by_check["cascading-bottom-up"][-2:][:1]
        checks = [c for c, names in by_check.items() if names] + ["informativeness"]
        if any(r["model"] == model for r in res.smprt_rows):
            checks.append("smprt")
        for method in res.profile.methods:
            asserted = res.profile.role(method) == "asserted"
            reported = plan.informative_reported.get(method)
            scored = all((model, method, m) in res.references for m in th.decisive)
            n_img = len([i for (m, i) in res.images if m == model])
            for check in checks:
                decisive = asserted and check in ("cascading", "label")
                if not scored:
                    why = res.skipped.get(method, "an explanation failed (see the errors)")
                    out.append(Verdict(model, method, check, "not-run", asserted=decisive,
                                       detail=why))
                    continue
                if check == "informativeness":
                    out.append(_informativeness_verdict(res, model, method, asserted,
                                                        reported))
                    continue
                if check == "smprt":
                    rows = [r for r in res.smprt_rows if r["model"] == model
                            and r["method"] == method]
                    if not rows:
                        out.append(Verdict(model, method, check, "not-run",
                                           detail="an explanation of a noisy copy failed"))
                        continue
                    groups = {rows[0]["stage"]: rows}
                else:
                    groups = {stage: None for stage in by_check[check]}
                parts = []
                for stage, rows in groups.items():
                    case = SanityCase(model, ALL_IMAGES, method, stage, check, True)
                    for metric, (v, med, ref, comp) in res.median_verdicts(case, rows).items():
                        parts.append((v, med, ref, f"{metric} at {stage}", comp))
                v, med, ref, where, comp = _deciding(parts)
                if v == "uninformative" and decisive and reported:
                    v = "expected-failure"
                out.append(Verdict(model, method, check, v, med, ref, False, decisive,
                                   _detail(where, med, ref, comp), **_stats(comp, n_img)))
            if (model, method) in res.emprt:
                v, med, thr, comp = res.emprt[(model, method)]
                out.append(Verdict(model, method, "emprt", v, med, thr, True, False,
                                   _detail("complexity rise after full randomization "
                                           "(reference: two seeds' |rise| + margin)",
                                           med, thr, comp, higher=True),
                                   **_stats(comp, n_img)))
    return out


def _grid_figure(res: SanityResults, model: str, method: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leg.harness.checks.randomization.similarity import normalize_abs

    stages = [s for s in res.stages[model] if s.kind in ("original", "cascading", "label")]
    stages.insert(1, Stage(RESEEDED, "reproducibility"))
    imgs = [i for (m, i) in res.images if m == model]
    fig, axes = plt.subplots(len(imgs), len(stages) + 1, squeeze=False,
                             figsize=(1.3 * (len(stages) + 1), 1.3 * len(imgs)))
    for r, img in enumerate(imgs):
        im = res.images[(model, img)]
        axes[r, 0].imshow(im[..., 0] if im.shape[2] == 1 else im, cmap="gray")
        axes[r, 0].set_ylabel(img, fontsize=7)
        for c, st in enumerate(stages, start=1):
            m = res.maps.get((model, img, method, st.name, 0))
            if m is not None:
                axes[r, c].imshow(normalize_abs(m), cmap="gray", vmin=0, vmax=1)
            if r == 0:
                axes[r, c].set_title(st.name.replace("cascade-", "→").replace(
                    "original-", ""), fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{method} on {model}: original, another seed, cascading randomization "
                 "(|map|, normalised)", fontsize=9)
    return fig


def _curve_figure(res: SanityResults, model: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in res.stages[model] if s.kind == "cascading"]
    names = ["original (reseeded)"] + [s.name.replace("cascade-", "") for s in stages]
    metrics = list(SIMILARITIES)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    methods = sorted({k[1] for k in res.references if k[0] == model})
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, method in enumerate(methods):
            color = f"C{i}"
            rep = [r["value"] for r in res.rows if r["check"] == "reproducibility"
                   and r["model"] == model and r["method"] == method and r["metric"] == metric]
            ys = [float(np.median(rep)) if rep else np.nan]
            for s in stages:
                vals = [r["value"] for r in res.rows if r["check"] == "cascading"
                        and r["model"] == model and r["method"] == method
                        and r["stage"] == s.name
                        and r["metric"] == metric]
                ys.append(float(np.median(vals)) if vals else np.nan)
            ax.plot(range(len(ys)), ys, "o-", color=color, label=method, ms=3)
            t = res.thresholds.get((model, method, metric))
            if t is not None and np.isfinite(t):
                ax.axhline(t, color=color, ls=":", lw=0.8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, fontsize=7)
        ax.set_title(metric, fontsize=9)
        ax.set_ylim(-0.5, 1.05)
    axes[0, 0].set_ylabel("similarity to original (median over images)")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(f"{model}: similarity vs cascading depth (first point: the original model "
                 "under another seed, which must lie above the dotted threshold; the "
                 "randomized stages must fall below it)", fontsize=9)
    fig.tight_layout()
    return fig


def add_to_report(report, res: SanityResults) -> None:
    """Tables, sections and figures of the sanity suites in ``report``."""
    th = res.profile.thresholds
    report.add_table("sanity", res.rows + res.smprt_rows + res.emprt_rows, columns=[
        "check", "model", "image", "method", "stage", "depth", "metric", "value", "threshold",
        "verdict", "higher_is_better", "role"])
    summary = summary_rows(res)
    report.add_table("sanity_summary", summary)
    report.add_table("sanity_thresholds", threshold_rows(res))
    decisive = [r for r in summary if (r["check"] in ("label", "reproducibility", "smprt",
                                                      "emprt")
                                       or r["stage"] == [s.name for s in res.stages[r["model"]]
                                                         if s.kind == "cascading"][-1])]
    report.add_table("sanity_decisive", decisive)
    reported = {f"{p.spec}/{m}": why for p in res.profile.models
                for m, why in p.informative_reported.items()}
    text = (
        "Similarity between each method's explanation under the original model and under "
        "randomized models (lower is better). Each image's similarity is paired with its own "
        f"*unrelated-map reference*: the {th.quantile:.2f}-quantile of the similarities of "
        "its original map to the other images' original maps, plus a margin "
        f"({', '.join(f'{k} {v}' for k, v in th.margin.items())}). A check passes when the "
        "drop below the references is significant over the images (one-sided paired "
        f"Wilcoxon, p < {ALPHA}; columns n_images, ci_low, ci_high, p_value; fewer than 5 "
        "images: not-significant) AND the method's original "
        "maps are informative: explained again with seed + "
        f"{res.profile.reseed_offset} (rows check=reproducibility, stage={RESEEDED}; higher "
        "is better), they must be more similar than that same threshold on "
        + ", ".join(th.informative) + ". Otherwise the verdict is \"uninformative\", never "
        "a pass: noise maps are unrelated to anything, randomized or not, so their low "
        "similarity proves nothing. Asserted: leg and leg-tv are informative on every image, "
        "and pass at full cascading randomization and under label randomization on the "
        "median over images of each decisive metric (" + ", ".join(th.decisive) + ")"
        + (f"; informativeness reported only (expected failure) for {reported}" if reported
           else "") + ". A case whose original or "
        "randomized map is constant (e.g. all zero because the randomized network's output "
        "no longer depends on the image) is marked \"degenerate\" and never passes. "
        "The edge control must fail the randomization check (it is perfectly reproducible: "
        "informativeness is necessary, not sufficient); gradient and random are reported "
        "only (random uses one seed for every image, so its reference is 1 and it would "
        "pass trivially; under a new seed it is a new map: uninformative). "
        f"Cache: {res.cache_stats}. Skipped methods: {res.skipped or 'none'}. "
        f"Errors: {len(res.errors)}.")
    report.add_section("Sanity checks: decisive stages (medians over images)", text, order=10,
                       tables=[("sanity_decisive", None)])
    report.add_section("Sanity thresholds (calibrated on unrelated maps)",
                       "One threshold per model, method and metric; a randomized map must fall "
                       "to it, the original map under another seed must stay above it "
                       "(reproducibility_median, where decides_informativeness).", order=11,
                       tables=[("sanity_thresholds", None)])
    if res.errors:
        err = [{"model": k[0], "image": k[1], "method": k[2], "stage": k[3], "error": v}
               for k, v in sorted(res.errors.items())]
        report.add_table("sanity_errors", err)
        report.add_section("Sanity: explanations that failed", "", order=12,
                           tables=[("sanity_errors", 40)], open=True)
    figs = []
    for plan in res.profile.models:
        model = plan.spec
        if model not in res.stages:
            continue
        name = f"sanity_curves_{model}"
        report.add_figure(name, _curve_figure(res, model), f"{model}: similarity vs depth")
        figs.append(name)
        for method in sorted({k[1] for k in res.references if k[0] == model}):
            name = f"sanity_grid_{model}_{method}"
            report.add_figure(name, _grid_figure(res, model, method),
                              f"{method} on {model}: cascading randomization")
            figs.append(name)
    report.add_section("Sanity figures", "Curves, then one cascading grid per method "
                       "(rows: images; columns: original, the original under another seed, "
                       "then cumulative randomization from "
                       "the output down; last column: label randomization where available).",
                       order=13, figures=figs)


def _maps_cost(profile: Profile, options_of, channels: int) -> tuple[int, int]:
    """``(model evaluations, gradients)`` of one map of every method of ``profile``, with
    ``options_of(method)`` (LEG-TV shares LEG's samples when both run)."""
    from leg.harness.methods import record

    shared = "leg" in profile.methods
    evals = grads = 0
    for method in profile.methods:
        if method == "leg-tv" and shared:
            continue  # LEG-TV is estimated from LEG's samples
        e, g = record(method, profile.user_methods).cost(options_of(method), channels)
        evals, grads = evals + e, grads + g
    return evals, grads


def price(profile: Profile, images_dir: str | None, models: dict) -> list:
    """The sanity suite's work: every map of every state, and sMPRT's noisy copies."""
    from leg.harness.engine.plan import Work, overhead

    out = []
    n_methods = len(profile.methods)
    for plan in profile.models:
        channels = model_input_shape(models[plan.spec])[2]
        n_img = len(image_ids(plan.spec, plan.n_images, images_dir))
        stages = model_stages(plan, profile.cascade_order)
        states = 2 + len(stages)  # original, its second seed, every randomized state
        reps = profile.repeats
        evals, grads = _maps_cost(profile, lambda m, o=plan.options: o.get(m, {}), channels)
        out.append(Work("sanity", plan.spec,
                        f"maps ({states} states x {n_img} images x {n_methods} methods)",
                        states * n_img * n_methods * reps,
                        states * n_img * evals * reps + len(stages) * n_img,
                        states * n_img * grads * reps,
                        states * n_img * reps * overhead(profile.methods)))
        noisy = plan.smprt_copies - 1  # sMPRT: noisy copies, original and full randomization
        if noisy > 0:
            evals, grads = _maps_cost(profile, lambda m, p=plan: smprt_options(
                m, p.options.get(m, {}), p.smprt_copies), channels)
            out.append(Work("sanity", plan.spec,
                            f"sMPRT maps (2 states x {n_img} images x {noisy} noisy copies x "
                            f"{n_methods} methods)", 2 * n_img * noisy * n_methods,
                            2 * n_img * noisy * evals, 2 * n_img * noisy * grads,
                            2 * n_img * noisy * overhead(profile.methods)))
    return out


_ADEBAYO = "Adebayo et al., NeurIPS 2018, \"Sanity Checks for Saliency Maps\""
_HEDSTROM = "Hedström et al., TMLR 2024, \"Sanity Checks Revisited\""


class SanitySuite(Suite):
    """The randomization checks (see the module docstring)."""

    name = "sanity"
    title = "Sanity checks"
    order = 10
    description = "sanity-check suites (model and label randomization)"
    result_type = SanityResults
    checks = (
        Check("cascading", "cascading",
              "full cascading randomization: the similarity of each image's original and "
              "randomized maps must fall below that image's unrelated-map reference, "
              "significantly over images (paired Wilcoxon, p < 0.05), on every decisive "
              "metric (shown: the metric closest to or furthest over it)", _ADEBAYO,
              "randomization", "a map unrelated to anything (noise) falls to the unrelated "
              "level trivially: it must also be informative (reproducible under another "
              "seed), or the verdict is uninformative"),
        Check("cascading-bottom-up", "bottom-up",
              "cascading randomization from the input up (Binder et al., 2023), judged like "
              "cascading at the last stage before full randomization (every group but the "
              "output end randomized: the forward signal is gone; reported)",
              "Binder et al., CVPR 2023", "randomization"),
        Check("independent", "independent",
              "each group randomized alone, judged like cascading (shown: the worst group)",
              _ADEBAYO, "randomization"),
        Check("label", "label",
              "label randomization (the twin trained on permuted labels), judged like "
              "cascading", _ADEBAYO, "randomization"),
        Check("informativeness", "informative",
              "the original maps under two seeds agree more than unrelated maps (shown: the "
              "smallest similarity over images)", "", "randomization"),
        Check("emprt", "eMPRT",
              "efficient MPRT (Hedström et al., 2024): the complexity (entropy of |map|) must "
              "rise after full randomization by more than between two seeds of the original "
              "model, significantly over images (paired; reported)", _HEDSTROM,
              "randomization"),
        Check("smprt", "sMPRT",
              "smooth MPRT (Hedström et al., 2024): each map averaged over noisy copies of "
              "the image, then judged like cascading (reported)", _HEDSTROM,
              "randomization"),
    )
    table = "sanity"
    fingerprinted = True
    tests = "test_sanity"

    def unplanned(self, profile) -> str | None:
        for plan in profile.models:
            why = _not_randomizable(plan.spec)
            if why:
                return why
        return None

    def models(self, profile) -> list[str]:
        return [p.spec for p in profile.models]

    def price(self, profile, images_dir, models) -> list:
        return price(profile, images_dir, models)

    def run(self, pipeline: Pipeline) -> SanityResults:
        _explain(pipeline)
        res = pipeline.result
        t0 = time.perf_counter()
        _score(res)
        _score_emprt(res)
        _score_smprt(res)
        res.timings["metrics"] = time.perf_counter() - t0
        return res

    def verdicts(self, result) -> list[Verdict]:
        return matrix_verdicts(result)

    def metric_rows(self, result) -> list[dict]:
        return result.rows

    def planned_cells(self, profile, images_dir=None) -> list[Cell]:
        return [Cell(*c) for c in planned_cells(profile)]

    def report(self, report, result) -> None:
        add_to_report(report, result)

    def info(self, result) -> dict:
        return {**result.info(), "models": result.model_info}


SUITE = SanitySuite()
