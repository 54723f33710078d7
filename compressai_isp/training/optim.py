"""Optimisation of a run: the main and auxiliary Adam, the step schedule, the AMP scaler.

The learning rate is a function of the step and the config alone (``-lr``, then
``--lr-decay-factor`` times it from ``--lr-decay-step`` on), so a resumed run rebuilds the
schedule from its own flags at the checkpoint's step: unchanged flags give the rates the
uninterrupted run had, changed ones (e.g. a lower ``-lr`` after a divergence) take effect.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from compressai_isp.training.config import TrainConfig
from compressai_isp.training.errors import TrainingError
from compressai_isp.training.tasks import aux_parameters, main_parameters

__all__ = ["Optimisation", "decay_step"]


def decay_step(cfg: TrainConfig) -> int | None:
    """The step at which the rate drops; by default 0.9·max-steps (the paper decays for the
    last ~10 %, §4.1)."""
    if cfg.lr_decay_step is None and cfg.max_steps is not None:
        return int(0.9 * cfg.max_steps)
    return cfg.lr_decay_step


class Optimisation:
    """Optimisers, schedule and gradient scaler of ``model``'s trainable parameters."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, dtype: torch.dtype, device_type: str):
        params = [p for _, p in main_parameters(model)]
        if not params:
            raise TrainingError(f"--model {cfg.arch}: nothing to train")
        self.cfg = cfg
        self.aux_params = [p for _, p in aux_parameters(model)]
        self.optimizer = torch.optim.Adam(params, lr=cfg.learning_rate)
        self.aux_optimizer = (
            torch.optim.Adam(self.aux_params, lr=cfg.aux_learning_rate) if self.aux_params else None
        )
        self.decay_step = decay_step(cfg)
        # fp16's narrow range needs loss scaling; bf16 has fp32's exponent and does not.
        self.scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)
        self.scheduler = self._schedule_from(0)

    def _lr_factor(self, step: int) -> float:
        return self.cfg.lr_decay_factor if self.decay_step and step >= self.decay_step else 1.0

    def _schedule_from(self, step: int) -> LambdaLR:
        """The schedule positioned at ``step`` (it sets every group's current rate)."""
        for g in self.optimizer.param_groups:
            g["initial_lr"] = self.cfg.learning_rate
        return LambdaLR(self.optimizer, self._lr_factor, last_epoch=step - 1)

    @property
    def lr(self) -> float:
        """The main optimiser's learning rate for the next step."""
        return float(self.scheduler.get_last_lr()[0])

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint entries of the optimisation state."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict() if self.aux_optimizer else None,
            "lr_scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, st: dict[str, Any], step: int, what: str) -> None:
        """Resume from a checkpoint's entries at ``step``; the rates follow this run's flags."""
        try:
            self.optimizer.load_state_dict(st["optimizer"])
            if self.aux_optimizer is not None and st.get("aux_optimizer"):
                self.aux_optimizer.load_state_dict(st["aux_optimizer"])
        except ValueError as err:
            raise TrainingError(f"{what}: optimiser state: {err}") from None
        self.scheduler = self._schedule_from(step)
        if self.aux_optimizer is not None:
            for g in self.aux_optimizer.param_groups:
                g["lr"] = self.cfg.aux_learning_rate
        self.scaler.load_state_dict(st["scaler"])
