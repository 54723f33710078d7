"""Attention maps and the attention-transfer loss (RAWtoBit §3.3, Eqs. 1-2)."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

__all__ = ["AttentionMode", "attention_loss", "attention_map"]

AttentionMode = Literal["signed", "abs"]
ATTENTION_MODES: tuple[str, ...] = ("signed", "abs")


def check_mode(mode: str) -> None:
    """Refuse an attention mode other than ``"signed"`` or ``"abs"``."""
    if mode not in ATTENTION_MODES:
        raise ValueError(f"attention mode must be 'signed' or 'abs', got {mode!r}")


def attention_map(features: Tensor, mode: AttentionMode = "signed", p: float = 1.0) -> Tensor:
    """Spatial attention map ``[B, H, W]`` of a feature tensor ``[B, C, H, W]``.

    ``mode="signed"`` is RAWtoBit's Eq. 1, the plain sum over channels, which keeps the sign of
    convolution outputs (the paper found absolute values harmful there). ``mode="abs"`` is the
    original attention transfer (Zagoruyko & Komodakis 2017): the sum of ``|A|^p``.
    Computed in float32 so mixed-precision training does not overflow the channel sum.
    """
    if features.dim() != 4:
        raise ValueError(
            "attention_map expects a [B, C, H, W] feature tensor, "
            f"got shape {tuple(features.shape)}"
        )
    check_mode(mode)
    a = features.float()
    if mode == "signed":
        return a.sum(dim=1)
    return a.abs().pow(p).sum(dim=1) if p != 1.0 else a.abs().sum(dim=1)


def attention_loss(
    student: Tensor, teacher: Tensor, mode: AttentionMode = "signed", p: float = 1.0
) -> Tensor:
    """One term ``L_AT^j`` of Eq. 2: MSE between per-sample L2-normalised attention maps.

    Each sample's flattened map is divided by its own L2 norm, the squared difference is averaged
    over the ``N_j = H_j * W_j`` elements (the ``1/N_j`` of Eq. 2) and over the batch.
    """
    if student.shape[0] != teacher.shape[0] or student.shape[-2:] != teacher.shape[-2:]:
        raise ValueError(
            "attention maps need the same batch and spatial size: student "
            f"{tuple(student.shape)} vs teacher {tuple(teacher.shape)}"
        )
    ms = F.normalize(attention_map(student, mode, p).flatten(1), dim=1)
    mt = F.normalize(attention_map(teacher, mode, p).flatten(1), dim=1)
    return (ms - mt).pow(2).mean()
