"""Synthetic RAW: an inverted, seeded camera pipeline producing packed RGGB data of any CFA."""

from __future__ import annotations

import math

import pytest
import torch

from compressai_isp.data import BAYER_PATTERNS, SyntheticRaw, cfa_crop, pack_bayer, synthesize_raw
from compressai_isp.data.classical_isp import inverse_libraw_gamma, libraw_gamma
from compressai_isp.data.dng import libraw_render
from compressai_isp.data.synthetic import optical_low_pass, random_scene, synthesize_mosaic


def test_same_seed_same_raw_other_seed_other_raw():
    srgb = random_scene(32, 48, seed=1)
    a, b = synthesize_raw(srgb, seed=3), synthesize_raw(srgb, seed=3)
    c = synthesize_raw(srgb, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_packed_shape_follows_the_bayer_crop(cfa):
    packed = synthesize_raw(random_scene(20, 30), cfa=cfa)
    _, _, h, w = cfa_crop(cfa, 20, 30)
    assert tuple(packed.shape) == (4, h // 2, w // 2)
    assert packed.dtype == torch.float32
    assert 0.0 <= float(packed.min()) and float(packed.max()) <= 1.0


def test_rggb_keeps_the_full_half_resolution():
    assert tuple(synthesize_raw(torch.rand(3, 16, 24)).shape) == (4, 8, 12)


def test_grey_stays_neutral_in_camera_space_up_to_the_white_balance():
    grey = torch.full((3, 8, 8), 0.5)
    syn = synthesize_mosaic(grey, "RGGB", wb_gains=(2.0, 1.0, 1.6), exposure_gain=1.25, noise=False)
    r, g1, g2, b = pack_bayer(syn.mosaic).mean(dim=(1, 2)).tolist()
    linear = ((0.5 + 0.055) / 1.055) ** 2.4  # smoothstep^-1(0.5) = 0.5, then sRGB^-1
    assert g1 == pytest.approx(linear / 1.25, rel=1e-4)
    assert g2 == pytest.approx(g1)
    assert r == pytest.approx(g1 / 2.0, rel=1e-4)
    assert b == pytest.approx(g1 / 1.6, rel=1e-4)


def test_drawn_white_balance_is_in_the_documented_ranges():
    for seed in range(20):
        syn = synthesize_mosaic(torch.rand(3, 4, 4), seed=seed, noise=False)
        red, green, blue = syn.wb_gains
        assert 1.9 <= red <= 2.4 and green == 1.0 and 1.5 <= blue <= 1.9


def test_noise_variance_is_shot_plus_read():
    flat = torch.full((3, 128, 128), 0.6)
    clean = synthesize_mosaic(flat, seed=7, noise=False).mosaic
    noisy = synthesize_mosaic(flat, seed=7, noise=True)
    expected = noisy.read_noise + noisy.shot_noise * clean
    measured = (noisy.mosaic - clean).var()
    assert float(measured) == pytest.approx(float(expected.mean()), rel=0.15)
    assert math.log(1e-4) <= math.log(noisy.shot_noise) <= math.log(1.2e-2)


def test_return_mosaic_gives_the_full_capture():
    srgb = random_scene(16, 16)
    syn = synthesize_raw(srgb, cfa="GBRG", seed=2, return_mosaic=True)
    assert isinstance(syn, SyntheticRaw)
    assert tuple(syn.mosaic.shape) == (16, 16) and syn.cfa == "GBRG"
    assert torch.equal(syn.packed, synthesize_raw(srgb, cfa="GBRG", seed=2))


def test_uint8_input_is_accepted_and_bad_shapes_refused():
    img = (random_scene(8, 8) * 255).round().to(torch.uint8)
    assert torch.allclose(
        synthesize_raw(img, noise=False), synthesize_raw(img.float() / 255, noise=False)
    )
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        synthesize_raw(torch.rand(8, 8))


def test_libraw_inverse_undoes_libraws_curve_and_nothing_else():
    grey = torch.full((3, 8, 8), 0.5)
    syn = synthesize_mosaic(grey, "RGGB", wb_gains=(2.0, 1.0, 1.6), noise=False, isp="libraw")
    r, g1, g2, b = pack_bayer(syn.mosaic).mean(dim=(1, 2)).tolist()
    assert syn.exposure_gain == 1.0  # LibRaw's recipe applies no exposure gain to undo
    assert libraw_gamma(torch.tensor(g1)).item() == pytest.approx(0.5, abs=1e-5)
    assert r == pytest.approx(g1 / 2.0, rel=1e-4) and b == pytest.approx(g1 / 1.6, rel=1e-4)


def test_inverse_libraw_gamma_is_the_inverse_on_the_whole_range():
    encoded = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(libraw_gamma(inverse_libraw_gamma(encoded)), encoded, atol=1e-9)


def test_both_isps_draw_the_same_gains_and_noise_from_a_seed():
    srgb = random_scene(16, 16, seed=3)
    a = synthesize_mosaic(srgb, seed=5, isp="unprocessing")
    b = synthesize_mosaic(srgb, seed=5, isp="libraw")
    assert a.wb_gains == b.wb_gains and a.shot_noise == b.shot_noise
    assert a.exposure_gain > 0 and b.exposure_gain == 1.0


def test_an_unknown_isp_is_refused_by_name():
    with pytest.raises(ValueError, match="isp must be one of unprocessing, libraw; got 'dcraw'"):
        synthesize_mosaic(torch.rand(3, 4, 4), isp="dcraw")


def test_libraw_renders_a_libraw_inverted_scene_back_to_its_source():
    """Flat colour patches (no demosaicing error): the one-ISP synthetic RAW renders back to its
    source to within the 8-bit grid, i.e. synthetic targets and real targets share one ISP."""
    patches = torch.tensor([[0.8, 0.3, 0.2], [0.2, 0.6, 0.3], [0.3, 0.4, 0.7], [0.5, 0.5, 0.5]])
    srgb = patches.repeat_interleave(32, 0).T.reshape(3, 4, 32, 1).expand(3, 4, 32, 64)
    srgb = srgb.reshape(3, 128, 64).contiguous()
    render = libraw_render(synthesize_mosaic(srgb, seed=1, noise=False, isp="libraw"))
    inner = (slice(None), slice(None), slice(8, -8))  # away from the patch borders
    for k in range(4):
        rows = slice(32 * k + 8, 32 * k + 24)
        diff = (render[:, rows][inner] - srgb[:, rows][inner]).abs().max()
        assert float(diff) <= 1.5 / 255


def test_the_optical_low_pass_filter_removes_the_nyquist_frequency_and_keeps_flat_areas():
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
    linear = (0.2 + 0.6 * checker.float()).expand(3, 8, 8)
    filtered = optical_low_pass(linear)
    assert torch.allclose(filtered[:, 1:-1, 1:-1], torch.full((3, 6, 6), 0.5))
    flat = torch.full((3, 8, 8), 0.3)
    assert torch.allclose(optical_low_pass(flat), flat)


def test_one_isp_mosaics_pass_the_low_pass_filter_and_the_papers_do_not():
    srgb = random_scene(16, 16, seed=3)
    libraw = synthesize_mosaic(srgb, seed=5, noise=False, isp="libraw")
    sharp = synthesize_mosaic(srgb, seed=5, noise=False, isp="libraw", low_pass=False)
    assert not torch.allclose(libraw.mosaic, sharp.mosaic)
    paper = synthesize_mosaic(srgb, seed=5, noise=False)
    assert torch.equal(
        paper.mosaic, synthesize_mosaic(srgb, seed=5, noise=False, low_pass=False).mosaic
    )
