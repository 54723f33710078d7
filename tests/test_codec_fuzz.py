"""scripts/fuzz_codec.py in small: every mutator, both models, no crash, hang or leftover file.

The long run (10,000+ cases, figures in the README's codec section) is the same script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_short_structured_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fuzz_codec.py"), "--cases", "60", "--seed",
         "11", "--timeout", "60", "--crash-dir", str(tmp_path / "crashes"), "--report",
         str(report)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(report.read_text())
    assert figures["cases"] == 60
    assert figures["crashes"] == figures["hangs"] == figures["partial_outputs"] == 0
    assert figures["findings"] == 0 and not (tmp_path / "crashes").exists()
    assert figures["decoded"] > 0 and figures["rejected"] > 0
    assert all(sum(counts.values()) > 0 for counts in figures["by_mutator"].values())
    assert figures["peak_rss_bytes"] >= figures["worker_baseline_rss_bytes"] > 0
