"""Third-party architectures arrive through the ``compressai_isp.models`` entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugins" / "compressai-isp-rbn-mean"


def run_python(code: str, path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_example_plugin_installs_and_builds_through_the_zoo(tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--quiet", "--target", str(target), str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    result = run_python(
        """
        import torch
        from compressai_isp import zoo
        net = zoo.create_model("rbn-mean", quality=2, N=16, M=16, N_hyper=16, decoder_width=8)
        net.eval().update(force=True)
        x = torch.rand(1, 4, 64, 128)
        with torch.no_grad():
            out = net.decompress(**net.compress(x))["x_hat"]
        print(type(net).__name__, tuple(out.shape), zoo.lambdas["rbn-mean"][2])
        """,
        target,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RBNMean", "(1,", "3,", "128,", "256)", "0.0067"]


def test_broken_plugin_warns_by_name_and_import_still_works(tmp_path: Path) -> None:
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[compressai_isp.models]\nbroken-arch = no_such_module_xyz:build\n"
    )
    result = run_python(
        """
        from compressai_isp import zoo
        print("rbn" in zoo.image_models, "broken-arch" in zoo.image_models)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
    assert "plugin 'broken-arch' (no_such_module_xyz) failed to load" in result.stderr
