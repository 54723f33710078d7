import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim as reference_ms_ssim
from pytorch_msssim import ssim as reference_ssim

from compressai_isp.metrics import (
    bpp_from_likelihoods,
    bpp_from_strings,
    compute_metrics,
    delta_e00,
    delta_e00_map,
    delta_e00_per_image,
    ms_ssim,
    ms_ssim_per_image,
    ms_ssim_scales,
    psnr,
    psnr_per_image,
    quantize_8bit,
    rate_bpp,
    srgb_num_pixels,
)


def test_psnr_of_identical_images_is_infinite():
    x = torch.rand(3, 8, 8)
    assert psnr(x, x) == math.inf


def test_psnr_of_a_constant_error_matches_the_formula():
    a = torch.zeros(3, 4, 4)
    b = torch.full((3, 4, 4), 0.1)
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-5)  # 10 log10(1 / 0.01)
    assert psnr(a * 255, b * 255, data_range=255.0) == pytest.approx(20.0, abs=1e-4)


def test_psnr_of_a_batch_is_the_mean_of_per_image_psnr():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.01)])
    assert psnr_per_image(a, b).tolist() == pytest.approx([20.0, 40.0], abs=1e-4)
    assert psnr(a, b) == pytest.approx(30.0, abs=1e-4)


def test_quantized_psnr_clamps_and_rounds_to_8_bits_like_compressai():
    a = torch.full((3, 4, 4), 0.5)
    # Out-of-range values are clamped and sub-LSB differences vanish after rounding.
    assert psnr(a, a + 0.0005, quantize=True) == math.inf
    assert quantize_8bit(torch.tensor([-0.2, 0.5, 1.7])).tolist() == [0.0, 128.0, 255.0]
    over = torch.full((3, 4, 4), 1.5)
    assert psnr(torch.ones(3, 4, 4), over, quantize=True) == math.inf
    assert psnr(torch.ones(3, 4, 4), over) < 10.0


def test_metrics_reject_mismatched_shapes_with_a_clear_message():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 9))
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        psnr(torch.rand(8, 8), torch.rand(8, 8))


def test_ms_ssim_scale_count_follows_image_size():
    assert ms_ssim_scales(161, 300) == 5
    assert ms_ssim_scales(160, 300) == 4
    assert ms_ssim_scales(32, 32) == 2
    assert ms_ssim_scales(11, 64) == 1
    with pytest.raises(ValueError, match="at least 11 px"):
        ms_ssim_scales(10, 64)


def test_ms_ssim_of_large_images_is_pytorch_msssim():
    a = torch.rand(1, 3, 161, 170)
    b = (a + 0.05 * torch.randn_like(a)).clamp(0, 1)
    assert ms_ssim(a, b) == pytest.approx(float(reference_ms_ssim(a, b, data_range=1.0)), abs=1e-6)


def test_ms_ssim_with_one_scale_is_ssim():
    a = torch.rand(1, 3, 16, 20)
    b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1)
    assert ms_ssim(a, b) == pytest.approx(float(reference_ssim(a, b, data_range=1.0)), abs=1e-5)


def test_ms_ssim_on_small_images_is_one_for_identical_and_drops_with_noise():
    a = torch.rand(2, 3, 40, 48)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    slightly = ms_ssim(a, (a + 0.02 * torch.randn_like(a)).clamp(0, 1))
    heavily = ms_ssim(a, (a + 0.3 * torch.randn_like(a)).clamp(0, 1))
    assert 1.0 > slightly > heavily > 0.0


def test_ms_ssim_per_image_is_differentiable():
    a = torch.rand(2, 3, 24, 24)
    b = torch.rand(2, 3, 24, 24, requires_grad=True)
    (1 - ms_ssim_per_image(b, a).mean()).backward()
    assert b.grad is not None and torch.isfinite(b.grad).all()


def test_compute_metrics_reports_compressai_keys():
    x = torch.rand(1, 3, 32, 32)
    m = compute_metrics(x, x)
    assert set(m) == {"psnr-rgb", "ms-ssim-rgb", "delta-e00"}
    assert m["psnr-rgb"] == math.inf and m["ms-ssim-rgb"] == pytest.approx(1.0)
    assert m["delta-e00"] == 0.0


def _image_of_lab_colours(labs: list[tuple[float, float, float]]) -> torch.Tensor:
    """A 1-row sRGB image [3,1,N] whose pixels have the given CIELAB (D65) colours."""
    from skimage.color import lab2rgb, rgb2lab

    rgb = lab2rgb(np.array([labs], dtype=np.float64), channel_axis=-1)
    assert np.allclose(rgb2lab(rgb), [labs], atol=1e-4), "colour outside the sRGB gamut"
    return torch.from_numpy(rgb).permute(2, 0, 1).float()


# Pairs 7, 17, 18 and 24 of the CIEDE2000 test data of Sharma, Wu & Dalal (2005), Table 1, with
# their published ΔE00; pairs inside the sRGB gamut only (checked by the helper's round trip).
SHARMA_PAIRS = [
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
]


@pytest.mark.parametrize(("lab1", "lab2", "published"), SHARMA_PAIRS)
def test_delta_e00_reproduces_sharmas_test_pairs(lab1, lab2, published):
    a, b = _image_of_lab_colours([lab1]), _image_of_lab_colours([lab2])
    # float32 sRGB round trip of the Lab values costs well under 1e-3 ΔE.
    assert delta_e00(a, b) == pytest.approx(published, abs=2e-3)


def test_delta_e00_is_zero_for_identical_images_and_averages_over_pixels():
    x = torch.rand(3, 16, 16)
    assert delta_e00(x, x) == 0.0
    lab1, lab2, published = SHARMA_PAIRS[2]
    a = _image_of_lab_colours([lab1, lab1])
    b = _image_of_lab_colours([lab1, lab2])  # one of two pixels differs by ΔE 1
    assert delta_e00(a, b) == pytest.approx(published / 2, abs=1e-3)
    assert delta_e00_map(a, b).shape == (1, 1, 2)


def _srgb_8bit_to_lightness(level: int) -> float:
    """CIE L* of an 8-bit sRGB grey, by IEC 61966-2-1 and CIE 15 (independent of skimage)."""
    v = level / 255.0
    y = v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    return 116.0 * y ** (1 / 3) - 16.0 if y > (6 / 29) ** 3 else y * (29 / 3) ** 3


def test_delta_e00_of_a_grey_level_shift_matches_the_formula():
    # Neutral greys have a* = b* = 0, so CIEDE2000 reduces to dL / S_L (Sharma et al., eq. 17).
    low, high = 100, 140
    l1, l2 = _srgb_8bit_to_lightness(low), _srgb_8bit_to_lightness(high)
    mean_l = (l1 + l2) / 2
    s_l = 1 + 0.015 * (mean_l - 50) ** 2 / math.sqrt(20 + (mean_l - 50) ** 2)
    a = torch.full((3, 12, 12), low / 255.0)
    b = torch.full((3, 12, 12), high / 255.0)
    assert delta_e00(a, b, quantize=True) == pytest.approx(abs(l2 - l1) / s_l, abs=1e-3)
    black, white = torch.zeros(3, 4, 4), torch.ones(3, 4, 4)
    assert delta_e00(black, white, quantize=True) == pytest.approx(100.0, abs=1e-3)


def test_delta_e00_per_image_scores_each_image_of_a_batch():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)])
    assert delta_e00_per_image(a, b).tolist() == pytest.approx([0.0, 100.0], abs=1e-3)


def test_delta_e00_refuses_images_that_are_not_rgb():
    with pytest.raises(ValueError, match="3-channel"):
        delta_e00(torch.zeros(4, 8, 8), torch.zeros(4, 8, 8))


def test_srgb_num_pixels_counts_four_output_pixels_per_packed_raw_pixel():
    assert srgb_num_pixels(torch.zeros(2, 4, 8, 16)) == 2 * 16 * 32
    assert srgb_num_pixels((4, 8, 16), input_kind="raw") == 16 * 32
    assert srgb_num_pixels((1, 3, 16, 32), input_kind="srgb") == 16 * 32
    with pytest.raises(ValueError, match="3 channels"):
        srgb_num_pixels((1, 3, 16, 32), input_kind="raw")


def test_bpp_from_likelihoods_sums_bits_over_all_entropy_models():
    # 64 symbols of probability 1/2 (64 bits) + 16 of probability 1/4 (32 bits) over 32 pixels.
    likelihoods = {"y": torch.full((1, 4, 4, 4), 0.5), "z": torch.full((1, 1, 4, 4), 0.25)}
    assert bpp_from_likelihoods(likelihoods, num_pixels=32) == pytest.approx(3.0)
    # Lists of tensors (multi-stage models) count the same way.
    assert bpp_from_likelihoods(
        {"y": [likelihoods["y"]], "z": likelihoods["z"]}, 32
    ) == pytest.approx(3.0)


def test_rate_bpp_carries_gradients():
    p = torch.full((1, 2, 2, 2), 0.5, requires_grad=True)
    rate_bpp({"y": p}, 4).backward()
    assert p.grad is not None and torch.all(p.grad < 0)


def test_bpp_from_strings_counts_every_byte_of_every_stream():
    strings = [[b"\x00" * 10, b"\x01" * 6], [b"\x02" * 4]]
    assert bpp_from_strings(strings, num_pixels=80) == pytest.approx(8 * 20 / 80)


def test_bpp_rejects_nonsense_arguments():
    with pytest.raises(ValueError, match="num_pixels"):
        bpp_from_strings([b"ab"], 0)
    with pytest.raises(TypeError, match="strings"):
        bpp_from_strings(["ab"], 4)
    with pytest.raises(ValueError, match="likelihoods"):
        bpp_from_likelihoods({}, 4)
