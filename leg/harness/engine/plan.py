"""The plan of a run and what it will cost, before any work (``--leg-plan`` prints it and
stops; every run prints it, and writes it to ``run.json`` and the report).

The plan counts, per suite and model, the explanations and the model evaluations the
profile asks for (cached ones included: the estimate is for a cold cache), from the same
plans the suites run. The time comes from a probe of each model: a timed batch of forward
passes (and of gradients, where the model has ``.gradient``) on one of its images. What
cannot be known before the maps exist is estimated: a key-size scan stops at the first
batch of masks that flips the class, so it is counted as the first batch plus half of the
rest of the α grid.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Plan", "Probe", "Work", "make_plan", "probe_model"]

#: Gradients per map of the gradient methods (their defaults).
_GRADIENTS = {"gradient": 1, "grad-cam": 1, "integrated-gradients": 50, "smoothgrad": 50}
_ONE_EVALUATION = ("random", "random-cells", "edge", "true-map")  # resolving the target
#: Seconds of work per map besides the model (the regression, LEG-TV's linear program, the
#: similarities of the sanity suite), measured on this project's 2-core machine.
_OVERHEAD = {"leg": 0.05, "leg-tv": 0.3}
_OVERHEAD_OTHER = 0.02


@dataclass(frozen=True)
class Probe:
    """Seconds per model evaluation and per gradient (``None``: no ``.gradient``)."""

    seconds_per_evaluation: float
    seconds_per_gradient: float | None
    batch: int


@dataclass(frozen=True)
class Work:
    """``items`` units of one kind of work (``what``) of a suite on a model, costing
    ``evaluations`` model evaluations, ``gradients`` gradients and ``overhead`` seconds of
    other work in all."""

    suite: str
    model: str
    what: str
    items: int
    evaluations: int
    gradients: int = 0
    overhead: float = 0.0
    seconds: float | None = None


@dataclass
class Plan:
    """Every :class:`Work` of a run, the probes it was priced with, and notes."""

    profile: str
    work: list[Work] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return float(sum(w.seconds or 0.0 for w in self.work))

    def suite_seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for w in self.work:
            out[w.suite] = out.get(w.suite, 0.0) + (w.seconds or 0.0)
        return out

    def as_dict(self) -> dict:
        return {"profile": self.profile, "estimated_seconds": round(self.seconds, 1),
                "suites": {k: round(v, 1) for k, v in self.suite_seconds().items()},
                "work": [asdict(w) for w in self.work],
                "probes": {k: asdict(v) for k, v in self.probes.items()}, "notes": self.notes}

    def lines(self) -> list[str]:
        """The plan as text lines for the terminal (and ``summary.md``)."""
        out = [f"leg plan: profile {self.profile}, estimated {_duration(self.seconds)} on this "
               "machine (cold cache)"]
        for spec, p in self.probes.items():
            grad = ("" if p.seconds_per_gradient is None
                    else f", {p.seconds_per_gradient * 1000:.1f} ms per gradient")
            out.append(f"  {spec}: {p.seconds_per_evaluation * 1000:.2f} ms per model "
                       f"evaluation{grad} (probe of {p.batch} images)")
        width = max([len(w.what) for w in self.work] + [4])
        out.append(f"  {'suite':<13}{'model':<24}{'work':<{width + 2}}{'items':>7}"
                   f"{'evaluations':>13}{'gradients':>11}{'est.':>14}")
        for w in self.work:
            out.append(f"  {w.suite:<13}{w.model[:23]:<24}{w.what:<{width + 2}}{w.items:>7}"
                       f"{w.evaluations:>13,}{w.gradients:>11,}"
                       f"{_duration(w.seconds or 0.0):>14}")
        out += [f"  note: {n}" for n in self.notes]
        return out


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (
        f"{minutes} min {secs:02d} s" if minutes else f"{secs} s")


def probe_model(model, image: np.ndarray, *, batch: int = 16) -> Probe:
    """Time ``batch`` forward passes of ``model`` on copies of ``image`` (after one warm-up
    batch), and ``batch // 4`` gradients if it has ``.gradient``."""
    images = np.repeat(np.asarray(image, dtype=np.float32)[None], batch, axis=0)
    model(images)  # warm-up: graph building, kernels
    t0 = time.perf_counter()
    scores = np.asarray(model(images))
    per_eval = (time.perf_counter() - t0) / batch
    per_grad = None
    if callable(getattr(model, "gradient", None)):
        few = images[: max(1, batch // 4)]
        target = int(np.argmax(scores[0]))
        model.gradient(few, target)
        t0 = time.perf_counter()
        model.gradient(few, target)
        per_grad = (time.perf_counter() - t0) / len(few)
    return Probe(per_eval, per_grad, batch)


def _leg_evaluations(options: dict, channels: int) -> int:
    n = int(options.get("n_samples", 300))
    sets = channels if options.get("mode", "per_channel") == "per_channel" else 1
    return sets * n + 1


def _per_map(method: str, options: dict, channels: int, budget: int | None = None
             ) -> tuple[int, int]:
    """``(evaluations, gradients)`` of one map of ``method``."""
    if method in ("leg", "leg-tv"):
        if budget is not None:
            return int(budget), 0
        return _leg_evaluations(options, channels), 0
    if method in _GRADIENTS:
        return 1, _GRADIENTS[method]
    if method in _ONE_EVALUATION:
        return 1, 0
    return (int(budget) if budget is not None else 1), 0


def _price(work: Work, probe: Probe | None) -> Work:
    if probe is None:
        return work
    secs = work.overhead + work.evaluations * probe.seconds_per_evaluation + work.gradients * (
        probe.seconds_per_gradient or 3 * probe.seconds_per_evaluation)
    return Work(**{**asdict(work), "seconds": secs})


def _overhead(methods) -> float:
    return sum(_OVERHEAD.get(m, _OVERHEAD_OTHER) for m in methods)


def _sanity(profile, images_dir, models: dict) -> list[Work]:
    from leg.harness.checks.randomization.suite import image_ids, model_stages

    out = []
    for plan in profile.models:
        clf = models[plan.spec]
        channels = _channels(clf)
        n_img = len(image_ids(plan, images_dir))
        stages = model_stages(plan, profile.cascade_order)
        states = 2 + len(stages)  # original, its second seed, every randomized state
        evals = grads = maps = 0
        shared = "leg" in profile.methods and "leg-tv" in profile.methods
        for method in profile.methods:
            if method == "leg-tv" and shared:
                continue  # LEG-TV is estimated from LEG's samples
            e, g = _per_map(method, plan.options.get(method, {}), channels)
            evals, grads = evals + e, grads + g
            maps += 1
        reps = profile.repeats
        out.append(Work("sanity", plan.spec,
                        f"maps ({states} states x {n_img} images x {len(profile.methods)} "
                        "methods)", states * n_img * len(profile.methods) * reps,
                        states * n_img * evals * reps + len(stages) * n_img,
                        states * n_img * grads * reps,
                        states * n_img * reps * _overhead(profile.methods)))
        noisy = plan.smprt_copies - 1  # sMPRT: noisy copies, original and full randomization
        if noisy > 0:
            from leg.harness.checks.randomization.suite import smprt_options

            evals = grads = 0
            for method in profile.methods:
                if method == "leg-tv" and shared:
                    continue
                e, g = _per_map(method, smprt_options(method, plan.options.get(method, {}),
                                                       plan.smprt_copies), channels)
                evals, grads = evals + e, grads + g
            out.append(Work("sanity", plan.spec,
                            f"sMPRT maps (2 states x {n_img} images x {noisy} noisy copies x "
                            f"{len(profile.methods)} methods)",
                            2 * n_img * noisy * len(profile.methods), 2 * n_img * noisy * evals,
                            2 * n_img * noisy * grads,
                            2 * n_img * noisy * _overhead(profile.methods)))
    return out


def _channels(clf) -> int:
    from leg.harness.engine.inputs import model_input_shape

    return model_input_shape(clf)[2]


def _scan_cost(steps: int, units: int) -> int:
    """Expected model calls of one batched key-size scan: the distinct counts of a
    ``steps`` grid over ``units`` pixels or cells (at most ``min(steps, units)``), the first
    batch (:data:`~leg.harness.checks.faithfulness.suite.SCAN_BATCH`) and half of the rest (the
    scan stops at the class change)."""
    from leg.harness.checks.faithfulness.suite import SCAN_BATCH

    distinct = min(int(steps), int(units))
    first = min(distinct, SCAN_BATCH)
    return first + (distinct - first) // 2


@functools.lru_cache(maxsize=8)
def _imputation_seconds(shape: tuple[int, int, int], cell: int) -> float:
    """Seconds of one ROAD imputation of half the ``cell`` px cells of a ``shape`` image
    (timed once per size and cell: the sparse solve grows with the removed area, half is
    the middle)."""
    from leg.harness.checks.faithfulness.imputation import noisy_linear_imputation

    h, w, c = shape
    rng = np.random.default_rng(0)
    cells = rng.random((-(-h // cell), -(-w // cell))) < 0.5
    mask = np.kron(cells, np.ones((cell, cell), dtype=bool))[:h, :w]
    image = rng.random((h, w, c))
    noisy_linear_imputation(image, mask)  # warm-up: the elimination order is cached
    t0 = time.perf_counter()
    noisy_linear_imputation(image, mask)
    return time.perf_counter() - t0


def _perturbation(profile, images_dir, models: dict) -> list[Work]:
    from leg.harness.checks.faithfulness.suite import (
        IMPUTATION_THREADS,
        image_ids,
        input_shape,
        matched_cell,
        method_options,
    )

    out = []
    for plan in profile.perturbation:
        shape = input_shape(models[plan.spec])
        n_img = len(image_ids(plan, images_dir))
        evals = grads = 0
        methods = profile.perturbation_methods
        for method in methods:
            opts = method_options(plan, method, shape, profile.black_box)
            e, g = _per_map(method, opts, shape[2], opts.get("budget"))
            evals, grads = evals + e, grads + g
        out.append(Work("perturbation", plan.spec, f"maps ({n_img} images x {len(methods)} "
                        "methods)", n_img * len(methods), n_img * evals, n_img * grads,
                        n_img * _overhead(methods)))
        # matched granularity: every background, at most one call per cell and scan; pixel
        # granularity: the plan's pixel backgrounds only, on their grid. Curves: two per
        # background (deletion and insertion; ROAD: deletion and LeRF). Upper bounds:
        # identical masked images are evaluated once per image
        cell = matched_cell(plan, shape)
        cells = -(-shape[0] // cell) * -(-shape[1] // cell)
        pixel = plan.pixel_scored()
        curves = [(b, g) for b in plan.curve_backgrounds
                  for g in ("matched", "pixel") if g == "matched" or b in pixel]
        per_map = (len(plan.backgrounds) * _scan_cost(plan.alpha_steps, cells)
                   + len(pixel) * _scan_cost(plan.pixel_alpha_steps or plan.alpha_steps,
                                             shape[0] * shape[1])
                   + 2 * len(curves) * (plan.curve_steps + 1))
        # ROAD imputes each of its masked images (a sparse solve, priced by timing one; a
        # batch's imputations run on IMPUTATION_THREADS threads)
        road = ((_scan_cost(plan.alpha_steps, cells) if "road" in plan.backgrounds else 0)
                + (2 * (plan.curve_steps + 1) if "road" in plan.curve_backgrounds else 0))
        units = n_img * len(methods) * (len(plan.scored()) + len(pixel))
        out.append(Work("perturbation", plan.spec,
                        f"key-size scans ({len(plan.backgrounds)} backgrounds at {cell} px "
                        f"cells, {len(pixel)} at pixels) and curves", units,
                        n_img * len(methods) * per_map,
                        overhead=(n_img * len(methods) * road * _imputation_seconds(shape, cell)
                                  / IMPUTATION_THREADS if road else 0.0)))
    return out


def _estimand(profile, images_dir, models: dict) -> list[Work]:
    out = []
    for plan in profile.estimand:
        clf = models.get(plan.spec)
        if clf is None or not callable(getattr(clf, "gradient", None)):
            continue
        n_img = plan.n_images
        if images_dir and not plan.spec.startswith("groundtruth:"):
            from leg.harness.engine.inputs import image_folder_names

            n_img = min(n_img, len(image_folder_names(images_dir)))
        sets = 1 + len(plan.designs)  # the default design's samples, then each other's
        out.append(Work("estimand", plan.spec, f"estimands and variants ({n_img} images, "
                        f"{sets} designs)", (1 + sets) * n_img,
                        n_img * sets * max(plan.budgets), n_img * plan.gradients))
    return out


def _groundtruth(profile) -> list[Work]:
    plan = profile.groundtruth
    if plan is None:
        return []
    from leg.zoo.groundtruth import ground_truth_suite

    models = [m for m in ground_truth_suite() if not plan.models or m.name in plan.models]
    maps = len(models) * len(plan.methods) * len(plan.budgets) * plan.repeats
    evals = len(models) * len(plan.methods) * sum(plan.budgets) * plan.repeats
    overhead = len(models) * len(plan.budgets) * plan.repeats * _overhead(plan.methods)
    return [Work("groundtruth", "ground-truth models", f"maps ({len(models)} synthetic "
                 "models)", maps, evals, 0, overhead)]


def make_plan(profile, images_dir: str | None, suites, *, probe: bool = True) -> Plan:
    """The :class:`Plan` of ``suites`` (names) of ``profile`` on ``images_dir``."""
    from leg.harness.engine.inputs import load_model_once, zoo_images

    plan = Plan(profile.name)
    specs = {p.spec for p in profile.models} if "sanity" in suites else set()
    if "perturbation" in suites:
        specs |= {p.spec for p in profile.perturbation}
    if "estimand" in suites:
        specs |= {p.spec for p in profile.estimand}
    models = {spec: load_model_once(spec) for spec in sorted(specs)}
    for spec, clf in models.items():
        if not probe:
            continue
        try:
            if spec.startswith("groundtruth:"):
                image = clf.base_image(0)
            elif images_dir:
                from leg.harness.engine.inputs import load_image_folder, model_input_shape

                image = load_image_folder(images_dir, model_input_shape(clf))[0][1]
            else:
                image = zoo_images(spec, 1)[0][1]
            plan.probes[spec] = probe_model(clf, image)
        except Exception as exc:  # the plan is still printed, without a time
            plan.notes.append(f"{spec} could not be probed ({type(exc).__name__}: {exc})")
    work = []
    if "sanity" in suites:
        work += _sanity(profile, images_dir, models)
    if "perturbation" in suites:
        work += _perturbation(profile, images_dir, models)
    if "estimand" in suites:
        work += _estimand(profile, images_dir, models)
    if "groundtruth" in suites:
        gt = _groundtruth(profile)
        if probe and gt:
            from leg.zoo.groundtruth import ground_truth_suite

            model = ground_truth_suite()[0]
            plan.probes["ground-truth models"] = probe_model(model, model.base_image(0))
        work += gt
    plan.work = [_price(w, plan.probes.get(w.model)) for w in work]
    if any(u for u in profile.user_methods):
        plan.notes.append("your own methods are counted at one evaluation per map (or their "
                          "budget): their real cost is theirs")
    return plan
