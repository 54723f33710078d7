"""Reading state files (weights, exports, training checkpoints) without ever running their code.

Every file the library reads as weights or a checkpoint (training checkpoints, ``model_best.pth``
exports, bare state dicts, other trainers' ``{"state_dict": ...}`` files, zoo weight files) is
read here with ``torch.load(weights_only=True)`` and nothing else: only tensors, numbers,
strings, ``None`` and containers of them are rebuilt, so a pickle that asks to run a function is
refused with a one-line error instead of being executed. Checkpoints written before the RNG
states were stored as such types (NumPy's state as a tuple holding a ``uint32`` array) are read
by allowing exactly the NumPy functions that rebuild a ``uint32`` array, and converted on load.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

__all__ = ["load_state_file", "load_state_bytes"]


def _legacy_numpy_globals() -> list[Any]:
    """What rebuilds NumPy's legacy RNG key (a ``uint32`` array), under both module names.

    NumPy 1.x pickles ``numpy.core.multiarray._reconstruct``, NumPy 2 ``numpy._core...``. Only the
    ``uint32`` dtype class is allowed, so no array of another dtype (objects included) loads.
    """
    reconstruct = np.zeros(1, np.uint32).__reduce__()[0]
    return [
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        type(np.dtype(np.uint32)),
    ]


def _refusal(err: Exception) -> str:
    """One line from torch's multi-line weights-only error."""
    text = str(err)
    wanted = re.search(r"GLOBAL (\S+)", text)
    if wanted:
        return f"it asks to run {wanted.group(1)}, which a weights-only load refuses"
    if isinstance(err, EOFError):
        return "empty or truncated"
    after = text.split("WeightsUnpickler error:", 1)[-1]
    lines = [ln.strip() for ln in after.splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:200]


def _is_mt19937_key(key: Any) -> bool:
    return isinstance(key, np.ndarray) and key.dtype == np.uint32 and key.shape == (624,)


def _upgrade_legacy_rng(state: dict[str, Any]) -> None:
    """Convert NumPy states stored as ``np.random.get_state()`` tuples to the plain-type form
    of :func:`compressai_isp.training.checkpoint.rng_state`."""
    rngs = state.get("rng")
    for entry in rngs if isinstance(rngs, list) else []:
        legacy = entry.get("numpy") if isinstance(entry, dict) else None
        if isinstance(legacy, tuple) and len(legacy) == 5 and _is_mt19937_key(legacy[1]):
            kind, key, pos, has_gauss, gauss = legacy
            entry["numpy"] = {
                "bit_generator": kind,
                "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
                "pos": pos,
                "has_gauss": has_gauss,
                "gauss": gauss,
            }


def _holds_array(obj: Any) -> bool:
    # Iterative: a hostile file may nest containers deeper than Python's recursion limit.
    pending = [obj]
    while pending:
        item = pending.pop()
        if isinstance(item, np.ndarray):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _safe_load(source: str | os.PathLike[str] | IO[bytes], path: Path) -> dict[str, Any]:
    """``torch.load(source, weights_only=True)``, checked to be a dict; errors name ``path``."""
    try:
        # Warnings (e.g. about a foreign pickle protocol) would add lines to the one-line error.
        with warnings.catch_warnings(), torch.serialization.safe_globals(_legacy_numpy_globals()):
            warnings.simplefilter("ignore")
            state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated / foreign / hostile files
        raise ValueError(
            f"checkpoint {path} is not a checkpoint this library can read safely ({_refusal(err)})"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} does not hold a dict (got {type(state).__name__})")
    _upgrade_legacy_rng(state)
    if _holds_array(state):  # the allow-list exists for the legacy RNG key alone
        raise ValueError(f"checkpoint {path} holds NumPy arrays outside its RNG state")
    return state


def load_state_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint-like file safely (``weights_only=True``); it must hold a dict.

    Training checkpoints, ``model_best.pth`` exports, bare state dicts and other trainers'
    ``{"state_dict": ...}`` files all load here; every failure is a ``ValueError`` of one line
    naming the file, and nothing in the file is ever executed.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    return _safe_load(path, path)


def load_state_bytes(data: bytes, path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`load_state_file` for the bytes of ``path`` already read (e.g. to check a hash
    first): the same checks and the same one-line errors naming ``path``."""
    return _safe_load(io.BytesIO(data), Path(path))
