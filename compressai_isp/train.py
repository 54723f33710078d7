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
See docs/readme/training.md for every option.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch

from compressai_isp.data import INPUT_SPACES, SYNTHETIC_ISPS
from compressai_isp.distill import ALPHA0_DECODER, ALPHA0_ENCODER, GAMMA
from compressai_isp.precision import PRECISIONS
from compressai_isp.registry import MODELS
from compressai_isp.training.data import (
    DATASET_KINDS,
    DataRecipe,
    build_datasets,
    default_cache_dir,
)
from compressai_isp.training.loop import (
    NonFiniteLossError,
    TeacherConfig,
    TrainConfig,
    Trainer,
    TrainingDataError,
    TrainingError,
    build_model,
    check_budget,
    check_patch_size,
)
from compressai_isp.training.tasks import TASKS

__all__ = ["main", "parse_args", "config_from_args", "parse_duration", "parse_kwargs"]


def parse_duration(text: str) -> float:
    """Seconds from ``"3600"``, ``"90m"``, ``"1h30m"``, ``"2h"``, ``"45s"``."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", t)
    if not t or m is None:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 3600, 90m, 1h30m)")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def _number(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def parse_kwargs(text: str) -> dict[str, Any]:
    """``"N=64,M=96"`` or ``"N=64 M=96"`` -> ``{"N": 64, "M": 96}`` (zoo constructor overrides)."""
    out: dict[str, Any] = {}
    # Items are separated by commas and/or spaces; spaces around "=" belong to the item.
    for item in filter(None, re.split(r"[\s,]+", re.sub(r"\s*=\s*", "=", text.strip()))):
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier() or not value:
            raise argparse.ArgumentTypeError(
                f'invalid --model-kwargs item {item!r} (use NAME=VALUE, e.g. "N=64,M=96")'
            )
        out[key] = _number(value)
    return out


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` only where the help does not state its default already and
    there is a value to show (``None`` and off switches have none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp train",
        description="Train a compressai-isp model (RAWtoBit, Jeong & Jung 2022).",
        formatter_class=_DefaultsHelpFormatter,
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "-m",
        "--model",
        "--arch",
        dest="arch",
        default="rbn",
        choices=sorted(TASKS),
        help="architecture (compressai_isp.zoo.image_models)",
    )
    g.add_argument(
        "-q",
        "--quality",
        type=int,
        default=None,
        help="quality index: zoo widths and default --lambda",
    )
    g.add_argument(
        "--lambda",
        dest="lmbda",
        type=float,
        default=None,
        help="rate-distortion trade-off λ of R + λ·255²·MSE (default: the zoo ladder)",
    )
    g.add_argument(
        "--metric",
        choices=("mse", "ms-ssim"),
        default="mse",
        help="distortion of the loss: λ·255²·MSE or λ·(1 - MS-SSIM)",
    )
    g.add_argument(
        "--model-kwargs",
        type=parse_kwargs,
        default={},
        help='constructor overrides, e.g. "N=64,M=96,N_hyper=64,decoder_width=16"',
    )
    g.add_argument(
        "--pretrained",
        action="store_true",
        help="start from the zoo's trained weights (fine-tuning)",
    )
    g.add_argument(
        "--init", default=None, help="start from these weights (state dict or checkpoint)"
    )
    g.add_argument("--isp-init", default=None, help="cascaded: LiteISPNet weights to fine-tune")
    g.add_argument(
        "--comp-init", default=None, help="cascaded: mbt2018 weights of the frozen Comp-Net"
    )

    g = p.add_argument_group("distillation (RAWtoBit §3.3; rbn and any model with g_a/g_s)")
    g.add_argument(
        "--teacher-enc",
        default=None,
        help="encoder teacher architecture (raw-comp-teacher); without a checkpoint, the zoo's "
        "trained weights for --quality",
    )
    g.add_argument(
        "--teacher-enc-checkpoint",
        default=None,
        help="the encoder teacher's weights (model_best.pth, training checkpoint or state dict)",
    )
    g.add_argument("--teacher-dec", default=None, help="decoder teacher architecture (isp-teacher)")
    g.add_argument(
        "--teacher-dec-checkpoint",
        default=None,
        help="the decoder teacher's weights (model_best.pth, training checkpoint or state dict)",
    )
    g.add_argument(
        "--kd-alpha-enc", type=float, default=ALPHA0_ENCODER, help="α0 of the encoder pairs"
    )
    g.add_argument(
        "--kd-alpha-dec", type=float, default=ALPHA0_DECODER, help="α0 of the decoder pairs"
    )
    g.add_argument("--kd-gamma", type=float, default=GAMMA, help="γ of α = α0·γ^(k²) (Eq. 3)")
    g.add_argument("--kd-unit", choices=("epoch", "step"), default="epoch", help="what k counts")
    g.add_argument(
        "--kd-attention",
        choices=("signed", "abs"),
        default="signed",
        help="signed channel sum (Eq. 1) or sum of |A|^p (original AT)",
    )
    g.add_argument("--kd-p", type=float, default=1.0, help="p of --kd-attention abs")

    g = p.add_argument_group("data")
    g.add_argument(
        "-d",
        "--dataset",
        action="append",
        required=True,
        metavar="[KIND:]PATH",
        help=f"training data, repeatable; KIND is one of {', '.join(DATASET_KINDS)}",
    )
    g.add_argument(
        "--patch-size",
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=("H", "W"),
        help="training patch size in sRGB pixels (the packed RAW patch is H/2 x W/2)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="training patches per step and process (at most the training images per epoch)",
    )
    g.add_argument("--test-batch-size", type=int, default=8, help="validation patches per step")
    g.add_argument(
        "-n",
        "--num-workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="DataLoader worker processes (0: load in the training process)",
    )
    g.add_argument(
        "--val-dataset",
        action="append",
        default=None,
        metavar="[KIND:]PATH",
        help="validate on these whole folders instead of the raw:/paired: val splits",
    )
    g.add_argument(
        "--val-patches",
        type=int,
        default=4,
        help="fixed random patches per validation image (the same at every validation)",
    )
    g.add_argument("--no-val", action="store_true", help="skip validation")
    g.add_argument(
        "--cache-dir",
        default=None,
        help="decoded-image cache (default $XDG_CACHE_HOME/compressai-isp/pairs; "
        "'none' decodes every time)",
    )
    g.add_argument(
        "--input-space",
        choices=INPUT_SPACES,
        default="paper",
        help="what the packed RAW is normalised for (recorded in the model): 'paper' (RAWtoBit "
        "§4.1, black/white levels) or 'camera-normalised' (also the file's as-shot white "
        "balance and camera->sRGB matrix) (default: %(default)s)",
    )
    g.add_argument(
        "--synthetic-isp",
        choices=SYNTHETIC_ISPS,
        default="unprocessing",
        help="the ISP synthetic: folders imitate: 'unprocessing' (the paper's recipe, the "
        "source image is the target) or 'libraw' (the ISP of the raw: targets, one ISP for "
        "every target) (default: %(default)s)",
    )
    g.add_argument(
        "--strict-data",
        action="store_true",
        help="fail on an unusable file instead of skipping it with a warning",
    )

    g = p.add_argument_group("optimisation")
    g.add_argument(
        "-e",
        "--epochs",
        type=int,
        default=None,
        help="epochs to train (default 100 unless --max-steps/--max-time is given)",
    )
    g.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    g.add_argument(
        "--max-time",
        type=parse_duration,
        default=None,
        help="stop (with a checkpoint) after this wall time, e.g. 90m or 1h30m",
    )
    g.add_argument(
        "-lr", "--learning-rate", type=float, default=5e-5, help="Adam learning rate (paper §4.1)"
    )
    g.add_argument(
        "--lr-decay-step",
        type=int,
        default=None,
        help="iteration at which lr drops by --lr-decay-factor (default 0.9·max-steps)",
    )
    g.add_argument(
        "--lr-decay-factor", type=float, default=0.1, help="lr multiplier at --lr-decay-step"
    )
    g.add_argument(
        "--aux-learning-rate",
        type=float,
        default=1e-3,
        help="learning rate of the auxiliary Adam on the entropy bottleneck's quantiles",
    )
    g.add_argument("--clip_max_norm", type=float, default=1.0, help="gradient clipping (0: off)")
    g.add_argument("--seed", type=int, default=None, help="random seed (recorded in checkpoints)")
    g.add_argument("--cuda", action="store_true", help="train on CUDA")
    g.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="arithmetic of the image transforms (g_a, g_s, ISP-Net); the rate terms and "
        "likelihoods stay float32. auto: bf16 where the CPU or GPU runs it natively "
        "(AVX512-BF16 / AMX, bf16 CUDA), else fp32 (default: %(default)s)",
    )
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="channels-last memory format for the image transforms (default: on, faster on "
        "CPUs and GPUs alike)",
    )
    g.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (minutes of compilation first; see README for whether "
        "it pays off)",
    )
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    g = p.add_argument_group("checkpoints and logs")
    g.add_argument(
        "--save",
        default=None,
        metavar="DIR",
        help="output directory (default runs/<model>[-q<quality>])",
    )
    g.add_argument("--checkpoint", default=None, help="resume from this checkpoint")
    g.add_argument(
        "--no-resume",
        action="store_true",
        help="start afresh even if --save holds a checkpoint (it is overwritten)",
    )
    g.add_argument(
        "--checkpoint-every", type=int, default=500, help="iterations between checkpoints"
    )
    g.add_argument("--val-every", type=int, default=1000, help="iterations between validations")
    g.add_argument("--log-every", type=int, default=10, help="iterations per CSV/TensorBoard row")
    g.add_argument("--print-every", type=int, default=100, help="iterations per printed log line")
    g.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    g.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard events in DIR/tb")
    g.add_argument("--no-export", action="store_true", help="do not write model_best.pth")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _teacher(args: argparse.Namespace, role: str, alpha0: float) -> TeacherConfig | None:
    arch = getattr(args, f"teacher_{role}")
    ckpt = getattr(args, f"teacher_{role}_checkpoint")
    if arch is None and ckpt is None:
        return None
    if arch is None:
        raise TrainingError(
            f"--teacher-{role}-checkpoint needs --teacher-{role} (its architecture)"
        )
    return TeacherConfig(arch, ckpt, alpha0)


def _model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-kwargs`` plus the RAW input space of ``--input-space`` (a RAW-input model
    records it, so its encoder normalises a photo the way it was trained)."""
    kwargs = dict(args.model_kwargs)
    declared = kwargs.pop("input_space", args.input_space)
    if declared != args.input_space:
        raise TrainingError(
            f"--model-kwargs input_space={declared} contradicts --input-space {args.input_space}"
        )
    if MODELS[args.arch].input_kind == "raw":
        kwargs["input_space"] = args.input_space
    return kwargs


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Validate the parsed flags and load the datasets."""
    for name in ("batch_size", "test_batch_size"):
        if getattr(args, name) < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be >= 1")
    check_budget(args.epochs, args.max_steps, args.max_time)
    if args.learning_rate <= 0:
        raise TrainingError("--learning-rate must be > 0")
    if not 0 < args.kd_gamma <= 1:
        raise TrainingError(f"--kd-gamma must be in (0, 1], got {args.kd_gamma}")
    h, w = args.patch_size
    if h <= 0 or w <= 0 or h % 2 or w % 2:
        raise TrainingError(f"--patch-size must be positive and even, got {h} {w}")
    model_kwargs = _model_kwargs(args)
    # A patch the model cannot take is refused before any data is decoded.
    quality = args.quality if args.quality is not None else 1
    probe = build_model(args.arch, quality, args.metric, model_kwargs)
    check_patch_size(probe, (h, w), f"--model {args.arch}")
    del probe
    teacher_enc = _teacher(args, "enc", args.kd_alpha_enc)
    teacher_dec = _teacher(args, "dec", args.kd_alpha_dec)
    save = args.save or f"runs/{args.arch}" + (f"-q{args.quality}" if args.quality else "")
    if args.cache_dir is None:
        cache_dir: Path | None = default_cache_dir()
    else:
        cache_dir = None if args.cache_dir.lower() == "none" else Path(args.cache_dir)
    recipe = DataRecipe(
        patch_size=(h, w),
        cache_dir=cache_dir,
        skip_unreadable=not args.strict_data,
        input_space=args.input_space,
        synthetic_isp=args.synthetic_isp,
    )
    train_sets, val_sets, desc = build_datasets(
        args.dataset, recipe, val=not args.no_val, val_specs=args.val_dataset
    )
    return TrainConfig(
        arch=args.arch,
        quality=args.quality,
        metric=args.metric,
        lmbda=args.lmbda,
        model_kwargs=model_kwargs,
        pretrained=args.pretrained,
        init=args.init,
        isp_init=args.isp_init,
        comp_init=args.comp_init,
        teacher_enc=teacher_enc,
        teacher_dec=teacher_dec,
        kd_gamma=args.kd_gamma,
        kd_unit=args.kd_unit,
        kd_attention=args.kd_attention,
        kd_p=args.kd_p,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_time=args.max_time,
        learning_rate=args.learning_rate,
        lr_decay_step=args.lr_decay_step,
        lr_decay_factor=args.lr_decay_factor,
        aux_learning_rate=args.aux_learning_rate,
        clip_max_norm=args.clip_max_norm,
        batch_size=args.batch_size,
        test_batch_size=args.test_batch_size,
        val_patches=max(1, args.val_patches),
        patch_size=(h, w),
        num_workers=args.num_workers,
        seed=args.seed,
        cuda=args.cuda,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
        save=save,
        checkpoint=args.checkpoint,
        resume=not args.no_resume,
        checkpoint_every=args.checkpoint_every,
        val_every=0 if args.no_val else args.val_every,
        log_every=max(1, args.log_every),
        print_every=max(1, args.print_every),
        progress=not args.no_progress,
        tensorboard=not args.no_tensorboard,
        export=not args.no_export,
        input_space=args.input_space,
        synthetic_isp=args.synthetic_isp,
        train_sets=train_sets,
        val_sets=val_sets,
        dataset_desc=desc,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    try:
        trainer = Trainer(config_from_args(args))
        return trainer.fit()
    except TrainingError as err:
        # The library's one rule: 1 when the input (the data) failed, 2 for the command line.
        print(f"compressai-isp train: error: {err}", file=sys.stderr)
        return 1 if isinstance(err, TrainingDataError) else 2
    except NonFiniteLossError as err:
        print(f"compressai-isp train: error: {err}", file=sys.stderr)
        return 3
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
