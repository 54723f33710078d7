"""The input space in the codec: applied from the RAW's metadata, written in the header, enforced.

A reduced-width RBN with random weights is enough: what is checked is the plumbing (the encoder
codes ``RawImage.input(model.input_space)``, the header names that space, a model of the other
space is refused at both ends, version-1 streams still decode as paper-space), on the shipped
Canon S40 photo, whose as-shot white balance and camera matrix make the two spaces differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from compressai_isp import zoo
from compressai_isp.cli import main as cli_main
from compressai_isp.codec.engine import (
    CodecModel,
    codec_model,
    decode_bitstream,
    encode_packed,
    encode_raw,
    model_for_stream,
    raw_geometry,
)
from compressai_isp.codec.format import BitstreamError, pack_unchecked, unpack
from compressai_isp.data import read_raw
from compressai_isp.models import RBN, crop_to, pad_to_multiple

TINY = dict(N=8, M=8, N_hyper=8, decoder_width=4)
CANON = Path(__file__).resolve().parents[1] / "compressai_isp" / "assets" / "Canon_S40_CRW_0112.CRW"


def tiny_codec(input_space: str) -> CodecModel:
    torch.manual_seed(0)  # the same weights in both spaces
    model = zoo.rbn(1, **TINY, input_space=input_space)
    return codec_model(model, "rbn", 1, "mse", f"tiny {input_space}")


@pytest.fixture(scope="module")
def raw():
    return read_raw(CANON)


@pytest.fixture(scope="module")
def normalised() -> CodecModel:
    return tiny_codec("camera-normalised")


@pytest.fixture(scope="module")
def paper() -> CodecModel:
    return tiny_codec("paper")


@pytest.fixture(scope="module")
def normalised_stream(raw, normalised: CodecModel) -> bytes:
    return encode_raw(raw, normalised)


def test_a_camera_normalised_model_codes_the_normalised_raw(
    raw, normalised: CodecModel, normalised_stream: bytes
) -> None:
    bs = unpack(normalised_stream, "cn.rbit")
    assert bs.header.input_space == "camera-normalised"
    assert bs.header.describe()["input_space"] == "camera-normalised"
    srgb = decode_bitstream(bs, model_for_stream(bs.header, "cn.rbit", normalised), "cn.rbit")
    g = bs.header.geometry
    assert srgb.shape == (3, g.crop_height, g.crop_width) == (3, 1720, 2312)
    # The photo's own gains and matrix make the spaces differ, and the encoder used its own.
    x = raw.input("camera-normalised")
    assert (x - raw.packed).abs().max() > 0.05
    factor = normalised.model.downsampling_factor
    with torch.no_grad():
        expected = normalised.model(pad_to_multiple(x[None], factor))["x_hat"]
    expected = crop_to(expected, (g.crop_height, g.crop_width))[0].clamp(0, 1)
    torch.testing.assert_close(srgb, expected, atol=1e-4, rtol=0)


def test_a_paper_model_refuses_a_camera_normalised_stream(
    normalised_stream: bytes, normalised: CodecModel
) -> None:
    # The same weights rebuilt from their state dict alone come back in the paper space.
    same_weights = RBN.from_state_dict(normalised.model.state_dict())
    assert same_weights.input_space == "paper"
    paper = codec_model(same_weights, "rbn", 1, "mse", "bare state dict")
    assert paper.fingerprint == normalised.fingerprint
    bs = unpack(normalised_stream, "cn.rbit")
    message = r"cn.rbit: this stream was coded from 'camera-normalised' input; .* takes 'paper'"
    with pytest.raises(BitstreamError, match=message):
        model_for_stream(bs.header, "cn.rbit", paper)
    with pytest.raises(BitstreamError, match=message):
        decode_bitstream(bs, paper, "cn.rbit")


def test_a_paper_model_writes_paper_streams(raw, paper: CodecModel) -> None:
    assert unpack(encode_raw(raw, paper)).header.input_space == "paper"


def test_an_old_format_stream_still_decodes_as_paper_space(
    raw, paper: CodecModel, normalised: CodecModel
) -> None:
    current = unpack(encode_raw(raw, paper))
    h = current.header
    old_bytes = pack_unchecked(
        arch=h.arch, quality=h.quality, metric=h.metric, fingerprint=h.fingerprint,
        geometry=h.geometry, latent_shape=h.latent_shape, strings=current.strings, version=1,
    )  # fmt: skip
    old = unpack(old_bytes, "v1.rbit")
    assert (old.header.version, old.header.input_space) == (1, "paper")
    decoded = decode_bitstream(old, model_for_stream(old.header, "v1.rbit", paper), "v1.rbit")
    assert torch.equal(decoded, decode_bitstream(current, paper))
    # Version 1 means paper: a camera-normalised model does not decode it.
    with pytest.raises(BitstreamError, match="coded from 'paper' input"):
        decode_bitstream(old, normalised, "v1.rbit")


def test_the_encoder_refuses_a_tensor_in_another_space(raw, paper, normalised) -> None:
    geometry = raw_geometry(raw)
    with pytest.raises(
        ValueError, match=r"takes 'camera-normalised' input; got a packed RAW in 'paper'"
    ):
        encode_packed(raw.packed, geometry, normalised, input_space="paper")
    declared = encode_packed(
        raw.input("camera-normalised"), geometry, normalised, "camera-normalised"
    )
    assert declared == encode_raw(raw, normalised)
    # Without a declaration the tensor is taken to be in the model's space.
    assert encode_packed(raw.packed, geometry, paper) == encode_raw(raw, paper)
    with pytest.raises(ValueError, match=r"expected a packed RAW of shape \(4, 860, 1156\)"):
        encode_packed(raw.packed[:, :-2], geometry, paper)


def test_the_cli_writes_shows_and_enforces_the_input_space(
    tmp_path: Path, normalised: CodecModel, capsys
) -> None:
    model = normalised.model
    export = tmp_path / "model_best.pth"
    torch.save(
        {"arch": "rbn", "quality": 1, "config": model.config, "state_dict": model.state_dict()},
        export,
    )
    bare = tmp_path / "bare.pth"
    torch.save({"arch": "rbn", "quality": 1, "state_dict": model.state_dict()}, bare)
    stream, image = tmp_path / "s40.rbit", tmp_path / "s40.png"
    assert cli_main(["encode", str(CANON), "-o", str(stream), "--checkpoint", str(export)]) == 0
    capsys.readouterr()
    assert cli_main(["info", str(stream), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert (fields["format_version"], fields["input_space"]) == (2, "camera-normalised")
    # A checkpoint that does not record the space loads as paper: refused, exit status 1.
    assert cli_main(["decode", str(stream), "-o", str(image), "--checkpoint", str(bare)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "coded from 'camera-normalised' input" in err
    assert not image.exists()
    # --input-space names the space of such weights.
    named = ["--checkpoint", str(bare), "--input-space", "camera-normalised"]
    assert cli_main(["decode", str(stream), "-o", str(image), *named]) == 0
    assert image.is_file()
    capsys.readouterr()
    assert cli_main(["decode", str(stream), "--input-space", "paper"]) == 2
    assert "--input-space applies to --checkpoint weights" in capsys.readouterr().err
