"""RAWtoBit network (RBN), Jeong & Jung, ECCV Workshops 2022, §3.3 and Fig. 2.

RBN is a heterogeneous autoencoder: a compression-style encoder (strided convs + GDN, as in
Minnen et al. 2018) on the packed RAW, the context + hyperprior entropy model, and an ISP-style
decoder derived from LiteISPNet (Zhang et al., ICCV 2021) that renders sRGB from the latent alone.

.. code-block:: none

    packed RAW [B,4,H/2,W/2]
      │ g_a: conv3x3/2 (4→N) GDN  conv3x3/2 (N→N) GDN  conv3x3/2 (N→N) GDN  conv3x3/2 (N→M)
      ▼
    y [B,M,H/32,W/32] ── context + hyperprior (h_a, h_s, 5x5 masked context, EP, rANS)
      │ g_s (RBNDecoder, C = decoder_width):
      │   middle: conv (M→2C) RCAG(2C) RCAG(2C) conv (2C→8C)                       H/32
      │   up5:    deconv/2 (8C→2C) IGDN RCAG(2C) conv (2C→8C)                      H/16
      │   up4:    deconv/2 (8C→2C) IGDN RCAG(2C) conv (2C→4C)                      H/8
      │   up3:    deconv/2 (4C→C)  IGDN RCAG(C)  conv (C→4C)                       H/4
      │   up2:    deconv/2 (4C→C)  IGDN RCAG(C)  conv (C→C)                        H/2
      │   tail:   conv (C→4C) PixelShuffle(2) conv (C→3)                           H
      ▼
    sRGB [B,3,H,W]

Reconstruction choices (Fig. 2's widths are not in the text):

* Encoder: the paper's own numbers — kernel 3, 256 channels, 192 latent channels.
* Decoder: LiteISPNet's middle and up path at its published widths (C = 64: 128-channel
  middle RCAGs, 512/256-channel stage outputs) with each inverse Haar transform replaced by a
  3x3 stride-2 transposed convolution with the same channel change (4C' → C') and, mirroring
  the encoder's GDNs, an IGDN after each one. LiteISPNet goes from H/16 to H with three IDWTs
  and a PixelShuffle; RBN's latent is at H/32, so one extra up stage (``up5``, a copy of
  ``up4``'s widths at H/16) supplies the fifth doubling.
* RCAGs hold two RCABs (paper §3.3; LiteISPNet uses four); channel attention reduction 16.
* No skip connections from the encoder, and LiteISPNet's internal down-path skips disappear
  with the down path: the latent alone must carry the image (paper §3.3).

Every stage is a named submodule (``g_s.up4.conv`` ...), so intermediate outputs are
individually addressable as distillation taps; the ISP teacher's decoder is this same class.
"""

from __future__ import annotations

from typing import Any

from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from compressai_isp.models.base import ContextHyperprior, checked_input_space, hyperprior_widths
from compressai_isp.models.layers import RCAG, conv3x3
from compressai_isp.registry import ArchSpec, quality_ladder, register_architecture

__all__ = [
    "RBN",
    "RBNDecoder",
    "RBN_SPEC",
    "RD_LADDER",
    "rbn_widths",
    "strided_analysis",
]

RBN_RCABS_PER_GROUP = 2


def strided_analysis(in_channels: int, N: int, M: int, num_layers: int = 4) -> nn.Sequential:
    """``num_layers`` 3x3 stride-2 convs with GDN between them, the last one producing M channels.

    RBN's encoder (4 layers on the packed RAW), the compression teacher's encoder (the same,
    with ``M = K``) and the ISP teacher's encoder (5 layers on sRGB) are all this function, so
    their convolutions sit at the same indices (``g_a.0``, ``g_a.2``, ...) for distillation.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for i in range(num_layers):
        last = i == num_layers - 1
        layers.append(conv(channels, M if last else N, kernel_size=3, stride=2))
        if not last:
            layers.append(GDN(N))
        channels = N
    return nn.Sequential(*layers)


class _UpStage(nn.Sequential):
    """deconv/2 -> IGDN -> RCAG -> conv: one LiteISPNet up stage with the IDWT made learnable."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.deconv = deconv(in_channels, mid_channels, kernel_size=3, stride=2)
        self.igdn = GDN(mid_channels, inverse=True)
        self.rcag = RCAG(mid_channels, RBN_RCABS_PER_GROUP)
        self.conv = conv3x3(mid_channels, out_channels)


class RBNDecoder(nn.Module):
    """RBN's LiteISPNet-derived decoder: latent ``[B, M, h, w]`` -> sRGB ``[B, 3, 32h, 32w]``."""

    def __init__(self, M: int = 192, width: int = 64) -> None:
        super().__init__()
        C = width
        self.middle = nn.Sequential()
        self.middle.add_module("conv_in", conv3x3(M, 2 * C))
        self.middle.add_module("rcag1", RCAG(2 * C, RBN_RCABS_PER_GROUP))
        self.middle.add_module("rcag2", RCAG(2 * C, RBN_RCABS_PER_GROUP))
        self.middle.add_module("conv_out", conv3x3(2 * C, 8 * C))
        self.up5 = _UpStage(8 * C, 2 * C, 8 * C)
        self.up4 = _UpStage(8 * C, 2 * C, 4 * C)
        self.up3 = _UpStage(4 * C, C, 4 * C)
        self.up2 = _UpStage(4 * C, C, C)
        self.tail = nn.Sequential()
        self.tail.add_module("conv_in", conv3x3(C, 4 * C))
        self.tail.add_module("shuffle", nn.PixelShuffle(2))
        self.tail.add_module("conv_out", conv3x3(C, 3))

    def forward(self, y_hat: Tensor) -> Tensor:
        x = self.middle(y_hat)
        for stage in (self.up5, self.up4, self.up3, self.up2):
            x = stage(x)
        return self.tail(x)


class RBN(ContextHyperprior):
    """RAWtoBit network: packed RAW ``[B,4,H/2,W/2]`` -> bitstream -> sRGB ``[B,3,H,W]``.

    Args:
        N: encoder width (256 in the paper).
        M: latent channels (192 in the paper).
        N_hyper: hyperprior width (192, as mbt2018).
        decoder_width: LiteISPNet base width ``C`` of the decoder (64).
        input_space: what the packed RAW input is normalised for, ``"paper"`` (RAWtoBit's) or
            ``"camera-normalised"`` (white-balanced, camera -> linear sRGB); see
            :class:`~compressai_isp.models.base.Configurable`.
    """

    def __init__(
        self,
        N: int = 256,
        M: int = 192,
        N_hyper: int = 192,
        decoder_width: int = 64,
        input_space: str = "paper",
    ) -> None:
        input_space = checked_input_space(input_space)  # before allocating any weights
        super().__init__(
            strided_analysis(4, N, M),
            RBNDecoder(M, decoder_width),
            M=M,
            N_hyper=N_hyper,
            latent_stride=16,
        )
        self.input_space = input_space
        self._config = {
            "N": N,
            "M": M,
            "N_hyper": N_hyper,
            "decoder_width": decoder_width,
            "input_space": input_space,
        }

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return rbn_widths(state_dict)


def rbn_widths(state_dict: dict[str, Tensor]) -> dict[str, int]:
    """RBN's constructor widths (also the ISP teacher's) from a state dict's shapes."""
    return {
        "N": state_dict["g_a.0.weight"].size(0),
        **hyperprior_widths(state_dict),
        "decoder_width": state_dict["g_s.up2.conv.weight"].size(0),
    }


#: RBN's and the compression teacher's λ ladder (paper §4.1), qualities 1-7.
RD_LADDER = quality_ladder(0.0035, 0.0067, 0.013, 0.0483, 0.0932, 0.18, 0.36)

RBN_SPEC = register_architecture(
    ArchSpec(
        name="rbn",
        cls=RBN,
        cfgs={q: {"N": 256, "M": 192, "N_hyper": 192, "decoder_width": 64} for q in RD_LADDER},
        lambdas=RD_LADDER,
        summary="RAWtoBit network (§3.3). Qualities 1-7: λ = 0.0035 ... 0.36.",
    )
)
