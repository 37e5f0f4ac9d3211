"""Evaluation profiles as data: which models, images, methods, budgets, stages, repeats.

``smoke``
    Fits in 3 minutes on 2 CPU cores, TensorFlow start-up included (with the zoo's models
    already cached; the first run also trains the digits CNNs, about a minute). Digits CNN
    (6 test digits, all 4 cascading stages, 2 independent, label randomization) and three
    Lite0 photos at a coarse 14x14 grid in joint mode with 48 samples, cascading to the
    classifier, the last block and full randomization.
``standard`` (default)
    About 10-20 minutes: 10 digits, every digits stage; 3 Lite0 photos, 14x14 grid, joint,
    160 samples, 7 cascading stages.
``paper``
    The paper-sized run (hours on a laptop; meant for ``--leg-workers`` or a cluster):
    4 photos at the paper's 28x28 grid, per-channel sampling, every Lite0 group, 3 repeats.

Verdict thresholds (also in every report): for each model, method and metric, the
*reference* is the similarity between explanations of different images under the original
model ("unrelated maps"). A check passes when the similarity between the original and the
randomized explanation of the same image is at most the reference's ``quantile`` plus
``margin`` (per metric) — see :func:`evaluation.sanity.verdict`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

__all__ = ["PROFILES", "METHODS", "ModelPlan", "Profile", "Thresholds", "get_profile"]

#: Methods in the sanity suites, and their role.
METHODS = {
    "leg": "asserted",
    "leg-tv": "asserted",
    "gradient": "reported",
    "random": "reported",
    "edge": "control",  # model-independent: the check must catch it
}


@dataclass(frozen=True)
class Thresholds:
    """Verdict rule: pass iff similarity <= quantile(reference, ``quantile``) + margin."""

    quantile: float = 0.95
    margin: dict = field(default_factory=lambda: {
        "spearman_abs": 0.1, "spearman_signed": 0.1, "ssim": 0.1, "hog_pearson": 0.1})
    #: Metrics whose verdict decides a test (all four by default).
    decisive: tuple[str, ...] = ("spearman_abs", "spearman_signed", "ssim", "hog_pearson")


@dataclass(frozen=True)
class ModelPlan:
    """What to run on one model.

    ``cascade_at``: groups after which the cascade is explained (``None``: after every
    group; full randomization is always included). ``independent``: groups randomized
    alone. ``label_twin``: spec of the same architecture trained on permuted labels, or
    ``None``. ``options``: per-method explainer options (``budget`` = model evaluations
    where the method has one). ``cell_size="auto"`` means ``min(H, W) // 16``.
    """

    spec: str
    n_images: int
    cascade_at: tuple[str, ...] | None = None
    independent: tuple[str, ...] = ()
    label_twin: str | None = None
    options: dict = field(default_factory=dict)


def _digits_options(n: int) -> dict:
    leg = {"cell_size": 2, "n_samples": n, "sigma": 0.05}
    return {"leg": leg, "leg-tv": {**leg, "lam": 0.075}, "gradient": {}, "random": {},
            "edge": {}}


def _lite0_options(cell: int, n: int, mode: str) -> dict:
    leg = {"cell_size": cell, "n_samples": n, "mode": mode, "batch_size": 32}
    return {"leg": leg, "leg-tv": {**leg, "lam": 0.075}, "gradient": {}, "random": {},
            "edge": {}}


@dataclass(frozen=True)
class Profile:
    """A named evaluation size. ``repeats``: seeds per stochastic explanation (metrics are
    averaged over them); ``seed``: base seed of explanations; ``randomization_seed``: seed
    of the re-initialised weights; ``regression_tolerance``: absolute change of a metric
    in its bad direction that fails a comparison with ``--leg-baseline``."""

    name: str
    description: str
    models: tuple[ModelPlan, ...]
    methods: tuple[str, ...] = tuple(METHODS)
    repeats: int = 1
    seed: int = 0
    randomization_seed: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)
    regression_tolerance: float = 0.1
    generic_options: dict = field(default_factory=lambda: _lite0_options("auto", 128, "joint"))

    def model_plan(self, spec: str) -> ModelPlan:
        """This profile's plan for ``spec``; a user model gets a generic plan."""
        for plan in self.models:
            if plan.spec == spec:
                return plan
        return ModelPlan(spec, n_images=0, cascade_at=None, options=self.generic_options)

    def with_overrides(self, *, model: str | None = None, methods=None,
                       seed: int | None = None) -> Profile:
        """A copy with command-line overrides applied (one model, a method subset, a seed)."""
        p = self
        if model is not None:
            p = replace(p, models=(p.model_plan(model),))
        if methods is not None:
            unknown = [m for m in methods if m not in METHODS]
            if unknown:
                raise ValueError(f"Unknown sanity methods {unknown}; choose from {list(METHODS)}.")
            p = replace(p, methods=tuple(methods))
        if seed is not None:
            p = replace(p, seed=int(seed))
        return p

    def identity(self) -> dict:
        """Everything that defines this run's numbers (JSON-ready)."""
        d = asdict(self)
        d.pop("description")
        return d

    def parameters_hash(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="CI-sized: digits CNN and three Lite0 photos at a coarse grid (<= 3 min).",
        models=(
            ModelPlan("digits", n_images=6, cascade_at=None, independent=("logits", "conv1"),
                      label_twin="digits-permuted", options=_digits_options(200)),
            ModelPlan("lite0", n_images=3, cascade_at=("logits", "block15", "stem"),
                      options=_lite0_options(16, 48, "joint")),
        ),
    ),
    "standard": Profile(
        name="standard",
        description="Default: every digits stage and seven Lite0 cascading stages (~15 min).",
        models=(
            ModelPlan("digits", n_images=10, cascade_at=None,
                      independent=("logits", "dense1", "conv2", "conv1"),
                      label_twin="digits-permuted", options=_digits_options(400)),
            ModelPlan("lite0", n_images=3,
                      cascade_at=("logits", "head", "block15", "block11", "block7", "block3",
                                  "stem"),
                      independent=("logits", "block7"),
                      options=_lite0_options(16, 160, "joint")),
        ),
    ),
    "paper": Profile(
        name="paper",
        description="Paper-sized: 28x28 grid, per-channel sampling, every group, 3 repeats.",
        models=(
            ModelPlan("digits", n_images=10, cascade_at=None,
                      independent=("logits", "dense1", "conv2", "conv1"),
                      label_twin="digits-permuted", options=_digits_options(1000)),
            ModelPlan("lite0", n_images=4, cascade_at=None,
                      independent=("logits", "head", "block15", "block7", "block0", "stem"),
                      options=_lite0_options(8, 300, "per_channel")),
        ),
        repeats=3,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.")
    return PROFILES[name]
