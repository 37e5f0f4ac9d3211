"""What the Keras and PyTorch randomizations share: seeds derived from names (the same
``(seed, layer, variable)`` gives the same seed on every machine and in every framework),
and the cascade orders."""

from __future__ import annotations

import hashlib


def seed_for(seed: int, layer: str, var: str) -> int:
    """The seed of one variable: derived from ``(seed, layer name, variable name)``."""
    digest = hashlib.sha256(f"{seed}/{layer}/{var}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


#: Cascading randomization from the output down (Adebayo et al.) or from the input up.
ORDERS = ("top-down", "bottom-up")


def check_order(order: str) -> str:
    """``order`` if it is one of :data:`ORDERS`, else a ``ValueError`` naming them."""
    if order not in ORDERS:
        raise ValueError(f"Unknown cascade order {order!r}; choose one of {list(ORDERS)}.")
    return order
