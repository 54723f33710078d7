"""Model zoo: CompressAI-style builder functions with the paper's quality ladders.

Every builder has CompressAI's signature ``(quality, metric="mse", pretrained=False,
progress=True, **kwargs)``; keyword arguments override the quality's widths (reduced-width
models for tests and small budgets) and, for RAW-input models, pick the ``input_space``
(``"paper"`` by default, or ``"camera-normalised"``); ``pretrained=True`` loads a weight file
described in the ``zoo/`` manifest (see :mod:`compressai_isp.zoo.weights`), never from the
network, and keyword arguments may only repeat what its card records (a card without an input
space records ``"paper"``).

Quality ladders (paper §4.1): ``lambdas[arch][quality]`` is the λ of ``L = R + λ·255²·MSE``.
"""

from __future__ import annotations

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
from compressai_isp.registry import MODELS
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

_RD_LADDER = (0.0035, 0.0067, 0.013, 0.0483, 0.0932, 0.18, 0.36)  # RBN, compression teacher
_UNIFIED_LADDER = (0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18)
_MBT2018_LADDER = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)

lambdas: dict[str, dict[int, float | None]] = {
    "rbn": dict(enumerate(_RD_LADDER, start=1)),
    "raw-comp-teacher": dict(enumerate(_RD_LADDER, start=1)),
    "unified-raw": dict(enumerate(_UNIFIED_LADDER, start=1)),
    # The cascade's Comp-Net is CompressAI's mbt2018 ladder; the ISP-Net is trained with L2.
    "cascaded": dict(enumerate(_MBT2018_LADDER, start=1)),
    "comp-net": dict(enumerate(_MBT2018_LADDER, start=1)),
    # Distortion-only models: one architecture, the quality index is accepted for symmetry.
    "isp-teacher": dict.fromkeys(range(1, 8)),
    "liteispnet": dict.fromkeys(range(1, 8)),
}

cfgs: dict[str, dict[int, dict[str, Any]]] = {
    "rbn": {q: {"N": 256, "M": 192, "N_hyper": 192, "decoder_width": 64} for q in range(1, 8)},
    # K = 192 for the three lower rates and 320 for the four higher ones (§4.1).
    "raw-comp-teacher": {
        q: {"N": 256, "K": 192 if q <= 3 else 320, "N_hyper": 192} for q in range(1, 8)
    },
    # CompressAI's mbt2018 widths: M = 320 from quality 5 up.
    "unified-raw": {q: {"N": 192, "M": 192 if q <= 4 else 320} for q in range(1, 8)},
    "cascaded": {q: {"N": 192, "M": 192 if q <= 4 else 320, "isp_width": 64} for q in range(1, 9)},
    "comp-net": {q: {"N": 192, "M": 192 if q <= 4 else 320} for q in range(1, 9)},
    "isp-teacher": {
        q: {"N": 256, "M": 192, "N_hyper": 192, "decoder_width": 64} for q in range(1, 8)
    },
    "liteispnet": {q: {"width": 64} for q in range(1, 8)},
}

model_architectures: dict[str, type[nn.Module]] = MODELS


def _build(arch: str, quality: int, metric: str, pretrained: bool, **kwargs: Any) -> nn.Module:
    if metric not in ("mse", "ms-ssim"):
        raise ValueError(f'invalid metric "{metric}" for {arch}: use "mse" or "ms-ssim"')
    if quality not in cfgs[arch]:
        qualities = sorted(cfgs[arch])
        raise ValueError(
            f"invalid quality {quality} for {arch}: should be {qualities[0]}..{qualities[-1]}"
        )
    cls = MODELS[arch]
    if not pretrained:
        return cls(**{**cfgs[arch][quality], **kwargs})
    weights = get_weights(arch, quality, metric)
    trained_with = weights.full_config
    clashing = {k: v for k, v in kwargs.items() if trained_with.get(k) != v}
    if clashing:
        raise ValueError(
            f"{arch} q{quality} pretrained weights were trained with {trained_with}; "
            f"cannot override {clashing}"
        )
    model = cls(**weights.config)
    model.load_state_dict(weights.get_state_dict())
    return model.eval()


def rbn(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> RBN:
    """RAWtoBit network (§3.3). Qualities 1-7: λ = 0.0035 ... 0.36."""
    return _build("rbn", quality, metric, pretrained, **kwargs)


def unified_raw(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> UnifiedRaw:
    """Unified structure (§3.2): mbt2018 on RAW -> sRGB. Qualities 1-7: λ = 0.0035 ... 0.18."""
    return _build("unified-raw", quality, metric, pretrained, **kwargs)


def raw_comp_teacher(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> RawCompTeacher:
    """Compression teacher (§3.3): RAW -> bits -> RAW. K = 192 (q1-3) or 320 (q4-7)."""
    return _build("raw-comp-teacher", quality, metric, pretrained, **kwargs)


def isp_teacher(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> ISPTeacher:
    """ISP teacher (§3.3): sRGB autoencoder with RBN's decoder, trained for distortion only."""
    return _build("isp-teacher", quality, metric, pretrained, **kwargs)


def liteispnet(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> LiteISPNet:
    """LiteISPNet (ICCV 2021), the ISP-Net of the cascade, trained with L2 (§4.1)."""
    return _build("liteispnet", quality, metric, pretrained, **kwargs)


def cascaded(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> Cascaded:
    """Cascaded structure (§3.1): LiteISPNet + mbt2018 at CompressAI's qualities 1-8."""
    return _build("cascaded", quality, metric, pretrained, **kwargs)


def comp_net(
    quality: int,
    metric: str = "mse",
    pretrained: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> CompNet:
    """The cascade's sRGB Comp-Net (§3.1): mbt2018 on sRGB at CompressAI's qualities 1-8."""
    return _build("comp-net", quality, metric, pretrained, **kwargs)


image_models: dict[str, Callable[..., nn.Module]] = {
    "rbn": rbn,
    "unified-raw": unified_raw,
    "raw-comp-teacher": raw_comp_teacher,
    "isp-teacher": isp_teacher,
    "liteispnet": liteispnet,
    "cascaded": cascaded,
    "comp-net": comp_net,
}


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
    return sorted(image_models)


load_plugins(image_models)
