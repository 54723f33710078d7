"""Checkpoint files are data, never code: every entry point that reads one, attacked with a payload.

A pickle whose ``__reduce__`` creates a marker directory is written as a zip torch file, a legacy
(non-zip) torch file and a plain pickle, then handed to every command-line option that reads a
checkpoint-like file. The marker must never appear and the error must be one line naming the file.
Checkpoints in the format written before RNG states were stored as tensors must still resume.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import TINY, TINY_RBN_ARG, _png_folder, make_trainer, read_log

from compressai_isp import zoo
from compressai_isp.cli import main as cli_main
from compressai_isp.data import make_synthetic_dng
from compressai_isp.io.atomic import atomic_open, remove_stale_temps
from compressai_isp.training.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    load_state_file,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class MakesMarker:
    """Unpickling this calls ``os.mkdir(marker)``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (os.mkdir, (self.marker,))


def write_payload(path: Path, kind: str, marker: Path) -> Path:
    hostile = {"arch": "rbn", "quality": 1, "state_dict": {"w": MakesMarker(marker)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "torch-zip":
        torch.save(hostile, path)
    elif kind == "torch-legacy":
        torch.save(hostile, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(hostile))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A RAW photo (encode), a RAW folder (eval, anchors), an image folder (train), a tiny ISP."""
    root = tmp_path_factory.mktemp("inputs")
    make_synthetic_dng(root / "raw" / "a.dng", 1, "RGGB", (36, 52))
    isp = root / "isp.pth"
    torch.save(zoo.liteispnet(1, **TINY["liteispnet"]).state_dict(), isp)
    return {"raw": root / "raw", "photo": root / "raw" / "a.dng", "isp": isp,
            "png": _png_folder(root / "png", n=2), "cache": root / "cache"}  # fmt: skip


def _train(inputs: dict[str, Path], save: Path, *extra: str, model: str = "rbn") -> list[str]:
    kwargs = TINY_RBN_ARG if model == "rbn" else "N=8,M=8,isp_width=4"
    return [
        "train", "-m", model, "-q", "1", "--model-kwargs", kwargs,
        "-d", f"synthetic:{inputs['png']}", "--patch-size", "128", "128", "--batch-size", "1",
        "--max-steps", "1", "--no-val", "-n", "0", "--cache-dir", str(inputs["cache"]),
        "--no-progress", "--no-tensorboard", "--save", str(save), *extra,
    ]  # fmt: skip


def _argv(entry: str, payload: Path, inputs: dict[str, Path], out: Path) -> list[str]:
    """The command line of ``entry`` reading ``payload`` (the resume entry copies it into place)."""
    p = str(payload)
    if entry == "train resume from --save DIR":
        (out / "run").mkdir(parents=True)
        shutil.copy(payload, out / "run" / CHECKPOINT_NAME)
        return _train(inputs, out / "run")
    return {
        "encode --checkpoint": ["encode", str(inputs["photo"]), "-o", str(out / "x.rbit"),
                                "--checkpoint", p],
        "decode --checkpoint": ["decode", str(out / "x.rbit"), "-o", str(out / "x.png"),
                                "--checkpoint", p],
        "train --checkpoint": _train(inputs, out / "run", "--checkpoint", p),
        "train --init": _train(inputs, out / "run", "--init", p),
        "train --isp-init": _train(inputs, out / "run", "--isp-init", p, model="cascaded"),
        "train --comp-init": _train(inputs, out / "run", "--comp-init", p, model="cascaded"),
        "train --teacher-enc-checkpoint": _train(
            inputs, out / "run", "--teacher-enc", "raw-comp-teacher", "--teacher-enc-checkpoint", p
        ),
        "train --teacher-dec-checkpoint": _train(
            inputs, out / "run", "--teacher-dec", "isp-teacher", "--teacher-dec-checkpoint", p
        ),
        "eval checkpoint -p": ["eval", "checkpoint", str(inputs["raw"]), "-p", p, "--quiet",
                               "-o", str(out / "eval.json")],
        "anchors isp --isp-checkpoint": ["anchors", "isp", str(inputs["raw"]), "--codecs", "none",
                                         "--isp-checkpoint", p, "-o", str(out), "--quiet"],
        "anchors cascade --comp-checkpoint": ["anchors", "cascade", str(inputs["raw"]),
                                              "--isp-checkpoint", str(inputs["isp"]),
                                              "--comp-checkpoint", p, "-o", str(out), "--quiet"],
    }[entry]  # fmt: skip


ENTRY_POINTS = [
    "encode --checkpoint", "decode --checkpoint", "train --checkpoint",
    "train resume from --save DIR", "train --init", "train --isp-init", "train --comp-init",
    "train --teacher-enc-checkpoint", "train --teacher-dec-checkpoint", "eval checkpoint -p",
    "anchors isp --isp-checkpoint", "anchors cascade --comp-checkpoint",
]  # fmt: skip


@pytest.mark.parametrize("kind", ["torch-zip", "torch-legacy", "plain-pickle"])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_hostile_checkpoint_runs_no_code_at_any_entry_point(
    tmp_path: Path, capsys, inputs: dict[str, Path], entry: str, kind: str
) -> None:
    marker = tmp_path / "payload-ran"
    payload = write_payload(tmp_path / "hostile.pth", kind, marker)
    out = tmp_path / "out"
    out.mkdir()
    status = cli_main(_argv(entry, payload, inputs, out))
    err = capsys.readouterr().err.strip()
    assert not marker.exists(), f"{entry}: the file's code ran"
    assert status != 0
    named = CHECKPOINT_NAME if entry == "train resume from --save DIR" else payload.name
    assert len(err.splitlines()) == 1 and named in err and "Traceback" not in err, err
    assert not (out / "x.rbit").exists() and not (out / "run" / "log.csv").exists()


def test_the_refusal_names_what_the_file_asked_to_run(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    payload = write_payload(tmp_path / "hostile.pth", "torch-zip", marker)
    with pytest.raises(ValueError, match=r"hostile\.pth .*asks to run posix\.mkdir") as caught:
        load_state_file(payload)
    assert "\n" not in str(caught.value) and not marker.exists()


@pytest.mark.parametrize(
    "content",
    [np.zeros(3), np.array([1, "a"], dtype=object), np.zeros(624, np.uint32)],
    ids=["float64", "object", "uint32-outside-the-rng"],
)
def test_numpy_arrays_load_only_as_an_old_rng_key(tmp_path: Path, content: np.ndarray) -> None:
    path = tmp_path / "arrays.pth"
    torch.save({"state_dict": {}, "extra": content}, path)
    with pytest.raises(ValueError, match="arrays.pth"):
        load_checkpoint(path)


def test_rng_states_are_stored_as_plain_types_and_restore_exactly() -> None:
    state = rng_state()
    expected = (np.random.rand(), float(torch.rand(1)), random.random())
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    set_rng_state(torch.load(buf, weights_only=True))  # no allow-list needed
    assert (np.random.rand(), float(torch.rand(1)), random.random()) == expected


def _as_old_format(path: Path) -> None:
    """Rewrite a checkpoint as this library wrote it before: NumPy's state as its tuple."""
    state = load_checkpoint(path)
    for entry in state["rng"]:
        n = entry["numpy"]
        key = n["key"].numpy().astype(np.uint32)
        entry["numpy"] = (n["bit_generator"], key, n["pos"], n["has_gauss"], n["gauss"])
    torch.save(state, path)


def test_an_old_format_checkpoint_resumes_bit_exactly(tmp_path: Path) -> None:
    make_trainer(tmp_path / "ref", max_steps=4).fit()
    make_trainer(tmp_path / "old", max_steps=2).fit()
    ckpt = tmp_path / "old" / "run" / CHECKPOINT_NAME
    _as_old_format(ckpt)
    assert isinstance(torch.load(ckpt, weights_only=False)["rng"][0]["numpy"], tuple)
    make_trainer(tmp_path / "old", max_steps=4).fit()
    ref, old = read_log(tmp_path / "ref" / "run"), read_log(tmp_path / "old" / "run")
    assert [r["loss"] for r in ref] == [r["loss"] for r in old]


def _as_written_before_the_config_was_recorded(path: Path) -> None:
    """No metric, no train_config, a MultiStepLR state (the schedule the trainer used then)."""
    state = load_checkpoint(path)
    del state["metric"], state["train_config"]
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1000], gamma=0.1)
    for _ in range(state["step"]):
        optimizer.step()
        schedule.step()
    save_checkpoint({**state, "lr_scheduler": schedule.state_dict()}, path)


def test_a_checkpoint_without_the_recorded_config_resumes_bit_exactly(tmp_path: Path) -> None:
    make_trainer(tmp_path / "ref", max_steps=4).fit()
    make_trainer(tmp_path / "old", max_steps=2).fit()
    _as_written_before_the_config_was_recorded(tmp_path / "old" / "run" / CHECKPOINT_NAME)
    make_trainer(tmp_path / "old", max_steps=4).fit()
    ref, old = read_log(tmp_path / "ref" / "run"), read_log(tmp_path / "old" / "run")
    assert [r["loss"] for r in ref] == [r["loss"] for r in old]


def test_stale_checkpoint_temp_files_are_removed_on_start(tmp_path: Path) -> None:
    save = tmp_path / "run"
    save.mkdir()
    # What a SIGKILL during a write leaves: atomic_open's temp files of the three outputs.
    stale = [save / f".{n}.k3x_9abc.tmp" for n in ("checkpoint.pth.tar", "model_best.pth")]
    stale.append(save / ".checkpoint_best.pth.tar.zzzzzzzz.tmp")
    kept = [save / "notes.tmp", save / ".checkpoint.pth.tar.mine.tmp", save / ".other.k3x_9abc.tmp"]
    for f in stale + kept:
        f.write_bytes(b"x" * 10)
    assert make_trainer(tmp_path, max_steps=1, export=True).fit() == 0
    assert not any(f.exists() for f in stale)
    assert all(f.exists() for f in kept)  # not this library's temp names: left alone


def test_stale_temp_cleanup_matches_atomic_open_names(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "model_best.pth") as f:
        f.write(b"partial")
        (leftover,) = tmp_path.glob(".model_best.pth.*.tmp")
        shutil.copy(leftover, tmp_path / "copy")  # keep the file a killed writer would leave
        raise RuntimeError  # (atomic_open itself removes it on an exception)
    (tmp_path / "copy").rename(leftover)
    assert remove_stale_temps(tmp_path, ["model_best.pth"]) == [leftover]
    assert not leftover.exists()
