"""Keep native libraries' start-up chatter off the terminal.

HiGHS prints a copyright banner to the C-level stdout when its first instance is created;
TensorFlow's C++ runtime logs lines such as absl's "All log messages before
absl::InitializeLog() is called are written to STDERR" and oneDNN / CPU-feature notices to
the C-level stderr while it is imported. Neither goes through ``sys.stdout``/``sys.stderr``,
so only redirecting the file descriptor itself (:func:`hold_fd`) keeps them away.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["hold_fd", "quiet_tensorflow", "TF_LOG_ENV"]

#: TensorFlow's C++ log threshold (0 all, 1 no INFO, 2 no WARNING, 3 no ERROR).
TF_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"


@contextmanager
def hold_fd(fd: int) -> Iterator[None]:
    """Send what is written to file descriptor ``fd`` (1: stdout, 2: stderr) inside the
    block to a temporary file instead; if the block raises, write it back to ``fd`` so the
    reason for the failure is not lost."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        try:
            os.dup2(held.fileno(), fd)
            yield
        except BaseException:
            os.dup2(saved, fd)
            held.seek(0)
            os.write(fd, held.read())
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved, fd)
            os.close(saved)


def quiet_tensorflow(*, debug: bool = False, load: bool = True) -> None:
    """Keep TensorFlow's C++ start-up lines off the terminal, unless ``debug``.

    Sets ``TF_CPP_MIN_LOG_LEVEL=1`` (no INFO lines; warnings and errors still show) when
    the user has not set it — child processes inherit it — and, with ``load``, imports
    TensorFlow now with the C-level stderr held (for the lines the variable does not
    cover). Does nothing when ``debug`` is true; imports nothing when TensorFlow is already
    imported or not installed.
    """
    if debug:
        return
    os.environ.setdefault(TF_LOG_ENV, "1")
    if (not load or "tensorflow" in sys.modules
            or importlib.util.find_spec("tensorflow") is None):
        return
    with hold_fd(2):
        import tensorflow  # noqa: F401
