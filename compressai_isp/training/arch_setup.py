"""Set-up that one architecture needs beyond the shared recipe, declared by its spec.

An architecture's :class:`~compressai_isp.registry.ArchSpec` may carry a ``setup``
(:class:`~compressai_isp.registry.ArchSetup`): the :class:`~compressai_isp.training.config.
TrainConfig` fields that only it reads, and the hook (named ``"module:function"``, since the hook
lives on this floor, above the models) that applies them to the freshly built student (after
``--init``, before the task freezes parameters). The trainer only calls
:func:`apply_arch_setup`; the cascade's hook, :func:`set_up_cascade`, is here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from torch import nn

from compressai_isp.registry import ARCHITECTURES
from compressai_isp.training.config import TrainConfig, flag_name
from compressai_isp.training.errors import TrainingError
from compressai_isp.training.weights import load_into, load_state_dict

__all__ = ["SetupContext", "apply_arch_setup", "set_up_cascade"]


@dataclass(frozen=True)
class SetupContext:
    resuming: bool  # the run continues a checkpoint (its weights replace the initial ones)
    announce: bool  # this process prints warnings (rank 0 of a distributed run)


def set_up_cascade(model: nn.Module, cfg: TrainConfig, ctx: SetupContext) -> None:
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


def apply_arch_setup(model: nn.Module, cfg: TrainConfig, ctx: SetupContext) -> None:
    """Run ``cfg.arch``'s set-up hook; refuse another architecture's options."""
    for spec in ARCHITECTURES.values():
        setup = spec.setup
        if setup is None or spec.name == cfg.arch:
            continue
        if any(getattr(cfg, name, None) for name in setup.options):
            flags = " / ".join(flag_name(name) for name in setup.options)
            raise TrainingError(f"{flags} only apply to --model {spec.name}")
    setup = ARCHITECTURES[cfg.arch].setup
    if setup is not None:
        try:
            hook = setup.load()
        except ValueError as err:
            raise TrainingError(f"--model {cfg.arch}: {err}") from None
        hook(model, cfg, ctx)
