"""Cascaded structure (paper §3.1, Fig. 1(a)): an ISP-Net followed by an sRGB Comp-Net.

The ISP-Net (:class:`~compressai_isp.models.liteispnet.LiteISPNet`) renders sRGB from the
packed RAW, and the sRGB Comp-Net (:class:`~compressai_isp.models.comp_net.CompNet`, i.e.
mbt2018) codes that sRGB. The cascade is one :class:`~compressai.models.CompressionModel`:
``compress`` takes RAW, ``decompress`` returns sRGB, and the Comp-Net's modules keep mbt2018's
names (``g_a``, ``h_s``, ...) so a ``comp-net`` or CompressAI ``mbt2018`` state dict loads into
it with ``load_comp_net_state_dict``.

.. code-block:: none

    packed RAW [B,4,H/2,W/2] ─isp─► sRGB [B,3,H,W] ─g_a (mbt2018)─► y ─► entropy model
                                                   ◄─g_s (mbt2018)── y_hat
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from compressai_isp.models.base import check_input, checked_input_space
from compressai_isp.models.comp_net import MBT2018_LADDER, CompNet, mbt2018_cfgs
from compressai_isp.models.liteispnet import LiteISPNet
from compressai_isp.registry import ArchSetup, ArchSpec, register_architecture

__all__ = ["CASCADED_SPEC", "Cascaded"]


class Cascaded(CompNet):
    """LiteISPNet + mbt2018: packed RAW ``[B,4,H/2,W/2]`` -> bitstream -> sRGB ``[B,3,H,W]``.

    Args:
        N, M: mbt2018 widths (CompressAI's ``cfgs["mbt2018"]``: (192, 192) or (192, 320)).
        isp_width: LiteISPNet base width (64).
        input_space: what the packed RAW input of the ISP-Net is normalised for, ``"paper"``
            (RAWtoBit's) or ``"camera-normalised"`` (white-balanced, camera -> linear sRGB); see
            :class:`~compressai_isp.models.base.Configurable`.
    """

    input_kind: ClassVar[str] = "raw"
    in_channels: ClassVar[int] = 4

    def __init__(
        self, N: int = 192, M: int = 192, isp_width: int = 64, input_space: str = "paper"
    ) -> None:
        input_space = checked_input_space(input_space)  # before allocating any weights
        super().__init__(N, M)
        self.isp = LiteISPNet(isp_width, input_space=input_space)
        self.input_space = input_space
        self._config = {"N": N, "M": M, "isp_width": isp_width, "input_space": input_space}

    @property
    def downsampling_factor(self) -> int:
        # mbt2018 needs sRGB sides that are multiples of 64, i.e. packed RAW multiples of 32.
        return max(32, self.isp.downsampling_factor)

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return {
            **super().config_from_state_dict(state_dict),
            "isp_width": state_dict["isp.head.weight"].size(0),
        }

    def load_comp_net_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load a ``comp-net`` or mbt2018 state dict (CompressAI's too) into the Comp-Net."""
        own = {k: v for k, v in self.state_dict().items() if k.startswith("isp.")}
        self.load_state_dict({**own, **state_dict})

    def load_isp_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load a LiteISPNet state dict into the ISP-Net."""
        self.isp.load_state_dict(state_dict)

    def analysis_input(self, x: Tensor) -> Tensor:
        """The Comp-Net codes the ISP-Net's sRGB, clamped to the range a real codec sees."""
        check_input(self, x)
        return self.isp.render(x).clamp(0, 1)


CASCADED_SPEC = register_architecture(
    ArchSpec(
        name="cascaded",
        cls=Cascaded,
        # The Comp-Net is CompressAI's mbt2018 ladder; the ISP-Net is trained with L2 (§4.1).
        cfgs=mbt2018_cfgs(isp_width=64),
        lambdas=MBT2018_LADDER,
        summary="Cascaded structure (§3.1): LiteISPNet + mbt2018 at CompressAI's qualities 1-8.",
        # Joint fine-tuning of the cascade (§4.1): only the ISP-Net learns, the Comp-Net is
        # frozen; its two parts may start from separately trained weights.
        trainable="isp.",
        setup=ArchSetup(
            options=("isp_init", "comp_init"),
            apply="compressai_isp.training.arch_setup:set_up_cascade",
        ),
    )
)
