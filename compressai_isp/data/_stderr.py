"""Capture what C libraries write to the process's stderr (file descriptor 2).

LibRaw reports damaged sensor data by printing ``<file>: data corrupted at N`` or ``<file>:
Unexpected end of file`` straight to the C ``stderr``, next to (or instead of) the error code
rawpy raises. Python's ``sys.stderr`` never sees those lines, so they are caught at the file
descriptor and handed back to the caller, which folds them into its one-line error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["CapturedStderr", "capture_stderr_fd"]

# fd 2 is shared by the whole process: one capture at a time, or restores would interleave.
_LOCK = threading.Lock()


@dataclass
class CapturedStderr:
    """What was written to fd 2 inside :func:`capture_stderr_fd` (set when the block exits)."""

    text: str = ""

    def release(self, lines: list[str]) -> None:
        """Write ``lines`` back to the real stderr (output that was not the caller's business)."""
        if lines:
            with contextlib.suppress(OSError):
                os.write(2, ("\n".join(lines) + "\n").encode("utf-8", "replace"))


@contextlib.contextmanager
def capture_stderr_fd() -> Iterator[CapturedStderr]:
    """Redirect fd 2 to a temporary file for the block; its content ends up in ``.text``.

    Other threads' stderr output during the block is captured too; callers give back what is not
    theirs with :meth:`CapturedStderr.release`. Where fd 2 cannot be duplicated (closed), nothing
    is captured.
    """
    captured = CapturedStderr()
    with _LOCK, tempfile.TemporaryFile() as sink:
        _flush_python_stderr()
        try:
            saved = os.dup(2)
        except OSError:
            yield captured
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


def _flush_python_stderr() -> None:
    # Text Python buffered for fd 2 must land on the side of the switch it was written on.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
