"""The run's distillation teachers (RAWtoBit §3.3): loaded, frozen, paired with the student.

The encoder teacher supervises the student's ``g_a`` (pairs: the last layer of each resolution
stage), the decoder teacher its ``g_s`` (the same stages of an identical decoder). Each teacher
reads its own input: the packed RAW or the sRGB target, whichever its architecture takes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from compressai_isp import zoo
from compressai_isp.distill import (
    AttentionDistiller,
    Teacher,
    autoencoder_forward,
    encoder_forward,
    match_layers,
)
from compressai_isp.distill.layers import Forward
from compressai_isp.io import load_model
from compressai_isp.precision import set_transform_precision
from compressai_isp.registry import MODELS
from compressai_isp.training.config import TeacherConfig, TrainConfig
from compressai_isp.training.errors import TrainingError
from compressai_isp.training.student import check_patch_size

__all__ = ["Distillation", "build_distillation", "load_teacher"]


@dataclass(frozen=True)
class _Role:
    name: str  # "enc" / "dec": the teacher's name in the distiller and its flags' infix
    field: str  # its TrainConfig field
    prefix: str  # the student's module it supervises
    forward: Forward


ROLES = (
    _Role("enc", "teacher_enc", "g_a", encoder_forward),
    _Role("dec", "teacher_dec", "g_s", autoencoder_forward),
)


def load_teacher(cfg: TeacherConfig, role: str, quality: int, input_space: str | None) -> nn.Module:
    """The frozen teacher; a RAW-input teacher must read the student's ``input_space`` (a file
    that does not record its space is taken to be in it)."""
    if cfg.arch not in MODELS:
        raise TrainingError(
            f"--teacher-{role}: unknown architecture {cfg.arch!r}; available: {sorted(MODELS)}"
        )
    space = input_space if MODELS[cfg.arch].input_kind == "raw" else None
    if cfg.checkpoint is not None:
        try:
            teacher = load_model(cfg.checkpoint, arch=cfg.arch, input_space=space).model
        except ValueError as err:
            raise TrainingError(f"--teacher-{role}-checkpoint: {err}") from None
        return teacher.eval().requires_grad_(False)
    try:
        teacher = zoo.load_pretrained(cfg.arch, quality).model
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
    return teacher.eval().requires_grad_(False)


class Distillation:
    """The attention distiller of a run and which input (``"raw"``/``"srgb"``) each teacher
    reads; :meth:`terms` gives the loss term and its log entries for one step."""

    def __init__(self, distiller: AttentionDistiller, inputs: dict[str, str]) -> None:
        self.distiller = distiller
        self.inputs = inputs

    def log_fields(self) -> list[str]:
        """The ``log.csv`` columns of the distillation terms and their weights."""
        fields = ["kd"]
        for t in self.distiller.teachers:
            fields += [f"kd/{t.name}", f"alpha/{t.name}"]
            fields += [f"kd/{t.name}/{s}" for s, _ in t.layer_pairs]
        return fields

    def terms(
        self,
        raw: Tensor,
        srgb: Tensor,
        k: float,
        autocast: contextlib.AbstractContextManager[object],
    ) -> tuple[Tensor, dict[str, float]]:
        """``L_AT`` of the student's last forward at progress ``k``, and its log entries."""
        batch = {"raw": raw, "srgb": srgb}
        with autocast:
            kd = self.distiller.loss(
                {role: batch[kind] for role, kind in self.inputs.items()}, progress=k
            )
        logs = {key: float(v.detach()) for key, v in kd.items()}
        logs.update({f"alpha/{role}": a for role, a in self.distiller.weights(k).items()})
        return kd["kd"], logs


@dataclass(frozen=True)
class _RunInfo:
    quality: int
    device: torch.device
    dtype: torch.dtype
    input_kind: str  # what the student reads: "raw" or "srgb"


def _teacher(
    role: _Role, tcfg: TeacherConfig, student: nn.Module, cfg: TrainConfig, run: _RunInfo
) -> tuple[Teacher, str]:
    """One teacher, its layer pairs with the student, and the input kind it reads."""
    space = getattr(student, "input_space", None)
    teacher = load_teacher(tcfg, role.name, run.quality, space).to(run.device)
    set_transform_precision(teacher, run.dtype, cfg.channels_last)
    check_patch_size(teacher, cfg.patch_size, f"--teacher-{role.name} {tcfg.arch}")
    kind = getattr(teacher, "input_kind", "raw")
    h, w = cfg.patch_size
    probe = {
        "raw": torch.zeros(1, 4, h // 2, w // 2, device=run.device),
        "srgb": torch.zeros(1, 3, h, w, device=run.device),
    }
    try:
        pairs = match_layers(
            student,
            teacher,
            role.prefix,
            sample_inputs=(probe[run.input_kind], probe[kind]),
            student_forward=role.forward,
            teacher_forward=role.forward,
        )
    except ValueError as err:
        raise TrainingError(f"--teacher-{role.name} {tcfg.arch}: {err}") from None
    frozen = Teacher(
        role.name, teacher, pairs, alpha0=tcfg.alpha0, gamma=cfg.kd_gamma, forward=role.forward
    )
    return frozen, kind


def build_distillation(
    student: nn.Module,
    cfg: TrainConfig,
    quality: int,
    device: torch.device,
    dtype: torch.dtype,
    input_kind: str,
) -> Distillation | None:
    """The run's teachers hooked to ``student``; None without ``--teacher-*``."""
    roles = [(role, getattr(cfg, role.field)) for role in ROLES]
    roles = [(role, tcfg) for role, tcfg in roles if tcfg is not None]
    if not roles:
        return None
    for attr in ("g_a", "g_s"):
        if not hasattr(student, attr):
            raise TrainingError(f"--teacher-*: --model {cfg.arch} has no {attr} to distil into")
    run = _RunInfo(quality, device, dtype, input_kind)
    teachers, inputs = [], {}
    for role, tcfg in roles:
        teacher, inputs[role.name] = _teacher(role, tcfg, student, cfg, run)
        teachers.append(teacher)
    distiller = AttentionDistiller(
        student,
        teachers,
        mode=cfg.kd_attention,
        p=cfg.kd_p,  # type: ignore[arg-type]
    )
    return Distillation(distiller, inputs)
