"""How a training run fails, on the package's one error rule (:mod:`compressai_isp.errors`)."""

from __future__ import annotations

from compressai_isp.errors import EXIT_INPUT, CompressAIISPError, UsageError

__all__ = ["NonFiniteLossError", "TrainingDataError", "TrainingError"]


class TrainingError(UsageError):
    """A configuration problem: the message names the option at fault (exit status 2)."""


class TrainingDataError(TrainingError):
    """The training or validation data failed: missing, unreadable or unusable (exit status 1)."""

    exit_status = EXIT_INPUT


class NonFiniteLossError(CompressAIISPError, RuntimeError):
    """The loss or the gradient norm became NaN/inf; a checkpoint to resume from was written
    (exit status 3: neither the input nor the command line, but the optimisation)."""

    exit_status = 3
