"""Guided Grad-CAM (Selvaraju et al., ICCV 2017): guided backprop times Grad-CAM."""

from __future__ import annotations

from leg.explainers import register
from leg.harness.methods._base import Baseline
from leg.harness.methods.grad_cam import DegenerateMapWarning, GradCAM, is_constant
from leg.harness.methods.guided_backprop import (
    GuidedBackprop,
    NoReLUWarning,
    check_guided_classifier,
    constant_reason,
    flag,
    model_name,
    no_relu_message,
)
from leg.harness.methods.record import Method


@register("guided-grad-cam")
class GuidedGradCAM(Baseline):
    """Guided backprop ``(H, W, C)`` times the upsampled Grad-CAM map ``(H, W)``, summed
    over channels (signed; the Grad-CAM factor is non-negative).

    The two factors are those of the ``guided-backprop`` and ``grad-cam`` baselines with
    the same options (:class:`~leg.harness.methods.guided_backprop.GuidedBackprop`,
    :class:`~leg.harness.methods.grad_cam.GradCAM`: the same layer choice and computation);
    Grad-CAM's pass resolves ``target=None``. Flagged in ``Explanation.degenerate`` when
    guided backprop modified no activation (:class:`NoReLUWarning`: the map is the gradient
    times Grad-CAM), when the Grad-CAM factor is constant (zero everywhere makes the map
    zero; another constant makes it guided backprop, scaled) or when the map is constant
    (:class:`DegenerateMapWarning`).

    Parameters
    ----------
    classifier : KerasClassifier or TorchClassifier
    budget
        Ignored: two gradient evaluations (Grad-CAM's, guided backprop's).
    batch_size
        See :class:`~leg.harness.methods._base.Baseline`.
    layer
        Grad-CAM's layer (see :class:`~leg.harness.methods.grad_cam.GradCAM`).
    score : {"probability", "logit"}, optional
        The score both factors differentiate. Default: each factor's own default —
        guided backprop the classifier's output (``"probability"``, as the ``gradient``
        baseline), Grad-CAM the raw model output (``"logit"``, the paper's).
    """

    name = "guided-grad-cam"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 layer=None, score: str | None = None):
        check_guided_classifier(self.name, classifier)
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        scored = {} if score is None else {"score": score}
        self.cam = GradCAM(classifier, batch_size=batch_size, layer=layer, **scored)
        self.guided_backprop = GuidedBackprop(classifier, batch_size=batch_size, **scored)
        self.cam_constant: float | None = None  # the last Grad-CAM map's value, if constant

    @property
    def layer_name(self):
        return self.cam.layer_name

    @property
    def n_modified(self) -> int | None:
        return self.guided_backprop.n_modified

    def explain(self, image, target=None, *, seed=None):
        """As :meth:`Baseline.explain`; flags a map for which guided backprop modified no
        activation, or a constant map, in ``degenerate``."""
        result = super().explain(image, target, seed=seed)
        reasons = []
        if self.n_modified == 0:
            reasons.append((no_relu_message(model_name(self.classifier)), NoReLUWarning))
        if self.cam_constant is not None:
            reasons.append((
                f"guided-grad-cam's Grad-CAM factor on layer {self.layer_name!r} is constant "
                f"({self.cam_constant:.3g} everywhere): the map is "
                + ("zero" if self.cam_constant == 0 else "guided backprop, scaled")
                + "; choose another layer with layer=", DegenerateMapWarning))
        elif is_constant(result.saliency):
            reasons.append((constant_reason(self.name, result.saliency), DegenerateMapWarning))
        return flag(result, reasons)

    def _saliency(self, image, target, seed, model):
        cam, target = self.cam._saliency(image, target, seed, model)
        self.cam_constant = float(cam.flat[0]) if is_constant(cam) else None
        grad = self.guided_backprop.guided(image, target, model)
        return (grad * cam[..., None]).sum(axis=2), target


METHOD = Method(
    "guided-grad-cam", "Guided Grad-CAM: Guided Backprop times the upsampled Grad-CAM map "
    "(Selvaraju et al., 2017)", gradients=2, needs_gradient=True, needs="network",
    suites={"sanity"})
