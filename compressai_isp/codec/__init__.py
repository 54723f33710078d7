"""RAW photo -> ``.rbit`` bitstream file -> sRGB image, with RAWtoBit models (Jeong & Jung 2022).

:mod:`compressai_isp.codec.format` is the container; the ``encode`` / ``decode`` / ``info``
commands live in :mod:`compressai_isp.codec.cli` and ``compressai-isp demo`` in
:mod:`compressai_isp.codec.demo`.
"""

from compressai_isp.codec.format import (
    Bitstream,
    BitstreamError,
    Geometry,
    Header,
    pack,
    read_bitstream,
    unpack,
    weights_fingerprint,
)

__all__ = [
    "Bitstream",
    "BitstreamError",
    "Geometry",
    "Header",
    "pack",
    "read_bitstream",
    "unpack",
    "weights_fingerprint",
]
