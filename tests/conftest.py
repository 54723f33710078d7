"""Shared pytest fixtures.

``../shared`` (real CC0 RAW files and the Kodak suite) exists on the development machines and in
CI but not in a user's fresh clone, so every test that reads it goes through ``shared_data`` and
skips cleanly when it is missing; the behaviour itself is always also covered by generated data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_root() -> Path:
    env = os.environ.get("COMPRESSAI_ISP_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (with ``raw/`` and ``kodak/``), or skip the test when it is absent."""
    data = _shared_root() / "data"
    if not (data / "raw").is_dir():
        pytest.skip("../shared/data is not available in this checkout")
    return data


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: thread start-up costs more than the work (and eval runs single-threaded)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
