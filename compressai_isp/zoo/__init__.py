"""Model zoo: CompressAI-style builder functions with the paper's quality ladders.

Every builder has CompressAI's signature ``(quality, metric="mse", pretrained=False,
progress=True, **kwargs)``; keyword arguments override the quality's widths (reduced-width
models for tests and small budgets) and, for RAW-input models, pick the ``input_space``
(``"paper"`` by default, or ``"camera-normalised"``); ``pretrained=True`` loads a weight file
described in the zoo manifest shipped inside the package (see :mod:`compressai_isp.zoo.weights`),
never from the network, and keyword arguments may only repeat what its card records (a card
without an input space records ``"paper"``).

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
from pathlib import Path
from typing import Any, NamedTuple

from torch import nn

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
    "load_model_file",
    "ModelFile",
    "list_models",
    "Weights",
    "WeightsNotFoundError",
    "get_weights",
    "list_weights",
    "zoo_dir",
]


def _build(spec: ArchSpec, quality: int, metric: str, pretrained: bool, **kwargs: Any) -> nn.Module:
    if metric not in ("mse", "ms-ssim"):
        raise ValueError(f'invalid metric "{metric}" for {spec.name}: use "mse" or "ms-ssim"')
    config = spec.config(quality)
    if not pretrained:
        return spec.cls(**{**config, **kwargs})
    weights = get_weights(spec.name, quality, metric)
    trained_with = weights.full_config
    clashing = {k: v for k, v in kwargs.items() if trained_with.get(k) != v}
    if clashing:
        raise ValueError(
            f"{spec.name} q{quality} pretrained weights were trained with {trained_with}; "
            f"cannot override {clashing}"
        )
    model = spec.cls(**weights.config)
    model.load_state_dict(weights.get_state_dict())
    return model.eval()


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
    if name not in image_models:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(image_models))}")
    return image_models[name](quality, metric=metric, pretrained=pretrained, **kwargs)


class ModelFile(NamedTuple):
    """A model rebuilt from a weight file, with what the file records about it."""

    model: nn.Module
    arch: str
    quality: int
    metric: str


def _recorded_input_space(state: dict[str, Any], path: Path, requested: str | None) -> str | None:
    """The input space the file's config records (an export's ``config``, a training
    checkpoint's ``model_config``), else ``requested``; a one-line error when they differ."""
    recorded = state.get("config") or state.get("model_config")
    space = recorded.get("input_space") if isinstance(recorded, dict) else None
    if space is not None and requested is not None and space != requested:
        raise ValueError(
            f"checkpoint {path} holds input_space {space!r}, not the requested {requested!r}"
        )
    return space if space is not None else requested


def load_model_file(
    path: str | os.PathLike[str],
    arch: str | None = None,
    quality: int | None = None,
    metric: str | None = None,
    input_space: str | None = None,
) -> ModelFile:
    """Rebuild the model of a training checkpoint, an exported ``model_best.pth`` or a state dict.

    The architecture, quality, metric and input space come from the file when it records them
    (the training CLI's files do), else from the arguments, which must not contradict the file;
    the widths come from the weights themselves (``from_state_dict``). A bare state dict records
    no input space (tensors do not show it): a RAW model comes back in ``"paper"`` space unless
    ``input_space`` says otherwise. Every failure is a one-line ``ValueError`` naming the file.
    """
    # Local: compressai_isp.training imports the zoo (a real cycle until reading a state file
    # moves below both; issue 15 item 2).
    from compressai_isp.training.checkpoint import load_state_file

    path = Path(path)
    state = load_state_file(path)
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} does not hold a dict")
    state_dict = state.get("state_dict", state)
    recorded = {"arch": arch, "quality": quality, "metric": metric}
    for key, given in list(recorded.items()):
        if key in state and given is not None and state[key] != given:
            raise ValueError(
                f"checkpoint {path} holds {key} {state[key]!r}, not the requested {given!r}"
            )
        recorded[key] = state.get(key, given)
    arch = recorded["arch"]
    if arch is None:
        raise ValueError(f"checkpoint {path} does not record its architecture; pass -a ARCH")
    if arch not in MODELS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(MODELS))}")
    space = _recorded_input_space(state, path, input_space)
    if space is not None and getattr(MODELS[arch], "input_kind", None) != "raw":
        raise ValueError(f"checkpoint {path}: {arch} takes sRGB and has no input space")
    try:
        model = MODELS[arch].from_state_dict(
            state_dict, **({} if space is None else {"input_space": space})
        )
    except (KeyError, RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {path} does not hold {arch} weights ({first})") from None
    return ModelFile(model, arch, int(recorded["quality"] or 0), str(recorded["metric"] or "mse"))


def list_models(pretrained: bool = False) -> list[str]:
    """Names of every architecture (or, with ``pretrained=True``, of those with weights)."""
    if pretrained:
        return sorted({w.arch for w in list_weights()})
    return sorted(ARCHITECTURES)


load_plugins()
