"""The harness's jobs on a Ray cluster (``--leg-executor ray``; ``pip install -e ".[ray]"``).

``RayExecutor(workers, address)``: ``address="local"`` starts a Ray instance on this machine
with ``workers`` CPUs (0: all of them) and stops it at :meth:`~RayExecutor.shutdown`;
``"auto"`` joins the cluster that ``ray start --head`` started on this machine; any other
value is a cluster's address (``host:6379``, ``ray://host:10001``). In a process where Ray
is already initialised, that instance is used (and left running).

How the work runs — Ray's own machinery, no scheduler of ours:

* each job is one Ray task, a *Ray generator* (``ray.wait`` over all of them): every item
  it finishes is streamed back to the driver, which checks the entry and writes it into
  the cache at once (:func:`leg.harness.engine.executors.store`). Workers need neither the
  driver's disk nor a shared filesystem, and an interrupted run keeps every entry that
  reached the driver: run again, it recomputes nothing that finished;
* a worker process loads each model once and keeps it for the tasks it runs next
  (:func:`leg.harness.engine.inputs.load_model_once`'s per-process memo; Ray reuses its workers);
* the jobs' arrays (images, maps) go into the object store once each (``ray.put``), however
  many jobs share them; so does a model given as a file (``--leg-model my.keras``), which a
  worker without that file writes to its temporary folder;
* a task whose worker dies (killed, out of memory, node lost) costs only the item it was
  computing: the driver, which has every entry the task streamed back, knows that item (the
  first of the job's items it has not received) and resubmits the rest of the job, that
  item included, up to :data:`~leg.harness.engine.executors.watch.MAX_ATTEMPTS` deaths in
  all; then the item gets the status ``"error: the worker computing it died
  (WorkerCrashedError: <Ray's reason>) 3 times"`` and the job goes on without it. Ray's own
  retry (``max_retries``) is off: it would run the whole generator again from its first item
  and leave no trace the driver can record. Each death is recorded in
  :meth:`~RayExecutor.describe` (``retries``, ``worker_deaths``);
* an exception raised by the job itself is not retried and is raised again in the driver
  as the worker raised it (with a note naming the job and node), not as a Ray traceback.
  Workers' output stays in Ray's logs (``/tmp/ray/session_latest``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import fields, replace
from functools import partial
from pathlib import Path

import numpy as np

from leg.harness.engine.executors.local import JobTime, Produce, Tasks, _Executor, store, timed
from leg.harness.engine.executors.watch import (
    MAX_ATTEMPTS,
    Retries,
    died_status,
    in_progress,
    watched,
)
from leg.harness.engine.inputs import MODEL_OPTIONS_ENV

__all__ = ["INSTALL_HINT", "RayExecutor", "import_ray"]

INSTALL_HINT = 'Ray, an optional extra of leg: pip install -e ".[ray]"'


def import_ray():
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f'The ray executor needs {INSTALL_HINT} (or "ray>=2.9").') from exc
    return ray


class RayExecutor(_Executor):
    """Runs jobs as Ray tasks on a local Ray instance or a cluster (see the module)."""

    name = "ray"

    def __init__(self, workers: int = 0, address: str = "local"):
        super().__init__()
        ray = import_ray()
        self.address = address
        self._owner = not ray.is_initialized()
        if self._owner:
            quiet = {"include_dashboard": False, "log_to_driver": False,
                     "configure_logging": True, "logging_level": logging.ERROR}
            if address == "local":
                # the workers' BLAS uses as many threads as this process's (Ray's default
                # is 1), so their maps are bit-identical to those computed here
                threads = os.environ.get("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))
                env = {"OMP_NUM_THREADS": threads}
                if os.environ.get(MODEL_OPTIONS_ENV):  # --leg-input-size & co.
                    env[MODEL_OPTIONS_ENV] = os.environ[MODEL_OPTIONS_ENV]
                ray.init(num_cpus=workers or None, runtime_env={"env_vars": env}, **quiet)
            else:
                try:
                    _check_reachable(address)
                    options = os.environ.get(MODEL_OPTIONS_ENV)
                    ray.init(address=address, **quiet, **(
                        {"runtime_env": {"env_vars": {MODEL_OPTIONS_ENV: options}}}
                        if options else {}))
                except Exception as exc:  # Ray raises ConnectionError, ValueError, ...
                    raise ConnectionError(
                        f"Could not join the Ray cluster at {address!r} ({exc}). Start one "
                        "with `ray start --head` and pass --leg-ray-address auto (or its "
                        "address), or use --leg-ray-address local.") from exc
        self.cpus = int(ray.cluster_resources().get("CPU", 0))
        self.nodes = sum(bool(n.get("Alive")) for n in ray.nodes())
        self.workers = self.cpus
        # a worker that dies: the driver resubmits the rest of the job (see the module)
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(_run_remote)
        self._refs: dict[object, tuple] = {}  # id(array) or file -> (value, ObjectRef)

    def run_jobs(self, produce: Produce, tasks: Tasks) -> Iterator[tuple[str, str, float]]:
        ray = import_ray()
        deaths = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                  ray.exceptions.OutOfMemoryError)
        retries = Retries(self.retries)
        running: dict = {}  # generator -> (job, keys done or received)

        def submit(job, done):
            gen = self._remote.remote(produce, self._by_reference(job), frozenset(done),
                                      self._model_file(job.model_spec))
            running[gen] = (job, set(done))

        for job, done in tasks:
            submit(job, done)
        try:
            while running:
                [gen], _ = ray.wait(list(running), num_returns=1)
                job, received = running[gen]
                try:
                    output = ray.get(next(gen))
                except StopIteration:
                    del running[gen]
                    continue
                except ray.exceptions.RayTaskError as exc:
                    raise _worker_error(exc, job.label) from None
                except deaths as exc:  # the worker (or its node) died
                    del running[gen]
                    yield from self._died(job, received, exc, retries, submit)
                    continue
                if not isinstance(output, JobTime):
                    received.add(output[0])
                yield from self._report([store(job, output)])
        finally:
            for gen in running:
                ray.cancel(gen)
            self._refs.clear()

    def _died(self, job, received: set, exc, retries: Retries, submit):
        """The worker running ``job`` died: blame the item it was computing, resubmit the
        rest (without that item once it has killed :data:`MAX_ATTEMPTS` workers)."""
        self.worker_deaths += 1
        item = in_progress(job, received)
        if item is None:  # it died after its last item: nothing is lost
            return
        reason = _one_line(exc)
        if retries.died(job.label, item, reason) >= MAX_ATTEMPTS:
            received.add(item)
            yield item, died_status(reason, MAX_ATTEMPTS), 0.0
        if in_progress(job, received) is not None:
            submit(job, received)

    def _put(self, value, key=None):
        """One object-store reference per distinct object (or ``key``), kept while in use."""
        key = id(value) if key is None else key
        if key not in self._refs:
            self._refs[key] = (value, import_ray().put(value))
        return self._refs[key][1]

    def _by_reference(self, job):
        """``job`` with every array of its items replaced by an object-store reference."""
        items = tuple(replace(it, **{f.name: self._put(getattr(it, f.name)) for f in fields(it)
                                     if isinstance(getattr(it, f.name), np.ndarray)})
                      for it in job.items)
        return replace(job, items=items)

    def _model_file(self, spec: str):
        """The bytes of a model given as a file (by reference), else ``None``."""
        path = Path(spec)
        return self._put(path.read_bytes(), key=path.resolve()) if path.is_file() else None

    def describe(self) -> dict:
        return {**super().describe(), "address": self.address, "cpus": self.cpus,
                "nodes": self.nodes}

    def shutdown(self) -> None:
        if self._owner:
            import_ray().shutdown()
            self._owner = False


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast on a ``host:port`` nobody answers (Ray itself would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and "://" not in address:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass


def _run_remote(produce: Produce, job, done: frozenset, model_file: bytes | None
                ) -> Iterator:
    """On a Ray worker: fetch the job's arrays (and model file), then run it (a generator
    of entries and, last, its :class:`~leg.harness.engine.executors.JobTime`)."""
    import ray

    refs = {id(v): v for it in job.items for f in fields(it)
            if isinstance(v := getattr(it, f.name), ray.ObjectRef)}
    values = dict(zip(refs, ray.get(list(refs.values())), strict=True))
    items = tuple(replace(it, **{f.name: values[id(v)] for f in fields(it)
                                 if isinstance(v := getattr(it, f.name), ray.ObjectRef)})
                  for it in job.items)
    job = replace(job, items=items)
    if model_file is not None and not Path(job.model_spec).is_file():
        job = replace(job, model_spec=_local_copy(job.model_spec, model_file))
    yield from timed(partial(watched, produce), job, done)  # watched: the kill hook


def _local_copy(spec: str, data: bytes) -> str:
    """A copy of the model file ``spec`` in this machine's temporary folder."""
    from leg._files import write_bytes

    path = (Path(tempfile.gettempdir()) / "leg-ray-models"
            / hashlib.sha256(data).hexdigest()[:16] / Path(spec).name)
    if not path.is_file():
        write_bytes(path, data)
    return str(path)


def _one_line(exc, limit: int = 200) -> str:
    """Ray's reason for a death in one line: ``"WorkerCrashedError: <first sentence>"``."""
    text = " ".join(str(exc).split())
    first = text.split(". ")[0].rstrip(".")
    if len(first) > limit:
        first = first[:limit - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _worker_error(exc, label: str) -> BaseException:
    """The exception a job raised on its worker (Ray's wrapper removed), with a note."""
    cause = getattr(exc, "cause", None)
    if not isinstance(cause, BaseException):
        return RuntimeError(f"The job {label} failed on a Ray worker: {exc}")
    cause.add_note(f"(raised on a Ray worker, running the job {label})")
    return cause

