"""Shared benchmark set-up: ``BENCH_THREADS`` pins torch's thread count; ``cpu_name`` names the
machine in every printed table."""

from __future__ import annotations

import os

import machine
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _bench_threads() -> None:
    if "BENCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))


@pytest.fixture(scope="session")
def cpu_name() -> str:
    """The CPU model the benchmarks run on."""
    return machine.cpu_name()
