"""The chain every suite shares, written once: models, fingerprints, images and targets,
jobs through the executor, results read back from the cache, errors, cache statistics and
timings.

A suite's :meth:`~leg.harness.engine.suite.Suite.run` gets a :class:`Pipeline` and calls
it for everything but its own ends (its items and its scores)::

    clf = pipe.model(plan.spec)                       # loaded once, timed, fingerprinted
    images = pipe.images(plan.spec, plan.n_images, clf)
    targets, probabilities = pipe.top1(clf, images)
    ...                                               # the suite makes its jobs
    entries = pipe.run(jobs, index)                   # computed or cached, read back
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from leg.harness.engine.cache import ExplanationCache
from leg.harness.engine.inputs import (
    image_folder_names,
    load_image_folder,
    load_model_once,
    model_fingerprint,
    model_input_shape,
    zoo_images,
)
from leg.harness.engine.suite import SuiteResult

__all__ = ["MISSING", "Pipeline", "image_ids", "input_shape"]

#: Why an entry is not in the cache although its job said it was computed.
MISSING = "missing from the cache after computing it"


def input_shape(clf) -> tuple[int, int, int]:
    """``(H, W, C)`` of the model's images (a ground-truth model's ``image_shape``)."""
    from leg.harness.methods.record import has_true_map

    return tuple(clf.image_shape) if has_true_map(clf) else model_input_shape(clf)


def image_ids(spec: str, n: int, images_dir: str | None) -> list[str]:
    """The ids of the first ``n`` images (0: all) a suite explains for ``spec``, without
    loading them where that can be avoided: a ground-truth model's ``base0``, ``base1``,
    ...; the folder's file stems; the zoo's images (the digits are chosen by the models)."""
    from leg.zoo import TWINS

    if spec.startswith("groundtruth:"):
        return [f"base{i}" for i in range(n)]
    if images_dir:
        names = image_folder_names(images_dir)
        return [Path(name).stem for name in (names[:n] if n else names)]
    if spec.startswith("digits"):
        return [i for i, _ in zoo_images(spec, n)]
    if TWINS.get(spec, spec) == "lite0":
        from leg.zoo.photos import photo_names

        return photo_names()[:n]
    raise ValueError(f"The model {spec!r} ships no images; pass --leg-images DIR.")


class Pipeline:
    """One suite's run of the shared chain; what it measures goes into ``result`` (a
    :class:`~leg.harness.engine.suite.SuiteResult`: ``timings``, ``fingerprints``,
    ``errors``, ``cache_stats``)."""

    def __init__(self, profile, result: SuiteResult, *, cache_root: str | Path,
                 images_dir: str | None = None, masks_dir: str | None = None, executor=None,
                 needed: dict | None = None):
        from leg.harness.engine.executors import SequentialExecutor

        #: The results of the suites this one reads (:attr:`Suite.needs`), by name.
        self.needed = dict(needed or {})
        self.profile = profile
        self.result = result
        self.cache_root = str(cache_root)
        self.images_dir = images_dir
        #: ``--leg-masks``: one binary PNG per ``images_dir`` file, the object's region.
        self.masks_dir = masks_dir
        self.executor = executor or SequentialExecutor()

    # ------------------------------------------------------------------ models, images
    def model(self, spec: str, *, fingerprint: bool = True):
        """The model ``spec``, loaded once per process (the first load is timed as
        ``load:<spec>``) and fingerprinted into ``result.fingerprints``."""
        if fingerprint and spec in self.result.fingerprints:
            return load_model_once(spec)
        t0 = time.perf_counter()
        clf = load_model_once(spec)
        self.result.timings[f"load:{spec}"] = time.perf_counter() - t0
        if fingerprint:
            self.result.fingerprints[spec] = model_fingerprint(clf)
        return clf

    def fingerprint(self, spec: str) -> str:
        """The fingerprint of ``spec`` (loading it if needed)."""
        self.model(spec)
        return self.result.fingerprints[spec]

    def images(self, spec: str, n: int, clf) -> list[tuple[str, np.ndarray]]:
        """``(id, image)`` of the first ``n`` images (0: all) for ``spec``: a ground-truth
        model's base images, the ``--leg-images`` folder's, or the zoo's."""
        if spec.startswith("groundtruth:"):
            return [(f"base{i}", clf.base_image(i)) for i in range(n)]
        if self.images_dir:
            return load_image_folder(self.images_dir, input_shape(clf))[:n or None]
        return zoo_images(spec, n)

    def image_ids(self, spec: str, n: int) -> list[str]:
        """:func:`image_ids` of this run's folder."""
        return image_ids(spec, n, self.images_dir)

    @staticmethod
    def top1(clf, images: Sequence[tuple[str, np.ndarray]]) -> tuple[list[int], list[float]]:
        """The top-1 class of each image and its score (one batched call)."""
        if not images:
            return [], []
        scores = np.asarray(clf(np.stack([img for _, img in images])))
        return ([int(k) for k in np.argmax(scores, axis=1)],
                [float(p) for p in np.max(scores, axis=1)])

    # ------------------------------------------------------------------------- jobs
    def run(self, jobs: Sequence, index: dict, *, produce: Callable | None = None,
            desc: str = "explanations", cache=None, stats: str = "",
            timing: str | None = None) -> dict:
        """Compute the missing items of ``jobs`` through the executor and read every entry
        of ``index`` (``name -> key``) back: ``name -> entry``.

        ``produce``: the jobs' produce function (default
        :func:`leg.harness.engine.jobs.explain_job`); ``cache``: where the entries are
        (default the explanation cache); ``stats``: prefix of the ``cache_stats`` keys
        (``"maps"`` counts ``maps_cached``, ...); ``timing``: the ``timings`` key of the
        computation. An entry that is not there is recorded in ``result.errors[name]``
        (its error, one line) and left out.
        """
        from leg.harness.engine.jobs import explain_job, run_jobs

        t0 = time.perf_counter()
        status = run_jobs(jobs, produce or explain_job, self.executor, desc=desc)
        if timing:
            self.result.timings[timing] = time.perf_counter() - t0
        cache = cache or ExplanationCache(self.cache_root)
        entries = {}
        for name, key in index.items():
            st = status.get(key, ("cached", 0.0))[0]
            kind = st.split(":")[0]
            stat = f"{stats}_{kind}" if stats else kind
            self.result.cache_stats[stat] = self.result.cache_stats.get(stat, 0) + 1
            entry = cache.get(key)
            if entry is None:
                self.result.errors[name] = (st.removeprefix("error: ")
                                            if st.startswith("error") else MISSING)
                continue
            entries[name] = entry
        self.status = status
        return entries
