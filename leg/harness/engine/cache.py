"""On-disk storage of the harness's computed results: explanations and scores.

Only storage lives here: the jobs that fill it are :mod:`leg.harness.engine.jobs`, where they run is
:mod:`leg.harness.engine.executors`.

Layout: ``<root>/<key[:2]>/<key>.npz`` (by default ``<report dir>/.cache/``), one file per
explanation holding ``saliency`` ``(H, W)``, a JSON ``meta`` string, its own key and the
cache version. The key (:func:`explanation_key`) is the SHA-256 of the model fingerprint
(hash of weights and preprocessing, :func:`leg.harness.engine.inputs.model_fingerprint`), the
model state (stage name, randomized groups, randomization seed and scheme version), the
image (hash of its pixels), the method, its parameters, the seed and the target. Each entry
is written to a temporary file in the same folder and moved into place with ``os.replace``
as soon as it is computed, so an interrupted run leaves only whole entries and the next run
computes only what is missing. A damaged entry — unreadable, empty, truncated, written by
another cache version or holding another key's entry (a copied cache) — is moved to
``<root>/damaged/`` with a :class:`CacheDamageWarning` and counts as missing, so it is
computed again; entries sent back by remote workers are checked the same way before they
are written.

Testing hooks: when the environment variable ``LEG_EVAL_CRASH_AFTER`` is set to ``k``, the
process exits abruptly (``os._exit``) right after writing its ``k``-th entry — used by the
test that kills a run midway and checks the resume; ``LEG_EVAL_INTERRUPT_AFTER=k`` raises
``KeyboardInterrupt`` there instead, as Ctrl-C would (the interrupted-report test).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from leg._files import write_bytes

__all__ = [
    "CACHE_VERSION",
    "CRASH_ENV",
    "INTERRUPT_ENV",
    "CacheDamageWarning",
    "DamagedEntry",
    "ExplanationCache",
    "ResultCache",
    "explanation_key",
    "result_key",
]

CACHE_VERSION = 4  # bump when the meaning of a cached map or the entry format changes
# (4: LEG's default perturbation design became orthogonal)
CRASH_ENV = "LEG_EVAL_CRASH_AFTER"
INTERRUPT_ENV = "LEG_EVAL_INTERRUPT_AFTER"
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
    """Count an entry written by this process; exit abruptly at ``$LEG_EVAL_CRASH_AFTER``,
    or raise ``KeyboardInterrupt`` (as Ctrl-C would) at ``$LEG_EVAL_INTERRUPT_AFTER``."""
    global _WRITES
    _WRITES += 1
    crash_after = os.environ.get(CRASH_ENV)
    if crash_after and _WRITES >= int(crash_after):
        os._exit(3)
    interrupt_after = os.environ.get(INTERRUPT_ENV)
    if interrupt_after and _WRITES == int(interrupt_after):
        raise KeyboardInterrupt


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
