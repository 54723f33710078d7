"""Wavefront-parallel context coding: schedule, exactness, rate, integrity, model plumbing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from compressai.layers import MaskedConv2d
from compressai.models import JointAutoregressiveHierarchicalPriors
from torch import nn

from compressai_isp import context
from compressai_isp.context import (
    ContextMismatchError,
    StreamError,
    causal_taps,
    compress_latent,
    decompress_latent,
    make_schedule,
    plan,
    quantize_latent,
    wavefront_slope,
)

M = 16


def _model(kernel: int = 5) -> JointAutoregressiveHierarchicalPriors:
    net = JointAutoregressiveHierarchicalPriors(N=16, M=M)
    if kernel != 5:
        net.context_prediction = MaskedConv2d(M, 2 * M, kernel, padding=kernel // 2)
    net.eval()
    net.update()
    return net


def _latents(net: nn.Module, batch: int, h: int, w: int, spread: float = 3.0):
    """A latent with a real rate, and the hyperprior parameters h_s(z_hat) the model gives it."""
    y = torch.randn(batch, M, h, w) * spread
    hz, wz = -(-h // 4), -(-w // 4)
    z = torch.randn(batch, 16, hz, wz)
    with torch.no_grad():
        params = net.h_s(torch.round(z))[:, :, :h, :w].contiguous()
    return y, params


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared runner."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def net() -> JointAutoregressiveHierarchicalPriors:
    torch.manual_seed(1)
    return _model()


def _reference_quantize(net: nn.Module, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """The definition, in raster order: one full masked convolution per position."""
    y_hat = torch.zeros_like(y)
    with torch.no_grad():
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                ctx = net.context_prediction(y_hat)[:, :, i : i + 1, j : j + 1]
                p = params[:, :, i : i + 1, j : j + 1]
                means = net.entropy_parameters(torch.cat((p, ctx), 1)).chunk(2, 1)[1]
                q = torch.round(y[:, :, i : i + 1, j : j + 1] - means)
                y_hat[:, :, i : i + 1, j : j + 1] = q + means
    return y_hat


# -- schedule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kernel", "slope"), [(3, 2), (5, 3), (7, 4)])
def test_step_rule_is_derived_from_the_mask(kernel: int, slope: int) -> None:
    taps = causal_taps(MaskedConv2d(2, 2, kernel, padding=kernel // 2))
    assert len(taps) == kernel * kernel // 2
    a = wavefront_slope(taps)
    assert a == slope
    assert all(a * dy + dx < 0 for dy, dx in taps)
    assert any((a - 1) * dy + dx >= 0 for dy, dx in taps), "the slope is not the smallest one"


def test_non_causal_context_is_rejected() -> None:
    with pytest.raises(ValueError, match="not causal"):
        causal_taps(MaskedConv2d(2, 2, 5, padding=2, mask_type="B"))
    with pytest.raises(ValueError, match="not causal"):
        causal_taps(nn.Conv2d(2, 2, 5, padding=2))
    with pytest.raises(ValueError, match="'same' padding"):
        causal_taps(MaskedConv2d(2, 2, 5, padding=0))


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 7), (6, 1), (4, 6), (7, 3)])
def test_schedule_codes_each_position_after_its_context(h: int, w: int) -> None:
    taps = causal_taps(MaskedConv2d(2, 2, 5, padding=2))
    s = make_schedule(h, w, taps)
    assert sorted(s.order.tolist()) == list(range(h * w))
    step_of = {}
    for t in range(s.num_steps):
        assert s.bounds[t + 1] > s.bounds[t], "empty wavefront"
        for k in s.order[s.bounds[t] : s.bounds[t + 1]].tolist():
            step_of[divmod(k, w)] = t
    for (i, j), t in step_of.items():
        for dy, dx in taps:
            if (i + dy, j + dx) in step_of:
                assert step_of[(i + dy, j + dx)] < t
    assert s.num_steps <= 3 * (h - 1) + w


# -- exactness -----------------------------------------------------------------------------------


def test_decoder_reproduces_the_encoders_quantized_latent(net: nn.Module) -> None:
    y, params = _latents(net, 2, 6, 9)
    strings = compress_latent(net, y, params)
    assert len(strings) == 2 and all(isinstance(s, bytes) for s in strings)
    y_hat = decompress_latent(net, strings, params)
    assert torch.equal(y_hat, quantize_latent(net, y, params))
    assert (y_hat - y).abs().max() <= 0.5 + 1e-5


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_quantization_follows_the_raster_order_definition(kernel: int) -> None:
    net = _model(kernel)
    y, params = _latents(net, 1, 5, 6)
    ours = quantize_latent(net, y, params)
    torch.testing.assert_close(ours, _reference_quantize(net, y, params), atol=1e-4, rtol=0)
    assert torch.equal(decompress_latent(net, compress_latent(net, y, params), params), ours)


def test_entropy_parameters_without_a_leading_1x1_layer() -> None:
    """The hyperprior half cannot be hoisted then: each step concatenates and runs it whole."""
    net = _model()
    net.entropy_parameters = nn.Sequential(nn.Identity(), *net.entropy_parameters)
    y, params = _latents(net, 2, 4, 5)
    ours = quantize_latent(net, y, params)
    torch.testing.assert_close(ours, _reference_quantize(net, y, params), atol=1e-4, rtol=0)
    assert torch.equal(decompress_latent(net, compress_latent(net, y, params), params), ours)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 5), (5, 1), (2, 3)])
def test_any_latent_size_round_trips(net: nn.Module, h: int, w: int) -> None:
    y, params = _latents(net, 2, h, w)
    y_hat = decompress_latent(net, compress_latent(net, y, params), params)
    assert y_hat.shape == y.shape
    assert torch.equal(y_hat, quantize_latent(net, y, params))


def _shape_sensitive(product):
    """``product`` with a rounding that depends on its row count and on torch's thread count.

    oneMKL picks kernels by shape and thread count, and on some CPUs they round differently
    (Intel AVX-512: a row of a 24-row product differed from the same row of an 8-row one). This
    stand-in makes that visible on every CPU, so the invariance tests cannot pass by luck.
    """

    def product_of_this_shape(*args: torch.Tensor) -> torch.Tensor:
        kernel = (args[0].shape[0] + torch.get_num_threads()) % 3
        return product(*args) * (1 + kernel * 2**-20)

    return product_of_this_shape


@pytest.fixture(params=["this CPU's BLAS", "shape-sensitive BLAS"])
def blas(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "shape-sensitive BLAS":
        monkeypatch.setattr(plan, "_linear", _shape_sensitive(plan._linear))
        monkeypatch.setattr(plan, "_addmm", _shape_sensitive(plan._addmm))


@pytest.mark.usefixtures("blas")
def test_batch_size_and_threads_do_not_change_the_stream(net: nn.Module) -> None:
    y, params = _latents(net, 3, 7, 10)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batched = compress_latent(net, y, params)
        decoded_2 = decompress_latent(net, batched, params)
        torch.set_num_threads(1)
        alone = [compress_latent(net, y[i : i + 1], params[i : i + 1])[0] for i in range(3)]
        decoded_1 = torch.cat(
            [decompress_latent(net, [batched[i]], params[i : i + 1]) for i in range(3)]
        )
    finally:
        torch.set_num_threads(threads)
    assert batched == alone
    assert torch.equal(decoded_1, decoded_2)


def test_rate_matches_compressais_sequential_coder(net: nn.Module) -> None:
    y, params = _latents(net, 1, 16, 16, spread=20.0)
    ours = compress_latent(net, y, params)
    for i in range(1):
        padded = F.pad(y[i : i + 1], (2, 2, 2, 2))
        with torch.no_grad():
            seq = net._compress_ar(padded, params[i : i + 1], 16, 16, 5, 2)
        assert len(seq) > 3000, "latent too cheap for a meaningful comparison"
        assert abs(len(ours[i]) - len(seq)) <= 0.005 * len(seq)
        # The sequential coder leaves its quantised latent in `padded`: the same one as ours.
        torch.testing.assert_close(
            padded[..., 2:-2, 2:-2],
            quantize_latent(net, y[i : i + 1], params[i : i + 1]),
            atol=1e-4,
            rtol=0,
        )


# -- integrity -----------------------------------------------------------------------------------


def test_decoder_with_other_arithmetic_raises_instead_of_returning_garbage(net: nn.Module) -> None:
    y, params = _latents(net, 1, 4, 5)
    strings = compress_latent(net, y, params)
    other = _model()
    other.load_state_dict(net.state_dict())
    other.update(force=True)
    with torch.no_grad():
        other.entropy_parameters[-1].bias[:M] += 0.3  # other scales, as on a diverged decoder
    with pytest.raises(ContextMismatchError, match="checksum"):
        decompress_latent(other, strings, params)


def test_damaged_or_wrong_strings_give_clear_errors(net: nn.Module) -> None:
    y, params = _latents(net, 1, 4, 4)
    (s,) = compress_latent(net, y, params)
    flipped = bytearray(s)
    flipped[len(s) // 2] ^= 0x10
    with pytest.raises(StreamError, match="damaged"):
        decompress_latent(net, [bytes(flipped)], params)
    with pytest.raises(StreamError, match="damaged"):
        decompress_latent(net, [s[:-4]], params)
    with pytest.raises(StreamError, match="truncated"):
        decompress_latent(net, [s[:3]], params)
    with pytest.raises(ValueError, match="one latent string per image"):
        decompress_latent(net, [s, s], params)


def test_bad_inputs_give_clear_errors(net: nn.Module) -> None:
    y, params = _latents(net, 1, 4, 4)
    with pytest.raises(ValueError, match="same batch size and spatial size"):
        compress_latent(net, y[..., :3], params)
    with pytest.raises(ValueError, match=r"\[B, 16, h, w\]"):
        compress_latent(net, y[:, :5], params)
    with pytest.raises(ValueError, match="params has 5 channels"):
        compress_latent(net, y, params[:, :5])
    fresh = JointAutoregressiveHierarchicalPriors(N=16, M=M).eval()
    with pytest.raises(ValueError, match="update"):
        compress_latent(fresh, y, params)
    spatial = _model()
    spatial.entropy_parameters[0] = nn.Conv2d(4 * M, 10 * M // 3, 3, padding=1)
    with pytest.raises(ValueError, match="each position alone"):
        quantize_latent(spatial, y, params)
    with pytest.raises(ValueError, match="lacks"):
        context.fast_context(nn.Conv2d(1, 1, 1))


# -- model plumbing ------------------------------------------------------------------------------


def test_fast_context_makes_compressais_mbt2018_use_the_wavefront_coder() -> None:
    from compressai.zoo import mbt2018

    torch.manual_seed(2)
    net = mbt2018(quality=1, pretrained=False).eval()
    net.update()
    x = torch.rand(2, 3, 64, 128)
    with torch.no_grad():
        sequential = net.decompress(**net.compress(x))["x_hat"]
    assert context.fast_context(net) is net
    out = net.compress(x)
    assert set(out) == {"strings", "shape"} and len(out["strings"]) == 2
    assert tuple(out["shape"]) == (1, 2)
    x_hat = net.decompress(out["strings"], out["shape"])["x_hat"]
    assert x_hat.shape == x.shape
    torch.testing.assert_close(x_hat, sequential, atol=1e-4, rtol=0)
    with torch.no_grad():
        y = net.g_a(x)
        z_hat = net.entropy_bottleneck.decompress(out["strings"][1], out["shape"])
        expected = net.g_s(quantize_latent(net, y, net.h_s(z_hat))).clamp_(0, 1)
    assert torch.equal(x_hat, expected)


def test_decompress_rejects_malformed_strings(net: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"\[y_strings, z_strings\]"):
        context.context_decompress(net, [[b"x"]], (1, 1))
    with pytest.raises(ValueError, match="hyperprior strings"):
        context.context_decompress(net, [[b"x", b"y"], [b"z"]], (1, 1))


@pytest.mark.usefixtures("blas")
def test_static_engine_round_trips_and_agrees_with_the_batched_one(net: nn.Module) -> None:
    """The fixed-shape, step-indexed engine (CUDA graphs on CUDA) runs eagerly on the CPU too.

    Its products have other shapes than the batched engine's (every step padded to the longest),
    so the two agree to rounding, and each decodes its own strings exactly.
    """
    y, params = _latents(net, 2, 5, 7)
    static = compress_latent(net, y, params, engine="static")
    y_hat = decompress_latent(net, static, params, engine="static")
    assert torch.equal(y_hat, quantize_latent(net, y, params, engine="static"))
    batched = quantize_latent(net, y, params, engine="batched")
    torch.testing.assert_close(y_hat, batched, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="engine"):
        quantize_latent(net, y, params, engine="fast")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_coder_matches_the_cpu_reference(net: nn.Module) -> None:
    y, params = _latents(net, 2, 9, 12)
    cpu_strings = compress_latent(net, y, params)
    gpu = _model()
    gpu.load_state_dict(net.state_dict())
    gpu.update(force=True)
    gpu = gpu.cuda()
    gpu_strings = compress_latent(gpu, y.cuda(), params.cuda())
    y_hat = decompress_latent(gpu, gpu_strings, params.cuda())
    assert torch.equal(y_hat, quantize_latent(gpu, y.cuda(), params.cuda()))
    torch.testing.assert_close(
        y_hat.cpu(), decompress_latent(net, cpu_strings, params), atol=1e-3, rtol=0
    )
    for ours, theirs in zip(gpu_strings, cpu_strings, strict=True):
        assert abs(len(ours) - len(theirs)) <= 0.01 * len(theirs)
