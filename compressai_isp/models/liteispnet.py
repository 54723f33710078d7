"""LiteISPNet, the ISP-Net of the cascaded structure (paper §3.1; Zhang et al., ICCV 2021).

.. code-block:: none

    packed RAW [B,4,H/2,W/2] ─► raw^(1/2.2) ─► head conv (4→C) ──────────────────────┐ h
      ⊕ coordinate map (2) ─► down1: conv (C+2→C+2) RCAG conv (→C) DWT → 4C   H/4 ─┐ d1
      down2: conv (4C→C) RCAG(C) DWT → 4C                                    H/8 ─┐ d2
      down3: conv (4C→2C) RCAG(2C) DWT → 8C                                  H/16 ┐ d3
      middle: conv (8C→2C) RCAG RCAG conv (2C→8C) + d3                      H/16
      up3: IDWT → 2C, RCAG, conv (→4C) + d2                                  H/8
      up2: IDWT → C,  RCAG, conv (→4C) + d1                                  H/4
      up1: IDWT → C,  RCAG, conv (→C)  + h                                   H/2
      tail: conv (C→4C) PixelShuffle(2) conv (C→3)                           H
    sRGB [B,3,H,W]

``C = 64`` reproduces the published widths (head 64, RCAGs of 66/64/128 channels, 256/512
wavelet features). RCAGs hold four RCABs. The coordinate map is the pixel position normalised
over the input tensor (LiteISPNet feeds the patch's position in the full photo; with whole
photos at evaluation the two coincide). The GCM / PWC-Net alignment modules of the ICCV paper
exist only for misaligned smartphone/DSLR pairs and are not needed with LibRaw targets.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from compressai_isp.models.base import Configurable, check_input, checked_input_space
from compressai_isp.models.layers import RCAG, HaarDWT, HaarIDWT, conv3x3, coordinate_map
from compressai_isp.precision import TransformPrecision
from compressai_isp.registry import ArchSpec, distortion_only, register_architecture

__all__ = ["LITEISPNET_SPEC", "LiteISPNet"]

LITEISPNET_RCABS_PER_GROUP = 4
RAW_GAMMA = 1 / 2.2


def _stage(*layers: tuple[str, nn.Module]) -> nn.Sequential:
    stage = nn.Sequential()
    for name, layer in layers:
        stage.add_module(name, layer)
    return stage


class LiteISPNet(Configurable, nn.Module):
    """RAW -> sRGB ISP-Net. ``forward`` returns ``{"x_hat", "likelihoods": {}}`` like a codec.

    Args:
        width: base width ``C`` (64 in LiteISPNet).
        input_space: what the packed RAW input is normalised for, ``"paper"`` (RAWtoBit's) or
            ``"camera-normalised"`` (white-balanced, camera -> linear sRGB); see
            :class:`~compressai_isp.models.base.Configurable`.
    """

    input_kind: ClassVar[str] = "raw"
    output_kind: ClassVar[str] = "srgb"
    in_channels: ClassVar[int] = 4
    downsampling_factor: ClassVar[int] = 8  # three Haar levels
    #: The whole network is an image transform (:mod:`compressai_isp.precision`).
    transform_modules: ClassVar[tuple[str, ...]] = (
        "head", "down1", "down2", "down3", "middle", "up3", "up2", "up1", "tail",
    )  # fmt: skip
    transform_precision: TransformPrecision = TransformPrecision()

    def __init__(self, width: int = 64, input_space: str = "paper") -> None:
        input_space = checked_input_space(input_space)  # before allocating any weights
        super().__init__()
        self.input_space = input_space
        C, n = width, LITEISPNET_RCABS_PER_GROUP
        self.head = conv3x3(4, C)
        self.down1 = _stage(
            ("conv_in", conv3x3(C + 2, C + 2)),
            ("rcag", RCAG(C + 2, n)),
            ("conv_out", conv3x3(C + 2, C)),
            ("dwt", HaarDWT()),
        )
        self.down2 = _stage(
            ("conv_in", conv3x3(4 * C, C)), ("rcag", RCAG(C, n)), ("dwt", HaarDWT())
        )
        self.down3 = _stage(
            ("conv_in", conv3x3(4 * C, 2 * C)), ("rcag", RCAG(2 * C, n)), ("dwt", HaarDWT())
        )
        self.middle = _stage(
            ("conv_in", conv3x3(8 * C, 2 * C)),
            ("rcag1", RCAG(2 * C, n)),
            ("rcag2", RCAG(2 * C, n)),
            ("conv_out", conv3x3(2 * C, 8 * C)),
        )
        self.up3 = _stage(
            ("idwt", HaarIDWT()), ("rcag", RCAG(2 * C, n)), ("conv_out", conv3x3(2 * C, 4 * C))
        )
        self.up2 = _stage(
            ("idwt", HaarIDWT()), ("rcag", RCAG(C, n)), ("conv_out", conv3x3(C, 4 * C))
        )
        self.up1 = _stage(("idwt", HaarIDWT()), ("rcag", RCAG(C, n)), ("conv_out", conv3x3(C, C)))
        self.tail = _stage(
            ("conv_in", conv3x3(C, 4 * C)),
            ("shuffle", nn.PixelShuffle(2)),
            ("conv_out", conv3x3(C, 3)),
        )
        self._config = {"width": width, "input_space": input_space}

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return {"width": state_dict["head.weight"].size(0)}

    def render(self, raw: Tensor) -> Tensor:
        """Packed RAW ``[B,4,H/2,W/2]`` in [0, 1] -> float32 sRGB ``[B,3,H,W]`` (unclamped)."""
        check_input(self, raw)
        with self.transform_precision.scope(raw) as raw:
            srgb = self._render(raw)
        return self.transform_precision.output(srgb)

    def _render(self, raw: Tensor) -> Tensor:
        h = self.head(raw.clamp(min=0).pow(RAW_GAMMA))
        d1 = self.down1(_cat_coords(h))
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        x = self.middle(d3) + d3
        x = self.up3(x) + d2
        x = self.up2(x) + d1
        x = self.up1(x) + h
        return self.tail(x)

    def forward(self, raw: Tensor) -> dict[str, Any]:
        return {"x_hat": self.render(raw), "likelihoods": {}}


def _cat_coords(x: Tensor) -> Tensor:
    return torch.cat((x, coordinate_map(x)), dim=1)


LITEISPNET_SPEC = register_architecture(
    ArchSpec(
        name="liteispnet",
        cls=LiteISPNet,
        cfgs={q: {"width": 64} for q in range(1, 8)},
        lambdas=distortion_only(7),
        summary="LiteISPNet (ICCV 2021), the ISP-Net of the cascade, trained with L2 (§4.1).",
    )
)
