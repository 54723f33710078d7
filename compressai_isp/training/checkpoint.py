"""Training checkpoints: atomic writes and exact RNG capture, in files that never run code.

A checkpoint is a plain dict saved with ``torch.save`` to a temporary file in the target
directory, fsync'ed and ``os.replace``'d over the old one (:func:`compressai_isp.io.atomic_open`),
so a ``SIGKILL`` at any instant leaves either the previous complete checkpoint or the new
complete one, never a torn file.

Every file (training checkpoints, ``model_best.pth`` exports, bare state dicts, other trainers'
checkpoints) is read by :func:`compressai_isp.io.load_state_file` (here also
:func:`load_checkpoint`) with ``torch.load(weights_only=True)`` and nothing else, so the RNG
states are stored as plain types too; checkpoints written before that (NumPy's state as a tuple
holding a ``uint32`` array) are converted on load.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compressai_isp.io.atomic import atomic_open
from compressai_isp.io.state_file import load_state_file

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


#: Training checkpoints are read like every other state file: safely, by the one reader.
load_checkpoint = load_state_file
