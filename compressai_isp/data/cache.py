"""On-disk cache of decoded packed RAW and rendered targets.

Decoding a RAW file and rendering it with LibRaw takes 0.1–1 s per image, far too slow to do per
training patch. The cache stores each image once, as uncompressed ``.npy`` arrays that are
memory-mapped on reuse, so a random patch reads only its own bytes.

Layout of one entry (``<key>`` = hash of the source path(s) and the recipe,
``<fp>`` = fingerprint of the source file(s): size, modification time and a hash of 3 × 64 KiB
sampled from the start, middle and end of each file)::

    <key>-<fp>.raw.npy    uint16 [4, h, w]   raw sensor values, packed RGGB
    <key>-<fp>.srgb.npy   uint8/16 [3, 2h, 2w] target
    <key>-<fp>.json       levels and metadata — written last, so its presence commits the entry

Every file is written to a temp file and ``os.replace``-d into place; a per-key ``flock`` lets
only one DataLoader worker (or process) decode an image while the others wait and then reuse it.
A changed source gets a new fingerprint: the stale entry is ignored and deleted when the new one is
written. Unreadable (e.g. truncated by a full disk) entries are treated as missing and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressai_isp.io.atomic import atomic_open

try:  # POSIX only; elsewhere concurrent workers may decode the same image twice (still safe)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["Entry", "PairCache", "file_fingerprint"]

_SAMPLE = 1 << 16


@dataclass
class Entry:
    """One decoded image: packed raw sensor values plus levels, and (when rendered) its target.

    Integer values and levels rather than normalised floats: half the size, and normalising on
    load (:func:`~compressai_isp.data.raw.normalize_packed`) is exact and cheap.
    """

    packed: np.ndarray  # uint16 [4, h, w], raw sensor values, channels R G1 G2 B
    black: np.ndarray  # float32 [4] (R, G1, G2, B)
    white: np.ndarray  # float32 [4]
    srgb: np.ndarray | None  # uint8 or uint16 [3, 2h, 2w]; None when not rendered
    info: dict  # JSON-friendly metadata (cfa, crop, raw_size, make, model, ...)


def _checksums(packed: np.ndarray, srgb: np.ndarray, meta: dict) -> dict[str, str]:
    """Content hashes written with an entry: a damaged or edited array or level is rebuilt."""

    def digest(data: bytes | memoryview) -> str:
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def array(a: np.ndarray) -> str:
        a = np.ascontiguousarray(a)
        return digest(f"{a.dtype.str}{a.shape}".encode() + a.tobytes())

    levels = {k: meta[k] for k in ("black", "white", "info")}
    return {
        "raw": array(packed),
        "srgb": array(srgb),
        "meta": digest(json.dumps(levels, sort_keys=True).encode()),
    }


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """Size, mtime and a hash of three 64 KiB samples of the file's content."""
    st = os.stat(path)
    h = hashlib.blake2b(f"{st.st_size}:{st.st_mtime_ns}".encode(), digest_size=10)
    with open(path, "rb") as f:
        for offset in sorted(
            {0, max(st.st_size // 2 - _SAMPLE // 2, 0), max(st.st_size - _SAMPLE, 0)}
        ):
            f.seek(offset)
            h.update(f.read(_SAMPLE))
    return h.hexdigest()


class PairCache:
    """A directory of cached :class:`Entry` objects (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._fingerprints: dict[tuple[str, int, int], str] = {}
        self._loaded: dict[str, Entry] = {}
        self._keys: dict[tuple, str] = {}

    def __getstate__(self) -> dict:
        # DataLoader workers get a copy without the parent's memory-mapped arrays.
        return {"root": self.root, "_fingerprints": {}, "_loaded": {}, "_keys": {}}

    def _fingerprint(self, sources: Sequence[Path]) -> str:
        parts = []
        for src in sources:
            st = os.stat(src)
            memo = (str(src), st.st_size, st.st_mtime_ns)
            if memo not in self._fingerprints:
                self._fingerprints[memo] = file_fingerprint(src)
            parts.append(self._fingerprints[memo])
        return hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest()

    def key(self, sources: Sequence[Path], recipe: str) -> str:
        """Entry name prefix: a hash of the resolved source paths and the recipe."""
        memo = (tuple(str(s) for s in sources), recipe)
        if memo not in self._keys:
            ident = "|".join(str(Path(s).resolve()) for s in sources) + "|" + recipe
            self._keys[memo] = hashlib.blake2b(ident.encode(), digest_size=10).hexdigest()
        return self._keys[memo]

    def get_or_create(
        self, sources: Sequence[Path], recipe: str, create: Callable[[], Entry]
    ) -> Entry:
        """The cached entry for ``sources`` under ``recipe``, building it with ``create``."""
        key = self.key(sources, recipe)
        name = f"{key}-{self._fingerprint(sources)}"
        if name in self._loaded:
            return self._loaded[name]
        entry = self._read(name)
        if entry is None:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._lock(key):
                entry = self._read(name)  # another worker may have built it while we waited
                if entry is None:
                    self._write(name, create())
                    self._remove_stale(key, keep=name)
                    entry = self._read(name)
                    if entry is None:
                        raise OSError(f"cache entry {self.root / name} unreadable after writing")
        self._loaded[name] = entry
        return entry

    def _read(self, name: str) -> Entry | None:
        meta_path = self.root / f"{name}.json"
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            packed = np.load(self.root / f"{name}.raw.npy", mmap_mode="r")
            srgb = np.load(self.root / f"{name}.srgb.npy", mmap_mode="r")
            if packed.shape[0] != 4 or srgb.shape[1:] != (2 * packed.shape[1], 2 * packed.shape[2]):
                raise ValueError("shape mismatch")
            if packed.dtype != np.uint16 or srgb.dtype not in (np.uint8, np.uint16):
                raise ValueError("dtype mismatch")
            if meta.get("checksums") != _checksums(packed, srgb, meta):
                raise ValueError("content does not match its checksums")
            return Entry(
                packed=packed,
                black=np.asarray(meta["black"], dtype=np.float32),
                white=np.asarray(meta["white"], dtype=np.float32),
                srgb=srgb,
                info=meta["info"],
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            with contextlib.suppress(OSError):
                meta_path.unlink()  # corrupt: drop the commit marker so the entry is rebuilt
            return None

    def _write(self, name: str, entry: Entry) -> None:
        if entry.srgb is None:
            raise ValueError("only entries with a target can be cached")
        for suffix, array in ((".raw.npy", entry.packed), (".srgb.npy", entry.srgb)):
            with atomic_open(self.root / f"{name}{suffix}") as f:
                np.save(f, np.ascontiguousarray(array))
        meta = {"black": entry.black.tolist(), "white": entry.white.tolist(), "info": entry.info}
        meta["checksums"] = _checksums(entry.packed, entry.srgb, meta)
        with atomic_open(self.root / f"{name}.json") as f:
            f.write(json.dumps(meta).encode())

    def _remove_stale(self, key: str, keep: str) -> None:
        for path in self.root.glob(f"{key}-*"):
            if not path.name.startswith(keep + "."):
                with contextlib.suppress(OSError):
                    path.unlink()
        for name in [n for n in self._loaded if n.startswith(key + "-") and n != keep]:
            del self._loaded[name]

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.root / f".{key}.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
