"""Third-party architectures arrive through the ``compressai_isp.models`` entry points, as specs.

A plugin declares an :class:`~compressai_isp.registry.ArchSpec` like a built-in architecture and
then trains, evaluates and encodes like one (the example plugin ``rbn-mean``, through the CLI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugins" / "compressai-isp-rbn-mean"
ASSETS = REPO / "compressai_isp" / "assets"
TINY_RBN_ARG = "N=16,M=16,N_hyper=16,decoder_width=8"


def plugin_env(path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(path), str(REPO)]),
        "OMP_NUM_THREADS": "1",
    }


def run_python(code: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=plugin_env(path),
        timeout=300,
    )


def fake_plugin(site: Path, name: str, target: str, module_code: str = "") -> None:
    """An installed distribution whose entry point ``name`` names ``target``."""
    dist = site / f"{name.replace('-', '_')}_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[compressai_isp.models]\n{name} = {target}\n")
    if module_code:
        module = target.partition(":")[0]
        (site / f"{module}.py").write_text(textwrap.dedent(module_code))


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed (no network, no dependencies) into a private folder."""
    target = tmp_path_factory.mktemp("site")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--quiet", "--target", str(target), str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return target


def cli(site: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compressai_isp.cli", *argv],
        capture_output=True,
        text=True,
        env=plugin_env(site),
        timeout=600,
    )


@pytest.mark.slow
def test_example_plugin_installs_and_builds_through_the_zoo(plugin_site: Path) -> None:
    result = run_python(
        """
        import torch
        from compressai_isp import zoo
        from compressai_isp.registry import ARCHITECTURES
        from compressai_isp.training.tasks import TASKS
        net = zoo.create_model("rbn-mean", quality=2, N=16, M=16, N_hyper=16, decoder_width=8)
        net.eval().update(force=True)
        x = torch.rand(1, 4, 64, 128)
        with torch.no_grad():
            out = net.decompress(**net.compress(x))["x_hat"]
        print(type(net).__name__, tuple(out.shape), zoo.lambdas["rbn-mean"][2])
        print(TASKS["rbn-mean"] == TASKS["rbn"], zoo.cfgs["rbn-mean"] == zoo.cfgs["rbn"])
        print(ARCHITECTURES["rbn-mean"].cls is zoo.model_architectures["rbn-mean"])
        """,
        plugin_site,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "RBNMean", "(1,", "3,", "128,", "256)", "0.0067", "True", "True", "True",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def plugin_run(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two training steps of ``rbn-mean`` through ``compressai-isp train``; its export."""
    tmp = tmp_path_factory.mktemp("rbn-mean")
    trained = cli(
        plugin_site, "train", "-m", "rbn-mean", "-q", "3", "--model-kwargs", TINY_RBN_ARG,
        "-d", str(ASSETS), "--patch-size", "128", "128", "--batch-size", "2", "-n", "0",
        "--max-steps", "2", "--val-every", "2", "--seed", "1", "--threads", "1",
        "--cache-dir", str(tmp / "cache"), "--no-progress", "--no-tensorboard",
        "--save", str(tmp / "run"),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    return tmp / "run" / "model_best.pth"


@pytest.fixture(scope="module")
def plugin_stream(plugin_site: Path, plugin_run: Path) -> Path:
    """The small sample photo coded by the trained ``rbn-mean`` (``compressai-isp encode``)."""
    stream = plugin_run.parent / "dc50.rbit"
    raw = ASSETS / "Kodak_DC50_DC0010S.KDC"
    encoded = cli(
        plugin_site, "encode", str(raw), "-o", str(stream), "--checkpoint", str(plugin_run)
    )
    assert encoded.returncode == 0, encoded.stderr
    return stream


@pytest.mark.slow
def test_plugin_architecture_trains_and_evaluates_through_the_cli(
    plugin_site: Path, plugin_run: Path, tmp_path: Path
) -> None:
    result = tmp_path / "rd.json"
    evaluated = cli(
        plugin_site, "eval", "checkpoint", str(ASSETS), "--camera", "Kodak DC50",
        "-p", str(plugin_run), "-o", str(result), "--quiet",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert "rbn-mean" in result.read_text()
    assert json.loads(result.read_text())["results"]["bpp"][0] > 0


@pytest.mark.slow
def test_plugin_architecture_encodes_through_the_cli(
    plugin_site: Path, plugin_stream: Path
) -> None:
    info = cli(plugin_site, "info", str(plugin_stream))
    assert info.returncode == 0, info.stderr
    header = dict(line.split(None, 1) for line in info.stdout.splitlines())
    assert (header["architecture"], header["quality"]) == ("rbn-mean", "3")


@pytest.mark.slow
def test_plugin_architecture_decodes_through_the_cli(
    plugin_site: Path, plugin_run: Path, plugin_stream: Path
) -> None:
    image = plugin_stream.with_suffix(".png")
    decoded = cli(
        plugin_site, "decode", str(plugin_stream), "-o", str(image), "--checkpoint", str(plugin_run)
    )
    assert decoded.returncode == 0, decoded.stderr
    assert image.stat().st_size > 0


def test_broken_plugin_warns_by_name_and_import_still_works(tmp_path: Path) -> None:
    fake_plugin(tmp_path, "broken-arch", "no_such_module_xyz:build")
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


def test_a_plugin_must_name_an_arch_spec_of_its_own_name(tmp_path: Path) -> None:
    # An old-style builder function, a spec under another name, and a taken name.
    fake_plugin(tmp_path, "builder-arch", "builder_plugin:build", "def build(quality): pass\n")
    spec_code = """
        from compressai_isp.models import RBN, RBN_SPEC
        from compressai_isp.registry import ArchSpec
        spec = ArchSpec(name="other-name", cls=RBN, cfgs=RBN_SPEC.cfgs, lambdas=RBN_SPEC.lambdas)
        """
    fake_plugin(tmp_path, "renamed-arch", "renamed_plugin:spec", spec_code)
    fake_plugin(tmp_path, "rbn", "taken_plugin:spec", spec_code.replace("other-name", "rbn"))
    result = run_python(
        """
        from compressai_isp import zoo
        from compressai_isp.models import RBN_SPEC
        from compressai_isp.registry import ARCHITECTURES
        print(sorted(zoo.image_models))
        print(ARCHITECTURES["rbn"] is RBN_SPEC)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    names = result.stdout.splitlines()[0]
    assert "builder-arch" not in names and "renamed-arch" not in names
    assert "other-name" not in names
    assert result.stdout.splitlines()[1] == "True"
    assert "'builder-arch' (builder_plugin) failed to load: TypeError" in result.stderr
    assert "build is a function, not a compressai_isp.registry.ArchSpec" in result.stderr
    assert "spec declares the architecture 'other-name'" in result.stderr
    assert "plugin 'rbn' ignored: the name is already taken" in result.stderr
