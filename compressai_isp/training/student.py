"""The model a run trains: built from the zoo, initialised, set up for its architecture.

Also the run's λ (the zoo ladder of the quality unless ``--lambda`` is given) and the checks a
student must pass before any data is read (its constructor arguments and patch size).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from compressai_isp import zoo
from compressai_isp.io import ModelIdentity, load_state_file
from compressai_isp.precision import set_transform_precision
from compressai_isp.registry import MODELS
from compressai_isp.training.arch_setup import SetupContext, apply_arch_setup
from compressai_isp.training.checkpointing import find_resume_state
from compressai_isp.training.config import DEFAULT_INPUT_SPACE, TrainConfig
from compressai_isp.training.errors import TrainingError
from compressai_isp.training.tasks import TASKS, Task, freeze_for_task
from compressai_isp.training.weights import load_into, load_state_dict

__all__ = [
    "build_model",
    "build_student",
    "check_input_space",
    "check_patch_size",
    "check_student",
    "rate_lambda",
    "resolve_input_space",
    "student_kwargs",
    "student_quality",
]


def build_model(
    arch: str, quality: int, metric: str, model_kwargs: dict[str, Any], pretrained: bool = False
) -> nn.Module:
    """The zoo model a run trains; bad ``--model-kwargs`` raise a one-line TrainingError."""
    try:
        return zoo.image_models[arch](quality, metric=metric, pretrained=pretrained, **model_kwargs)
    except TypeError as err:
        given = ",".join(f"{k}={v!r}" for k, v in model_kwargs.items())
        raise TrainingError(f"--model-kwargs {given}: {arch} refuses them ({err})") from None
    except (ValueError, LookupError) as err:
        raise TrainingError(str(err)) from None


def check_patch_size(model: nn.Module, patch_size: tuple[int, int], what: str) -> None:
    """Refuse a ``--patch-size`` (sRGB pixels) whose model input ``model`` cannot take."""
    factor = int(getattr(model, "downsampling_factor", 1))
    # A packed-RAW input has half the sRGB patch's sides.
    multiple = factor * (2 if getattr(model, "input_kind", "raw") == "raw" else 1)
    h, w = patch_size
    if h % multiple or w % multiple:
        fit = [max(multiple, round(v / multiple) * multiple) for v in (h, w)]
        raise TrainingError(
            f"--patch-size {h} {w}: {what} needs patch sides (sRGB pixels) that are multiples of "
            f"{multiple}, e.g. --patch-size {fit[0]} {fit[1]}"
        )


def student_quality(cfg: TrainConfig) -> int:
    """The quality the student is built at (the zoo's first when ``--quality`` is not given)."""
    return cfg.quality if cfg.quality is not None else 1


def student_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """``--model-kwargs`` plus the run's input space for a RAW-input model (a RAW model records
    it, so its encoder normalises a photo the way it was trained). An ``input_space`` among the
    kwargs wins: a library caller's in-memory datasets carry no space of their own."""
    kwargs = dict(cfg.model_kwargs)
    space = kwargs.pop("input_space", cfg.input_space)
    if MODELS[cfg.arch].input_kind == "raw":
        kwargs["input_space"] = space
    return kwargs


def resolve_input_space(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its input space decided: as given, else the space of the weights the run
    continues (a checkpoint it resumes, ``--init``, ``--pretrained``), else
    :data:`~compressai_isp.training.config.DEFAULT_INPUT_SPACE`."""
    if cfg.input_space is not None:
        return cfg
    space = cfg.model_kwargs.get("input_space") or _inherited_input_space(cfg)
    return dataclasses.replace(cfg, input_space=space or DEFAULT_INPUT_SPACE)


def _inherited_input_space(cfg: TrainConfig) -> str | None:
    if MODELS[cfg.arch].input_kind != "raw":
        return None
    state, _ = find_resume_state(cfg)
    if state is None and cfg.init is not None:
        try:
            state = load_state_file(cfg.init)
        except ValueError as err:
            raise TrainingError(f"--init: {err}") from None
    if state is not None:
        # The weights go into this run's architecture with the config the file records; files
        # written before input spaces existed, and bare state dicts, record none.
        config = ModelIdentity.from_record(state).config
        return ModelIdentity(cfg.arch, cfg.quality, cfg.metric, config).input_space
    if cfg.pretrained:
        try:
            return zoo.get_weights(cfg.arch, student_quality(cfg), cfg.metric).input_space
        except (LookupError, ValueError) as err:
            raise TrainingError(str(err)) from None
    return None


def check_input_space(cfg: TrainConfig) -> None:
    """On the command line the data's ``--input-space`` is the model's: refuse a contradiction."""
    declared = cfg.model_kwargs.get("input_space", cfg.input_space)
    if declared != cfg.input_space:
        raise TrainingError(
            f"--model-kwargs input_space={declared} contradicts --input-space {cfg.input_space}"
        )


def check_student(cfg: TrainConfig) -> None:
    """Build the student once to refuse bad ``--model-kwargs`` or a patch it cannot take
    before any data is decoded."""
    probe = build_model(cfg.arch, student_quality(cfg), cfg.metric, student_kwargs(cfg))
    check_patch_size(probe, cfg.patch_size, f"--model {cfg.arch}")


def build_student(
    cfg: TrainConfig, ctx: SetupContext, device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """The student in training mode on ``device``: zoo model, ``--init`` weights, the
    architecture's set-up, frozen where its task says, transforms in ``dtype``."""
    model = build_model(
        cfg.arch, student_quality(cfg), cfg.metric, student_kwargs(cfg), pretrained=cfg.pretrained
    )
    check_patch_size(model, cfg.patch_size, f"--model {cfg.arch}")
    model.train()
    if cfg.init is not None:
        load_into(model, load_state_dict(cfg.init), cfg.init, "--init")
    apply_arch_setup(model, cfg, ctx)
    freeze_for_task(model, TASKS[cfg.arch])
    model.to(device)
    set_transform_precision(model, dtype, cfg.channels_last)
    return model


def rate_lambda(cfg: TrainConfig, task: Task) -> float:
    """λ of the loss: ``--lambda``, else the zoo's ladder at ``--quality`` (MSE ladders only);
    0 for distortion-only tasks without one."""
    if not task.rate:
        return float(cfg.lmbda) if cfg.lmbda is not None else 0.0
    lmbda = cfg.lmbda
    if lmbda is None and cfg.metric != "mse":
        raise TrainingError(f"--metric {cfg.metric} needs --lambda (the zoo's ladders are for MSE)")
    if lmbda is None and cfg.quality is not None:
        lmbda = zoo.lambdas[cfg.arch].get(cfg.quality)
    if lmbda is None:
        raise TrainingError(
            f"--model {cfg.arch} is trained for rate-distortion: give --lambda or --quality"
        )
    return float(lmbda)
