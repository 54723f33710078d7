"""``-d/--dataset`` specifications -> training and validation datasets of ``(raw, srgb)`` pairs.

A spec is ``KIND:PATH`` (or a bare ``PATH``, whose kind is guessed from the files it holds):

* ``raw:DIR`` — camera RAW files rendered by LibRaw (:class:`compressai_isp.data.RawFolder`);
* ``paired:DIR`` — RAW files with pre-rendered sRGB targets
  (:class:`compressai_isp.data.PairedFolder`);
* ``synthetic:DIR`` — sRGB images turned into RAW by the inverted camera pipeline
  (:class:`compressai_isp.data.SyntheticRawFolder`).

Several specs are concatenated (``torch.utils.data.ConcatDataset``). Each dataset's own
train / validation split is used (the data layer's default split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

__all__ = ["DATASET_KINDS", "parse_spec", "build_datasets"]

DATASET_KINDS = ("raw", "paired", "synthetic")


def parse_spec(spec: str) -> tuple[str, Path]:
    """``"raw:/data/x"`` -> ``("raw", Path("/data/x"))``; a bare path gets a guessed kind."""
    from compressai_isp.training.loop import TrainingError

    kind, sep, rest = spec.partition(":")
    if sep and kind in DATASET_KINDS:
        path = Path(rest)
    else:
        kind, path = "", Path(spec)
    if not path.exists():
        raise TrainingError(f"--dataset {spec}: {path} does not exist")
    if not kind:
        kind = _guess_kind(path, spec)
    return kind, path


def _guess_kind(path: Path, spec: str) -> str:
    from compressai_isp.training.loop import TrainingError

    suffixes = {p.suffix.lower() for p in (path.rglob("*") if path.is_dir() else [path])}
    image = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
    if suffixes - image - {""}:
        return "raw"
    if suffixes & image:
        return "synthetic"
    raise TrainingError(
        f"--dataset {spec}: cannot tell what {path} holds; prefix it with one of "
        f"{', '.join(k + ':' for k in DATASET_KINDS)}"
    )


def _make(kind: str, path: Path, split: str, patch_size: tuple[int, int]) -> Dataset:
    from compressai_isp import data

    cls: Any = {
        "raw": getattr(data, "RawFolder", None),
        "paired": getattr(data, "PairedFolder", None),
        "synthetic": getattr(data, "SyntheticRawFolder", None),
    }[kind]
    if cls is None:
        raise ValueError(f"this installation of compressai_isp.data has no {kind} dataset")
    return cls(path, split=split, patch_size=patch_size)


def build_datasets(
    specs: list[str], patch_size: tuple[int, int], val: bool = True
) -> tuple[list[Dataset], list[Dataset], list[str]]:
    """Training sets, validation sets (empty when ``val`` is False) and a description of each."""
    from compressai_isp.training.loop import TrainingError

    train, valid, desc = [], [], []
    for spec in specs:
        kind, path = parse_spec(spec)
        try:
            train.append(_make(kind, path, "train", patch_size))
            if val:
                valid.append(_make(kind, path, "val", patch_size))
        except (ValueError, OSError) as err:
            raise TrainingError(f"--dataset {spec}: {err}") from None
        desc.append(f"{kind}:{path}")
    return train, valid, desc
