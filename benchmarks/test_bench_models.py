"""Forward / compress / decompress time per megapixel of every zoo architecture (pytest-benchmark).

    .venv/bin/pytest benchmarks/test_bench_models.py -p no:randomly -s

Every architecture in ``compressai_isp.zoo.image_models`` at its full paper width (quality 1,
random weights after ``update()``), on one 256x256 sRGB-sized input (a 128x128 packed RAW, or
the 256x256 sRGB image for sRGB-input models), in eval mode. Times are per **megapixel of sRGB
output**, the unit bpp is counted in. The baseline, measured in the same run on the same input,
is CompressAI's ``mbt2018`` (quality 1, N = M = 192) coding the 256x256 sRGB image; the table
printed at the end gives each time and its ratio to the baseline's same operation. CUDA runs are
added when a GPU is present. Set ``BENCH_THREADS`` to pin torch's CPU thread count.
"""

from __future__ import annotations

import pytest
import torch
from compressai.zoo import mbt2018

from compressai_isp import zoo

SIDE = 256  # sRGB output side; packed RAW inputs are SIDE / 2
MEGAPIXELS = SIDE * SIDE / 1e6
OPS = ("forward", "compress", "decompress")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
BASELINE = "mbt2018 (CompressAI)"
_TIMES: dict[tuple[str, str, str], float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report(cpu_name: str):
    yield
    cpu = cpu_name
    for device in DEVICES:
        where = (
            torch.cuda.get_device_name()
            if device == "cuda"
            else f"{cpu}, torch threads {torch.get_num_threads()}"
        )
        print(f"\n\n{SIDE}x{SIDE} sRGB output, {where}, torch {torch.__version__}")
        print("seconds per sRGB megapixel (ratio to the baseline's same operation)")
        print("| architecture | forward | compress | decompress |")
        print("|---|---|---|---|")
        for arch in [BASELINE, *zoo.image_models]:
            cells = []
            for op in OPS:
                t = _TIMES.get((device, arch, op))
                base = _TIMES.get((device, BASELINE, op))
                if t is None:
                    cells.append("n/a")
                else:
                    ratio = f" ({t / base:.2f}x)" if base else ""
                    cells.append(f"{t / MEGAPIXELS:.2f}{ratio}")
            print(f"| {arch} | " + " | ".join(cells) + " |")


def _model(arch: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if arch == BASELINE:
        model = mbt2018(quality=1, pretrained=False)
    else:
        model = zoo.image_models[arch](quality=1)
    model = model.eval().to(device)
    if hasattr(model, "update"):
        model.update(force=True)
    return model


def _input(model: torch.nn.Module, device: str) -> torch.Tensor:
    raw_input = getattr(model, "input_kind", "srgb") == "raw"
    side = SIDE // 2 if raw_input else SIDE
    return torch.rand(1, 4 if raw_input else 3, side, side, device=device)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", [BASELINE, *zoo.image_models])
@pytest.mark.parametrize("op", OPS)
def test_model_speed(benchmark, arch, op, device):
    model = _model(arch, device)
    if op != "forward" and not hasattr(model, "compress"):
        pytest.skip(f"{arch} is not a codec (no entropy model)")
    x = _input(model, device)

    with torch.no_grad():
        if op == "forward":

            def run():
                model(x)
                _sync(device)

        elif op == "compress":

            def run():
                model.compress(x)
                _sync(device)

        else:
            enc = model.compress(x)

            def run():
                model.decompress(enc["strings"], enc["shape"])
                _sync(device)

        # The sequential CompressAI context loop takes seconds on CPU; one round after warm-up
        # is enough to rank it, three for everything else.
        slow = arch == BASELINE and op != "forward" and device == "cpu"
        benchmark.pedantic(run, rounds=1 if slow else 3, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.min
    _TIMES[(device, arch, op)] = seconds
    benchmark.extra_info["seconds_per_megapixel"] = seconds / MEGAPIXELS
