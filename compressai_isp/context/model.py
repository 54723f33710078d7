"""Hyperprior + context compress/decompress around the wavefront latent coder.

One implementation of mbt2018's ``compress`` / ``decompress`` for every model with its
structure (``h_a``, ``h_s``, ``entropy_bottleneck``, ``context_prediction``,
``entropy_parameters``, ``gaussian_conditional``; ``g_a`` / ``g_s`` for the image-level
functions): this library's models call it, and :func:`fast_context` plugs it into any
CompressAI model, ``compressai.zoo.mbt2018`` included. Strings and shapes follow CompressAI:
``{"strings": [y_strings, z_strings], "shape": z_hat.shape[-2:]}``.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import Tensor, nn

from compressai_isp.context.coder import compress_latent, decompress_latent
from compressai_isp.context.plan import check_context_model

__all__ = [
    "context_compress",
    "context_compress_latent",
    "context_decompress",
    "context_decompress_latent",
    "fast_context",
]

_HYPER = ("h_a", "h_s", "entropy_bottleneck")


@torch.no_grad()
def context_compress_latent(model: nn.Module, y: Tensor) -> dict[str, Any]:
    """Code the latent ``y`` (``g_a``'s output): hyperprior ``z`` first, then ``y`` in context."""
    check_context_model(model, _HYPER)
    z = model.h_a(y)
    z_strings = model.entropy_bottleneck.compress(z)
    z_hat = model.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
    params = model.h_s(z_hat)
    if params.shape[-2:] != y.shape[-2:]:
        raise ValueError(
            f"latent {tuple(y.shape[-2:])} does not match h_s's output {tuple(params.shape[-2:])}:"
            " pad the input to a multiple of the model's downsampling factor"
        )
    return {"strings": [compress_latent(model, y, params), z_strings], "shape": z.size()[-2:]}


@torch.no_grad()
def context_decompress_latent(model: nn.Module, strings: list[list[bytes]], shape: Any) -> Tensor:
    """``y_hat`` from :func:`context_compress_latent`'s ``strings`` and ``shape``."""
    check_context_model(model, _HYPER)
    if not isinstance(strings, list | tuple) or len(strings) != 2:
        raise ValueError("strings must be [y_strings, z_strings] as returned by compress")
    y_strings, z_strings = strings
    if not isinstance(z_strings, list | tuple) or len(y_strings) != len(z_strings):
        raise ValueError(
            f"strings hold {len(y_strings)} latent and "
            f"{len(z_strings) if isinstance(z_strings, list | tuple) else '?'} hyperprior strings"
        )
    shape = tuple(int(v) for v in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be the hyperprior's (height, width); got {shape}")
    z_hat = model.entropy_bottleneck.decompress(list(z_strings), shape)
    params = model.h_s(z_hat)
    return decompress_latent(model, list(y_strings), params)


@torch.no_grad()
def context_compress(model: nn.Module, x: Tensor) -> dict[str, Any]:
    """``model.compress(x)`` of mbt2018 with the wavefront coder: ``g_a`` then the latent coder."""
    check_context_model(model, ("g_a", *_HYPER))
    return context_compress_latent(model, model.g_a(x))


@torch.no_grad()
def context_decompress(
    model: nn.Module, strings: list[list[bytes]], shape: Any
) -> dict[str, Tensor]:
    """``model.decompress(strings, shape)`` of mbt2018: ``{"x_hat": g_s(y_hat).clamp(0, 1)}``."""
    check_context_model(model, ("g_s", *_HYPER))
    y_hat = context_decompress_latent(model, strings, shape)
    return {"x_hat": model.g_s(y_hat).clamp_(0, 1)}


def fast_context(net: nn.Module) -> nn.Module:
    """Make ``net`` (mbt2018-structured) compress/decompress with the wavefront coder; returns it.

    Binds :func:`context_compress` / :func:`context_decompress` as ``net.compress`` /
    ``net.decompress`` on this instance only. Its streams are not CompressAI's sequential
    ones (another coding order, plus checksums): decode them with a ``fast_context`` model.
    """
    check_context_model(net, ("g_a", "g_s", *_HYPER))
    from compressai_isp.context.schedule import causal_taps

    causal_taps(net.context_prediction)  # fail now, not at the first compress
    net.compress = types.MethodType(context_compress, net)
    net.decompress = types.MethodType(context_decompress, net)
    return net
