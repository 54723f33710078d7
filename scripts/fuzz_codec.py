#!/usr/bin/env python
"""Long fuzz run of the .rbit reader and decoder: thousands of mutated streams, no crash, no hang.

The unit tests (tests/test_codec_format.py, tests/test_codec.py) fuzz the parser with a few
thousand examples and the decoder with a handful; this script runs the whole decode path
(parse -> model lookup with fingerprint check -> entropy decoding -> synthesis) on as many
mutated streams as you like, with a reduced-width RBN so each decode is cheap.

Three kinds of mutation, in turn: *random* damage (bit flips, byte changes, insertions,
deletions, truncation) as a disk or a network would do it; *crafted* damage where the CRC-32
is recomputed afterwards, as a hostile writer would, so the header checks are exercised; and
*crafted payload* damage (payload bytes overwritten, lengths kept, CRC fixed), which always
reaches the entropy decoder.

Every stream must either decode to an image of the photo's size or raise the one-line
``BitstreamError``. Anything else is a finding: the stream is saved under ``--crash-dir`` and
the run exits 1. A hang is caught by a watchdog (``faulthandler``) that dumps the stack and
kills the process after ``--timeout`` seconds on one stream; a segmentation fault also dumps it.

    python scripts/fuzz_codec.py --iterations 5000 --seed 1
"""

from __future__ import annotations

import argparse
import faulthandler
import random
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import torch


def mutate(data: bytes, rng: random.Random, crafted: bool, payload_start: int = 0) -> bytes:
    """Damage ``data``; with ``payload_start`` only overwrite bytes of the payload (same length,
    so the stream always reaches the entropy decoder), then fix the CRC."""
    buf = bytearray(data)
    if payload_start:
        for _ in range(rng.randint(1, 6)):
            buf[rng.randrange(payload_start, len(buf) - 4)] = rng.randrange(256)
        body = bytes(buf[:-4])
        return body + struct.pack("<I", zlib.crc32(body))
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["flip", "set", "insert", "delete", "truncate", "int"])
        pos = rng.randrange(max(len(buf), 1))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == "set" and buf:
            buf[pos] = rng.randrange(256)
        elif kind == "insert":
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif kind == "delete":
            del buf[pos : pos + rng.randint(1, 16)]
        elif kind == "truncate" and rng.random() < 0.2:
            del buf[pos:]
        elif kind == "int" and len(buf) >= pos + 4:
            # Header fields are little-endian integers: try the boundary values.
            value = rng.choice([0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32)])
            struct.pack_into("<I", buf, pos, value)
    if crafted and len(buf) > 4:
        body = bytes(buf[:-4])
        buf = bytearray(body + struct.pack("<I", zlib.crc32(body)))
    return bytes(buf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per stream")
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args(argv)

    from compressai_isp import zoo
    from compressai_isp.codec.engine import (
        codec_model,
        decode_bitstream,
        encode_file,
        model_for_stream,
    )
    from compressai_isp.codec.format import BitstreamError, unpack
    from compressai_isp.data import write_dng

    faulthandler.enable()
    torch.manual_seed(args.seed)
    codec = codec_model(zoo.rbn(1, N=8, M=8, N_hyper=8, decoder_width=4), "rbn", 1, "mse", "fuzz")
    with tempfile.TemporaryDirectory() as tmp:
        mosaic = np.random.default_rng(args.seed).integers(0, 4095, (37, 45)).astype(np.uint16)
        photo = write_dng(Path(tmp) / "fuzz.dng", mosaic, cfa="GBRG", white_level=4095)
        original = encode_file(photo, codec)
    parsed = unpack(original)
    size = parsed.header.geometry
    payload_start = parsed.total_bytes - 4 - parsed.header.payload_bytes
    expected_shape = (3, size.crop_height, size.crop_width)

    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    start = time.perf_counter()
    for i in range(args.iterations):
        mode = i % 3
        data = mutate(original, rng, crafted=mode > 0, payload_start=payload_start * (mode == 2))
        faulthandler.dump_traceback_later(args.timeout, exit=True)
        t0 = time.perf_counter()
        try:
            bs = unpack(data, "fuzz.rbit")
            cm = model_for_stream(bs.header, "fuzz.rbit", codec)
            image = decode_bitstream(bs, cm, "fuzz.rbit")
            if tuple(image.shape) != expected_shape:
                raise AssertionError(f"decoded {tuple(image.shape)}, expected {expected_shape}")
            outcomes["decoded"] += 1
        except BitstreamError as err:
            message = str(err)
            if "\n" in message or not message.startswith("fuzz.rbit: "):
                raise AssertionError(f"not a one-line error naming the file: {message!r}") from err
            reason = message.split(": ", 2)[1].split(":")[0].split(" (")[0]
            outcomes[f"rejected: {reason[:60]}"] += 1
        except Exception as err:  # noqa: BLE001 - every other exception is a finding
            args.crash_dir.mkdir(parents=True, exist_ok=True)
            crash = args.crash_dir / f"crash-{args.seed}-{i}.rbit"
            crash.write_bytes(data)
            print(f"FINDING at iteration {i}: {type(err).__name__}: {err} (saved {crash})")
            return 1
        finally:
            faulthandler.cancel_dump_traceback_later()
        slowest = max(slowest, time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    print(f"{args.iterations} mutated streams in {elapsed:.1f} s, slowest {slowest:.2f} s, "
          "no crash, no hang")  # fmt: skip
    for outcome, count in outcomes.most_common():
        print(f"  {count:6d}  {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
