"""Trained weights with their own model card, read from the zoo manifest.

Like torchvision's weights API, every weight file is described by a :class:`Weights` entry:
the file and its sha256, the architecture, quality and constructor config it was trained
with (for a RAW-input model, its ``input_space``: see :attr:`Weights.input_space`), the exact
training command, the data, and the metrics measured on the test split.
The manifest and the weight files ship inside the package (``compressai_isp/zoo/pretrained/``,
found with :mod:`importlib.resources`, so a wheel or a non-editable install has them too); the
manifest is the one source of truth and nothing is ever downloaded. Set ``COMPRESSAI_ISP_ZOO``
to use another folder with the same layout.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from torch import Tensor

from compressai_isp.errors import EXIT_USAGE, CompressAIISPError
from compressai_isp.io import ModelIdentity, load_state_bytes

__all__ = ["Weights", "WeightsNotFoundError", "zoo_dir", "list_weights", "get_weights"]

MANIFEST_NAME = "manifest.json"
#: The package folder (next to this module) holding the shipped manifest and weights.
SHIPPED_FOLDER = "pretrained"


class WeightsNotFoundError(CompressAIISPError, LookupError):
    """No trained weights exist for the requested (architecture, quality, metric): the command
    line asked for them (exit status 2)."""

    exit_status = EXIT_USAGE


def zoo_dir() -> Path:
    """The folder holding ``manifest.json`` and the weight files: ``$COMPRESSAI_ISP_ZOO`` when
    set, else the package's own ``compressai_isp/zoo/pretrained``."""
    env = os.environ.get("COMPRESSAI_ISP_ZOO")
    if env:
        return Path(env)
    return Path(str(resources.files(__package__).joinpath(SHIPPED_FOLDER)))


@dataclass(frozen=True)
class Weights:
    """One trained weight file and its model card; :attr:`identity` is which model it holds
    (the record a checkpoint and a ``.rbit`` header give too), and
    :func:`compressai_isp.io.load_model` loads it."""

    arch: str
    quality: int
    metric: str
    file: str
    sha256: str
    config: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return zoo_dir() / self.file

    @property
    def identity(self) -> ModelIdentity:
        """Architecture, quality, metric and config of the card (the fingerprint is known once
        the file is loaded: :func:`compressai_isp.io.load_model`)."""
        return ModelIdentity(self.arch, self.quality, self.metric, dict(self.config))

    @property
    def input_space(self) -> str | None:
        """The input space the weights were trained on (:mod:`compressai_isp.data.input_space`):
        the card's ``config["input_space"]``; ``"paper"`` for a RAW-input model whose card
        predates the field (every weight file shipped before it was trained on the paper's
        input); ``None`` for a model of sRGB."""
        return self.identity.input_space

    @property
    def full_config(self) -> dict[str, Any]:
        """:attr:`config` with the input space a card without it implies."""
        return self.identity.full_config

    def get_state_dict(self, check_hash: bool = True) -> dict[str, Tensor]:
        """The state dict, read safely (:func:`compressai_isp.io.load_state_bytes`) after
        checking the file's sha256."""
        path = self.path
        if not path.is_file():
            raise WeightsNotFoundError(f"weight file {path} listed in the zoo manifest is missing")
        data = path.read_bytes()
        if check_hash:
            digest = hashlib.sha256(data).hexdigest()
            if digest != self.sha256:
                raise ValueError(
                    f"{path}: sha256 {digest[:16]}... does not match the manifest's "
                    f"{self.sha256[:16]}... (corrupt or replaced weight file)"
                )
        state = load_state_bytes(data, path)
        return state.get("state_dict", state)


def _read_manifest() -> list[Weights]:
    path = zoo_dir() / MANIFEST_NAME
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text())["weights"]
        return [Weights(**entry) for entry in entries]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: malformed zoo manifest ({err})") from err


def list_weights(arch: str | None = None) -> list[Weights]:
    """All weights in the manifest, optionally only those of ``arch``."""
    return [w for w in _read_manifest() if arch is None or w.arch == arch]


def get_weights(arch: str, quality: int, metric: str = "mse") -> Weights:
    """The manifest entry for ``(arch, quality, metric)``, or a clear error listing what exists."""
    for w in _read_manifest():
        if (w.arch, w.quality, w.metric) == (arch, quality, metric):
            return w
    available = ", ".join(f"{w.arch} q{w.quality} ({w.metric})" for w in _read_manifest())
    # One message for the CLI and Python: how to use your own weights in each, and where the
    # zoo is read from (so a user knows $COMPRESSAI_ISP_ZOO can point elsewhere).
    raise WeightsNotFoundError(
        f"no pretrained weights for {arch} quality {quality} ({metric}); available: "
        f"{available or 'none'}. Train them with `compressai-isp train -m {arch} -q {quality} "
        f"...` and pass the run's model_best.pth with --checkpoint PATH (eval: `eval checkpoint "
        f"-p PATH`; Python: compressai_isp.io.load_model(PATH)), or add them to the zoo manifest "
        f"{zoo_dir() / MANIFEST_NAME} (the folder is $COMPRESSAI_ISP_ZOO when set)"
    )
