"""TensorFlow's CPU memory: its best-fit-with-coalescing (BFC) allocator instead of malloc.

With malloc, every large activation tensor of a Keras model on the CPU is a fresh ``mmap``
that the kernel fills with zeroed pages (thousands of page faults per image for an
ImageNet CNN), and freed again after the layer. The BFC allocator keeps the freed memory
and reuses it: the model computes the same numbers, faster
(``benchmarks/bench_tf_allocator.py``). TensorFlow reads the variable when it first
allocates on the CPU, so it must be set before any TensorFlow computation in the process;
worker processes inherit it.
"""

from __future__ import annotations

import os

__all__ = ["BFC_ENV", "use_bfc_cpu_allocator"]

#: TensorFlow's switch (``tensorflow/core/common_runtime/process_state.cc``).
BFC_ENV = "TF_CPU_ALLOCATOR_USE_BFC"


def use_bfc_cpu_allocator() -> None:
    """Ask TensorFlow for the BFC CPU allocator, unless the user set ``TF_CPU_ALLOCATOR_USE_BFC``
    (``false`` keeps malloc). No effect where TensorFlow has already computed something."""
    os.environ.setdefault(BFC_ENV, "true")
