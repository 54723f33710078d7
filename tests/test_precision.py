"""Transform precision: bf16 / channels-last image transforms around a float32 entropy path."""

from __future__ import annotations

import pytest
import torch

from compressai_isp import zoo
from compressai_isp.precision import (
    TransformPrecision,
    native_bf16,
    precision_name,
    resolve_precision,
    set_transform_precision,
)

TINY = dict(N=8, M=8, N_hyper=8, decoder_width=4)


def _coder(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = zoo.rbn(1, **TINY).eval()
    model.update(force=True)
    return model


def _raw(seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 4, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_auto_is_bf16_exactly_where_the_cpu_has_native_bf16():
    expected = torch.bfloat16 if native_bf16("cpu") else torch.float32
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("fp32") == torch.float32
    assert resolve_precision("bf16") == torch.bfloat16
    assert resolve_precision("fp16") == torch.float16


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="precision 'int8' is not one of auto, fp32, bf16, fp16"):
        resolve_precision("int8")
    with pytest.raises(ValueError, match="not a supported precision"):
        set_transform_precision(_coder(), torch.float64)


def test_precision_names_round_trip():
    for name in ("fp32", "bf16", "fp16"):
        assert precision_name(resolve_precision(name)) == name


def test_only_the_transforms_change_layout():
    model = set_transform_precision(_coder(), torch.bfloat16, channels_last=True)
    channels_last = torch.channels_last
    assert model.g_a[0].weight.is_contiguous(memory_format=channels_last)
    assert model.g_s.tail.conv_out.weight.is_contiguous(memory_format=channels_last)
    for name in ("h_a", "h_s", "entropy_parameters", "context_prediction"):
        for p in getattr(model, name).parameters():
            assert p.is_contiguous(), f"{name} must keep the decoder's layout"
    assert model.transform_precision == TransformPrecision(torch.bfloat16, True)


def test_bf16_forward_hands_float32_to_the_rate_terms():
    model = set_transform_precision(_coder(), torch.bfloat16, channels_last=True).train()
    out = model(_raw())
    assert out["x_hat"].dtype == torch.float32 and out["x_hat"].is_contiguous()
    assert all(lk.dtype == torch.float32 for lk in out["likelihoods"].values())


@pytest.mark.parametrize(
    "encode_with, decode_with",
    [("bf16", "fp32"), ("fp32", "bf16"), ("bf16", "bf16")],
)
def test_a_stream_of_any_precision_decodes_with_any_other(encode_with, decode_with):
    encoder = set_transform_precision(_coder(), resolve_precision(encode_with), True)
    decoder = set_transform_precision(_coder(), resolve_precision(decode_with), True)
    reference = _coder()
    stream = encoder.compress(_raw())
    # The latent decodes to the same symbols whatever the decoder's transform precision...
    y_decoder = decoder.decompress(stream["strings"], stream["shape"])["x_hat"]
    y_reference = reference.decompress(stream["strings"], stream["shape"])["x_hat"]
    assert y_decoder.shape == y_reference.shape == (1, 3, 128, 128)
    # ... and only g_s's arithmetic separates the two images.
    assert (y_decoder - y_reference).abs().max() < 0.05


def test_bf16_analysis_changes_which_latent_is_coded_not_whether_it_decodes():
    fp32, bf16 = _coder(), set_transform_precision(_coder(), torch.bfloat16)
    x = _raw()
    y32, y16 = fp32.analyse(x), bf16.analyse(x)
    assert y16.dtype == torch.float32
    assert (y32 - y16).abs().max() < 0.1
    stream = bf16.compress(x)
    assert fp32.decompress(stream["strings"], stream["shape"])["x_hat"].isfinite().all()


def test_liteispnet_renders_float32_in_bf16():
    torch.manual_seed(0)
    isp = zoo.create_model("liteispnet", quality=1, width=4).eval()
    x = _raw()
    ref = isp.render(x)
    set_transform_precision(isp, torch.bfloat16, channels_last=True)
    fast = isp.render(x)
    assert fast.dtype == torch.float32 and fast.is_contiguous()
    assert (fast - ref).abs().max() < 0.05
