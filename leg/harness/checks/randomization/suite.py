"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018): plan, compute, judge.

Checks
    *Cascading randomization*: groups of layers re-initialised cumulatively from the output
    down (:mod:`.layers`, :mod:`.layers_torch`); *independent randomization*: one group at a
    time; *label randomization*: the model trained on permuted labels (the digits CNN's
    twin) against the true-label one; *bottom-up cascading* (``Profile.cascade_order``
    ``"bottom-up"`` or ``"both"``, Binder et al., CVPR 2023; reported); *sMPRT* (check
    ``smprt``): each map averaged over ``ModelPlan.smprt_copies`` copies of the image (the
    last one noiseless), LEG and LEG-TV spreading their samples over the copies; *eMPRT*
    (check ``emprt``): the rise in the map's complexity after full randomization
    (:mod:`.mprt`). Every state explains the same images for the same class (the original
    model's top-1) with the same seeds (common random numbers: a stochastic method's maps
    differ only because the model does).

Similarities (:mod:`.similarity`): Spearman of absolute and of signed maps, SSIM, HOG
Pearson, between the original and the randomized map of one image.

The rule (:mod:`.rule`, numbers in :class:`leg.harness.profiles.Thresholds`)
    Per image and metric a map's *position* is ``(similarity - unrelated) / (reproducibility
    - unrelated)``: 1 as similar as the original map under another seed, 0 as unrelated as
    another image's map (the unrelated level: the median similarity to the other images'
    original maps). Cascading randomization passes when, over images (one-sided paired
    Wilcoxon, p < 0.05; fewer than 5 images: undecided), the maps *moved* at the first stage
    (the top layer randomized) and *reached* the unrelated level at full randomization, on
    every decisive metric; label and independent randomization when the maps moved; sMPRT
    when the smoothed maps reached it. A method that stays near its original map while the
    top layers are randomized (Guided Backprop) fails. The rows of ``sanity.csv`` carry
    each image's similarity, unrelated level, reproducibility, position and whether it
    passes its stage's test; the verdicts carry ``n_images``, the CI of the deciding test
    and the largest p-value of the check's tests.

Informativeness
    A method whose maps are mostly estimation noise would pass trivially: its maps are
    unrelated to anything, randomized or not. So the original model explains every image
    again with seed ``seed + repeat + reseed_offset``; an image's original maps are
    *informative* when the two agree more than unrelated maps ever do (the ``quantile`` of
    the similarities between different images' maps plus the margin) on every metric of
    ``Thresholds.informative`` (Spearman |map|: the ranking of important cells; SSIM: the
    spatial structure; not the signed Spearman, whose near-zero cells' signs are noise, nor
    HOG, dominated by LEG's cell grid). A check that would pass on maps that are not
    informative reads "uninformative", never a pass. Informativeness is necessary, not
    sufficient: the edge control is perfectly reproducible, and the randomization check
    catches it.

Degenerate maps
    A constant map (all-zero included; :func:`is_degenerate`) carries no ranking: a check
    with one reads "degenerate" and never passes. It happens when a randomized network's
    output no longer depends on its input (see the batch-norm re-estimation in
    :mod:`.layers`).

What is asserted
    For the methods under test (a method's record: role ``asserted``: LEG, LEG-TV, the
    user's) cascading and label randomization and informativeness; "fail", "degenerate" and
    "uninformative" fail the test, "undecided" skips it saying how many images are needed
    (a failure under ``--leg-strict``). The model-independent controls (role ``control``:
    the edge map) must fail cascading and label randomization, sMPRT and eMPRT. The other
    methods (the gradient, Grad-CAM, Guided Backprop, Guided Grad-CAM) are reported; the
    literature validation (``benchmarks/literature.py``) checks their verdicts against the
    papers.
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
from leg.harness.checks.randomization.rule import (
    ALPHA,
    Judgement,
    combine,
    moved,
    position,
    reached,
)
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
    "matrix_verdicts",
    "plan_cases",
    "smprt_options",
    "run_sanity",
    "threshold",
]

ORIGINAL = Stage("original", "original")
#: The original model explained again with another seed (informativeness check).
RESEEDED = "original-reseeded"
ALL_IMAGES = "all-images"  # the image of a case judged over images (paired statistics)
#: Order of badness of a check's verdicts (the first decides).
ORDER = ("degenerate", "fail", "undecided", "uninformative", "pass")

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


def undecided_reason(n_images: int) -> str:
    """Why a check over ``n_images`` images is undecided, in one line."""
    from leg.harness.engine.plan import plural

    need = min_images_for(ALPHA)
    return (f"undecided: {plural(n_images, 'image')}, at least {need} are needed for p < {ALPHA} "
            "(--leg-n-images)")


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
    """One parametrized test: the verdict of ``method`` on ``check`` for ``model``."""

    model: str
    method: str
    check: str

    @property
    def id(self) -> str:
        return f"{self.model}-{self.method}-{self.check}"


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
    """The asserted checks of ``profile`` (models not loaded for the zoo): per model and
    asserted method (:attr:`leg.harness.methods.record.Method.role`), cascading
    randomization, label randomization where the model has a twin, and informativeness."""
    cases = []
    for plan in profile.models:
        checks = ["cascading", *(["label"] if plan.label_twin else []), "informativeness"]
        cases += [SanityCase(plan.spec, method, check) for method in profile.methods
                  if profile.role(method) == "asserted" for check in checks]
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
    #: The verdicts, once judged (:func:`matrix_verdicts`).
    matrix: list | None = field(default=None, repr=False)

    def verdict_list(self) -> list[Verdict]:
        """Every verdict of the matrix (:func:`matrix_verdicts`, judged once)."""
        return matrix_verdicts(self)

    def verdict(self, model: str, method: str, check: str) -> Verdict | None:
        """The matrix verdict of ``method`` on ``check`` for ``model`` (``None``: none)."""
        for v in matrix_verdicts(self):
            if (v.model, v.method, v.check) == (model, method, check):
                return v
        return None


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
    if n == "auto":  # a fixed share of the first round on each copy
        n = int(options.get("round_samples", 500))
        options = {k: v for k, v in options.items()
                   if k not in ("target_reliability", "max_samples", "round_samples")}
    if isinstance(n, int) and not isinstance(n, bool):
        return {**options, "n_samples": max(2, n // copies // 2 * 2)}
    return options


def _stage_tests(res: SanityResults, model: str) -> dict[str, str]:
    """Per stage of ``model``, the test its rows make (:mod:`.rule`): ``"moved"`` at the
    first stage of a cascade, each independent stage and the label twin; ``"reached"`` at
    full randomization (a cascade of one stage: ``"both"``); intermediate stages none."""
    stages = res.stages.get(model, [])
    out = {}
    for kind in ("cascading", "bottom-up"):
        names = [s.name for s in stages if s.kind == kind]
        if names:
            out[names[0]] = "moved"
            out[names[-1]] = "both" if len(names) == 1 else "reached"
    out.update({s.name: "moved" for s in stages if s.kind in ("independent", "label")})
    return out


def _row_verdict(test: str | None, pos: float, th) -> str:
    """One image's verdict at a stage: whether its own position passes the stage's test."""
    if test is None:
        return ""
    if not np.isfinite(pos):
        return "undefined"
    moved_ok, reached_ok = 1.0 - pos >= th.moved, pos < th.reached
    ok = {"moved": moved_ok, "reached": reached_ok, "both": moved_ok and reached_ok}[test]
    return "pass" if ok else "fail"


def _similarity(res: SanityResults, model: str, method: str, sim, a: tuple, b: tuple
                ) -> float:
    """``sim`` of the maps of ``a = (image, state)`` and ``b``, averaged over repeats."""
    return float(np.mean([sim(res.maps[(model, a[0], method, a[1], r)],
                              res.maps[(model, b[0], method, b[1], r)])
                          for r in range(res.profile.repeats)]))


def _flat(res: SanityResults, model: str, method: str, image: str, states) -> bool:
    """Whether a map of ``image`` in any of ``states`` (any repeat) is constant."""
    return any(is_degenerate(res.maps[(model, image, method, st, r)])
               for st in states for r in range(res.profile.repeats))


def _score(res: SanityResults) -> None:
    """Per model, method, similarity metric and image: the reproducibility of the original
    maps (two seeds), the unrelated level (the median similarity to the other images'
    original maps), and at every randomized stage the similarity to the original and its
    position between the two (:func:`.rule.position`)."""
    prof = res.profile
    th = prof.thresholds
    methods = sorted({k[2] for k in res.maps})
    for plan in prof.models:
        model = plan.spec
        img_ids = [i for (m, i) in res.images if m == model]
        needed = [s.name for s in res.stages[model]] + [RESEEDED]
        tests = _stage_tests(res, model)
        for method, (name, sim) in itertools.product(methods, SIMILARITIES.items()):
            if not all((model, i, method, s, r) in res.maps for i in img_ids
                       for s in needed for r in range(prof.repeats)):
                continue  # an explanation failed: reported through res.errors
            def similarity(a, sa, b, sb, key=(model, method, sim)):
                return _similarity(res, *key, (a, sa), (b, sb))

            def flat(img, *states, key=(model, method)):
                return _flat(res, *key, img, states)

            role = prof.role(method)
            pairs = {(a, b): similarity(a, "original", b, "original")
                     for a, b in itertools.combinations(img_ids, 2)}
            for (a, b), v in pairs.items():
                res.rows.append(_row("reference", model, f"{a}~{b}", method,
                                     "original~original", 0, name, v, None, None, role=role))
            ref = list(pairs.values())
            res.references[(model, method, name)] = ref
            t = threshold(ref, th.quantile, th.margin.get(name, 0.0))
            res.thresholds[(model, method, name)] = t
            level, repro = {}, {}
            for img in img_ids:  # informativeness: the original model under two seeds
                others = [v for (a, b), v in pairs.items() if img in (a, b)]
                level[img] = _median(others) if others else float("nan")
                repro[img] = similarity(img, "original", img, RESEEDED)
                res.rows.append(_row(
                    "reproducibility", model, img, method, RESEEDED, 0, name, repro[img], t,
                    "degenerate" if flat(img, "original", RESEEDED) else "informative"
                    if repro[img] > t else "uninformative", role=role,
                    higher_is_better=True, unrelated=level[img], reproducibility=repro[img]))
            for stage in res.stages[model][1:]:
                test = tests.get(stage.name)
                for img in img_ids:
                    v = similarity(img, "original", img, stage.name)
                    pos = position(v, level[img], repro[img])
                    res.rows.append(_row(
                        stage.kind, model, img, method, stage.name, stage.depth, name, v,
                        None, "degenerate" if flat(img, "original", stage.name)
                        else _row_verdict(test, pos, th), role=role, unrelated=level[img],
                        reproducibility=repro[img], position=pos, test=test))
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
            comp = None
            if flat:
                v = "degenerate"
            else:
                comp = compare_paired(rand.rise, refs, higher_is_better=True, rule="require",
                                      alpha=ALPHA, seed=res.profile.seed)
                v = ("undecided" if comp.n_images < min_images_for(ALPHA)
                     else "pass" if comp.verdict == "pass" else "fail")
            res.emprt[(model, method)] = (v, float(np.median(rand.rise)),
                                          float(np.median(refs)), comp)
            for img, rise, deg, thr in zip(img_ids, rand.rise, rand.degenerate, refs,
                                           strict=True):
                res.emprt_rows.append(_row(
                    "emprt", model, img, method, stage, 0, "complexity_rise", rise, thr,
                    "degenerate" if deg else "pass" if rise > thr else "fail",
                    role=res.profile.role(method), higher_is_better=True))


def _score_smprt(res: SanityResults) -> None:
    """sMPRT (Hedström et al., TMLR 2024; :mod:`.mprt`): per image, the mean of the maps of
    its noisy copies and of its ordinary map, under the original and the fully randomized
    model; per metric, their similarity (rows ``check="smprt"``) and its position between
    the image's smoothed unrelated level (the median similarity of its smoothed original
    map to the other images') and the ordinary maps' reproducibility: judged like full
    cascading randomization (the smoothed maps must have *reached* the unrelated level)."""
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
                repro = {r["image"]: r["value"] for r in res.rows
                         if (r["check"], r["model"], r["method"], r["metric"])
                         == ("reproducibility", model, method, name)}
                for i in img_ids:
                    level = _median([float(sim(orig[i], orig[j])) for j in img_ids if j != i])
                    rand = res.smoothed[(model, i, method, full.name)]
                    v = float(sim(orig[i], rand))
                    pos = position(v, level, repro.get(i, float("nan")))
                    verdict_ = ("degenerate" if is_degenerate(orig[i]) or is_degenerate(rand)
                                else _row_verdict("reached", pos, th))
                    if verdict_ == "pass" and not res.informative.get((model, method, i)):
                        verdict_ = "uninformative"
                    res.smprt_rows.append(_row(
                        "smprt", model, i, method, full.name, full.depth, name, v, None,
                        verdict_, role=role, unrelated=level, reproducibility=repro.get(i),
                        position=pos, test="reached"))


def _gate_on_informativeness(res: SanityResults) -> None:
    """Per (model, method, image): informative iff the reproducibility row of every
    ``Thresholds.informative`` metric says so; an image's row that would pass at a
    randomized stage reads "uninformative" when its original maps are not informative."""
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


#: The columns of ``sanity.csv``.
COLUMNS = ["check", "model", "image", "method", "stage", "depth", "metric", "value",
           "unrelated", "reproducibility", "position", "test", "threshold", "verdict",
           "higher_is_better", "role"]


def _row(check, model, image, method, stage, depth, metric, value, thr, verdict_, *,
         role: str, higher_is_better: bool | None = None, unrelated=None,
         reproducibility=None, position=None, test=None) -> dict:
    if higher_is_better is None:
        higher_is_better = metric_of(metric).higher_is_better

    def num(v):
        return None if v is None else float(v)

    return {"check": check, "model": model, "image": image, "method": method, "stage": stage,
            "depth": depth, "metric": metric, "value": float(value), "unrelated": num(unrelated),
            "reproducibility": num(reproducibility), "position": num(position),
            "test": test or "", "threshold": num(thr), "verdict": verdict_ or "",
            "higher_is_better": higher_is_better, "role": role}


# ---------------------------------------------------------------------------- verdicts
def _positions(res: SanityResults, model: str, method: str, stage: str, metric: str,
               check: str | None = None) -> tuple[list[float], bool]:
    """``(positions over images, any degenerate)`` of ``method`` at ``stage``."""
    rows = [r for r in (res.smprt_rows if check == "smprt" else res.rows)
            if (r["model"], r["method"], r["stage"], r["metric"]) == (model, method, stage,
                                                                       metric)
            and r["check"] not in ("reference", "reproducibility")]
    return ([np.nan if r["position"] is None else r["position"] for r in rows],
            any(r["verdict"] == "degenerate" for r in rows))


def judge(res: SanityResults, model: str, method: str, check: str
          ) -> tuple[str, Judgement | None, str, int]:
    """``(verdict, deciding test, where, images)`` of a randomization check over images
    (:mod:`.rule`): a cascade (top-down or bottom-up) must have *moved* at its first stage
    and *reached* the unrelated level at full randomization; label and independent
    randomization must have moved (every independent group); sMPRT's smoothed maps must
    have reached it. Every decisive metric counts; a pass needs informative original maps
    on every image."""
    th = res.profile.thresholds
    stages = res.stages.get(model, [])
    if check == "smprt":
        tests = {next(s.name for s in reversed(stages) if s.kind == "cascading"): "reached"}
    else:
        names = [s.name for s in stages if s.kind == _CHECK_KINDS[check]]
        tests = {n: t for n, t in _stage_tests(res, model).items() if n in names}
    judgements, wheres, degenerate, n_images = [], [], False, 0
    for metric in th.decisive:
        for stage, test in tests.items():
            pos, flat = _positions(res, model, method, stage, metric, check)
            degenerate |= flat
            n_images = max(n_images, len(pos))
            parts = []
            if test in ("moved", "both"):
                parts.append(moved(pos, th.moved, seed=res.profile.seed))
            if test in ("reached", "both"):
                parts.append(reached(pos, th.reached, seed=res.profile.seed))
            judgements += parts
            wheres += [f"{metric} at {stage}"] * len(parts)
    if degenerate:
        return "degenerate", None, "a compared map is constant", n_images
    if not judgements:
        return "not-run", None, "no stage of this check was run", n_images
    verdict_, worst = combine(judgements)
    where = wheres[judgements.index(worst)]
    informative = all(res.informative.get((model, method, img), False)
                      for (m, img) in res.images if m == model)
    if verdict_ == "pass" and not informative:
        verdict_ = "uninformative"
    return verdict_, worst, where, n_images


def _median_position(res, model, method, where: str, check: str) -> float | None:
    metric, _, stage = where.partition(" at ")
    pos, _ = _positions(res, model, method, stage, metric, check)
    finite = [p for p in pos if np.isfinite(p)]
    return _median(finite) if finite else None


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


def _rule_detail(check: str, verdict_: str, worst: Judgement | None, where: str,
                 n_images: int) -> str:
    """The line shown with a randomization verdict: the rule, and the test that decided."""
    rule = {"cascading": "moved at the first stage and reached the unrelated level at full "
                         "randomization",
            "cascading-bottom-up": "moved at the first bottom-up stage and reached the "
                                   "unrelated level at full randomization",
            "label": "the label-permuted twin's maps moved from the original's",
            "independent": "each group randomized alone moved the maps",
            "smprt": "the smoothed maps reached the unrelated level at full "
                     "randomization"}[check]
    if verdict_ == "uninformative" and (worst is None or worst.comparison is None):
        return (f"{rule}: undefined at {where}: the original maps of unrelated images are as "
                "alike as two seeds' maps of one image, so there is nothing to move from")
    if worst is None or worst.comparison is None:
        return f"{rule}: {where}"
    c = worst.comparison
    text = (f"{rule}; deciding: {where}, {worst.what}: median {c.method_median:.3f}, "
            f"p = {c.p_value:.2g}, n = {c.n_images}")
    if verdict_ == "undecided":
        text += f" ({undecided_reason(n_images)})"
    return text


def matrix_verdicts(res: SanityResults) -> list[Verdict]:
    """One verdict per model, method and sanity check (cascading, bottom-up cascading,
    independent, label, informativeness, eMPRT, sMPRT), judged over images by
    :func:`judge` (the rule of :mod:`.rule`), with the deciding test's statistics: the
    number shown is the median of what it tested (how far the maps moved, or where they
    stand), the threshold its bound, the p-value the largest of the check's tests."""
    if res.matrix is not None:
        return res.matrix
    th = res.profile.thresholds
    out = []
    for plan in res.profile.models:
        model = plan.spec
        stages = res.stages.get(model, [])
        checks = [c for c, kind in _CHECK_KINDS.items()
                  if any(s.kind == kind for s in stages)] + ["informativeness"]
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
                v, worst, where, n = judge(res, model, method, check)
                if v == "uninformative" and decisive and reported:
                    v = "expected-failure"
                comp = worst.comparison if worst else None
                bound = None
                if worst is not None and worst.what.startswith("moved"):
                    bound = th.moved
                elif worst is not None:
                    bound = th.reached
                value = comp.method_median if comp else None
                stats = _stats(comp, n or n_img)
                if comp is not None:  # the check's p: the largest of its tests'
                    stats["p_value"] = worst.p_value
                higher = bool(worst and worst.what.startswith("moved"))
                out.append(Verdict(model, method, check, v, value, bound, higher, decisive,
                                   _rule_detail(check, v, worst, where, n or n_img),
                                   **stats))
            if (model, method) in res.emprt:
                v, med, thr, comp = res.emprt[(model, method)]
                out.append(Verdict(model, method, "emprt", v, med, thr, True, False,
                                   "complexity rise after full randomization (reference: two "
                                   f"seeds' |rise| + margin): median {med:.3f} vs {thr:.3f}"
                                   + (f", p = {comp.p_value:.2g}, n = {comp.n_images}"
                                      if comp else ""), **_stats(comp, n_img)))
    res.matrix = out
    return out


def summary_rows(res: SanityResults) -> list[dict]:
    """One row per (model, method, check, stage, metric) over images: the medians of the
    similarity and of the position, and where the stage tests something (:mod:`.rule`),
    that test's verdict and statistics."""
    th = res.profile.thresholds
    groups: dict = {}
    for r in res.rows + res.smprt_rows:
        if r["check"] in ("reference", "reproducibility"):
            continue
        key = (r["model"], r["method"], r["check"], r["stage"], r["depth"], r["metric"])
        groups.setdefault(key, []).append(r)
    out = []
    for (model, method, check, stage, depth, metric), rows in groups.items():
        pos = [np.nan if r["position"] is None else r["position"] for r in rows]
        test = rows[0]["test"]
        judged: list[Judgement] = []
        if test in ("moved", "both"):
            judged.append(moved(pos, th.moved, seed=res.profile.seed))
        if test in ("reached", "both"):
            judged.append(reached(pos, th.reached, seed=res.profile.seed))
        verdict_, worst = combine(judged) if judged else ("", None)
        if any(r["verdict"] == "degenerate" for r in rows):
            verdict_ = "degenerate"
        finite = [x for x in pos if np.isfinite(x)]
        out.append({"model": model, "method": method, "role": res.profile.role(method),
                    "check": check, "stage": stage, "depth": depth, "metric": metric,
                    "median": _median([r["value"] for r in rows]),
                    "position_median": _median(finite) if finite else None,
                    "test": test, "verdict": verdict_, "n_images": len(rows),
                    "p_value": worst.p_value if worst and worst.comparison else None})
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

    th = res.profile.thresholds
    stages = [s for s in res.stages[model] if s.kind == "cascading"]
    names = ["original (reseeded)"] + [s.name.replace("cascade-", "") for s in stages]
    metrics = list(SIMILARITIES)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    methods = sorted({k[1] for k in res.references if k[0] == model})
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, method in enumerate(methods):
            ys = [1.0]  # the original under another seed: position 1 by definition
            for s in stages:
                pos = [r["position"] for r in res.rows if r["check"] == "cascading"
                       and (r["model"], r["method"], r["stage"], r["metric"])
                       == (model, method, s.name, metric) and r["position"] is not None]
                finite = [x for x in pos if np.isfinite(x)]
                ys.append(_median(finite) if finite else np.nan)
            ax.plot(range(len(ys)), ys, "o-", color=f"C{i % 10}", label=method, ms=3)
        ax.axhline(1.0 - th.moved, color="0.4", ls=":", lw=0.8)
        ax.axhspan(-0.6, th.reached, color="0.9", zorder=0)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, fontsize=7)
        ax.set_title(f"{metric}{' (decisive)' if metric in th.decisive else ''}", fontsize=9)
        ax.set_ylim(-0.6, 1.15)
    axes[0, 0].set_ylabel("position: 1 = the original, 0 = unrelated")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(f"{model}: where the maps stand as the network is randomized from the top "
                 f"(median over images). To pass, a method's maps fall below the dotted line "
                 f"({1 - th.moved:g}) at the first stage and end in the grey band "
                 f"(position < {th.reached:g})", fontsize=9)
    fig.tight_layout()
    return fig


def add_to_report(report, res: SanityResults) -> None:
    """Tables, sections and figures of the sanity suites in ``report``."""
    th = res.profile.thresholds
    report.add_table("sanity", res.rows + res.smprt_rows + res.emprt_rows, columns=COLUMNS)
    summary = summary_rows(res)
    report.add_table("sanity_summary", summary)
    report.add_table("sanity_thresholds", threshold_rows(res))
    decisive = [r for r in summary if r["test"]]
    report.add_table("sanity_decisive", decisive)
    reported = {f"{p.spec}/{m}": why for p in res.profile.models
                for m, why in p.informative_reported.items()}
    text = (
        "Where each method's maps stand after randomization, per image and similarity "
        "metric: position = (similarity to the original - unrelated level) / "
        "(reproducibility - unrelated level): 1 is as similar as the original map under "
        "another seed, 0 as unrelated as another image's map (the unrelated level: the median "
        "similarity of the image's original map to the other images'; columns unrelated, "
        "reproducibility, position of sanity.csv). The rule (Adebayo et al., 2018: the map "
        "must change as soon as the top layers are randomized): cascading randomization "
        f"passes when the maps *moved* at least {th.moved:g} of the way at the first stage "
        f"and *reached* the unrelated level (position < {th.reached:g}: no closer to the "
        "original than another image's map) at full randomization, each shown over the "
        "images (one-sided paired "
        f"Wilcoxon, p < {ALPHA}; fewer than 5 images: undecided), on every decisive metric ("
        + ", ".join(th.decisive) + "); label and independent randomization when the maps "
        "moved; sMPRT when the smoothed maps reached the unrelated level. The p-value of a "
        "check is the largest of its tests'. A pass also needs informative original maps: "
        f"explained again with seed + {res.profile.reseed_offset}, they must agree more "
        f"than unrelated maps ever do (the {th.quantile:.2f}-quantile plus a margin) on "
        + ", ".join(th.informative) + "; otherwise \"uninformative\", never a pass. "
        "Asserted: the methods under test (leg, leg-tv, yours) on cascading and label "
        "randomization and informativeness"
        + (f"; informativeness reported only (expected failure) for {reported}" if reported
           else "") + ". A constant map (the randomized network's output no longer depends "
        "on the image) is \"degenerate\", never a pass. The edge control must fail (it is "
        "perfectly reproducible and does not move). "
        f"Cache: {res.cache_stats}. Skipped methods: {res.skipped or 'none'}. "
        f"Errors: {len(res.errors)}.")
    report.add_section("Sanity checks: the decisive stages (medians over images)", text,
                       order=10, tables=[("sanity_decisive", None)])
    report.add_section("Sanity: informativeness thresholds (calibrated on unrelated maps)",
                       "One threshold per model, method and metric; the original map under "
                       "another seed must stay above it (reproducibility_median, where "
                       "decides_informativeness).", order=11,
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
        report.add_figure(name, _curve_figure(res, model), f"{model}: position vs depth")
        figs.append(name)
        for method in sorted({k[1] for k in res.references if k[0] == model}):
            name = f"sanity_grid_{model}_{method}"
            report.add_figure(name, _grid_figure(res, model, method),
                              f"{method} on {model}: cascading randomization")
            figs.append(name)
    report.add_section("Sanity figures", "Positions against depth, then one cascading grid "
                       "per method (rows: images; columns: original, the original under "
                       "another seed, then cumulative randomization from the output down; "
                       "last column: label randomization where available).",
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
    from leg.harness.engine.plan import Work, overhead, plural

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
                        f"maps ({plural(states, 'state')} x {plural(n_img, 'image')} x "
                        f"{plural(n_methods, 'method')})",
                        states * n_img * n_methods * reps,
                        states * n_img * evals * reps + len(stages) * n_img,
                        states * n_img * grads * reps,
                        states * n_img * reps * overhead(profile.methods)))
        noisy = plan.smprt_copies - 1  # sMPRT: noisy copies, original and full randomization
        if noisy > 0:
            evals, grads = _maps_cost(profile, lambda m, p=plan: smprt_options(
                m, p.options.get(m, {}), p.smprt_copies), channels)
            out.append(Work("sanity", plan.spec,
                            f"sMPRT maps (2 states x {plural(n_img, 'image')} x "
                            f"{plural(noisy, 'noisy copy', 'noisy copies')} x "
                            f"{plural(n_methods, 'method')})", 2 * n_img * noisy * n_methods,
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
              "cascading randomization from the top: each image's maps stand at a position "
              "between its original (1: as similar as two seeds' maps) and unrelated maps "
              "(0: as similar as another image's map); the maps must move at least half-way "
              "(position <= 0.5) once the top layer is randomized and reach the unrelated "
              "level (position < 0.25) once every layer is, each one-sided Wilcoxon over "
              "the images, p < 0.05, both required (shown: the deciding test's median)",
              _ADEBAYO, "randomization", "a map unrelated to anything (noise) sits at the "
              "unrelated level trivially: its position is undefined and the verdict "
              "uninformative; an edge map never moves and fails"),
        Check("cascading-bottom-up", "bottom-up",
              "cascading randomization from the input up (Binder et al., 2023), judged like "
              "cascading at the last stage before full randomization (every group but the "
              "output end randomized: the forward signal is gone; reported)",
              "Binder et al., CVPR 2023", "randomization"),
        Check("independent", "independent",
              "each group randomized alone must move the maps at least half-way to the "
              "unrelated level, like cascading's first stage (shown: the worst group)",
              _ADEBAYO, "randomization"),
        Check("label", "label",
              "label randomization: the maps of the twin trained on permuted labels must "
              "stand at least half-way from the original's to unrelated maps, over the "
              "images", _ADEBAYO, "randomization"),
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
              "the image must reach the unrelated level at full randomization, like "
              "cascading's last stage (reported)", _HEDSTROM,
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

    def original_maps(self, result) -> dict:
        """The original model's maps (the profile's seed, the first repeat)."""
        return {(model, image, method): m for (model, image, method, stage, repeat), m
                in result.maps.items() if stage == "original" and repeat == 0}

    def seed_agreement(self, rows: list[dict]) -> dict:
        """The ``reproducibility`` rows' Spearman ``|map|``: the original model's maps under
        two seeds."""
        out = {}
        for r in rows:
            if r.get("check") == "reproducibility" and r.get("metric") == "spearman_abs":
                v = r.get("value")
                if v not in (None, ""):
                    out[(str(r["model"]), str(r["image"]), str(r["method"]))] = float(v)
        return out

    def planned_cells(self, profile, images_dir=None) -> list[Cell]:
        asserted = {(c.model, c.method, c.check) for c in plan_cases(profile)}
        return [Cell(*c, c in asserted) for c in planned_cells(profile)]

    def image_counts(self, profile, images_dir=None) -> dict[str, int]:
        return {p.spec: len(image_ids(p.spec, p.n_images, images_dir)) for p in profile.models}

    def report(self, report, result) -> None:
        add_to_report(report, result)

    def info(self, result) -> dict:
        return {**result.info(), "models": result.model_info}


SUITE = SanitySuite()
