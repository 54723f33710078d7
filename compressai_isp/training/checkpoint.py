"""Training checkpoints: atomic writes, exact RNG capture, and loading that never runs code.

A checkpoint is a plain dict saved with ``torch.save`` to a temporary file in the target
directory, fsync'ed and ``os.replace``'d over the old one, so a ``SIGKILL`` at any instant leaves
either the previous complete checkpoint or the new complete one, never a torn file.

Every file (training checkpoints, ``model_best.pth`` exports, bare state dicts, other trainers'
checkpoints) is read by :func:`load_checkpoint` with ``torch.load(weights_only=True)`` and
nothing else: only tensors, numbers, strings, ``None`` and containers of them are rebuilt, so a
pickle that asks to run a function is refused with a one-line error instead of being executed.
The RNG states are therefore stored as such types too. Checkpoints written before this format
(NumPy's state as a tuple holding a ``uint32`` array) are read by allowing exactly the NumPy
functions that rebuild a ``uint32`` array, and converted on load.
"""

from __future__ import annotations

import io
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compressai_isp.data._atomic import atomic_open

__all__ = [
    "CHECKPOINT_NAME",
    "BEST_NAME",
    "MODEL_NAME",
    "save_checkpoint",
    "load_checkpoint",
    "load_state_file",
    "rng_state",
    "set_rng_state",
]

#: File names in the ``--save`` directory (CompressAI's examples/train.py uses the same suffix).
CHECKPOINT_NAME = "checkpoint.pth.tar"
BEST_NAME = "checkpoint_best.pth.tar"
#: Inference export of the best model: ``{"arch", "quality", "config", "state_dict"}`` with
#: the entropy coder's CDF tables filled (``model.update()``).
MODEL_NAME = "model_best.pth"


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and every CUDA device) generator states.

    Only types that ``torch.load(weights_only=True)`` accepts: NumPy's MT19937 key is an int64
    tensor, Python's state a tuple of ints.
    """
    kind, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": str(kind),
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`rng_state`."""
    random.setstate(state["python"])
    n = state["numpy"]
    key = n["key"].numpy() if isinstance(n["key"], torch.Tensor) else np.asarray(n["key"])
    np.random.set_state(
        (n["bit_generator"], key.astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (serialised in memory first, then one write)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_open(path) as f:
        f.write(buf.getbuffer())
    return path


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
    """Convert NumPy states stored as ``np.random.get_state()`` tuples to :func:`rng_state`'s."""
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


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint-like file safely (``weights_only=True``); it must hold a dict.

    Training checkpoints, ``model_best.pth`` exports, bare state dicts and other trainers'
    ``{"state_dict": ...}`` files all load here; every failure is a ``ValueError`` of one line
    naming the file, and nothing in the file is ever executed.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        # Warnings (e.g. about a foreign pickle protocol) would add lines to the one-line error.
        with warnings.catch_warnings(), torch.serialization.safe_globals(_legacy_numpy_globals()):
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
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


#: Weight files and training checkpoints go through the same safe reader.
load_state_file = load_checkpoint
