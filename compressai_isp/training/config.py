"""The one definition of a training run: :class:`TrainConfig`, and its command line.

Every field carries its command-line flag in its metadata (:func:`option`): names, help, the
argparse type, choices or action, and the help group. :func:`add_arguments` builds the parser
from those fields and :func:`config_from_namespace` builds the config back from the parsed
flags, so a flag is written once, here. A field whose flags do not map onto it one to one
(a teacher: architecture, weights, alpha0) names how it is read from the flags
(``from_args``).

The config holds plain values only (no datasets, no paths objects), so it is recorded whole in
every checkpoint and export (:func:`config_record`) and read back with a weights-only load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compressai_isp import zoo
from compressai_isp.data import INPUT_SPACES, SYNTHETIC_ISPS
from compressai_isp.distill import ALPHA0_DECODER, ALPHA0_ENCODER, GAMMA
from compressai_isp.precision import PRECISIONS
from compressai_isp.training.data import DATASET_KINDS, DataRecipe, default_cache_dir
from compressai_isp.training.errors import TrainingError
from compressai_isp.training.tasks import TASKS

__all__ = [
    "DEFAULT_INPUT_SPACE",
    "DEFAULT_SYNTHETIC_ISP",
    "GROUPS",
    "Flag",
    "TeacherConfig",
    "TrainConfig",
    "add_arguments",
    "check_budget",
    "check_config",
    "config_from_namespace",
    "config_record",
    "flag_name",
    "parse_duration",
    "parse_kwargs",
]

MODEL, DISTILL, DATA, OPTIM, OUTPUT = (
    "model",
    "distillation (RAWtoBit §3.3; rbn and any model with g_a/g_s)",
    "data",
    "optimisation",
    "checkpoints and logs",
)
#: Help groups, in the order ``--help`` lists them.
GROUPS = (MODEL, DISTILL, DATA, OPTIM, OUTPUT)

#: The data recipe of a fresh run, chosen by the README's ablation (LiteISPNet at equal budget:
#: camera-normalised input and one-ISP synthetic targets); the paper's is paper/unprocessing.
DEFAULT_INPUT_SPACE = "camera-normalised"
DEFAULT_SYNTHETIC_ISP = "libraw"


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


_FIELD_DEFAULT: Any = object()  # "the argparse default is the field's default"


@dataclass(frozen=True)
class Flag:
    """One command-line option of a :class:`TrainConfig` field.

    ``argparse`` holds what ``add_argument`` takes besides names, help, dest and default;
    a callable ``choices`` is evaluated when the parser is built (the architectures known then).
    """

    names: tuple[str, ...]
    help: str
    group: str
    dest: str | None = None  # None: the field's name
    default: Any = _FIELD_DEFAULT
    argparse: Mapping[str, Any] = field(default_factory=dict)


def option(
    *names: str,
    help: str,
    group: str,
    default: Any = None,
    factory: Callable[[], Any] | None = None,
    cli_default: Any = _FIELD_DEFAULT,
    convert: Callable[[Any], Any] | None = None,
    **argparse_kwargs: Any,
) -> Any:
    """A :class:`TrainConfig` field set by the flag ``names``.

    ``factory`` makes a mutable default; ``cli_default`` is the flag's default where it
    differs from the field's (a library caller gets the field's); ``convert`` maps the parsed
    value; the rest goes to ``add_argument``.
    """
    flag = Flag(names, help, group, default=cli_default, argparse=argparse_kwargs)
    metadata = {"flags": (flag,), "convert": convert}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TeacherConfig:
    arch: str
    checkpoint: str | None  # None: the zoo's trained weights for the run's quality
    alpha0: float


def _teacher_option(role: str, alpha0: float, arch_help: str) -> Any:
    """The ``--teacher-ROLE``, ``--teacher-ROLE-checkpoint`` and ``--kd-alpha-ROLE`` flags."""
    flags = (
        Flag((f"--teacher-{role}",), arch_help, DISTILL),
        Flag(
            (f"--teacher-{role}-checkpoint",),
            f"the {'encoder' if role == 'enc' else 'decoder'} teacher's weights (model_best.pth, "
            "training checkpoint or state dict)",
            DISTILL,
            dest=f"teacher_{role}_checkpoint",
        ),
        Flag(
            (f"--kd-alpha-{role}",),
            f"α0 of the {'encoder' if role == 'enc' else 'decoder'} pairs",
            DISTILL,
            dest=f"kd_alpha_{role}",
            default=alpha0,
            argparse={"type": float},
        ),
    )

    def from_args(ns: argparse.Namespace) -> TeacherConfig | None:
        arch, ckpt = getattr(ns, f"teacher_{role}"), getattr(ns, f"teacher_{role}_checkpoint")
        if arch is None and ckpt is None:
            return None
        if arch is None:
            raise TrainingError(
                f"--teacher-{role}-checkpoint needs --teacher-{role} (its architecture)"
            )
        return TeacherConfig(arch, ckpt, getattr(ns, f"kd_alpha_{role}"))

    return field(default=None, metadata={"flags": flags, "from_args": from_args})


def _at_least_one(v: int) -> int:
    return max(1, v)


@dataclass
class TrainConfig:
    """Every knob of a run; ``compressai_isp.train`` fills it from the command line."""

    # -- model ---------------------------------------------------------------------------------
    arch: str = option(
        "-m", "--model", "--arch", default="rbn", group=MODEL, choices=lambda: sorted(TASKS),
        help="architecture (compressai_isp.zoo.image_models)",
    )  # fmt: skip
    quality: int | None = option(
        "-q", "--quality", group=MODEL, type=int,
        help="quality index: zoo widths and default --lambda",
    )  # fmt: skip
    lmbda: float | None = option(
        "--lambda", group=MODEL, type=float,
        help="rate-distortion trade-off λ of R + λ·255²·MSE (default: the zoo ladder)",
    )  # fmt: skip
    metric: str = option(
        "--metric", default="mse", group=MODEL, choices=("mse", "ms-ssim"),
        help="distortion of the loss: λ·255²·MSE or λ·(1 - MS-SSIM)",
    )  # fmt: skip
    model_kwargs: dict[str, Any] = option(
        "--model-kwargs", group=MODEL, factory=dict, type=parse_kwargs,
        help='constructor overrides, e.g. "N=64,M=96,N_hyper=64,decoder_width=16"',
    )  # fmt: skip
    pretrained: bool = option(
        "--pretrained", default=False, group=MODEL, action="store_true",
        help="start from the zoo's trained weights (fine-tuning)",
    )  # fmt: skip
    init: str | None = option(
        "--init",
        group=MODEL,
        help="start from these weights (state dict or checkpoint)",
    )
    isp_init: str | None = option(
        "--isp-init", group=MODEL, help="cascaded: LiteISPNet weights to fine-tune"
    )
    comp_init: str | None = option(
        "--comp-init",
        group=MODEL,
        help="cascaded: mbt2018 weights of the frozen Comp-Net",
    )

    # -- distillation --------------------------------------------------------------------------
    teacher_enc: TeacherConfig | None = _teacher_option(
        "enc", ALPHA0_ENCODER,
        "encoder teacher architecture (raw-comp-teacher); without a checkpoint, the zoo's "
        "trained weights for --quality",
    )  # fmt: skip
    teacher_dec: TeacherConfig | None = _teacher_option(
        "dec", ALPHA0_DECODER, "decoder teacher architecture (isp-teacher)"
    )
    kd_gamma: float = option(
        "--kd-gamma", default=GAMMA, group=DISTILL, type=float, help="γ of α = α0·γ^(k²) (Eq. 3)"
    )
    kd_unit: str = option(
        "--kd-unit", default="epoch", group=DISTILL, choices=("epoch", "step"), help="what k counts"
    )
    kd_attention: str = option(
        "--kd-attention", default="signed", group=DISTILL, choices=("signed", "abs"),
        help="signed channel sum (Eq. 1) or sum of |A|^p (original AT)",
    )  # fmt: skip
    kd_p: float = option(
        "--kd-p", default=1.0, group=DISTILL, type=float, help="p of --kd-attention abs"
    )

    # -- data (the datasets themselves are handed to the Trainer separately) -------------------
    datasets: list[str] = option(
        "-d", "--dataset", group=DATA, factory=list, cli_default=None, action="append",
        required=True, metavar="[KIND:]PATH",
        help=f"training data, repeatable; KIND is one of {', '.join(DATASET_KINDS)}",
    )  # fmt: skip
    patch_size: tuple[int, int] = option(
        "--patch-size", default=(256, 256), group=DATA, type=int, nargs=2, metavar=("H", "W"),
        convert=tuple,
        help="training patch size in sRGB pixels (the packed RAW patch is H/2 x W/2)",
    )  # fmt: skip
    batch_size: int = option(
        "--batch-size", default=8, group=DATA, type=int,
        help="training patches per step and process (at most the training images per epoch)",
    )  # fmt: skip
    test_batch_size: int = option(
        "--test-batch-size", default=8, group=DATA, type=int, help="validation patches per step"
    )
    num_workers: int = option(
        "-n", "--num-workers", default=0, group=DATA, type=int,
        cli_default=min(4, os.cpu_count() or 1),
        help="DataLoader worker processes (0: load in the training process)",
    )  # fmt: skip
    val_datasets: list[str] | None = option(
        "--val-dataset", group=DATA, action="append", metavar="[KIND:]PATH",
        help="validate on these whole folders instead of the raw:/paired: val splits",
    )  # fmt: skip
    val_patches: int = option(
        "--val-patches", default=4, group=DATA, type=int, convert=_at_least_one,
        help="fixed random patches per validation image (the same at every validation)",
    )  # fmt: skip
    validate: bool = option(
        "--no-val", default=True, group=DATA, action="store_false", help="skip validation"
    )
    cache_dir: str | None = option(
        "--cache-dir", group=DATA,
        help="decoded-image cache (default $XDG_CACHE_HOME/compressai-isp/pairs; "
        "'none' decodes every time)",
    )  # fmt: skip
    input_space: str | None = option(
        "--input-space", default=None, group=DATA, choices=INPUT_SPACES,
        help="what the packed RAW is normalised for (recorded in the model): 'paper' (RAWtoBit "
        "§4.1, black/white levels) or 'camera-normalised' (also the file's as-shot white "
        "balance and camera->sRGB matrix); default: the space of the weights the run continues "
        f"(--pretrained, --init, a resumed checkpoint), else {DEFAULT_INPUT_SPACE}",
    )  # fmt: skip
    synthetic_isp: str = option(
        "--synthetic-isp", default=DEFAULT_SYNTHETIC_ISP, group=DATA, choices=SYNTHETIC_ISPS,
        help="the ISP synthetic: folders imitate: 'unprocessing' (the paper's recipe, the "
        "source image is the target) or 'libraw' (the ISP of the raw: targets, one ISP for "
        "every target) (default: %(default)s)",
    )  # fmt: skip
    synthetic_noise_draws: int = option(
        "--synthetic-noise-draws", default=1, group=DATA, type=int, convert=_at_least_one,
        help="items per synthetic: image, each with its own camera parameters and noise "
        "(draw 0 is the image's usual one) (default: %(default)s)",
    )  # fmt: skip
    strict_data: bool = option(
        "--strict-data", default=False, group=DATA, action="store_true",
        help="fail on an unusable file instead of skipping it with a warning",
    )  # fmt: skip

    # -- optimisation --------------------------------------------------------------------------
    epochs: int | None = option(
        "-e", "--epochs", group=OPTIM, type=int,
        help="epochs to train (default 100 unless --max-steps/--max-time is given)",
    )  # fmt: skip
    max_steps: int | None = option(
        "--max-steps", group=OPTIM, type=int, help="stop after this many iterations"
    )
    max_time: float | None = option(  # seconds of wall time for this process
        "--max-time", group=OPTIM, type=parse_duration,
        help="stop (with a checkpoint) after this wall time, e.g. 90m or 1h30m",
    )  # fmt: skip
    learning_rate: float = option(
        "-lr", "--learning-rate", default=5e-5, group=OPTIM, type=float,
        help="Adam learning rate (paper §4.1)",
    )  # fmt: skip
    lr_decay_step: int | None = option(
        "--lr-decay-step", group=OPTIM, type=int,
        help="iteration at which lr drops by --lr-decay-factor (default 0.9·max-steps)",
    )  # fmt: skip
    lr_decay_factor: float = option(
        "--lr-decay-factor",
        default=0.1,
        group=OPTIM,
        type=float,
        help="lr multiplier at --lr-decay-step",
    )
    aux_learning_rate: float = option(
        "--aux-learning-rate", default=1e-3, group=OPTIM, type=float,
        help="learning rate of the auxiliary Adam on the entropy bottleneck's quantiles",
    )  # fmt: skip
    clip_max_norm: float = option(
        "--clip_max_norm", default=1.0, group=OPTIM, type=float, help="gradient clipping (0: off)"
    )
    seed: int | None = option(
        "--seed", group=OPTIM, type=int, help="random seed (recorded in checkpoints)"
    )
    cuda: bool = option(
        "--cuda", default=False, group=OPTIM, action="store_true", help="train on CUDA"
    )
    precision: str = option(
        "--precision", default="auto", group=OPTIM, choices=PRECISIONS,
        help="arithmetic of the image transforms (g_a, g_s, ISP-Net); the rate terms and "
        "likelihoods stay float32. auto: bf16 where the CPU or GPU runs it natively "
        "(AVX512-BF16 / AMX, bf16 CUDA), else fp32 (default: %(default)s)",
    )  # fmt: skip
    channels_last: bool = option(
        "--channels-last", default=True, group=OPTIM, action=argparse.BooleanOptionalAction,
        help="channels-last memory format for the image transforms (default: on, faster on "
        "CPUs and GPUs alike)",
    )  # fmt: skip
    compile: bool = option(
        "--compile", default=False, group=OPTIM, action="store_true",
        help="torch.compile the model (minutes of compilation first; see README for whether "
        "it pays off)",
    )  # fmt: skip
    threads: int | None = option("--threads", group=OPTIM, type=int, help="torch CPU threads")

    # -- checkpoints and logs ------------------------------------------------------------------
    save: str | None = option(  # None: runs/<arch>[-q<quality>]
        "--save", group=OUTPUT, metavar="DIR",
        help="output directory (default runs/<model>[-q<quality>])",
    )  # fmt: skip
    checkpoint: str | None = option(
        "--checkpoint", group=OUTPUT, help="resume from this checkpoint"
    )
    resume: bool = option(
        "--no-resume", default=True, group=OUTPUT, action="store_false",
        help="start afresh even if --save holds a checkpoint (it is overwritten)",
    )  # fmt: skip
    checkpoint_every: int = option(
        "--checkpoint-every",
        default=500,
        group=OUTPUT,
        type=int,
        help="iterations between checkpoints",
    )
    val_every: int = option(
        "--val-every", default=1000, group=OUTPUT, type=int, help="iterations between validations"
    )
    log_every: int = option(
        "--log-every", default=10, group=OUTPUT, type=int, convert=_at_least_one,
        help="iterations per CSV/TensorBoard row",
    )  # fmt: skip
    print_every: int = option(
        "--print-every", default=100, group=OUTPUT, type=int, convert=_at_least_one,
        help="iterations per printed log line",
    )  # fmt: skip
    progress: bool = option(
        "--no-progress",
        default=True,
        group=OUTPUT,
        action="store_false",
        help="no tqdm progress bar",
    )
    tensorboard: bool = option(
        "--no-tensorboard", default=True, group=OUTPUT, action="store_false",
        help="no TensorBoard events in DIR/tb",
    )  # fmt: skip
    export: bool = option(
        "--no-export",
        default=True,
        group=OUTPUT,
        action="store_false",
        help="do not write model_best.pth",
    )

    def __post_init__(self) -> None:
        if self.save is None:
            self.save = f"runs/{self.arch}" + (f"-q{self.quality}" if self.quality else "")

    @property
    def save_dir(self) -> Path:
        return Path(str(self.save))

    def data_recipe(self) -> DataRecipe:
        """How every dataset folder of the run is read."""
        if self.cache_dir is None:
            cache: Path | None = default_cache_dir()
        else:
            cache = None if self.cache_dir.lower() == "none" else Path(self.cache_dir)
        return DataRecipe(
            patch_size=tuple(self.patch_size),  # type: ignore[arg-type]
            cache_dir=cache,
            skip_unreadable=not self.strict_data,
            input_space=self.input_space,
            synthetic_isp=self.synthetic_isp,
            synthetic_noise_draws=self.synthetic_noise_draws,
        )


def _fields_with_flags() -> Iterator[dataclasses.Field[Any]]:
    return (f for f in dataclasses.fields(TrainConfig) if "flags" in f.metadata)


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Every :class:`TrainConfig` flag, in :data:`GROUPS`, on ``parser``."""
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for f in _fields_with_flags():
        for flag in f.metadata["flags"]:
            kwargs = dict(flag.argparse)
            if callable(kwargs.get("choices")):
                kwargs["choices"] = kwargs["choices"]()
            default = _field_default(f) if flag.default is _FIELD_DEFAULT else flag.default
            groups[flag.group].add_argument(
                *flag.names, dest=flag.dest or f.name, default=default, help=flag.help, **kwargs
            )
    return parser


def config_from_namespace(ns: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed flags (a one-line TrainingError when they clash)."""
    values = {}
    for f in _fields_with_flags():
        if "from_args" in f.metadata:
            values[f.name] = f.metadata["from_args"](ns)
            continue
        value, convert = getattr(ns, f.name), f.metadata.get("convert")
        values[f.name] = convert(value) if convert is not None and value is not None else value
    return TrainConfig(**values)


def flag_name(field_name: str) -> str:
    """The long flag of a :class:`TrainConfig` field, for messages (``isp_init -> --isp-init``)."""
    (f,) = (f for f in dataclasses.fields(TrainConfig) if f.name == field_name)
    names = f.metadata["flags"][0].names
    return next((n for n in names if n.startswith("--")), names[0])


def config_record(cfg: TrainConfig) -> dict[str, Any]:
    """The config as plain types (a checkpoint's ``train_config``; a weights-only load reads it)."""
    return dataclasses.asdict(cfg)


def check_budget(epochs: int | None, max_steps: int | None, max_time: float | None) -> None:
    """A training budget that allows at least one step."""
    for flag, value in (("--epochs", epochs), ("--max-steps", max_steps)):
        if value is not None and value < 1:
            raise TrainingError(f"{flag} must be >= 1, got {value}")
    if max_time is not None and not max_time > 0:
        raise TrainingError(f"--max-time must be longer than 0 s, got {max_time:g}")


def check_config(cfg: TrainConfig) -> None:
    """Refuse values no run can use, before anything is built or read."""
    if cfg.arch not in TASKS or cfg.arch not in zoo.image_models:
        raise TrainingError(
            f"--model: unknown architecture {cfg.arch!r}; available: {sorted(TASKS)}"
        )
    for name in ("batch_size", "test_batch_size"):
        if getattr(cfg, name) < 1:
            raise TrainingError(f"{flag_name(name)} must be >= 1")
    check_budget(cfg.epochs, cfg.max_steps, cfg.max_time)
    if cfg.learning_rate <= 0:
        raise TrainingError("--learning-rate must be > 0")
    if not 0 < cfg.kd_gamma <= 1:
        raise TrainingError(f"--kd-gamma must be in (0, 1], got {cfg.kd_gamma}")
    h, w = cfg.patch_size
    if h <= 0 or w <= 0 or h % 2 or w % 2:
        raise TrainingError(f"--patch-size must be positive and even, got {h} {w}")
