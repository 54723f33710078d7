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
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

__all__ = ["DATASET_KINDS", "parse_spec", "build_datasets"]

DATASET_KINDS = ("raw", "paired", "synthetic")


def parse_spec(spec: str) -> tuple[str, Path]:
    """``"raw:/data/x"`` -> ``("raw", Path("/data/x"))``; a bare path gets a guessed kind."""
    from compressai_isp.training.loop import TrainingDataError

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
    from compressai_isp.training.loop import TrainingDataError

    suffixes = {p.suffix.lower() for p in (path.rglob("*") if path.is_dir() else [path])}
    image = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
    if suffixes - image - {""}:
        return "raw"
    if suffixes & image:
        return "synthetic"
    raise TrainingDataError(
        f"--dataset {spec}: cannot tell what {path} holds; prefix it with one of "
        f"{', '.join(k + ':' for k in DATASET_KINDS)}"
    )


def default_cache_dir() -> Path:
    """Where decoded RAW / rendered targets are cached: ``$XDG_CACHE_HOME/compressai-isp/pairs``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "compressai-isp" / "pairs"


def _make(
    kind: str,
    path: Path,
    split: str,
    patch_size: tuple[int, int],
    cache_dir: Path | None,
    skip_unreadable: bool,
) -> Dataset:
    from compressai_isp.data import PairedFolder, RawFolder, SyntheticRawFolder

    cls: Any = {"raw": RawFolder, "paired": PairedFolder, "synthetic": SyntheticRawFolder}[kind]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = cls(
            path,
            split=split,
            patch_size=patch_size,
            cache_dir=cache_dir,
            skip_unreadable=skip_unreadable,
        )
    for w in caught:  # one line per skipped file, not a warnings traceback
        print(f"warning: {kind}:{path}: {w.message}", file=sys.stderr)
    return ds


def build_datasets(
    specs: list[str],
    patch_size: tuple[int, int],
    *,
    val: bool = True,
    val_specs: list[str] | None = None,
    cache_dir: Path | None = None,
    skip_unreadable: bool = True,
) -> tuple[list[Dataset], list[Dataset], list[str]]:
    """Training sets, validation sets and a description of each training set.

    ``raw:`` and ``paired:`` folders contribute their ``"train"`` split to training and their
    ``"val"`` split to validation (the data layer's 80:5:15 split). ``synthetic:`` folders are
    used whole for training (the data layer's default split, ``"all"``) and contribute nothing
    to validation, so validation measures real RAW. A folder too small for a validation split
    (one or two files, or no usable file in it) is validated on fixed patches of its training
    images instead, with a note saying so: training on a handful of photos then runs out of the
    box, and its validation measures the fit to them, not generalisation. ``val_specs``
    replaces the automatic validation sets with whole folders.
    """
    from compressai_isp.training.loop import TrainingDataError

    train, valid, desc = [], [], []

    def make(spec: str, kind: str, path: Path, split: str) -> Dataset:
        try:
            return _make(kind, path, split, patch_size, cache_dir, skip_unreadable)
        except (ValueError, OSError) as err:
            raise TrainingDataError(f"--dataset {spec}: {err}") from None

    for spec in specs:
        kind, path = parse_spec(spec)
        train.append(make(spec, kind, path, "all" if kind == "synthetic" else "train"))
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
        desc.append(f"{kind}:{path} ({len(train[-1])} images)")
    if val and val_specs:
        for spec in val_specs:
            kind, path = parse_spec(spec)
            valid.append(make(spec, kind, path, "all"))
    return train, valid, desc
