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

A worker process that dies (killed by the OOM killer, a crash in native code) costs only
the item it was computing: the pool and Ray executors resubmit the rest of its job and
retry that item up to :data:`~leg.harness.engine.executors.watch.MAX_ATTEMPTS` times, after
which it is that item's error (:mod:`leg.harness.engine.executors.watch`).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import platform
import signal
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from leg.harness.engine.cache import DamagedEntry
from leg.harness.engine.executors.watch import (
    MAX_ATTEMPTS,
    WORKERS_DIR,
    Retries,
    WorkerFile,
    cache_root,
    died_status,
    exit_reason,
    read_worker_files,
    remove_worker_files,
    watched,
)

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


def run_watched(produce: Produce, job, done: frozenset, task: str) -> list:
    """:func:`run_here` in a pool's worker, keeping its worker file up to date (the item in
    progress, the items stored so far: :class:`~leg.harness.engine.executors.watch.WorkerFile`)."""
    record = WorkerFile(cache_root(job), task, job.label)
    results = []

    def watching(job, done):
        return watched(produce, job, done, on_start=record.write)

    for out in timed(watching, job, done):
        results.append(stored := store(job, out))
        if not isinstance(stored, JobTime):
            record.finished.append(list(stored))
    return results


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
        self.retries: list[dict] = []  # a worker died computing an item (watch.Retries)
        self.worker_deaths = 0

    def _report(self, outputs: Iterable) -> Iterator[tuple[str, str, float]]:
        for out in outputs:
            if isinstance(out, JobTime):
                self.job_times.append(asdict(out))
            else:
                yield out

    def describe(self) -> dict:
        """``{"executor", "workers", "cpus", "nodes", "jobs": [JobTime as dict, ...],
        "retries": [{"job", "item", "worker_exit", "attempt"}, ...], "worker_deaths"}``."""
        return {"executor": self.name, "workers": self.workers,
                "cpus": max(self.workers, 1), "nodes": 1, "jobs": list(self.job_times),
                "retries": list(self.retries), "worker_deaths": self.worker_deaths}

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

    When a worker dies the pool breaks and fails every job it held; this executor then reads
    the pool's exit codes and the workers' files (:mod:`leg.harness.engine.executors.watch`):
    the item of each dead worker is blamed (recorded in :attr:`retries`), the items the jobs
    stored before the break are reported as they were, and the rest of every job goes to a
    new pool (its ``done`` read again from the cache). The other workers, which the broken
    pool terminated (SIGTERM), are not blamed (a worker that died of a SIGTERM of its own
    cannot be told from them: then all of them are). An item whose worker died
    :data:`~leg.harness.engine.executors.watch.MAX_ATTEMPTS` times gets the status
    ``"error: the worker computing it died (killed by signal SIGKILL) 3 times"`` and is not
    computed again.
    """

    name = "process"

    def __init__(self, workers: int):
        super().__init__()
        if workers < 1:
            raise ValueError(f"The 'workers' parameter must be >= 1; got {workers}.")
        self.workers = int(workers)
        self._run = uuid.uuid4().hex[:12]  # task ids: unique to this executor
        self._count = itertools.count()
        self._roots: set = set()  # cache roots where this executor's workers keep files
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        import multiprocessing

        self._procs: dict = {}  # pid -> multiprocessing.Process, of the current pool
        return cf.ProcessPoolExecutor(max_workers=self.workers,
                                      mp_context=multiprocessing.get_context("spawn"))

    def run_jobs(self, produce: Produce, tasks: Tasks) -> Iterator[tuple[str, str, float]]:
        queue = list(tasks)
        running: dict = {}  # future -> (task id, job, done)
        retries = Retries(self.retries)
        unexplained = 0  # pool breaks in a row that no item could be blamed for
        try:
            while queue or running:
                queue = self._submit(produce, queue, running)
                if running and not getattr(self._pool, "_broken", False):
                    finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    if not any(isinstance(fut.exception(), cf.process.BrokenProcessPool)
                               for fut in finished):
                        for fut in finished:
                            yield from self._report(fut.result())
                            del running[fut]
                        continue
                # the pool broke: settle every future, then run the rest on a new pool
                broken = []
                self._procs.update(getattr(self._pool, "_processes", None) or {})
                self._pool.shutdown(wait=True)
                for fut, task in running.items():
                    if fut.cancelled() or isinstance(fut.exception(),
                                                     cf.process.BrokenProcessPool):
                        broken.append(task)
                    else:
                        yield from self._report(fut.result())
                running = {}
                blamed = yield from self._recover(broken, queue, retries)
                unexplained = 0 if blamed else unexplained + 1
                if unexplained >= MAX_ATTEMPTS:
                    raise cf.process.BrokenProcessPool(
                        f"The process pool broke {unexplained} times in a row and no item "
                        "could be blamed (workers dying before or between jobs).")
        finally:
            for fut in running:
                fut.cancel()

    def _submit(self, produce: Produce, queue: list, running: dict) -> list:
        """Submit ``queue``'s tasks; those left when the pool is found broken."""
        for i, (job, done) in enumerate(queue):
            task = f"{self._run}-{next(self._count)}"
            try:
                fut = self._pool.submit(run_watched, produce, job, done, task)
            except cf.process.BrokenProcessPool:
                return queue[i:]
            self._roots.add(str(cache_root(job)))
            running[fut] = (task, job, done)
            self._procs.update(getattr(self._pool, "_processes", None) or {})
        return []

    def _recover(self, broken: list, queue: list, retries: Retries):
        """After the pool broke: report what the broken jobs stored, blame the items of the
        dead workers, queue the rest of each job; a new pool. Returns whether an item was
        blamed."""
        exits = {}
        for pid, proc in self._procs.items():
            proc.join(timeout=10)
            if proc.exitcode not in (None, 0):
                exits[pid] = proc.exitcode
        # the broken pool terminates (SIGTERM) the workers that were still alive
        dead = {pid: code for pid, code in exits.items() if code != -signal.SIGTERM} or exits
        self.worker_deaths += len(dead)
        records = read_worker_files({str(cache_root(job)) for _, job, _ in broken})
        blamed = False
        for task, job, done in broken:
            record = records.get(task, {})
            reported = set(done)
            for key, status, seconds in record.get("finished", []):
                reported.add(key)
                yield key, status, seconds
            item = record.get("item")
            if item is not None and record.get("pid") in dead:
                blamed = True
                reason = exit_reason(dead[record["pid"]])
                attempt = retries.died(job.label, item, reason)
                if attempt >= MAX_ATTEMPTS:
                    reported.add(item)
                    yield item, died_status(reason, attempt), 0.0
            for it in job.items:  # stored by the worker after its file's last update
                if it.key not in reported and it.key in job.cache:
                    reported.add(it.key)
                    yield it.key, "computed", 0.0
            if any(it.key not in reported for it in job.items):
                queue.append((job, frozenset(reported)))
        remove_worker_files(self._roots, self._procs)
        self._pool = self._new_pool()
        return blamed

    def shutdown(self) -> None:
        self._procs.update(getattr(self._pool, "_processes", None) or {})
        self._pool.shutdown(wait=True, cancel_futures=True)
        remove_worker_files(self._roots, self._procs)
        for root in self._roots:  # the folder, unless a test hook's marker is in it
            try:
                (Path(root) / WORKERS_DIR).rmdir()
            except OSError:
                pass
