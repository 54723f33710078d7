"""Model registry: our architectures by name, mirrored into CompressAI's own registry.

``register_model("rbn")`` works like CompressAI's decorator of the same name (the class also
appears in ``compressai.registry.MODELS``, so CompressAI tooling that looks models up by name
finds ours) and keeps our own table for ``compressai_isp.zoo``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from compressai.registry import MODELS as COMPRESSAI_MODELS
from torch import nn

__all__ = ["MODELS", "register_model"]

T = TypeVar("T", bound=type[nn.Module])

MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[T], T]:
    """Class decorator registering an architecture under ``name`` here and in CompressAI."""

    def decorator(cls: T) -> T:
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {MODELS[name]!r}")
        MODELS[name] = cls
        COMPRESSAI_MODELS[name] = cls
        return cls

    return decorator
