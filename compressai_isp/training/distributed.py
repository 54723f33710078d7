"""DistributedDataParallel plumbing for ``torchrun`` launches (one process per GPU or CPU slot).

``torchrun --nproc_per_node=G [--nnodes=N --rdzv-endpoint=HOST:PORT] -m compressai_isp.train ...``
sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` reads them and joins the process
group (NCCL on CUDA, gloo on CPU). Without them the run is a plain single process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "DistInfo",
    "all_reduce_grads",
    "all_reduce_sum",
    "barrier",
    "broadcast_flag",
    "broadcast_params",
    "gather_objects",
    "setup",
    "teardown",
    "wrap_model",
]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(cuda: bool) -> tuple[DistInfo, torch.device]:
    """Join the process group described by torchrun's environment; pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        if not torch.cuda.is_available():
            raise ValueError("--cuda was given but no CUDA device is available")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    info = DistInfo(rank, world, local)
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return info, device


def teardown() -> None:
    """Leave the process group this process joined, if any (the CLI's last step)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_grads(params: Iterable[nn.Parameter], info: DistInfo) -> None:
    """Average the gradients of parameters that DDP does not synchronise (the aux quantiles)."""
    if not info.enabled:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(info.world_size)


def broadcast_params(params: Iterable[nn.Parameter], info: DistInfo) -> None:
    """Copy rank 0's values of ``params`` to every rank."""
    if not info.enabled:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=0)


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum a list of floats over ranks (validation totals)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj``, in rank order (per-rank RNG states for checkpoints)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when any rank raised ``flag`` (stop requests, non-finite losses)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def wrap_model(
    model: nn.Module,
    aux_names: list[str],
    info: DistInfo,
    device: torch.device,
    find_unused_parameters: bool,
) -> nn.Module:
    """``model`` in DistributedDataParallel (``model`` itself for one process).

    The parameters ``aux_names`` (the entropy bottleneck's quantiles) only get gradients from
    ``aux_loss()``, outside DDP's forward: they are excluded from DDP, copied from rank 0 here
    and averaged by hand (:func:`all_reduce_grads`).
    """
    if not info.enabled:
        return model
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, aux_names)
    named = dict(model.named_parameters())
    broadcast_params([named[n] for n in aux_names], info)  # DDP only syncs what it owns
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=find_unused_parameters,
    )
