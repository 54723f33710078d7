"""Write the model card of one finished equal-budget run, from what the run and its scores recorded.

Everything measured comes from files, not from the person publishing: the step and precision
from the run's ``model_best.pth``, the CPU time from the ``/usr/bin/time`` file of the run, and
the metrics from the JSONs that ``scripts/equal_budget_eval.sh NAME RUN`` wrote into
``docs/equal-budget/{test,val,kodak}/NAME.json``. The card is what ``zoo.publish --meta-json``
takes (README, "The zoo at equal budget"):

    python scripts/equal_budget_card.py runs/zoo/unified-q7 unified-raw-q7 \\
        --time runs/zoo/unified-q7.time --command "python -m compressai_isp.train ..." \\
        --status "equal-budget q6 point" -o runs/zoo/unified-q7.card.json
    python -m compressai_isp.zoo.publish runs/zoo/unified-q7/model_best.pth \\
        --meta-json runs/zoo/unified-q7.card.json --zoo zoo-candidates
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from compressai_isp.io import load_model
from compressai_isp.training.optim import decay_step

DATA = (
    "ONE ISP (recipe of commit cbbffcf): (a) the 80% training split (seed 0) of the CC0 RAW files"
    " in ../shared/data/raw the data layer accepts (Canon PowerShot S40 x4 + G2 x1 CRW, Kodak DC50"
    " x4 KDC; DC120 refused: non-square pixels), LibRaw renders as targets; (b) one-ISP synthetic"
    " RAW (inverse of LibRaw's recipe, behind an optical low-pass filter [1,2,1]/4, shot/read"
    " noise) from the 19 Kodak PNGs of the Kodak train split, LibRaw's render of each noisy"
    " synthetic DNG as target. 28 images, 3 steps per epoch."
)
MACHINE = (
    "2-core shared AMD EPYC CPU with AVX512-BF16 (no AMX), no GPU, 1 torch thread, beside a"
    " second training run; {precision}; {cpu_min:.1f} CPU-minutes"
)
SPLITS = {
    "test": "test (seed 0): Canon PowerShot S40 CRW_0112, whole image, target its LibRaw render",
    "val": "val (seed 0): Canon PowerShot S40 CRW_0105, whole image",
    "kodak": "the 4 held-out Kodak images as one-ISP DNGs (scripts/synthetic_test_set.py)",
}
METRICS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "delta-e00")


def cpu_minutes(time_file: Path) -> float:
    """CPU minutes from a ``/usr/bin/time -f "cpu_s=%U+%S wall_s=%e"`` file."""
    match = re.search(r"cpu_s=([\d.]+)\+([\d.]+)", time_file.read_text())
    if match is None:
        raise SystemExit(f"error: {time_file}: no 'cpu_s=USER+SYS' line")
    return (float(match[1]) + float(match[2])) / 60


def scores(scores_dir: Path, name: str, point: int = 0) -> dict[str, dict[str, Any]]:
    """Each held-out set's scores of NAME at rate point ``point`` of its curve (a ladder's JSON
    lists one per model; an ISP-only model has no bpp)."""
    out = {}
    for split in SPLITS:
        path = scores_dir / split / f"{name}.json"
        if not path.is_file():  # an ISP-only model: its ceiling, as equal_budget_eval.sh wrote it
            path = scores_dir / split / name / "liteispnet-isp-only.json"
        if not path.is_file():
            raise SystemExit(f"error: {path}: missing; run scripts/equal_budget_eval.sh first")
        results = json.loads(path.read_text())["results"]
        out[split] = {k: round(float(results[k][point]), 4) for k in METRICS if k in results}
    return out


def card(args: argparse.Namespace) -> dict[str, Any]:
    model = torch.load(args.run / "model_best.pth", map_location="cpu", weights_only=True)
    network = load_model(args.run / "model_best.pth").model
    precision = model.get("training_precision") or {}
    measured = scores(args.scores, args.name, args.point)
    metrics: dict[str, Any] = {"split": SPLITS["test"], **measured["test"]}
    metrics.update(val=measured["val"], kodak=measured["kodak"])
    metrics["command"] = f"scripts/equal_budget_eval.sh {args.name} MODEL (real rANS bitstreams)"
    run = model["train_config"]
    lr, drop = run["learning_rate"], decay_step(SimpleNamespace(**run))
    schedule = f"lr {lr:g}" + (f", {lr * run['lr_decay_factor']:g} from {drop}" if drop else "")
    return {
        "parameters": sum(p.numel() for p in network.parameters()),
        "training_precision": precision,
        "lambda": model.get("lmbda"),
        "input_space": model["config"].get("input_space"),
        "training_command": args.command,
        "steps": f"{run['max_steps']} ({schedule}); the weights are the best validation"
        f" checkpoint, step {model['step']}",
        "batch_size": run["batch_size"],
        "patch": "128x128 sRGB / 64x64 packed RAW",
        "machine": MACHINE.format(
            precision=f"precision {precision.get('precision', 'fp32')}",
            cpu_min=cpu_minutes(args.time),
        ),
        "data": DATA,
        "metrics": metrics,
        "status": args.status,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run's --save directory")
    parser.add_argument("name", help="its name in docs/equal-budget/<set>/NAME.json")
    parser.add_argument("--time", type=Path, required=True, help="/usr/bin/time output of the run")
    parser.add_argument("--command", required=True, help="the training command, as run")
    parser.add_argument("--status", required=True, help="what the weights are for")
    parser.add_argument("--scores", type=Path, default=Path("docs/equal-budget"))
    parser.add_argument("--point", type=int, default=0, help="its index in a ladder's curve")
    parser.add_argument("-o", "--output", type=Path, help="card JSON (default: stdout)")
    args = parser.parse_args(argv)
    text = json.dumps(card(args), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
