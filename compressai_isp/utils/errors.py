"""One rule for the exit status of every ``compressai-isp`` command.

* **1**: the input failed — a RAW file, data set or result file that cannot be read or used.
* **2**: the command line is wrong — a bad option value, weights that do not exist, a checkpoint
  or model that cannot do the job (argparse's own errors exit 2 as well).

Either way the error is one line on stderr, ``<prog>: error: <message>``.
"""

from __future__ import annotations

import sys

__all__ = ["EXIT_INPUT", "EXIT_USAGE", "EvalError", "UsageError", "exit_status", "report_error"]

EXIT_INPUT = 1
EXIT_USAGE = 2


class EvalError(RuntimeError):
    """Evaluation cannot proceed on this input; the message names the file at fault (exit 1)."""


class UsageError(EvalError, ValueError):
    """The command line cannot work: the message names the option at fault (exit 2).

    Also a ``ValueError``, what the Python functions raise for a bad argument."""


def exit_status(err: BaseException) -> int:
    """``EXIT_USAGE`` for a :class:`UsageError`, else ``EXIT_INPUT``."""
    return EXIT_USAGE if isinstance(err, UsageError) else EXIT_INPUT


def report_error(prog: str, err: BaseException) -> int:
    """Print ``err`` as one line on stderr and return its exit status."""
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"{prog}: error: {message}", file=sys.stderr)
    return exit_status(err)
