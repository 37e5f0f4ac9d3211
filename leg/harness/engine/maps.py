"""The maps every comparison scores, computed once: each method's explanation of each image
of the profile's comparison plans (:attr:`leg.harness.profiles.Profile.perturbation`: its
models, images, methods and budgets), keyed so that every suite that scores them shares one
cache entry per map (the faithfulness suite, :class:`leg.harness.checks.map_scores.MapCheck`
suites).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from leg.harness.engine.cache import explanation_key
from leg.harness.engine.inputs import array_hash
from leg.harness.engine.jobs import ExplainItem, ExplainJob
from leg.harness.engine.pipeline import Pipeline, image_ids, input_shape
from leg.harness.engine.suite import SuiteResult

__all__ = ["MapResults", "explain_plans", "explain_variants", "method_options", "price_maps"]


@dataclass
class MapResults(SuiteResult):
    """The maps of the comparison plans and what they were explained for."""

    maps: dict = field(default_factory=dict)  # (model, image, method) -> (H, W) map
    images: dict = field(default_factory=dict)  # (model, image) -> (H, W, C) image
    targets: dict = field(default_factory=dict)  # (model, image) -> class explained
    probabilities: dict = field(default_factory=dict)  # (model, image) -> its probability
    budgets: dict = field(default_factory=dict)  # model -> budget of the black-box methods
    explanations: list[dict] = field(default_factory=list)  # n_evaluations, seconds per map


def method_options(plan, method: str, shape, black_box: tuple[str, ...] = ()) -> dict:
    """The explainer options of ``method`` on a comparison ``plan``: the plan's, with
    ``cell_size`` resolved for images of ``shape``, and ``budget`` for the black-box ones."""
    from leg.harness.profiles import cell_size_for

    opts = dict(plan.options.get(method, {}))
    if isinstance(opts.get("cell_size"), str):
        opts["cell_size"] = cell_size_for(opts["cell_size"], shape)
    if method in black_box:
        opts["budget"] = int(plan.budget)
    return opts


def _no_images(profile, plan) -> str:
    return (f"no images: the {profile.name!r} profile has no perturbation plan for "
            f"{plan.spec!r}, and the generic plan compares the methods on the --leg-images "
            "folder; pass --leg-images DIR or use a profile with a plan for it (standard and "
            "paper have Lite0's)")


def explain_plans(pipe: Pipeline, plans=None) -> tuple[dict, dict]:
    """Every method's map of every image of ``plans`` (default: the profile's comparison
    plans), through ``pipe``, into its :class:`MapResults`: ``(spec -> (plan, methods that
    ran, image shape), (model, image, method) -> explanation key)``. A method that cannot
    explain a model is skipped with its reason (``result.skipped[(model, method)]``)."""
    from leg.harness.methods import available

    res, profile = pipe.result, pipe.profile
    jobs, index, ran = [], {}, {}
    t0 = time.perf_counter()
    for plan in profile.perturbation if plans is None else plans:
        if pipe.images_dir is None and plan.n_images == 0:  # a generic plan for a zoo model
            res.skipped.update({(plan.spec, m): _no_images(profile, plan)
                                for m in profile.perturbation_methods})
            continue
        clf = pipe.model(plan.spec)
        shape = input_shape(clf)
        fp = res.fingerprints[plan.spec]
        images = pipe.images(plan.spec, plan.n_images, clf)
        targets, probabilities = pipe.top1(clf, images)
        methods, skipped = available(profile.perturbation_methods, clf, profile.user_methods)
        res.skipped.update({(plan.spec, m): r for m, r in skipped.items()})
        res.budgets[plan.spec] = plan.budget
        ran[plan.spec] = (plan, methods, shape)
        for (img_id, img), target, p in zip(images, targets, probabilities, strict=True):
            items = []  # one job per image, so that workers share a model's images
            res.images[(plan.spec, img_id)] = img
            res.targets[(plan.spec, img_id)] = target
            res.probabilities[(plan.spec, img_id)] = p
            for method in methods:
                opts = method_options(plan, method, shape, profile.black_box)
                key = explanation_key(model=fp, state={"stage": "original"},
                                      image=array_hash(img), method=method, options=opts,
                                      seed=profile.seed, target=target)
                index[(plan.spec, img_id, method)] = key
                items.append(ExplainItem(key, img_id, img, method, opts, profile.seed, target))
            jobs.append(ExplainJob(plan.spec, "original", (), 0, tuple(items),
                                   pipe.cache_root))
    res.timings["plan"] = time.perf_counter() - t0
    entries = pipe.run(jobs, index, stats="maps", timing="explain")
    for (model, img_id, method), entry in entries.items():
        res.maps[(model, img_id, method)] = entry["saliency"]
        meta = entry["meta"]
        res.explanations.append({
            "model": model, "image": img_id, "method": method,
            "budget": res.budgets[model] if method in profile.black_box else None,
            "n_evaluations": meta.get("n_evaluations"), "seconds": meta.get("seconds")})
    return ran, index


def explain_variants(pipe: Pipeline, ran: dict, variants: dict, *,
                     input_map: tuple[float, float] | None = None,
                     methods=None) -> dict:
    """Every method's map of other versions of the plans' images, through ``pipe``, with
    the options, seed and target of the image's own map (the maps :func:`explain_plans`
    made): ``(model, image, variant, method) -> (H, W) map``.

    ``ran``: :func:`explain_plans`' first result; ``variants``: ``(model, image) ->
    {variant name: (H, W, C) image}``; ``input_map``: ``(scale, shift)``, the model fed
    ``(z - shift) / scale`` (:class:`~leg.harness.engine.jobs.ExplainJob`); ``methods``:
    ``model -> methods`` to explain (default: all that explained the model). An item that
    fails is in ``result.errors`` and missing from the result.
    """
    res, profile = pipe.result, pipe.profile
    state = {"stage": "original"} if input_map is None else {
        "stage": "original", "input_map": [float(v) for v in input_map]}
    jobs, index = [], {}
    for (model, img_id), versions in variants.items():
        plan, ran_methods, shape = ran[model]
        fp = res.fingerprints[model]
        target = res.targets[(model, img_id)]
        items = []
        for method in (methods or {}).get(model, ran_methods):
            opts = method_options(plan, method, shape, profile.black_box)
            for name, img in versions.items():
                key = explanation_key(model=fp, state=state, image=array_hash(img),
                                      method=method, options=opts, seed=profile.seed,
                                      target=target)
                index[(model, img_id, name, method)] = key
                items.append(ExplainItem(key, f"{img_id}~{name}", img, method, opts,
                                         profile.seed, target, calibrate=False))
        if items:
            jobs.append(ExplainJob(model, "original" if input_map is None else "input-map",
                                   (), 0, tuple(items), pipe.cache_root, input_map))
    entries = pipe.run(jobs, index, stats="variants", timing="explain variants")
    return {name: entry["saliency"] for name, entry in entries.items()}


def price_maps(profile, images_dir: str | None, models: dict, suite: str) -> list:
    """The work of explaining every image of the comparison plans with every method (a
    suite that shares these maps with another pays them once: the cache)."""
    from leg.harness.engine.plan import Work, overhead, plural
    from leg.harness.methods import record

    out = []
    methods = profile.perturbation_methods
    for plan in profile.perturbation:
        shape = input_shape(models[plan.spec])
        n_img = len(image_ids(plan.spec, plan.n_images, images_dir))
        evals = grads = 0
        for method in methods:
            opts = method_options(plan, method, shape, profile.black_box)
            e, g = record(method, profile.user_methods).cost(opts, shape[2], opts.get("budget"))
            evals, grads = evals + e, grads + g
        out.append(Work(suite, plan.spec, f"maps ({plural(n_img, 'image')} x "
                        f"{plural(len(methods), 'method')})",
                        n_img * len(methods), n_img * evals, n_img * grads,
                        n_img * overhead(methods)))
    return out
