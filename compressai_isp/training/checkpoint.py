"""Training checkpoints: atomic writes and exact RNG capture for bit-exact resumption.

A checkpoint is a plain dict saved with ``torch.save`` to a temporary file in the target
directory, fsync'ed and ``os.replace``'d over the old one, so a ``SIGKILL`` at any instant leaves
either the previous complete checkpoint or the new complete one, never a torn file.
"""

from __future__ import annotations

import io
import random
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
    """Python, NumPy and torch (CPU and every CUDA device) generator states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
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


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint; raises ``ValueError`` naming the file when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        # Our own files hold RNG states (tuples, numpy arrays): not loadable with weights_only.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for truncated / foreign files
        raise ValueError(f"checkpoint {path} is not a readable torch file ({err})") from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} does not hold a dict (got {type(state).__name__})")
    return state


def load_state_file(path: str | Path) -> dict[str, Any]:
    """A bare state dict, an exported ``model_best.pth`` or a training checkpoint.

    Tensor-only files load with ``weights_only=True``; only our own training checkpoints (which
    hold RNG states) fall back to :func:`load_checkpoint`. Errors name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - training checkpoints hold RNG states; load them fully
        return load_checkpoint(path)
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} does not hold a dict (got {type(state).__name__})")
    return state
