"""RBN with a mean-scale hyperprior: RAWtoBit's transforms, no autoregressive context.

.. code-block:: none

    packed RAW [B,4,H/2,W/2] ─g_a (RBN's)─► y [B,M,H/32,W/32] ─h_a─► z ─EB─► z_hat ─h_s─►
    (scales, means) ─GC─► y_hat ─g_s (RBNDecoder)─► sRGB [B,3,H,W]
"""

from __future__ import annotations

from typing import Any, ClassVar

from compressai.models import MeanScaleHyperprior
from torch import Tensor

from compressai_isp.models import RBNDecoder, check_input
from compressai_isp.models.rbn import strided_analysis
from compressai_isp.registry import register_model
from compressai_isp.zoo import cfgs, lambdas

__all__ = ["RBNMean", "rbn_mean"]


@register_model("rbn-mean")
class RBNMean(MeanScaleHyperprior):
    """RBN's encoder and decoder around CompressAI's mean-scale hyperprior."""

    input_kind: ClassVar[str] = "raw"
    output_kind: ClassVar[str] = "srgb"
    in_channels: ClassVar[int] = 4

    def __init__(
        self, N: int = 256, M: int = 192, N_hyper: int = 192, decoder_width: int = 64
    ) -> None:
        super().__init__(N=N_hyper, M=M)
        self.g_a = strided_analysis(4, N, M)
        self.g_s = RBNDecoder(M, decoder_width)
        self.config = {"N": N, "M": M, "N_hyper": N_hyper, "decoder_width": decoder_width}

    @property
    def downsampling_factor(self) -> int:
        return 16 * 4

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Tensor]) -> RBNMean:
        net = cls(
            N=state_dict["g_a.0.weight"].size(0),
            M=state_dict["g_a.6.weight"].size(0),
            N_hyper=state_dict["h_a.0.weight"].size(0),
            decoder_width=state_dict["g_s.up2.conv.weight"].size(0),
        )
        net.load_state_dict(state_dict)
        return net

    def forward(self, x: Tensor) -> dict[str, Any]:
        check_input(self, x)
        return super().forward(x)

    def compress(self, x: Tensor) -> dict[str, Any]:
        check_input(self, x)
        return super().compress(x)

    def decompress(self, strings: list, shape: Any) -> dict[str, Tensor]:
        out = super().decompress(strings, shape)
        return {"x_hat": out["x_hat"].clamp_(0, 1)}


def rbn_mean(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> RBNMean:
    """Builder with the zoo's signature; RBN's widths and λ ladder (no pretrained weights)."""
    if quality not in cfgs["rbn"]:
        raise ValueError(f"invalid quality {quality} for rbn-mean: should be 1..7")
    if pretrained:
        raise ValueError("rbn-mean has no pretrained weights; train it with compressai_isp.train")
    return RBNMean(**{**cfgs["rbn"][quality], **kwargs})


# Same ladder and widths as RBN, so the training CLI's --quality works for this arch too.
cfgs.setdefault("rbn-mean", cfgs["rbn"])
lambdas.setdefault("rbn-mean", lambdas["rbn"])
