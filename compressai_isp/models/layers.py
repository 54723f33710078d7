"""Building blocks shared by the ISP-Net (LiteISPNet) and the RBN decoder.

Zhang et al., "Learning RAW-to-sRGB Mappings with Inaccurately Aligned Supervision", ICCV 2021
(LiteISPNet): residual channel-attention groups (RCAG) of residual channel-attention blocks
(RCAB), fixed Haar wavelet down/up-sampling and a coordinate map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "conv3x3",
    "ChannelAttention",
    "RCAB",
    "RCAG",
    "HaarDWT",
    "HaarIDWT",
    "coordinate_map",
]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation gate: pool -> 1x1 (C -> C/r) -> ReLU -> 1x1 -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    """Residual channel-attention block: conv -> ReLU -> conv -> channel attention, plus input."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels),
            nn.ReLU(inplace=True),
            conv3x3(channels, channels),
            ChannelAttention(channels, reduction),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class RCAG(nn.Module):
    """Residual channel-attention group: ``num_blocks`` RCABs and a conv under one long skip.

    LiteISPNet uses four RCABs per group; RAWtoBit's decoder uses two (paper §3.3).
    """

    def __init__(self, channels: int, num_blocks: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *(RCAB(channels, reduction) for _ in range(num_blocks)), conv3x3(channels, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _haar_filters(channels: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    # LL, LH, HL, HH with +-0.5 taps: orthonormal, so the inverse is the transposed convolution.
    base = (
        torch.tensor(
            [[[1, 1], [1, 1]], [[-1, -1], [1, 1]], [[-1, 1], [-1, 1]], [[1, -1], [-1, 1]]],
            dtype=dtype,
            device=device,
        )
        * 0.5
    )
    return base.unsqueeze(1).repeat(channels, 1, 1, 1)  # [4C, 1, 2, 2], grouped per channel


class HaarDWT(nn.Module):
    """Fixed Haar analysis: ``[B, C, H, W] -> [B, 4C, H/2, W/2]`` (channel c -> 4c..4c+3)."""

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        return F.conv2d(x, _haar_filters(c, x.dtype, x.device), stride=2, groups=c)


class HaarIDWT(nn.Module):
    """Exact inverse of :class:`HaarDWT`: ``[B, 4C, H, W] -> [B, C, 2H, 2W]``."""

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1] // 4
        return F.conv_transpose2d(x, _haar_filters(c, x.dtype, x.device), stride=2, groups=c)


def coordinate_map(x: Tensor) -> Tensor:
    """Two channels holding the normalised (row, column) position in ``[-1, 1]`` of each pixel."""
    b, _, h, w = x.shape
    rows = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device)
    cols = torch.linspace(-1.0, 1.0, w, dtype=x.dtype, device=x.device)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))
    return grid.unsqueeze(0).expand(b, -1, -1, -1)
