"""Unified structure (paper §3.2, Fig. 1(b)): mbt2018 trained directly on RAW -> sRGB pairs.

Minnen et al.'s context + hyperprior model with a 4-channel input and one extra IGDN and
transposed convolution in the decoder, so the packed RAW ``[B,4,H/2,W/2]`` decodes to sRGB
``[B,3,H,W]``:

.. code-block:: none

    g_a: conv5x5/2 (4→N) GDN conv5x5/2 GDN conv5x5/2 GDN conv5x5/2 (N→M)      H/2 → H/32
    g_s: deconv5x5/2 (M→N) IGDN deconv/2 IGDN deconv/2 IGDN deconv/2 IGDN      H/32 → H/2
         deconv5x5/2 (N→3)   ← the extra layer                                  → H
"""

from __future__ import annotations

from typing import Any

from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from compressai_isp.models.base import ContextHyperprior, checked_input_space
from compressai_isp.registry import ArchSpec, quality_ladder, register_architecture

__all__ = ["UNIFIED_LADDER", "UNIFIED_RAW_SPEC", "UnifiedRaw"]


class UnifiedRaw(ContextHyperprior):
    """mbt2018 with a packed-RAW input and an sRGB output twice its size.

    Args:
        N: transform width (192, as mbt2018).
        M: latent channels (192 for low rates, 320 for high rates, as mbt2018).
        input_space: what the packed RAW input is normalised for, ``"paper"`` (RAWtoBit's) or
            ``"camera-normalised"`` (white-balanced, camera -> linear sRGB); see
            :class:`~compressai_isp.models.base.Configurable`.
    """

    def __init__(self, N: int = 192, M: int = 192, input_space: str = "paper") -> None:
        input_space = checked_input_space(input_space)  # before allocating any weights
        g_a = nn.Sequential(conv(4, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True),
            deconv(N, 3),
        )  # fmt: skip
        super().__init__(g_a, g_s, M=M, N_hyper=N, latent_stride=16)
        self.input_space = input_space
        self._config = {"N": N, "M": M, "input_space": input_space}

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return {"N": state_dict["g_a.0.weight"].size(0), "M": state_dict["g_a.6.weight"].size(0)}


#: The unified structure's λ ladder (§4.1), qualities 1-7.
UNIFIED_LADDER = quality_ladder(0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18)

UNIFIED_RAW_SPEC = register_architecture(
    ArchSpec(
        name="unified-raw",
        cls=UnifiedRaw,
        # CompressAI's mbt2018 widths: M = 320 from quality 5 up.
        cfgs={q: {"N": 192, "M": 192 if q <= 4 else 320} for q in UNIFIED_LADDER},
        lambdas=UNIFIED_LADDER,
        summary="Unified structure (§3.2): mbt2018 on RAW -> sRGB. Qualities 1-7: "
        "λ = 0.0035 ... 0.18.",
    )
)
