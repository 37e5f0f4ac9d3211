"""Where the harness's heavy work runs, chosen by name (``--leg-executor``): ``sequential`` (in
this process), ``process`` (a pool of processes; :mod:`.local`) or ``ray`` (a Ray cluster;
:mod:`.ray`).

Work comes as *jobs* (each with a ``label``, a ``cache`` and ``items`` with keys) and a
*produce* function ``produce(job, done)`` that computes the items not in ``done`` and yields
one ``(key, status, seconds, data)`` per item (:mod:`.local` says more). A worker process that
dies costs only the item it was computing (:mod:`.watch`).
"""

from __future__ import annotations

from leg.harness.engine.executors.local import (
    DAMAGED,
    Executor,
    JobOutput,
    JobTime,
    ProcessExecutor,
    SequentialExecutor,
    run_here,
    store,
)
from leg.harness.engine.executors.watch import KILL_ENV, MAX_ATTEMPTS

__all__ = ["DAMAGED", "EXECUTORS", "KILL_ENV", "MAX_ATTEMPTS", "Executor", "JobOutput", "JobTime",
           "ProcessExecutor", "SequentialExecutor", "make_executor", "resolve_executor",
           "run_here", "store"]

EXECUTORS = ("sequential", "process", "ray")


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
    :class:`leg.harness.engine.executors.ray.RayExecutor` at ``address`` (default ``"local"``)."""
    kind = resolve_executor(kind, workers, address)
    if kind == "sequential":
        return SequentialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    from leg.harness.engine.executors.ray import RayExecutor

    return RayExecutor(workers, address or "local")
