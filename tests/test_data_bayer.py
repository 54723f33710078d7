"""Bayer packing: RGGB channel order for every CFA, exact inverses, CFA-consistent transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compressai_isp.data.bayer import (
    BAYER_PATTERNS,
    cfa_crop,
    dihedral,
    mosaic,
    normalize_cfa,
    pack_bayer,
    red_phase,
    site_channels,
    unpack_bayer,
)

LETTER_VALUE = {"R": 1.0, "G": 2.0, "B": 3.0}


def _labelled_mosaic(cfa: str, height: int, width: int) -> np.ndarray:
    """A mosaic whose every pixel holds the code of its own colour filter."""
    period = np.array([LETTER_VALUE[c] for c in cfa]).reshape(2, 2)
    return np.tile(period, (height // 2 + 1, width // 2 + 1))[:height, :width]


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_packed_channels_are_r_g_g_b_for_every_cfa(cfa):
    packed = pack_bayer(_labelled_mosaic(cfa, 10, 14), cfa)
    for channel, letter in enumerate("RGGB"):
        assert np.all(packed[channel] == LETTER_VALUE[letter])


@pytest.mark.parametrize(
    "cfa, expected",
    [
        ("RGGB", (0, 0, 10, 14)),
        ("GRBG", (0, 1, 10, 12)),
        ("GBRG", (1, 0, 8, 14)),
        ("BGGR", (1, 1, 8, 12)),
    ],
)
def test_crop_starts_on_red_and_keeps_even_sides(cfa, expected):
    assert cfa_crop(cfa, 10, 14) == expected


def test_g1_is_the_green_on_the_red_rows():
    m = np.arange(16.0).reshape(4, 4)  # GRBG: row 0 = G R G R, row 1 = B G B G
    packed = pack_bayer(m, "GRBG")
    assert packed[0, 0, 0] == m[0, 1]  # R
    assert packed[1, 0, 0] == m[0, 2]  # G on the red row
    assert packed[2, 0, 0] == m[1, 1]  # G on the blue row
    assert packed[3, 0, 0] == m[1, 2]  # B


@settings(max_examples=40, deadline=None)
@given(
    cfa=st.sampled_from(BAYER_PATTERNS),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    batch=st.integers(0, 2),
    use_torch=st.booleans(),
)
def test_unpack_is_the_exact_inverse_of_pack(cfa, h, w, batch, use_torch):
    shape = (batch, 4, h, w) if batch else (4, h, w)
    packed = np.random.default_rng(h * 7 + w).random(shape).astype(np.float32)
    if use_torch:
        packed = torch.from_numpy(packed)
    m = unpack_bayer(packed, cfa)
    top, left = cfa_crop(cfa, 4, 4)[:2]
    assert tuple(m.shape[-2:]) == (2 * h + top, 2 * w + left)
    back = pack_bayer(m, cfa)
    assert type(back) is type(packed)
    assert np.array_equal(np.asarray(back), np.asarray(packed))


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_unpack_produces_the_requested_pattern(cfa):
    labels = np.array([LETTER_VALUE[c] for c in "RGGB"]).reshape(4, 1, 1) * np.ones((4, 3, 3))
    m = unpack_bayer(labels, cfa)
    assert np.array_equal(m, _labelled_mosaic(cfa, *m.shape))


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_mosaic_samples_each_site_through_its_filter(cfa):
    rgb = np.stack([np.full((6, 8), LETTER_VALUE[c]) for c in "RGB"])
    assert np.array_equal(mosaic(rgb, cfa), _labelled_mosaic(cfa, 6, 8))
    assert np.array_equal(mosaic(torch.from_numpy(rgb), cfa).numpy(), _labelled_mosaic(cfa, 6, 8))


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_site_channels_match_packing(cfa):
    m = np.arange(4.0).reshape(2, 2)
    tiled = np.tile(m, (2, 2))
    packed = pack_bayer(tiled, cfa)[:, 0, 0]
    assert tuple(int(packed[c]) for c in range(4)) == tuple(
        int(np.where(np.array(site_channels(cfa)) == c)[0][0]) for c in range(4)
    )


@pytest.mark.parametrize("transform", range(8))
def test_transformed_window_starting_at_red_phase_is_rggb_again(transform):
    rggb = _labelled_mosaic("RGGB", 12, 12)
    dy, dx = red_phase(transform)
    window = dihedral(rggb[dy : dy + 8, dx : dx + 8], transform)
    assert np.array_equal(window, _labelled_mosaic("RGGB", 8, 8))


def test_dihedral_transforms_are_distinct_and_match_between_numpy_and_torch():
    x = np.arange(12.0).reshape(3, 4)
    outs = [dihedral(x, t) for t in range(8)]
    assert len({o.tobytes() + bytes(o.shape) for o in outs}) == 8
    for t in range(8):
        assert np.array_equal(dihedral(torch.from_numpy(x), t).numpy(), outs[t])


@pytest.mark.parametrize("bad", ["RGBG", "XTRANS", "", 3])
def test_unknown_pattern_names_are_refused(bad):
    with pytest.raises(ValueError, match="cfa must be one of"):
        normalize_cfa(bad)


def test_too_small_mosaic_is_refused():
    with pytest.raises(ValueError, match="too small"):
        cfa_crop("BGGR", 2, 2)
