"""One RAW codec pipeline: geometry from the RawImage, padding and cropping, the shared stages.

``compressai-isp encode/decode``, ``eval``, the anchors and ``compare`` all run a model through
:mod:`compressai_isp.codec.pipeline`; these tests pin the geometry it derives and that every
path codes and reconstructs the same pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from compressai_isp import zoo
from compressai_isp.codec import pipeline
from compressai_isp.codec.engine import (
    codec_model,
    decode_bitstream,
    encode_raw,
    model_for_stream,
    orient,
    raw_geometry,
)
from compressai_isp.codec.format import ORIENTATIONS, Header, unpack
from compressai_isp.codec.geometry import Frame, Geometry, orientation_name
from compressai_isp.data import read_raw, write_dng
from compressai_isp.models import LiteISPNet
from compressai_isp.utils.anchors import render_isp
from compressai_isp.utils.eval_model import inference

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(N=8, M=8, N_hyper=8, decoder_width=4)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A GBRG mosaic whose packed sides (17 x 23) are no multiple of any model's factor."""
    rng = np.random.default_rng(3)
    mosaic = rng.integers(0, 4095, (35, 47)).astype(np.uint16)
    return write_dng(tmp_path_factory.mktemp("photo") / "odd.dng", mosaic, cfa="GBRG")


def test_frame_pads_to_the_multiple_and_crops_outputs_back_at_their_scale() -> None:
    x = torch.arange(4 * 5 * 7, dtype=torch.float32).reshape(1, 4, 5, 7)
    padded, frame = Frame.pad(x, 4)
    assert frame == Frame(5, 7, pad_bottom=3, pad_right=1) and padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., 7, :7], x[..., 4, :])  # replicate padding
    assert torch.equal(frame.crop(padded), x)  # same scale
    doubled = torch.zeros(1, 3, 16, 16)  # an sRGB output of packed RAW: twice the size
    assert frame.crop(doubled).shape[-2:] == (10, 14)
    assert Frame.pad(x, 1) == (x, Frame(5, 7))


def test_geometry_comes_from_the_raw_image_and_carries_the_frame(photo: Path) -> None:
    raw = read_raw(photo)
    g = Geometry.of_raw(raw)
    assert g == raw_geometry(raw)
    assert (g.crop_top, g.crop_left, g.crop_height, g.crop_width) == raw.crop
    assert (g.raw_height, g.raw_width, g.cfa) == (*raw.raw_size, raw.cfa)
    assert g.num_pixels == raw.crop[2] * raw.crop[3]
    assert g.frame == Frame(*raw.packed.shape[-2:])
    padded = g.with_frame(Frame(*raw.packed.shape[-2:], pad_bottom=3, pad_right=1))
    assert padded.packed_size == (raw.packed.shape[-2] + 3, raw.packed.shape[-1] + 1)
    assert padded.frame.crop(torch.zeros(1, 3, *(2 * s for s in padded.packed_size))).shape[
        -2:
    ] == (g.crop_height, g.crop_width)


@pytest.mark.parametrize("flip", [1, 2, 4, 7, 255])
def test_an_orientation_the_format_does_not_know_is_decoded_as_the_sensor_holds_it(
    photo: Path, flip: int
) -> None:
    raw = dataclasses.replace(read_raw(photo), orientation=flip)
    assert Geometry.of_raw(raw).orientation == 0


def test_one_orientation_table_for_the_container_info_and_orient() -> None:
    image = torch.arange(6.0).reshape(1, 2, 3)
    g = Geometry(4, 6, "RGGB", 0, 0, 4, 6)
    expected = {
        0: ("none", image),
        3: ("rotate 180", image.flip(-1).flip(-2)),
        5: ("rotate 90 CCW", image.transpose(-1, -2).flip(-2)),
        6: ("rotate 90 CW", image.transpose(-1, -2).flip(-1)),
    }
    assert ORIENTATIONS == tuple(expected)
    for flip, (name, oriented) in expected.items():
        assert orientation_name(flip) == name and torch.equal(orient(image, flip), oriented)
        header = Header("rbn", 1, "mse", bytes(16), dataclasses.replace(g, orientation=flip), (1,))
        described = header.describe()
        assert described["orientation"] == f"{flip} ({name})"
        assert described["output_size"].endswith("(rotated on decode)") == (flip in (5, 6))
    with pytest.raises(ValueError, match="orientation 1 is not one of"):
        dataclasses.replace(g, orientation=1).check()


def test_eval_and_the_codec_code_and_reconstruct_the_same_pixels(photo: Path) -> None:
    torch.manual_seed(0)
    cm = codec_model(zoo.rbn(1, **TINY), "rbn", 1, "mse", "tiny")
    raw = read_raw(photo)
    data = encode_raw(raw, cm)
    bs = unpack(data)
    decoded = decode_bitstream(bs, model_for_stream(bs.header, "odd", cm), apply_orientation=False)

    coded = pipeline.compress(cm.model, raw.packed[None])
    assert coded.strings == bs.strings and coded.latent_shape == bs.header.latent_shape
    assert coded.frame == bs.header.geometry.frame

    srgb = torch.rand(3, *decoded.shape[-2:])  # the target only scores; it is never coded
    metrics, x_hat = inference(cm.model, raw.packed, srgb)
    assert torch.equal(x_hat[0].clamp(0, 1), decoded)
    payload_bits = 8 * sum(len(s) for group in bs.strings for s in group)
    assert metrics["bpp"] == pytest.approx(payload_bits / bs.header.geometry.num_pixels)


def test_the_isp_render_of_anchors_and_compare_pads_and_crops_like_the_codec() -> None:
    torch.manual_seed(0)
    isp = LiteISPNet(width=4).eval()
    raw = torch.rand(4, 9, 13)
    rendered = render_isp(isp, raw)
    with torch.no_grad():
        padded, frame = Frame.pad(raw[None], isp.downsampling_factor)
        expected = frame.crop(isp(padded)["x_hat"])[0].clamp(0, 1)
    assert rendered.shape == (3, 18, 26) and torch.equal(rendered, expected)
    assert render_isp is pipeline.render_isp
