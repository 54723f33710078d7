"""The package ships what it needs: a wheel holds the zoo's manifest and weights, and a normal
(non-editable) install of it runs ``compressai-isp demo``; ``compressai-isp --version``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from compressai_isp import __version__, cli, zoo

REPO = Path(__file__).resolve().parents[1]
SHIPPED_ZOO = "compressai_isp/zoo/pretrained"


def project_version() -> str:
    """``[project] version`` of pyproject.toml (no tomllib: the project supports Python 3.10)."""
    project = (REPO / "pyproject.toml").read_text().split("[project]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^version = "([^"]+)"', project, re.MULTILINE).group(1)


def test_version_is_the_projects(capsys: pytest.CaptureFixture[str]) -> None:
    assert __version__ == project_version()
    for flag in ("--version", "-V"):
        assert cli.main([flag]) == 0
        assert capsys.readouterr().out == f"compressai-isp {project_version()}\n"


def test_the_default_zoo_is_inside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPRESSAI_ISP_ZOO", raising=False)
    assert zoo.zoo_dir() == REPO / SHIPPED_ZOO
    assert (zoo.zoo_dir() / "manifest.json").is_file()
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", "/elsewhere")
    assert zoo.zoo_dir() == Path("/elsewhere")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built (offline, no isolation) from a copy of this source tree."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "compressai_isp",
        source / "compressai_isp",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", str(source), "-w", str(dist)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (path,) = dist.glob("compressai_isp-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_holds_the_manifest_and_every_weight_it_lists(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        manifest = json.loads(archive.read(f"{SHIPPED_ZOO}/manifest.json"))
        for entry in manifest["weights"]:
            data = archive.read(f"{SHIPPED_ZOO}/{entry['file']}")
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        shipped = {n for n in archive.namelist() if n.startswith(f"{SHIPPED_ZOO}/")}
    assert shipped == {f"{SHIPPED_ZOO}/{e['file']}" for e in manifest["weights"]} | {
        f"{SHIPPED_ZOO}/manifest.json"
    }
    assert json.loads((REPO / SHIPPED_ZOO / "manifest.json").read_text()) == manifest


@pytest.mark.slow
def test_a_non_editable_install_runs_the_demo(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("COMPRESSAI_ISP_ZOO", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1")
    where = subprocess.run(
        [sys.executable, "-c", "import compressai_isp.zoo as z; print(z.zoo_dir())"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert where.stdout.strip() == str(site / SHIPPED_ZOO), where.stderr
    sample = site / "compressai_isp" / "assets" / "Kodak_DC50_DC0010S.KDC"
    demo = subprocess.run(
        [sys.executable, "-m", "compressai_isp.cli", "demo", "--raw", str(sample),
         "--output-dir", str(tmp_path / "demo")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert list((tmp_path / "demo").glob("*.rbit")), demo.stdout
