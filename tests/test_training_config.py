"""One definition of a run: the CLI is generated from TrainConfig, the config is recorded whole,
and the trainer is built from parts (architecture hooks, public distill API, short functions)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch
from test_train import TINY, make_trainer, read_log

from compressai_isp import zoo
from compressai_isp.registry import ARCHITECTURES
from compressai_isp.train import build_parser, config_from_args, parse_args
from compressai_isp.training.checkpoint import CHECKPOINT_NAME, MODEL_NAME, load_checkpoint
from compressai_isp.training.config import (
    TeacherConfig,
    TrainConfig,
    config_from_namespace,
    config_record,
)
from compressai_isp.training.errors import TrainingError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PACKAGE = Path(__file__).resolve().parents[1] / "compressai_isp"
#: Code of the trainer and of distillation: short functions, layers pointing down.
TRAINER_FILES = sorted(
    [
        PACKAGE / "train.py",
        *(PACKAGE / "training").glob("*.py"),
        *(PACKAGE / "distill").glob("*.py"),
    ]
)


def test_every_flag_sets_the_config_field_it_is_declared_on(tmp_path: Path) -> None:
    argv = [
        "-m", "liteispnet", "-q", "2", "--lambda", "0.5", "--metric", "ms-ssim",
        "--model-kwargs", "width=4", "--pretrained", "--init", "i.pth", "--isp-init", "s.pth",
        "--comp-init", "c.pth",
        "--teacher-enc", "raw-comp-teacher", "--teacher-enc-checkpoint", "e.pth",
        "--kd-alpha-enc", "7", "--kd-gamma", "0.5", "--kd-unit", "step", "--kd-attention", "abs",
        "--kd-p", "2", "-d", "raw:a", "-d", "b", "--patch-size", "64", "32", "--batch-size", "3",
        "--test-batch-size", "5", "-n", "1", "--val-dataset", "v", "--val-patches", "0",
        "--no-val", "--cache-dir", "none", "--input-space", "camera-normalised",
        "--synthetic-isp", "unprocessing", "--synthetic-noise-draws", "3", "--strict-data",
        "-e", "4", "--max-steps", "9",
        "--max-time", "1h30m", "-lr", "0.01", "--lr-decay-step", "6", "--lr-decay-factor", "0.5",
        "--aux-learning-rate", "0.2", "--clip_max_norm", "0", "--seed", "8", "--cuda",
        "--precision", "fp32", "--no-channels-last", "--compile", "--threads", "2",
        "--save", str(tmp_path), "--checkpoint", "c.pth", "--no-resume",
        "--checkpoint-every", "11", "--val-every", "12", "--log-every", "0", "--print-every", "13",
        "--no-progress", "--no-tensorboard", "--no-export",
    ]  # fmt: skip
    cfg = config_from_namespace(parse_args(argv))
    defaults = TrainConfig()
    unchanged = [f.name for f in dataclasses.fields(TrainConfig)
                 if getattr(cfg, f.name) == getattr(defaults, f.name)]  # fmt: skip
    assert unchanged == ["teacher_dec"]  # the one flag group not given above
    assert cfg.teacher_enc == TeacherConfig("raw-comp-teacher", "e.pth", 7.0)
    assert cfg.patch_size == (64, 32) and cfg.max_time == 5400
    assert (cfg.val_patches, cfg.log_every) == (1, 1)  # at least one
    assert cfg.datasets == ["raw:a", "b"] and cfg.validate is False


def test_the_parser_has_a_field_for_every_flag_and_cli_defaults_match() -> None:
    dests = {a.dest for a in build_parser()._actions if a.dest != "help"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    # A teacher field is read from three flags: its architecture's and these two.
    assert dests - fields == {"kd_alpha_enc", "kd_alpha_dec", "teacher_enc_checkpoint",
                              "teacher_dec_checkpoint"}  # fmt: skip
    assert fields - dests == set()
    cfg = config_from_args(
        parse_args(["-d", "x", "--model-kwargs", "N=8,M=8,N_hyper=8,decoder_width=4"])
    )
    assert cfg.save == "runs/rbn" and cfg.epochs is None and cfg.learning_rate == 5e-5


def test_checkpoints_and_exports_record_the_whole_config_and_metric(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, metric="ms-ssim", lmbda=8.7, max_steps=1, export=True)
    assert trainer.fit() == 0
    run = tmp_path / "run"
    for name in (CHECKPOINT_NAME, MODEL_NAME):
        state = load_checkpoint(run / name)  # weights-only: the record is plain types
        assert state["metric"] == "ms-ssim"
        recorded = state["train_config"]
        assert recorded == config_record(trainer.cfg)
        assert recorded["lmbda"] == 8.7 and recorded["kd_gamma"] == trainer.cfg.kd_gamma
        recipe = (recorded["input_space"], recorded["synthetic_isp"])
        assert recipe == ("camera-normalised", "libraw")  # the defaults of a fresh run
        assert TrainConfig(**recorded) == trainer.cfg
    # The model loader reads the metric of a training checkpoint (it used to say "mse").
    assert zoo.load_model_file(run / CHECKPOINT_NAME).metric == "ms-ssim"


def test_the_trainer_leaves_its_config_as_given(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=None)
    assert trainer.cfg.epochs is None and trainer.epochs == 100  # the default budget


def test_options_of_another_architecture_are_refused(tmp_path: Path) -> None:
    assert {name for name, spec in ARCHITECTURES.items() if spec.setup} == {"cascaded"}
    with pytest.raises(
        TrainingError, match="--isp-init / --comp-init only apply to --model cascaded"
    ):
        make_trainer(tmp_path, max_steps=1, isp_init="x.pth")


def test_the_cascade_hook_loads_its_isp_weights(tmp_path: Path) -> None:
    isp = zoo.liteispnet(1, width=4)
    torch.save(isp.state_dict(), tmp_path / "isp.pth")
    kw = dict(arch="cascaded", model_kwargs=TINY["cascaded"], max_steps=1)
    trainer = make_trainer(tmp_path, isp_init=str(tmp_path / "isp.pth"), **kw)
    for key, value in isp.state_dict().items():
        assert torch.equal(trainer.model.isp.state_dict()[key], value)


def test_the_learning_rate_logged_is_the_schedules(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=3, lr_decay_step=2)
    assert trainer.fit() == 0
    assert [float(r["lr"]) for r in read_log(tmp_path / "run")] == pytest.approx([1e-3, 1e-3, 1e-4])
    assert trainer.optim.scheduler.get_last_lr() == pytest.approx([1e-4])


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_trainer_or_distill_function_is_longer_than_50_lines() -> None:
    long = [f"{p.name}:{f.name} ({f.end_lineno - f.lineno + 1})" for p in TRAINER_FILES
            for f in _functions(p) if f.end_lineno - f.lineno + 1 > 50]  # fmt: skip
    assert long == []


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def test_distill_knows_nothing_of_training_and_the_trainer_uses_its_public_api() -> None:
    for path in TRAINER_FILES:
        for module, names in _imports(path):
            if "distill" in path.parts:
                assert not module.startswith("compressai_isp.train"), (path.name, module)
            elif module.startswith("compressai_isp.distill"):
                assert not any(n.startswith("_") for n in names), (path.name, names)
        attributes = {n.attr for n in ast.walk(ast.parse(path.read_text()))
                      if isinstance(n, ast.Attribute)}  # fmt: skip
        if "distill" not in path.parts:
            assert not attributes & {"_pairs", "_last_lr"}, path.name


def test_imports_are_at_the_top_of_every_trainer_file() -> None:
    for path in TRAINER_FILES:
        for f in _functions(path):
            inner = [n for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert inner == [], f"{path.name}:{f.name}"
