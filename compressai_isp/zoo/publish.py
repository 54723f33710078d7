"""Publish a trained model into the zoo folder with its model card.

    python -m compressai_isp.zoo.publish runs/rbn-q6/model_best.pth \\
        --meta-json card.json [--zoo compressai_isp/zoo/pretrained/]

The input is the training CLI's inference export (``{"arch", "quality", "metric", "config",
"state_dict"}``, read safely); the card keeps its identity (its metric too: ``--metric`` and
``--quality`` only fill what an export does not record). The model is rebuilt from its config,
its entropy-coder tables are refreshed (``update(force=True)``), and its state dict is written
to ``<arch>-q<quality>-<sha8>.pth`` with the card's identity (``{"arch", "quality", "metric",
"config", "state_dict"}``: loaded by path, the file is the model its card describes); the
manifest entry (replacing any previous one for the same arch/quality/metric) records the file's
sha256, the rebuilt model's config (with, for a RAW-input model, its ``input_space``: an export
made before models recorded it is ``"paper"``), the parameter count and every field of
``--meta-json`` (λ, training command, steps, data, measured metrics). Both files are written
atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import torch

from compressai_isp.io import DEFAULT_METRIC, ModelIdentity, atomic_open, load_state_file
from compressai_isp.registry import MODELS
from compressai_isp.zoo.weights import MANIFEST_NAME, zoo_dir

__all__ = ["publish", "main"]


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def _identity(export: dict[str, Any], quality: int | None, metric: str | None) -> ModelIdentity:
    """The export's identity: what it records, completed by ``quality`` / ``metric`` (which
    must not contradict it); a card needs a quality, so an export without one needs the
    argument."""
    recorded = ModelIdentity.from_record(export)
    for key, given in (("quality", quality), ("metric", metric)):
        held = export.get(key)
        if given is not None and held is not None and held != given:
            raise ValueError(f"the export records {key} {held!r}, not the requested {given!r}")
    if recorded.arch not in MODELS:
        raise ValueError(f"unknown architecture {recorded.arch!r} in the export")
    quality = recorded.quality if recorded.quality is not None else quality
    if quality is None:
        raise ValueError("the export records no quality (a run without --quality): pass --quality")
    metric = export.get("metric") or metric or DEFAULT_METRIC
    return ModelIdentity(recorded.arch, int(quality), metric, dict(export["config"]))


def publish(
    export: dict[str, Any],
    meta: dict[str, Any],
    zoo: Path,
    metric: str | None = None,
    quality: int | None = None,
) -> dict[str, Any]:
    """Write the weights of ``export`` into ``zoo`` and return the new manifest entry.

    The card's identity is the export's own (its metric included); ``metric`` / ``quality``
    fill what an export does not record.
    """
    identity = _identity(export, quality, metric)
    arch, quality, metric = identity.arch, identity.quality, identity.metric
    model = MODELS[arch](**identity.config)
    model.load_state_dict(export["state_dict"])
    if hasattr(model, "update"):
        model.update(force=True)
    # The model's own config names its input space even where the export's predates it.
    config = dict(getattr(model, "config", None) or identity.config)
    card = ModelIdentity(arch, quality, metric, config)
    buf = io.BytesIO()
    # The file records its own identity too, so that loading it by path (`-p FILE`) gives the
    # card's input space rather than the "paper" a bare state dict has to be read as.
    torch.save({**card.record(), "state_dict": model.state_dict()}, buf)
    data = buf.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    zoo.mkdir(parents=True, exist_ok=True)
    name = f"{arch}-q{quality}-{sha256[:8]}.pth"
    _atomic_write(zoo / name, data)

    entry = {
        **card.record(),  # the card's identity
        "file": name,
        "sha256": sha256,
        "meta": {
            "parameters": sum(p.numel() for p in model.parameters()),
            # How it was trained (precision, memory format), from the export itself.
            **(
                {"training_precision": export["training_precision"]}
                if export.get("training_precision")
                else {}
            ),
            **meta,
        },
    }
    manifest_path = zoo / MANIFEST_NAME
    entries = json.loads(manifest_path.read_text())["weights"] if manifest_path.exists() else []
    key = (arch, quality, metric)
    kept = [e for e in entries if (e["arch"], e["quality"], e["metric"]) != key]
    manifest = {"weights": [*kept, entry]}
    _atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    # Only once the new manifest is in place: the replaced card's file, unless still named.
    named = {e["file"] for e in manifest["weights"]}
    for replaced in {e["file"] for e in entries} - named:
        (zoo / replaced).unlink(missing_ok=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compressai_isp.zoo.publish")
    parser.add_argument("export", type=Path, help="model_best.pth written by the training CLI")
    parser.add_argument("--meta-json", type=Path, required=True, help="model card fields")
    parser.add_argument(
        "--metric", choices=["mse", "ms-ssim"], help="for an export that records none (mse)"
    )
    parser.add_argument("--quality", type=int, help="for an export that records none")
    parser.add_argument(
        "--zoo",
        type=Path,
        default=None,
        help="zoo folder (default: the package's zoo, or $COMPRESSAI_ISP_ZOO)",
    )
    args = parser.parse_args(argv)
    try:
        export = load_state_file(args.export)
        meta = json.loads(args.meta_json.read_text())
        entry = publish(export, meta, args.zoo or zoo_dir(), args.metric, args.quality)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        print(f"publish: {err}", file=sys.stderr)
        return 1
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
