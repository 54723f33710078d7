"""Model zoo: CompressAI-style builder functions with the paper's quality ladders.

Every builder has CompressAI's signature ``(quality, metric="mse", pretrained=False,
progress=True, **kwargs)``; keyword arguments override the quality's widths (reduced-width
models for tests and small budgets) and, for RAW-input models, pick the ``input_space``
(``"paper"`` by default, or ``"camera-normalised"``); ``pretrained=True`` loads a weight file
described in the zoo manifest shipped inside the package (see :mod:`compressai_isp.zoo.weights`),
never from the network, and keyword arguments may only repeat what its card records (a card
without an input space records ``"paper"``). :func:`load_pretrained` gives the same weights with
their identity (a :class:`compressai_isp.io.LoadedModel`); both go through the one loader,
:func:`compressai_isp.io.load_model`, as every other model the library reads does.

Every table here is a read-only view of the architecture specs
(:data:`compressai_isp.registry.ARCHITECTURES`, one :class:`~compressai_isp.registry.ArchSpec`
per architecture, declared next to its class): ``image_models[arch]`` is the builder,
``cfgs[arch][quality]`` the constructor widths and ``lambdas[arch][quality]`` the λ of
``L = R + λ·255²·MSE`` (paper §4.1). A plugin's spec appears in all of them once registered.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from torch import nn

from compressai_isp.io import LoadedModel, load_model
from compressai_isp.models import (
    RBN,
    Cascaded,
    CompNet,
    ISPTeacher,
    LiteISPNet,
    RawCompTeacher,
    UnifiedRaw,
)
from compressai_isp.registry import ARCHITECTURES, MODELS, ArchSpec, SpecView
from compressai_isp.zoo.plugins import load_plugins
from compressai_isp.zoo.weights import (
    Weights,
    WeightsNotFoundError,
    get_weights,
    list_weights,
    zoo_dir,
)

__all__ = [
    "rbn",
    "unified_raw",
    "raw_comp_teacher",
    "isp_teacher",
    "liteispnet",
    "cascaded",
    "comp_net",
    "image_models",
    "model_architectures",
    "cfgs",
    "lambdas",
    "builder",
    "create_model",
    "load_pretrained",
    "load_model_file",
    "list_models",
    "Weights",
    "WeightsNotFoundError",
    "get_weights",
    "list_weights",
    "zoo_dir",
]


def _spec(name: str) -> ArchSpec:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]


def _checked_config(spec: ArchSpec, quality: int, metric: str) -> dict[str, Any]:
    """The quality's constructor widths, once the metric and the quality are known to exist."""
    if metric not in ("mse", "ms-ssim"):
        raise ValueError(f'invalid metric "{metric}" for {spec.name}: use "mse" or "ms-ssim"')
    return spec.config(quality)


def load_pretrained(name: str, quality: int, metric: str = "mse", **kwargs: Any) -> LoadedModel:
    """The zoo's trained weights for ``(name, quality, metric)``, with their identity.

    Loaded by :func:`compressai_isp.io.load_model` from the card
    (:func:`~compressai_isp.zoo.weights.get_weights`; its sha256 is checked) in eval mode;
    ``kwargs`` may only repeat what the card records. Raises ``WeightsNotFoundError`` listing
    the weights that exist, or ``ValueError`` for an unknown name, metric or quality.
    """
    spec = _spec(name)
    _checked_config(spec, quality, metric)
    weights = get_weights(spec.name, quality, metric)
    trained_with = weights.full_config
    clashing = {k: v for k, v in kwargs.items() if trained_with.get(k) != v}
    if clashing:
        raise ValueError(
            f"{spec.name} q{quality} pretrained weights were trained with {trained_with}; "
            f"cannot override {clashing}"
        )
    return load_model(weights)


def _build(spec: ArchSpec, quality: int, metric: str, pretrained: bool, **kwargs: Any) -> nn.Module:
    if pretrained:
        return load_pretrained(spec.name, quality, metric, **kwargs).model
    return spec.cls(**{**_checked_config(spec, quality, metric), **kwargs})


@functools.cache
def builder(spec: ArchSpec) -> Callable[..., nn.Module]:
    """The zoo builder of ``spec``: ``(quality, metric="mse", pretrained=False, progress=True,
    **kwargs)``, CompressAI's signature (``progress`` is accepted for it: nothing downloads)."""

    def build(
        quality: int,
        metric: str = "mse",
        pretrained: bool = False,
        progress: bool = True,
        **kwargs: Any,
    ) -> nn.Module:
        return _build(spec, quality, metric, pretrained, **kwargs)

    build.__name__ = build.__qualname__ = spec.name.replace("-", "_")
    build.__doc__ = spec.summary or f"{spec.cls.__name__} ({spec.name})."
    return build


#: Builder of every architecture by name (CompressAI's ``image_models``).
image_models: SpecView[Callable[..., nn.Module]] = SpecView(builder)
#: Constructor widths of every architecture at each quality.
cfgs: SpecView[Any] = SpecView(lambda spec: spec.cfgs)
#: λ ladder of every architecture (``None``: trained for distortion only).
lambdas: SpecView[Any] = SpecView(lambda spec: spec.lambdas)
model_architectures = MODELS

# CompressAI-style named builders of the built-in architectures.
rbn: Callable[..., RBN] = image_models["rbn"]
unified_raw: Callable[..., UnifiedRaw] = image_models["unified-raw"]
raw_comp_teacher: Callable[..., RawCompTeacher] = image_models["raw-comp-teacher"]
isp_teacher: Callable[..., ISPTeacher] = image_models["isp-teacher"]
liteispnet: Callable[..., LiteISPNet] = image_models["liteispnet"]
cascaded: Callable[..., Cascaded] = image_models["cascaded"]
comp_net: Callable[..., CompNet] = image_models["comp-net"]


def create_model(
    name: str, quality: int = 1, pretrained: bool = False, metric: str = "mse", **kwargs: Any
) -> nn.Module:
    """timm-style construction by name: ``create_model("rbn", quality=6, pretrained=True)``."""
    return image_models[_spec(name).name](quality, metric=metric, pretrained=pretrained, **kwargs)


def load_model_file(
    path: str | os.PathLike[str],
    arch: str | None = None,
    quality: int | None = None,
    metric: str | None = None,
    input_space: str | None = None,
) -> LoadedModel:
    """:func:`compressai_isp.io.load_model` for a file, with its arguments by position (the
    spelling of earlier releases); the model and its identity (``.model``, ``.identity``,
    ``.arch``, ``.quality``, ``.metric``)."""
    return load_model(path, arch=arch, quality=quality, metric=metric, input_space=input_space)


def list_models(pretrained: bool = False) -> list[str]:
    """Names of every architecture (or, with ``pretrained=True``, of those with weights)."""
    if pretrained:
        return sorted({w.arch for w in list_weights()})
    return sorted(ARCHITECTURES)


load_plugins()
