"""The evaluation tools' errors, on the package's one rule (:mod:`compressai_isp.errors`).

* **1**: the input failed — a RAW file, data set or result file that cannot be read or used.
* **2**: the command line is wrong — a bad option value, weights that do not exist, a checkpoint
  or model that cannot do the job (argparse's own errors exit 2 as well).

Either way the error is one line on stderr, ``<prog>: error: <message>``.
"""

from __future__ import annotations

from compressai_isp.errors import (
    EXIT_INPUT,
    EXIT_USAGE,
    InputError,
    UsageError,
    exit_status,
    report_error,
)

__all__ = ["EXIT_INPUT", "EXIT_USAGE", "EvalError", "UsageError", "exit_status", "report_error"]


class EvalError(InputError, RuntimeError):
    """Evaluation cannot proceed on this input; the message names the file at fault (exit 1)."""
