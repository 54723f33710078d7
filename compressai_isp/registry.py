"""Architecture specs: every architecture declared once, next to its class.

An :class:`ArchSpec` is everything the library knows about an architecture by name (in the
spirit of timm's ``default_cfgs`` and torchvision's ``Weights``): the class, its constructor
configuration at each quality, the λ ladder, the input and output kinds (read off the class)
and what the trainer does with it (:attr:`ArchSpec.task`, and an optional set-up hook).

A model module declares its architecture after the class::

    RBN_SPEC = register_architecture(ArchSpec(name="rbn", cls=RBN, cfgs=..., lambdas=...))

and a plugin exposes an ``ArchSpec`` through the ``compressai_isp.models`` entry points
(:mod:`compressai_isp.zoo.plugins` registers it). :data:`ARCHITECTURES` is the one table; the
tables other modules read (:data:`MODELS` here, ``zoo.image_models`` / ``zoo.cfgs`` /
``zoo.lambdas``, ``training.tasks.TASKS``) are read-only :class:`SpecView` s of it, so a
registered architecture appears in all of them at once. Registering also puts the class in
CompressAI's own ``compressai.registry.MODELS``, so CompressAI tooling finds it by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from compressai.registry import MODELS as COMPRESSAI_MODELS
from torch import Tensor, nn

__all__ = [
    "ARCHITECTURES",
    "ArchSetup",
    "ArchSpec",
    "KINDS",
    "MODELS",
    "SpecView",
    "Task",
    "distortion_only",
    "quality_ladder",
    "register_architecture",
]

#: What a model takes or gives: packed RAW ``[B,4,H/2,W/2]`` or sRGB ``[B,3,H,W]``.
KINDS = ("raw", "srgb")

V = TypeVar("V")


@dataclass(frozen=True)
class Task:
    """What the trainer does with an architecture (derived from its :class:`ArchSpec`)."""

    input: str  # "raw" or "srgb": which element of the (raw, srgb) pair the model sees
    target: str  # which element it must reproduce
    rate: bool  # rate-distortion loss (True) or distortion only (False)
    trainable: str | None = None  # parameter-name prefix to train; None = everything

    def split(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(model input, target)`` from a ``(raw, srgb)`` pair."""
        raw, srgb = batch
        pick = {"raw": raw, "srgb": srgb}
        return pick[self.input], pick[self.target]


@dataclass(frozen=True)
class ArchSetup:
    """The trainer's architecture-specific set-up (the cascade's separately trained parts).

    ``options`` are the trainer options (``TrainConfig`` field names) that only this
    architecture reads; the trainer refuses them for any other. ``apply`` names the hook as
    ``"module:function"``: the hook works on the training floor (it reads training options and
    files), above the models, so the spec names it instead of importing it; :meth:`load`
    imports it when the trainer runs it.
    """

    options: tuple[str, ...]
    apply: str

    def load(self) -> Callable[..., Any]:
        """The hook ``apply`` names, or a one-line ``ValueError`` saying what is missing."""
        module_name, _, attr = self.apply.partition(":")
        if not module_name or not attr:
            raise ValueError(f"set-up hook {self.apply!r} is not written 'module:function'")
        try:
            hook = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"set-up hook {self.apply!r} cannot be loaded ({err})") from None
        if not callable(hook):
            raise ValueError(f"set-up hook {self.apply!r} is not callable")
        return hook


def quality_ladder(*lambdas: float) -> dict[int, float]:
    """``{1: λ1, 2: λ2, ...}``: the λ of ``L = R + λ·255²·MSE`` at qualities 1, 2, ..."""
    return dict(enumerate(lambdas, start=1))


def distortion_only(qualities: int) -> dict[int, None]:
    """The ladder of a model trained for distortion alone: qualities ``1..n``, no λ (one
    architecture, the quality index is accepted for symmetry with the compression models)."""
    return dict.fromkeys(range(1, qualities + 1))


def _frozen_cfgs(cfgs: Mapping[int, Mapping[str, Any]]) -> Mapping[int, Mapping[str, Any]]:
    return MappingProxyType({int(q): MappingProxyType(dict(c)) for q, c in cfgs.items()})


@dataclass(frozen=True, eq=False)
class ArchSpec:
    """One architecture: the single declaration every table of the library is read from.

    Args:
        name: the architecture's name (``-m/--arch`` on the command line, ``.rbit`` headers).
        cls: the model class; it declares ``input_kind`` / ``output_kind`` (one of
            :data:`KINDS`) and rebuilds itself with ``from_state_dict``.
        cfgs: constructor keyword arguments at each quality (keyword arguments of a build
            override them: reduced-width models).
        lambdas: the λ ladder over the same qualities; all ``None`` for a model trained for
            distortion only (:func:`distortion_only`), which makes :attr:`task` rate-free.
        summary: one line for the zoo builder's docstring.
        trainable: parameter-name prefix the trainer trains (``None``: every parameter).
        setup: the trainer's set-up hook for this architecture (:class:`ArchSetup`).
    """

    name: str
    cls: type[nn.Module]
    cfgs: Mapping[int, Mapping[str, Any]]
    lambdas: Mapping[int, float | None]
    summary: str = ""
    trainable: str | None = None
    setup: ArchSetup | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"architecture name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.cls, type) or not issubclass(self.cls, nn.Module):
            raise TypeError(f"architecture {self.name!r}: cls must be an nn.Module class")
        for kind in ("input_kind", "output_kind"):
            if getattr(self.cls, kind, None) not in KINDS:
                raise ValueError(
                    f"architecture {self.name!r}: {self.cls.__name__}.{kind} must be one of "
                    f"{KINDS}, got {getattr(self.cls, kind, None)!r}"
                )
        if not self.cfgs or set(self.cfgs) != set(self.lambdas):
            raise ValueError(
                f"architecture {self.name!r}: cfgs and lambdas must cover the same qualities "
                f"(cfgs {sorted(self.cfgs)}, lambdas {sorted(self.lambdas)})"
            )
        if len({lmbda is None for lmbda in self.lambdas.values()}) != 1:
            raise ValueError(
                f"architecture {self.name!r}: λ ladder mixes None (distortion only) with "
                "rate-distortion λ values"
            )
        # Read-only copies: a caller cannot change the table through what it reads.
        object.__setattr__(self, "cfgs", _frozen_cfgs(self.cfgs))
        object.__setattr__(self, "lambdas", MappingProxyType(dict(self.lambdas)))

    @property
    def input_kind(self) -> str:
        return self.cls.input_kind

    @property
    def output_kind(self) -> str:
        return self.cls.output_kind

    @property
    def qualities(self) -> list[int]:
        return sorted(self.cfgs)

    @property
    def rate(self) -> bool:
        """Trained for rate-distortion (it has a λ ladder) rather than distortion alone."""
        return next(iter(self.lambdas.values())) is not None

    @property
    def task(self) -> Task:
        """What the trainer feeds the model, what it must reproduce and which loss it gets."""
        return Task(self.input_kind, self.output_kind, self.rate, self.trainable)

    def config(self, quality: int) -> dict[str, Any]:
        """The constructor keyword arguments at ``quality``, or a one-line ``ValueError``
        naming the range."""
        if quality not in self.cfgs:
            first, last = self.qualities[0], self.qualities[-1]
            raise ValueError(
                f"invalid quality {quality} for {self.name}: should be {first}..{last}"
            )
        return dict(self.cfgs[quality])


_SPECS: dict[str, ArchSpec] = {}

#: Every registered architecture by name (built-ins and plugins), read-only.
ARCHITECTURES: Mapping[str, ArchSpec] = MappingProxyType(_SPECS)


def register_architecture(spec: ArchSpec) -> ArchSpec:
    """Add ``spec`` to :data:`ARCHITECTURES` and its class to CompressAI's registry.

    Registering the same spec again is a no-op; another spec under a taken name is a
    ``ValueError``. Returns ``spec`` (so a module can write ``X_SPEC = register_...(...)``).
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"register_architecture takes an ArchSpec, got {type(spec).__name__}")
    taken = _SPECS.get(spec.name)
    if taken is not None and taken is not spec:
        raise ValueError(
            f"architecture name {spec.name!r} is already registered to {taken.cls.__name__}"
        )
    _SPECS[spec.name] = spec
    COMPRESSAI_MODELS[spec.name] = spec.cls
    return spec


class SpecView(Mapping[str, V], Generic[V]):
    """A read-only, always current ``{name: project(spec)}`` view of :data:`ARCHITECTURES`."""

    def __init__(self, project: Callable[[ArchSpec], V]) -> None:
        self._project = project

    def __getitem__(self, name: str) -> V:
        return self._project(ARCHITECTURES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(ARCHITECTURES)

    def __len__(self) -> int:
        return len(ARCHITECTURES)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


#: Every architecture's class by name (the table CompressAI's registry mirrors).
MODELS: Mapping[str, type[nn.Module]] = SpecView(lambda spec: spec.cls)
