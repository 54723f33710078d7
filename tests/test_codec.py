"""RAW file -> .rbit -> sRGB with a reduced-width RBN: geometry, exactness, model identity.

Generated DNGs (compressai_isp.data.write_dng) cover all four Bayer patterns at odd sizes, so
no camera files are needed; a Canon CRW from ../shared covers a sensor with masked margins and
tests/test_demo.py the shipped CC0 Kodak sample.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressai_isp import zoo
from compressai_isp.codec.engine import (
    CodecModel,
    codec_model,
    decode_bitstream,
    encode_file,
    model_for_stream,
    orient,
)
from compressai_isp.codec.format import BitstreamError, pack, unpack, weights_fingerprint
from compressai_isp.data import read_raw, write_dng
from compressai_isp.models import crop_to, pad_to_multiple

TINY = dict(N=8, M=8, N_hyper=8, decoder_width=4)


def tiny_codec(seed: int = 0) -> CodecModel:
    torch.manual_seed(seed)
    return codec_model(zoo.rbn(1, **TINY), "rbn", 1, "mse", f"tiny seed {seed}")


@pytest.fixture(scope="module")
def codec() -> CodecModel:
    return tiny_codec()


def make_dng(path: Path, cfa: str, height: int, width: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    mosaic = rng.integers(64, 4000, (height, width)).astype(np.uint16)
    return write_dng(path, mosaic, cfa=cfa, black_level=64, white_level=4095)


@pytest.mark.parametrize(
    "cfa, height, width",
    [("RGGB", 37, 53), ("BGGR", 34, 41), ("GRBG", 41, 36), ("GBRG", 33, 35)],
)
def test_round_trip_gives_the_photo_size_and_the_models_own_reconstruction(
    tmp_path: Path, codec: CodecModel, cfa: str, height: int, width: int
) -> None:
    path = make_dng(tmp_path / f"{cfa}.dng", cfa, height, width)
    raw = read_raw(path)
    data = encode_file(path, codec)
    bs = unpack(data, "t.rbit")
    g = bs.header.geometry

    assert (g.raw_height, g.raw_width, g.cfa) == (height, width, cfa)
    assert (g.crop_top, g.crop_left, g.crop_height, g.crop_width) == raw.crop
    # Non-RGGB patterns start one row / column in, on the first red site.
    assert (g.crop_top, g.crop_left) == {
        "RGGB": (0, 0),
        "BGGR": (1, 1),
        "GRBG": (0, 1),
        "GBRG": (1, 0),
    }[cfa]
    factor = codec.model.downsampling_factor
    assert all(side % factor == 0 for side in g.packed_size)
    assert bs.header.fingerprint == codec.fingerprint

    srgb = decode_bitstream(bs, model_for_stream(bs.header, "t.rbit", codec), "t.rbit")
    assert srgb.shape == (3, g.crop_height, g.crop_width)
    assert 0 <= srgb.min() and srgb.max() <= 1
    # The decoder reproduces the model's eval-mode output on the padded input, cropped back.
    with torch.no_grad():
        expected = codec.model(pad_to_multiple(raw.packed[None], factor))["x_hat"]
    expected = crop_to(expected, (g.crop_height, g.crop_width))[0].clamp(0, 1)
    torch.testing.assert_close(srgb, expected, atol=1e-4, rtol=0)


def test_real_camera_with_masked_margins_codes_its_visible_area(shared_data, codec) -> None:
    # Canon PowerShot S40: 1728x2376 sensor, 1720x2312 visible (LibRaw margins 6 top, 12 left).
    path = shared_data / "raw" / "Canon__PowerShot_S40__CRW_0101.CRW"
    g = unpack(encode_file(path, codec)).header.geometry
    assert (g.raw_height, g.raw_width, g.cfa) == (1720, 2312, "RGGB")
    assert (g.crop_top, g.crop_left, g.crop_height, g.crop_width) == (0, 0, 1720, 2312)
    factor = codec.model.downsampling_factor
    assert g.packed_size == (-(-860 // factor) * factor, -(-1156 // factor) * factor)


def test_stream_made_by_other_weights_is_refused_naming_both(codec: CodecModel) -> None:
    other = tiny_codec(seed=1)
    bs = unpack(
        pack(
            arch="rbn",
            quality=1,
            metric="mse",
            fingerprint=other.fingerprint,
            geometry=_geometry(),
            latent_shape=(1, 1),
            strings=[[b"y"], [b"z"]],
        )  # fmt: skip
    )
    with pytest.raises(BitstreamError) as err:
        model_for_stream(bs.header, "p.rbit", codec)
    message = str(err.value)
    assert message.startswith(
        f"p.rbit: this stream needs weights {other.fingerprint.hex()} (rbn q1 mse)"
    )
    assert f"loaded weights are {codec.fingerprint.hex()}" in message


def test_unknown_architecture_is_named(codec: CodecModel) -> None:
    bs = unpack(
        pack(
            arch="nosuch-net",
            quality=3,
            metric="mse",
            fingerprint=bytes(16),
            geometry=_geometry(),
            latent_shape=(1, 1),
            strings=[[b"y"], [b"z"]],
        )  # fmt: skip
    )
    with pytest.raises(BitstreamError, match="unknown model architecture 'nosuch-net'"):
        model_for_stream(bs.header, "p.rbit")


def test_missing_zoo_weights_say_which_weights_are_needed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path))  # an empty zoo
    bs = unpack(
        pack(
            arch="rbn",
            quality=5,
            metric="mse",
            fingerprint=bytes(range(16)),
            geometry=_geometry(),
            latent_shape=(1, 1),
            strings=[[b"y"], [b"z"]],
        )  # fmt: skip
    )
    with pytest.raises(
        BitstreamError, match=r"needs weights 000102.* \(rbn q5 mse\), which the zoo"
    ):
        model_for_stream(bs.header, "p.rbit")


def test_latent_shape_that_contradicts_the_geometry_is_malformed(codec: CodecModel) -> None:
    bs = unpack(
        pack(
            arch="rbn",
            quality=1,
            metric="mse",
            fingerprint=codec.fingerprint,
            geometry=_geometry(),
            latent_shape=(3, 1),
            strings=[[b"y"], [b"z"]],
        )  # fmt: skip
    )
    with pytest.raises(BitstreamError, match="latent shape"):
        decode_bitstream(bs, codec, "p.rbit")


def test_orientation_codes_rotate_like_libraw() -> None:
    image = torch.arange(6.0).view(1, 2, 3)  # [[0 1 2], [3 4 5]]
    assert orient(image, 0) is image
    assert orient(image, 3).tolist() == [[[5, 4, 3], [2, 1, 0]]]
    assert orient(image, 6).tolist() == [[[3, 0], [4, 1], [5, 2]]]  # 90 degrees clockwise
    assert orient(image, 5).tolist() == [[[2, 5], [1, 4], [0, 3]]]  # 90 degrees counter-clockwise


def test_fingerprint_is_the_same_after_a_save_and_load(tmp_path, codec: CodecModel) -> None:
    torch.save({"arch": "rbn", "state_dict": codec.model.state_dict()}, tmp_path / "m.pth")
    state = torch.load(tmp_path / "m.pth", weights_only=True)["state_dict"]
    assert weights_fingerprint(state) == codec.fingerprint


def test_fingerprint_ignores_the_in_place_masking_of_the_context_convolution() -> None:
    # compressai's MaskedConv2d zeroes its masked taps on the first forward pass.
    fresh = tiny_codec(seed=3)
    with torch.no_grad():
        fresh.model(torch.rand(1, 4, 64, 64))
    assert weights_fingerprint(fresh.model) == fresh.fingerprint


def _geometry():
    from compressai_isp.codec.format import Geometry

    return Geometry(64, 64, "RGGB", 0, 0, 64, 64, pad_bottom=32, pad_right=32)


# ---- decoder-path fuzzing: damaged payloads behind a valid CRC never crash -----------------
# A handful of examples here (each runs the model); scripts/fuzz_codec.py runs thousands.


@pytest.fixture(scope="module")
def coded(tmp_path_factory, codec: CodecModel) -> bytes:
    path = make_dng(tmp_path_factory.mktemp("fuzz") / "f.dng", "RGGB", 34, 34)
    return encode_file(path, codec)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_crafted_payloads_through_the_decoder(coded: bytes, codec: CodecModel, data) -> None:
    bs = unpack(coded)
    start = bs.total_bytes - 4 - bs.header.payload_bytes
    buf = bytearray(coded)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(start, len(buf) - 5))
        buf[pos] = data.draw(st.integers(0, 255))
    body = bytes(buf[:-4])
    crafted = body + struct.pack("<I", zlib.crc32(body))  # a hostile writer fixes the CRC
    try:
        srgb = decode_bitstream(unpack(crafted, "f.rbit"), codec, "f.rbit")
    except BitstreamError as err:
        assert str(err).startswith("f.rbit: ") and "\n" not in str(err)
    else:
        assert srgb.shape == (3, 34, 34)


@pytest.mark.parametrize("encode_with, decode_with", [("bf16", "fp32"), ("fp32", "bf16")])
def test_files_coded_in_one_precision_decode_in_another(
    tmp_path: Path, encode_with: str, decode_with: str
) -> None:
    def tiny(precision: str) -> CodecModel:
        torch.manual_seed(0)
        return codec_model(zoo.rbn(1, **TINY), "rbn", 1, precision=precision, channels_last=True)

    encoder, decoder = tiny(encode_with), tiny(decode_with)
    # Precision is how the weights are run, not which weights: the stream's identity is unchanged.
    assert encoder.fingerprint == decoder.fingerprint == tiny_codec().fingerprint
    path = make_dng(tmp_path / "p.dng", "RGGB", 70, 90)
    bs = unpack(encode_file(path, encoder), "p.rbit")
    srgb = decode_bitstream(bs, model_for_stream(bs.header, "p.rbit", decoder), "p.rbit")
    assert srgb.shape == (3, 70, 90) and srgb.isfinite().all()
