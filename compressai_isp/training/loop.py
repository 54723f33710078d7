"""The training engine behind ``python -m compressai_isp.train`` (see that module for the CLI).

One :class:`Trainer` serves every architecture: the task table
(:mod:`compressai_isp.training.tasks`) says what the model sees and which loss it minimises;
distillation teachers are attached through :mod:`compressai_isp.distill`.

Exact resumption: a checkpoint written after step ``s`` holds the model, both optimisers, the
scheduler, the AMP scaler, the step / epoch / position in the epoch, the best validation loss
and every rank's Python / NumPy / torch RNG states; the data order and each sample's random
crop depend only on ``(seed, epoch, position)`` (:mod:`compressai_isp.training.sampling`).
Restarting from it therefore replays steps ``s+1, s+2, ...`` exactly as the uninterrupted run.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from compressai_isp import zoo
from compressai_isp.data._atomic import remove_stale_temps
from compressai_isp.distill import (
    GAMMA,
    AttentionDistiller,
    Teacher,
    match_layers,
)
from compressai_isp.metrics import psnr_per_image
from compressai_isp.precision import resolve_precision, set_transform_precision
from compressai_isp.training import distributed as ddp
from compressai_isp.training.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    MODEL_NAME,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from compressai_isp.training.sampling import ResumableSampler, SeededDataset
from compressai_isp.training.tasks import (
    TASKS,
    Task,
    aux_parameters,
    freeze_for_task,
    main_parameters,
    model_output,
    rd_loss,
)

__all__ = [
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "NonFiniteLossError",
    "load_state_dict",
    "build_model",
    "check_budget",
    "check_patch_size",
]

CSV_NAME = "log.csv"
#: What a resumed run reads from its checkpoint (a weight file has only ``state_dict``).
RESUME_KEYS = (
    "arch", "state_dict", "optimizer", "lr_scheduler", "scaler", "step", "epoch",
    "batch_in_epoch", "seed",
)  # fmt: skip


class TrainingError(ValueError):
    """A configuration problem, reported on one line by the CLI (exit status 2)."""


class TrainingDataError(TrainingError):
    """The training or validation data failed: missing, unreadable or unusable (exit status 1)."""


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; a checkpoint to resume from was written."""


@dataclass
class TeacherConfig:
    arch: str
    checkpoint: str | None  # None: the zoo's trained weights for the run's quality
    alpha0: float


@dataclass
class TrainConfig:
    """Every knob of a run; ``compressai_isp.train`` fills it from the command line."""

    arch: str = "rbn"
    quality: int | None = None
    metric: str = "mse"  # distortion of Eq. 4: "mse" or "ms-ssim"
    lmbda: float | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    init: str | None = None  # initial weights (state dict or our checkpoint)
    isp_init: str | None = None  # cascade: LiteISPNet weights
    comp_init: str | None = None  # cascade: mbt2018 Comp-Net weights
    teacher_enc: TeacherConfig | None = None
    teacher_dec: TeacherConfig | None = None
    kd_gamma: float = GAMMA
    kd_unit: str = "epoch"
    kd_attention: str = "signed"
    kd_p: float = 1.0
    epochs: int | None = None
    max_steps: int | None = None
    max_time: float | None = None  # seconds of wall time for this process
    learning_rate: float = 5e-5
    lr_decay_step: int | None = None
    lr_decay_factor: float = 0.1
    aux_learning_rate: float = 1e-3
    clip_max_norm: float = 1.0
    batch_size: int = 8
    test_batch_size: int = 8
    val_patches: int = 4  # fixed random patches per validation image
    patch_size: tuple[int, int] = (256, 256)
    num_workers: int = 0
    seed: int | None = None
    cuda: bool = False
    precision: str = "auto"  # compressai_isp.precision.PRECISIONS
    channels_last: bool = True
    compile: bool = False
    save: str = "runs/train"
    checkpoint: str | None = None
    resume: bool = True
    checkpoint_every: int = 500
    val_every: int = 1000
    log_every: int = 10
    print_every: int = 100
    progress: bool = True
    tensorboard: bool = True
    export: bool = True
    input_space: str = "paper"  # of every dataset (the model records its own)
    synthetic_isp: str = "unprocessing"  # what synthetic: folders imitate
    train_sets: list[Dataset] = field(default_factory=list)
    val_sets: list[Dataset] = field(default_factory=list)
    dataset_desc: list[str] = field(default_factory=list)


def load_state_dict(path: str | os.PathLike[str], what: str = "--init") -> dict[str, Tensor]:
    """The state dict of a weight file, a ``model_best.pth`` export or a training checkpoint.

    Read safely (never runs code from the file); errors are one-line, prefixed by ``what``.
    """
    try:
        state = load_checkpoint(path)
    except ValueError as err:
        raise TrainingError(f"{what}: {err}") from None
    sd = state.get("state_dict", state)
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise TrainingError(f"{what}: {path} holds no model state dict")
    return sd


def build_model(
    arch: str, quality: int, metric: str, model_kwargs: dict[str, Any], pretrained: bool = False
) -> nn.Module:
    """The zoo model a run trains; bad ``--model-kwargs`` raise a one-line TrainingError."""
    try:
        return zoo.image_models[arch](quality, metric=metric, pretrained=pretrained, **model_kwargs)
    except TypeError as err:
        given = ",".join(f"{k}={v!r}" for k, v in model_kwargs.items())
        raise TrainingError(f"--model-kwargs {given}: {arch} refuses them ({err})") from None
    except (ValueError, LookupError) as err:
        raise TrainingError(str(err)) from None


def check_patch_size(model: nn.Module, patch_size: tuple[int, int], what: str) -> None:
    """Refuse a ``--patch-size`` (sRGB pixels) whose model input ``model`` cannot take."""
    factor = int(getattr(model, "downsampling_factor", 1))
    # A packed-RAW input has half the sRGB patch's sides.
    multiple = factor * (2 if getattr(model, "input_kind", "raw") == "raw" else 1)
    h, w = patch_size
    if h % multiple or w % multiple:
        fit = [max(multiple, round(v / multiple) * multiple) for v in (h, w)]
        raise TrainingError(
            f"--patch-size {h} {w}: {what} needs patch sides (sRGB pixels) that are multiples of "
            f"{multiple}, e.g. --patch-size {fit[0]} {fit[1]}"
        )


def check_budget(epochs: int | None, max_steps: int | None, max_time: float | None) -> None:
    """A training budget that allows at least one step."""
    for flag, value in (("--epochs", epochs), ("--max-steps", max_steps)):
        if value is not None and value < 1:
            raise TrainingError(f"{flag} must be >= 1, got {value}")
    if max_time is not None and not max_time > 0:
        raise TrainingError(f"--max-time must be longer than 0 s, got {max_time:g}")


def _load_into(model: nn.Module, sd: dict[str, Tensor], path: str, what: str) -> None:
    try:
        model.load_state_dict(sd)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise TrainingError(
            f"{what} {path} does not fit the model: {' '.join(first[:3])[:300]}"
        ) from None


def _build_teacher(
    cfg: TeacherConfig, role: str, quality: int, input_space: str | None
) -> nn.Module:
    """The frozen teacher; a RAW-input teacher must read the student's ``input_space`` (a file
    that does not record its space is taken to be in it)."""
    from compressai_isp.registry import MODELS

    if cfg.arch not in MODELS:
        raise TrainingError(
            f"--teacher-{role}: unknown architecture {cfg.arch!r}; available: {sorted(MODELS)}"
        )
    space = input_space if MODELS[cfg.arch].input_kind == "raw" else None
    if cfg.checkpoint is None:
        try:
            teacher = zoo.create_model(cfg.arch, quality, pretrained=True)
        except (LookupError, ValueError) as err:
            raise TrainingError(
                f"--teacher-{role} {cfg.arch}: no usable zoo weights for quality {quality} "
                f"({err}); give --teacher-{role}-checkpoint"
            ) from None
        if space is not None and teacher.input_space != space:
            raise TrainingError(
                f"--teacher-{role} {cfg.arch}: the zoo weights read {teacher.input_space!r} "
                f"input, the student {space!r}; give a --teacher-{role}-checkpoint trained "
                f"with --input-space {space}"
            )
    else:
        try:
            teacher = zoo.load_model_file(cfg.checkpoint, cfg.arch, input_space=space).model
        except ValueError as err:
            raise TrainingError(f"--teacher-{role}-checkpoint: {err}") from None
    return teacher.eval().requires_grad_(False)


def _encoder(m: nn.Module, x: Tensor) -> Tensor:
    return m.g_a(x)


def _autoencoder(m: nn.Module, x: Tensor) -> Tensor:
    # The teacher's decoder sees its rounded latent (its inference-time input) without running
    # the autoregressive entropy model, which no attention pair needs.
    y = m.g_a(x)
    return m.g_s(torch.round(y) if not m.training else y)


class _CsvLog:
    """Append-only CSV with a fixed header; on resume, rows past the checkpoint's step are dropped
    (the killed run may have logged steps that the resumed run will log again)."""

    def __init__(self, path: Path, fields: list[str], resume_step: int | None) -> None:
        self.path = path
        self.fields = list(fields)
        if resume_step is not None and path.is_file():
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                old_fields = list(reader.fieldnames or [])
                kept = [
                    r
                    for r in reader
                    if r.get("step", "").isdigit() and int(r["step"]) <= resume_step
                ]
            self.fields = old_fields + [k for k in self.fields if k not in old_fields]
            tmp = path.with_name(f".{path.name}.tmp")
            with tmp.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.fields, restval="")
                w.writeheader()
                w.writerows(kept)
            os.replace(tmp, path)
        else:
            with path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writeheader()

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, restval="", extrasaction="ignore")
            w.writerow(row)


def _echo(bar: Any, msg: str) -> None:
    """Print a line above a live progress bar instead of onto its line."""
    if bar is not None and not bar.disable:
        bar.write(msg)
    else:
        print(msg)
    sys.stdout.flush()


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}"


class Trainer:
    """Model, teachers, data, optimisers and logs of one run, from a :class:`TrainConfig`."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        if cfg.arch not in TASKS or cfg.arch not in zoo.image_models:
            raise TrainingError(
                f"--model: unknown architecture {cfg.arch!r}; available: {sorted(TASKS)}"
            )
        self.task: Task = TASKS[cfg.arch]
        check_budget(cfg.epochs, cfg.max_steps, cfg.max_time)
        self.dist, self.device = ddp.setup(cfg.cuda)
        try:
            self.dtype = resolve_precision(cfg.precision, self.device)
        except ValueError as err:
            raise TrainingError(f"--precision: {err}") from None
        self.save_dir = Path(cfg.save)
        self._stop_signal: str | None = None

        # --- resume source --------------------------------------------------------------------
        self.resume_state: dict[str, Any] | None = None
        ckpt = cfg.checkpoint
        if ckpt is None and cfg.resume and (self.save_dir / CHECKPOINT_NAME).is_file():
            ckpt = str(self.save_dir / CHECKPOINT_NAME)
        if ckpt is not None:
            try:
                self.resume_state = load_checkpoint(ckpt)
            except ValueError as err:
                raise TrainingError(str(err)) from None
            missing = [k for k in RESUME_KEYS if k not in self.resume_state]
            if missing:
                raise TrainingError(
                    f"checkpoint {ckpt} is not a compressai-isp training checkpoint (no "
                    f"{', '.join(missing)}); to start from its weights, use --init {ckpt}"
                )
            if self.resume_state.get("arch") != cfg.arch:
                raise TrainingError(
                    f"checkpoint {ckpt} is for --model {self.resume_state.get('arch')!r}, "
                    f"not {cfg.arch!r}"
                )
            self.resume_path = ckpt

        seed = cfg.seed
        if self.resume_state is not None:
            # The data order and per-sample seeds derive from the run's seed: keep it.
            if seed is not None and seed != self.resume_state["seed"] and self.dist.is_main:
                print(
                    f"warning: --seed {seed} ignored, resuming with the checkpoint's seed "
                    f"{self.resume_state['seed']}",
                    file=sys.stderr,
                )
            seed = self.resume_state["seed"]
        elif seed is None:
            seed = random.SystemRandom().randrange(1 << 31)
        self.seed = int(seed)
        random.seed(self.seed + self.dist.rank)
        np.random.seed((self.seed + self.dist.rank) % (1 << 32))
        torch.manual_seed(self.seed + self.dist.rank)

        # --- model ----------------------------------------------------------------------------
        quality = cfg.quality if cfg.quality is not None else 1
        self.quality = quality
        self.model = build_model(
            cfg.arch, quality, cfg.metric, cfg.model_kwargs, pretrained=cfg.pretrained
        )
        check_patch_size(self.model, cfg.patch_size, f"--model {cfg.arch}")
        self.model.train()
        if cfg.init is not None:
            _load_into(self.model, load_state_dict(cfg.init), cfg.init, "--init")
        if cfg.arch == "cascaded":
            if cfg.isp_init is not None:
                sd = load_state_dict(cfg.isp_init, "--isp-init")
                _load_into(self.model.isp, sd, cfg.isp_init, "--isp-init")
            if cfg.comp_init is not None:
                sd = load_state_dict(cfg.comp_init, "--comp-init")
                try:
                    self.model.load_comp_net_state_dict(sd)
                except RuntimeError as err:
                    raise TrainingError(
                        f"--comp-init {cfg.comp_init} is not an mbt2018 state dict of this "
                        f"width: {str(err).splitlines()[0][:200]}"
                    ) from None
            fresh = self.resume_state is None and cfg.init is None and not cfg.pretrained
            if cfg.comp_init is None and fresh and self.dist.is_main:
                print(
                    "warning: --model cascaded without --comp-init or --pretrained fine-tunes the "
                    "ISP-Net through a randomly initialised, frozen Comp-Net",
                    file=sys.stderr,
                )
        elif cfg.isp_init or cfg.comp_init:
            raise TrainingError("--isp-init / --comp-init only apply to --model cascaded")
        freeze_for_task(self.model, self.task)
        self.model.to(self.device)
        set_transform_precision(self.model, self.dtype, cfg.channels_last)
        self.input_kind = getattr(self.model, "input_kind", self.task.input)

        if self.task.rate:
            lmbda = cfg.lmbda
            if lmbda is None and cfg.metric != "mse":
                raise TrainingError(
                    f"--metric {cfg.metric} needs --lambda (the zoo's ladders are for MSE)"
                )
            if lmbda is None and cfg.quality is not None:
                lmbda = zoo.lambdas[cfg.arch].get(cfg.quality)
            if lmbda is None:
                raise TrainingError(
                    f"--model {cfg.arch} is trained for rate-distortion: give --lambda or --quality"
                )
            self.lmbda = float(lmbda)
        else:
            self.lmbda = float(cfg.lmbda) if cfg.lmbda is not None else 0.0

        # --- data -----------------------------------------------------------------------------
        if not cfg.train_sets:
            raise TrainingError("no training data: give -d/--dataset")
        self.train_set = SeededDataset(_concat(cfg.train_sets))
        self.val_set = SeededDataset(_concat(cfg.val_sets)) if cfg.val_sets else None
        per_rank = -(-len(self.train_set) // self.dist.world_size)
        if per_rank < cfg.batch_size:
            raise TrainingError(
                f"the training set has {len(self.train_set)} samples per epoch "
                f"({per_rank} per process), fewer than --batch-size {cfg.batch_size}: give "
                f"--batch-size {per_rank} or less, or more training images"
            )
        self.steps_per_epoch = per_rank // cfg.batch_size
        self.sampler = ResumableSampler(
            len(self.train_set), self.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        if cfg.epochs is None and cfg.max_steps is None and cfg.max_time is None:
            cfg.epochs = 100  # CompressAI examples/train.py default

        # --- teachers -------------------------------------------------------------------------
        self.distiller: AttentionDistiller | None = None
        self._build_distiller()

        # --- DDP, optimisers ------------------------------------------------------------------
        self.aux_params = [p for _, p in aux_parameters(self.model)]
        self.net: nn.Module = torch.compile(self.model) if cfg.compile else self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            aux_names = [n for n, _ in aux_parameters(self.model)]
            # The quantiles only get gradients from aux_loss(), outside DDP's forward; they
            # are excluded from DDP and averaged by hand (all_reduce_grads).
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                self.model, aux_names
            )
            ddp.broadcast_params(self.aux_params, self.dist)  # DDP only syncs what it owns
            self.net = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if cfg.cuda else None,
                # Distortion-only tasks leave the entropy model out of the graph.
                find_unused_parameters=not self.task.rate,
            )
        params = [p for _, p in main_parameters(self.model)]
        if not params:
            raise TrainingError(f"--model {cfg.arch}: nothing to train")
        self.optimizer = torch.optim.Adam(params, lr=cfg.learning_rate)
        self.aux_optimizer = (
            torch.optim.Adam(self.aux_params, lr=cfg.aux_learning_rate) if self.aux_params else None
        )
        decay = cfg.lr_decay_step
        if decay is None and cfg.max_steps is not None:
            decay = int(0.9 * cfg.max_steps)  # the paper decays for the last ~10% (§4.1)
        self.lr_decay_step = decay
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=[decay] if decay else [], gamma=cfg.lr_decay_factor
        )
        # fp16's narrow range needs loss scaling; bf16 has fp32's exponent and does not.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_val = math.inf
        if self.resume_state is not None:
            try:
                self._restore(self.resume_state)
            except TrainingError:
                raise
            except (KeyError, TypeError, ValueError, RuntimeError) as err:
                first = (str(err).strip().splitlines() or [""])[0][:200]
                raise TrainingError(
                    f"checkpoint {self.resume_path} cannot be resumed ({type(err).__name__}: "
                    f"{first})"
                ) from None

    # ------------------------------------------------------------------------------------------
    def _build_distiller(self) -> None:
        cfg = self.cfg
        if cfg.teacher_enc is None and cfg.teacher_dec is None:
            return
        for attr in ("g_a", "g_s"):
            if not hasattr(self.model, attr):
                raise TrainingError(f"--teacher-*: --model {cfg.arch} has no {attr} to distil into")
        h, w = cfg.patch_size
        raw = torch.zeros(1, 4, h // 2, w // 2, device=self.device)
        srgb = torch.zeros(1, 3, h, w, device=self.device)
        probe = {"raw": raw, "srgb": srgb}
        teachers = []
        self.teacher_input: dict[str, str] = {}
        for role, tcfg, prefix, fwd in (
            ("enc", cfg.teacher_enc, "g_a", _encoder),
            ("dec", cfg.teacher_dec, "g_s", _autoencoder),
        ):
            if tcfg is None:
                continue
            space = getattr(self.model, "input_space", None)
            teacher = _build_teacher(tcfg, role, self.quality, space).to(self.device)
            set_transform_precision(teacher, self.dtype, cfg.channels_last)
            check_patch_size(teacher, cfg.patch_size, f"--teacher-{role} {tcfg.arch}")
            kind = getattr(teacher, "input_kind", "raw")
            try:
                pairs = match_layers(
                    self.model,
                    teacher,
                    prefix,
                    sample_inputs=(probe[self.input_kind], probe[kind]),
                    student_forward=fwd,
                    teacher_forward=fwd,
                )
            except ValueError as err:
                raise TrainingError(f"--teacher-{role} {tcfg.arch}: {err}") from None
            teachers.append(
                Teacher(role, teacher, pairs, alpha0=tcfg.alpha0, gamma=cfg.kd_gamma, forward=fwd)
            )
            self.teacher_input[role] = kind
        self.distiller = AttentionDistiller(
            self.model,
            teachers,
            mode=cfg.kd_attention,  # type: ignore[arg-type]
            p=cfg.kd_p,
        )

    def log_fields(self) -> list[str]:
        """Columns of ``log.csv``: training rows fill all, validation rows the first seven."""
        fields = ["step", "epoch", "split", "loss", "mse", "bpp", "psnr", "lr", "aux"]
        fields += ["grad_norm", "sec_per_step"]
        if self.cfg.metric == "ms-ssim":
            fields.insert(7, "ms_ssim")
        if self.distiller is not None:
            fields.append("kd")
            for t in self.distiller.teachers:
                fields += [f"kd/{t.name}", f"alpha/{t.name}"]
                fields += [f"kd/{t.name}/{s}" for s, _ in t._pairs]
        return fields

    def kd_progress(self) -> float:
        """``k`` of Eq. 3: completed epochs (paper) or optimisation steps."""
        return float(self.epoch if self.cfg.kd_unit == "epoch" else self.step)

    # ------------------------------------------------------------------------------------------
    def state(self, rng: list[Any]) -> dict[str, Any]:
        return {
            "version": 1,
            "arch": self.cfg.arch,
            "quality": self.quality,
            "lmbda": self.lmbda,
            "model_config": getattr(self.model, "config", None),
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict() if self.aux_optimizer else None,
            "lr_scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_loss": self.best_val,
            "seed": self.seed,
            "world_size": self.dist.world_size,
            "rng": rng,
            "datasets": self.cfg.dataset_desc,
            "precision": self.model.transform_precision.describe(),
        }

    def _restore(self, st: dict[str, Any]) -> None:
        cfg_now = getattr(self.model, "config", None)
        if (
            st.get("model_config") is not None
            and cfg_now is not None
            and st["model_config"] != cfg_now
        ):
            raise TrainingError(
                f"checkpoint {self.resume_path} was trained with {st['model_config']}, "
                f"this run builds {cfg_now} (pass the same --model-kwargs / --quality)"
            )
        _load_into(self.model, st["state_dict"], self.resume_path, "checkpoint")
        try:
            self.optimizer.load_state_dict(st["optimizer"])
            if self.aux_optimizer is not None and st.get("aux_optimizer"):
                self.aux_optimizer.load_state_dict(st["aux_optimizer"])
        except ValueError as err:
            raise TrainingError(f"checkpoint {self.resume_path}: optimiser state: {err}") from None
        self.scheduler.load_state_dict(st["lr_scheduler"])
        self.step, self.epoch = int(st["step"]), int(st["epoch"])
        self._apply_lr_config()
        self.scaler.load_state_dict(st["scaler"])
        self.batch_in_epoch = int(st["batch_in_epoch"])
        # The best file may be newer than the checkpoint (killed between the two writes).
        self.best_val = min(float(st.get("best_loss", math.inf)), self._best_on_disk())
        rngs = st.get("rng") or []
        if st.get("world_size") == self.dist.world_size and len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank])
        elif self.dist.is_main:
            print(
                f"warning: checkpoint was written by {st.get('world_size')} process(es), this "
                f"run has {self.dist.world_size}: RNG streams are re-seeded, resumption is not "
                "bit-exact",
                file=sys.stderr,
            )

    def _best_on_disk(self) -> float:
        best = self.save_dir / BEST_NAME
        if not best.is_file():
            return math.inf
        try:
            return float(load_checkpoint(best).get("best_loss", math.inf))
        except (ValueError, TypeError) as err:
            print(f"warning: ignoring the best score of {best}: {err}", file=sys.stderr)
            return math.inf

    def _apply_lr_config(self) -> None:
        """Make the resumed command's -lr / --lr-decay-* / --aux-learning-rate take effect.

        Optimiser and scheduler states carry the learning rates they were saved with; the
        schedule is recomputed from this run's flags (identical values when they are unchanged,
        so resumption stays exact), e.g. to resume a diverged run with a lower -lr.
        """
        cfg = self.cfg
        decayed = self.lr_decay_step is not None and self.step >= self.lr_decay_step
        lr = cfg.learning_rate * (cfg.lr_decay_factor if decayed else 1.0)
        for g in self.optimizer.param_groups:
            g["initial_lr"], g["lr"] = cfg.learning_rate, lr
        sch = self.scheduler
        sch.base_lrs = [cfg.learning_rate for _ in self.optimizer.param_groups]
        sch.milestones = type(sch.milestones)([self.lr_decay_step] if self.lr_decay_step else [])
        sch.gamma = cfg.lr_decay_factor
        sch._last_lr = [lr for _ in self.optimizer.param_groups]  # what get_last_lr() reports
        if self.aux_optimizer is not None:
            for g in self.aux_optimizer.param_groups:
                g["lr"] = cfg.aux_learning_rate

    def save(self, name: str = CHECKPOINT_NAME, rng: Any = None) -> Path:
        """Write a checkpoint (every rank takes part in gathering RNG states; rank 0 writes)."""
        rngs = ddp.gather_objects(rng if rng is not None else rng_state(), self.dist)
        path = self.save_dir / name
        if self.dist.is_main:
            save_checkpoint(self.state(rngs), path)
        ddp.barrier(self.dist)
        return path

    # ------------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The teachers' forward for distillation: attention maps are summed in float32."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _to_device(self, batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            raise TrainingError("datasets must yield (raw, srgb) pairs")
        raw, srgb = batch
        return raw.to(self.device, non_blocking=True), srgb.to(self.device, non_blocking=True)

    def train_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, float]:
        raw, srgb = batch
        inp, target = self.task.split((raw, srgb))
        self.optimizer.zero_grad(set_to_none=True)
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
        out = self.net(inp)  # the model runs its transforms in self.dtype itself
        terms = rd_loss(out, inp, target, self.task, self.lmbda, self.input_kind, self.cfg.metric)
        loss = terms["loss"]
        logs: dict[str, float] = {"lr": self.optimizer.param_groups[0]["lr"]}
        if self.distiller is not None:
            k = self.kd_progress()
            teacher_inputs = {
                role: {"raw": raw, "srgb": srgb}[kind] for role, kind in self.teacher_input.items()
            }
            with self._autocast():
                kd = self.distiller.loss(teacher_inputs, progress=k)
            loss = loss + kd["kd"]
            for key, v in kd.items():
                logs[key] = float(v.detach())
            for role, a in self.distiller.weights(k).items():
                logs[f"alpha/{role}"] = a
        finite = bool(torch.isfinite(loss.detach()))
        if ddp.broadcast_flag(not finite, self.dist, self.device):
            raise NonFiniteLossError(f"loss is {float(loss.detach())}")
        self.scaler.scale(loss).backward()
        grad_norm = math.nan
        if self.cfg.clip_max_norm > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(
                    [p for g in self.optimizer.param_groups for p in g["params"]],
                    self.cfg.clip_max_norm,
                )
            )
            bad_grad = not math.isfinite(grad_norm) and self.dtype != torch.float16
            if ddp.broadcast_flag(bad_grad, self.dist, self.device):
                raise NonFiniteLossError(f"gradient norm is {grad_norm}")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.aux_optimizer is not None:
            aux = self.model.aux_loss()
            aux.backward()
            ddp.all_reduce_grads(self.aux_params, self.dist)
            self.aux_optimizer.step()
            logs["aux"] = float(aux.detach())
        x_hat, _ = model_output(out)
        with torch.no_grad():
            psnr = float(psnr_per_image(x_hat.detach().clamp(0, 1).float(), target.float()).mean())
        if "ms_ssim" in terms:
            logs["ms_ssim"] = float(terms["ms_ssim"].detach())
        logs.update(
            loss=float(loss.detach()), mse=float(terms["mse"].detach()), psnr=psnr,
            grad_norm=grad_norm,
        )  # fmt: skip
        if self.task.rate:  # distortion-only models have no rate to log
            logs["bpp"] = float(terms["bpp"].detach())
        return logs

    @torch.no_grad()
    def validate(self) -> dict[str, float] | None:
        if self.val_set is None:
            return None
        model = self.model
        model.eval()
        sampler = ResumableSampler(
            len(self.val_set) * self.cfg.val_patches,
            self.seed,
            shuffle=False,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        loader = self._loader(self.val_set, sampler, self.cfg.test_batch_size, drop_last=False)
        sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss, mse, bpp, psnr (all per sample), count
        # Validation must not move the training RNG streams (exact resumption).
        with torch.random.fork_rng(devices=[self.device.index] if self.cfg.cuda else []):
            for batch in loader:
                raw, srgb = self._to_device(batch)
                inp, target = self.task.split((raw, srgb))
                out = model(inp)
                terms = rd_loss(
                    out, inp, target, self.task, self.lmbda, self.input_kind, self.cfg.metric
                )
                x_hat, _ = model_output(out)
                n = inp.shape[0]
                sums[0] += float(terms["loss"]) * n
                sums[1] += float(terms["mse"]) * n
                sums[2] += float(terms["bpp"]) * n
                sums[3] += float(psnr_per_image(x_hat.clamp(0, 1).float(), target.float()).sum())
                sums[4] += n
        if self.distiller is not None:
            self.distiller.clear()
        model.train()
        sums = ddp.all_reduce_sum(sums, self.dist, self.device)
        n = max(sums[4], 1.0)
        return {"loss": sums[0] / n, "mse": sums[1] / n, "bpp": sums[2] / n, "psnr": sums[3] / n}

    def _loader(
        self, ds: Dataset, sampler: ResumableSampler, bs: int, drop_last: bool
    ) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=bs,
            sampler=sampler,
            num_workers=self.cfg.num_workers,
            drop_last=drop_last,
            pin_memory=self.cfg.cuda,
            # An explicit generator keeps iterator creation from drawing on the global RNG.
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=False,
        )

    def export(self) -> Path | None:
        """``model_best.pth``: the best (else latest) weights with the entropy coder's tables."""
        if not self.dist.is_main:
            return None
        best = self.save_dir / BEST_NAME
        src = best if best.is_file() else self.save_dir / CHECKPOINT_NAME
        st = load_checkpoint(src)
        # The trained model's own widths: --pretrained weights may differ from the zoo's defaults.
        widths = getattr(self.model, "config", None) or self.cfg.model_kwargs
        model = zoo.image_models[self.cfg.arch](self.quality, **widths)
        model.load_state_dict(st["state_dict"])
        if hasattr(model, "update"):
            model.update(force=True)
        out = {
            "arch": self.cfg.arch,
            "quality": self.quality,
            "metric": self.cfg.metric,
            "lmbda": self.lmbda,
            "config": getattr(model, "config", None),
            "step": st["step"],
            "best_loss": st.get("best_loss"),
            "training_precision": st.get("precision"),
            "training_data": {
                "datasets": list(self.cfg.dataset_desc),
                "input_space": self.cfg.input_space,
                "synthetic_isp": self.cfg.synthetic_isp,
            },
            "state_dict": model.state_dict(),
        }
        return save_checkpoint(out, self.save_dir / MODEL_NAME)

    # ------------------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> Callable[[], None]:
        def handler(signum: int, _frame: Any) -> None:
            if self._stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(signum).name

        previous = {}
        with contextlib.suppress(ValueError):  # not in the main thread
            for s in (signal.SIGINT, signal.SIGTERM):
                previous[s] = signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def _batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Training batches from the current (epoch, position), advancing epochs forever."""
        while True:
            if self.batch_in_epoch >= self.steps_per_epoch:
                self.epoch += 1
                self.batch_in_epoch = 0
            self.sampler.set_epoch(self.epoch, start=self.batch_in_epoch * self.cfg.batch_size)
            for batch in self._loader(self.train_set, self.sampler, self.cfg.batch_size, True):
                yield self._to_device(batch)
            if self.batch_in_epoch < self.steps_per_epoch:  # defensive: loader ended early
                self.batch_in_epoch = self.steps_per_epoch

    def _done(self, t0: float) -> str | None:
        cfg = self.cfg
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return f"reached --max-steps {cfg.max_steps}"
        if cfg.epochs is not None:
            completed = self.epoch + (1 if self.batch_in_epoch >= self.steps_per_epoch else 0)
            if completed >= cfg.epochs:
                return f"reached --epochs {cfg.epochs}"
        if cfg.max_time is not None and time.monotonic() - t0 >= cfg.max_time:
            return f"reached --max-time {cfg.max_time:.0f}s"
        return None

    def fit(self) -> int:
        """Train until a budget is reached or a signal arrives; return the CLI exit status."""
        cfg = self.cfg
        main = self.dist.is_main
        self.save_dir.mkdir(parents=True, exist_ok=True)
        if main:  # a SIGKILL during a checkpoint write leaves its temp file behind
            remove_stale_temps(self.save_dir, (CHECKPOINT_NAME, BEST_NAME, MODEL_NAME))
        resumed = self.resume_state is not None
        self.resume_state = None
        csv_log = None
        if main:
            fields, start = self.log_fields(), self.step if resumed else None
            csv_log = _CsvLog(self.save_dir / CSV_NAME, fields, start)
        tb = None
        if main and cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(
                str(self.save_dir / "tb"), purge_step=self.step + 1 if resumed else None
            )
        if main:
            what = f"resuming {self.resume_path} at step {self.step}" if resumed else "starting"
            n_params = sum(p.numel() for _, p in main_parameters(self.model))
            objective = f"λ={self.lmbda:g}" if self.task.rate else "distortion only"
            print(
                f"{what}: {cfg.arch} q{self.quality} {objective} ({n_params / 1e6:.2f} M "
                f"trainable parameters), {len(self.train_set)} training samples, "
                f"{self.steps_per_epoch} steps/epoch, batch {cfg.batch_size} x "
                f"{self.dist.world_size} process(es), seed {self.seed}, saving to {self.save_dir}",
                flush=True,
            )
        total = cfg.max_steps
        if total is None and cfg.epochs is not None:
            total = cfg.epochs * self.steps_per_epoch
        bar = None
        if main and cfg.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.step, dynamic_ncols=True, disable=None)
        restore_signals = self._install_signal_handlers()
        t0 = time.monotonic()
        window: dict[str, list[float]] = {}
        reason: str | None = self._done(t0)
        status = 0
        try:
            batches = self._batches()
            while reason is None:
                batch = next(batches)
                rng_before = rng_state()
                t_step = time.monotonic()
                try:
                    logs = self.train_step(batch)
                except NonFiniteLossError as err:
                    # Parameters are untouched by the failed step: save the state it started from.
                    self.optimizer.zero_grad(set_to_none=True)
                    path = self.save(rng=rng_before)
                    raise NonFiniteLossError(
                        f"{err} at step {self.step + 1} (epoch {self.epoch}); training stopped. "
                        f"The state before that step is in {path}: resume it with "
                        f"--checkpoint {path}, e.g. with a lower --learning-rate or "
                        "--clip_max_norm"
                    ) from None
                self.step += 1
                self.batch_in_epoch += 1
                logs["sec_per_step"] = time.monotonic() - t_step
                for key, v in logs.items():
                    window.setdefault(key, []).append(v)
                if main and self.step % cfg.log_every == 0:
                    row = {"step": self.step, "epoch": self.epoch, "split": "train"}
                    row.update({k: float(np.mean(v)) for k, v in window.items()})
                    window.clear()
                    assert csv_log is not None
                    csv_log.write(row)
                    if tb is not None:
                        for k, v in row.items():
                            if k not in ("step", "split") and isinstance(v, float | int):
                                tb.add_scalar(f"train/{k}", v, self.step)
                    if bar is not None:
                        keys = ("loss", "bpp", "psnr", "kd", "kd/enc", "kd/dec")
                        post = {k: _fmt(row[k]) for k in keys if k in row}
                        bar.set_postfix(post, refresh=False)
                    if self.step % cfg.print_every == 0:
                        msg = " ".join(
                            f"{k}={_fmt(v)}" for k, v in row.items() if k not in ("split",)
                        )
                        _echo(bar, msg)
                if bar is not None:
                    bar.update(1)
                if cfg.val_every and self.step % cfg.val_every == 0:
                    self._validate_and_log(csv_log, tb, bar)
                stop_requested = ddp.broadcast_flag(
                    self._stop_signal is not None, self.dist, self.device
                )
                reason = self._done(t0)
                if stop_requested and reason is None:
                    reason = f"received {self._stop_signal or 'a stop request'}"
                if reason is not None or (
                    cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                ):
                    self.save()
            batches.close()
            # A signal (e.g. a scheduler's pre-emption SIGTERM) means leave now: the checkpoint
            # is written; the final validation and export wait for the resumed run.
            interrupted = self._stop_signal is not None
            if cfg.val_every and self.step % cfg.val_every != 0 and not interrupted:
                rng_at_stop, best_before = rng_state(), self.best_val
                self._validate_and_log(csv_log, tb, bar)
                if self.best_val != best_before:  # the checkpoint must carry the new best score
                    self.save(rng=rng_at_stop)
            if cfg.export and not interrupted:
                exported = self.export()
                if exported is not None and main:
                    _echo(bar, f"exported {exported}")
            if main:
                _echo(bar, f"stopped at step {self.step} (epoch {self.epoch}): {reason}")
            if self._stop_signal is not None:
                status = 128 + int(getattr(signal, self._stop_signal, 0))
        finally:
            restore_signals()
            if bar is not None:
                bar.close()
            if tb is not None:
                tb.close()
            if self.distiller is not None:
                self.distiller.detach()
        return status

    def _validate_and_log(self, csv_log: _CsvLog | None, tb: Any, bar: Any) -> None:
        val = self.validate()
        if val is None:
            return
        improved = val["loss"] < self.best_val
        if improved:
            self.best_val = val["loss"]
        if self.dist.is_main:
            row = {"step": self.step, "epoch": self.epoch, "split": "val", **val}
            assert csv_log is not None
            csv_log.write(row)
            if tb is not None:
                for k, v in val.items():
                    tb.add_scalar(f"val/{k}", v, self.step)
            msg = f"val step={self.step} " + " ".join(f"{k}={_fmt(v)}" for k, v in val.items())
            msg += " (best)" if improved else ""
            _echo(bar, msg)
        if improved:
            self.save(BEST_NAME)


def _concat(sets: list[Dataset]) -> Dataset:
    from torch.utils.data import ConcatDataset

    sets = [s for s in sets if len(s) > 0]  # type: ignore[arg-type]
    if not sets:
        raise TrainingError("the dataset is empty (no usable images found)")
    return sets[0] if len(sets) == 1 else ConcatDataset(sets)
