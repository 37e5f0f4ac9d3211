"""Vanilla gradient (Simonyan et al., 2014)."""

from __future__ import annotations

from leg._validation import check_choice
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_gradient_classifier
from leg.harness.methods.record import Method

SCORES = ("probability", "logit")


def gradient_kwargs(score: str | None) -> dict:
    """Keyword arguments for ``classifier.gradient``: ``score=`` only when one was chosen."""
    return {} if score is None else {"score": check_choice(score, "score", SCORES)}


@register("gradient")
class Gradient(Baseline):
    """The gradient of the target score w.r.t. the pixels, summed over channels (signed).

    Parameters
    ----------
    classifier
        A :class:`~leg.models.KerasClassifier` or any classifier with a
        ``gradient(images, target)`` method returning ``(N, H, W, C)``.
    budget
        Ignored (one gradient evaluation; resolving ``target=None`` costs one forward one).
    batch_size
        See :class:`~leg.harness.methods._base.Baseline`.
    score : {"probability", "logit"}, optional
        Passed to ``classifier.gradient`` as ``score=`` when given (KerasClassifier:
        differentiate the softmax output or the raw model output; default its own).
    """

    name = "gradient"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 score: str | None = None):
        check_gradient_classifier(self.name, classifier)
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.score_kwargs = gradient_kwargs(score)

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        grad = model.gradient(image[None], target, **self.score_kwargs)[0]
        return grad.sum(axis=2), target


METHOD = Method(
    "gradient", "The gradient of the class score (Simonyan et al., 2014)", gradients=1,
    needs_gradient=True, suites={"sanity", "perturbation", "groundtruth"})
