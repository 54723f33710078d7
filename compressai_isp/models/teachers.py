"""The two teachers of RBN's knowledge distillation (paper §3.3, Fig. 2).

* :class:`RawCompTeacher` — RAW -> bits -> RAW. Its encoder is RBN's with the last conv widened
  to ``K`` channels (K = 192 for qualities 1-3, 320 for 4-7, §4.1); its decoder mirrors the
  encoder back to the packed RAW. Trained with the rate-distortion loss on the RAW; its encoder
  guides RBN's encoder.
* :class:`ISPTeacher` — an sRGB autoencoder whose decoder is RBN's decoder and whose latent
  has RBN's latent shape (``[B, M, H/32, W/32]``), trained for distortion only; its decoder
  guides RBN's decoder.

.. code-block:: none

    RawCompTeacher:  packed RAW [B,4,H/2,W/2] ─g_a (RBN's, last conv → K)─► y [B,K,H/32,W/32]
                     ─► entropy model ─► g_s: deconv/2 (K→N) IGDN deconv/2 IGDN deconv/2 IGDN
                     deconv/2 (N→4) ─► packed RAW
    ISPTeacher:      sRGB [B,3,H,W] ─g_a (5 x conv3x3/2 + GDN, → M)─► y [B,M,H/32,W/32]
                     ─► entropy model ─► g_s = RBNDecoder ─► sRGB [B,3,H,W]
"""

from __future__ import annotations

from typing import Any, ClassVar

from compressai.layers import GDN
from compressai.models.utils import deconv
from torch import Tensor, nn

from compressai_isp.models.base import ContextHyperprior, checked_input_space, hyperprior_widths
from compressai_isp.models.rbn import RD_LADDER, RBNDecoder, rbn_widths, strided_analysis
from compressai_isp.registry import (
    ArchSpec,
    distortion_only,
    register_architecture,
)

__all__ = [
    "ISPTeacher",
    "ISP_TEACHER_SPEC",
    "RAW_COMP_TEACHER_SPEC",
    "RawCompTeacher",
    "strided_synthesis",
]


def strided_synthesis(M: int, N: int, out_channels: int, num_layers: int = 4) -> nn.Sequential:
    """Mirror of :func:`strided_analysis`: 3x3 stride-2 transposed convs with IGDN between."""
    layers: list[nn.Module] = []
    channels = M
    for i in range(num_layers):
        last = i == num_layers - 1
        layers.append(deconv(channels, out_channels if last else N, kernel_size=3, stride=2))
        if not last:
            layers.append(GDN(N, inverse=True))
        channels = N
    return nn.Sequential(*layers)


class RawCompTeacher(ContextHyperprior):
    """Compression teacher: packed RAW -> bitstream -> packed RAW (both ``[B,4,H/2,W/2]``).

    Args:
        N: encoder/decoder width (256, as RBN's encoder).
        K: latent channels (192 for qualities 1-3, 320 for 4-7).
        N_hyper: hyperprior width (192).
        input_space: what the packed RAW input (and output) is normalised for, ``"paper"``
            (RAWtoBit's) or ``"camera-normalised"`` (white-balanced, camera -> linear sRGB); see
            :class:`~compressai_isp.models.base.Configurable`.
    """

    output_kind: ClassVar[str] = "raw"

    def __init__(
        self, N: int = 256, K: int = 192, N_hyper: int = 192, input_space: str = "paper"
    ) -> None:
        input_space = checked_input_space(input_space)  # before allocating any weights
        super().__init__(
            strided_analysis(4, N, K),
            strided_synthesis(K, N, 4),
            M=K,
            N_hyper=N_hyper,
            latent_stride=16,
        )
        self.input_space = input_space
        self._config = {"N": N, "K": K, "N_hyper": N_hyper, "input_space": input_space}

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        widths = hyperprior_widths(state_dict)
        return {
            "N": state_dict["g_a.0.weight"].size(0),
            "K": widths["M"],
            "N_hyper": widths["N_hyper"],
        }


class ISPTeacher(ContextHyperprior):
    """ISP teacher: sRGB ``[B,3,H,W]`` -> latent of RBN's shape -> RBN's decoder -> sRGB.

    Args:
        N: encoder width (256, as RBN's encoder).
        M: latent channels (192, as RBN).
        N_hyper: hyperprior width (192).
        decoder_width: LiteISPNet base width of the decoder (64, as RBN).
    """

    input_kind: ClassVar[str] = "srgb"
    in_channels: ClassVar[int] = 3

    def __init__(
        self, N: int = 256, M: int = 192, N_hyper: int = 192, decoder_width: int = 64
    ) -> None:
        # Five stride-2 layers: sRGB is twice the packed RAW's size, the latent must match RBN's.
        super().__init__(
            strided_analysis(3, N, M, num_layers=5),
            RBNDecoder(M, decoder_width),
            M=M,
            N_hyper=N_hyper,
            latent_stride=32,
        )
        self._config = {"N": N, "M": M, "N_hyper": N_hyper, "decoder_width": decoder_width}

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return rbn_widths(state_dict)


RAW_COMP_TEACHER_SPEC = register_architecture(
    ArchSpec(
        name="raw-comp-teacher",
        cls=RawCompTeacher,
        # K = 192 for the three lower rates and 320 for the four higher ones (§4.1).
        cfgs={q: {"N": 256, "K": 192 if q <= 3 else 320, "N_hyper": 192} for q in RD_LADDER},
        lambdas=RD_LADDER,
        summary="Compression teacher (§3.3): RAW -> bits -> RAW. K = 192 (q1-3) or 320 (q4-7).",
    )
)

ISP_TEACHER_SPEC = register_architecture(
    ArchSpec(
        name="isp-teacher",
        cls=ISPTeacher,
        cfgs={q: {"N": 256, "M": 192, "N_hyper": 192, "decoder_width": 64} for q in range(1, 8)},
        lambdas=distortion_only(7),
        summary="ISP teacher (§3.3): sRGB autoencoder with RBN's decoder, trained for "
        "distortion only.",
    )
)
