"""What the harness knows about a saliency method: one :class:`Method` record, kept next to
the method's code (``METHOD`` in each module of :mod:`leg.harness.methods`; the user's
methods get theirs from their factory, :mod:`leg.harness.methods.user`).

Every suite reads these facts from the record and nowhere else: whether the method's
``budget`` counts model evaluations (then it is compared at LEG's budget), what one map
costs, whether it needs the model's gradient or a convolution, what it estimates (the
target the ground-truth suite judges it against), which suites run it by default, and its
role in the checks (asserted, reported, a control that must fail, the floor of the
comparisons).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BUDGETS", "ESTIMANDS", "NEEDS", "ROLES", "Method", "has_true_map"]

#: What a method's ``budget`` option counts (``None``: it has no budget).
BUDGETS = ("model evaluations", "gradient evaluations")
#: What a method estimates: the local gradient (LEG, the gradient methods) or the effect of
#: removing parts of the image relative to a fill (occlusion, LIME, KernelSHAP, ...).
ESTIMANDS = ("gradient", "removal")
#: What a model must have for the method to explain it (beyond ``__call__``).
NEEDS = ("convolution", "true-map", "network")
#: A method's role in the sanity checks: ``asserted`` (the method under test: its checks
#: must pass), ``reported`` (shown, not asserted), ``control`` (model-independent: the checks
#: must catch it).
ROLES = ("asserted", "reported", "control")


def has_true_map(classifier) -> bool:
    """Whether ``classifier`` knows its true saliency (a ground-truth model of
    :mod:`leg.zoo.groundtruth`): what ``needs="true-map"`` asks for, and what has no
    convolution."""
    from leg.zoo.groundtruth import GroundTruthModel

    return isinstance(classifier, GroundTruthModel)


def _is_network(classifier) -> bool:
    from leg.models import KerasClassifier
    from leg.torch_models import TorchClassifier

    return isinstance(classifier, KerasClassifier | TorchClassifier)


@dataclass(frozen=True)
class Method:
    """The facts of one saliency method.

    ``budget``: what its ``budget`` option counts (:data:`BUDGETS`), ``None`` when it has
    none. ``gradients``: gradient evaluations of one map at its defaults (for the cost plan).
    ``sampled``: LEG-style sampling (``n_samples`` per sample set, ``mode``: the cost plan
    counts them, sMPRT splits them over its noisy copies, the explainer is told the image's
    channels). ``needs_gradient``: the model must have ``.gradient(images, target)``.
    ``needs``: :data:`NEEDS`. ``estimates``: :data:`ESTIMANDS`. ``suites``: the suites that
    run it unless ``--leg-methods`` says otherwise. ``role``: :data:`ROLES`. ``asserted``:
    the checks outside the sanity suite whose verdict on this method a test asserts.
    ``axioms``: the properties it claims by construction (``"completeness"``: its map sums
    to the score's change from its baseline), checked only for the methods that claim them.
    ``ours``: marked in the leaderboards (LEG, LEG-TV). ``floor``: the reference every
    faithfulness comparison is paired with. ``figure``: shown in the masked-images figure.
    ``target``: a user method's ``module:attribute`` (built in the workers from it).
    """

    name: str
    summary: str = ""
    budget: str | None = None
    gradients: int = 0
    sampled: bool = False
    needs_gradient: bool = False
    needs: str | None = None
    estimates: str = "gradient"
    suites: frozenset[str] = field(default_factory=frozenset)
    role: str = "reported"
    asserted: frozenset[str] = field(default_factory=frozenset)
    axioms: frozenset[str] = field(default_factory=frozenset)
    ours: bool = False
    floor: bool = False
    figure: bool = False
    target: str | None = None

    def __post_init__(self):
        for value, allowed, what in ((self.budget, BUDGETS, "budget"),
                                     (self.needs, NEEDS, "needs")):
            if value is not None and value not in allowed:
                raise ValueError(f"Method {self.name!r}: {what} must be one of {allowed} or "
                                 f"None; got {value!r}.")
        if self.estimates not in ESTIMANDS:
            raise ValueError(f"Method {self.name!r}: estimates must be one of {ESTIMANDS}; "
                             f"got {self.estimates!r}.")
        if self.role not in ROLES:
            raise ValueError(f"Method {self.name!r}: role must be one of {ROLES}; got "
                             f"{self.role!r}.")
        object.__setattr__(self, "suites", frozenset(self.suites))
        object.__setattr__(self, "asserted", frozenset(self.asserted))
        object.__setattr__(self, "axioms", frozenset(self.axioms))

    @property
    def black_box(self) -> bool:
        """Whether its budget counts model evaluations (compared at LEG's budget)."""
        return self.budget == "model evaluations"

    def cost(self, options: dict, channels: int, budget: int | None = None
             ) -> tuple[int, int]:
        """``(model evaluations, gradients)`` of one map with ``options`` on an image of
        ``channels`` channels (``budget``: the model evaluations it was given)."""
        if self.sampled:
            if budget is not None:
                return int(budget), 0
            n = options.get("n_samples", 300)
            n = int(options.get("max_samples", 4000) if n == "auto" else n)  # at most
            sets = channels if options.get("mode", "per_channel") == "per_channel" else 1
            return sets * n + 1, 0
        if self.gradients:
            return 1, self.gradients
        if self.budget is None:
            return 1, 0  # resolving the target
        return (int(budget) if budget is not None else 1), 0

    def applies_to(self, classifier) -> str | None:
        """Why this method cannot explain ``classifier`` (one line), or ``None``."""
        if self.needs_gradient and not callable(getattr(classifier, "gradient", None)):
            return "the model has no .gradient"
        if self.needs == "true-map" and not has_true_map(classifier):
            return ("the model's true saliency is unknown (ground-truth models of "
                    "leg.zoo.groundtruth only)")
        if self.needs == "convolution" and has_true_map(classifier):
            return f"{self.name} needs a convolutional layer; the ground-truth models have none"
        if self.needs == "network" and not _is_network(classifier):
            return (f"{self.name} needs a Keras or PyTorch network whose activations it can "
                    "modify (a leg.KerasClassifier or leg.TorchClassifier)")
        return None
