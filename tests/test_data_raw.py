"""Reading RAW files: per-channel levels, RGGB packing by crop, pixel-aligned LibRaw targets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rawpy
import torch

from compressai_isp.data import (
    BAYER_PATTERNS,
    RawReadError,
    demo_raw_path,
    dng,
    load_pair,
    make_synthetic_dng,
    read_raw,
    render_srgb,
    sample_raw_path,
    unpack_bayer,
    write_dng,
)


def _square_scene(height: int = 60, width: int = 80) -> torch.Tensor:
    """Grey background with a bright rectangle whose edges sit on odd and even pixels."""
    scene = torch.full((3, height, width), 0.3)
    scene[:, 17:41, 23:53] = 0.9
    return scene


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_levels_are_normalised_per_channel(tmp_path, cfa):
    # Every pixel sits exactly halfway between its channel's black and the white level.
    blacks = [100, 120, 140, 160]
    white = 1100
    halfway = [(b + white) // 2 for b in blacks]
    packed = np.array(halfway, dtype=np.uint16).reshape(4, 1, 1) * np.ones((4, 12, 12), np.uint16)
    mosaic = unpack_bayer(packed, cfa)
    path = write_dng(tmp_path / "x.dng", mosaic, cfa, black_level=blacks, white_level=white)
    raw = read_raw(path)
    assert raw.cfa == cfa
    assert raw.black_level == tuple(float(b) for b in blacks)
    assert raw.white_level == (float(white),) * 4
    assert raw.camera_wb == (1.0, 1.0, 1.0, 1.0)  # AsShotNeutral (1, 1, 1)
    assert raw.packed.dtype == torch.float32
    assert tuple(raw.packed.shape) == (4, 12, 12)
    assert torch.allclose(raw.packed, torch.full_like(raw.packed, 0.5), atol=1e-3)


def test_values_outside_black_and_white_are_clipped(tmp_path):
    mosaic = np.tile(np.array([[10, 4000], [4000, 10]], np.uint16), (11, 11))
    raw = read_raw(write_dng(tmp_path / "c.dng", mosaic, black_level=64, white_level=3000 + 1095))
    assert raw.packed.min() == 0.0
    assert raw.packed[1].min() > 0.97  # G sites: (4000 - 64) / (4095 - 64)


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_raw_and_libraw_target_are_pixel_aligned_for_every_cfa(tmp_path, cfa):
    scene = _square_scene()
    path = make_synthetic_dng(tmp_path / f"{cfa}.dng", scene, cfa, noise=False)
    info = read_raw(path)
    raw, srgb = load_pair(path)
    top, left, h, w = info.crop
    assert (top, left) == {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}[cfa]
    assert tuple(srgb.shape) == (3, h, w) == (3, 2 * raw.shape[1], 2 * raw.shape[2])
    assert torch.equal(raw, info.packed)

    inside = scene[0, top : top + h, left : left + w] > 0.6
    # The target shows the rectangle exactly where the scene has it, no shift.
    lum = srgb.mean(0)
    assert torch.equal(lum > (lum.min() + lum.max()) / 2, inside)
    # Each packed channel samples its own site of the same crop: R at (2i, 2j), G1 at (2i, 2j+1)...
    for channel, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        plane = raw[channel]
        assert torch.equal(plane > (plane.min() + plane.max()) / 2, inside[dy::2, dx::2])


def test_target_renders_the_scene_colours_with_the_documented_recipe(tmp_path):
    scene = torch.zeros(3, 48, 48)
    scene[0, :, :16], scene[1, :, 16:32], scene[2, :, 32:] = 0.8, 0.8, 0.8  # red, green, blue bars
    srgb = render_srgb(make_synthetic_dng(tmp_path / "bars.dng", scene, noise=False), bits=16)
    means = [srgb[:, 8:40, x0 + 4 : x0 + 12].mean(dim=(1, 2)) for x0 in (0, 16, 32)]
    for expected_channel, mean in enumerate(means):
        # camera WB and colour matrix in the DNG undo the synthetic camera
        assert int(mean.argmax()) == expected_channel


def test_sixteen_bit_target_is_finer_than_eight_bit(tmp_path):
    path = make_synthetic_dng(tmp_path / "g.dng", 3, size=(32, 32))
    eight, sixteen = render_srgb(path, bits=8), render_srgb(path, bits=16)
    assert torch.allclose(eight, sixteen, atol=1.5 / 255)
    assert len(torch.unique(sixteen)) > len(torch.unique(eight))
    with pytest.raises(ValueError, match="bits"):
        render_srgb(path, bits=12)


def test_sample_raw_ships_with_the_package_and_reads():
    path = sample_raw_path()
    assert path.is_file()
    assert (path.parent / "LICENSE.md").read_text().count("CC0") >= 1
    raw, srgb = load_pair(path)
    info = read_raw(path)
    assert info.cfa == "GRBG" and info.raw_size == (512, 768) and info.crop == (0, 1, 512, 766)
    assert "DC50" in info.model
    assert tuple(raw.shape) == (4, 256, 383) and tuple(srgb.shape) == (3, 512, 766)
    assert 0.05 < float(raw.mean()) < 0.95 and 0.05 < float(srgb.mean()) < 0.95


def test_real_canon_crw_reads_with_its_black_level(shared_data):
    path = shared_data / "raw" / "Canon__PowerShot_S40__CRW_0101.CRW"
    info = read_raw(path)
    assert (info.make, info.model) == ("Canon", "Canon PowerShot S40")
    assert info.cfa == "RGGB" and info.crop == (0, 0, 1720, 2312)
    assert info.black_level == (32.0,) * 4 and info.white_level == (1023.0,) * 4
    with rawpy.imread(str(path)) as r:
        expected = (r.raw_image_visible[0, 0].astype(np.float32) - 32) / (1023 - 32)
    assert info.packed[0, 0, 0] == pytest.approx(max(float(expected), 0.0))


def test_non_square_pixel_camera_is_refused_naming_the_file(shared_data):
    path = shared_data / "raw" / "Kodak__DC120__DC120IMG__P003914.KDC"
    with pytest.raises(RawReadError, match="non-square") as err:
        read_raw(path)
    assert str(path) in str(err.value)


def test_missing_and_empty_files_name_the_file(tmp_path):
    with pytest.raises(RawReadError, match="no such file") as err:
        read_raw(tmp_path / "nope.dng")
    assert "nope.dng" in str(err.value)
    (tmp_path / "empty.nef").write_bytes(b"")
    with pytest.raises(RawReadError, match="empty"):
        load_pair(tmp_path / "empty.nef")
    with pytest.raises(RawReadError, match="not a regular file"):
        read_raw(tmp_path)


@pytest.mark.parametrize("cut", [100, 0.5, -1000])
def test_truncated_files_are_reported(tmp_path, cut):
    good = make_synthetic_dng(tmp_path / "good.dng", 1, size=(64, 64)).read_bytes()
    end = int(len(good) * cut) if isinstance(cut, float) else cut
    (tmp_path / "cut.dng").write_bytes(good[:end])
    with pytest.raises(RawReadError, match="cut.dng"):
        load_pair(tmp_path / "cut.dng")


def test_libraws_own_report_of_a_truncated_raw_is_part_of_the_one_line_error(tmp_path, capfd):
    """LibRaw prints "<file>: Unexpected end of file" to the C stderr: it joins our message."""
    data = sample_raw_path().read_bytes()
    cut = tmp_path / "cut.KDC"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RawReadError) as err:
        load_pair(cut)
    message = str(err.value)
    assert "\n" not in message and str(cut) in message
    assert message.endswith("[LibRaw: Unexpected end of file]")
    assert capfd.readouterr().err == ""


def test_libraws_corrupt_data_report_is_folded_into_the_error(tmp_path, capfd):
    data = bytearray(demo_raw_path().read_bytes())
    data[len(data) // 10 : len(data) // 10 + 64] = bytes(64)  # a hole in the sensor data
    bad = tmp_path / "hole.CRW"
    bad.write_bytes(bytes(data))
    with pytest.raises(RawReadError, match=r"\[LibRaw: data corrupted at \d+\]$") as err:
        read_raw(bad)
    assert "\n" not in str(err.value)
    assert capfd.readouterr().err == ""


def test_a_raw_libraw_complains_about_is_refused_even_if_it_decodes(tmp_path, monkeypatch):
    """LibRaw may carry on past damaged data: what it returns then is not the photo."""
    import compressai_isp.data.raw as raw_module

    real = raw_module._decode_file

    def decode_with_complaint(path, bits):
        entry = real(path, bits)
        os.write(2, f"{path}: data corrupted at 1234\nsomeone else's line\n".encode())
        return entry

    monkeypatch.setattr(raw_module, "_decode_file", decode_with_complaint)
    with pytest.raises(
        RawReadError, match=r"damaged sensor data.*\[LibRaw: data corrupted at 1234\]"
    ):
        read_raw(sample_raw_path())


def test_stderr_of_others_is_given_back(capfd):
    from compressai_isp.data._stderr import capture_stderr_fd

    with capture_stderr_fd() as printed:
        os.write(2, b"a C library line\n")
    assert printed.text == "a C library line\n"
    assert capfd.readouterr().err == ""
    printed.release(printed.text.splitlines())
    assert capfd.readouterr().err == "a C library line\n"


def test_non_raw_files_are_refused(tmp_path):
    (tmp_path / "photo.dng").write_bytes(os.urandom(4096))
    with pytest.raises(RawReadError, match="not a RAW format"):
        read_raw(tmp_path / "photo.dng")
    (tmp_path / "notes.txt").write_text("hello\n" * 500)
    with pytest.raises(RawReadError, match="notes.txt"):
        read_raw(tmp_path / "notes.txt")


def _dng_with_pattern(path: Path, pattern: np.ndarray) -> Path:
    tags = [
        dng._entry(33421, dng._SHORT, list(pattern.shape)),
        dng._entry(33422, dng._BYTE, pattern.reshape(-1).tolist()),
        dng._entry(50710, dng._BYTE, [0, 1, 2]),
        dng._entry(50711, dng._SHORT, [1]),
    ]
    data = np.full((36, 36), 500, np.uint16)
    return dng._write_raw_ifd(path, data, tags, 4095, dng.XYZ_TO_LINEAR_SRGB, [1, 1, 1], "x", "y")


def test_x_trans_sensor_is_refused(tmp_path):
    xtrans = np.array(
        [
            [1, 1, 0, 1, 1, 2],
            [1, 1, 2, 1, 1, 0],
            [2, 0, 1, 0, 2, 1],
            [1, 1, 2, 1, 1, 0],
            [1, 1, 0, 1, 1, 2],
            [0, 2, 1, 2, 0, 1],
        ]
    )
    path = _dng_with_pattern(tmp_path / "xtrans.dng", xtrans)
    with pytest.raises(RawReadError, match=r"xtrans.dng: .*6x6 colour-filter pattern"):
        read_raw(path)


def test_non_rgb_bayer_pattern_is_refused(tmp_path):
    path = _dng_with_pattern(tmp_path / "rggg.dng", np.array([[0, 1], [1, 1]]))
    with pytest.raises(RawReadError, match="'RGGG'.* not an RGB Bayer pattern"):
        render_srgb(path)


def test_linear_demosaiced_dng_is_refused(tmp_path):
    data = np.full((36, 36, 3), 500, np.uint16)
    path = dng._write_raw_ifd(
        tmp_path / "linear.dng", data, [], 4095, dng.XYZ_TO_LINEAR_SRGB, [1, 1, 1], "x", "y"
    )
    with pytest.raises(RawReadError, match=r"linear.dng: not a Bayer mosaic"):
        load_pair(path)


def test_target_brightness_does_not_depend_on_the_image_maximum(tmp_path):
    # LibRaw by default rescales to the image's own maximum when it is above 75 % of white.
    flat = np.full((32, 32), 3400, np.uint16)
    with_highlight = flat.copy()
    with_highlight[0, 0] = 4095
    a = render_srgb(write_dng(tmp_path / "a.dng", flat, white_level=4095), bits=16)
    b = render_srgb(write_dng(tmp_path / "b.dng", with_highlight, white_level=4095), bits=16)
    assert torch.allclose(a[:, 8:, 8:], b[:, 8:, 8:], atol=1e-4)


def _non_square_dng(path: Path) -> Path:
    tags = [
        dng._entry(33421, dng._SHORT, [2, 2]),
        dng._entry(33422, dng._BYTE, [0, 1, 1, 2]),
        dng._entry(50710, dng._BYTE, [0, 1, 2]),
        dng._entry(50711, dng._SHORT, [1]),
        dng._entry(50718, dng._RATIONAL, [1.5, 1.0]),  # DefaultScale: pixels 1.5x wide
    ]
    data = np.full((36, 40), 500, np.uint16)
    return dng._write_raw_ifd(path, data, tags, 4095, dng.XYZ_TO_LINEAR_SRGB, [1, 1, 1], "x", "y")


def test_non_square_pixels_are_refused(tmp_path):
    path = _non_square_dng(tmp_path / "wide.dng")
    with pytest.raises(RawReadError, match=r"wide.dng: non-square sensor pixels \(aspect 1.5000\)"):
        read_raw(path)


def test_render_of_another_size_than_the_sensor_is_refused(tmp_path, monkeypatch):
    # Last line of defence for layouts the metadata checks miss (e.g. rotated sensors).
    import compressai_isp.data.raw as raw_module

    monkeypatch.setattr(raw_module, "_check_geometry", lambda raw, path: None)
    path = _non_square_dng(tmp_path / "wide.dng")
    with pytest.raises(
        RawReadError, match=r"renders it at 36x60 but the visible sensor area is 36x40"
    ):
        load_pair(path)
