"""The RAWtoBit model family (Jeong & Jung, ECCV Workshops 2022).

Each architecture is declared once, next to its class, by an
:class:`~compressai_isp.registry.ArchSpec` (``RBN_SPEC``, ...): importing this package
registers every one in :data:`compressai_isp.registry.ARCHITECTURES` (and its class in
CompressAI's own ``compressai.registry.MODELS``).
"""

from compressai_isp.models.base import (
    ContextHyperprior,
    check_input,
    crop_to,
    pad_to_multiple,
    require_compression,
)
from compressai_isp.models.cascaded import CASCADED_SPEC, Cascaded
from compressai_isp.models.comp_net import COMP_NET_SPEC, CompNet
from compressai_isp.models.liteispnet import LITEISPNET_SPEC, LiteISPNet
from compressai_isp.models.rbn import RBN, RBN_SPEC, RBNDecoder
from compressai_isp.models.teachers import (
    ISP_TEACHER_SPEC,
    RAW_COMP_TEACHER_SPEC,
    ISPTeacher,
    RawCompTeacher,
)
from compressai_isp.models.unified import UNIFIED_RAW_SPEC, UnifiedRaw

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
    "RBN_SPEC",
    "UNIFIED_RAW_SPEC",
    "RAW_COMP_TEACHER_SPEC",
    "ISP_TEACHER_SPEC",
    "LITEISPNET_SPEC",
    "CASCADED_SPEC",
    "COMP_NET_SPEC",
]
