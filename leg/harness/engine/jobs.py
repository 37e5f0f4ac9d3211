"""The harness's work as jobs: planned by the suites, run through an executor, stored in the cache.

A *job* is one model in one state (original, randomized stage, permuted-label twin) with a
list of ``(image, method, options, seed, target)`` *items* (:class:`ExplainJob`), or any
other picklable object with ``items`` (each with a ``key``), a ``cache`` and a ``label``
(the perturbation scores, the estimands). :func:`run_jobs` submits the items not yet in the
cache to an :mod:`leg.harness.engine.executors`, which stores each entry the moment it is done; the
suites then read every result back from the cache. Parametrized tests only read and assert.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from leg.harness.engine.cache import ExplanationCache
from leg.harness.engine.executors import JobOutput

__all__ = ["ExplainItem", "ExplainJob", "calibration_images", "compute_explanations",
           "explain_job", "run_job", "run_jobs"]


@dataclass(frozen=True)
class ExplainItem:
    """One explanation to compute: ``method`` with ``options`` on ``image`` for ``target``.

    ``calibrate=False``: the image is not one of the job's batch-norm calibration images
    (a noisy copy of one of them, for smooth MPRT: the randomized model must be the same
    whether or not its noisy copies are explained with it)."""

    key: str
    image_id: str
    image: np.ndarray = field(repr=False, compare=False)
    method: str
    options: dict = field(compare=False)
    seed: int | None
    target: int
    calibrate: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class ExplainJob:
    """Items sharing one model state: ``model_spec`` with ``groups`` re-initialised.

    ``groups`` empty: the model as loaded. ``randomization_seed`` seeds the
    re-initialisation (:func:`leg.harness.checks.randomization.layers.randomized`); its batch-norm
    statistics are re-estimated on :func:`calibration_images` of ``items`` (every distinct
    image of the job, whichever of them is still to compute). ``input_map``:
    ``(scale, shift)``, the model fed ``(z - shift) / scale`` instead of ``z``
    (:class:`leg.harness.engine.inputs.ShiftedClassifier`; input invariance).
    """

    model_spec: str
    state: str
    groups: tuple[str, ...]
    randomization_seed: int
    items: tuple[ExplainItem, ...]
    cache_root: str
    input_map: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        return f"{self.model_spec}:{self.state}"

    @property
    def cache(self) -> ExplanationCache:
        return ExplanationCache(self.cache_root)


def _make(method: str, clf, options: dict, channels: int):
    from leg.explainers import make_explainer
    from leg.harness.methods import METHODS  # importing the baselines registers them
    from leg.harness.methods.user import FACTORY_OPTION, make_user_explainer

    opts = dict(options)
    if FACTORY_OPTION in opts:  # the user's own method (leg.harness.methods.user)
        return make_user_explainer(method, opts.pop(FACTORY_OPTION), clf, **opts)
    rec = METHODS.get(method)  # an unknown one: make_explainer says so
    if rec is not None and rec.sampled:  # LEG-style sampling: per channel or joint, quietly
        opts.setdefault("channels", channels)
        opts.setdefault("progress", False)
    return make_explainer(method, clf, **opts)


def _shared_leg_pairs(items: Sequence[ExplainItem]) -> dict[int, int]:
    """Indices ``leg-tv item -> leg item`` that can share one set of samples."""
    pairs = {}
    for i, tv in enumerate(items):
        if tv.method != "leg-tv":
            continue
        tv_leg = {k: v for k, v in tv.options.items() if k not in ("lam", "solver")}
        for j, lg in enumerate(items):
            if (lg.method == "leg" and lg.image_id == tv.image_id and lg.seed == tv.seed
                    and lg.target == tv.target and lg.options == tv_leg
                    and j not in pairs.values()):
                pairs[i] = j
                break
    return pairs


def _explain_items(clf, items: Sequence[ExplainItem], info: dict) -> Iterator[JobOutput]:
    from leg.estimator import estimate_leg, estimate_leg_tv

    pairs = _shared_leg_pairs(items)
    done: set[int] = set()
    leg_partner = {j: i for i, j in pairs.items()}
    for i, it in enumerate(items):
        if i in done:
            continue
        t0 = time.perf_counter()
        channels = it.image.shape[2]
        if i in pairs or i in leg_partner:
            i, j = (i, pairs[i]) if i in pairs else (leg_partner[i], i)
            it = items[i]
            try:
                tv = _make("leg-tv", clf, it.options, channels)
                responses = tv.leg.sample(it.image, seed=it.seed)
                sampled = time.perf_counter() - t0
                leg_res = estimate_leg(responses, it.target, **tv.leg.estimation)
                t1 = time.perf_counter()
                tv_res = estimate_leg_tv(responses, it.target, lambdas=[tv.lam],
                                         solver=tv.solver, reliability=None,
                                         **tv.leg.estimation)[0]  # map only
                t2 = time.perf_counter()
            except Exception as exc:  # both maps of the pair fail; the job goes on
                for idx in (i, j):
                    yield items[idx].key, f"error: {type(exc).__name__}: {exc}", 0.0, None
                    done.add(idx)
                continue
            for idx, res, secs in ((j, leg_res, t1 - t0), (i, tv_res, sampled + t2 - t1)):
                key = items[idx].key
                yield key, "computed", secs, ExplanationCache.encode(key, res.saliency, {
                    **info, "method": items[idx].method, "image": items[idx].image_id,
                    "seconds": secs, "n_evaluations": int(res.n_evaluations),
                    "shared_samples": True})
                done.add(idx)
            continue
        done.add(i)
        try:
            ex = _make(it.method, clf, it.options, channels)
            res = ex.explain(it.image, it.target, seed=it.seed)
        except Exception as exc:  # reported per item; the run goes on with the others
            yield it.key, f"error: {type(exc).__name__}: {exc}", 0.0, None
            continue
        secs = time.perf_counter() - t0
        n_eval = getattr(res, "n_evaluations", None)
        yield it.key, "computed", secs, ExplanationCache.encode(
            it.key, np.asarray(res.saliency, dtype=np.float64),
            {**info, "method": it.method, "image": it.image_id, "seconds": secs,
             "n_evaluations": None if n_eval is None else int(n_eval)})


def calibration_images(items: Sequence[ExplainItem]) -> np.ndarray:
    """``(N, H, W, C)``: the distinct images of ``items`` (by id) that calibrate, sorted by
    id."""
    distinct = {it.image_id: it.image for it in items if it.calibrate}
    return np.stack([distinct[k] for k in sorted(distinct)])


def explain_job(job: ExplainJob, done: frozenset[str] = frozenset()) -> Iterator[JobOutput]:
    """Compute the job's items whose keys are not in ``done``, wherever the job runs.

    Yields ``(key, "computed", seconds, encoded entry)`` per item as it finishes, or
    ``(key, "error: <message>", 0.0, None)`` for an item whose explainer raised (it does
    not stop the others). Writes nothing: see :mod:`leg.harness.engine.executors`.
    """
    from leg.harness.engine.inputs import load_model_once

    todo = [it for it in job.items if it.key not in done]
    if not todo:
        return
    clf = load_model_once(job.model_spec)
    if job.input_map is not None:
        from leg.harness.engine.inputs import ShiftedClassifier

        scale, shift = job.input_map
        clf = ShiftedClassifier(clf, shift, scale=scale)
    if job.groups:
        from leg.harness.checks.randomization.layers import randomized

        context = randomized(clf, job.groups, seed=job.randomization_seed,
                             calibration=calibration_images(job.items))
    else:
        context = nullcontext(clf)
    info = {"model": job.model_spec, "state": job.state}
    with context:
        yield from _explain_items(clf, todo, info)


def run_jobs(jobs: Sequence, produce, executor=None, *, desc: str = "items"
             ) -> dict[str, tuple[str, float]]:
    """Compute the missing items of ``jobs`` with ``produce`` (see
    :mod:`leg.harness.engine.executors`)
    through ``executor`` (default: in this process): ``key -> (status, seconds)``.

    Status ``"cached"`` (an intact entry was there; damaged ones are set aside on the way),
    ``"computed"`` or ``"error: <message>"``. Jobs whose items are all cached are not
    submitted; an entry a worker sent back damaged is computed once more. A progress bar
    (tqdm, on a terminal) counts the items as they finish; where the output is not a
    terminal (a CI log), a line per finished job says how far the run is
    (:class:`_JobLines`).
    """
    from tqdm.auto import tqdm

    from leg.harness.engine.executors import DAMAGED, SequentialExecutor

    executor = executor or SequentialExecutor()
    status: dict[str, tuple[str, float]] = {}
    tasks = []
    for job in jobs:
        done = frozenset(it.key for it in job.items if it.key in job.cache)
        status.update({k: ("cached", 0.0) for k in done})
        if len(done) < len({it.key for it in job.items}):
            tasks.append((job, done))
    retried: set[str] = set()
    stream = getattr(executor, "progress", None) or sys.stderr
    while tasks:
        total = sum(len({it.key for it in job.items} - done) for job, done in tasks)
        lines = None if _isatty(stream) else _JobLines(stream, desc, tasks, total)
        with tqdm(total=total, desc=desc, unit="item", disable=None, leave=False,
                  file=getattr(executor, "progress", None)) as bar:
            for key, st, secs in executor.run_jobs(produce, tasks):
                status[key] = (st, secs)
                bar.update()
                if lines is not None:
                    lines.finished(key)
        again = {k for k, (st, _) in status.items() if st.startswith(DAMAGED)} - retried
        retried |= again
        tasks = [(job, frozenset(it.key for it in job.items) - again) for job in jobs
                 if any(it.key in again for it in job.items)]
    return status


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _JobLines:
    """One line per finished job, for logs that are not a terminal: what finished, how many
    items of the whole call are done, the time so far and an estimate of what is left (at
    the pace so far)."""

    def __init__(self, stream, desc: str, tasks, total: int):
        self.stream, self.desc, self.total = stream, desc, total
        self.t0 = time.perf_counter()
        self.done = 0
        self.left: dict = {}  # job index -> items still to come
        self.job_of: dict[str, int] = {}
        self.labels: list[str] = []
        for i, (job, done) in enumerate(tasks):
            keys = {it.key for it in job.items} - done
            self.left[i] = len(keys)
            self.job_of.update(dict.fromkeys(keys, i))
            self.labels.append(getattr(job, "label", f"job {i + 1}"))
        self.jobs_done = 0

    def finished(self, key: str) -> None:
        self.done += 1
        i = self.job_of.get(key)
        if i is None:
            return
        self.left[i] -= 1
        if self.left[i]:
            return
        self.jobs_done += 1
        elapsed = time.perf_counter() - self.t0
        rest = elapsed / self.done * (self.total - self.done)
        self.stream.write(f"leg: {self.desc}: job {self.jobs_done}/{len(self.labels)} "
                          f"({self.labels[i]}) done; {self.done}/{self.total} items in "
                          f"{_clock(elapsed)}, about {_clock(rest)} left\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def run_job(job: ExplainJob) -> list[tuple[str, str, float]]:
    """Compute the job's missing items in this process: ``(key, status, seconds)`` per item
    (``"cached"``, ``"computed"`` or ``"error: <message>"``)."""
    return [(k, st, secs) for k, (st, secs) in run_jobs([job], explain_job).items()]


def compute_explanations(jobs: Sequence[ExplainJob], executor=None
                         ) -> dict[str, tuple[str, float]]:
    """Run ``jobs`` (through ``executor``; default in this process): ``key -> (status, s)``
    (see :func:`run_jobs`)."""
    return run_jobs(jobs, explain_job, executor, desc="explanations")
