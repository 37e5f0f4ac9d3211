"""Read PyTorch checkpoint files (``torch.save`` output) into NumPy arrays, without torch.

Two container formats are understood:

* the zip format (PyTorch >= 1.6): ``<archive>/data.pkl`` plus one raw file per storage
  under ``<archive>/data/``;
* the legacy sequential-pickle format (PyTorch < 1.6): a magic number, a protocol version
  and system info, the main pickle, the list of storage keys, then each storage as a
  little-endian int64 element count followed by its raw bytes.

The very old tar format (PyTorch < 0.1.10) is refused.

Unpickling is restricted to an allow-list: the few globals a state dict needs
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor[_v2]``,
``torch._utils._rebuild_parameter``, the typed ``torch.*Storage`` classes). Anything else —
a pickled ``nn.Module``, custom classes, ``eval``-style gadgets — raises
:class:`TorchCheckpointError` instead of importing code.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import tarfile
import zipfile
from typing import Any

import numpy as np

__all__ = ["TorchCheckpointError", "read_torch_checkpoint", "load_torch_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class name -> (numpy dtype code without byte order, element size)
_STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "bf16",  # no NumPy dtype: widened to float32 on read
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchCheckpointError(ValueError):
    """The file is not a PyTorch checkpoint this reader understands (or is not allowed)."""


class _StorageType:
    """Stand-in for a ``torch.*Storage`` class in the pickle stream."""

    def __init__(self, name: str):
        self.name = name
        self.code = _STORAGE_DTYPES[name]

    @property
    def itemsize(self) -> int:
        return 2 if self.code == "bf16" else np.dtype(self.code).itemsize


class _Storage:
    """A storage whose bytes may arrive after the main pickle (legacy format)."""

    def __init__(self, stype: _StorageType, key: str, numel: int | None):
        self.stype = stype
        self.key = key
        self.numel = numel
        self.array: np.ndarray | None = None  # 1-D, filled by the container reader


class _TensorRef:
    """Placeholder built during unpickling; resolved to an ndarray once storages are read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        if not isinstance(storage, _Storage):
            raise TorchCheckpointError(
                f"Tensor rebuilt from a {type(storage).__name__}, not from a storage."
            )
        self.storage = storage
        self.offset = _check_int(offset, "storage offset")
        self.size = tuple(_check_int(s, "tensor size") for s in size)
        self.stride = tuple(_check_int(s, "tensor stride") for s in stride)
        if len(self.size) != len(self.stride):
            raise TorchCheckpointError(f"Tensor size {self.size} and stride {self.stride} "
                                       "have different lengths.")

    def resolve(self) -> np.ndarray:
        flat = self.storage.array
        if flat is None:
            raise TorchCheckpointError(f"Storage {self.storage.key!r} was never read.")
        if any(s == 0 for s in self.size):
            return np.zeros(self.size, dtype=flat.dtype)
        last = self.offset + sum((n - 1) * st for n, st in zip(self.size, self.stride, strict=True))
        if self.offset < 0 or any(st < 0 for st in self.stride) or last >= flat.size:
            raise TorchCheckpointError(
                f"Tensor (offset {self.offset}, size {self.size}, stride {self.stride}) lies "
                f"outside its storage of {flat.size} elements."
            )
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.array(view, copy=True)


def _check_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TorchCheckpointError(f"Expected an integer {what}; got {value!r}.")
    return value


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    # torch._utils._rebuild_tensor(storage, storage_offset, size, stride) and
    # _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    # backward_hooks[, metadata]): grad flags and hooks mean nothing here.
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_ignored):
    # torch._utils._rebuild_parameter(data, requires_grad, backward_hooks[, state])
    if not isinstance(data, _TensorRef):
        raise TorchCheckpointError("nn.Parameter rebuilt from something other than a tensor.")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}
_ALLOWED_GLOBALS.update({("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _Storage], zip_mode: bool):
        super().__init__(file, encoding="utf-8")
        self._storages = storages
        self._zip_mode = zip_mode

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise TorchCheckpointError(
                f"The checkpoint refers to '{module}.{name}', which this reader does not load "
                "(only plain state dicts of tensors are supported; save "
                "model.state_dict() rather than the model)."
            ) from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            raise TorchCheckpointError(f"Unsupported persistent object {kind!r} in checkpoint "
                                       "(only tensor storages are supported).")
        if self._zip_mode:
            # ('storage', storage_type, key, location, numel)
            if len(pid) != 5:
                raise TorchCheckpointError(f"Malformed storage record {pid!r}.")
            _, stype, key, _location, numel = pid
            view = None
        else:
            # ('storage', storage_type, root_key, location, numel, view_metadata)
            if len(pid) != 6:
                raise TorchCheckpointError(f"Malformed storage record {pid!r}.")
            _, stype, key, _location, numel, view = pid
        if not isinstance(stype, _StorageType):
            raise TorchCheckpointError(f"Unsupported storage type {stype!r}.")
        key = str(key)
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(stype, key, numel)
        elif storage.stype.code != stype.code:
            raise TorchCheckpointError(f"Storage {key!r} is used with two element types.")
        if view is not None:
            # Legacy storage view: (view_key, offset, view_size) into the root storage.
            view_key, offset, view_size = view
            return _StorageView(storage, str(view_key), offset, view_size)
        return storage


class _StorageView(_Storage):
    def __init__(self, root: _Storage, key: str, offset: int, numel: int):
        super().__init__(root.stype, key, numel)
        self.root = root
        self.offset = _check_int(offset, "storage view offset")

    @property  # type: ignore[override]
    def array(self):
        if self.root.array is None:
            return None
        return self.root.array[self.offset:self.offset + self.numel]

    @array.setter
    def array(self, value):  # the base __init__ assigns None
        if value is not None:
            raise TorchCheckpointError("A storage view cannot hold its own data.")


def _decode(raw: bytes, stype: _StorageType, little_endian: bool) -> np.ndarray:
    order = "<" if little_endian else ">"
    if len(raw) % stype.itemsize:
        raise TorchCheckpointError(
            f"Storage of {len(raw)} bytes is not a whole number of {stype.name} elements."
        )
    if stype.code == "bf16":
        bits = np.frombuffer(raw, dtype=order + "u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    return np.frombuffer(raw, dtype=order + stype.code).astype(stype.code, copy=True)


def _resolve(obj):
    if isinstance(obj, _TensorRef):
        return obj.resolve()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _resolve(v)
        return out
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def _read_zip(path) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkls = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise TorchCheckpointError(
                f"{path}: a zip file but not a PyTorch checkpoint (expected one "
                f"'<archive>/data.pkl', found {len(pkls)})."
            )
        prefix = pkls[0][: -len("data.pkl")]
        little = True
        if prefix + "byteorder" in names:
            order = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if order not in ("little", "big"):
                raise TorchCheckpointError(f"{path}: unknown byte order {order!r}.")
            little = order == "little"
        storages: dict[str, _Storage] = {}
        with zf.open(pkls[0]) as fh:
            obj = _RestrictedUnpickler(io.BytesIO(fh.read()), storages, zip_mode=True).load()
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise TorchCheckpointError(f"{path}: storage file {member!r} is missing.")
            storage.array = _decode(zf.read(member), storage.stype, little)
            if storage.numel is not None and storage.array.size < storage.numel:
                raise TorchCheckpointError(
                    f"{path}: storage {key!r} holds {storage.array.size} elements; the "
                    f"checkpoint expects {storage.numel}."
                )
    return _resolve(obj)


def _read_legacy(path) -> Any:
    with open(path, "rb") as fh:
        try:
            magic = _RestrictedUnpickler(fh, {}, zip_mode=False).load()
        except Exception:  # noqa: BLE001 - any failure means "not this format"
            magic = None
        if magic != _LEGACY_MAGIC:
            if _is_plain_tar(path):
                raise TorchCheckpointError(
                    f"{path}: the tar checkpoint format of PyTorch < 0.1.10 is not "
                    "supported; re-save it with a newer torch."
                )
            raise TorchCheckpointError(
                f"{path}: not a PyTorch checkpoint (neither the zip nor the legacy "
                "pickle format)."
            )
        protocol = _safe_load(fh, path)
        if protocol != _LEGACY_PROTOCOL:
            raise TorchCheckpointError(f"{path}: unsupported legacy protocol {protocol!r}.")
        sys_info = _safe_load(fh, path)
        if not isinstance(sys_info, dict):
            raise TorchCheckpointError(f"{path}: malformed system-info record.")
        little = bool(sys_info.get("little_endian", True))
        storages: dict[str, _Storage] = {}
        obj = _RestrictedUnpickler(fh, storages, zip_mode=False).load()
        keys = _safe_load(fh, path)
        if not isinstance(keys, list) or set(map(str, keys)) != {
            k for k, s in storages.items() if not isinstance(s, _StorageView)
        }:
            raise TorchCheckpointError(f"{path}: storage key list does not match the tensors.")
        for key in keys:
            storage = storages[str(key)]
            head = fh.read(8)
            if len(head) != 8:
                raise TorchCheckpointError(f"{path}: truncated before storage {key!r}.")
            (numel,) = struct.unpack("<q" if little else ">q", head)
            if numel < 0 or (storage.numel is not None and numel != storage.numel):
                raise TorchCheckpointError(
                    f"{path}: storage {key!r} has {numel} elements; expected {storage.numel}."
                )
            nbytes = numel * storage.stype.itemsize
            raw = fh.read(nbytes)
            if len(raw) != nbytes:
                raise TorchCheckpointError(f"{path}: truncated inside storage {key!r}.")
            storage.array = _decode(raw, storage.stype, little)
    return _resolve(obj)


def _safe_load(fh, path):
    """Load a header record: plain data only (no globals, no persistent ids)."""
    try:
        return _RestrictedUnpickler(fh, {}, zip_mode=False).load()
    except TorchCheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TorchCheckpointError(f"{path}: malformed legacy checkpoint header.") from exc


def read_torch_checkpoint(path: str | os.PathLike) -> Any:
    """Read a ``torch.save`` file; tensors come back as NumPy arrays (copies, CPU, writable).

    Raises
    ------
    TorchCheckpointError
        For files in an unknown format, truncated or inconsistent files, and any object
        other than containers of tensors (e.g. a pickled ``nn.Module``).
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    return _read_legacy(path)


def _is_plain_tar(path) -> bool:
    try:
        with tarfile.open(path, mode="r:"):
            return True
    except (tarfile.TarError, OSError):
        return False


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a checkpoint holding a state dict (``name -> tensor``) into ``name -> ndarray``.

    A checkpoint of the form ``{"state_dict": {...}}`` is unwrapped.
    """
    obj = read_torch_checkpoint(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()
    ):
        raise TorchCheckpointError(
            f"{os.fspath(path)}: expected a state dict mapping names to tensors; got "
            f"{type(obj).__name__}."
        )
    return dict(obj)
