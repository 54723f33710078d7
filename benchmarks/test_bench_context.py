"""Wavefront context coding against CompressAI's sequential loop (pytest-benchmark).

    .venv/bin/pytest benchmarks/test_bench_context.py -p no:randomly -s

CompressAI's ``mbt2018`` (quality 1: N = M = 192) with random weights (``g_a``'s output scaled to
a standard deviation of 3, so that the latent has a real rate) after ``update()``; the same
weights and input for every contender. Two sizes:

* ``768x512``: a 768x512 sRGB image (a 32x48 latent), whole ``compress`` / ``decompress``.
* ``12MP``: a 96x144 latent (13,824 positions): the 94x141 latent of a 12-megapixel RAW photo
  under RBN, padded to mbt2018's multiple of 4 (an sRGB image of 1536x2304 for mbt2018).
  Ours and the floors are timed whole; CompressAI's sequential loop (minutes) is timed once,
  on the latent coding alone (``_compress_ar`` / ``_decompress_ar``), its context-coding part.

The context-free floors (the issue's definition): encode ``g_a + h_a + h_s``, decode
``h_s + g_s``. The table printed at the end gives each context-coding part (total minus floor)
and the ratios, all measured in this run; the README quotes it with the machine it ran on.
Set ``BENCH_THREADS`` to pin torch's thread count (default: torch's).
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from compressai.models import JointAutoregressiveHierarchicalPriors
from compressai.zoo import mbt2018

from compressai_isp.context import (
    compress_latent,
    context_compress,
    context_decompress,
    decompress_latent,
)

SIZES = {"768x512": (512, 768), "12MP": (96 * 16, 144 * 16)}
LATENT_STD = 3.0
_CODED: dict = {}
_TIMES: dict[tuple[str, str, str], float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report(cpu_name: str):
    yield
    cpu = cpu_name
    print(
        f"\n\nmbt2018 (N=M=192), {cpu}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}, torch {torch.__version__}"
    )
    print(
        "| size | direction | floor | sequential context | ours total | ours context "
        "| context speed-up | ours / floor | ours latent coder alone |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in SIZES:
        for direction in ("encode", "decode"):
            key = (size, direction)
            if any((*key, k) not in _TIMES for k in ("floor", "ours", "sequential")):
                continue
            floor, ours = _TIMES[(*key, "floor")], _TIMES[(*key, "ours")]
            seq = _TIMES[(*key, "sequential")]
            seq_ctx = seq if size == "12MP" else seq - floor
            ctx = max(ours - floor, 1e-9)
            latent = _TIMES.get((*key, "latent"), float("nan"))
            print(
                f"| {size} | {direction} | {floor:.2f} s | {seq_ctx:.2f} s | {ours:.2f} s | "
                f"{ctx:.2f} s | {seq_ctx / ctx:.0f}x | {ours / floor:.2f} | {latent:.2f} s |"
            )
    for size, (x, out) in _CODED.items():
        nbytes = sum(len(s) for part in out["strings"] for s in part)
        print(f"{size}: {nbytes * 8 / (x.shape[-2] * x.shape[-1]):.2f} bpp")


@pytest.fixture(scope="module")
def net() -> JointAutoregressiveHierarchicalPriors:
    torch.manual_seed(0)
    model = mbt2018(quality=1, pretrained=False).eval()
    with torch.no_grad():  # give the random latent a real rate (std 3): a real rANS workload
        std = model.g_a(torch.rand(1, 3, 256, 256)).std()
        model.g_a[-1].weight.mul_(LATENT_STD / std)
        model.g_a[-1].bias.mul_(LATENT_STD / std)
    model.update(force=True)
    return model


@pytest.fixture(scope="module")
def coded(net):
    """Per size: the input, our strings (for decoding) and the latent data of the loop."""
    out = {}
    for size, (h, w) in SIZES.items():
        torch.manual_seed(1)
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            strings = context_compress(net, x)
        out[size] = (x, strings)
    _CODED.update(out)
    return out


def _record(benchmark, size: str, direction: str, who: str, fn, rounds: int) -> None:
    benchmark.group = f"{size} {direction}"
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    _TIMES[(size, direction, who)] = benchmark.stats.stats.median


def _rounds(size: str) -> int:
    return 3 if size == "768x512" else 1


@pytest.mark.parametrize("size", list(SIZES))
def test_encode_floor(benchmark, net, coded, size):
    x, out = coded[size]
    z_hat = net.entropy_bottleneck.decompress(out["strings"][1], out["shape"])

    @torch.no_grad()
    def floor():
        y = net.g_a(x)
        net.h_a(y)
        net.h_s(z_hat)

    _record(benchmark, size, "encode", "floor", floor, _rounds(size))


@pytest.mark.parametrize("size", list(SIZES))
def test_encode_ours(benchmark, net, coded, size):
    x, _ = coded[size]
    _record(benchmark, size, "encode", "ours", lambda: context_compress(net, x), _rounds(size))


@pytest.mark.parametrize("size", list(SIZES))
def test_decode_floor(benchmark, net, coded, size):
    _, out = coded[size]
    z_hat = net.entropy_bottleneck.decompress(out["strings"][1], out["shape"])

    @torch.no_grad()
    def floor():
        y_hat = net.h_s(z_hat)[:, : net.M]  # a latent-sized stand-in for y_hat
        net.g_s(y_hat)

    _record(benchmark, size, "decode", "floor", floor, _rounds(size))


@pytest.mark.parametrize("size", list(SIZES))
def test_decode_ours(benchmark, net, coded, size):
    _, out = coded[size]
    fn = lambda: context_decompress(net, out["strings"], out["shape"])  # noqa: E731
    _record(benchmark, size, "decode", "ours", fn, _rounds(size))


def _latent(net, coded, size):
    x, out = coded[size]
    with torch.no_grad():
        y = net.g_a(x)
        z_hat = net.entropy_bottleneck.decompress(out["strings"][1], out["shape"])
        params = net.h_s(z_hat)
    return y, params


@pytest.mark.parametrize("size", list(SIZES))
def test_encode_latent_coder(benchmark, net, coded, size):
    """``compress_latent`` alone: the context-coding part timed directly, not as a difference."""
    y, params = _latent(net, coded, size)
    fn = lambda: compress_latent(net, y, params)  # noqa: E731
    _record(benchmark, size, "encode", "latent", fn, _rounds(size))


@pytest.mark.parametrize("size", list(SIZES))
def test_decode_latent_coder(benchmark, net, coded, size):
    y, params = _latent(net, coded, size)
    strings = coded[size][1]["strings"][0]
    fn = lambda: decompress_latent(net, strings, params)  # noqa: E731
    _record(benchmark, size, "decode", "latent", fn, _rounds(size))


def test_encode_sequential_768x512(benchmark, net, coded):
    x, _ = coded["768x512"]
    fn = lambda: JointAutoregressiveHierarchicalPriors.compress(net, x)  # noqa: E731
    _record(benchmark, "768x512", "encode", "sequential", torch.no_grad()(fn), 1)


def test_decode_sequential_768x512(benchmark, net, coded):
    x, _ = coded["768x512"]
    with torch.no_grad():
        theirs = JointAutoregressiveHierarchicalPriors.compress(net, x)
    fn = lambda: JointAutoregressiveHierarchicalPriors.decompress(net, **theirs)  # noqa: E731
    _record(benchmark, "768x512", "decode", "sequential", torch.no_grad()(fn), 1)


def test_encode_sequential_12mp(benchmark, net, coded):
    """CompressAI's loop on the latent only (about a minute): its context-coding part."""
    y, params = _latent(net, coded, "12MP")
    h, w = y.shape[-2:]

    @torch.no_grad()
    def loop():
        net._compress_ar(F.pad(y, (2, 2, 2, 2)), params, h, w, 5, 2)

    _record(benchmark, "12MP", "encode", "sequential", loop, 1)


def test_decode_sequential_12mp(benchmark, net, coded):
    y, params = _latent(net, coded, "12MP")
    h, w = y.shape[-2:]
    with torch.no_grad():
        string = net._compress_ar(F.pad(y, (2, 2, 2, 2)), params, h, w, 5, 2)

    @torch.no_grad()
    def loop():
        y_hat = torch.zeros(1, net.M, h + 4, w + 4)
        net._decompress_ar(string, y_hat, params, h, w, 5, 2)

    _record(benchmark, "12MP", "decode", "sequential", loop, 1)
