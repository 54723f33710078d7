"""Result JSON files: the one format that evaluation, anchors, plots and BD-rate share.

The shape is ``compressai.utils.eval_model``'s, so CompressAI's own result files (and its
``compressai.utils.plot``) mix freely with ours::

    {
      "name": "rbn-mse",
      "description": "Inference (ans)",
      "results": {"psnr-rgb": [...], "ms-ssim-rgb": [...], "bpp": [...],
                  "encoding_time": [...], "decoding_time": [...], ...}
    }

Each list holds one value per rate point (quality level, checkpoint or codec setting), averaged
over the images of the data set. Extra keys (``"quality"``, ``"psnr-rgb-std"``, ...) are allowed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressai_isp.errors import InputError
from compressai_isp.io.atomic import atomic_open

__all__ = [
    "METRIC_KEYS",
    "RDCurve",
    "ResultFileError",
    "load_curve",
    "load_result",
    "make_result",
    "metric_key",
    "ms_ssim_to_db",
    "write_json_atomic",
]

#: The per-rate-point keys every result file of ``eval`` has: CompressAI's ``eval_model`` keys
#: plus ``delta-e00``, the mean CIEDE2000 colour difference (``metrics.delta_e00``).
METRIC_KEYS: tuple[str, ...] = (
    "psnr-rgb",
    "ms-ssim-rgb",
    "delta-e00",
    "bpp",
    "encoding_time",
    "decoding_time",
)


class ResultFileError(InputError, ValueError):
    """A result JSON file is missing, unreadable or not in the expected shape (exit 1)."""


def make_result(name: str, description: str, results: dict[str, list[Any]]) -> dict[str, Any]:
    """Assemble a result dict, checking every list has one entry per rate point."""
    lengths = {k: len(v) for k, v in results.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"result lists differ in length: {lengths}")
    return {"name": name, "description": description, "results": results}


def _json_default(obj: Any) -> Any:
    # Tensors / numpy scalars reach here from metrics code; plain floats are what belong in JSON.
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in a result JSON")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (temp file + ``os.replace``).

    A crash midway leaves either the old file or none, never a truncated one. ``inf`` (PSNR of a
    lossless reconstruction) is written as JSON's non-standard ``Infinity``, which Python reads.
    """
    path = Path(path)
    text = json.dumps(obj, indent=2, default=_json_default) + "\n"
    with atomic_open(path) as f:
        f.write(text.encode("utf-8"))
    return path


def load_result(path: str | os.PathLike[str], *, require_bpp: bool = True) -> dict[str, Any]:
    """Read a result JSON, raising :class:`ResultFileError` naming the file on any problem.

    A bare ``results`` dict (no ``name``) is accepted too, as ``compressai.utils.plot`` does; its
    name then defaults to the file stem.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such result file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultFileError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: expected a JSON object with 'results'")
    results = data.get("results", data)
    if not isinstance(results, dict) or (require_bpp and "bpp" not in results):
        raise ResultFileError(f"{path}: no 'results' with a 'bpp' list")
    return {
        "name": str(data.get("name", path.name.split(".")[0])),
        "description": str(data.get("description", "")),
        "results": results,
    }


def metric_key(metric: str) -> str:
    """``"psnr"`` -> ``"psnr-rgb"``, ``"ms-ssim"`` -> ``"ms-ssim-rgb"``; full keys pass through."""
    return f"{metric}-rgb" if metric in {"psnr", "ms-ssim"} else metric


def ms_ssim_to_db(value: float) -> float:
    """MS-SSIM in decibels, ``-10 log10(1 - value)`` (``inf`` for a perfect 1.0)."""
    return -10.0 * math.log10(1.0 - value) if value < 1.0 else math.inf


@dataclass(frozen=True)
class RDCurve:
    """One rate-distortion curve: ``bpp[i]`` bits per sRGB pixel give quality ``values[i]``."""

    name: str
    bpp: tuple[float, ...]
    values: tuple[float, ...]
    metric: str


def load_curve(
    path: str | os.PathLike[str], metric: str = "psnr", *, ms_ssim_db: bool = True
) -> RDCurve:
    """The ``(bpp, metric)`` curve of a result file.

    MS-SSIM is converted to decibels, ``-10 log10(1 - ms_ssim)``, when ``ms_ssim_db`` (as
    ``compressai.utils.plot`` plots it and as BD on MS-SSIM is usually computed), because raw
    MS-SSIM saturates near 1 where codecs differ most.
    """
    result = load_result(path)
    key = metric_key(metric)
    results = result["results"]
    if key not in results:
        available = ", ".join(sorted(results))
        raise ResultFileError(f"{path}: metric {key!r} not in results (available: {available})")
    bpp, values = results["bpp"], results[key]
    if not isinstance(bpp, list) or not isinstance(values, list) or len(bpp) != len(values):
        raise ResultFileError(f"{path}: 'bpp' and {key!r} must be lists of equal length")
    try:
        bpp_f = tuple(float(v) for v in bpp)
        values_f = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ResultFileError(f"{path}: 'bpp' and {key!r} must hold numbers") from None
    if key.startswith("ms-ssim") and ms_ssim_db:
        values_f = tuple(ms_ssim_to_db(v) for v in values_f)
    return RDCurve(name=result["name"], bpp=bpp_f, values=values_f, metric=key)
