"""Where the harness's heavy work runs: in this process, in a pool of processes, or on a Ray
cluster (:mod:`evaluation.ray_executor`).

Work comes as *jobs* — one model state and its items (:class:`evaluation.cache.ExplainJob`,
:class:`evaluation.perturbation_suite.ScoreJob`), each with a ``label`` and a ``cache`` —
and a *produce* function: a picklable top-level generator ``produce(job, done)`` that
computes the items whose keys are not in ``done`` and yields one :data:`Entry`
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
status, and :func:`evaluation.cache.run_jobs` computes it once more.
"""

from __future__ import annotations

import concurrent.futures as cf
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["DAMAGED", "EXECUTORS", "Entry", "Executor", "JobTime", "ProcessExecutor",
           "SequentialExecutor", "make_executor", "resolve_executor", "run_here", "store"]

EXECUTORS = ("sequential", "process", "ray")
#: Status of an item whose entry came back from a worker damaged (it is computed again).
DAMAGED = "error: damaged entry from the worker"

Entry = tuple[str, str, float, "bytes | None"]  # key, status, seconds, encoded cache entry
Produce = Callable[[Any, frozenset], Iterator[Entry]]
Tasks = Sequence[tuple[Any, frozenset]]  # (job, keys of its items already in the cache)


@dataclass(frozen=True)
class JobTime:
    """How long one job took on the machine (``node``) that ran it; items it computed."""

    job: str
    seconds: float
    computed: int
    node: str


def timed(produce: Produce, job, done: frozenset) -> Iterator[Entry | JobTime]:
    """``produce(job, done)``'s entries, then the job's :class:`JobTime`."""
    t0, computed = time.perf_counter(), 0
    for entry in produce(job, done):
        computed += entry[3] is not None
        yield entry
    yield JobTime(job.label, time.perf_counter() - t0, computed, platform.node())


def store(job, output: Entry | JobTime) -> tuple[str, str, float] | JobTime:
    """Write an entry's data into ``job.cache`` (checked first): ``(key, status, seconds)``.

    An entry that does not decode as its key's is set aside (``damaged/``, with a warning)
    and gets the :data:`DAMAGED` status. A :class:`JobTime` passes through.
    """
    from evaluation.cache import DamagedEntry

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
    safe. Each worker loads its models once (see :func:`evaluation.inputs.load_model`).
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


def resolve_executor(kind: str | None, workers: int, address: str | None = None) -> str:
    """The executor ``kind`` names (``None``: ``sequential`` for 0 workers, else
    ``process``), after checking that ``workers`` and ``address`` fit it."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"The number of workers must be an integer >= 0; got {workers!r}.")
    kind = kind or ("sequential" if workers == 0 else "process")
    if kind not in EXECUTORS:
        raise ValueError(f"Unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}.")
    if kind == "sequential" and workers:
        raise ValueError(f"The sequential executor runs in this process; {workers} workers "
                         "need the process or ray executor.")
    if kind == "process" and not workers:
        raise ValueError("The process executor needs a number of workers >= 1.")
    if address is not None and kind != "ray":
        raise ValueError(f"A Ray address ({address!r}) needs the ray executor.")
    return kind


def make_executor(workers: int = 0, kind: str | None = None, address: str | None = None
                  ) -> Executor:
    """The executor for ``kind`` (see :func:`resolve_executor`). ``ray``: a
    :class:`evaluation.ray_executor.RayExecutor` at ``address`` (default ``"local"``)."""
    kind = resolve_executor(kind, workers, address)
    if kind == "sequential":
        return SequentialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    from evaluation.ray_executor import RayExecutor

    return RayExecutor(workers, address or "local")
