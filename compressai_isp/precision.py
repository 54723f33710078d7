"""Arithmetic precision and memory format of the image transforms.

The image transforms (``g_a``, ``g_s``, an ISP-Net) hold almost all of a model's arithmetic and
tolerate reduced precision; the entropy-coding path (``h_a``, ``h_s``, the context model, the
entropy parameters, the scale indices and likelihoods) does not: the decoder must reproduce the
encoder's CDF choices exactly. So precision is a property of the transforms only::

    x ─[layout, autocast(dtype)]─ g_a ─► y.float() ─► h_a / h_s / context / rANS (float32)
                                                            │
    x_hat ◄─ .float() ─[layout, autocast(dtype)]─ g_s ◄── y_hat (float32)

A model class opts in by listing its transform sub-modules in ``transform_modules``; it then
runs them inside :meth:`TransformPrecision.scope` and hands float32, default-layout tensors to
everything else. :func:`set_transform_precision` configures every such module of a model
(a cascade's ISP-Net and Comp-Net both), so a stream encoded with any precision decodes with
any other: bf16 ``g_a`` changes which latent is coded, never whether it decodes.

Measured (``benchmarks/``, README "Fast training and coding"): GDN / IGDN in bf16 change the
decoded image by < 0.01 dB PSNR and keeping them float32 costs 10-60 % of the transform time, so
they run in the transform's precision; the distillation attention maps are summed in float32
(:func:`compressai_isp.distill.attention_map`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "PRECISIONS",
    "TransformPrecision",
    "add_precision_arguments",
    "native_bf16",
    "precision_name",
    "resolve_precision",
    "set_transform_precision",
]

#: Accepted ``--precision`` values; ``auto`` is bf16 where the device runs it natively.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` has bf16 arithmetic units (AVX512-BF16 / AMX CPUs, bf16 CUDA GPUs)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # torch.cpu exposes the CPUID checks oneDNN itself uses to pick bf16 kernels.
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(name: str, device: torch.device | str = "cpu") -> torch.dtype:
    """The dtype ``name`` (one of :data:`PRECISIONS`) stands for on ``device``."""
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r} is not one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return _DTYPES[name]


def precision_name(dtype: torch.dtype) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"``: how checkpoints, cards and logs record ``dtype``."""
    for name, value in _DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"dtype {dtype} is not a supported precision")


@dataclass(frozen=True)
class TransformPrecision:
    """How a model's image transforms run: autocast ``dtype`` and channels-last layout."""

    dtype: torch.dtype = torch.float32
    channels_last: bool = False

    @contextlib.contextmanager
    def scope(self, x: Tensor) -> Iterator[Tensor]:
        """Run the block in this precision; yields ``x`` in this layout."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype == torch.float32:
            yield x
            return
        with torch.autocast(x.device.type, dtype=self.dtype):
            yield x

    def output(self, t: Tensor) -> Tensor:
        """A transform's result as the float32, default-layout tensor the entropy path expects.

        Without autocast the dtype is left alone: a model converted as a whole (CompressAI's
        ``eval --half``) keeps its one dtype throughout.
        """
        return t.contiguous() if self.dtype == torch.float32 else t.float().contiguous()

    def describe(self) -> dict[str, object]:
        """What checkpoints and model cards record."""
        return {"precision": precision_name(self.dtype), "channels_last": self.channels_last}


def set_transform_precision(
    model: nn.Module, dtype: torch.dtype = torch.float32, channels_last: bool = False
) -> nn.Module:
    """Configure every precision-aware module of ``model`` (those with ``transform_modules``).

    Only the listed transforms move to channels-last, so the entropy path's weights keep the
    layout, and therefore the exact arithmetic, that the stream's decoder uses. Returns ``model``.
    """
    precision_name(dtype)  # refuse unsupported dtypes before changing anything
    setting = TransformPrecision(dtype, channels_last)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    for module in model.modules():
        names = getattr(module, "transform_modules", None)
        if names is None:
            continue
        module.transform_precision = setting
        for name in names:
            getattr(module, name).to(memory_format=layout)
    return model


def add_precision_arguments(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """``--precision`` and ``--channels-last``, as every coding command spells them."""
    parser.add_argument(
        "--precision", choices=PRECISIONS, default=default,
        help="arithmetic of the analysis / synthesis transforms; the entropy path is always "
        "float32, so any precision decodes any stream (auto: bf16 where the CPU or GPU runs it "
        "natively; default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=True,
        help="channels-last memory format for the transforms (default: on)",
    )  # fmt: skip
