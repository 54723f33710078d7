"""``compressai-isp`` console script: one entry point, one sub-command per job.

Each sub-command lives in the module that owns the job and exposes ``main(argv) -> int``; this
file only dispatches, so ``compressai-isp train ...`` and ``python -m compressai_isp.train ...``
are the same program. Every command follows one exit-status rule, applied in one place
(:func:`compressai_isp.errors.run_command`): 1 when the input failed, 2 when the command line
is wrong, each failure one line ``compressai-isp <command>: error: <message>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from compressai_isp import __version__
from compressai_isp.errors import EXIT_USAGE

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "compressai_isp.codec.demo",
        "encode and decode a shipped sample RAW with the default model",
    ),
    "encode": ("compressai_isp.codec.cli", "RAW photo(s) -> .rbit bitstream file(s)"),
    "decode": ("compressai_isp.codec.cli", ".rbit file(s) -> sRGB PNG/TIFF"),
    "info": ("compressai_isp.codec.cli", "print the header of .rbit file(s)"),
    "train": ("compressai_isp.train", "train any architecture, with or without distillation"),
    "eval": ("compressai_isp.utils.eval_model", "rate-distortion evaluation on RAW input"),
    "anchors": ("compressai_isp.utils.anchors", "conventional ISP + codec anchors"),
    "plot": ("compressai_isp.utils.plot", "RD plot from result JSON files"),
    "compare": (
        "compressai_isp.utils.compare",
        "figure: ground truth, decoded images and error maps of one RAW photo",
    ),
    "bd": ("compressai_isp.utils.bd", "Bjontegaard delta rate / PSNR between two result JSONs"),
}


def build_parser(command: str) -> argparse.ArgumentParser:
    """The argument parser of sub-command ``command`` (each module's ``build_parser``)."""
    module = importlib.import_module(SUBCOMMANDS[command][0])
    # The codec module serves three commands, so it is told which one it builds.
    if module.__name__ == "compressai_isp.codec.cli":
        return module.build_parser(command)
    return module.build_parser()


def _usage() -> str:
    lines = ["usage: compressai-isp [--version] <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        print(f"compressai-isp {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"compressai-isp: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return EXIT_USAGE
    module = importlib.import_module(SUBCOMMANDS[command][0])
    # The codec module serves three commands, so it is told which one it runs.
    if module.__name__ == "compressai_isp.codec.cli":
        return int(module.main([command, *rest]) or 0)
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
