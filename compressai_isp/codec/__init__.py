"""RAW photo -> ``.rbit`` bitstream file -> sRGB image, with RAWtoBit models (Jeong & Jung 2022).

One pipeline: :mod:`compressai_isp.codec.geometry` derives where the pixels lie from the
``RawImage`` (and the padding a model needs), :mod:`compressai_isp.codec.pipeline` runs the model
stages (pad, compress, decompress, crop) that ``eval``, the anchors and ``compare`` share,
:mod:`compressai_isp.codec.format` is the container and :mod:`compressai_isp.codec.engine` puts
them together (encode, decode, orient). The ``encode`` / ``decode`` / ``info`` commands live in
:mod:`compressai_isp.codec.cli` and ``compressai-isp demo`` in :mod:`compressai_isp.codec.demo`.
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
