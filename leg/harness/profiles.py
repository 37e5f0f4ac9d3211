"""Evaluation profiles as data: which models, images, methods, budgets, stages, repeats.

``smoke``
    CI-sized (its cost: docs/performance.md). Sanity: the digits CNN (10 test digits, every
    cascading stage, two independent groups, label randomization, sMPRT) and two Lite0
    photos at the rule's two decisive stages (two photos cannot decide: the plan says so;
    ``--leg-n-images 8`` decides). Perturbation: 6 digits and the ground-truth oracle plan.
    Ground truth: 3 synthetic models. Estimand: a ground-truth model and one digit.
``standard`` (default)
    Sanity: 10 digits, every stage; 8 Lite0 photos, five cascading stages, two independent
    groups. Perturbation: 10 digits and 6 Lite0 photos, every method at 500 model
    evaluations. Ground truth: all 15 synthetic models. Estimand: two ground-truth models,
    3 digits and one Lite0 photo.
``paper``
    The paper-sized run (meant for ``--leg-workers`` or a cluster): Lite0 at the paper's
    28x28 grid in per-channel mode, every group, 3 repeats; 8 Lite0 photos compared at
    1000 evaluations; ground truth up to 10000 evaluations, 3 seeds.

A model a profile does not know (``--leg-model``) gets generic plans (:class:`GenericSizes`):
enough of the ``--leg-images`` folder to decide, up to the profile's cap.

The sanity verdicts follow the rule of :mod:`leg.harness.checks.randomization.rule` with
the numbers of :class:`Thresholds`; the comparisons pair each method with the floor
(random-cells) over the images (:mod:`leg.harness.checks.faithfulness.suite`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from leg.harness import methods as records
from leg.zoo import TWINS

__all__ = ["CASCADE_ORDERS", "PROFILES",
           "EstimandPlan", "GroundTruthPlan", "ModelPlan", "PerturbationPlan", "Profile",
           "Thresholds", "get_profile"]



def _plan_for(plans, spec: str):
    """The plan of ``plans`` for ``spec``, or its :data:`leg.zoo.TWINS` original's plan with the
    spec replaced, or ``None``."""
    for name in (spec, TWINS.get(spec)):
        for plan in plans:
            if name is not None and plan.spec == name:
                return replace(plan, spec=spec)
    return None

def cell_size_for(value, shape) -> int:
    """A plan's ``cell_size`` in pixels for images of ``shape`` ``(H, W, ...)``: a number,
    ``"auto"`` (``min(H, W) // 16``) or ``"grid:N"`` (``min(H, W) // N``, about N x N cells)."""
    if isinstance(value, str):
        cells = 16 if value == "auto" else int(value.removeprefix("grid:"))
        return max(1, min(shape[:2]) // cells)
    return int(value)


#: ``Profile.cascade_order`` values (``--leg-cascade-order``).
CASCADE_ORDERS = ("top-down", "bottom-up", "both")



@dataclass(frozen=True)
class Thresholds:
    """The randomization rule's numbers (:mod:`leg.harness.checks.randomization.rule`).

    Per image and metric a map's *position* is ``(similarity - unrelated) /
    (reproducibility - unrelated)``: 1 like its original under another seed, 0 like another
    image's map. Cascading randomization passes when, over images (paired Wilcoxon,
    p < 0.05, at least 5 images), the maps *moved* at least ``moved`` of the way at the
    first stage (the top layer randomized) and *reached* the unrelated level, ``position <
    reached`` (no closer to the original than another image's map), at full randomization,
    on every ``decisive`` metric, and the original maps are informative.

    ``decisive``: the metrics that decide (chosen by measurement on the shipped networks:
    the rank correlations separate the gradient from Guided Backprop on Lite0 and on the
    digits CNN; SSIM and HOG are reported: HOG is dominated by LEG's cell grid, any two LEG
    maps of Lite0 agree at 0.95). ``informative``: the original maps of an image are
    informative when their reproducibility exceeds ``quantile`` of the similarities of
    unrelated maps plus the metric's ``margin``, on each of these metrics."""

    quantile: float = 0.95
    margin: dict = field(default_factory=lambda: {
        "spearman_abs": 0.1, "spearman_signed": 0.1, "ssim": 0.1, "hog_pearson": 0.1})
    decisive: tuple[str, ...] = ("spearman_abs", "spearman_signed")
    #: Metrics on which the original maps must be *informative* (why these two:
    #: :mod:`leg.harness.checks.randomization.suite`, "Informativeness").
    informative: tuple[str, ...] = ("spearman_abs", "ssim")
    #: How far (of the way to the unrelated level) a map must have moved at the first stage.
    moved: float = 0.5
    #: How close to the unrelated level a map must be at full randomization.
    reached: float = 0.25


@dataclass(frozen=True)
class ModelPlan:
    """What to run on one model.

    ``cascade_at``: groups after which the cascade is explained (``None``: after every
    group; a number N: N evenly spaced groups; full randomization is always included).
    ``independent``: groups randomized alone. ``label_twin``: spec of the same
    architecture trained on permuted labels, or ``None``. ``options``: per-method
    explainer options (``budget`` = model evaluations where the method has one).
    ``cell_size="auto"`` means ``min(H, W) // 16``, ``"grid:N"`` ``min(H, W) // N``
    (:func:`cell_size_for`). ``smprt_copies``, ``smprt_noise``: smooth MPRT (check
    ``smprt``) averages each map at full cascading randomization over ``smprt_copies``
    copies of the image (the last one noiseless: the ordinary map), the others with
    Gaussian noise of standard deviation ``smprt_noise`` times the image's range
    (:func:`leg.harness.checks.randomization.mprt.noisy_copies`); LEG and LEG-TV take ``n_samples //
    smprt_copies`` samples on each noisy copy, so a smoothed LEG map costs about twice one
    map. ``smprt_copies=1`` turns the check off.
    """

    spec: str
    n_images: int
    cascade_at: tuple[str, ...] | int | None = None
    independent: tuple[str, ...] = ()
    label_twin: str | None = None
    options: dict = field(default_factory=dict)
    #: Methods whose informativeness (reproducibility) is *reported only* on this model,
    #: ``method -> reason`` (with the measured numbers): their randomization tests become
    #: expected failures (``xfail``) when the original maps are uninformative, instead of
    #: failures. Empty: informativeness is asserted for every asserted method.
    informative_reported: dict = field(default_factory=dict)
    smprt_copies: int = 10
    smprt_noise: float = 0.1

    def __post_init__(self):
        if int(self.smprt_copies) != self.smprt_copies or self.smprt_copies < 1:
            raise ValueError(f"smprt_copies must be a positive integer; got "
                             f"{self.smprt_copies!r}.")
        if not self.smprt_noise >= 0:
            raise ValueError(f"smprt_noise must be >= 0; got {self.smprt_noise!r}.")


def _digits_options(n: int, sigma: float = 0.02) -> dict:
    # 4 px cells (an 8x8 grid on the 32x32 digits): with 2 px cells (256 cells) even 200-400
    # samples gave maps that do not reproduce under another seed (uninformative)
    leg = {"cell_size": 4, "n_samples": n, "sigma": sigma}
    return {"leg": leg, "leg-tv": {**leg, "lam": 0.075}}


def _lite0_options(cell: int, n: int, mode: str) -> dict:
    leg = {"cell_size": cell, "n_samples": n, "mode": mode, "batch_size": 32}
    return {"leg": leg, "leg-tv": {**leg, "lam": 0.075}}




@dataclass(frozen=True)
class PerturbationPlan:
    """Perturbation-size comparison on one model.

    ``budget``: model evaluations of every black-box method (its record's ``budget``
    counts model evaluations), LEG's
    included; ``options``: further per-method options (``cell_size="auto"`` as in
    :class:`ModelPlan`); ``backgrounds``: key size; ``curve_backgrounds``: deletion and
    insertion curves (a background may be in either or both: ROAD's protocol is its curves,
    and its imputation at every key-size step costs more than a model call on a large image);
    ``alpha_steps``: the key-size grid ``linspace(1/steps, 1, steps)``;
    ``curve_steps``: curve points ``linspace(0, 1, steps + 1)``; ``k``: dist-k levels.
    ``expected_failures``: check -> why an asserted method (LEG, LEG-TV) is *not* expected to
    beat the granularity-matched random map on it, with the measured numbers: a failure is
    then an expected failure (``xfail``), a pass an XPASS.

    ``matched_cell``: the common granularity every map is also scored at (pixels per cell
    side; ``"auto"`` / ``"grid:N"`` as ``cell_size``): each map pooled to these cells (sum of
    ``|saliency|``), cells ranked and removed or revealed whole, so that pixel maps, LEG's
    cells and superpixels compete on one scale. It is LEG's own cell size in the shipped
    plans (4 px on the 32 px digits, 16 px on the 224 px Lite0 photos: 196 cells, so a
    1000-step alpha grid needs at most 196 distinct masked images). The verdicts and the
    leaderboards use the matched scores.
    ``pixel_backgrounds``: the backgrounds also scored at pixel granularity (the old path,
    reported as ``granularity=pixel``); ``None``: the first of ``backgrounds`` only, to keep
    the cost down (a pixel scan of a 1000-step grid costs up to 1000 evaluations per map).
    The ``road`` background (ROAD noisy linear imputation) is scored at the matched
    granularity only. ``pixel_alpha_steps``: the key-size grid at pixel granularity
    (``None``: ``alpha_steps``); a pixel scan evaluates one image per grid step up to the
    answer, so a large image's pixel scan is kept on a grid about as fine as the matched
    cells (200 steps for Lite0's 196 cells). ``search``: how a key size is found,
    ``"scan"`` (every count in order up to the first change: the definition) or
    ``"bisect"`` (batched bisection, assuming the change is monotone in the count: about
    half the evaluations, but the shipped models' flips are often not monotone, so it can
    answer a later alpha; ``benchmarks/bench_keysize_search.py`` measures both).
    ``robustness_samples``: noisy copies of each image every method explains for the
    robustness checks (0: none); ``infidelity_samples``: random square removals of each
    image for infidelity (forward passes only, shared by the methods; 0: none).
    """

    spec: str
    n_images: int
    budget: int
    backgrounds: tuple[str, ...] = ("mean", "black", "white", "noise", "dist-k")
    curve_backgrounds: tuple[str, ...] = ("mean",)
    alpha_steps: int = 1000
    curve_steps: int = 20
    k: int = 32
    options: dict = field(default_factory=dict)
    expected_failures: dict = field(default_factory=dict)
    matched_cell: int | str = "auto"
    pixel_backgrounds: tuple[str, ...] | None = None
    pixel_alpha_steps: int | None = None
    search: str = "scan"
    robustness_samples: int = 5
    infidelity_samples: int = 100

    def scored(self) -> tuple[str, ...]:
        """Every background the plan scores: the key-size ones, then the curve-only ones."""
        return tuple(dict.fromkeys(self.backgrounds + self.curve_backgrounds))

    def pixel_scored(self) -> tuple[str, ...]:
        """The backgrounds scored at pixel granularity (never ``road``)."""
        if self.pixel_backgrounds is not None:
            return tuple(b for b in self.pixel_backgrounds if b != "road")
        return tuple(b for b in self.backgrounds if b != "road")[:1]


@dataclass(frozen=True)
class GroundTruthPlan:
    """Ground-truth accuracy: ``models`` (names in :func:`leg.zoo.groundtruth.ground_truth_suite`,
    empty = all 15) x ``methods`` x ``budgets`` (model evaluations; gradient methods: gradient
    evaluations) x ``repeats`` seeds, explained at ``base_image(0)``. ``min_leg_tv_corr``:
    LEG-TV's cell-level correlation with the gradient required at the largest budget;
    ``min_own_corr``: every other method's with its own target (gradient or closed-form
    removal effect, :mod:`leg.harness.checks.groundtruth`), asserted for the methods
    whose record asserts ``ground-truth``;
    ``expected_failures``: method -> why it is expected to miss ``min_own_corr``."""

    models: tuple[str, ...]
    budgets: tuple[int, ...]
    methods: tuple[str, ...] = records.defaults("groundtruth")
    repeats: int = 1
    lam: float = 0.075
    min_leg_tv_corr: float = 0.9
    min_own_corr: float = 0.9
    expected_failures: dict = field(default_factory=dict)
    #: Further per-method options (the user's methods' factories).
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EstimandPlan:
    """LEG's estimators against its exact estimand on one differentiable model.

    ``spec``: a model with ``.gradient`` (zoo name, ``groundtruth:<name>``, user spec);
    ``n_images``; ``budgets``: model evaluations; ``gradients``: draws averaged for the
    estimand; ``cell_size`` (``"auto"``: ``min(H, W) // 16``), ``sigma`` (``None``: LEG's
    default), ``mode``: the LEG settings; ``lam``: LEG-TV's; ``min_corr``: the median
    correlation LEG's default estimator must reach at the largest budget; ``designs``: the
    perturbation designs scored beside the default one (:mod:`leg.designs`).
    """

    spec: str
    n_images: int
    budgets: tuple[int, ...]
    gradients: int = 1024
    cell_size: int | str = "auto"
    sigma: float | None = None
    mode: str = "joint"
    lam: float = 0.075
    min_corr: float = 0.5
    #: Perturbation designs compared with LEG's default (orthogonal) at the same budgets.
    designs: tuple[str, ...] = ("iid", "sobol")


def _perturbation_options(cell) -> dict:
    leg = {"cell_size": cell, "mode": "joint"}
    # random-cells: the random floor at LEG's granularity (see the perturbation suites)
    return {"leg": leg, "leg-tv": {**leg, "lam": 0.075}, "random-cells": {"cell_size": cell}}


@dataclass(frozen=True)
class GenericSizes:
    """How a profile sizes the suites for a model it has no plan for (yours).

    ``n_images``: the most images of ``--leg-images`` used (0: all): enough to decide
    (at least 5), the cap keeps the cost; ``cascade_stages``: evenly spaced cascading
    stages, full randomization included (2: the rule's two decisive stages; ``None``: after
    every layer group); ``samples``: the most joint samples per LEG map in the sanity suite,
    on ``grid`` x ``grid`` cells: LEG samples until its map's predicted reproducibility
    reaches ``reliability`` (``n_samples="auto"``) or this cap, so a budget follows the
    map's need; ``budget``: model evaluations of every black-box method in the perturbation
    suite, LEG's included; ``backgrounds`` / ``curve_backgrounds`` / ``alpha_steps`` /
    ``curve_steps`` / ``search``: its key-size searches and curves; ``estimand_budgets`` and
    ``gradients``: the estimand suite.
    """

    n_images: int
    cascade_stages: int | None
    samples: int
    grid: int
    budget: int
    backgrounds: tuple[str, ...]
    curve_backgrounds: tuple[str, ...]
    alpha_steps: int
    curve_steps: int
    estimand_budgets: tuple[int, ...]
    gradients: int
    smprt_copies: int = 10
    reliability: float = 0.8
    search: str = "scan"

    def sanity_plan(self, spec: str) -> ModelPlan:
        leg = {"cell_size": f"grid:{self.grid}", "n_samples": "auto", "mode": "joint",
               "target_reliability": self.reliability, "max_samples": self.samples,
               "round_samples": min(250, self.samples), "batch_size": 32}
        return ModelPlan(spec, n_images=self.n_images, cascade_at=self.cascade_stages,
                         options={"leg": leg, "leg-tv": {**leg, "lam": 0.075}},
                         smprt_copies=self.smprt_copies)

    def perturbation_plan(self, spec: str) -> PerturbationPlan:
        return PerturbationPlan(spec, n_images=self.n_images, budget=self.budget,
                                backgrounds=self.backgrounds,
                                curve_backgrounds=self.curve_backgrounds,
                                alpha_steps=self.alpha_steps, curve_steps=self.curve_steps,
                                options=_perturbation_options(f"grid:{self.grid}"),
                                matched_cell=f"grid:{self.grid}", search=self.search)

    def estimand_plan(self, spec: str) -> EstimandPlan:
        return EstimandPlan(spec, n_images=self.n_images or 2,
                            budgets=self.estimand_budgets, gradients=self.gradients,
                            cell_size=f"grid:{self.grid}")


#: Sizes for a model the profile does not know, per profile (their cost: docs/performance.md).
GENERIC = {
    "smoke": GenericSizes(n_images=12, cascade_stages=2, samples=1000, grid=7, budget=200,
                          backgrounds=("mean",), curve_backgrounds=("mean",), alpha_steps=64,
                          curve_steps=10, estimand_budgets=(100, 200, 400), gradients=64,
                          smprt_copies=1),
    "standard": GenericSizes(n_images=16, cascade_stages=4, samples=2000, grid=14, budget=500,
                             backgrounds=("mean", "black"), curve_backgrounds=("mean",),
                             alpha_steps=200, curve_steps=20,
                             estimand_budgets=(250, 500, 1000), gradients=256, smprt_copies=4),
    "paper": GenericSizes(n_images=0, cascade_stages=None, samples=4000, grid=28,
                          budget=2000, backgrounds=("mean", "black", "white", "noise", "dist-k"),
                          curve_backgrounds=("mean",), alpha_steps=1000, curve_steps=20,
                          estimand_budgets=(500, 1000, 2000, 4000), gradients=1024,
                          reliability=0.9),
}


@dataclass(frozen=True)
class Profile:
    """A named evaluation size. ``repeats``: seeds per stochastic explanation (metrics are
    averaged over them); ``seed``: base seed of explanations; ``reseed_offset``: added to
    it for the second explanation of the original model (informativeness check);
    ``randomization_seed``: seed of the re-initialised weights; ``regression_tolerance``:
    absolute change of a metric in its bad direction that fails a comparison with
    ``--leg-baseline``; ``cascade_order``: ``"top-down"`` (Adebayo et al.), or
    ``"bottom-up"``/``"both"``: the sanity suite also randomizes cumulatively from the input
    up (Binder et al., CVPR 2023; check ``cascading-bottom-up``, reported) beside the
    top-down cascade it asserts on."""

    name: str
    description: str
    models: tuple[ModelPlan, ...]
    methods: tuple[str, ...] = records.defaults("sanity")
    repeats: int = 1
    seed: int = 0
    randomization_seed: int = 0
    #: The informativeness (reproducibility) check explains the original model again with
    #: seed ``seed + repeat + reseed_offset``.
    reseed_offset: int = 1000
    thresholds: Thresholds = field(default_factory=Thresholds)
    regression_tolerance: float = 0.1
    generic: GenericSizes = field(default_factory=lambda: GENERIC["smoke"])
    perturbation: tuple[PerturbationPlan, ...] = ()
    perturbation_methods: tuple[str, ...] = records.defaults("perturbation")
    groundtruth: GroundTruthPlan | None = None
    estimand: tuple[EstimandPlan, ...] = ()
    #: The user's own methods (``--leg-methods NAME=module:attribute``,
    #: :mod:`leg.harness.methods.user`):
    #: asserted in the sanity suites like LEG, compared at LEG's budget when black-box.
    user_methods: tuple = ()
    cascade_order: str = "top-down"

    def __post_init__(self):
        if self.cascade_order not in CASCADE_ORDERS:
            raise ValueError(f"Unknown cascade order {self.cascade_order!r}; choose one of "
                             f"{list(CASCADE_ORDERS)}.")

    def role(self, method: str) -> str:
        """``"asserted"``, ``"reported"`` or ``"control"`` in the sanity suites: its record's
        (a user's method is asserted: it is the method under test)."""
        return records.record(method, self.user_methods).role

    @property
    def black_box(self) -> tuple[str, ...]:
        """Methods whose ``budget`` is a number of model evaluations (compared at LEG's)."""
        return tuple(name for name, m in records.METHODS.items() if m.black_box) + tuple(
            u.name for u in self.user_methods if u.black_box)

    def model_plan(self, spec: str) -> ModelPlan:
        """This profile's plan for ``spec`` (a :data:`leg.zoo.TWINS` twin gets its original's
        plan); a user model gets a generic plan."""
        return _plan_for(self.models, spec) or self.generic.sanity_plan(spec)

    def with_overrides(self, *, model: str | None = None, methods=None,
                       seed: int | None = None, user_methods=(), n_images: int | None = None,
                       stages: int | None = None, budget: int | None = None,
                       backgrounds: tuple[str, ...] | None = None,
                       grad_cam_layer: str | None = None,
                       cascade_order: str | None = None) -> Profile:
        """A copy with command-line overrides applied (one model, a method subset, a seed,
        the user's methods: their :class:`leg.harness.methods.record.Method` records, also
        named in ``methods``, go through every suite).

        One model: the profile's sanity, perturbation and estimand plans for it (a
        :data:`leg.zoo.TWINS` twin gets its original's). A model the profile plans sanity checks
        for keeps the profile's choice of suites: where it has no perturbation or estimand
        plan for it, that suite is not run (smoke leaves Lite0's to standard, see
        :meth:`unplanned`). Any other model gets generic plans for every suite."""
        p, chosen = self, methods
        if model is not None:
            known = _plan_for(p.models, model) is not None
            pert = _plan_for(p.perturbation, model) or (
                None if known else p.generic.perturbation_plan(model))
            est = _plan_for(p.estimand, model) or (
                None if known else p.generic.estimand_plan(model))
            p = replace(p, models=(p.model_plan(model),),
                        perturbation=(pert,) if pert else (), estimand=(est,) if est else ())
        if user_methods:
            p = p._with_user_methods(tuple(user_methods))
        if chosen is not None:
            mine = {u.name for u in p.user_methods}
            known = set(records.METHODS) | mine
            unknown = [m for m in chosen if m not in known]
            if unknown:
                raise ValueError(f"Unknown methods {unknown}; choose from {sorted(known)}.")

            def runs_in(suite: str) -> tuple[str, ...]:
                return tuple(m for m in chosen if m in mine
                             or suite in records.METHODS[m].suites)

            compared = runs_in("perturbation")
            floor = next(n for n, m in records.METHODS.items() if m.floor)
            if compared and floor not in compared:  # the floor every verdict needs
                compared += (floor,)
            p = replace(p, methods=runs_in("sanity"), perturbation_methods=compared)
            if p.groundtruth is not None:
                p = replace(p, groundtruth=replace(p.groundtruth,
                                                   methods=runs_in("groundtruth")))
        if seed is not None:
            p = replace(p, seed=int(seed))
        if cascade_order is not None:
            p = replace(p, cascade_order=cascade_order)
        p = p._resized(n_images, stages, budget, backgrounds)
        if grad_cam_layer is not None:  # Grad-CAM's layer, wherever Grad-CAM runs
            def layer(plan):
                options = {**plan.options, "grad-cam": {**plan.options.get("grad-cam", {}),
                                                         "layer": grad_cam_layer}}
                return replace(plan, options=options)

            p = replace(p, models=tuple(layer(m) for m in p.models),
                        perturbation=tuple(layer(m) for m in p.perturbation))
        return p

    def _resized(self, n_images, stages, budget, backgrounds) -> Profile:
        """Sizes set by hand (``--leg-n-images``, ``--leg-stages``, ``--leg-budget``,
        ``--leg-backgrounds``) on every plan they apply to."""
        p = self
        if n_images is not None:
            p = replace(p, models=tuple(replace(m, n_images=n_images) for m in p.models),
                        perturbation=tuple(replace(m, n_images=n_images)
                                           for m in p.perturbation),
                        estimand=tuple(replace(m, n_images=n_images) for m in p.estimand))
        if stages is not None:
            p = replace(p, models=tuple(replace(m, cascade_at=stages) for m in p.models))
        if budget is not None:
            p = replace(p, perturbation=tuple(replace(m, budget=budget)
                                              for m in p.perturbation))
        if backgrounds is not None:
            from leg.harness.checks.faithfulness.removal import SCORE_BACKGROUNDS

            unknown = [b for b in backgrounds if b not in SCORE_BACKGROUNDS]
            if unknown or not backgrounds:
                raise ValueError(f"Unknown backgrounds {unknown}; choose from "
                                 f"{', '.join(SCORE_BACKGROUNDS)}.")
            p = replace(p, perturbation=tuple(
                replace(m, backgrounds=tuple(backgrounds), curve_backgrounds=backgrounds[:1])
                for m in p.perturbation))
        return p

    def _with_user_methods(self, users: tuple) -> Profile:
        """Add ``users`` to every suite: each plan's options carry the method's factory
        (:data:`leg.harness.methods.user.FACTORY_OPTION`), which the workers build it from."""
        from leg.harness.methods.user import FACTORY_OPTION

        extra = {u.name: {FACTORY_OPTION: u.target} for u in users}

        def add(plan):
            return replace(plan, options={**plan.options, **extra})

        p = replace(self, user_methods=self.user_methods + users,
                    models=tuple(add(m) for m in self.models),
                    perturbation=tuple(add(m) for m in self.perturbation),
                    methods=self.methods + tuple(extra),
                    perturbation_methods=self.perturbation_methods + tuple(extra))
        if p.groundtruth is not None:
            p = replace(p, groundtruth=add(replace(
                p.groundtruth, methods=p.groundtruth.methods + tuple(extra))))
        return p

    def unplanned(self, suite: str) -> str:
        """Why ``suite`` (``"perturbation"`` or ``"estimand"``) has no plan in this profile:
        the reason its tests are skipped."""
        models = ", ".join(p.spec for p in self.models)
        others = [name for name, prof in PROFILES.items() if any(
            _plan_for(getattr(prof, suite), p.spec) for p in self.models)]
        return (f"the {self.name!r} profile runs no {suite} suite on {models}"
                + (f"; {' and '.join(others)} {'do' if len(others) > 1 else 'does'} "
                   f"(--leg-profile {others[0]})" if others else ""))

    def identity(self) -> dict:
        """Everything that defines this run's numbers (JSON-ready)."""
        d = asdict(self)
        d.pop("description")
        if not d["user_methods"]:  # absent, as before user methods existed: same hash
            d.pop("user_methods")
        if d["groundtruth"] is not None and not d["groundtruth"]["options"]:
            d["groundtruth"].pop("options")
        d.pop("generic")  # the plans it made for your model are in "models" & co.
        if d["cascade_order"] == "top-down":  # the default, as before the option: same hash
            d.pop("cascade_order")
        return d

    def parameters_hash(self) -> str:
        """Hash of :meth:`identity` (hex, 16 characters): the same in every process."""
        text = json.dumps(self.identity(), sort_keys=True, default=_stable_text)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stable_text(obj) -> str:
    """``str(obj)``, with a set's items in sorted order: ``str`` of a frozenset of strings
    follows their hashes, which change from process to process (``PYTHONHASHSEED``), so a
    user method's record (its ``suites``) gave every run another parameters hash."""
    if isinstance(obj, set | frozenset):
        items = sorted(obj, key=repr)
        return (f"{type(obj).__name__}({{{', '.join(map(repr, items))}}})" if items
                else f"{type(obj).__name__}()")
    return str(obj)


#: Where LEG and LEG-TV were measured not to beat random-cells (the runs docs/benchmarks.md
#: reports).
_LITE0_FLOOR = {
    "key-size": "measured on the standard profile's 6 Lite0 photos: LEG's key size is not "
                "significantly below random-cells' (median difference -0.020, 95% CI [-0.11, "
                "0.027], p = 0.22; LEG-TV p = 0.34)",
    "deletion": "measured on the standard profile's 6 Lite0 photos: p = 0.16 (LEG) and 0.22 "
                "(LEG-TV)"}
_DIGITS_FLOOR = {
    "key-size": "measured on the smoke profile's 6 digits: LEG's key size is not "
                "significantly below random-cells' (median difference -0.16, 95% CI [-0.45, "
                "0.19], p = 0.22; LEG-TV p = 0.22)"}
_DIGITS_STANDARD_FLOOR = {
    "key-size": "measured on the standard profile's 10 digits at 500 evaluations: LEG's key "
                "size is not significantly below random-cells' (median difference -0.11, 95% "
                "CI [-0.40, 0.082], p = 0.08; LEG-TV p = 0.12)",
    "deletion": "measured on the standard profile's 10 digits: LEG passes (p = 0.042), LEG-TV "
                "does not (median difference -0.11, 95% CI [-0.28, 0.038], p = 0.08)"}
#: Every fixed background and ROAD's noisy linear imputation (matched granularity only).
_WITH_ROAD = ("mean", "black", "white", "noise", "dist-k", "road")
#: Lite0 photos in the perturbation plans (see the standard plan's comment).
_LITE0_PHOTOS = 6
#: The oracle plan: on a ground-truth model the exact gradient (``true-map``) must beat
#: random-cells at pixel and matched granularity (p < 0.05 over 6 base images). Dist-k only:
#: it moves each pixel against the sign of the map, so it removes what a gradient (a local
#: sensitivity) claims; replacing pixels by the mean or by an imputation changes the score by
#: ``w * (x - b)``, whose sign against ``w`` is arbitrary on these textured mid-grey images
#: (measured: with the mean background the true map finds no key set on 5 of 6 images).
_GROUNDTRUTH_PERTURBATION = PerturbationPlan(
    "groundtruth:linear_region_28x28x3", n_images=6, budget=200, backgrounds=("dist-k",),
    curve_backgrounds=("dist-k",), alpha_steps=200, curve_steps=10,
    options=_perturbation_options(4), matched_cell=4)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        generic=GENERIC["smoke"],
        description="CI-sized: digits CNN and two Lite0 photos at a coarse grid.",
        models=(
            # 10 digits: at 6 one digit whose randomized LEG map stayed 0.41 of the way to
            # its original (signed Spearman) made LEG's cascading p = 0.078; 10 decide it
            # (p = 0.007) for about 25 s more
            ModelPlan("digits", n_images=10, cascade_at=None, independent=("logits", "conv1"),
                      label_twin="digits-permuted", options=_digits_options(3000),
                      smprt_copies=4),
            # Lite0: the rule's two decisive stages (the top layer, everything) and LEG at 500
            # joint samples on 7x7 cells, informative on each of the 8 shipped photos
            # (Spearman |map| 0.52-0.91 between seeds); two photos cannot decide (at least 5
            # are needed: --leg-n-images 8 decides; its cost: docs/performance.md)
            ModelPlan("lite0", n_images=2, cascade_at=("logits", "stem"),
                      options=_lite0_options(32, 500, "joint"), smprt_copies=1),
        ),
        perturbation=(
            # 6 digits: the fewest at which a paired comparison can tolerate one loss and
            # still reach p < 0.05 (5 need every image better; min_images_for(0.05) = 5)
            PerturbationPlan("digits", n_images=6, budget=200, alpha_steps=200, curve_steps=10,
                             backgrounds=_WITH_ROAD, curve_backgrounds=("mean", "road"),
                             options=_perturbation_options(4), matched_cell=4,
                             expected_failures=_DIGITS_FLOOR),
            _GROUNDTRUTH_PERTURBATION,
        ),
        groundtruth=GroundTruthPlan(
            models=("linear_region_28x28x3", "two_object_contrast_28x28x1",
                    "smooth_region_means_32x48x3"),
            budgets=(100, 400, 1600)),
        estimand=(
            EstimandPlan("groundtruth:smooth_region_means_28x28x3", n_images=1,
                         budgets=(100, 400, 1600), gradients=512, cell_size=2, min_corr=0.9),
            EstimandPlan("digits", n_images=1, budgets=(100, 400, 1600), gradients=512,
                         cell_size=4, min_corr=0.9),
        ),
    ),
    "standard": Profile(
        name="standard",
        generic=GENERIC["standard"],
        description="Default: every digits stage, seven Lite0 cascading stages, six Lite0 "
                    "photos compared.",
        models=(
            ModelPlan("digits", n_images=10, cascade_at=None,
                      independent=("logits", "dense1", "conv2", "conv1"),
                      label_twin="digits-permuted", options=_digits_options(4000),
                      smprt_copies=8),
            # Lite0 on the 8 shipped photos: every asserted check decides (at least 5 are
            # needed); no sMPRT (its noisy copies would double LEG's cost on Lite0)
            # needed), so its noisy copies would be Lite0 work that decides nothing
            ModelPlan("lite0", n_images=8, smprt_copies=1,
                      cascade_at=("logits", "block15", "block11", "block7", "stem"),
                      independent=("logits", "block7"),
                      options=_lite0_options(32, 500, "joint")),
        ),
        perturbation=(
            PerturbationPlan("digits", n_images=10, budget=500, backgrounds=_WITH_ROAD,
                             robustness_samples=10, expected_failures=_DIGITS_STANDARD_FLOOR,
                             curve_backgrounds=_WITH_ROAD, options=_perturbation_options(4),
                             matched_cell=4),
            # Lite0: 6 photos (_LITE0_PHOTOS). 5 is the minimum for p < 0.05 (min_images_for:
            # 1/32, every photo better). With the exact sign test 6 still need all 6 better
            # (5 of 6: p = 7/64), so the power is p_better**6: sign_test_power(6, 0.965) = 0.81,
            # sign_test_power(6, 0.95) = 0.74, and images_for_power(0.9) = 8. The Wilcoxon
            # test used here tolerates one loss at 6 photos when it is the smallest difference
            # (p = 2/64). So 6 photos detect a method that beats random-cells on about every
            # photo; a 90% winner needs 8 (paper has them). To keep six photos affordable:
            # key size on two backgrounds (mean, black), ROAD for its curves only (its
            # imputation costs about three Lite0 calls; paper scans it too), the pixel scan on
            # a 200-step grid (as fine as the 196 matched cells) and curves of 10 steps.
            # Robustness: 2 noisy copies per photo and method (each is a full map: 2x the
            # maps' cost), the maximum over 2 for max-sensitivity.
            PerturbationPlan("lite0", n_images=_LITE0_PHOTOS, budget=500,
                             robustness_samples=2, backgrounds=("mean", "black"),
                             curve_backgrounds=("mean", "road"), curve_steps=10,
                             options=_perturbation_options(16), expected_failures=_LITE0_FLOOR,
                             matched_cell=16, pixel_alpha_steps=200),
            _GROUNDTRUTH_PERTURBATION,
        ),
        groundtruth=GroundTruthPlan(models=(), budgets=(100, 300, 1000, 3000)),
        estimand=(
            EstimandPlan("groundtruth:smooth_region_means_28x28x3", n_images=2,
                         budgets=(100, 300, 1000, 3000), gradients=1024, cell_size=2,
                         min_corr=0.95),
            EstimandPlan("groundtruth:two_object_contrast_56x56x3", n_images=1,
                         budgets=(100, 300, 1000, 3000), gradients=1024, cell_size=4,
                         min_corr=0.95),
            EstimandPlan("digits", n_images=3, budgets=(100, 300, 1000, 3000), gradients=1024,
                         cell_size=4, min_corr=0.9),
            EstimandPlan("lite0", n_images=1, budgets=(500, 1000, 2000), gradients=2048,
                         cell_size=8, min_corr=0.85),
        ),
    ),
    "paper": Profile(
        name="paper",
        generic=GENERIC["paper"],
        description="Paper-sized: 28x28 grid, per-channel sampling, every group, 3 repeats.",
        models=(
            ModelPlan("digits", n_images=10, cascade_at=None,
                      independent=("logits", "dense1", "conv2", "conv1"),
                      label_twin="digits-permuted", options=_digits_options(8000),
                      smprt_copies=16),
            # 6 photos: a paired sanity verdict needs at least 5 (standard's 3 are reported as
            # not significant, to keep its cost)
            ModelPlan("lite0", n_images=8, cascade_at=None, smprt_copies=8,
                      independent=("logits", "head", "block15", "block7", "block0", "stem"),
                      options=_lite0_options(8, 300, "per_channel")),
        ),
        perturbation=(
            PerturbationPlan("digits", n_images=10, budget=1000, backgrounds=_WITH_ROAD,
                             robustness_samples=20, infidelity_samples=200,
                             curve_backgrounds=_WITH_ROAD, options=_perturbation_options(4),
                             matched_cell=4, pixel_backgrounds=_WITH_ROAD[:-1]),
            PerturbationPlan("lite0", n_images=8, budget=1000, robustness_samples=5,
                             backgrounds=_WITH_ROAD, curve_backgrounds=_WITH_ROAD,
                             options=_perturbation_options(16), expected_failures=_LITE0_FLOOR,
                             matched_cell=16),
            _GROUNDTRUTH_PERTURBATION,
        ),
        groundtruth=GroundTruthPlan(models=(), budgets=(100, 300, 1000, 3000, 10000),
                                    repeats=3),
        estimand=(
            EstimandPlan("digits", n_images=10, budgets=(100, 300, 1000, 3000, 10000),
                         gradients=4096, cell_size=4, min_corr=0.9),
            EstimandPlan("lite0", n_images=4, budgets=(500, 1000, 2000, 4000, 8000),
                         gradients=4096, cell_size=8, min_corr=0.9),
        ),
        repeats=3,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.")
    return PROFILES[name]
