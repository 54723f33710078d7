"""``-d/--dataset`` specifications -> training and validation datasets of ``(raw, srgb)`` pairs.

A spec is ``KIND:PATH`` (or a bare ``PATH``, whose kind is guessed from the files it holds):

* ``raw:DIR`` — camera RAW files rendered by LibRaw (:class:`compressai_isp.data.RawFolder`);
* ``paired:DIR`` — RAW files with pre-rendered sRGB targets
  (:class:`compressai_isp.data.PairedFolder`);
* ``synthetic:DIR`` — sRGB images turned into RAW by the inverted camera pipeline
  (:class:`compressai_isp.data.SyntheticRawFolder`).

Several specs are concatenated (``torch.utils.data.ConcatDataset``); see
:func:`build_datasets` for which split of each is used.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from compressai_isp.data import IMAGE_EXTENSIONS, PairedFolder, RawFolder, SyntheticRawFolder
from compressai_isp.training.errors import TrainingDataError

__all__ = [
    "DATASET_KINDS",
    "DataRecipe",
    "TrainingData",
    "build_datasets",
    "load_training_data",
    "parse_spec",
]

DATASET_KINDS = ("raw", "paired", "synthetic")


def parse_spec(spec: str) -> tuple[str, Path]:
    """``"raw:/data/x"`` -> ``("raw", Path("/data/x"))``; a bare path gets a guessed kind."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in DATASET_KINDS:
        path = Path(rest)
    else:
        kind, path = "", Path(spec)
    if not path.exists():
        raise TrainingDataError(f"--dataset {spec}: {path} does not exist")
    if not kind:
        kind = _guess_kind(path, spec)
    return kind, path


def _guess_kind(path: Path, spec: str) -> str:
    suffixes = {p.suffix.lower() for p in (path.rglob("*") if path.is_dir() else [path])}
    if suffixes - IMAGE_EXTENSIONS - {""}:
        return "raw"
    if suffixes & IMAGE_EXTENSIONS:
        return "synthetic"
    raise TrainingDataError(
        f"--dataset {spec}: cannot tell what {path} holds; prefix it with one of "
        f"{', '.join(k + ':' for k in DATASET_KINDS)}"
    )


def default_cache_dir() -> Path:
    """Where decoded RAW / rendered targets are cached: ``$XDG_CACHE_HOME/compressai-isp/pairs``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "compressai-isp" / "pairs"


@dataclass(frozen=True)
class DataRecipe:
    """How every folder of a run is read: the same for all of them, so one run sees one input
    space and imitates one ISP."""

    patch_size: tuple[int, int]
    cache_dir: Path | None = None
    skip_unreadable: bool = True
    input_space: str = "paper"  # compressai_isp.data.INPUT_SPACES
    synthetic_isp: str = "unprocessing"  # compressai_isp.data.SYNTHETIC_ISPS
    synthetic_noise_draws: int = 1  # items per synthetic image (SyntheticRawFolder.noise_draws)


@dataclass
class TrainingData:
    """What a :class:`~compressai_isp.training.loop.Trainer` trains and validates on.

    ``description`` names each training set (recorded in checkpoints and exports)."""

    train: list[Dataset]
    val: list[Dataset] = field(default_factory=list)
    description: list[str] = field(default_factory=list)


def _make(kind: str, path: Path, split: str, recipe: DataRecipe) -> Dataset:
    cls: Any = {"raw": RawFolder, "paired": PairedFolder, "synthetic": SyntheticRawFolder}[kind]
    extra: dict[str, Any] = {}
    if kind == "synthetic":  # noise draws multiply training images only: held-out sets stay put
        draws = recipe.synthetic_noise_draws if split == "train" else 1
        extra = {"isp": recipe.synthetic_isp, "noise_draws": draws}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = cls(
            path,
            split=split,
            patch_size=recipe.patch_size,
            cache_dir=recipe.cache_dir,
            skip_unreadable=recipe.skip_unreadable,
            input_space=recipe.input_space,
            **extra,
        )
    for w in caught:  # one line per skipped file, not a warnings traceback
        print(f"warning: {kind}:{path}: {w.message}", file=sys.stderr)
    return ds


def build_datasets(
    specs: list[str],
    recipe: DataRecipe,
    *,
    val: bool = True,
    val_specs: list[str] | None = None,
) -> tuple[list[Dataset], list[Dataset], list[str]]:
    """Training sets, validation sets and a description of each training set.

    ``raw:`` and ``paired:`` folders contribute their ``"train"`` split to training and their
    ``"val"`` split to validation (the data layer's 80:5:15 split). ``synthetic:`` folders
    contribute their ``"train"`` split too, holding out their ``"val"`` and ``"test"`` splits
    (for the Kodak suite: 19 images trained on, 4 for a synthetic test set), and nothing to
    validation, so validation measures real RAW. A folder too small for a validation split
    (one or two files, or no usable file in it) is validated on fixed patches of its training
    images instead, with a note saying so: training on a handful of photos then runs out of the
    box, and its validation measures the fit to them, not generalisation. ``val_specs``
    replaces the automatic validation sets with whole folders.
    """
    train, valid, desc = [], [], []

    def make(spec: str, kind: str, path: Path, split: str) -> Dataset:
        try:
            return _make(kind, path, split, recipe)
        except (ValueError, OSError) as err:
            raise TrainingDataError(f"--dataset {spec}: {err}") from None

    for spec in specs:
        kind, path = parse_spec(spec)
        train.append(make(spec, kind, path, "train"))
        if val and val_specs is None and kind != "synthetic":
            try:
                valid.append(make(spec, kind, path, "val"))
            except TrainingDataError as err:
                # The training split loaded with the same options, so only the split is empty.
                print(
                    f"note: {kind}:{path} has no validation split ({str(err).split(': ')[-1]}); "
                    f"validating on fixed patches of its {len(train[-1])} training images, "
                    "which measures the fit to them, not generalisation (more files or "
                    "--val-dataset DIR give a real one)",
                    file=sys.stderr,
                )
                valid.append(train[-1])
        desc.append(f"{kind}:{path} ({_count(train[-1])})")
    if val and val_specs:
        for spec in val_specs:
            kind, path = parse_spec(spec)
            valid.append(make(spec, kind, path, "all"))
    return train, valid, desc


def _count(dataset: Dataset) -> str:
    draws = getattr(dataset, "noise_draws", 1)
    if draws == 1:
        return f"{len(dataset)} images"  # type: ignore[arg-type]
    return f"{len(dataset) // draws} images x {draws} noise draws"  # type: ignore[arg-type]


def load_training_data(
    specs: list[str], recipe: DataRecipe, *, val: bool = True, val_specs: list[str] | None = None
) -> TrainingData:
    """:func:`build_datasets` as the :class:`TrainingData` a Trainer takes."""
    return TrainingData(*build_datasets(specs, recipe, val=val, val_specs=val_specs))
