"""Train any compressai-isp architecture, with or without knowledge distillation.

``python -m compressai_isp.train`` (or ``compressai-isp train``) follows CompressAI's
``examples/train.py`` flag names where they apply::

    python -m compressai_isp.train -m rbn -q 6 -d raw:/data/fivek/raw -d synthetic:/data/kodak \\
        --teacher-enc raw-comp-teacher --teacher-enc-checkpoint runs/comp-q6/model_best.pth \\
        --teacher-dec isp-teacher --teacher-dec-checkpoint runs/isp/model_best.pth \\
        --batch-size 8 --patch-size 256 256 --save runs/rbn-kd-q6

Loss (paper Eq. 4): ``L = R + λ·255²·MSE + L_AT`` with ``R`` in bits per sRGB output pixel.
Multi-GPU / multi-node: launch the same command with ``torchrun --nproc_per_node=G``.
Rerunning a command whose ``--save`` directory holds a checkpoint resumes it exactly.
Every flag is a field of :class:`~compressai_isp.training.config.TrainConfig` (``--help``
lists them); the README's training section explains them.
"""

from __future__ import annotations

import argparse
import sys

import torch

from compressai_isp.errors import run_command
from compressai_isp.training import distributed as ddp
from compressai_isp.training.config import (
    TrainConfig,
    add_arguments,
    check_config,
    config_from_namespace,
    parse_duration,
    parse_kwargs,
)
from compressai_isp.training.data import TrainingData, load_training_data
from compressai_isp.training.loop import Trainer
from compressai_isp.training.student import (
    check_input_space,
    check_student,
    resolve_input_space,
)

__all__ = [
    "build_parser",
    "config_from_args",
    "data_from_config",
    "main",
    "parse_args",
    "parse_duration",
    "parse_kwargs",
]


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` only where the help does not state its default already and
    there is a value to show (``None`` and off switches have none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        switch = action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)
        if "default" in text or switch or action.default in (None, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """``compressai-isp train``'s parser: the flags of every TrainConfig field."""
    parser = argparse.ArgumentParser(
        prog="compressai-isp train",
        description="Train a compressai-isp model (RAWtoBit, Jeong & Jung 2022).",
        formatter_class=_DefaultsHelpFormatter,
    )
    return add_arguments(parser)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's config from parsed flags, checked before any data is read (bad values, a
    model that refuses its ``--model-kwargs`` or the patch size)."""
    cfg = resolve_input_space(config_from_namespace(args))
    check_config(cfg)
    check_input_space(cfg)
    check_student(cfg)
    return cfg


def data_from_config(cfg: TrainConfig) -> TrainingData:
    """The ``-d/--dataset`` (and ``--val-dataset``) folders, read with the run's recipe."""
    return load_training_data(
        cfg.datasets, cfg.data_recipe(), val=cfg.validate, val_specs=cfg.val_datasets
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))

    def work() -> int:
        cfg = config_from_args(args)
        return Trainer(cfg, data_from_config(cfg)).fit()

    try:
        return run_command("compressai-isp train", work)
    finally:
        ddp.teardown()


if __name__ == "__main__":
    sys.exit(main())
