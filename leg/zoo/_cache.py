"""Where the zoo keeps converted weights and trained models: ``$XDG_CACHE_HOME/leg``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from leg._files import write_with


def cache_dir() -> Path:
    """``$LEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/leg``, else ``~/.cache/leg`` (not created)."""
    if os.environ.get("LEG_CACHE_DIR"):
        return Path(os.environ["LEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leg"


def cache_path(name: str) -> Path:
    return cache_dir() / name


def write_cache_file(path: Path, write) -> bool:
    """Call ``write(tmp_path)`` then move the file to ``path``; warn and return False on failure.

    A cache that cannot be written never loses the caller's object: the caller keeps what it
    has in memory and only the next run pays again.
    """
    try:
        write_with(path, write)
        return True
    except OSError as exc:
        warnings.warn(f"Could not write the cache file {path} ({exc}); keeping the result in "
                      "memory only.", RuntimeWarning, stacklevel=3)
        return False
