"""Which model a file, a zoo card or a stream names: one record, :class:`ModelIdentity`.

A zoo weight card, a training checkpoint, an exported ``model_best.pth``, a model loaded from any
of them and the header of a ``.rbit`` stream all say the same thing about a model: its
architecture, quality and metric, its constructor config (widths and, for a model of packed
RAW, its input space) and, once the weights are at hand, their fingerprint. They say it with
this one record, so nothing is lost on the way from a card or a checkpoint into a stream.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from compressai_isp.registry import MODELS

__all__ = [
    "DEFAULT_METRIC",
    "FINGERPRINT_BYTES",
    "UNRECORDED_INPUT_SPACE",
    "ModelIdentity",
    "weights_fingerprint",
]

#: What a RAW model, weight file, checkpoint or stream that records no input space reads:
#: everything made before input spaces existed was trained on the paper's.
UNRECORDED_INPUT_SPACE = "paper"
#: The metric of a file that records none (CompressAI's default objective).
DEFAULT_METRIC = "mse"
#: Length of :func:`weights_fingerprint` (the ``.rbit`` header's field).
FINGERPRINT_BYTES = 16
# Derived entropy-coder tables: model.update() recomputes them from the learned tensors, so
# they describe no weight of their own and are left out of the fingerprint.
_DERIVED_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def weights_fingerprint(model: nn.Module | Mapping[str, torch.Tensor]) -> bytes:
    """First 16 bytes of a SHA-256 over a model's weights, identical wherever they are loaded.

    Every ``state_dict`` tensor is hashed in sorted-key order as ``name NUL dtype NUL shape NUL
    bytes`` (CPU, contiguous, native little-endian), except the tables that ``model.update()``
    derives (``_quantized_cdf``, ``_offset``, ``_cdf_length``, ``scale_table``); a weight with a
    sibling ``mask`` buffer is hashed as ``weight * mask``. The encoder writes it into the header
    and the decoder compares it with the weights it loaded, so a stream is never decoded by
    weights it was not made with (which would silently give garbage).
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    digest = hashlib.sha256()
    for name in sorted(state):
        if name.rsplit(".", 1)[-1] in _DERIVED_BUFFERS:
            continue
        t = state[name].detach().to("cpu")
        # A masked convolution (the context model) zeroes its weight in place on its first
        # forward; hash the effective weight so a fresh and a used model agree.
        mask = state.get(name[: -len("weight")] + "mask") if name.endswith("weight") else None
        if mask is not None and mask.shape == t.shape:
            t = t * mask.to("cpu", t.dtype)
        t = t.contiguous()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(str(t.dtype).encode("ascii") + b"\0")
        digest.update(",".join(str(s) for s in t.shape).encode("ascii") + b"\0")
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.digest()[:FINGERPRINT_BYTES]


@dataclass(frozen=True)
class ModelIdentity:
    """Architecture, quality, metric, constructor config and weights fingerprint of a model.

    ``quality`` is ``None`` where the source does not record one (a bare state dict, a run
    trained without ``--quality``): such a model codes and decodes, but cannot name its quality
    in a stream header until one is given. ``config`` is what the source records of the
    constructor's arguments (a stream header: the input space alone); ``fingerprint`` is known
    once the weights are (``None`` for a card whose file is not read yet).
    """

    arch: str
    quality: int | None
    metric: str = DEFAULT_METRIC
    config: dict[str, Any] = field(default_factory=dict)
    fingerprint: bytes | None = None

    @property
    def input_space(self) -> str | None:
        """The input space the model reads (:mod:`compressai_isp.data.input_space`): the
        config's; :data:`UNRECORDED_INPUT_SPACE` for a model of packed RAW whose source predates
        the field; ``None`` for a model of sRGB."""
        if "input_space" in self.config:
            return self.config["input_space"]
        raw_input = getattr(MODELS.get(self.arch), "input_kind", None) == "raw"
        return UNRECORDED_INPUT_SPACE if raw_input else None

    @property
    def full_config(self) -> dict[str, Any]:
        """:attr:`config` with the input space a config without it implies."""
        space = self.input_space
        return {**self.config, "input_space": space} if space is not None else dict(self.config)

    def name(self) -> str:
        """Short human description, e.g. ``rbn q6 mse`` (``q?``: quality not recorded)."""
        quality = "?" if self.quality is None else self.quality
        return f"{self.arch} q{quality} {self.metric}"

    def streamed(self) -> ModelIdentity:
        """This identity as a ``.rbit`` header records it: the config reduced to the input
        space (what :attr:`compressai_isp.codec.format.Header.identity` gives back)."""
        space = self.input_space
        return dataclasses.replace(self, config={} if space is None else {"input_space": space})

    def record(self) -> dict[str, Any]:
        """The plain-type fields a file stores: ``arch``, ``quality``, ``metric``, ``config``
        (the layout of a ``model_best.pth`` export and of a zoo manifest entry)."""
        return {
            "arch": self.arch,
            "quality": self.quality,
            "metric": self.metric,
            "config": dict(self.config),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], arch: str | None = None) -> ModelIdentity:
        """The identity a file's dict records: an export's or a card's ``config``, a training
        checkpoint's ``model_config``; ``arch`` for a file that does not name its own (``""``
        when neither does), the metric :data:`DEFAULT_METRIC` where none is recorded."""
        config = record.get("config") or record.get("model_config")
        metric, quality = record.get("metric"), record.get("quality")
        return cls(
            arch=record.get("arch") or arch or "",
            quality=None if quality is None else int(quality),
            metric=metric if isinstance(metric, str) else DEFAULT_METRIC,
            config=dict(config) if isinstance(config, Mapping) else {},
        )

    @classmethod
    def of_model(
        cls, model: nn.Module, arch: str, quality: int | None, metric: str = DEFAULT_METRIC
    ) -> ModelIdentity:
        """The identity of an in-memory model: its own ``config`` (and ``input_space``) and the
        fingerprint of its weights."""
        config = dict(getattr(model, "config", None) or {})
        space = getattr(model, "input_space", None)
        if space is not None:
            config.setdefault("input_space", space)
        return cls(arch, quality, metric, config, weights_fingerprint(model))
