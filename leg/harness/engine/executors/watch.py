"""Workers that die: which item each one was computing, how often an item was retried, and a
test hook that kills one.

A worker process killed mid-job (SIGKILL, as the kernel's OOM killer does) leaves no
exception behind, only an exit code. What the executors need to know then is the item it
was computing: every produce function computes a job's items in order (a LEG and LEG-TV
pair sharing its samples comes out together), so the item in progress is always the first
of the job's items not yet finished. :func:`watched` follows that and calls ``on_start`` with
it before each item:

* the process pool's workers keep a *worker file*, ``<cache_root>/.workers/<pid>.json``
  (:class:`WorkerFile`, written atomically): the task, the job, the item in progress and the
  items finished so far with their statuses. When a worker dies the pool breaks; the
  executor reads the files to know what each of its workers was doing
  (:class:`leg.harness.engine.executors.ProcessExecutor`);
* Ray's workers need none: their entries stream to the driver, which knows which item comes
  next (:class:`leg.harness.engine.executors.ray.RayExecutor`).

An item is blamed only for the death of the worker computing it, and retried up to
:data:`MAX_ATTEMPTS` times in all (:class:`Retries`); then it becomes that item's error
(:func:`died_status`) and the run goes on without it.

Testing hook: ``LEG_EVAL_KILL_WORKER_AT=n`` (:data:`KILL_ENV`) makes a worker process SIGKILL
itself when it is about to start its ``n``-th item, once per cache root (the first worker to
get there creates the marker ``<cache_root>/.workers/killed-at-<n>``; the worker that takes
the job over, and every later one, finds it and lives on).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from leg._files import write_text

__all__ = ["KILL_ENV", "MAX_ATTEMPTS", "WORKERS_DIR", "Retries", "WorkerFile", "cache_root",
           "died_status", "exit_reason", "in_progress", "read_worker_files", "remove_worker_files",
           "watched"]

#: Deaths of the worker computing an item before the item becomes an error.
MAX_ATTEMPTS = 3
KILL_ENV = "LEG_EVAL_KILL_WORKER_AT"
WORKERS_DIR = ".workers"
_STARTED = 0  # items this process started (for the kill hook)


def cache_root(job) -> Path:
    """The folder of ``job``'s cache (``job.cache_root``, else ``job.cache.root``)."""
    root = getattr(job, "cache_root", None)
    return Path(root if root is not None else job.cache.root)


def in_progress(job, finished) -> str | None:
    """The key of the first of ``job``'s items not in ``finished`` (``None``: all are)."""
    return next((it.key for it in job.items if it.key not in finished), None)


def watched(produce, job, done: frozenset, on_start: Callable[[str | None], None] | None = None
            ) -> Iterator:
    """``produce(job, done)``'s outputs; before each item, ``on_start(key of the item about
    to be computed)``, and ``on_start(None)`` once the job is through. Runs the kill hook
    (:data:`KILL_ENV`)."""
    finished = set(done)
    started: set[str] = set()
    outputs = produce(job, done)
    while True:
        current = in_progress(job, finished)
        if on_start is not None:
            on_start(current)
        if current is not None and current not in started:
            started.add(current)
            _count_start(cache_root(job))
        try:
            out = next(outputs)
        except StopIteration:
            return
        finished.add(out[0])
        yield out


def _count_start(root: Path) -> None:
    """Count an item this process starts; SIGKILL it at its ``$LEG_EVAL_KILL_WORKER_AT``-th,
    unless a worker of this cache root already died there."""
    global _STARTED
    _STARTED += 1
    at = os.environ.get(KILL_ENV)
    if not at or _STARTED != int(at):
        return
    marker = root / WORKERS_DIR / f"killed-at-{int(at)}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except OSError:  # another worker died there already (or no disk here): live on
        return
    os.kill(os.getpid(), signal.SIGKILL)


class WorkerFile:
    """``<cache_root>/.workers/<pid>.json``: what this worker process is doing for ``task``
    (written atomically before each item, see :func:`read_worker_files`)."""

    def __init__(self, root: str | os.PathLike, task: str, label: str):
        self.path = Path(root) / WORKERS_DIR / f"{os.getpid()}.json"
        self.task, self.label = task, label
        self.finished: list = []  # [key, status, seconds] of the items stored so far

    def write(self, item: str | None) -> None:
        try:
            write_text(self.path, json.dumps({"pid": os.getpid(), "task": self.task,
                                              "job": self.label, "item": item,
                                              "finished": self.finished}))
        except OSError:  # bookkeeping only: the job goes on (a death is then not blamed)
            pass


def read_worker_files(roots) -> dict[str, dict]:
    """The worker files under ``roots``, by task (unreadable ones are skipped)."""
    out = {}
    for root in roots:
        for path in (Path(root) / WORKERS_DIR).glob("[0-9]*.json"):
            try:
                record = json.loads(path.read_text())
                out[record["task"]] = record
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return out


def remove_worker_files(roots, pids) -> None:
    """Remove the worker files (and temporary files left half-written) of ``pids``."""
    for root in roots:
        folder = Path(root) / WORKERS_DIR
        for pid in pids:
            for path in (folder / f"{pid}.json", *folder.glob(f".{pid}.json.*")):
                try:
                    path.unlink()
                except OSError:
                    pass


def exit_reason(exitcode: int) -> str:
    """``"SIGKILL"`` for a process killed by a signal (negative exit code), else
    ``"exit code <n>"``."""
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def died_status(reason: str, times: int) -> str:
    """The one-line status of an item whose worker died ``times`` times: ``reason`` is a
    signal's name (``"killed by signal SIGKILL"``), an exit code, or Ray's words."""
    if reason.startswith("SIG") or reason.startswith("signal "):
        reason = f"killed by signal {reason.removeprefix('signal ')}"
    return f"error: the worker computing it died ({reason}) {times} times"


class Retries:
    """Deaths of workers per item, recorded for ``run.json`` (``retries``): one entry per
    death blamed on an item; the :data:`MAX_ATTEMPTS`-th is not retried."""

    def __init__(self, log: list):
        self.log = log
        self.deaths: dict[str, int] = {}

    def died(self, label: str, key: str, worker_exit: str) -> int:
        """Record a death of the worker computing ``key``; the number of deaths so far."""
        n = self.deaths[key] = self.deaths.get(key, 0) + 1
        self.log.append({"job": label, "item": key, "worker_exit": worker_exit, "attempt": n})
        return n
