"""Patch pairs per second from the RAW datasets, cached vs uncached (pytest-benchmark).

    .venv/bin/pytest benchmarks/test_bench_data.py --benchmark-group-by=group

Fixtures are synthetic DNG files of a small camera's size (1024×1536, 12-bit) made with
:func:`compressai_isp.data.make_synthetic_dng`, so the benchmark runs on a fresh clone. Each
benchmark round loads one RAWtoBit training pair (4×128×128 RAW / 3×256×256 sRGB, random crop and
flip/rotation). The uncached baseline decodes and renders the file with LibRaw for every pair;
the cached run reads memory-mapped arrays. One DataLoader worker's throughput is measured (the
main process, ``torch.set_num_threads(1)`` as inside a DataLoader worker), and the speed-up is
reported relative to the uncached baseline of the same run.
"""

from __future__ import annotations

import time

import pytest
import torch

from compressai_isp.data import RawFolder, SyntheticRawFolder, make_synthetic_dng
from compressai_isp.data.synthetic import random_scene

N_FILES = 4
SIZE = (1024, 1536)
_RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    for i in range(N_FILES):
        make_synthetic_dng(root / f"img{i}.dng", i, "GRBG", size=SIZE, white_level=4095)
    return root


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory):
    import imagecodecs

    root = tmp_path_factory.mktemp("png")
    for i in range(N_FILES):
        img = (random_scene(512, 768, seed=i) * 255).round().byte().permute(1, 2, 0).contiguous()
        (root / f"img{i}.png").write_bytes(imagecodecs.png_encode(img.numpy()))
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _loader(ds):
    state = {"i": 0}

    def load_one():
        raw, srgb = ds[state["i"] % len(ds)]
        state["i"] += 1
        return raw, srgb

    return load_one


def _record(benchmark, name: str) -> None:
    pairs_per_s = 1.0 / benchmark.stats.stats.mean
    _RESULTS[name] = pairs_per_s
    benchmark.extra_info["pairs_per_second"] = round(pairs_per_s, 1)


@pytest.mark.benchmark(group="raw-folder")
def test_uncached_raw_pairs(benchmark, raw_dir):
    ds = RawFolder(raw_dir, split="all")
    raw, srgb = benchmark.pedantic(_loader(ds), rounds=8, iterations=1, warmup_rounds=1)
    assert tuple(raw.shape) == (4, 128, 128) and tuple(srgb.shape) == (3, 256, 256)
    _record(benchmark, "raw-uncached")


@pytest.mark.benchmark(group="raw-folder")
def test_cached_raw_pairs(benchmark, raw_dir, tmp_path):
    ds = RawFolder(raw_dir, split="all", cache_dir=tmp_path / "cache")
    start = time.perf_counter()
    for i in range(len(ds)):  # fill the cache (what the first epoch does)
        ds[i]
    fill = (time.perf_counter() - start) / len(ds)
    raw, srgb = benchmark.pedantic(_loader(ds), rounds=400, iterations=1, warmup_rounds=10)
    assert tuple(raw.shape) == (4, 128, 128) and tuple(srgb.shape) == (3, 256, 256)
    _record(benchmark, "raw-cached")
    benchmark.extra_info["first_epoch_seconds_per_image"] = round(fill, 3)
    if "raw-uncached" in _RESULTS:
        speedup = _RESULTS["raw-cached"] / _RESULTS["raw-uncached"]
        benchmark.extra_info["speedup_vs_uncached"] = round(speedup, 1)
        print(
            f"\nRawFolder: uncached {_RESULTS['raw-uncached']:.1f} pairs/s, "
            f"cached {_RESULTS['raw-cached']:.1f} pairs/s (x{speedup:.0f})"
        )


@pytest.mark.benchmark(group="synthetic-folder")
def test_uncached_synthetic_pairs(benchmark, png_dir):
    ds = SyntheticRawFolder(png_dir)
    benchmark.pedantic(_loader(ds), rounds=8, iterations=1, warmup_rounds=1)
    _record(benchmark, "synthetic-uncached")


@pytest.mark.benchmark(group="synthetic-folder")
def test_cached_synthetic_pairs(benchmark, png_dir, tmp_path):
    ds = SyntheticRawFolder(png_dir, cache_dir=tmp_path / "cache")
    for i in range(len(ds)):
        ds[i]
    benchmark.pedantic(_loader(ds), rounds=400, iterations=1, warmup_rounds=10)
    _record(benchmark, "synthetic-cached")
    if "synthetic-uncached" in _RESULTS:
        speedup = _RESULTS["synthetic-cached"] / _RESULTS["synthetic-uncached"]
        benchmark.extra_info["speedup_vs_uncached"] = round(speedup, 1)
        print(
            f"\nSyntheticRawFolder: uncached {_RESULTS['synthetic-uncached']:.1f} pairs/s, "
            f"cached {_RESULTS['synthetic-cached']:.1f} pairs/s (x{speedup:.0f})"
        )
