"""Baseline saliency methods, registered in :data:`leg.explainers.EXPLAINERS` on import.

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
from leg.harness.methods.rise import RISE
from leg.harness.methods.smoothgrad import SmoothGrad
from leg.harness.methods.true_map import TrueMap

BASELINES = (
    "lime", "kernel-shap", "grad-cam", "integrated-gradients", "smoothgrad", "gradient",
    "occlusion", "rise", "random", "random-cells", "edge", "guided-backprop", "guided-grad-cam",
)  # + "true-map" (registered; ground-truth models only, so not among the generic baselines)

__all__ = [
    "BASELINES", "Edge", "GradCAM", "Gradient", "GuidedBackprop", "GuidedGradCAM",
    "IntegratedGradients", "KernelSHAP", "LIME", "NoReLUWarning", "Occlusion", "RISE",
    "RandomCells", "RandomMap", "SmoothGrad", "TrueMap",
]
