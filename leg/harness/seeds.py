"""Seeds derived from names: the same ``(seed, layer, variable)`` gives the same seed on every
machine and in every framework (the Keras and PyTorch randomizations share it)."""

from __future__ import annotations

import hashlib


def seed_for(seed: int, layer: str, var: str) -> int:
    """The seed of one variable: derived from ``(seed, layer name, variable name)``."""
    digest = hashlib.sha256(f"{seed}/{layer}/{var}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
