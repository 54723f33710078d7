"""What a ``.rbit`` stream may cost its decoder, checked before any large allocation.

A header is a promise of work: its geometry fixes how many symbols the entropy decoder will
produce and how large the synthesis transform's activations get, and a 700-byte crafted file
with a valid CRC can promise a 16384x16384 photo (11 s and 2.5 GB before this module existed).
:func:`check_decode_cost` runs after the header checks and before the model touches the
payload, and refuses, in one line naming the file:

1. a string layout this model never writes (it writes two groups, latent ``y`` and
   hyper-latent ``z``, of one string each: one photo per file);
2. a photo over :attr:`DecodeLimits.max_pixels` (:data:`DEFAULT_MAX_PIXELS`, 200 MP);
3. a hyper-latent string shorter than any rANS string of that many symbols can be
   (:func:`min_hyperprior_bytes`): the bound that ties the geometry to the payload's length;
4. a decode whose estimated memory (:func:`estimate_decode_memory`) exceeds
   :attr:`DecodeLimits.max_memory` (default: the memory the system reports available).

The latent ``y`` string cannot bound the geometry the way ``z`` does: the narrowest Gaussian of
CompressAI's scale table codes a symbol in 6.6e-5 bits, so a few hundred bytes may honestly
hold a flat 16384x16384 latent. Its cost is bounded by the pixel cap and the memory estimate.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.func import functional_call

from compressai_isp.codec.format import Bitstream, BitstreamError, Header

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DecodeLimits",
    "available_memory",
    "check_decode_cost",
    "estimate_decode_memory",
    "min_hyperprior_bytes",
]

#: Largest photo (coded pixels, crop height x width) decoded unless the caller allows more:
#: above any sensor shipping today (150 MP) and about 47 GB of decoder memory for the zoo's RBN.
DEFAULT_MAX_PIXELS = 200_000_000

# CompressAI's rANS coder (Rans64, 16-bit frequencies): the state starts at 2^31, stays below
# 2^63, is flushed as 8 bytes, and before each symbol of frequency f it is at least 2^15 * f,
# so coding the symbol multiplies it by at least (2^16 / f) * (1 - 2^-15); renormalising loses
# at most as much again. The slack below covers both losses per symbol, with margin.
_RANS_PRECISION = 16
_RANS_FLUSH_BYTES = 8
_RANS_STATE_SLACK_BITS = 32
_RANS_SLACK_BITS_PER_SYMBOL = 1e-4
# Latent coder working set per latent position, in floats per latent channel: h_s's output,
# its layout-ordered copies, the decode buffer, y_hat and the index tables (13.5 measured for
# the zoo's rbn q6 decoding a 16384^2 header; rounded up).
_LATENT_FLOATS_PER_CHANNEL = 16
# Synthesis peak over the largest layer's input + output: residual blocks hold their input
# across the block and convolution backends take workspace (1.85 measured for rbn q6 at 4 MP,
# a little more on small photos, where fixed buffers weigh more).
_SYNTHESIS_HEADROOM = 2.2


@dataclass(frozen=True)
class DecodeLimits:
    """How much a stream may make the decoder do.

    Attributes:
        max_pixels: largest coded photo (crop height x width) decoded.
        max_memory: bytes the decode may take by :func:`estimate_decode_memory`; ``None``: the
            memory the system reports available when decoding starts (:func:`available_memory`).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory: int | None = None


def available_memory(device: torch.device | None = None) -> int | None:
    """Bytes a decode can still take: free memory on a CUDA ``device``; on the CPU Linux's
    ``MemAvailable``, capped by the cgroup's limit. ``None`` when the system does not say."""
    if device is not None and device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            found.append(max(int(limit) - int(used), 0))
    except (OSError, ValueError):
        pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError):
            pass
    return min(found) if found else None


def _min_bits_per_symbol(quantized_cdf: Tensor, cdf_length: Tensor) -> Tensor:
    """Per CDF table: the fewest bits rANS can spend on one of its symbols (its likeliest one)."""
    cdf = quantized_cdf.to(torch.int64)
    steps = cdf[:, 1:] - cdf[:, :-1]
    inside = torch.arange(steps.shape[1])[None] < (cdf_length.to(torch.int64)[:, None] - 1)
    likeliest = torch.where(inside, steps, 0).amax(dim=1).clamp(min=1).to(torch.float64)
    bits = _RANS_PRECISION - torch.log2(likeliest) - _RANS_SLACK_BITS_PER_SYMBOL
    return bits.clamp(min=0)


def min_hyperprior_bytes(model: nn.Module, positions: int) -> int:
    """Fewest bytes a hyper-latent string of ``positions`` spatial positions can have.

    The entropy bottleneck codes each position's channels with its own learned CDFs, so a
    string can be no shorter than the rANS coder needs for every channel's likeliest symbol at
    every position (the zoo's rbn q6: 68 bits per position, 139 KB for a 16384x16384 photo).
    """
    eb = model.entropy_bottleneck
    per_position = float(_min_bits_per_symbol(eb._quantized_cdf, eb._cdf_length).sum())
    payload_bits = per_position * positions - _RANS_STATE_SLACK_BITS
    return _RANS_FLUSH_BYTES + max(0, math.floor(payload_bits / 8))


def _peak_leaf_bytes(module: nn.Module, x: Tensor) -> tuple[int, Tensor]:
    """Largest input + output bytes of any leaf layer of ``module(x)``, and its output, computed
    on the meta device (shapes only: nothing is allocated, the weights are not touched)."""
    peak = 0

    def record(_: nn.Module, inputs: tuple, output: object) -> None:
        nonlocal peak
        tensors = [t for t in (*inputs, output) if isinstance(t, Tensor)]
        peak = max(peak, sum(t.numel() * t.element_size() for t in tensors))

    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    hooks = [leaf.register_forward_hook(record) for leaf in leaves]
    state = {
        name: torch.empty_like(t, device="meta")
        for name, t in (*module.named_parameters(), *module.named_buffers())
    }
    try:
        with torch.no_grad():
            out = functional_call(module, state, (x.to("meta"),))
    finally:
        for hook in hooks:
            hook.remove()
    return peak, out


def estimate_decode_memory(model: nn.Module, header: Header) -> int:
    """Bytes that decoding ``header``'s stream with ``model`` takes at its peak (an estimate).

    The hyper-synthesis ``h_s`` and the synthesis ``g_s`` run on shape-only tensors to find
    their largest layer; the latent coder's working set grows with latent positions x channels.
    Against the zoo's rbn q6 decoding 0.26 to 4.2 MP photos it ran 3 to 30 % above the
    measured growth of resident memory (README, codec section).
    """
    n_hyper = model.entropy_bottleneck.channels
    z = torch.empty(1, n_hyper, *header.latent_shape[-2:], device="meta")
    hyper_peak, params = _peak_leaf_bytes(model.h_s, z)
    m = params.shape[1] // 2  # h_s gives 2 parameters per latent channel (mbt2018 and mean-scale)
    y = torch.empty(1, m, *params.shape[-2:], device="meta")
    synthesis_peak, _ = _peak_leaf_bytes(model.g_s, y)
    latent = y.numel() * _LATENT_FLOATS_PER_CHANNEL * 4
    return latent + max(hyper_peak, int(_SYNTHESIS_HEADROOM * synthesis_peak))


def _check_layout(bs: Bitstream, source: str) -> None:
    counts = [len(group) for group in bs.strings]
    if counts != [1, 1]:
        raise BitstreamError(
            f"{source}: malformed stream: string groups {counts}; this model writes 2 groups "
            "(latent, hyper-latent) of 1 string each"
        )


def check_decode_cost(
    bs: Bitstream, model: nn.Module, source: str, limits: DecodeLimits | None = None
) -> int:
    """Refuse ``bs`` when decoding it would exceed ``limits`` or its payload cannot hold what
    its header declares (see the module docstring); return the memory estimate in bytes.

    ``bs``'s latent shape must already match its geometry and ``model``.
    """
    limits = limits or DecodeLimits()
    g = bs.header.geometry
    size = f"{g.crop_height}x{g.crop_width} photo"
    _check_layout(bs, source)
    pixels = g.crop_height * g.crop_width
    if pixels > limits.max_pixels:
        raise BitstreamError(
            f"{source}: refused: the header declares a {size} ({pixels / 1e6:.1f} MP), over "
            f"the decoder's limit of {limits.max_pixels / 1e6:g} MP (raise it with "
            "--max-megapixels, or DecodeLimits(max_pixels=...) from Python)"
        )
    positions = math.prod(bs.header.latent_shape[-2:])
    floor = min_hyperprior_bytes(model, positions)
    if len(bs.strings[1][0]) < floor:
        raise BitstreamError(
            f"{source}: malformed stream: the header declares a {size}, whose hyper-latent "
            f"needs at least {floor} bytes with these weights; the stream has "
            f"{len(bs.strings[1][0])}"
        )
    estimate = estimate_decode_memory(model, bs.header)
    device = next(model.parameters()).device
    budget = limits.max_memory if limits.max_memory is not None else available_memory(device)
    if budget is not None and estimate > budget:
        raise BitstreamError(
            f"{source}: refused: decoding this {size} needs about {estimate / 1e9:.1f} GB of "
            f"memory, more than the {budget / 1e9:.1f} GB available (raise the limit with "
            "--max-memory GB, or DecodeLimits(max_memory=...) from Python)"
        )
    return estimate
