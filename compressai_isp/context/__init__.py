"""Wavefront-parallel masked-convolution context coding for mbt2018-style models.

:func:`compress_latent` / :func:`decompress_latent` code a latent with its context model in
``a * (h - 1) + w`` parallel steps instead of CompressAI's ``h * w`` sequential ones;
:func:`quantize_latent` gives the same quantised latent without coding; :func:`fast_context`
makes any mbt2018-structured CompressAI model (``compressai.zoo.mbt2018`` included) use them.
"""

from compressai_isp.context.coder import (
    ContextMismatchError,
    StreamError,
    compress_latent,
    decompress_latent,
    quantize_latent,
)
from compressai_isp.context.model import (
    context_compress,
    context_compress_latent,
    context_decompress,
    context_decompress_latent,
    fast_context,
)
from compressai_isp.context.schedule import causal_taps, make_schedule, wavefront_slope

__all__ = [
    "ContextMismatchError",
    "StreamError",
    "causal_taps",
    "compress_latent",
    "context_compress",
    "context_compress_latent",
    "context_decompress",
    "context_decompress_latent",
    "decompress_latent",
    "fast_context",
    "make_schedule",
    "quantize_latent",
    "wavefront_slope",
]
