"""The RAWtoBit model family (Jeong & Jung, ECCV Workshops 2022).

Importing this package registers every architecture in :data:`compressai_isp.registry.MODELS`
and in CompressAI's own ``compressai.registry.MODELS``.
"""

from compressai_isp.models.base import (
    ContextHyperprior,
    check_input,
    crop_to,
    pad_to_multiple,
    require_compression,
)
from compressai_isp.models.cascaded import Cascaded
from compressai_isp.models.comp_net import CompNet
from compressai_isp.models.liteispnet import LiteISPNet
from compressai_isp.models.rbn import RBN, RBNDecoder
from compressai_isp.models.teachers import ISPTeacher, RawCompTeacher
from compressai_isp.models.unified import UnifiedRaw

__all__ = [
    "ContextHyperprior",
    "RBN",
    "RBNDecoder",
    "UnifiedRaw",
    "RawCompTeacher",
    "ISPTeacher",
    "LiteISPNet",
    "CompNet",
    "Cascaded",
    "check_input",
    "require_compression",
    "pad_to_multiple",
    "crop_to",
]
