"""Bounded decoding: what a ``.rbit`` stream may make the decoder do (compressai_isp.codec.limits).

Decompression bombs are real streams whose header is rewritten to declare a huge,
self-consistent photo, with the CRC recomputed as a hostile writer would: they must be refused
in well under a second, before any large allocation, with a message that says why.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import math
import time
from pathlib import Path

import numpy as np
import pytest
from test_codec import make_dng, tiny_codec

from compressai_isp.codec.engine import CodecModel, decode_bitstream, encode_file, zoo_model
from compressai_isp.codec.format import Bitstream, BitstreamError, pack_unchecked, unpack
from compressai_isp.codec.limits import (
    DEFAULT_MAX_PIXELS,
    DecodeLimits,
    check_decode_cost,
    estimate_decode_memory,
    min_hyperprior_bytes,
)
from compressai_isp.data import write_dng

# Never a machine-dependent default in these tests: the budget is always stated.
ROOMY = DecodeLimits(max_memory=1 << 40)


@pytest.fixture(scope="module")
def default_model() -> CodecModel:
    try:
        return zoo_model("rbn", 6)
    except LookupError:
        pytest.skip("the shipped rbn q6 weights are not in zoo/")


@pytest.fixture(scope="module")
def real_stream(tmp_path_factory, default_model: CodecModel) -> Bitstream:
    path = make_dng(tmp_path_factory.mktemp("limits") / "p.dng", "RGGB", 130, 130)
    return unpack(encode_file(path, default_model), "p.rbit")


def rewritten(bs: Bitstream, side: int, factor: int, strings=None) -> Bitstream:
    """``bs`` declaring a ``side`` x ``side`` photo (geometry and latent shape consistent,
    CRC recomputed), with its own or the given strings."""
    packed = side // 2
    pad = -packed % factor
    h = bs.header
    geometry = dataclasses.replace(
        h.geometry, raw_height=side, raw_width=side, crop_top=0, crop_left=0,
        crop_height=side, crop_width=side, pad_bottom=pad, pad_right=pad,
    )  # fmt: skip
    latent = ((packed + pad) // factor,) * 2
    data = pack_unchecked(
        arch=h.arch, quality=h.quality, metric=h.metric, fingerprint=h.fingerprint,
        geometry=geometry, latent_shape=latent, strings=strings or bs.strings,
        input_space=h.input_space,
    )  # fmt: skip
    return unpack(data, "bomb.rbit")


def refusal(bs: Bitstream, cm: CodecModel, limits: DecodeLimits | None) -> tuple[str, float]:
    start = time.perf_counter()
    with pytest.raises(BitstreamError) as err:
        decode_bitstream(bs, cm, "bomb.rbit", limits=limits)
    return str(err.value), time.perf_counter() - start


@pytest.mark.parametrize("side", [16384, 32768, 65534])
def test_a_small_stream_declaring_a_huge_photo_is_refused_at_once(
    real_stream: Bitstream, default_model: CodecModel, side: int
) -> None:
    bomb = rewritten(real_stream, side, default_model.model.downsampling_factor)
    assert bomb.total_bytes < 4096  # a few kilobytes

    message, seconds = refusal(bomb, default_model, None)
    assert message.startswith("bomb.rbit: refused: the header declares a ")
    assert f"{side}x{side} photo" in message and "limit of 200 MP" in message
    assert "--max-megapixels" in message and "\n" not in message
    assert seconds < 1.0

    # Past the pixel cap, the payload still cannot hold what the header declares.
    message, seconds = refusal(bomb, default_model, DecodeLimits(max_pixels=side * side))
    assert "whose hyper-latent needs at least" in message
    assert f"the stream has {len(bomb.strings[1][0])}" in message
    assert seconds < 1.0


def test_a_real_stream_of_the_default_model_decodes_with_the_default_limits(
    real_stream: Bitstream, default_model: CodecModel
) -> None:
    assert decode_bitstream(real_stream, default_model, "p.rbit").shape == (3, 130, 130)


@pytest.mark.parametrize("content", ["flat", "black", "noise"])
def test_real_hyperprior_strings_are_never_shorter_than_the_floor(
    tmp_path: Path, default_model: CodecModel, content: str
) -> None:
    side = 520
    mosaic = {
        "flat": np.full((side, side), 1000),
        "black": np.zeros((side, side)),
        "noise": np.random.default_rng(0).integers(0, 4095, (side, side)),
    }[content]
    photo = write_dng(tmp_path / "p.dng", mosaic.astype(np.uint16), white_level=4095)
    for cm in (default_model, tiny_codec()):
        bs = unpack(encode_file(photo, cm))
        floor = min_hyperprior_bytes(cm.model, math.prod(bs.header.latent_shape))
        assert 8 < floor <= len(bs.strings[1][0])
        if cm is default_model:  # trained weights: a real constraint, not a formality
            assert len(bs.strings[1][0]) < 10 * floor


def test_the_pixel_cap_is_the_documented_default_and_can_be_moved(real_stream, default_model):
    assert DecodeLimits().max_pixels == DEFAULT_MAX_PIXELS == 200_000_000
    pixels = 130 * 130
    with pytest.raises(BitstreamError, match=r"130x130 photo \(0\.0 MP\), over the decoder's"):
        decode_bitstream(real_stream, default_model, "p.rbit", limits=DecodeLimits(pixels - 1))
    limits = dataclasses.replace(ROOMY, max_pixels=pixels)
    assert decode_bitstream(real_stream, default_model, "p.rbit", limits=limits).shape[1] == 130


def test_a_decode_that_needs_more_memory_than_allowed_is_refused(real_stream, default_model):
    estimate = check_decode_cost(real_stream, default_model.model, "p.rbit", ROOMY)
    assert estimate == estimate_decode_memory(default_model.model, real_stream.header)
    with pytest.raises(BitstreamError, match=r"needs about 0\.\d GB of memory, more than the"):
        decode_bitstream(
            real_stream, default_model, "p.rbit", limits=DecodeLimits(max_memory=estimate - 1)
        )
    limits = DecodeLimits(max_memory=estimate)
    assert decode_bitstream(real_stream, default_model, "p.rbit", limits=limits).shape[1] == 130


def test_memory_estimate_follows_the_photo_size(real_stream, default_model) -> None:
    factor = default_model.model.downsampling_factor
    small, large = (
        estimate_decode_memory(default_model.model, rewritten(real_stream, side, factor).header)
        for side in (4096, 8192)
    )
    assert 3.5 < large / small < 4.5
    # The zoo model's synthesis peaks near 236 bytes per output pixel (measured); the estimate
    # must not fall below that, nor run away from it.
    assert 236 < small / 4096**2 < 400


def test_a_layout_the_model_never_writes_is_malformed(real_stream, default_model) -> None:
    (y,), (z,) = real_stream.strings
    for strings in ([[y, y], [z, z]], [[y], [z, z]], [[y], [z], [z]]):
        bs = rewritten(real_stream, 130, default_model.model.downsampling_factor, strings)
        with pytest.raises(BitstreamError, match="this model writes 2 groups"):
            decode_bitstream(bs, default_model, "p.rbit", limits=ROOMY)


def test_a_hyperprior_string_the_encoder_never_wrote_is_refused(real_stream, default_model):
    (y,), (z,) = real_stream.strings
    garbage = bytes(np.random.default_rng(1).integers(0, 256, len(z), dtype=np.uint8))
    bs = rewritten(real_stream, 130, default_model.model.downsampling_factor, [[y], [garbage]])
    with pytest.raises(BitstreamError, match="the hyper-latent string is damaged or was not"):
        decode_bitstream(bs, default_model, "p.rbit", limits=ROOMY)


def test_a_failed_symbol_checksum_does_not_only_blame_the_arithmetic(real_stream, default_model):
    (y,), (z,) = real_stream.strings
    wrong_symbols_crc = y[:4] + bytes(b ^ 0xFF for b in y[4:8]) + y[8:]
    bs = rewritten(
        real_stream, 130, default_model.model.downsampling_factor, [[wrong_symbols_crc], [z]]
    )
    message, _ = refusal(bs, default_model, ROOMY)
    assert "the latent string is damaged or crafted, or this decoder's arithmetic" in message


def test_running_out_of_memory_says_so_with_the_estimate(tmp_path: Path, monkeypatch) -> None:
    cm = tiny_codec()
    bs = unpack(encode_file(make_dng(tmp_path / "p.dng", "RGGB", 40, 40), cm))

    def allocation_fails(*_: object) -> None:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB")

    monkeypatch.setattr(cm.model, "decompress", allocation_fails)
    with pytest.raises(BitstreamError, match=r"^p.rbit: out of memory decoding the payload \(est"):
        decode_bitstream(bs, cm, "p.rbit", limits=ROOMY)


def test_a_hyperprior_that_decodes_to_values_no_encoder_writes_is_refused_at_once(
    tmp_path: Path,
) -> None:
    """Random bytes decode to hyper-latents of 2^27 and more, where re-coding them would loop
    forever inside CompressAI's encoder; the watchdog turns such a hang into a failure."""
    cm = tiny_codec()
    eb = cm.model.entropy_bottleneck
    z = bytes(np.random.default_rng(0).integers(0, 256, 12, dtype=np.uint8))
    assert eb.decompress([z + bytes(200)], [1, 1]).abs().max() >= 2**27
    base = unpack(encode_file(make_dng(tmp_path / "p.dng", "RGGB", 40, 40), cm))
    ((y,), _) = base.strings
    bs = rewritten(base, 40, cm.model.downsampling_factor, [[y], [z]])
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        message, seconds = refusal(bs, cm, ROOMY)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert "the hyper-latent string is damaged or was not written by" in message
    assert seconds < 1.0
