"""Camera make/model from a RAW file's header, without decoding the image.

rawpy does not expose LibRaw's make/model strings, and selecting a camera subset from a large
collection (e.g. the Nikon D700 images of MIT-Adobe FiveK) must not decode every file. TIFF-based
containers (DNG, NEF, CR2, ARW, PEF, KDC, ...) keep them in IFD0 tags 271/272; Canon's CIFF
(CRW) keeps them in record 0x080A.

:func:`kodak_camera_matrix` reads the camera -> sRGB matrix that old Kodak KDC files (DC50,
DC120) store in TIFF tag 37400: LibRaw renders them with it, but rawpy does not expose it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = ["camera_make_model", "kodak_camera_matrix"]

_HEADER_BYTES = 1 << 16
_KODAK_MATRIX_TAG = 37400
_SUB_IFD_TAGS = (330, 34665)  # SubIFDs, Exif IFD
_REAL_TYPES = {5: ("II", 8), 10: ("ii", 8), 11: ("f", 4), 12: ("d", 8)}


def camera_make_model(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(make, model)`` read from the file header, or ``("", "")`` when not found.

    Never raises for unparseable content (the RAW reader reports broken files); raises
    ``OSError`` only when the file cannot be opened.
    """
    with open(path, "rb") as f:
        head = f.read(8)
        try:
            if head[:4] in (b"II*\0", b"MM\0*"):
                return _tiff_make_model(f, "<" if head[:2] == b"II" else ">")
            if head[:2] == b"II" and head[6:8] == b"HE":
                return _ciff_make_model(f, Path(path).stat().st_size)
        except (struct.error, ValueError, OSError, UnicodeDecodeError):
            pass
    return "", ""


def _clean(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _tiff_make_model(f, bo: str) -> tuple[str, str]:
    f.seek(4)
    (ifd,) = struct.unpack(bo + "I", f.read(4))
    f.seek(ifd)
    (count,) = struct.unpack(bo + "H", f.read(2))
    if count > 4096:
        return "", ""
    table = f.read(12 * count)
    found: dict[int, str] = {}
    for k in range(count):
        tag, typ, n = struct.unpack(bo + "HHI", table[12 * k : 12 * k + 8])
        if tag in (271, 272) and typ == 2 and 0 < n < 4096:
            if n <= 4:
                found[tag] = _clean(table[12 * k + 8 : 12 * k + 8 + n])
            else:
                (offset,) = struct.unpack(bo + "I", table[12 * k + 8 : 12 * k + 12])
                f.seek(offset)
                found[tag] = _clean(f.read(n))
    return found.get(271, ""), found.get(272, "")


def _ciff_make_model(f, size: int) -> tuple[str, str]:
    f.seek(2)
    (header_len,) = struct.unpack("<I", f.read(4))
    return _ciff_heap(f, header_len, size, depth=0)


def _ciff_heap(f, start: int, end: int, depth: int) -> tuple[str, str]:
    # A CIFF heap ends with the offset of its record table; records of storage type 0x2800 or
    # 0x3000 are sub-heaps.
    if depth > 4 or end - start < 6:
        return "", ""
    f.seek(end - 4)
    (table,) = struct.unpack("<I", f.read(4))
    f.seek(start + table)
    (count,) = struct.unpack("<H", f.read(2))
    records = f.read(10 * min(count, 1024))
    for k in range(len(records) // 10):
        tag, length, offset = struct.unpack("<HII", records[10 * k : 10 * k + 10])
        if tag & 0x3FFF == 0x080A:
            f.seek(start + offset)
            parts = f.read(min(length, 256)).split(b"\0")
            if len(parts) >= 2:
                return _clean(parts[0]), _clean(parts[1])
        if tag & 0x3800 in (0x2800, 0x3000):
            make_model = _ciff_heap(f, start + offset, start + offset + length, depth + 1)
            if make_model[1]:
                return make_model
    return "", ""


def kodak_camera_matrix(path: str | os.PathLike[str]) -> list[list[float]] | None:
    """The 3x3 camera -> sRGB matrix of TIFF tag 37400 (old Kodak KDC), or ``None``.

    The tag holds 12 reals, three rows of one ignored value and three coefficients; it may sit
    in IFD0, a SubIFD or the Exif IFD. Never raises for unparseable content; ``OSError`` only
    when the file cannot be opened.
    """
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:4] not in (b"II*\0", b"MM\0*"):
            return None
        bo = "<" if head[:2] == b"II" else ">"
        try:
            values = _find_reals(f, bo, struct.unpack(bo + "I", head[4:8])[0], set(), 0)
        except (struct.error, ValueError, OSError, ZeroDivisionError):
            return None
    if values is None or len(values) != 12:
        return None
    return [values[4 * row + 1 : 4 * row + 4] for row in range(3)]


def _find_reals(f, bo: str, ifd: int, seen: set[int], depth: int) -> list[float] | None:
    """The values of tag 37400 in the IFD at ``ifd`` or below it (bounded walk)."""
    if depth > 4 or ifd in seen or ifd <= 0:
        return None
    seen.add(ifd)
    f.seek(ifd)
    (count,) = struct.unpack(bo + "H", f.read(2))
    if count > 4096:
        return None
    table = f.read(12 * count)
    children = []
    for k in range(len(table) // 12):
        tag, typ, n = struct.unpack(bo + "HHI", table[12 * k : 12 * k + 8])
        pointer = table[12 * k + 8 : 12 * k + 12]
        if tag == _KODAK_MATRIX_TAG and typ in _REAL_TYPES and n == 12:
            fmt, size = _REAL_TYPES[typ]
            f.seek(struct.unpack(bo + "I", pointer)[0])
            raw = struct.unpack(bo + fmt * n, f.read(size * n))
            if len(fmt) == 2:  # rationals: numerator, denominator pairs
                return [raw[i] / raw[i + 1] for i in range(0, len(raw), 2)]
            return list(raw)
        if tag in _SUB_IFD_TAGS and typ in (4, 13) and n >= 1:
            children.append(struct.unpack(bo + "I", pointer)[0] if n == 1 else None)
    for child in children:
        found = None if child is None else _find_reals(f, bo, child, seen, depth + 1)
        if found is not None:
            return found
    return None
