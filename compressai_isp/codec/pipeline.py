"""The model stages of the one RAW codec pipeline: pad -> compress | decompress -> crop.

Everything that runs a model on a photo goes through these functions: the ``.rbit`` codec
(:mod:`compressai_isp.codec.engine` puts :func:`compress`'s streams in the container with the
geometry of :mod:`compressai_isp.codec.geometry` and decodes them with :func:`decompress`, then
orients), evaluation (:func:`compressai_isp.utils.eval_model.inference`: the same two stages, or
:func:`estimate`), the anchors' ISP rendering and ``compare`` (:func:`render_isp`). An input of
any size is replicate-padded to the model's ``downsampling_factor`` and every output cropped
back to the input's extent (:class:`~compressai_isp.codec.geometry.Frame`), so each path codes
and measures exactly the same pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from compressai_isp.codec.geometry import Frame

__all__ = ["Coded", "compress", "decompress", "downsampling_factor", "estimate", "render_isp"]

#: Side multiple of models that do not declare one: CompressAI's own sRGB models need 64, as
#: ``compressai.utils.eval_model`` pads them.
DEFAULT_MULTIPLE = 64


def downsampling_factor(model: nn.Module) -> int:
    """The multiple ``model``'s input sides must have (its ``downsampling_factor``)."""
    return int(getattr(model, "downsampling_factor", DEFAULT_MULTIPLE))


@dataclass(frozen=True)
class Coded:
    """A batch coded by :func:`compress`: the entropy coder's strings, the latent shape they
    decode to, and the frame (input size and padding) to crop the decoded output to."""

    strings: list[Any]
    latent_shape: tuple[int, ...]
    frame: Frame


@torch.no_grad()
def compress(model: nn.Module, x: Tensor) -> Coded:
    """Pad a batch ``[B, C, h, w]`` to the model's multiple and entropy-code it."""
    padded, frame = Frame.pad(x, downsampling_factor(model))
    out = model.compress(padded)
    return Coded(out["strings"], tuple(int(s) for s in out["shape"]), frame)


@torch.no_grad()
def decompress(
    model: nn.Module, strings: Sequence[Any], latent_shape: Sequence[int], frame: Frame
) -> Tensor:
    """Decode ``strings`` and crop the output to ``frame``'s input extent, at the output's
    scale (unclamped; an sRGB output of packed RAW is twice the input's size)."""
    x_hat = model.decompress(list(strings), list(latent_shape))["x_hat"]
    return frame.crop(x_hat)


@torch.no_grad()
def estimate(model: nn.Module, x: Tensor) -> tuple[Tensor, Any]:
    """One ``forward`` pass on the padded batch: ``(cropped output, likelihoods)``, the
    estimated rate ``-log2 p`` of the padded latent instead of real coding."""
    padded, frame = Frame.pad(x, downsampling_factor(model))
    out = model(padded)
    return frame.crop(out["x_hat"]), out["likelihoods"]


@torch.no_grad()
def render_isp(isp: nn.Module, raw: Tensor) -> Tensor:
    """Render packed RAW ``[4,h,w]`` to sRGB ``[3,2h,2w]`` in ``[0,1]`` with a learned ISP-Net.

    ``raw`` must be in the ISP's input space (``isp.input_space``). The input is
    replicate-padded to the ISP's ``downsampling_factor`` and the output cropped back.
    """
    device = next(isp.parameters()).device
    x = (raw if raw.dim() == 4 else raw.unsqueeze(0)).to(device)
    padded, frame = Frame.pad(x, downsampling_factor(isp))
    return frame.crop(isp(padded)["x_hat"])[0].clamp(0, 1).float().cpu()
