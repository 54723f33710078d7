#!/usr/bin/env python
"""Structured fuzzer of the .rbit decode path: crafted streams, no crash, no hang, no leftovers.

Each case starts from a real stream, made either by the zoo's default model (paper input space;
decoded through the header-driven zoo lookup, as ``compressai-isp decode`` does) or by a
reduced-width camera-normalised RBN saved to a temporary checkpoint (decoded with it, as
``decode --checkpoint``). A mutator then rewrites
it the way a hostile writer would -- header fields, string tables, payload bytes -- and
recomputes every CRC the writer can compute (the container's, and the latent string's payload
CRC; only the symbol checksum needs a decoder to forge). Mutators: huge / zero / odd geometry,
self-consistent bombs (with hyper-latents padded to the length floor), latent shapes, string
counts and layouts, truncated and extended strings, payload bytes, fingerprints, model names
and input spaces (the other space, a version-1 stream that means paper), names with trailing
newlines, header and total lengths past the end, versions, and plain disk damage without a
CRC fix.

Every case is written to a file, read with ``read_bitstream``, matched to its model with
``model_for_stream`` and decoded to a PNG with ``decode_bitstream`` + ``save_image``. It must
either give a PNG of the photo's size or one ``BitstreamError`` line naming the file, and leave
no other file behind. Cases run in a worker process with a per-case timeout (a hang kills and
replaces the worker); the worker samples its resident memory while each case runs.

    OMP_NUM_THREADS=1 python scripts/fuzz_codec.py --cases 10000 --seed 1 --report fuzz.json

Exit status 1 when any case crashed, hung, left a partial output or failed otherwise; each such
case is saved under ``--crash-dir`` (replay one with ``--only INDEX``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing as mp
import platform
import random
import re
import resource
import shutil
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compressai_isp import zoo
from compressai_isp.codec.engine import (
    checkpoint_model,
    decode_bitstream,
    encode_file,
    model_for_stream,
    save_image,
    zoo_model,
)
from compressai_isp.codec.format import (
    FORMAT_VERSION,
    BitstreamError,
    pack_unchecked,
    read_bitstream,
    unpack,
)
from compressai_isp.codec.limits import min_hyperprior_bytes
from compressai_isp.data import write_dng

MODELS = ("zoo", "checkpoint")
TINY = dict(N=8, M=8, N_hyper=8, decoder_width=4)
# What issue 11 asks of any stream under 1 MB unless it really holds that many symbols.
TARGET_SECONDS, TARGET_RSS = 2.0, 1.5e9
_BOUNDARY = (0, 1, 2, 3, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


# ---- mutators: (case, rng) -> bytes ----------------------------------------------------------


@dataclasses.dataclass
class Case:
    """The fields of one parsed stream, for mutators to rewrite and :meth:`pack` to serialise."""

    fields: dict[str, Any]
    model: Any  # the CodecModel that made the stream
    other_fingerprint: bytes

    def pack(self, **changes: Any) -> bytes:
        return pack_unchecked(**{**self.fields, **changes})

    @property
    def geometry(self) -> Any:
        return self.fields["geometry"]

    @property
    def factor(self) -> int:
        return self.model.model.downsampling_factor


def fix_crc(data: bytes | bytearray) -> bytes:
    body = bytes(data[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def consistent(case: Case, height: int, width: int) -> dict[str, Any]:
    """Fields declaring a ``height`` x ``width`` photo whose geometry and latent shape agree."""
    factor = case.factor
    pad_h, pad_w = -(height // 2) % factor, -(width // 2) % factor
    geometry = dataclasses.replace(
        case.geometry, raw_height=height, raw_width=width, crop_top=0, crop_left=0,
        crop_height=height, crop_width=width, pad_bottom=pad_h, pad_right=pad_w, cfa="RGGB",
    )  # fmt: skip
    latent = ((height // 2 + pad_h) // factor, (width // 2 + pad_w) // factor)
    return {"geometry": geometry, "latent_shape": latent}


def mutate_bomb(case: Case, rng: random.Random) -> bytes:
    """A self-consistent huge photo; sometimes its hyper-latent is padded up to the floor."""
    side = rng.choice([16384, 32768, 65534, 12000, 8000, 4096, rng.randrange(2, 65535, 2)])
    other = rng.choice([side, 2, 64, rng.randrange(2, 65535, 2)])
    height, width = (side, other) if rng.random() < 0.5 else (other, side)
    changes = consistent(case, height, width)
    if rng.random() < 0.5:
        (y,), (z,) = case.fields["strings"]
        need = min_hyperprior_bytes(case.model.model, math.prod(changes["latent_shape"]))
        filler = rng.randbytes(max(0, min(need, 1 << 20) - len(z) + rng.randrange(64)))
        changes["strings"] = [[y], [z + filler]]
    return case.pack(**changes)


_GEOMETRY_FIELDS = (
    "raw_height", "raw_width", "crop_top", "crop_left", "crop_height", "crop_width",
    "pad_bottom", "pad_right", "orientation", "cfa",
)  # fmt: skip
_FIELD_MAX = {"pad_bottom": 0xFFFF, "pad_right": 0xFFFF, "orientation": 0xFF}


def mutate_geometry(case: Case, rng: random.Random) -> bytes:
    """One to three geometry fields set to boundary, odd or random values."""
    changes: dict[str, Any] = {}
    for name in rng.sample(_GEOMETRY_FIELDS, rng.randint(1, 3)):
        if name == "cfa":
            changes[name] = "".join(rng.choice("RGBX") for _ in range(4))
            continue
        top = _FIELD_MAX.get(name, 0xFFFFFFFF)
        current = getattr(case.geometry, name)
        value = rng.choice([*_BOUNDARY, current + 1, current - 1, rng.randrange(top + 1)])
        changes[name] = min(max(value, 0), top)
    return case.pack(geometry=dataclasses.replace(case.geometry, **changes))


def mutate_latent_shape(case: Case, rng: random.Random) -> bytes:
    shape = list(case.fields["latent_shape"])
    ndim = rng.choice([0, 1, 2, 2, 3, 4, 5])
    values = [*shape, 0, 1, 2, 0xFFFF, 0x10000, 0xFFFFFFFF, shape[0] + 1]
    return case.pack(latent_shape=[rng.choice(values) for _ in range(ndim)])


def mutate_layout(case: Case, rng: random.Random) -> bytes:
    """String groups and counts the model never writes: too many, too few, empty, swapped."""
    (y,), (z,) = case.fields["strings"]
    layouts = [
        [], [[y]], [[y], [z], [z]], [[y, y], [z, z]], [[y], [z, z]], [[y] * 16, [z] * 16],
        [[], [z]], [[y], []], [[z], [y]], [[b""], [z]], [[y], [b""]], [[y]] * 17, [[y] * 17, [z]],
    ]  # fmt: skip
    return case.pack(strings=rng.choice(layouts))


def _string_pair(case: Case) -> list[bytes]:
    (y,), (z,) = case.fields["strings"]
    return [y, z]


def mutate_string_length(case: Case, rng: random.Random) -> bytes:
    """A truncated or extended string, the length table kept consistent."""
    strings = _string_pair(case)
    k = rng.randrange(2)
    s = strings[k]
    if rng.random() < 0.6:
        strings[k] = s[: rng.randrange(len(s) + 1)]
    else:
        strings[k] = s + rng.choice([bytes(rng.randrange(1, 4096)), rng.randbytes(64)])
    return case.pack(strings=[[strings[0]], [strings[1]]])


def mutate_payload(case: Case, rng: random.Random) -> bytes:
    """Overwritten payload bytes; for the latent, its own payload CRC is recomputed, so the
    damage reaches the rANS decoder."""
    strings = _string_pair(case)
    k = rng.randrange(2)
    s = bytearray(strings[k])
    for _ in range(rng.randint(1, 6)):
        s[rng.randrange(len(s))] = rng.randrange(256)
    if k == 0 and len(s) > 8 and rng.random() < 0.8:
        struct.pack_into("<I", s, 0, zlib.crc32(bytes(s[8:])))
    strings[k] = bytes(s)
    return case.pack(strings=[[strings[0]], [strings[1]]])


def mutate_identity(case: Case, rng: random.Random) -> bytes:
    """Another model's fingerprint, architecture, quality, metric or input space, or the same
    stream in format version 1 (which means paper space)."""
    choice = rng.randrange(6)
    if choice == 0:
        fingerprint = bytearray(case.fields["fingerprint"])
        fingerprint[rng.randrange(16)] ^= 1 << rng.randrange(8)
        options = [bytes(fingerprint), rng.randbytes(16), case.other_fingerprint]
        return case.pack(fingerprint=rng.choice(options))
    if choice == 1:
        arch = rng.choice(["unified-raw", "cascaded", "liteispnet", "comp-net", "nosuch", "a"])
        return case.pack(arch=arch)
    if choice == 2:
        return case.pack(quality=rng.choice([0, 1, 2, 3, 5, 7, 255]))
    if choice == 3:
        return case.pack(input_space=rng.choice(["paper", "camera-normalised", "srgb"]))
    if choice == 4:
        return case.pack(version=1)
    return case.pack(metric=rng.choice(["ms-ssim", "mse2", "psnr", "x"]))


def mutate_names(case: Case, rng: random.Random) -> bytes:
    """Names the format refuses: trailing newline, capitals, empty, too long, non-ASCII."""
    field = rng.choice(["arch", "metric", "input_space"])
    name = case.fields[field]
    bad = rng.choice(
        [name + "\n", name + "\r\n", name.upper(), "", "x" * 65, name + "\x00", " " + name, "-a"]
    )
    if rng.random() < 0.2:  # a non-ASCII byte where the architecture's first letter is
        data = bytearray(case.pack())
        data[23] = rng.randrange(128, 256)
        return fix_crc(data)
    return case.pack(**{field: bad})


def mutate_prefix(case: Case, rng: random.Random) -> bytes:
    """Version, header length and total length rewritten (past the end, zero, off by one)."""
    data = bytearray(case.pack())
    header_len, total = struct.unpack_from("<IQ", data, 10)
    field = rng.randrange(3)
    if field == 0:
        struct.pack_into("<H", data, 8, rng.choice([0, 1, FORMAT_VERSION + 1, 0xFFFF]))
    elif field == 1:
        value = rng.choice([0, 21, 22, header_len - 1, header_len + 1, total - 4, total, total + 9])
        struct.pack_into("<I", data, 10, min(max(value, 0), 0xFFFFFFFF))
    else:
        value = rng.choice([0, 25, total - 1, total + 1, 1 << 40, (1 << 64) - 1])
        struct.pack_into("<Q", data, 14, value)
    return fix_crc(data)


def mutate_damage(case: Case, rng: random.Random) -> bytes:
    """Disk or network damage: flips, overwrites, insertions, deletions, truncation; no CRC fix."""
    buf = bytearray(case.pack())
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["flip", "set", "insert", "delete", "truncate"])
        pos = rng.randrange(max(len(buf), 1))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == "set" and buf:
            buf[pos] = rng.randrange(256)
        elif kind == "insert":
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif kind == "delete":
            del buf[pos : pos + rng.randint(1, 16)]
        elif kind == "truncate" and rng.random() < 0.3:
            del buf[pos:]
    return bytes(buf)


MUTATORS: dict[str, Callable[[Case, random.Random], bytes]] = {
    "bomb": mutate_bomb,
    "geometry": mutate_geometry,
    "latent-shape": mutate_latent_shape,
    "layout": mutate_layout,
    "string-length": mutate_string_length,
    "payload": mutate_payload,
    "identity": mutate_identity,
    "names": mutate_names,
    "prefix": mutate_prefix,
    "damage": mutate_damage,
    "none": lambda case, rng: case.pack(),
}


def case_plan(seed: int, index: int) -> tuple[str, str, random.Random]:
    """Model, mutator and random source of case ``index``: reproducible case by case."""
    rng = random.Random(f"{seed}:{index}")
    return MODELS[index % 2], rng.choice(sorted(MUTATORS)), rng


# ---- the worker: models, base streams, one decode per case -----------------------------------


class PeakRSS:
    """Resident memory sampled every few milliseconds while a case runs (bytes)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> PeakRSS:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def build_cases(work: Path, seed: int) -> dict[str, Case]:
    """The zoo's default model (paper space) and a reduced-width camera-normalised checkpoint,
    each with a real stream."""
    torch.manual_seed(seed)
    checkpoint = work / "tiny-rbn.pth"
    tiny = zoo.rbn(1, **TINY, input_space="camera-normalised")
    state = {"arch": "rbn", "quality": 1, "config": tiny.config, "state_dict": tiny.state_dict()}
    torch.save(state, checkpoint)
    models = {"checkpoint": checkpoint_model(checkpoint), "zoo": zoo_model("rbn", 6)}
    mosaic = np.random.default_rng(seed).integers(0, 4095, (71, 93)).astype(np.uint16)
    photo = write_dng(work / "photo.dng", mosaic, cfa="GBRG", white_level=4095)
    cases = {}
    for name, cm in models.items():
        bs = unpack(encode_file(photo, cm))
        h = bs.header
        fields = dict(
            arch=h.arch, quality=h.quality, metric=h.metric, fingerprint=h.fingerprint,
            geometry=h.geometry, latent_shape=h.latent_shape, strings=bs.strings,
            input_space=h.input_space,
        )  # fmt: skip
        other = models["zoo" if name == "checkpoint" else "checkpoint"].fingerprint
        cases[name] = Case(fields, cm, other)
    return cases


def reason(message: str) -> str:
    """The kind of a rejection: its message without numbers, fingerprints or details."""
    kind = re.sub(r"\b[0-9a-f]{32}\b", "<fingerprint>", message.split(" (")[0])
    kind = re.sub(r"(?<![a-z])b?'[^']*'(?![a-z])", "<name>", kind)
    return re.sub(r"\d+(\.\d+)?", "N", kind)[:90]


def decode_case(path: Path, out: Path, case: Case, by_zoo: bool, cache: dict) -> str:
    """What ``compressai-isp decode`` does with one file; returns the outcome."""
    source = str(path)
    try:
        bs = read_bitstream(path)
        cm = model_for_stream(bs.header, source, None if by_zoo else case.model, cache)
        srgb = decode_bitstream(bs, cm, source)
        save_image(out, srgb)
    except BitstreamError as err:
        message = str(err)
        if "\n" in message or not message.startswith(f"{source}: "):
            return f"finding: not a one-line error naming the file: {message!r}"
        return "rejected: " + reason(message[len(source) + 2 :])
    except Exception as err:  # noqa: BLE001 - every other exception is a finding
        return f"finding: {type(err).__name__}: {' '.join(str(err).split())[:300]}"
    g = bs.header.geometry
    expected = {(g.crop_height, g.crop_width), (g.crop_width, g.crop_height)}
    if tuple(srgb.shape[-2:]) not in expected:
        return f"finding: decoded {tuple(srgb.shape)} for a {g.crop_height}x{g.crop_width} photo"
    return "decoded"


def run_case(work: Path, cases: dict[str, Case], seed: int, index: int, cache: dict) -> dict:
    model, mutator, rng = case_plan(seed, index)
    data = MUTATORS[mutator](cases[model], rng)
    path, out_dir = work / "case.rbit", work / "out"
    path.write_bytes(data)
    out_dir.mkdir(exist_ok=True)
    start = time.perf_counter()
    with PeakRSS() as rss:
        outcome = decode_case(path, out_dir / "case.png", cases[model], model == "zoo", cache)
    seconds = time.perf_counter() - start
    left = sorted(p.name for p in out_dir.iterdir())
    if left != (["case.png"] if outcome == "decoded" else []):
        outcome = f"partial output: {left} after {outcome}"
    for p in out_dir.iterdir():
        p.unlink()
    return dict(
        index=index, model=model, mutator=mutator, bytes=len(data), outcome=outcome,
        seconds=seconds, rss=rss.peak,
    )  # fmt: skip


def worker(conn: Any, work: str, seed: int) -> None:
    """Build the models once, then run the cases the parent sends until it sends ``None``."""
    work_dir = Path(work)
    cases = build_cases(work_dir, seed)
    cache: dict = {}
    conn.send(("ready", PeakRSS.now()))
    while (index := conn.recv()) is not None:
        conn.send(("done", run_case(work_dir, cases, seed, index, cache)))
    conn.send(("bye", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


# ---- the parent: timeouts, restarts, the report ---------------------------------------------


class Pool:
    """One worker process at a time; a hang or a crash kills it and starts another."""

    def __init__(self, work: Path, seed: int, start_timeout: float) -> None:
        self.work, self.seed, self.start_timeout = work, seed, start_timeout
        self.ctx = mp.get_context("spawn")
        self.baseline_rss, self.max_rss, self.restarts = 0, 0, -1
        self._start()

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker, args=(child, str(self.work), self.seed))
        self.proc.start()
        self.restarts += 1
        if not self.conn.poll(self.start_timeout):
            raise RuntimeError("the fuzz worker did not start")
        _, self.baseline_rss = self.conn.recv()

    def run(self, index: int, timeout: float) -> dict:
        self.conn.send(index)
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()[1]
            outcome = f"hang: no answer in {timeout:g} s"
        except (EOFError, ConnectionResetError):
            self.proc.join(5)
            outcome = f"crash: worker died (exit code {self.proc.exitcode})"
        self.proc.kill()
        self.proc.join()
        self._start()
        model, mutator, _ = case_plan(self.seed, index)
        return dict(
            index=index, model=model, mutator=mutator, outcome=outcome, seconds=timeout, rss=0
        )

    def close(self) -> None:
        self.conn.send(None)
        if self.conn.poll(30):
            self.max_rss = max(self.max_rss, self.conn.recv()[1])
        self.proc.join(30)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarise(results: list[dict], pool: Pool, seconds: float) -> dict:
    outcomes = Counter(r["outcome"] for r in results)
    kinds = Counter(r["outcome"].split(":")[0] for r in results)
    slowest = max(results, key=lambda r: r["seconds"])
    hungriest = max(results, key=lambda r: r["rss"])
    return {
        "cases": len(results),
        "decoded": kinds["decoded"],
        "rejected": kinds["rejected"],
        "crashes": kinds["crash"],
        "hangs": kinds["hang"],
        "partial_outputs": kinds["partial output"],
        "findings": kinds["finding"],
        "worker_restarts": pool.restarts,
        "wall_seconds": round(seconds, 1),
        "slowest_case": {k: slowest.get(k) for k in ("index", "mutator", "seconds", "outcome")},
        "peak_rss_bytes": max(pool.max_rss, hungriest["rss"]),
        "peak_rss_case": {k: hungriest.get(k) for k in ("index", "mutator", "rss", "outcome")},
        "worker_baseline_rss_bytes": pool.baseline_rss,
        "over_target": sum(r["seconds"] > TARGET_SECONDS or r["rss"] > TARGET_RSS for r in results),
        "by_mutator": {
            m: dict(Counter(r["outcome"].split(":")[0] for r in results if r["mutator"] == m))
            for m in sorted(MUTATORS)
        },
        "outcomes": dict(outcomes.most_common()),
        "cpu": cpu_name(),
        "python": platform.python_version(),
    }


def print_report(report: dict) -> None:
    gb = 1e9
    print(
        f"{report['cases']} cases in {report['wall_seconds']} s on {report['cpu']}: "
        f"{report['decoded']} decoded, {report['rejected']} rejected, {report['crashes']} "
        f"crashes, {report['hangs']} hangs, {report['partial_outputs']} partial outputs, "
        f"{report['findings']} other findings"
    )
    slow, hungry = report["slowest_case"], report["peak_rss_case"]
    print(
        f"peak RSS {report['peak_rss_bytes'] / gb:.2f} GB (worker at rest "
        f"{report['worker_baseline_rss_bytes'] / gb:.2f} GB; case {hungry['index']}, "
        f"{hungry['mutator']}); slowest case {slow['index']} ({slow['mutator']}) "
        f"{slow['seconds']:.2f} s; {report['over_target']} cases over "
        f"{TARGET_SECONDS:g} s or {TARGET_RSS / gb:g} GB"
    )
    for outcome, count in report["outcomes"].items():
        print(f"  {count:6d}  {outcome}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, metavar="INDEX", help="run just this case")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case (60)")
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)

    indexes = [args.only] if args.only is not None else list(range(args.cases))
    results = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-codec-") as tmp:
        pool = Pool(Path(tmp), args.seed, start_timeout=600)
        for index in indexes:
            result = pool.run(index, args.timeout)
            results.append(result)
            if not result["outcome"].startswith(("decoded", "rejected")):
                args.crash_dir.mkdir(parents=True, exist_ok=True)
                saved = args.crash_dir / f"case-{args.seed}-{index}.rbit"
                shutil.copyfile(Path(tmp) / "case.rbit", saved)
                print(f"FINDING in case {index}: {result['outcome']} (saved {saved})", flush=True)
        pool.close()
    report = summarise(results, pool, time.perf_counter() - start)
    print_report(report)
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    bad = sum(report[k] for k in ("crashes", "hangs", "partial_outputs", "findings"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
