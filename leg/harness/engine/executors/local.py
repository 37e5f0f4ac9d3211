"""The executors that share the driver's disk: in this process, or in a pool of processes;
what every executor shares (storing entries, timing jobs). The Ray executor is
:mod:`leg.harness.engine.executors.ray`; :mod:`leg.harness.engine.executors` picks one by
name.

Work comes as *jobs* — one model state and its items (:class:`leg.harness.engine.jobs.ExplainJob`,
:class:`leg.harness.checks.faithfulness.suite.ScoreJob`), each with a ``label`` and a ``cache`` —
and a *produce* function: a picklable top-level generator ``produce(job, done)`` that
computes the items whose keys are not in ``done`` and yields one :data:`JobOutput`
``(key, status, seconds, data)`` per item as it finishes, ``data`` being the encoded cache
entry (``None`` when the item failed; ``status`` then says why). Executors differ only in
where ``produce`` runs and who writes ``data`` into ``job.cache``:

* the sequential and process executors share the driver's disk: the process that computes
  an entry writes it at once (:func:`run_here`), so a crash loses only the entry in
  progress;
* the Ray executor's workers may run on machines without that disk: every entry is
  streamed back to the driver as it is yielded and the driver writes it.

Either way an entry is checked (it must decode as its own key's) before it is written
(:func:`store`); one that does not is set aside and reported with the :data:`DAMAGED`
status, and :func:`leg.harness.engine.jobs.run_jobs` computes it once more.
"""

from __future__ import annotations

import concurrent.futures as cf
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from leg.harness.engine.cache import DamagedEntry

__all__ = ["DAMAGED", "Executor", "JobOutput", "JobTime", "ProcessExecutor",
           "SequentialExecutor", "run_here", "store"]

#: Status of an item whose entry came back from a worker damaged (it is computed again).
DAMAGED = "error: damaged entry from the worker"

JobOutput = tuple[str, str, float, "bytes | None"]  # key, status, seconds, encoded cache entry
Produce = Callable[[Any, frozenset], Iterator[JobOutput]]
Tasks = Sequence[tuple[Any, frozenset]]  # (job, keys of its items already in the cache)


@dataclass(frozen=True)
class JobTime:
    """How long one job took on the machine (``node``) that ran it; items it computed."""

    job: str
    seconds: float
    computed: int
    node: str


def timed(produce: Produce, job, done: frozenset) -> Iterator[JobOutput | JobTime]:
    """``produce(job, done)``'s entries, then the job's :class:`JobTime`."""
    t0, computed = time.perf_counter(), 0
    for entry in produce(job, done):
        computed += entry[3] is not None
        yield entry
    yield JobTime(job.label, time.perf_counter() - t0, computed, platform.node())


def store(job, output: JobOutput | JobTime) -> tuple[str, str, float] | JobTime:
    """Write an entry's data into ``job.cache`` (checked first): ``(key, status, seconds)``.

    An entry that does not decode as its key's is set aside (``damaged/``, with a warning)
    and gets the :data:`DAMAGED` status. A :class:`JobTime` passes through.
    """
    if isinstance(output, JobTime):
        return output
    key, status, seconds, data = output
    if data is not None:
        try:
            job.cache.put_bytes(key, data)
        except DamagedEntry as exc:
            job.cache.set_aside(key, f"sent back by a worker: {exc}", data)
            status = f"{DAMAGED}: {exc}"
    return key, status, seconds


def run_here(produce: Produce, job, done: frozenset) -> list:
    """Run one job in this process, writing each entry as it finishes (for process pools)."""
    return [store(job, out) for out in timed(produce, job, done)]


@runtime_checkable
class Executor(Protocol):
    name: str
    workers: int

    def run_jobs(self, produce: Produce, tasks: Tasks) -> Iterator[tuple[str, str, float]]:
        """Run ``produce(job, done)`` for every task; store the entries; yield
        ``(key, status, seconds)`` per item as it finishes (in any order)."""

    def describe(self) -> dict: ...

    def shutdown(self) -> None: ...


class _Executor:
    """What every executor shares: per-job times, a description for ``run.json``."""

    name = "?"
    workers = 0
    progress = None  # file for the progress bars (None: stderr; shown only on a terminal)

    def __init__(self):
        self.job_times: list[dict] = []

    def _report(self, outputs: Iterable) -> Iterator[tuple[str, str, float]]:
        for out in outputs:
            if isinstance(out, JobTime):
                self.job_times.append(asdict(out))
            else:
                yield out

    def describe(self) -> dict:
        """``{"executor", "workers", "cpus", "nodes", "jobs": [JobTime as dict, ...]}``."""
        return {"executor": self.name, "workers": self.workers,
                "cpus": max(self.workers, 1), "nodes": 1, "jobs": self.job_times}

    def shutdown(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


class SequentialExecutor(_Executor):
    """Runs each job in this process, one after the other."""

    name = "sequential"

    def run_jobs(self, produce: Produce, tasks: Tasks) -> Iterator[tuple[str, str, float]]:
        for job, done in tasks:
            yield from self._report(store(job, out) for out in timed(produce, job, done))


class ProcessExecutor(_Executor):
    """A ``concurrent.futures.ProcessPoolExecutor`` of ``workers`` processes, one job each.

    Uses the ``spawn`` start method: forking a process that has started TensorFlow is not
    safe. Each worker loads its models once (see :func:`leg.harness.engine.inputs.load_model_once`).
    """

    name = "process"

    def __init__(self, workers: int):
        import multiprocessing

        super().__init__()
        if workers < 1:
            raise ValueError(f"The 'workers' parameter must be >= 1; got {workers}.")
        self.workers = int(workers)
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                            mp_context=multiprocessing.get_context("spawn"))

    def run_jobs(self, produce: Produce, tasks: Tasks) -> Iterator[tuple[str, str, float]]:
        futures = [self._pool.submit(run_here, produce, job, done) for job, done in tasks]
        try:
            for fut in cf.as_completed(futures):
                yield from self._report(fut.result())
        finally:
            for fut in futures:
                fut.cancel()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
