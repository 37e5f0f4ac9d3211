"""The saliency methods the harness runs: one :class:`Method` record each (its facts, next to
its code: ``METHOD`` or ``METHODS`` in each module here), gathered in :data:`METHODS`, and
the baselines' explainers, registered in :data:`leg.explainers.EXPLAINERS` on import (LEG's
and LEG-TV's are the library's). A new method is one module here with its explainer and its
record, listed in :data:`_MODULES`; a user's method gets its record from its factory
(:mod:`leg.harness.methods.user`).

Every baseline is built as ``Baseline(classifier, *, budget=None, batch_size=64, **options)``
and called as ``explain(image, target=None, *, seed=None)``, returning a
:class:`leg.explainers.Explanation` with a finite ``(H, W)`` float64 ``saliency``.

==========================  ==========================================================
name                        budget means
==========================  ==========================================================
``lime``                    LIME's ``num_samples`` (default 1000)
``kernel-shap``             SHAP's ``nsamples`` (default 1000; +2 evaluations)
``occlusion``               most patches (default 1000; +1 for the unperturbed image)
``rise``                    number of masks (default 1000)
``smoothgrad``              noisy copies = gradient evaluations (default 50)
``integrated-gradients``    path steps = gradient evaluations (default ``steps=50``)
``gradient``, ``grad-cam``  ignored (one gradient evaluation)
``guided-backprop``         ignored (one gradient evaluation, ReLUs guided)
``guided-grad-cam``         ignored (two: Grad-CAM's and guided backprop's)
``random``, ``edge``        ignored (the map ignores the model)
``random-cells``            ignored (random per block of ``cell_size`` px)
``true-map``                ignored (ground-truth models only: their exact gradient)
==========================  ==========================================================

Resolving ``target=None`` (the image's top-1 class) costs one evaluation of the
unperturbed image except for occlusion, Grad-CAM and Guided Grad-CAM, whose own pass gives it;
``Explanation.n_evaluations`` counts every image the model saw, forward or backward.
"""

from __future__ import annotations

from collections.abc import Iterable

from leg.harness.methods import (
    edge,
    grad_cam,
    gradient,
    guided_backprop,
    guided_grad_cam,
    integrated_gradients,
    kernel_shap,
    leg,
    lime,
    occlusion,
    random_map,
    rise,
    smoothgrad,
    true_map,
)
from leg.harness.methods.edge import Edge
from leg.harness.methods.grad_cam import GradCAM
from leg.harness.methods.gradient import Gradient
from leg.harness.methods.guided_backprop import GuidedBackprop, NoReLUWarning
from leg.harness.methods.guided_grad_cam import GuidedGradCAM
from leg.harness.methods.integrated_gradients import IntegratedGradients
from leg.harness.methods.kernel_shap import KernelSHAP
from leg.harness.methods.lime import LIME
from leg.harness.methods.occlusion import Occlusion
from leg.harness.methods.random_map import RandomCells, RandomMap
from leg.harness.methods.record import Method
from leg.harness.methods.rise import RISE
from leg.harness.methods.smoothgrad import SmoothGrad
from leg.harness.methods.true_map import TrueMap

__all__ = [
    "BASELINES", "METHODS", "Edge", "GradCAM", "Gradient", "GuidedBackprop", "GuidedGradCAM",
    "IntegratedGradients", "KernelSHAP", "LIME", "Method", "NoReLUWarning", "Occlusion",
    "RISE", "RandomCells", "RandomMap", "SmoothGrad", "TrueMap", "available", "defaults",
    "ours", "record",
]

#: The modules whose records make :data:`METHODS`, in the order the reports list methods.
_MODULES = (leg, lime, kernel_shap, occlusion, rise, grad_cam, integrated_gradients,
            smoothgrad, gradient, guided_backprop, guided_grad_cam, random_map, true_map, edge)

#: Every built-in method's record, by name, in report order.
METHODS: dict[str, Method] = {
    m.name: m for module in _MODULES for m in getattr(module, "METHODS", None)
    or (module.METHOD,)}

#: The baselines (every built-in method but LEG's own and the ground-truth oracle).
BASELINES = tuple(name for name, m in METHODS.items() if not m.ours and m.needs != "true-map")


def record(name: str, users: Iterable[Method] = ()) -> Method:
    """The record of ``name``: a built-in method's, one of the user's (``users``), or a
    default one (reported) for an explainer registered with :func:`leg.explainers.register`
    alone; ``KeyError`` naming the known methods otherwise."""
    for m in users:
        if m.name == name:
            return m
    if name in METHODS:
        return METHODS[name]
    from leg.explainers import EXPLAINERS

    if name in EXPLAINERS:  # registered with the library's API, without a record: reported
        return Method(name, "an explainer registered with leg.explainers.register",
                      suites={"sanity", "perturbation", "groundtruth"})
    raise KeyError(f"Unknown method {name!r}; choose from {', '.join(METHODS)}.")


def ours(users: Iterable[Method] = ()) -> tuple[str, ...]:
    """The methods under test that the reports mark (LEG, LEG-TV; a user's own method is
    asserted, not marked)."""
    return tuple(name for name, m in METHODS.items() if m.ours) + tuple(
        m.name for m in users if m.ours)


def defaults(suite: str) -> tuple[str, ...]:
    """The built-in methods ``suite`` runs unless ``--leg-methods`` says otherwise."""
    return tuple(name for name, m in METHODS.items() if suite in m.suites)


def available(names: Iterable[str], classifier, users: Iterable[Method] = ()
              ) -> tuple[list[str], dict[str, str]]:
    """``(names that can explain classifier, {name: why not})``: the one rule every suite
    applies (:meth:`Method.applies_to`; a built-in explainer that is not registered is
    skipped too)."""
    from leg.explainers import EXPLAINERS

    users = tuple(users)
    ok, skipped = [], {}
    for name in names:
        m = record(name, users)
        why = None if m.target or name in EXPLAINERS else "not registered"
        why = why or m.applies_to(classifier)
        if why:
            skipped[name] = why
        else:
            ok.append(name)
    return ok, skipped
