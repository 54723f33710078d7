"""Atomic file output: a temp file in the target directory, then ``os.replace``.

Readers (other DataLoader workers, a crashed run restarting) therefore see either no file or a
complete one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary temp file next to ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # name the file the caller asked for, not a temp name
        raise OSError(err.errno, err.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# tempfile.mkstemp's names: the prefix and suffix given above around 8 characters of this set.
_TEMP_RE = r"\.{name}\.[a-z0-9_]{{8}}\.tmp"


def remove_stale_temps(directory: str | os.PathLike[str], names: Iterable[str]) -> list[Path]:
    """Delete temp files that :func:`atomic_open` left for ``names`` in ``directory``.

    A process killed (``SIGKILL``) while writing leaves its temp file behind; call this when no
    writer is active, e.g. when a run (re)starts. Only this module's temp names are touched.
    """
    directory = Path(directory)
    removed = []
    for name in names:
        pattern = re.compile(_TEMP_RE.format(name=re.escape(name)))
        for path in directory.glob(f".{glob.escape(name)}.*.tmp"):
            if pattern.fullmatch(path.name) and path.is_file() and not path.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed
