"""Training engine and CLI (compressai_isp.train / compressai_isp.training)."""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from compressai_isp import train as train_cli
from compressai_isp import zoo
from compressai_isp.distill import GAMMA
from compressai_isp.precision import native_bf16
from compressai_isp.training.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    MODEL_NAME,
    load_checkpoint,
    save_checkpoint,
)
from compressai_isp.training.data import TrainingData
from compressai_isp.training.loop import TeacherConfig, TrainConfig, Trainer, TrainingError
from compressai_isp.training.sampling import ResumableSampler, SeededDataset
from compressai_isp.training.tasks import TASKS, rd_loss

REPO = Path(__file__).resolve().parents[1]
TINY_RBN = {"N": 8, "M": 8, "N_hyper": 8, "decoder_width": 4}
TINY_RBN_ARG = "N=8,M=8,N_hyper=8,decoder_width=4"
PATCH = 128  # RBN needs packed-RAW sides that are multiples of 64


class Pairs(Dataset):
    """Smooth random scenes with a fixed toy "ISP" (RAW -> sRGB is learnable), random crops."""

    def __init__(self, n: int, size: int = PATCH, bad: bool = False) -> None:
        self.n, self.size, self.bad = n, size, bad

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        base = torch.rand(3, 8, 8, generator=g)
        scene = torch.nn.functional.interpolate(base[None], size=self.size + 16, mode="bilinear")[0]
        y, x = (int(v) for v in torch.randint(0, 8, (2,)) * 2)  # global RNG: the random crop
        srgb = scene[:, y : y + self.size, x : x + self.size].contiguous()
        lin = srgb**2.2
        raw = torch.stack(
            [lin[0, ::2, ::2], lin[1, ::2, 1::2], lin[1, 1::2, ::2], lin[2, 1::2, 1::2]]
        )
        if self.bad:
            raw = raw * float("nan")
        return raw, srgb


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny convolutions only lose time to threading on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        arch="rbn",
        quality=3,
        model_kwargs=dict(TINY_RBN),
        learning_rate=1e-3,
        lr_decay_step=1000,
        batch_size=2,
        patch_size=(PATCH, PATCH),
        save=str(tmp_path / "run"),
        checkpoint_every=0,
        val_every=0,
        log_every=1,
        print_every=1000,
        progress=False,
        tensorboard=False,
        export=False,
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


def make_trainer(
    tmp_path: Path, train: list[Dataset] | None = None, val: list[Dataset] | None = None, **kw
) -> Trainer:
    """A Trainer of :func:`config` on ``train`` (default: four toy pairs) and ``val``."""
    data = TrainingData(train if train is not None else [Pairs(4)], val or [])
    return Trainer(config(tmp_path, **kw), data)


def read_log(run: Path, split: str = "train") -> list[dict[str, str]]:
    with (run / "log.csv").open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


# -- loss and bookkeeping ---------------------------------------------------------------------


def test_rate_is_counted_over_srgb_output_pixels() -> None:
    raw, srgb = torch.rand(2, 4, 8, 8), torch.rand(2, 3, 16, 16)
    lik = {"y": torch.full((2, 5, 1, 1), 0.5), "z": torch.full((2, 3, 1, 1), 0.25)}
    bits = 2 * 5 * 1 + 2 * 3 * 2
    out = {"x_hat": srgb.clone(), "likelihoods": lik}
    terms = rd_loss(out, raw, srgb, TASKS["rbn"], 0.01, "raw")
    assert terms["bpp"].item() == pytest.approx(bits / (2 * 16 * 16))  # not / (2 * 8 * 8)
    assert terms["loss"].item() == pytest.approx(terms["bpp"].item())  # perfect reconstruction
    # The compression teacher reproduces the packed RAW; its rate is per corresponding sRGB pixel.
    out_raw = {"x_hat": raw + 0.1, "likelihoods": lik}
    t = rd_loss(out_raw, raw, raw, TASKS["raw-comp-teacher"], 0.01, "raw")
    assert t["bpp"].item() == pytest.approx(bits / (4 * 2 * 8 * 8))
    assert t["loss"].item() == pytest.approx(t["bpp"].item() + 0.01 * 255**2 * 0.01, rel=1e-5)
    # Distortion-only tasks minimise the MSE alone.
    d = rd_loss(out, srgb, srgb * 0.5, TASKS["isp-teacher"], 0.01, "srgb")
    assert d["loss"].item() == pytest.approx(d["mse"].item())
    with pytest.raises(ValueError, match="does not match the target"):
        rd_loss(out, raw, raw, TASKS["rbn"], 0.01, "raw")


def test_ms_ssim_loss_follows_compressai_convention(tmp_path: Path) -> None:
    raw, srgb = torch.rand(2, 4, 32, 32), torch.rand(2, 3, 64, 64)
    lik = {"y": torch.full((2, 5, 1, 1), 0.5)}
    perfect = rd_loss(
        {"x_hat": srgb, "likelihoods": lik}, raw, srgb, TASKS["rbn"], 8.7, "raw", "ms-ssim"
    )
    assert perfect["ms_ssim"].item() == pytest.approx(1.0, abs=1e-5)
    assert perfect["loss"].item() == pytest.approx(perfect["bpp"].item(), abs=1e-4)
    noisy = rd_loss(
        {"x_hat": (srgb + 0.1 * torch.randn_like(srgb)).clamp(0, 1), "likelihoods": lik},
        raw, srgb, TASKS["rbn"], 8.7, "raw", "ms-ssim",
    )  # fmt: skip
    expected = noisy["bpp"] + 8.7 * (1 - noisy["ms_ssim"])
    assert noisy["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(TrainingError, match="--metric ms-ssim needs --lambda"):
        make_trainer(tmp_path, metric="ms-ssim", max_steps=1)
    assert make_trainer(tmp_path, metric="ms-ssim", lmbda=8.7, max_steps=1).fit() == 0
    assert 0 < float(read_log(tmp_path / "run")[0]["ms_ssim"]) < 1


def test_sampler_is_resumable_sharded_and_seeded() -> None:
    s = ResumableSampler(10, seed=5)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, start=4)
    assert list(s) == full[4:]
    assert sorted(i for i, _ in full) == list(range(10))
    s.set_epoch(3)
    assert [i for i, _ in s] != [i for i, _ in full]
    shards = []
    for rank in range(3):
        r = ResumableSampler(10, seed=5, rank=rank, world_size=3)
        r.set_epoch(2)
        shards.append(list(r))
    assert {i for sh in shards for i, _ in sh} == set(range(10)) and len(shards[0]) == 4
    # The sample's content depends on its seed only, and the caller's RNG is left alone.
    ds = SeededDataset(Pairs(3))
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a, b = ds[(1, 77)], ds[(1, 77)]
    assert torch.equal(a[1], b[1]) and torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(ds[(1, 78)][1], a[1])


def test_compressai_isp_train_dispatches_here(capsys) -> None:
    from compressai_isp import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--help"])
    assert exc.value.code == 0 and "--teacher-enc-checkpoint" in capsys.readouterr().out


def test_cli_parsers() -> None:
    assert train_cli.parse_kwargs("N=64,M=96, decoder_width=16") == {
        "N": 64,
        "M": 96,
        "decoder_width": 16,
    }
    # Spaces separate items as well as commas ("N=64 M=96" used to reach the model as N="64 M=96").
    for spaced in ("N=64 M=96", " N = 64 , M=96"):
        assert train_cli.parse_kwargs(spaced) == {"N": 64, "M": 96}
    with pytest.raises(argparse.ArgumentTypeError, match="invalid --model-kwargs item 'M'"):
        train_cli.parse_kwargs("N=64 M")
    assert train_cli.parse_duration("1h30m") == 5400
    assert train_cli.parse_duration("90") == 90
    args = train_cli.parse_args(["--arch", "rbn", "-d", "x", "--lambda", "0.1", "-lr", "1e-4"])
    assert (args.arch, args.lmbda, args.learning_rate, args.batch_size) == ("rbn", 0.1, 1e-4, 8)
    assert tuple(args.patch_size) == (256, 256) and args.clip_max_norm == 1.0


# -- training --------------------------------------------------------------------------------


def test_a_few_dozen_steps_lower_the_loss(tmp_path: Path) -> None:
    assert make_trainer(tmp_path, max_steps=30, learning_rate=3e-3).fit() == 0
    losses = [float(r["loss"]) for r in read_log(tmp_path / "run")]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    ckpt = load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    assert ckpt["step"] == 30 and ckpt["arch"] == "rbn" and ckpt["lmbda"] == zoo.lambdas["rbn"][3]


TINY = {
    "rbn": TINY_RBN,
    "unified-raw": {"N": 8, "M": 8},
    "raw-comp-teacher": {"N": 8, "K": 8, "N_hyper": 8},
    "isp-teacher": {"N": 8, "M": 8, "N_hyper": 8, "decoder_width": 4},
    "liteispnet": {"width": 4},
    "cascaded": {"N": 8, "M": 8, "isp_width": 4},
    "comp-net": {"N": 8, "M": 8},
}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_every_architecture_trains(tmp_path: Path, arch: str) -> None:
    assert set(TINY) == set(TASKS) == set(zoo.image_models)
    trainer = make_trainer(tmp_path, arch=arch, model_kwargs=TINY[arch], max_steps=2)
    ctx = getattr(trainer.model, "context_prediction", None)
    if ctx is not None:  # CompressAI's MaskedConv2d masks its weight in place at every forward
        ctx.weight.data *= ctx.mask
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.fit() == 0
    rows = read_log(tmp_path / "run")
    assert len(rows) == 2 and all(math.isfinite(float(r["loss"])) for r in rows)
    if TASKS[arch].rate:
        assert float(rows[0]["bpp"]) > 0
    changed = {k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])}
    if arch == "cascaded":  # joint fine-tuning: the ISP-Net learns through the frozen Comp-Net
        assert changed and all(k.startswith("isp.") for k in changed)
    else:
        assert any(k.startswith(("g_", "head")) for k in changed)


def test_validation_best_checkpoint_and_export(tmp_path: Path) -> None:
    trainer = make_trainer(
        tmp_path, max_steps=4, val_every=2, val=[Pairs(1)], val_patches=2, export=True,
        tensorboard=True,
    )  # fmt: skip
    assert trainer.fit() == 0
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    val = read_log(tmp_path / "run", "val")
    assert [int(r["step"]) for r in val] == [2, 4]
    best = load_checkpoint(tmp_path / "run" / BEST_NAME)
    assert best["best_loss"] == pytest.approx(min(float(r["loss"]) for r in val))
    exported = torch.load(tmp_path / "run" / MODEL_NAME, weights_only=True)
    model = zoo.rbn(3, **exported["config"])
    model.load_state_dict(exported["state_dict"])  # CDF tables filled by update(): codec-ready


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_precision_and_memory_format_are_recorded(tmp_path: Path, precision: str) -> None:
    trainer = make_trainer(
        tmp_path, max_steps=2, precision=precision, channels_last=True, export=True
    )
    assert trainer.model.g_a[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert trainer.model.h_s[0].weight.is_contiguous()  # the entropy path keeps its layout
    assert trainer.fit() == 0
    recorded = {"precision": precision, "channels_last": True}
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)["precision"] == recorded
    exported = torch.load(tmp_path / "run" / MODEL_NAME, weights_only=True)
    assert exported["training_precision"] == recorded


def test_pretrained_fine_tuning_exports_with_the_weights_own_widths(tmp_path: Path) -> None:
    kw = dict(quality=6, model_kwargs={}, pretrained=True, max_steps=1, export=True)
    assert make_trainer(tmp_path, **kw).fit() == 0
    exported = torch.load(tmp_path / "run" / MODEL_NAME, weights_only=True)
    assert exported["config"] == zoo.rbn(6, pretrained=True).config


def test_auto_precision_follows_the_cpu(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=1)
    expected = "bf16" if native_bf16("cpu") else "fp32"
    assert trainer.model.transform_precision.describe()["precision"] == expected


def _teacher_files(tmp_path: Path) -> tuple[str, str]:
    enc = zoo.raw_comp_teacher(3, N=8, K=12, N_hyper=8)
    dec = zoo.isp_teacher(3, N=8, M=8, N_hyper=8, decoder_width=4)
    paths = tmp_path / "enc.pth", tmp_path / "dec.pth"
    torch.save(enc.state_dict(), paths[0])
    torch.save({"state_dict": dec.state_dict()}, paths[1])
    return str(paths[0]), str(paths[1])


def test_distillation_terms_follow_eq3_and_leave_no_hooks(tmp_path: Path) -> None:
    enc, dec = _teacher_files(tmp_path)
    gamma = 0.9
    trainer = make_trainer(
        tmp_path,
        max_steps=3,
        teacher_enc=TeacherConfig("raw-comp-teacher", enc, 1e6),
        teacher_dec=TeacherConfig("isp-teacher", dec, 1e5),
        kd_gamma=gamma,
        kd_unit="step",
    )
    enc_pairs = trainer.distiller.teachers[0]._pairs
    assert [s for s, _ in enc_pairs] == ["g_a.0", "g_a.2", "g_a.4", "g_a.6"]
    dec_pairs = [s for s, _ in trainer.distiller.teachers[1]._pairs]
    assert "g_s.middle.conv_out" in dec_pairs and "g_s.tail.conv_out" in dec_pairs
    assert not any(".gate." in s for s in dec_pairs)  # 1x1 channel-attention outputs skipped
    assert trainer.fit() == 0
    rows = read_log(tmp_path / "run")
    for k, row in enumerate(rows):  # k = steps completed before this one
        assert float(row["alpha/enc"]) == pytest.approx(1e6 * gamma ** (k**2))
        assert float(row["alpha/dec"]) == pytest.approx(1e5 * gamma ** (k**2))
        enc_terms = sum(float(row[f"kd/enc/{s}"]) for s, _ in enc_pairs)
        assert float(row["kd/enc"]) == pytest.approx(float(row["alpha/enc"]) * enc_terms, rel=1e-4)
        assert float(row["kd"]) > 0
        assert float(row["loss"]) == pytest.approx(
            float(row["bpp"])
            + zoo.lambdas["rbn"][3] * 255**2 * float(row["mse"])
            + float(row["kd"]),
            rel=1e-4,
        )
    # After training the student carries no hook: distillation costs nothing at inference.
    assert all(not m._forward_hooks for m in trainer.model.modules())
    assert GAMMA == 0.99999  # the CLI default


def test_teacher_without_checkpoint_uses_the_zoo_or_says_what_is_missing(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path / "empty-zoo"))
    zoo_teacher = TeacherConfig("raw-comp-teacher", None, 1e6)
    with pytest.raises(TrainingError, match="no usable zoo weights .* --teacher-enc-checkpoint"):
        make_trainer(tmp_path, max_steps=1, teacher_enc=zoo_teacher)
    bad = TeacherConfig("raw-comp-teacher", str(tmp_path / "nope.pth"), 1e6)
    with pytest.raises(TrainingError, match="--teacher-enc-checkpoint: .*nope.pth does not exist"):
        make_trainer(tmp_path, max_steps=1, teacher_enc=bad)


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    ref = make_trainer(tmp_path / "a", max_steps=5)
    ref.fit()
    first = make_trainer(tmp_path / "b", max_steps=2)
    first.fit()
    again = make_trainer(tmp_path / "b", max_steps=5)  # same --save: resumes at step 2
    again.fit()
    a, b = read_log(tmp_path / "a" / "run"), read_log(tmp_path / "b" / "run")
    assert [r["step"] for r in b] == ["1", "2", "3", "4", "5"]
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # bit-identical, not approximately


def test_data_stream_does_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    make_trainer(tmp_path / "w0", max_steps=3, num_workers=0).fit()
    make_trainer(tmp_path / "w2", max_steps=3, num_workers=2).fit()
    losses = [[r["loss"] for r in read_log(tmp_path / w / "run")] for w in ("w0", "w2")]
    assert losses[0] == losses[1]


def test_resumed_command_sets_the_learning_rate_schedule(tmp_path: Path) -> None:
    make_trainer(tmp_path, max_steps=2).fit()
    make_trainer(tmp_path, max_steps=4, learning_rate=2e-4, lr_decay_step=3).fit()
    assert [float(r["lr"]) for r in read_log(tmp_path / "run")] == pytest.approx(
        [1e-3, 1e-3, 2e-4, 2e-5]
    )


def test_nan_loss_stops_with_a_checkpoint_to_resume_from(tmp_path: Path, capsys) -> None:
    trainer = make_trainer(tmp_path, max_steps=3, train=[Pairs(4, bad=True)])
    with pytest.raises(RuntimeError, match=r"loss is nan at step 1 .*--checkpoint"):
        trainer.fit()
    ckpt = load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    assert ckpt["step"] == 0


class TermAt(Pairs):
    """Sends this process SIGTERM when item ``at`` is loaded (a scheduler's pre-emption)."""

    def __init__(self, n: int, at: int) -> None:
        super().__init__(n)
        self.calls, self.at = 0, at

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().__getitem__(i)


def test_sigterm_stops_at_the_step_boundary_with_a_checkpoint(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    trainer = make_trainer(tmp_path, max_steps=50, train=[TermAt(4, at=3)])  # during step 2's batch
    assert trainer.fit() == 128 + signal.SIGTERM
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored


def test_configuration_errors_are_one_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(TrainingError, match="give --lambda or --quality"):
        make_trainer(tmp_path, quality=None, max_steps=1)
    with pytest.raises(TrainingError, match="fewer than --batch-size"):
        make_trainer(tmp_path, batch_size=8, max_steps=1)
    with pytest.raises(TrainingError, match="--model-kwargs"):
        make_trainer(tmp_path, model_kwargs={"width": 3}, max_steps=1)
    rc = train_cli.main(["-m", "rbn", "-q", "1", "-d", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "missing does not exist" in err and len(err.splitlines()) == 1
    rc = train_cli.main(["-d", str(tmp_path), "--teacher-enc-checkpoint", "x.pth"])
    assert rc == 2 and "needs --teacher-enc" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        train_cli.main(["-d", str(tmp_path), "--precision", "int8"])
    assert stop.value.code == 2
    assert "--precision: invalid choice: 'int8'" in capsys.readouterr().err

    with pytest.raises(TrainingError, match=r"--model-kwargs N='abc'.*: rbn refuses them"):
        make_trainer(tmp_path, model_kwargs={**TINY_RBN, "N": "abc"}, max_steps=1)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_zero_time_budget_is_refused_and_writes_nothing(tmp_path: Path, capsys) -> None:
    data = _png_folder(tmp_path / "png", n=2)
    save = tmp_path / "run"
    assert train_cli.main(_cli(tmp_path, data, save, "--max-time", "0")) == 2
    assert "--max-time must be longer than 0 s" in _one_line_error(capsys)
    assert not save.exists()  # no log.csv, no tb/


def test_a_patch_the_model_cannot_take_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    data = _png_folder(tmp_path / "png", n=2)
    argv = _cli(tmp_path, data, tmp_path / "run", "--max-steps", "1")
    at = argv.index("--patch-size")
    argv[at + 1 : at + 3] = ["64", "64"]  # RBN's packed-RAW input must be a multiple of 64
    assert train_cli.main(argv) == 2
    err = _one_line_error(capsys)
    assert "--patch-size 64 64: --model rbn needs" in err and "multiples of 128" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()  # nothing decoded


def test_a_checkpoint_without_training_state_is_not_resumed(tmp_path: Path) -> None:
    make_trainer(tmp_path, max_steps=1).fit()
    path = tmp_path / "run" / CHECKPOINT_NAME
    state = load_checkpoint(path)
    del state["seed"]
    save_checkpoint(state, path)
    with pytest.raises(TrainingError, match=r"not a compressai-isp training .*\(no seed\)"):
        make_trainer(tmp_path, max_steps=2)
    # Another trainer's checkpoint (CompressAI's examples/train.py) points to --init.
    foreign = tmp_path / "compressai.pth.tar"
    torch.save({"epoch": 3, "state_dict": state["state_dict"], "loss": 1.0}, foreign)
    with pytest.raises(TrainingError, match=rf"use --init {re.escape(str(foreign))}"):
        make_trainer(tmp_path, max_steps=2, checkpoint=str(foreign))


def test_the_best_score_survives_any_stop_and_resume(tmp_path: Path, monkeypatch) -> None:
    scores = iter([10.0, 5.0, 7.0, 6.0])  # validations at steps 2, 3 (final), 4, 5 (final)

    def scripted_validation(self: Trainer) -> dict[str, float]:
        return {"loss": next(scores), "mse": 0.0, "bpp": 0.0, "psnr": 0.0}

    monkeypatch.setattr(Trainer, "validate", scripted_validation)
    run = tmp_path / "run"
    kw = dict(val_every=2, val=[Pairs(1)], export=True)
    make_trainer(tmp_path, max_steps=3, **kw).fit()
    assert load_checkpoint(run / CHECKPOINT_NAME)["best_loss"] == 5.0  # the final validation's
    make_trainer(tmp_path, max_steps=4, **kw).fit()  # resumed: 7.0 is worse than 5.0
    assert load_checkpoint(run / BEST_NAME)["step"] == 3
    # Killed between writing the best file and the checkpoint: the checkpoint's score is stale.
    state = load_checkpoint(run / CHECKPOINT_NAME)
    save_checkpoint({**state, "best_loss": 10.0}, run / CHECKPOINT_NAME)
    make_trainer(tmp_path, max_steps=5, **kw).fit()  # 6.0: better than 10, worse than 5
    assert load_checkpoint(run / BEST_NAME)["best_loss"] == 5.0
    assert torch.load(run / MODEL_NAME, weights_only=True)["step"] == 3


class _Terminal(io.StringIO):
    """Captured output that tqdm takes for a terminal, so that it draws its bar."""

    def isatty(self) -> bool:
        return True


def test_end_of_run_lines_are_printed_above_the_progress_bar(tmp_path: Path, monkeypatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert make_trainer(tmp_path, max_steps=2, progress=True, export=True).fit() == 0
    text = terminal.getvalue()
    assert "2/2" in text  # the bar was drawn
    for start in ("exported ", "stopped at step 2"):
        (line,) = [ln for ln in text.split("\n") if start in ln]
        assert re.search(rf"(^|\r){start}", line), line  # not after the bar's text


# -- the real CLI: kill -9 and resume, torchrun with two gloo processes ---------------------


def _png_folder(root: Path, n: int = 4, size: int = 160) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BILINEAR).save(root / f"img{i}.png")
    return root


def _cli(tmp_path: Path, data: Path, save: Path, *extra: str) -> list[str]:
    return [
        "-m", "rbn", "-q", "2", "--model-kwargs", TINY_RBN_ARG,
        "-d", f"synthetic:{data}", "--patch-size", str(PATCH), str(PATCH),
        "--batch-size", "2", "-lr", "1e-3", "--lr-decay-step", "1000", "--seed", "11", "-n", "0",
        "--threads", "1", "--cache-dir", str(tmp_path / "cache"),
        "--log-every", "1", "--no-progress", "--no-tensorboard", "--no-export",
        "--save", str(save), *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_dataset_specs_mix_real_and_synthetic_raw(tmp_path: Path) -> None:
    from compressai_isp.data import make_synthetic_dng

    raw_dir = tmp_path / "dng"
    raw_dir.mkdir()
    for i in range(4):
        make_synthetic_dng(raw_dir / f"shot{i}.dng", i + 1, size=(160, 160))
    png = _png_folder(tmp_path / "png")
    argv = _cli(tmp_path, png, tmp_path / "mix", "--max-steps", "1", "--val-every", "1")
    argv[argv.index(f"synthetic:{png}")] = f"raw:{raw_dir}"
    argv += ["-d", str(png)]  # a bare folder of images is synthetic RAW
    data = train_cli.data_from_config(train_cli.config_from_args(train_cli.parse_args(argv)))
    # Each folder's train split: synthetic folders hold out a validation and a test split too.
    assert [len(d) for d in data.train] == [2, 2]
    assert [len(d) for d in data.val] == [1]  # validation on real RAW only
    raw, srgb = data.train[0][0]
    assert raw.shape == (4, PATCH // 2, PATCH // 2) and srgb.shape == (3, PATCH, PATCH)
    assert train_cli.main(argv) == 0
    assert [r["split"] for r in csv.DictReader((tmp_path / "mix" / "log.csv").open())] == [
        "train",
        "val",
    ]


@pytest.mark.slow
def test_resume_after_sigkill_continues_exactly(tmp_path: Path) -> None:
    data = _png_folder(tmp_path / "png")
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "compressai_isp.train",
         *_cli(tmp_path, data, killed, "--max-steps", "1000", "--checkpoint-every", "2")],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    ckpt = killed / CHECKPOINT_NAME
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpt.is_file() and load_checkpoint(ckpt)["step"] >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    k = load_checkpoint(ckpt)["step"]
    assert k >= 2  # the kill may have left a temp file of a write in progress ...

    # Rerunning the same command resumes from the checkpoint (and removes that temp file) ...
    assert train_cli.main(_cli(tmp_path, data, killed, "--max-steps", str(k + 1))) == 0
    assert not list(killed.glob(".*.tmp"))
    resumed = read_log(killed)
    assert [int(r["step"]) for r in resumed] == list(range(1, k + 2))  # rows past k dropped
    # ... and step k+1 has exactly the loss of an uninterrupted run.
    ref = tmp_path / "ref"
    assert train_cli.main(_cli(tmp_path, data, ref, "--max-steps", str(k + 1))) == 0
    assert read_log(ref)[k]["loss"] == resumed[k]["loss"]


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(tmp_path: Path) -> None:
    data = _png_folder(tmp_path / "png", n=4)
    save = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "compressai_isp.train",
        *_cli(tmp_path, data, save, "--max-steps", "2", "--batch-size", "1"),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = load_checkpoint(save / CHECKPOINT_NAME)
    assert ckpt["step"] == 2 and ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    assert "x 2 process(es)" in done.stdout
    assert all(math.isfinite(float(r["loss"])) for r in read_log(save))


def test_a_raw_teacher_must_read_the_students_input_space(tmp_path: Path) -> None:
    enc, _ = _teacher_files(tmp_path)  # a bare state dict: taken to be in the student's space
    student = {**TINY_RBN, "input_space": "camera-normalised"}
    trainer = make_trainer(tmp_path / "a", max_steps=1, model_kwargs=student,
                           teacher_enc=TeacherConfig("raw-comp-teacher", enc, 1e6))  # fmt: skip
    assert trainer.distiller.teachers[0].module.input_space == "camera-normalised"
    paper = zoo.raw_comp_teacher(3, N=8, K=12, N_hyper=8)
    recorded = tmp_path / "paper.pth"
    torch.save({"arch": "raw-comp-teacher", "config": paper.config,
                "state_dict": paper.state_dict()}, recorded)  # fmt: skip
    other_space = TeacherConfig("raw-comp-teacher", str(recorded), 1e6)
    with pytest.raises(TrainingError, match="holds input_space 'paper', not .*camera-normalised"):
        make_trainer(tmp_path / "b", max_steps=1, model_kwargs=student, teacher_enc=other_space)


def test_a_checkpoint_from_before_input_spaces_resumes_as_paper(tmp_path: Path) -> None:
    make_trainer(tmp_path, max_steps=1).fit()
    path = tmp_path / "run" / CHECKPOINT_NAME
    state = load_checkpoint(path)
    del state["model_config"]["input_space"]  # as written before the models had one
    torch.save(state, path)
    trainer = make_trainer(tmp_path, max_steps=2)
    assert trainer.fit() == 0 and trainer.model.input_space == "paper"
