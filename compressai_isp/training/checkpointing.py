"""What a run keeps on disk besides its logs: the checkpoint to resume, the best one, the export.

:mod:`.checkpoint` is the file format (atomic writes, RNG capture; files are read by the safe
reader of :mod:`compressai_isp.io`); this module decides which file a run resumes, checks that
it fits, and writes ``model_best.pth``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from torch import nn

from compressai_isp import zoo
from compressai_isp.io import UNRECORDED_INPUT_SPACE, ModelIdentity, remove_stale_temps
from compressai_isp.training.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    MODEL_NAME,
    load_checkpoint,
    save_checkpoint,
)
from compressai_isp.training.config import TrainConfig, config_record
from compressai_isp.training.errors import TrainingError

__all__ = [
    "RESUME_KEYS",
    "best_on_disk",
    "check_model_config",
    "export_model",
    "find_resume_state",
    "remove_stale_outputs",
]

#: What a resumed run reads from its checkpoint (a weight file has only ``state_dict``).
RESUME_KEYS = (
    "arch", "state_dict", "optimizer", "lr_scheduler", "scaler", "step", "epoch",
    "batch_in_epoch", "seed",
)  # fmt: skip


def find_resume_state(cfg: TrainConfig) -> tuple[dict[str, Any] | None, str | None]:
    """The training state to resume (``--checkpoint``, else the ``--save`` directory's unless
    ``--no-resume``) and its path; ``(None, None)`` for a fresh run."""
    path = cfg.checkpoint
    own = cfg.save_dir / CHECKPOINT_NAME
    if path is None and cfg.resume and own.is_file():
        path = str(own)
    if path is None:
        return None, None
    try:
        state = load_checkpoint(path)
    except ValueError as err:
        raise TrainingError(str(err)) from None
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise TrainingError(
            f"checkpoint {path} is not a compressai-isp training checkpoint (no "
            f"{', '.join(missing)}); to start from its weights, use --init {path}"
        )
    if state.get("arch") != cfg.arch:
        raise TrainingError(
            f"checkpoint {path} is for --model {state.get('arch')!r}, not {cfg.arch!r}"
        )
    return state, path


def check_model_config(state: dict[str, Any], model: nn.Module, path: str) -> None:
    """Refuse a checkpoint of other widths (or input space) than the model this run builds.

    Checkpoints older than the input spaces record none: their RAW models read ``"paper"``."""
    saved, now = state.get("model_config"), getattr(model, "config", None)
    if isinstance(saved, dict) and isinstance(now, dict) and "input_space" in now:
        saved = {"input_space": UNRECORDED_INPUT_SPACE, **saved}
    if saved is not None and now is not None and saved != now:
        raise TrainingError(
            f"checkpoint {path} was trained with {saved}, this run builds {now} (pass the same "
            "--model-kwargs / --quality)"
        )


def best_on_disk(save_dir: Path) -> float:
    """The score of the best file (it may be newer than the checkpoint: a kill between the two
    writes)."""
    best = save_dir / BEST_NAME
    if not best.is_file():
        return math.inf
    try:
        return float(load_checkpoint(best).get("best_loss", math.inf))
    except (ValueError, TypeError) as err:
        print(f"warning: ignoring the best score of {best}: {err}", file=sys.stderr)
        return math.inf


def remove_stale_outputs(save_dir: Path) -> None:
    """A SIGKILL during a checkpoint write leaves its temp file behind: remove those."""
    remove_stale_temps(save_dir, (CHECKPOINT_NAME, BEST_NAME, MODEL_NAME))


def export_model(
    cfg: TrainConfig, quality: int, lmbda: float, widths: dict[str, Any], datasets: list[str]
) -> Path:
    """``model_best.pth``: the best (else latest) weights with the entropy coder's tables.

    ``widths`` are the trained model's own constructor arguments (``--pretrained`` weights may
    differ from the zoo's defaults), built at ``quality``; the identity recorded is the run's
    (:meth:`~compressai_isp.io.ModelIdentity.record`: its ``--quality``, ``None`` without one)
    and the run's whole config is recorded as ``train_config``.
    """
    best = cfg.save_dir / BEST_NAME
    st = load_checkpoint(best if best.is_file() else cfg.save_dir / CHECKPOINT_NAME)
    model = zoo.image_models[cfg.arch](quality, **widths)
    model.load_state_dict(st["state_dict"])
    if hasattr(model, "update"):
        model.update(force=True)
    identity = ModelIdentity(cfg.arch, cfg.quality, cfg.metric, getattr(model, "config", {}))
    out = {
        **identity.record(),
        "lmbda": lmbda,
        "step": st["step"],
        "best_loss": st.get("best_loss"),
        "training_precision": st.get("precision"),
        "training_data": {
            "datasets": list(datasets),
            "input_space": cfg.input_space,
            "synthetic_isp": cfg.synthetic_isp,
            "synthetic_noise_draws": cfg.synthetic_noise_draws,
        },
        "train_config": config_record(cfg),
        "state_dict": model.state_dict(),
    }
    return save_checkpoint(out, cfg.save_dir / MODEL_NAME)
