"""Initial weights of a run (``--init``, ``--isp-init``, ``--comp-init``): read safely, fitted."""

from __future__ import annotations

import os

from torch import Tensor, nn

from compressai_isp.io import load_state_file
from compressai_isp.training.errors import TrainingError

__all__ = ["load_into", "load_state_dict"]


def load_state_dict(path: str | os.PathLike[str], what: str = "--init") -> dict[str, Tensor]:
    """The state dict of a weight file, a ``model_best.pth`` export or a training checkpoint.

    Read safely (never runs code from the file); errors are one-line, prefixed by ``what``.
    """
    try:
        state = load_state_file(path)
    except ValueError as err:
        raise TrainingError(f"{what}: {err}") from None
    sd = state.get("state_dict", state)
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise TrainingError(f"{what}: {path} holds no model state dict")
    return sd


def load_into(model: nn.Module, sd: dict[str, Tensor], path: str, what: str) -> None:
    """``model.load_state_dict(sd)``, a one-line TrainingError when the weights do not fit."""
    try:
        model.load_state_dict(sd)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise TrainingError(
            f"{what} {path} does not fit the model: {' '.join(first[:3])[:300]}"
        ) from None
