"""Measure the cells of ``scripts/ablation_input_space.sh`` and print the README table.

Each cell's ``model_best.pth`` (an ISP-only LiteISPNet) renders whole images, fed in its own
input space, and is scored like eval (8-bit PSNR, mean CIEDE2000) against:

* the real RAW test split (LibRaw renders; ``CRW_0112`` for the shared corpus);
* the Kodak synthetic test split made with the one-ISP recipe (LibRaw's render of the
  synthetic DNG is the target), the ISP every real target comes from;
* the same, noise-free (what is left when the synthetic sensor noise is not there to remove);
* the same images made with the paper's unprocessing recipe (the source image is the target).

    python scripts/ablation_table.py runs/ablation [--json results/ablation.json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import torch

from compressai_isp.data import RawFolder, SyntheticRawFolder
from compressai_isp.io import load_model, load_state_file
from compressai_isp.metrics import compute_metrics
from compressai_isp.utils.anchors import render_isp

CELLS = [
    ("paper", "unprocessing"),
    ("paper", "libraw"),
    ("camera-normalised", "unprocessing"),
    ("camera-normalised", "libraw"),
]


TEST_SETS = ("real", "kodak-one-isp", "kodak-one-isp-clean", "kodak-unprocessing")


def _score(model: torch.nn.Module, dataset) -> dict[str, float]:
    scores = [compute_metrics(srgb, render_isp(model, raw)) for raw, srgb in dataset]
    return {key: statistics.fmean(s[key] for s in scores) for key in ("psnr-rgb", "delta-e00")}


def _test_sets(raw_root: Path, kodak_root: Path, space: str) -> dict[str, object]:
    common = {"split": "test", "full_image": True, "input_space": space}
    return {
        "real": RawFolder(raw_root, skip_unreadable=True, **common),
        "kodak-one-isp": SyntheticRawFolder(kodak_root, isp="libraw", **common),
        "kodak-one-isp-clean": SyntheticRawFolder(kodak_root, isp="libraw", noise=False, **common),
        "kodak-unprocessing": SyntheticRawFolder(kodak_root, isp="unprocessing", **common),
    }


def _cpu_minutes(time_file: Path) -> float | None:
    match = (
        re.search(r"cpu_s=([\d.]+)\+([\d.]+)", time_file.read_text())
        if time_file.exists()
        else None
    )
    return (float(match[1]) + float(match[2])) / 60 if match else None


def measure(out: Path, raw_root: Path, kodak_root: Path) -> list[dict[str, object]]:
    rows = []
    for space, isp in CELLS:
        weights = out / f"{space}-{isp}" / "model_best.pth"
        if not weights.exists():
            print(f"note: {weights} missing; cell skipped", file=sys.stderr)
            continue
        model = load_model(weights).model
        row: dict[str, object] = {"input_space": space, "synthetic_isp": isp}
        row["steps"] = load_state_file(weights)["step"]
        row["cpu_minutes"] = _cpu_minutes(out / f"{space}-{isp}.time")
        for name, dataset in _test_sets(raw_root, kodak_root, model.input_space).items():
            row[name] = _score(model, dataset)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    head = (
        "| input space | synthetic targets | steps | CPU min | real test PSNR / ΔE00 "
        "| Kodak one-ISP PSNR / ΔE00 | same, noise-free | Kodak unprocessing PSNR / ΔE00 |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        cells = [f"{r[k]['psnr-rgb']:.2f} / {r[k]['delta-e00']:.2f}" for k in TEST_SETS]
        cpu = f"{r['cpu_minutes']:.1f}" if r["cpu_minutes"] is not None else "?"
        targets = "one-ISP (libraw)" if r["synthetic_isp"] == "libraw" else "mixed (unprocessing)"
        lines.append(
            f"| {r['input_space']} | {targets} | {r['steps']} | {cpu} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the ablation's output folder")
    parser.add_argument("--raw", type=Path, default=Path("../shared/data/raw"))
    parser.add_argument("--kodak", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = measure(args.out, args.raw, args.kodak)
    print(markdown(rows))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
