"""What the trainer does with each architecture, and the loss (RAWtoBit §3-4.1).

An architecture's :class:`Task` (which element of the ``(raw, srgb)`` pair it takes, which it
must reproduce, rate-distortion or distortion only, which parameters train) is derived from
its spec (:class:`compressai_isp.registry.ArchSpec`: the class's input and output kinds, the
λ ladder, ``trainable``); :data:`TASKS` is a read-only view of those specs, plugins included.
The built-in ones:

=================  =========  =========  ============================================  ==========
architecture       input      target     loss                                          trains
=================  =========  =========  ============================================  ==========
rbn                RAW        sRGB       R + λ·255²·MSE (+ L_AT with teachers, Eq. 4)  all
unified-raw        RAW        sRGB       R + λ·255²·MSE                                all
raw-comp-teacher   RAW        RAW        R + λ·255²·MSE on the packed RAW              all
isp-teacher        sRGB       sRGB       MSE (distortion only)                         all
liteispnet         RAW        sRGB       MSE (L2)                                      all
cascaded           RAW        sRGB       R + λ·255²·MSE through the frozen Comp-Net    ``isp.*``
comp-net           sRGB       sRGB       R + λ·255²·MSE (the cascade's Comp-Net)       all
=================  =========  =========  ============================================  ==========

``R`` is in bits per **sRGB output pixel** (:func:`compressai_isp.metrics.srgb_num_pixels`): a
packed RAW input ``[B,4,h,w]`` stands for ``B·2h·2w`` pixels. For the compression teacher, whose
output is the packed RAW itself, this is the number of sRGB pixels the RAW corresponds to, so
its rates are on the same scale as RBN's (CompressAI's ``RateDistortionLoss`` would divide by
the packed ``B·h·w`` and report 4x higher bpp).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressai_isp.metrics import ms_ssim_per_image, rate_bpp, srgb_num_pixels
from compressai_isp.registry import SpecView, Task

__all__ = ["Task", "TASKS", "rd_loss", "model_output", "main_parameters", "aux_parameters"]

#: Every architecture's task by name (a view of the specs: plugins appear once registered).
TASKS: Mapping[str, Task] = SpecView(lambda spec: spec.task)


def model_output(out: Any) -> tuple[Tensor, dict[str, Any]]:
    """``(x_hat, likelihoods)`` of a CompressAI-style output dict or a bare tensor."""
    if isinstance(out, Tensor):
        return out, {}
    return out["x_hat"], out.get("likelihoods", {}) or {}


def rd_loss(
    out: Any,
    inp: Tensor,
    target: Tensor,
    task: Task,
    lmbda: float,
    input_kind: str,
    metric: str = "mse",
) -> dict[str, Tensor]:
    """Eq. 4 without the attention term: ``{"loss", "mse", "bpp"}`` (bpp over sRGB pixels).

    ``metric="mse"``: ``loss = bpp + λ·255²·MSE`` (CompressAI's ``RateDistortionLoss``);
    ``metric="ms-ssim"``: ``loss = bpp + λ·(1 - MS-SSIM)`` (also reported as ``"ms_ssim"``).
    Distortion-only tasks return the distortion alone (``mse``, or ``1 - MS-SSIM``) and still
    report the estimated ``bpp`` of models that have an entropy model.
    """
    x_hat, likelihoods = model_output(out)
    if x_hat.shape != target.shape:
        raise ValueError(
            f"model output {tuple(x_hat.shape)} does not match the target {tuple(target.shape)}"
        )
    mse = F.mse_loss(x_hat.float(), target.float())
    result = {"mse": mse}
    if likelihoods:
        # float32 even under autocast: log of fp16 likelihoods near their 1e-9 bound is inf.
        lik = {k: [t.float() for t in v] if isinstance(v, (list, tuple)) else v.float()
               for k, v in likelihoods.items()}  # fmt: skip
        bpp = rate_bpp(lik, srgb_num_pixels(inp, input_kind))
    else:
        bpp = torch.zeros((), device=mse.device)
    result["bpp"] = bpp
    if metric == "mse":
        distortion, scale = mse, 255**2
    elif metric == "ms-ssim":
        msssim = ms_ssim_per_image(x_hat.float(), target.float(), data_range=1.0).mean()
        result["ms_ssim"] = msssim
        distortion, scale = 1 - msssim, 1
    else:
        raise ValueError(f"metric must be 'mse' or 'ms-ssim', got {metric!r}")
    result["loss"] = bpp + lmbda * scale * distortion if task.rate else distortion
    return result


def _is_aux(name: str) -> bool:
    return name.endswith(".quantiles")


def main_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """Trainable parameters of the main objective (everything but entropy-bottleneck quantiles)."""
    for name, p in model.named_parameters():
        if p.requires_grad and not _is_aux(name):
            yield name, p


def aux_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """The entropy bottleneck's quantiles, trained by CompressAI's ``aux_loss()``."""
    for name, p in model.named_parameters():
        if p.requires_grad and _is_aux(name):
            yield name, p


def freeze_for_task(model: nn.Module, task: Task) -> None:
    """Freeze every parameter outside ``task.trainable`` (the cascade's Comp-Net)."""
    if task.trainable is None:
        return
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(task.trainable))
