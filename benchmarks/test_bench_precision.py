"""Fast path against fp32 default layout, same run (pytest-benchmark view of precision_table.py).

    BENCH_THREADS=1 .venv/bin/pytest benchmarks/test_bench_precision.py -s -p no:cacheprovider

Each benchmark times one RBN training step (reduced widths) in one configuration; the printed
table gives each configuration's ratio to the fp32 default-layout baseline of the same run.
``python benchmarks/precision_table.py`` adds the full-width step, the 12-MP coding and the
data loader.
"""

from __future__ import annotations

import pytest
import torch
from precision_table import FAST, precision_name, train_step_time

CASES = {
    "fp32": (torch.float32, False),
    "fp32-channels-last": (torch.float32, True),
    f"{precision_name(FAST)}-channels-last": (FAST, True),
}
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report(cpu_name: str):
    yield
    base = _TIMES.get("fp32")
    if base is None:
        return
    print(f"\n\nreduced RBN training step, batch 8, {cpu_name}")
    print("| configuration | seconds | fp32 / this |")
    print("|---|---|---|")
    for name, t in _TIMES.items():
        print(f"| {name} | {t:.3f} | {base / t:.2f}x |")


@pytest.mark.parametrize("case", list(CASES))
def test_reduced_training_step(benchmark, case: str) -> None:
    dtype, channels_last = CASES[case]
    _TIMES[case] = benchmark.pedantic(
        train_step_time, args=("reduced", dtype, channels_last, 2), rounds=1, iterations=1
    )
