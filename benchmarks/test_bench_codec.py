"""What the .rbit container costs on top of the model's own compress / decompress.

    .venv/bin/pytest benchmarks/test_bench_codec.py -s

The shipped CC0 sample (Kodak DC50, 512x766 coded) with a randomly initialised RBN at a
reduced width (N = M = N_hyper = 64, decoder width 16); the same weights and input for both
contenders. *Model only* is ``model.compress`` on the padded packed RAW / ``model.decompress``
on its strings; *codec* is ``encode_raw`` (padding, geometry, pack, CRC) / ``decode_bitstream(
unpack(bytes))`` (parse, CRC, checks, zero-padded strings, crop). The ratios printed at the end
are measured in this run; about 1.0 means the container is free.
"""

from __future__ import annotations

import pytest
import torch

from compressai_isp import zoo
from compressai_isp.codec.engine import codec_model, decode_bitstream, encode_raw
from compressai_isp.codec.format import unpack
from compressai_isp.data import read_raw, sample_raw_path
from compressai_isp.models import pad_to_multiple

RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    cm = codec_model(zoo.rbn(6, N=64, M=64, N_hyper=64, decoder_width=16), "rbn", 6, "mse", "bench")
    raw = read_raw(sample_raw_path())
    x = pad_to_multiple(raw.packed[None], cm.model.downsampling_factor)
    with torch.no_grad():
        coded = cm.model.compress(x)
    return cm, raw, x, coded, encode_raw(raw, cm)


def _record(name: str, benchmark) -> None:
    RESULTS[name] = benchmark.stats.stats.median


def test_encode_model_only(benchmark, setup) -> None:
    cm, _, x, _, _ = setup
    benchmark.pedantic(lambda: cm.model.compress(x), rounds=5, iterations=1)
    _record("encode model", benchmark)


def test_encode_codec(benchmark, setup) -> None:
    cm, raw, _, _, _ = setup
    benchmark.pedantic(lambda: encode_raw(raw, cm), rounds=5, iterations=1)
    _record("encode codec", benchmark)


def test_decode_model_only(benchmark, setup) -> None:
    cm, _, _, coded, _ = setup
    with torch.no_grad():
        benchmark.pedantic(
            lambda: cm.model.decompress(coded["strings"], coded["shape"]), rounds=5, iterations=1
        )
    _record("decode model", benchmark)


def test_decode_codec(benchmark, setup) -> None:
    cm, _, _, _, data = setup
    benchmark.pedantic(lambda: decode_bitstream(unpack(data), cm), rounds=5, iterations=1)
    _record("decode codec", benchmark)
    if {"encode model", "encode codec", "decode model"} <= RESULTS.keys():
        print()
        for step in ("encode", "decode"):
            ratio = RESULTS[f"{step} codec"] / RESULTS[f"{step} model"]
            print(
                f"{step}: model {RESULTS[f'{step} model']:.3f} s, codec "
                f"{RESULTS[f'{step} codec']:.3f} s, ratio {ratio:.3f}"
            )
