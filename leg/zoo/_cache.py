"""Where the zoo keeps converted weights and trained models: ``$XDG_CACHE_HOME/leg``."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path


def cache_dir() -> Path:
    """``$LEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/leg``, else ``~/.cache/leg`` (not created)."""
    if os.environ.get("LEG_CACHE_DIR"):
        return Path(os.environ["LEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leg"


def cache_path(name: str) -> Path:
    return cache_dir() / name


def write_atomic(path: Path, write) -> bool:
    """Call ``write(tmp_path)`` then move the file to ``path``; warn and return False on failure.

    A cache that cannot be written never loses the caller's object: the caller keeps what it
    has in memory and only the next run pays again.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp" + path.suffix)
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True
    except OSError as exc:
        warnings.warn(f"Could not write the cache file {path} ({exc}); keeping the result in "
                      "memory only.", RuntimeWarning, stacklevel=3)
        return False
