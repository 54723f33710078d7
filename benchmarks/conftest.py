"""Shared benchmark set-up: ``BENCH_THREADS`` pins torch's thread count; ``cpu_name`` names the
machine in every printed table."""

from __future__ import annotations

import os
import platform

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _bench_threads() -> None:
    if "BENCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))


@pytest.fixture(scope="session")
def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (or what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()
