"""One loader for every model source: :func:`load_model`.

A zoo weight card, a training checkpoint, an exported ``model_best.pth``, a bare state dict or
another trainer's ``{"state_dict": ...}`` file all come back the same way: the model, in eval
mode, with its whole :class:`~compressai_isp.io.identity.ModelIdentity` (a
:class:`LoadedModel`). Files are read by the safe reader (:mod:`compressai_isp.io.state_file`:
nothing in them runs), the class is the registered architecture's
(:data:`compressai_isp.registry.MODELS`: importing ``compressai_isp`` registers the built-in
ones and the plugins), and every failure is one ``ValueError`` line naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor, nn

from compressai_isp.io.identity import ModelIdentity
from compressai_isp.io.state_file import load_state_file
from compressai_isp.registry import MODELS

__all__ = ["LoadedModel", "ModelCard", "load_model"]


class ModelCard(Protocol):
    """What :func:`load_model` needs of a weight card (:class:`compressai_isp.zoo.Weights`):
    its file, its identity, and its state dict read (and checked) by the card itself."""

    @property
    def path(self) -> Path: ...

    @property
    def identity(self) -> ModelIdentity: ...

    def get_state_dict(self) -> dict[str, Tensor]: ...


@dataclass(frozen=True)
class LoadedModel:
    """A model and its identity; ``source`` says where it came from (a path, ``"zoo"``, ...)."""

    model: nn.Module
    identity: ModelIdentity
    source: str

    @property
    def arch(self) -> str:
        return self.identity.arch

    @property
    def quality(self) -> int | None:
        return self.identity.quality

    @property
    def metric(self) -> str:
        return self.identity.metric

    @property
    def fingerprint(self) -> bytes:
        """The weights' fingerprint (:func:`compressai_isp.io.weights_fingerprint`)."""
        return self.identity.fingerprint or b""

    @property
    def input_space(self) -> str | None:
        return self.identity.input_space

    def describe(self) -> str:
        """``<fingerprint> (rbn q6 mse, paper input, <source>)``: what error messages name."""
        space = "" if self.input_space is None else f", {self.input_space} input"
        return f"{self.fingerprint.hex()} ({self.identity.name()}{space}, {self.source})"


def load_model(
    source: str | os.PathLike[str] | ModelCard,
    *,
    arch: str | None = None,
    quality: int | None = None,
    metric: str | None = None,
    input_space: str | None = None,
) -> LoadedModel:
    """The model of a weight file or a zoo card, with its identity, in eval mode.

    For a file, the architecture, quality, metric and input space come from the file when it
    records them (the training CLI's checkpoints and exports do), else from the arguments, which
    must not contradict the file; the widths come from the weights themselves
    (``from_state_dict``). A bare state dict records no input space (tensors do not show it): a
    RAW model comes back in ``"paper"`` space unless ``input_space`` says otherwise, and with
    ``quality`` ``None`` unless it is given. A card brings its own identity (the arguments may
    only repeat it) and checks its file's sha256 as it reads it.
    """
    given = {"arch": arch, "quality": quality, "metric": metric, "input_space": input_space}
    if isinstance(source, str | os.PathLike):
        return _load_file(Path(source), given)
    return _load_card(source, given)


def _refuse_contradiction(recorded: Mapping[str, Any], given: Mapping[str, Any], what: str) -> None:
    for key, value in given.items():
        held = recorded.get(key)
        if value is not None and held is not None and held != value:
            raise ValueError(f"{what} holds {key} {held!r}, not the requested {value!r}")


def _require_known(arch: str, what: str) -> None:
    if arch not in MODELS:
        raise ValueError(
            f"{what}: unknown architecture {arch!r}; known: {', '.join(sorted(MODELS))}"
        )


def _file_identity(state: dict[str, Any], path: Path, given: dict[str, Any]) -> ModelIdentity:
    """What the file records, completed by ``given`` (one-line errors when they differ)."""
    recorded = ModelIdentity.from_record(state, arch=given["arch"])
    held = {k: state[k] for k in ("arch", "quality", "metric") if state.get(k) is not None}
    if "input_space" in recorded.config:
        held["input_space"] = recorded.config["input_space"]
    _refuse_contradiction(held, given, f"checkpoint {path}")
    if not recorded.arch:
        raise ValueError(f"checkpoint {path} does not record its architecture; pass -a ARCH")
    _require_known(recorded.arch, f"checkpoint {path}")
    space = held.get("input_space", given["input_space"])
    if space is not None and getattr(MODELS[recorded.arch], "input_kind", None) != "raw":
        raise ValueError(f"checkpoint {path}: {recorded.arch} takes sRGB and has no input space")
    config = dict(recorded.config) if space is None else {**recorded.config, "input_space": space}
    return ModelIdentity(
        recorded.arch,
        held.get("quality", given["quality"]),
        held.get("metric", given["metric"] or recorded.metric),
        config,
    )


def _load_file(path: Path, given: dict[str, Any]) -> LoadedModel:
    state = load_state_file(path)
    identity = _file_identity(state, path, given)
    space = identity.config.get("input_space")
    try:
        model = MODELS[identity.arch].from_state_dict(
            state.get("state_dict", state), **({} if space is None else {"input_space": space})
        )
    except (KeyError, RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"checkpoint {path} does not hold {identity.arch} weights ({first})"
        ) from None
    return _loaded(model.eval(), identity, str(path))


def _load_card(card: ModelCard, given: dict[str, Any]) -> LoadedModel:
    identity = card.identity
    held = {**identity.record(), "input_space": identity.input_space}
    _refuse_contradiction(held, given, f"weights {card.path}")
    _require_known(identity.arch, f"weights {card.path}")
    model = MODELS[identity.arch](**identity.full_config)
    model.load_state_dict(card.get_state_dict())
    return _loaded(model.eval(), identity, str(card.path))


def _loaded(model: nn.Module, recorded: ModelIdentity, source: str) -> LoadedModel:
    """The model with its identity: the model's own config (the widths its weights have) and
    the fingerprint of the weights it holds."""
    identity = ModelIdentity.of_model(model, recorded.arch, recorded.quality, recorded.metric)
    if not identity.config:  # a model class that does not report its config
        identity = ModelIdentity(
            identity.arch, identity.quality, identity.metric, recorded.config, identity.fingerprint
        )
    return LoadedModel(model, identity, source)
