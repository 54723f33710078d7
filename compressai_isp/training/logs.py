"""Where a run reports: ``log.csv``, TensorBoard events, a progress bar and printed lines.

Only rank 0 of a distributed run writes; the other ranks hold a :class:`RunLog` that records
nothing, so the training loop calls it the same way everywhere.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

__all__ = ["CSV_NAME", "CsvLog", "RunLog", "fmt"]

CSV_NAME = "log.csv"
#: The training entries the progress bar shows, when the run has them.
BAR_KEYS = ("loss", "bpp", "psnr", "kd", "kd/enc", "kd/dec")


def fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}"


class CsvLog:
    """Append-only CSV with a fixed header; on resume, rows past the checkpoint's step are dropped
    (the killed run may have logged steps that the resumed run will log again)."""

    def __init__(self, path: Path, fields: list[str], resume_step: int | None) -> None:
        self.path = path
        self.fields = list(fields)
        if resume_step is not None and path.is_file():
            self._keep_rows_up_to(resume_step)
        else:
            with path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writeheader()

    def _keep_rows_up_to(self, step: int) -> None:
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            old_fields = list(reader.fieldnames or [])
            kept = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) <= step]
        self.fields = old_fields + [k for k in self.fields if k not in old_fields]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, restval="")
            w.writeheader()
            w.writerows(kept)
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, restval="", extrasaction="ignore")
            w.writerow(row)


class RunLog:
    """The run's outputs besides checkpoints.

    Training entries are averaged over ``log_every`` steps into one CSV / TensorBoard row;
    every ``print_every`` steps that row is also printed. Printed lines go above a live bar.
    """

    def __init__(
        self,
        save_dir: Path,
        fields: list[str],
        *,
        main: bool,
        resume_step: int | None,
        tensorboard: bool,
        progress: bool,
        total_steps: int | None,
        start_step: int,
    ) -> None:
        """``total_steps``: what the progress bar counts to (None: the run has no step budget)."""
        self.main = main
        self.csv = CsvLog(save_dir / CSV_NAME, fields, resume_step) if main else None
        self.tb = None
        if main and tensorboard:
            purge = resume_step + 1 if resume_step is not None else None
            self.tb = SummaryWriter(str(save_dir / "tb"), purge_step=purge)
        self.bar = None
        if main and progress:
            self.bar = tqdm(total=total_steps, initial=start_step, dynamic_ncols=True, disable=None)
        self._window: dict[str, list[float]] = {}

    def echo(self, msg: str) -> None:
        """Print a line (rank 0), above a live progress bar instead of onto its line."""
        if not self.main:
            return
        if self.bar is not None and not self.bar.disable:
            self.bar.write(msg)
        else:
            print(msg)
        sys.stdout.flush()

    def train(self, logs: dict[str, float], step: int, epoch: int, every: tuple[int, int]) -> None:
        """Record one step's entries; ``every = (log_every, print_every)``."""
        for key, v in logs.items():
            self._window.setdefault(key, []).append(v)
        log_every, print_every = every
        if step % log_every == 0:
            row: dict[str, Any] = {"step": step, "epoch": epoch, "split": "train"}
            row.update({k: float(np.mean(v)) for k, v in self._window.items()})
            self._window.clear()
            self._write_train_row(row, step, print_every)
        if self.bar is not None:
            self.bar.update(1)

    def _write_train_row(self, row: dict[str, Any], step: int, print_every: int) -> None:
        if not self.main:
            return
        assert self.csv is not None
        self.csv.write(row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("step", "split") and isinstance(v, float | int):
                    self.tb.add_scalar(f"train/{k}", v, step)
        if self.bar is not None:
            self.bar.set_postfix({k: fmt(row[k]) for k in BAR_KEYS if k in row}, refresh=False)
        if step % print_every == 0:
            self.echo(" ".join(f"{k}={fmt(v)}" for k, v in row.items() if k != "split"))

    def val(self, val: dict[str, float], step: int, epoch: int, improved: bool) -> None:
        """One validation's row, TensorBoard scalars and printed line."""
        if not self.main:
            return
        assert self.csv is not None
        self.csv.write({"step": step, "epoch": epoch, "split": "val", **val})
        if self.tb is not None:
            for k, v in val.items():
                self.tb.add_scalar(f"val/{k}", v, step)
        msg = f"val step={step} " + " ".join(f"{k}={fmt(v)}" for k, v in val.items())
        self.echo(msg + (" (best)" if improved else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
