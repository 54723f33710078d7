"""Every RAW -> sRGB compression architecture of the zoo goes through the .rbit codec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from compressai_isp import zoo
from compressai_isp.codec.engine import codec_model, decode_bitstream, encode_file, model_for_stream
from compressai_isp.codec.format import unpack
from compressai_isp.data import write_dng


@pytest.mark.parametrize(
    "arch, widths",
    [("unified-raw", dict(N=8, M=8)), ("cascaded", dict(N=8, M=8, isp_width=4))],
)
def test_other_raw_codecs_round_trip(tmp_path: Path, arch: str, widths: dict) -> None:
    mosaic = np.random.default_rng(0).integers(0, 4000, (37, 53)).astype(np.uint16)
    photo = write_dng(tmp_path / "p.dng", mosaic, cfa="BGGR", white_level=4095)
    torch.manual_seed(0)
    cm = codec_model(zoo.image_models[arch](2, **widths), arch, 2, "mse", "tiny")
    bs = unpack(encode_file(photo, cm))
    assert (bs.header.arch, bs.header.quality) == (arch, 2)
    srgb = decode_bitstream(bs, model_for_stream(bs.header, "p.rbit", cm))
    assert srgb.shape == (3, 36, 52)


@pytest.mark.parametrize("arch", ["raw-comp-teacher", "isp-teacher", "liteispnet"])
def test_models_that_do_not_map_raw_to_srgb_bits_are_refused(arch: str) -> None:
    model = zoo.image_models[arch](1, **({"width": 4} if arch == "liteispnet" else {"N": 8}))
    with pytest.raises(ValueError, match="RAW -> sRGB compression model|not a compression model"):
        codec_model(model, arch, 1, "mse", "tiny")
