"""The sRGB Comp-Net of the cascade (paper §3.1, Fig. 1(a)): mbt2018 on sRGB.

The paper's cascade codes an ISP-Net's sRGB with Minnen et al.'s joint autoregressive and
hierarchical prior model ("mbt2018", NeurIPS 2018), trained on sRGB images. :class:`CompNet` is
exactly that network, with CompressAI's mbt2018 module names and widths, so

* CompressAI's own pretrained ``mbt2018`` state dicts load into it unchanged, and a
  ``CompNet`` state dict loads into ``compressai.models.JointAutoregressiveHierarchicalPriors``;
* it codes its latent with this library's wavefront context coder
  (:mod:`compressai_isp.context`) and its eval-mode ``forward`` equals ``decompress``;
* the library's trainer can train it on the sRGB targets of any RAW data set
  (``python -m compressai_isp.train -m comp-net``), which is how the cascade gets its Comp-Net
  where CompressAI's pretrained weights cannot be downloaded.

.. code-block:: none

    sRGB [B,3,H,W] ─g_a: 4 x (conv5x5/2, GDN)─► y [B,M,H/16,W/16] ─► context + hyperprior
                   ◄─g_s: 4 x (IGDN, deconv5x5/2)── y_hat                (N = hyper width)
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from compressai_isp.models.base import ContextHyperprior
from compressai_isp.registry import ArchSpec, quality_ladder, register_architecture

__all__ = ["COMP_NET_SPEC", "CompNet", "MBT2018_LADDER", "mbt2018_cfgs"]


class CompNet(ContextHyperprior):
    """mbt2018 on sRGB: ``[B,3,H,W]`` -> bitstream -> ``[B,3,H,W]``; sides multiples of 64.

    Args:
        N: width of the transforms and of the hyperprior (CompressAI's ``N``, 192).
        M: latent channels (CompressAI's ``M``: 192 for qualities 1-4, 320 for 5-8).
    """

    input_kind: ClassVar[str] = "srgb"
    output_kind: ClassVar[str] = "srgb"
    in_channels: ClassVar[int] = 3

    def __init__(self, N: int = 192, M: int = 192) -> None:
        # ``None`` transforms: mbt2018's own g_a / g_s (stride 16).
        super().__init__(None, None, M=M, N_hyper=N, latent_stride=16)
        self._config = {"N": N, "M": M}

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        return {"N": state_dict["g_a.0.weight"].size(0), "M": state_dict["g_a.6.weight"].size(0)}


#: CompressAI's mbt2018 λ ladder, qualities 1-8 (the cascade's Comp-Net, §3.1).
MBT2018_LADDER = quality_ladder(0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)


def mbt2018_cfgs(**extra: int) -> dict[int, dict[str, int]]:
    """CompressAI's mbt2018 widths at each quality (M = 320 from quality 5 up), plus ``extra``."""
    return {q: {"N": 192, "M": 192 if q <= 4 else 320, **extra} for q in MBT2018_LADDER}


COMP_NET_SPEC = register_architecture(
    ArchSpec(
        name="comp-net",
        cls=CompNet,
        cfgs=mbt2018_cfgs(),
        lambdas=MBT2018_LADDER,
        summary="The cascade's sRGB Comp-Net (§3.1): mbt2018 on sRGB at CompressAI's "
        "qualities 1-8.",
    )
)
