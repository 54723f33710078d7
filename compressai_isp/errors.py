"""The package's errors and the one rule that turns them into a message and an exit status.

Every error compressai-isp raises on purpose derives from :class:`CompressAIISPError`; its
``exit_status`` is what a ``compressai-isp`` command exits with:

* **1** (:class:`InputError`): the input failed — a RAW file, data set, stream or result file
  that cannot be read or used;
* **2** (:class:`UsageError`): the command line is wrong — a bad option value, weights that do
  not exist, a checkpoint or model that cannot do the job (argparse's own errors exit 2 too).

:func:`run_command` is the one place that applies the rule: every sub-command's ``main`` runs its
work through it, so each failure is one line on stderr, ``<prog>: error: <message>``, whatever
the command. Errors of Python and of the libraries underneath (``ValueError``, ``LookupError``,
``OSError``) count as a failed input; a command that knows one of them comes from the command
line says so with :func:`usage_errors`. This module imports nothing of the package, so every
layer (data, models, zoo, training, codec, utils) can derive its errors from it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

__all__ = [
    "DEBUG_ENV",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "HANDLED_ERRORS",
    "CompressAIISPError",
    "InputError",
    "UsageError",
    "error_line",
    "exit_status",
    "one_line",
    "report_error",
    "run_command",
    "usage_errors",
]

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C (128 + SIGINT)
#: Set to re-raise errors with their traceback instead of printing one line.
DEBUG_ENV = "COMPRESSAI_ISP_DEBUG"


class CompressAIISPError(Exception):
    """Base of every error compressai-isp raises on purpose; a subclass sets ``exit_status``."""

    exit_status: ClassVar[int] = EXIT_INPUT


class InputError(CompressAIISPError):
    """The input failed: a file, data set or stream that cannot be read or used (exit 1)."""


class UsageError(CompressAIISPError, ValueError):
    """The command line cannot work: the message names the option at fault (exit 2).

    Also a ``ValueError``, what the Python functions raise for a bad argument."""

    exit_status = EXIT_USAGE


#: What :func:`run_command` reports in one line; anything else is a bug and keeps its traceback.
HANDLED_ERRORS: tuple[type[BaseException], ...] = (
    CompressAIISPError,
    ValueError,
    LookupError,
    OSError,
)


def exit_status(err: BaseException) -> int:
    """The exit status of ``err``: its class's ``exit_status``, ``EXIT_INPUT`` for the errors
    of Python and the libraries."""
    return err.exit_status if isinstance(err, CompressAIISPError) else EXIT_INPUT


def one_line(err: BaseException) -> str:
    """``err``'s message on one line (its class name when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__


def error_line(prog: str, err: BaseException | str) -> str:
    """``<prog>: error: <message>``, the one line every command prints for a failure."""
    message = err if isinstance(err, str) else one_line(err)
    return f"{prog}: error: {message}"


def report_error(prog: str, err: BaseException) -> int:
    """Print ``err`` as one line on stderr and return its exit status."""
    print(error_line(prog, err), file=sys.stderr)
    return exit_status(err)


def run_command(prog: str, work: Callable[[], int | None]) -> int:
    """Run a command's ``work`` and return its exit status; a failure is one line on stderr.

    A :data:`HANDLED_ERRORS` error exits with :func:`exit_status`, Ctrl-C with 130 (outputs are
    written atomically, so nothing half-written is left). With ``$COMPRESSAI_ISP_DEBUG`` set the
    error is re-raised with its traceback. ``SystemExit`` (argparse's ``--help`` and usage
    errors) passes through untouched.
    """
    try:
        return int(work() or 0)
    except HANDLED_ERRORS as err:
        if os.environ.get(DEBUG_ENV):
            raise
        return report_error(prog, err)
    except KeyboardInterrupt:
        print(error_line(prog, "interrupted (no partial output was left behind)"), file=sys.stderr)
        return EXIT_INTERRUPTED


@contextmanager
def usage_errors() -> Iterator[None]:
    """Report any failure inside as a :class:`UsageError` (same message): for work the command
    line names directly, such as loading the weights it asks for."""
    try:
        yield
    except UsageError:
        raise
    except HANDLED_ERRORS as err:
        raise UsageError(one_line(err)) from err
