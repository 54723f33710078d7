import math

import pytest
import torch
from pytorch_msssim import ms_ssim as reference_ms_ssim
from pytorch_msssim import ssim as reference_ssim

from compressai_isp.metrics import (
    bpp_from_likelihoods,
    bpp_from_strings,
    compute_metrics,
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
    assert set(m) == {"psnr-rgb", "ms-ssim-rgb"}
    assert m["psnr-rgb"] == math.inf and m["ms-ssim-rgb"] == pytest.approx(1.0)


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
