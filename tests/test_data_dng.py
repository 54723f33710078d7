"""The DNG writer makes real RAW files that LibRaw reads back exactly and renders."""

from __future__ import annotations

import numpy as np
import pytest
import rawpy

from compressai_isp.data import BAYER_PATTERNS, camera_make_model, make_synthetic_dng, write_dng

LIBRAW_TO_LETTER = "RGBG"


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_rawpy_reads_back_the_exact_mosaic_cfa_and_levels(tmp_path, cfa):
    rng = np.random.default_rng(1)
    mosaic = rng.integers(60, 4096, size=(23, 30)).astype(np.uint16)  # odd height on purpose
    path = write_dng(
        tmp_path / "x.dng", mosaic, cfa, black_level=[60, 61, 62, 63], white_level=4095
    )
    with rawpy.imread(str(path)) as raw:
        assert np.array_equal(raw.raw_image_visible, mosaic)
        sites = raw.raw_colors_visible[:2, :2].reshape(-1)
        assert "".join(LIBRAW_TO_LETTER[c] for c in sites) == cfa
        assert raw.white_level == 4095
        per_site_black = [raw.black_level_per_channel[c] for c in sites]
        # R=60, G1 (red row)=61, G2 (blue row)=62, B=63, stored per site of this CFA
        expected = {"R": 60, "B": 63}
        for (dy, dx), black in zip([(0, 0), (0, 1), (1, 0), (1, 1)], per_site_black, strict=True):
            letter = cfa[2 * dy + dx]
            if letter == "G":
                red_row = "R" in cfa[2 * dy : 2 * dy + 2]
                assert black == (61 if red_row else 62)
            else:
                assert black == expected[letter]
        assert raw.postprocess(user_flip=0).shape == (23, 30, 3)


def test_as_shot_neutral_becomes_the_camera_white_balance(tmp_path):
    mosaic = np.full((22, 22), 1000, dtype=np.uint16)
    path = write_dng(tmp_path / "wb.dng", mosaic, as_shot_neutral=(0.5, 1.0, 0.8))
    with rawpy.imread(str(path)) as raw:
        wb = raw.camera_whitebalance
        assert wb[0] / wb[1] == pytest.approx(2.0, rel=1e-4)
        assert wb[2] / wb[1] == pytest.approx(1.25, rel=1e-4)


def test_make_and_model_are_stored(tmp_path):
    path = write_dng(
        tmp_path / "m.dng",
        np.zeros((22, 22), np.uint16),
        make="NIKON CORPORATION",
        model="NIKON D700",
    )
    assert camera_make_model(path) == ("NIKON CORPORATION", "NIKON D700")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mosaic": np.zeros((22, 22), np.float32)}, "integer"),
        ({"mosaic": np.zeros((22,), np.uint16)}, "2-D"),
        ({"mosaic": np.zeros((21, 40), np.uint16)}, "LibRaw refuses"),
        ({"mosaic": np.full((22, 22), 5000, np.uint16)}, "outside"),
        ({"black_level": [1, 2]}, "black_level"),
        ({"cfa": "XTRANS"}, "cfa"),
        ({"color_matrix": np.eye(4)}, "color_matrix"),
    ],
)
def test_bad_arguments_are_refused_without_writing(tmp_path, kwargs, message):
    args = {"mosaic": np.zeros((22, 22), np.uint16), "white_level": 4095, **kwargs}
    with pytest.raises(ValueError, match=message):
        write_dng(tmp_path / "bad.dng", **args)
    assert list(tmp_path.iterdir()) == []


def test_synthetic_dng_is_deterministic_per_seed(tmp_path):
    a = make_synthetic_dng(tmp_path / "a.dng", 5, "GBRG", size=(32, 48))
    b = make_synthetic_dng(tmp_path / "b.dng", 5, "GBRG", size=(32, 48))
    c = make_synthetic_dng(tmp_path / "c.dng", 6, "GBRG", size=(32, 48))
    with rawpy.imread(str(a)) as ra, rawpy.imread(str(b)) as rb, rawpy.imread(str(c)) as rc:
        assert np.array_equal(ra.raw_image_visible, rb.raw_image_visible)
        assert not np.array_equal(ra.raw_image_visible, rc.raw_image_visible)
        assert ra.raw_image_visible.shape == (32, 48)
