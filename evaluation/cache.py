"""Explanations computed once, cached on disk the moment each is done, resumable.

The suites' heavy work is computing saliency maps. It is planned as *jobs* — one model in
one state (original, randomized stage, permuted-label twin) with a list of
``(image, method, options, seed, target)`` *items* — and run by session-scoped machinery
(:func:`compute_explanations`) through an :mod:`evaluation.executor`. Parametrized tests
only read the results and assert.

Cache layout: ``<root>/<key[:2]>/<key>.npz`` (by default ``<report dir>/.cache/``), one file
per explanation holding ``saliency`` ``(H, W)``, a JSON ``meta`` string, its own key and the
cache version. The key (:func:`explanation_key`) is the SHA-256 of the model fingerprint
(hash of weights and preprocessing, :func:`evaluation.inputs.model_fingerprint`), the
model state (stage name,
randomized groups, randomization seed and scheme version), the image (hash of its
pixels), the method, its parameters, the seed and the target. Each entry is written to a
temporary file in the same folder and moved into place with ``os.replace`` as soon as it
is computed, so an interrupted run leaves only whole entries and the next run computes
only what is missing. A damaged entry — unreadable, empty, truncated, written by another
cache version or holding another key's entry (a copied cache) — is moved to
``<root>/damaged/`` with a :class:`CacheDamageWarning` and counts as missing, so it is
computed again; entries sent back by remote workers are checked the same way before they
are written.

Testing hook: when the environment variable ``LEG_EVAL_CRASH_AFTER`` is set to ``k``, the
process exits abruptly (``os._exit``) right after writing its ``k``-th entry — used by the
test that kills a run midway and checks the resume.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evaluation.executor import Entry
from leg._files import write_bytes

__all__ = [
    "CACHE_VERSION",
    "CRASH_ENV",
    "CacheDamageWarning",
    "DamagedEntry",
    "ExplainItem",
    "ExplainJob",
    "ExplanationCache",
    "ResultCache",
    "calibration_images",
    "compute_explanations",
    "explain_job",
    "explanation_key",
    "result_key",
    "run_job",
    "run_jobs",
]

CACHE_VERSION = 3  # bump when the meaning of a cached map or the entry format changes
CRASH_ENV = "LEG_EVAL_CRASH_AFTER"
_WRITES = 0  # entries written by this process (for the crash hook)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple | set):
        return list(o)
    raise TypeError(f"Cannot put a {type(o).__name__} into a cache key.")


def explanation_key(*, model: str, state: dict, image: str, method: str, options: dict,
                    seed: int | None, target) -> str:
    """SHA-256 (hex) identifying one explanation; every argument changes it.

    ``model``: the model fingerprint; ``state``: the model state (stage, groups,
    randomization seed); ``image``: the image's pixel hash.
    """
    payload = {"v": CACHE_VERSION, "model": model, "state": state, "image": image,
               "method": method, "options": options, "seed": seed, "target": target}
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


class CacheDamageWarning(UserWarning):
    """A cache entry could not be used; it was set aside and is computed again."""


class DamagedEntry(ValueError):
    """An entry that cannot be read, or is not the entry of the key it was asked for."""


_WARN_EACH = 5  # damaged entries warned about one by one, per cache folder and process
_WARNED: dict[str, int] = {}


class _EntryFolder:
    """One file per key, ``<root>/<key[:2]>/<key><suffix>``, each holding its own key.

    An entry that cannot be decoded, or that holds another key or cache version, is
    *damaged*: :meth:`get` moves it to ``<root>/damaged/``, warns
    (:class:`CacheDamageWarning`) and answers ``None``, so the caller computes it again.
    Subclasses define ``suffix``, :meth:`decode` and an ``encode`` for their values.
    """

    suffix = ""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{self.suffix}"

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    @staticmethod
    def decode(data: bytes, key: str):
        """The value stored in ``data``; raises :class:`DamagedEntry` if it is not ``key``'s."""
        raise NotImplementedError

    def get(self, key: str):
        """The value stored under ``key`` (:class:`ExplanationCache`: ``{"saliency": array,
        "meta": dict}``); ``None`` if absent or damaged (then set aside)."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self.set_aside(key, f"unreadable: {exc}")
        if not data:
            return self.set_aside(key, "an empty file")
        try:
            return self.decode(data, key)
        except DamagedEntry as exc:
            return self.set_aside(key, str(exc))

    def put_bytes(self, key: str, data: bytes) -> Path:
        """Write an encoded entry atomically (temporary file + ``os.replace``) after checking
        that it decodes as ``key``'s; raises :class:`DamagedEntry` otherwise."""
        self.decode(data, key)
        p = write_bytes(self.path(key), data)
        _count_write()
        return p

    def set_aside(self, key: str, reason: str, data: bytes | None = None) -> None:
        """Move ``key``'s entry (or write ``data``, an entry that never reached the cache) to
        ``<root>/damaged/`` and warn; returns ``None`` (the entry counts as missing)."""
        dest = self.root / "damaged" / self.path(key).name
        try:
            if data is None:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.path(key), dest)
            else:
                write_bytes(dest, data)
        except OSError:  # already moved by another process, or no space: it stays missing
            pass
        n = _WARNED[str(self.root)] = _WARNED.get(str(self.root), 0) + 1
        if n <= _WARN_EACH:
            more = (f" Further damaged entries of {self.root} are set aside without a warning "
                    "each." if n == _WARN_EACH else "")
            warnings.warn(f"Damaged cache entry {key[:16]}… ({reason}): moved to {dest.parent} "
                          f"and computed again.{more}", CacheDamageWarning, stacklevel=3)
        return None

    def keys(self) -> list[str]:
        return sorted(p.name[:-len(self.suffix)] for p in self.root.glob(f"??/*{self.suffix}"))


def _check_header(key: str, stored_key: str, version: int) -> None:
    if version != CACHE_VERSION:
        raise DamagedEntry(f"written by cache version {version}; this is {CACHE_VERSION}")
    if stored_key != key:
        raise DamagedEntry(f"it holds the entry of key {stored_key[:16]}…")


class ExplanationCache(_EntryFolder):
    """A folder of ``.npz`` explanations keyed by :func:`explanation_key`.

    Each entry holds ``saliency`` (any array; ``(H, W)`` for maps), a JSON ``meta`` string,
    its ``key`` and the ``version`` (:data:`CACHE_VERSION`) that wrote it.
    """

    suffix = ".npz"

    @staticmethod
    def encode(key: str, saliency: np.ndarray, meta: dict) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, saliency=np.asarray(saliency, dtype=np.float64),
                 meta=np.array(_canonical(meta)), key=np.array(key),
                 version=np.array(CACHE_VERSION))
        return buffer.getvalue()

    @staticmethod
    def decode(data: bytes, key: str) -> dict:
        """``{"saliency": array, "meta": dict}``; raises :class:`DamagedEntry`."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as f:
                stored_key, version = str(f["key"]), int(f["version"])
                entry = {"saliency": np.array(f["saliency"]),
                         "meta": json.loads(str(f["meta"]))}
        except Exception as exc:  # any failure to parse: random bytes, empty, truncated
            raise DamagedEntry(f"not a readable .npz entry: {type(exc).__name__}") from exc
        _check_header(key, stored_key, version)
        return entry

    def put(self, key: str, saliency: np.ndarray, meta: dict) -> Path:
        """Write one entry atomically (temporary file + ``os.replace``)."""
        return self.put_bytes(key, self.encode(key, saliency, meta))


def _count_write() -> None:
    """Count an entry written by this process; exit abruptly at ``$LEG_EVAL_CRASH_AFTER``."""
    global _WRITES
    _WRITES += 1
    crash_after = os.environ.get(CRASH_ENV)
    if crash_after and _WRITES >= int(crash_after):
        os._exit(3)


def result_key(**fields) -> str:
    """SHA-256 (hex) of JSON-ready ``fields`` (with :data:`CACHE_VERSION`)."""
    return hashlib.sha256(_canonical({"v": CACHE_VERSION, **fields}).encode()).hexdigest()


class ResultCache(_EntryFolder):
    """A folder of small JSON results (perturbation numbers), ``<root>/results/<k[:2]>/<k>.json``.

    Same guarantees as :class:`ExplanationCache`: one file per result holding its key and
    version, written to a temporary file and moved into place, a damaged entry is set aside
    and counts as missing, and the ``LEG_EVAL_CRASH_AFTER`` hook counts these writes too.
    """

    suffix = ".json"

    def __init__(self, root: str | os.PathLike):
        super().__init__(Path(root) / "results")

    @staticmethod
    def encode(key: str, value: dict) -> bytes:
        return json.dumps({"key": key, "version": CACHE_VERSION, "value": value},
                          default=_json_default, allow_nan=True).encode()

    @staticmethod
    def decode(data: bytes, key: str) -> dict:
        """The stored result; raises :class:`DamagedEntry`."""
        try:
            entry = json.loads(data)
            stored_key, version, value = entry["key"], int(entry["version"]), entry["value"]
        except Exception as exc:  # any failure to parse
            raise DamagedEntry(f"not a readable JSON entry: {type(exc).__name__}") from exc
        _check_header(key, stored_key, version)
        return value

    def put(self, key: str, value: dict) -> Path:
        return self.put_bytes(key, self.encode(key, value))


@dataclass(frozen=True)
class ExplainItem:
    """One explanation to compute: ``method`` with ``options`` on ``image`` for ``target``."""

    key: str
    image_id: str
    image: np.ndarray = field(repr=False, compare=False)
    method: str
    options: dict = field(compare=False)
    seed: int | None
    target: int


@dataclass(frozen=True)
class ExplainJob:
    """Items sharing one model state: ``model_spec`` with ``groups`` re-initialised.

    ``groups`` empty: the model as loaded. ``randomization_seed`` seeds the
    re-initialisation (:func:`evaluation.randomization.randomized`); its batch-norm
    statistics are re-estimated on :func:`calibration_images` of ``items`` (every distinct
    image of the job, whichever of them is still to compute).
    """

    model_spec: str
    state: str
    groups: tuple[str, ...]
    randomization_seed: int
    items: tuple[ExplainItem, ...]
    cache_root: str

    @property
    def label(self) -> str:
        return f"{self.model_spec}:{self.state}"

    @property
    def cache(self) -> ExplanationCache:
        return ExplanationCache(self.cache_root)


def _make(method: str, clf, options: dict, channels: int):
    # Importing the baselines registers them; absent baselines are reported by the caller.
    try:
        import evaluation.baselines  # noqa: F401
    except ImportError:
        pass
    from leg.explainers import make_explainer

    opts = dict(options)
    if method in ("leg", "leg-tv"):
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


def _explain_items(clf, items: Sequence[ExplainItem], info: dict) -> Iterator[Entry]:
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
            tv = _make("leg-tv", clf, it.options, channels)
            responses = tv.leg.sample(it.image, seed=it.seed)
            sampled = time.perf_counter() - t0
            leg_res = estimate_leg(responses, it.target, **tv.leg.estimation)
            t1 = time.perf_counter()
            tv_res = estimate_leg_tv(responses, it.target, lambdas=[tv.lam], solver=tv.solver,
                                     **tv.leg.estimation)[0]
            t2 = time.perf_counter()
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
    """``(N, H, W, C)``: the distinct images of ``items`` (by id), sorted by id."""
    distinct = {it.image_id: it.image for it in items}
    return np.stack([distinct[k] for k in sorted(distinct)])


def explain_job(job: ExplainJob, done: frozenset[str] = frozenset()) -> Iterator[Entry]:
    """Compute the job's items whose keys are not in ``done``, wherever the job runs.

    Yields ``(key, "computed", seconds, encoded entry)`` per item as it finishes, or
    ``(key, "error: <message>", 0.0, None)`` for an item whose explainer raised (it does
    not stop the others). Writes nothing: see :mod:`evaluation.executor`.
    """
    from evaluation.inputs import load_model

    todo = [it for it in job.items if it.key not in done]
    if not todo:
        return
    clf = load_model(job.model_spec)
    if job.groups:
        from evaluation.randomization import randomized

        context = randomized(clf, job.groups, seed=job.randomization_seed,
                             calibration=calibration_images(job.items))
    else:
        context = nullcontext(clf)
    info = {"model": job.model_spec, "state": job.state}
    with context:
        yield from _explain_items(clf, todo, info)


def run_jobs(jobs: Sequence, produce, executor=None, *, desc: str = "items"
             ) -> dict[str, tuple[str, float]]:
    """Compute the missing items of ``jobs`` with ``produce`` (see :mod:`evaluation.executor`)
    through ``executor`` (default: in this process): ``key -> (status, seconds)``.

    Status ``"cached"`` (an intact entry was there; damaged ones are set aside on the way),
    ``"computed"`` or ``"error: <message>"``. Jobs whose items are all cached are not
    submitted; an entry a worker sent back damaged is computed once more. A progress bar
    (tqdm, on a terminal) counts the items as they finish.
    """
    from tqdm.auto import tqdm

    from evaluation.executor import DAMAGED, SequentialExecutor

    executor = executor or SequentialExecutor()
    status: dict[str, tuple[str, float]] = {}
    tasks = []
    for job in jobs:
        done = frozenset(it.key for it in job.items if it.key in job.cache)
        status.update({k: ("cached", 0.0) for k in done})
        if len(done) < len({it.key for it in job.items}):
            tasks.append((job, done))
    retried: set[str] = set()
    while tasks:
        total = sum(len({it.key for it in job.items} - done) for job, done in tasks)
        with tqdm(total=total, desc=desc, unit="item", disable=None, leave=False,
                  file=getattr(executor, "progress", None)) as bar:
            for key, st, secs in executor.run_jobs(produce, tasks):
                status[key] = (st, secs)
                bar.update()
        again = {k for k, (st, _) in status.items() if st.startswith(DAMAGED)} - retried
        retried |= again
        tasks = [(job, frozenset(it.key for it in job.items) - again) for job in jobs
                 if any(it.key in again for it in job.items)]
    return status


def run_job(job: ExplainJob) -> list[tuple[str, str, float]]:
    """Compute the job's missing items in this process: ``(key, status, seconds)`` per item
    (``"cached"``, ``"computed"`` or ``"error: <message>"``)."""
    return [(k, st, secs) for k, (st, secs) in run_jobs([job], explain_job).items()]


def compute_explanations(jobs: Sequence[ExplainJob], executor=None
                         ) -> dict[str, tuple[str, float]]:
    """Run ``jobs`` (through ``executor``; default in this process): ``key -> (status, s)``
    (see :func:`run_jobs`)."""
    return run_jobs(jobs, explain_job, executor, desc="explanations")
