"""RBN with a mean-scale hyperprior: RAWtoBit's transforms, no autoregressive context.

.. code-block:: none

    packed RAW [B,4,H/2,W/2] ─g_a (RBN's)─► y [B,M,H/32,W/32] ─h_a─► z ─EB─► z_hat ─h_s─►
    (scales, means) ─GC─► y_hat ─g_s (RBNDecoder)─► sRGB [B,3,H,W]

The architecture is declared by :data:`architecture`, an ``ArchSpec`` that the
``compressai_isp.models`` entry point names; compressai-isp registers it when its zoo is
imported, and this module changes nothing at import.
"""

from __future__ import annotations

from typing import Any, ClassVar

from compressai.models import MeanScaleHyperprior
from torch import Tensor

from compressai_isp.models import RBN_SPEC, RBNDecoder, check_input
from compressai_isp.models.base import Configurable, checked_input_space
from compressai_isp.models.rbn import rbn_widths, strided_analysis
from compressai_isp.precision import TransformPrecision
from compressai_isp.registry import ArchSpec

__all__ = ["RBNMean", "architecture"]


class RBNMean(Configurable, MeanScaleHyperprior):
    """RBN's encoder and decoder around CompressAI's mean-scale hyperprior.

    Args:
        N, M, N_hyper, decoder_width: RBN's widths (encoder, latent, hyperprior, decoder).
        input_space: what the packed RAW input is normalised for, ``"paper"`` or
            ``"camera-normalised"`` (see :class:`compressai_isp.models.base.Configurable`).
    """

    input_kind: ClassVar[str] = "raw"
    output_kind: ClassVar[str] = "srgb"
    in_channels: ClassVar[int] = 4
    #: Its transforms always run in float32: no ``transform_modules`` are declared, so
    #: ``set_transform_precision`` (``--precision``) leaves them, and the record says so.
    transform_precision: TransformPrecision = TransformPrecision()

    def __init__(
        self,
        N: int = 256,
        M: int = 192,
        N_hyper: int = 192,
        decoder_width: int = 64,
        input_space: str = "paper",
    ) -> None:
        input_space = checked_input_space(input_space)  # before allocating any weights
        super().__init__(N=N_hyper, M=M)
        self.g_a = strided_analysis(4, N, M)
        self.g_s = RBNDecoder(M, decoder_width)
        self.input_space = input_space
        self._config = {
            "N": N,
            "M": M,
            "N_hyper": N_hyper,
            "decoder_width": decoder_width,
            "input_space": input_space,
        }

    @property
    def downsampling_factor(self) -> int:
        return 16 * 4

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return rbn_widths(state_dict)

    def forward(self, x: Tensor) -> dict[str, Any]:
        check_input(self, x)
        return super().forward(x)

    def compress(self, x: Tensor) -> dict[str, Any]:
        check_input(self, x)
        return super().compress(x)

    def decompress(self, strings: list, shape: Any) -> dict[str, Tensor]:
        out = super().decompress(strings, shape)
        return {"x_hat": out["x_hat"].clamp_(0, 1)}


#: The plugin's declaration: RBN's widths and λ ladder, so ``--quality`` works as for RBN.
architecture = ArchSpec(
    name="rbn-mean",
    cls=RBNMean,
    cfgs=RBN_SPEC.cfgs,
    lambdas=RBN_SPEC.lambdas,
    summary="RBN with a mean-scale hyperprior (no autoregressive context): fully parallel "
    "decoding. RBN's widths and λ ladder, qualities 1-7.",
)
