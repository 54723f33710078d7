"""The decaying weight of the attention terms (RAWtoBit §3.3, Eq. 3) and the paper's values."""

from __future__ import annotations

import math

__all__ = ["ALPHA0_DECODER", "ALPHA0_ENCODER", "GAMMA", "alpha_weight"]

#: Paper defaults (§3.3): initial weight of the encoder (compression-teacher) and decoder
#: (ISP-teacher) attention terms, and the decay factor of Eq. 3.
ALPHA0_ENCODER: float = 1e6
ALPHA0_DECODER: float = 1e5
GAMMA: float = 0.99999


def alpha_weight(alpha0: float, gamma: float, k: float) -> float:
    """Eq. 3: ``alpha0 * gamma ** (k ** 2)``; in log space so a large ``k`` underflows to 0."""
    if k < 0:
        raise ValueError(f"distillation progress k must be >= 0, got {k}")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    return float(alpha0 * math.exp(k * k * math.log(gamma)))
