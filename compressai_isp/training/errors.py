"""How a training run fails: the CLI turns each class into one line and an exit status."""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "TrainingDataError", "TrainingError"]


class TrainingError(ValueError):
    """A configuration problem, reported on one line by the CLI (exit status 2)."""


class TrainingDataError(TrainingError):
    """The training or validation data failed: missing, unreadable or unusable (exit status 1)."""


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; a checkpoint to resume from was written."""
