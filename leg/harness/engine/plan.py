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

import time
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Plan", "Probe", "Work", "make_plan", "overhead", "plural", "probe_model"]

#: Seconds of work per map besides the model (the regression, LEG-TV's linear program, the
#: similarities of the sanity suite), measured on this project's 2-core machine.
_OVERHEAD = {"leg": 0.05, "leg-tv": 0.3}
_OVERHEAD_OTHER = 0.02


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun`` in agreement: ``plural(1, "image")`` is ``"1 image"``,
    ``plural(6, "image")`` ``"6 images"``; ``many`` is the plural where it is not
    ``noun + "s"`` (``plural(3, "noisy copy", "noisy copies")``)."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


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


@dataclass(frozen=True)
class Decides:
    """What a suite's asserted checks on one model can decide with the images planned:
    ``n_images`` judged over, ``needed`` for any verdict at ``alpha``, and ``share``: the
    smallest share of images on which a method must beat its reference to be shown with 80 %
    power (``None``: no share can, too few images)."""

    suite: str
    model: str
    checks: tuple[str, ...]
    n_images: int
    needed: int
    share: float | None

    @property
    def decides(self) -> bool:
        return self.n_images >= self.needed

    def line(self) -> str:
        what = f"{self.suite} on {self.model} ({', '.join(self.checks)})"
        if not self.decides:
            return (f"  undecided: {what}: {plural(self.n_images, 'image')}, at least "
                    f"{self.needed} are needed for p < 0.05 (--leg-n-images {self.needed} or "
                    "more)")
        share = ("" if self.share is None else f"; shows a method better than its reference "
                 f"on {self.share:.0%} of images or more (80 % power)")
        return f"  decides:   {what}: {plural(self.n_images, 'image')}{share}"


@dataclass
class Plan:
    """Every :class:`Work` of a run, the probes it was priced with, what it can decide
    (:class:`Decides`), and notes."""

    profile: str
    work: list[Work] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    decides: list[Decides] = field(default_factory=list)

    @property
    def undecided(self) -> list[Decides]:
        return [d for d in self.decides if not d.decides]

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
                "probes": {k: asdict(v) for k, v in self.probes.items()}, "notes": self.notes,
                "decides": [asdict(d) for d in self.decides]}

    def lines(self) -> list[str]:
        """The plan as text lines for the terminal (and ``summary.md``)."""
        out = [f"leg plan: profile {self.profile}, estimated {_duration(self.seconds)} on this "
               "machine (cold cache)"]
        for spec, p in self.probes.items():
            grad = ("" if p.seconds_per_gradient is None
                    else f", {p.seconds_per_gradient * 1000:.1f} ms per gradient")
            out.append(f"  {spec}: {p.seconds_per_evaluation * 1000:.2f} ms per model "
                       f"evaluation{grad} (probe of {plural(p.batch, 'image')})")
        # every column as wide as its longest entry: names are printed whole
        what = max([len(w.what) for w in self.work] + [4]) + 2
        suite = max([len(w.suite) for w in self.work] + [5]) + 2
        model = max([len(w.model) for w in self.work] + [5]) + 2
        out.append(f"  {'suite':<{suite}}{'model':<{model}}{'work':<{what}}{'items':>7}"
                   f"{'evaluations':>13}{'gradients':>11}{'est.':>14}")
        for w in self.work:
            out.append(f"  {w.suite:<{suite}}{w.model:<{model}}{w.what:<{what}}{w.items:>7}"
                       f"{w.evaluations:>13,}{w.gradients:>11,}"
                       f"{_duration(w.seconds or 0.0):>14}")
        out += [d.line() for d in self.decides]
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


def _price(work: Work, probe: Probe | None) -> Work:
    if probe is None:
        return work
    secs = work.overhead + work.evaluations * probe.seconds_per_evaluation + work.gradients * (
        probe.seconds_per_gradient or 3 * probe.seconds_per_evaluation)
    return Work(**{**asdict(work), "seconds": secs})


def overhead(methods) -> float:
    """Seconds of work besides the model per map of each of ``methods`` (summed)."""
    return sum(_OVERHEAD.get(m, _OVERHEAD_OTHER) for m in methods)


def make_plan(profile, images_dir: str | None, suites, *, probe: bool = True) -> Plan:
    """The :class:`Plan` of ``suites`` (names, or :class:`~leg.harness.engine.suite.Suite`
    records) of ``profile`` on ``images_dir``: each suite prices its own work
    (:meth:`~leg.harness.engine.suite.Suite.price`) with probes of the models it loads;
    work that several suites share (the comparison plans' maps) is listed under the first."""
    from leg.harness.engine.inputs import load_model_once, zoo_images
    from leg.harness.engine.pipeline import input_shape
    from leg.harness.engine.suite import suite as suite_named

    chosen = [suite_named(s) if isinstance(s, str) else s for s in suites]
    plan = Plan(profile.name)
    specs = sorted({spec for s in chosen for spec in s.models(profile)})
    models = {spec: load_model_once(spec) for spec in specs}
    for spec, clf in models.items():
        if not probe:
            continue
        try:
            if spec.startswith("groundtruth:"):
                image = clf.base_image(0)
            elif images_dir:
                from leg.harness.engine.inputs import load_image_folder

                image = load_image_folder(images_dir, input_shape(clf))[0][1]
            else:
                image = zoo_images(spec, 1)[0][1]
            plan.probes[spec] = probe_model(clf, image)
        except Exception as exc:  # the plan is still printed, without a time
            plan.notes.append(f"{spec} could not be probed ({type(exc).__name__}: {exc})")
    work, first = [], {}
    for s in chosen:
        priced = s.price(profile, images_dir, models)
        for w in priced:  # models the suite makes itself (the ground-truth ones) it probes
            if probe and w.model not in plan.probes and w.model not in models:
                probed = s.probe(w.model)
                if probed is not None:
                    plan.probes[w.model] = probed
        for w in priced:  # work another suite does too (the comparison maps) is listed once
            if first.setdefault((w.model, w.what, w.items, w.evaluations), w.suite) == w.suite:
                work.append(w)
    plan.work = [_price(w, plan.probes.get(w.model)) for w in work]
    plan.decides = decides(profile, images_dir, chosen)
    if profile.user_methods:
        plan.notes.append("your own methods are counted at one evaluation per map (or their "
                          "budget): their real cost is theirs")
    return plan


def decides(profile, images_dir: str | None, suites) -> list[Decides]:
    """Per suite and model with asserted checks: whether the images planned can decide them
    (at least :func:`~leg.harness.checks.statistics.min_images_for` for p < 0.05), and the
    effect they can show (:func:`~leg.harness.checks.statistics.detectable`)."""
    from leg.harness.checks.statistics import detectable, min_images_for

    needed = min_images_for(0.05)
    out = []
    for s in suites:
        counts = s.image_counts(profile, images_dir)
        asserted: dict[str, list[str]] = {}
        for c in s.planned_cells(profile, images_dir):
            if c.asserted and c.check not in asserted.get(c.model, []):
                asserted.setdefault(c.model, []).append(c.check)
        for model, checks in asserted.items():
            if model in counts:
                n = counts[model]
                out.append(Decides(s.name, model, tuple(checks), n, needed, detectable(n)))
    return out
