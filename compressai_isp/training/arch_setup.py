"""Set-up that one architecture needs beyond the shared recipe, keyed by architecture name.

An entry names the :class:`~compressai_isp.training.config.TrainConfig` fields that only its
architecture reads and the function that applies them to the freshly built student (after
``--init``, before the task freezes parameters). It is written so that it can move, as it is,
into the architecture's spec; the trainer only calls :func:`apply_arch_setup`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from compressai_isp.training.config import TrainConfig, flag_name
from compressai_isp.training.errors import TrainingError
from compressai_isp.training.weights import load_into, load_state_dict

__all__ = ["ARCH_SETUPS", "ArchSetup", "SetupContext", "apply_arch_setup"]


@dataclass(frozen=True)
class SetupContext:
    resuming: bool  # the run continues a checkpoint (its weights replace the initial ones)
    announce: bool  # this process prints warnings (rank 0 of a distributed run)


@dataclass(frozen=True)
class ArchSetup:
    options: tuple[str, ...]  # TrainConfig fields that only this architecture reads
    apply: Callable[[nn.Module, TrainConfig, SetupContext], None]


def _set_up_cascade(model: nn.Module, cfg: TrainConfig, ctx: SetupContext) -> None:
    """The cascade's ISP-Net and frozen Comp-Net may start from separately trained weights."""
    if cfg.isp_init is not None:
        load_into(
            model.isp, load_state_dict(cfg.isp_init, "--isp-init"), cfg.isp_init, "--isp-init"
        )
    if cfg.comp_init is not None:
        sd = load_state_dict(cfg.comp_init, "--comp-init")
        try:
            model.load_comp_net_state_dict(sd)
        except RuntimeError as err:
            raise TrainingError(
                f"--comp-init {cfg.comp_init} is not an mbt2018 state dict of this "
                f"width: {str(err).splitlines()[0][:200]}"
            ) from None
    fresh = not ctx.resuming and cfg.init is None and not cfg.pretrained
    if cfg.comp_init is None and fresh and ctx.announce:
        print(
            "warning: --model cascaded without --comp-init or --pretrained fine-tunes the "
            "ISP-Net through a randomly initialised, frozen Comp-Net",
            file=sys.stderr,
        )


ARCH_SETUPS: dict[str, ArchSetup] = {
    "cascaded": ArchSetup(("isp_init", "comp_init"), _set_up_cascade),
}


def apply_arch_setup(model: nn.Module, cfg: TrainConfig, ctx: SetupContext) -> None:
    """Run ``cfg.arch``'s set-up; refuse another architecture's options."""
    for arch, setup in ARCH_SETUPS.items():
        if arch != cfg.arch and any(getattr(cfg, name) for name in setup.options):
            flags = " / ".join(flag_name(name) for name in setup.options)
            raise TrainingError(f"{flags} only apply to --model {arch}")
    setup = ARCH_SETUPS.get(cfg.arch)
    if setup is not None:
        setup.apply(model, cfg, ctx)
