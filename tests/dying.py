"""Work that kills the worker process computing it (SIGKILL, as the kernel's OOM killer does),
for the tests of executors whose workers die.

* :class:`FakeJob` and :func:`fake_produce`: tiny jobs whose entries take a few ms; the item
  named by ``deadly`` kills its worker every time it is computed;
* :func:`dies_on_image`: a user method (``--leg-methods mine=tests.dying:dies_on_image``)
  that kills its worker for the image whose pixel hash starts with ``$LEG_TEST_DEADLY_IMAGE``
  and gives the absolute pixel values as its map for the others.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from leg.harness.engine.cache import ExplanationCache

DEADLY_IMAGE_ENV = "LEG_TEST_DEADLY_IMAGE"


@dataclass(frozen=True)
class FakeItem:
    key: str
    value: float


@dataclass(frozen=True)
class FakeJob:
    label: str
    items: tuple[FakeItem, ...]
    cache_root: str
    deadly: str | None = None  # the key of an item that kills its worker every time
    seconds: float = 0.05  # per item
    model_spec: str = "no model"  # (read by the Ray executor)

    @property
    def cache(self) -> ExplanationCache:
        return ExplanationCache(self.cache_root)


def fake_jobs(root, n_jobs: int = 3, n_items: int = 4, deadly: tuple[int, int] | None = None,
              seconds: float = 0.05) -> list[FakeJob]:
    """``n_jobs`` jobs of ``n_items`` items each; ``deadly=(job, item)``: that item kills its
    worker every time."""
    os.makedirs(root, exist_ok=True)
    jobs = []
    for j in range(n_jobs):
        items = tuple(FakeItem(hashlib.sha256(f"{j}-{i}".encode()).hexdigest(), 10.0 * j + i)
                      for i in range(n_items))
        bad = items[deadly[1]].key if deadly is not None and deadly[0] == j else None
        jobs.append(FakeJob(f"fake:{j}", items, str(root), bad, seconds))
    return jobs


def fake_produce(job: FakeJob, done):
    """Each item's entry is its value in a 2x2 map (and the pid that computed it); every item
    started is a line in ``<cache_root>/started.log`` (:func:`started`)."""
    for it in job.items:
        if it.key in done:
            continue
        with open(os.path.join(job.cache_root, "started.log"), "a") as log:
            log.write(f"{it.key}\n")
        if it.key == job.deadly:
            os.kill(os.getpid(), signal.SIGKILL)
        t0 = time.perf_counter()
        time.sleep(job.seconds)
        secs = time.perf_counter() - t0
        yield it.key, "computed", secs, ExplanationCache.encode(
            it.key, np.full((2, 2), it.value), {"pid": os.getpid()})


def started(root) -> dict[str, int]:
    """How many times :func:`fake_produce` started each item under ``root``."""
    counts: dict[str, int] = {}
    with open(os.path.join(root, "started.log")) as log:
        for line in log:
            counts[line.strip()] = counts.get(line.strip(), 0) + 1
    return counts


class _DiesOnImage:
    def __init__(self, classifier, **options):
        self.classifier = classifier

    def explain(self, image, target=None, *, seed=None):
        from leg.harness.engine.inputs import array_hash

        deadly = os.environ.get(DEADLY_IMAGE_ENV)
        if deadly and array_hash(np.asarray(image)).startswith(deadly):
            os.kill(os.getpid(), signal.SIGKILL)
        return np.abs(np.asarray(image, dtype=np.float64)).sum(axis=-1)


def dies_on_image(classifier, **options):
    """A user method's factory (see the module)."""
    return _DiesOnImage(classifier, **options)
