"""Every command block of README.md runs as pasted, on a fresh copy of what the repository ships.

Each fenced shell block (```bash, ```sh, ```shell) runs with ``bash -e -o pipefail`` in its own
temporary copy of the repository's tracked files (no ``.venv``, no ``runs/``, no caches), so a
block may use only what a fresh clone has: the shipped photos in ``compressai_isp/assets``, the
weights in ``zoo/``, the results in ``docs/``. Commands resolve to this test's environment
(``compressai-isp`` and ``python`` of the interpreter running pytest).

A block that cannot run here (a GPU, FiveK or other data outside the repository, package
installation, more than about a minute) is preceded by ``<!-- readme-test: skip: <reason> -->``
and reported as skipped with that reason. Output listings use another fence (```text). A
```python block runs only when preceded by ``<!-- readme-test: run -->`` (most are fragments
that name the reader's own variables).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
SHELL_FENCES = ("bash", "sh", "shell")
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>\S.*?)\s*-->")
RUN_MARKER = re.compile(r"<!--\s*readme-test:\s*run\s*-->")
BLOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    """A fenced block of README.md: where it starts, its fence language, its code, its marker."""

    line: int
    lang: str
    code: str
    skip: str | None
    run_marked: bool

    @property
    def runs(self) -> bool:
        if self.skip is not None:
            return False
        return self.lang in SHELL_FENCES or (self.lang == "python" and self.run_marked)


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text``, each with the marker on the last non-blank line above it."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^(`{3,})(\S*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        fence, lang, start = opening.group(1), opening.group(2).lower(), i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence), len(lines))
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP_MARKER.search(above)
        blocks.append(
            Block(
                line=start + 1,
                lang=lang,
                code="\n".join(lines[start + 1 : end]) + "\n",
                skip=skip.group("reason") if skip else None,
                run_marked=bool(RUN_MARKER.search(above)),
            )
        )
        i = end + 1
    return blocks


def _command_blocks() -> list[Block]:
    """The shell blocks and the ```python blocks marked to run."""
    return [
        b
        for b in readme_blocks(README.read_text(encoding="utf-8"))
        if b.lang in SHELL_FENCES or (b.lang == "python" and b.run_marked)
    ]


def _block_id(block: Block) -> str:
    first = next((s for s in block.code.splitlines() if s.strip() and s[0] != "#"), "")
    return f"L{block.line}-{block.lang}-" + re.sub(r"[^A-Za-z0-9]+", "_", first)[:40].strip("_")


def _shipped_files() -> list[str]:
    """What a fresh clone holds: the tracked files (never a virtual environment or a cache)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("README blocks run on a copy of the git checkout; this is not one")
    return [f for f in listed.stdout.decode().split("\0") if f and (REPO_ROOT / f).is_file()]


@pytest.fixture(scope="module")
def shipped_files() -> list[str]:
    return _shipped_files()


def _fresh_copy(files: list[str], dest: Path) -> Path:
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    return dest


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The commands of this environment, as after `. .venv/bin/activate`.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["XDG_CACHE_HOME"] = str(home / "cache")  # decoded-image caches stay in the sandbox
    env.setdefault("OMP_NUM_THREADS", "2")
    for var in ("COMPRESSAI_ISP_ZOO", "PYTHONPATH"):
        env.pop(var, None)
    return env


def _run(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if block.lang == "python":
        argv = [sys.executable, "-c", block.code]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
    )


BLOCKS = _command_blocks()


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[_block_id(b) for b in BLOCKS])
def test_readme_block_runs_as_pasted(block: Block, shipped_files, tmp_path) -> None:
    if block.skip is not None:
        pytest.skip(f"README line {block.line}: {block.skip}")
    clone = _fresh_copy(shipped_files, tmp_path / "clone")
    done = _run(block, clone, _environment(tmp_path))
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
    assert done.returncode == 0, f"README line {block.line} exited {done.returncode}:\n{tail}"


def test_skip_markers_parse_and_need_a_reason() -> None:
    text = (
        "<!-- readme-test: skip: needs a GPU -->\n```bash\nnvidia-smi\n```\n\n"
        "```bash\necho hi\n```\n<!-- readme-test: skip: -->\n```sh\nfalse\n```\n"
        "<!-- readme-test: run -->\n```python\nprint(1)\n```\n```text\nout\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.lang, b.skip, b.runs) for b in blocks] == [
        ("bash", "needs a GPU", False),
        ("bash", None, True),
        ("sh", None, True),  # a marker without a reason does not skip
        ("python", None, True),
        ("text", None, False),
    ]
    assert blocks[1].code == "echo hi\n" and blocks[1].line == 6


def test_most_readme_commands_really_run() -> None:
    shell = [b for b in BLOCKS if b.lang in SHELL_FENCES]
    assert len([b for b in shell if b.runs]) >= 6, "nearly every command block is skipped"
    for b in shell:
        assert b.skip is None or len(b.skip) > 10, f"line {b.line}: say why it cannot run here"


def test_the_demo_output_is_ignored_by_git() -> None:
    # The README's first command writes ./compressai-isp-demo/ inside the checkout.
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "compressai-isp-demo/Canon_S40_CRW_0112.rbit"],
        cwd=REPO_ROOT,
        check=False,
    )
    assert ignored.returncode == 0
