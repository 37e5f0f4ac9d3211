"""Where the harness's heavy work runs: in this process, or in a pool of processes.

The suites only see the small :class:`Executor` interface — ``submit(fn, *args)`` returning
a future-like object with ``.result()``, ``map(fn, iterable)`` and ``shutdown()`` — so a
cluster engine (Dask, Ray, a batch queue) can be slotted in later by writing one class.
Work units must be picklable top-level functions with picklable arguments; each writes its
results to the on-disk cache itself (:mod:`evaluation.cache`), so a worker that dies loses
only what it had not yet written.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

__all__ = ["Executor", "ProcessExecutor", "SequentialExecutor", "make_executor"]


@runtime_checkable
class Executor(Protocol):
    workers: int

    def submit(self, fn: Callable, *args: Any) -> cf.Future: ...

    def map(self, fn: Callable, iterable: Iterable) -> Iterator: ...

    def shutdown(self) -> None: ...


class SequentialExecutor:
    """Runs each call at once in this process; ``submit`` returns a finished future."""

    workers = 0

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # delivered through .result(), like a real executor
            if not isinstance(exc, Exception):
                raise
            future.set_exception(exc)
        return future

    def map(self, fn: Callable, iterable: Iterable) -> Iterator:
        for item in iterable:
            yield fn(item)

    def shutdown(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


class ProcessExecutor:
    """A ``concurrent.futures.ProcessPoolExecutor`` of ``workers`` processes.

    Uses the ``spawn`` start method: forking a process that has started TensorFlow is not
    safe. Each worker loads its models once (see :func:`evaluation.inputs.load_model`).
    """

    def __init__(self, workers: int):
        import multiprocessing

        if workers < 1:
            raise ValueError(f"The 'workers' parameter must be >= 1; got {workers}.")
        self.workers = int(workers)
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                            mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def map(self, fn: Callable, iterable: Iterable) -> Iterator:
        return self._pool.map(fn, iterable)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def make_executor(workers: int = 0) -> SequentialExecutor | ProcessExecutor:
    """``workers = 0``: :class:`SequentialExecutor`; ``>= 1``: :class:`ProcessExecutor`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"The number of workers must be an integer >= 0; got {workers!r}.")
    return SequentialExecutor() if workers == 0 else ProcessExecutor(workers)
