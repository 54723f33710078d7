"""Wavefront schedule of a causal (masked) convolution context.

A context model with a causal mask lets position ``(i, j)`` see only the neighbours
``(i + dy, j + dx)`` of its taps. When every tap satisfies ``a * dy + dx < 0``, all neighbours of
``(i, j)`` lie on earlier wavefronts ``t = a * i + j``, so every position of one wavefront can
be coded at the same time: ``a * (h - 1) + w`` steps instead of ``h * w``. The smallest such
``a`` is derived from the mask itself: ``a = 3`` for the 5x5 mask of Minnen et al. 2018
(its tap ``(-1, +2)`` needs ``a > 2``), ``a = 2`` for 3x3, ``a = 4`` for 7x7.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

__all__ = ["Schedule", "causal_taps", "wavefront_slope", "make_schedule"]


def causal_taps(conv: nn.Conv2d) -> tuple[tuple[int, int], ...]:
    """The ``(dy, dx)`` offsets (relative to the centre) that ``conv``'s mask lets through.

    The mask is ``conv.mask`` when present (CompressAI's ``MaskedConv2d``), otherwise the
    non-zero pattern of the weight. Raises ``ValueError`` when a tap looks at the current or a
    later position (raster order), since such a context cannot be decoded at all.
    """
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"context_prediction must be an nn.Conv2d, got {type(conv).__name__}")
    kh, kw = conv.kernel_size
    if (
        kh % 2 == 0
        or kw % 2 == 0
        or tuple(conv.stride) != (1, 1)
        or tuple(conv.dilation) != (1, 1)
        or conv.groups != 1
        or tuple(conv.padding) != (kh // 2, kw // 2)
    ):
        raise ValueError(
            "context_prediction must be an odd-sized, stride-1, undilated, ungrouped conv with "
            f"'same' padding; got kernel {conv.kernel_size}, stride {conv.stride}, "
            f"dilation {conv.dilation}, groups {conv.groups}, padding {conv.padding}"
        )
    mask = getattr(conv, "mask", None)
    pattern = (mask if isinstance(mask, Tensor) else conv.weight).detach() != 0
    used = pattern.flatten(0, 1).any(dim=0)  # [kh, kw]
    taps = []
    for r, c in used.nonzero().tolist():
        dy, dx = r - kh // 2, c - kw // 2
        if dy > 0 or (dy == 0 and dx >= 0):
            raise ValueError(
                f"context_prediction's mask is not causal: tap (dy={dy}, dx={dx}) looks at the "
                "current or a not-yet-decoded position"
            )
        taps.append((dy, dx))
    if not taps:
        raise ValueError("context_prediction's mask has no taps")
    return tuple(taps)


def wavefront_slope(taps: tuple[tuple[int, int], ...]) -> int:
    """The smallest ``a >= 0`` with ``a * dy + dx < 0`` for every causal tap ``(dy, dx)``.

    Taps on the current row (``dy == 0``) have ``dx < 0`` and hold for any ``a``; a tap above
    (``dy < 0``) needs ``a > dx / -dy``. The column coefficient stays 1: a larger one never
    shortens the schedule because ``a`` grows at least as fast.
    """
    a = 0
    for dy, dx in taps:
        if dy < 0:
            a = max(a, dx // -dy + 1)
    return a


@dataclass(frozen=True)
class Schedule:
    """Coding order of an ``h x w`` latent (all tensors on the CPU, ``long``).

    Positions are coded wavefront by wavefront, by increasing row inside a wavefront, and all
    channels of a position together; ``bounds[t]:bounds[t + 1]`` is wavefront ``t`` in
    ``order``. Context reads go to a zero-padded, channel-last buffer of ``padded_size`` rows
    (``pad_top`` rows above, ``pad_left`` / ``pad_right`` columns beside the latent).
    """

    height: int
    width: int
    slope: int
    order: Tensor  # [h*w] raster index of each position, in coding order
    bounds: tuple[int, ...]  # [n_steps + 1]
    context_rows: Tensor  # [h*w, taps] padded-buffer rows of each position's taps
    write_rows: Tensor  # [h*w] padded-buffer row of each position
    padded_size: int

    @property
    def num_steps(self) -> int:
        return len(self.bounds) - 1

    @property
    def max_step(self) -> int:
        return max(b - a for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True))


@lru_cache(maxsize=32)
def make_schedule(height: int, width: int, taps: tuple[tuple[int, int], ...]) -> Schedule:
    """The wavefront schedule of an ``height x width`` latent for a context with ``taps``."""
    if height < 1 or width < 1:
        raise ValueError(f"latent must be at least 1x1, got {height}x{width}")
    a = wavefront_slope(taps)
    pad_top = max(-dy for dy, _ in taps)
    pad_left = max(0, max(-dx for _, dx in taps))
    pad_right = max(0, max(dx for _, dx in taps))
    stride = width + pad_left + pad_right

    i = torch.arange(height).repeat_interleave(width)
    j = torch.arange(width).repeat(height)
    t = a * i + j
    order = torch.argsort(t * height + i)
    counts = torch.bincount(t)
    counts = counts[counts > 0]  # a latent narrower than the slope leaves empty wavefronts
    bounds = (0, *torch.cumsum(counts, 0).tolist())

    oi, oj = i[order], j[order]
    write_rows = (oi + pad_top) * stride + (oj + pad_left)
    offsets = torch.tensor([dy * stride + dx for dy, dx in taps])
    context_rows = write_rows[:, None] + offsets[None, :]
    return Schedule(
        height=height,
        width=width,
        slope=a,
        order=order,
        bounds=bounds,
        context_rows=context_rows,
        write_rows=write_rows,
        padded_size=(height + pad_top) * stride,
    )
