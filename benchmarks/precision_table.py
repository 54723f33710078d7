"""Print the README's fast-path table: bf16 / channels-last against fp32, default layout.

Every case is timed twice in the same process on the same inputs, once as the baseline (fp32,
default memory format) and once on the fast path (:func:`compressai_isp.precision.
set_transform_precision` with ``--precision auto`` and channels-last, what ``train`` and the
codec use), and reported as baseline / fast. Each time is the fastest of its rounds, the one
least disturbed by other processes on a shared machine.

    BENCH_THREADS=1 python benchmarks/precision_table.py            # every case (~10 min)
    BENCH_THREADS=1 python benchmarks/precision_table.py train      # training steps only

Cases: an RBN training step (forward, Eq. 4 loss, backward, clipping, Adam and aux steps) at the
paper's widths and at the shipped default model's reduced widths, batch 8 of 4x64x64 packed RAW;
a 12-MP RAW (4x1504x2016 packed, padded to 1536x2048) encoded and decoded by the full-width RBN
with real rANS streams, where the fast decoder decodes the baseline's stream (the entropy path
is float32 on both, so the latent symbols must come out identical); and the training data
loader (batch 8, 2 workers) against the fast training step it feeds.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from machine import cpu_name

from compressai_isp import zoo
from compressai_isp.data import RawFolder, make_synthetic_dng
from compressai_isp.precision import precision_name, resolve_precision, set_transform_precision
from compressai_isp.training.tasks import TASKS, rd_loss

BATCH = 8
WIDTHS = {
    "full": {},
    "reduced": {"N": 64, "M": 96, "N_hyper": 64, "decoder_width": 16},
}
RAW_12MP = (1536, 2048)  # packed RAW side of a 3008x4032 (12.1 MP) sensor, padded to 64
FAST = resolve_precision("auto")


def best_of(fn: Callable[[], object], rounds: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _rbn(widths: dict[str, int], dtype: torch.dtype, channels_last: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return set_transform_precision(zoo.rbn(6, **widths), dtype, channels_last)


def train_step_time(width: str, dtype: torch.dtype, channels_last: bool, rounds: int = 3) -> float:
    """Seconds per RBN training step (the trainer's arithmetic; no data loading)."""
    model = _rbn(WIDTHS[width], dtype, channels_last).train()
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt, aux_opt = torch.optim.Adam(main, 1e-4), torch.optim.Adam(aux, 1e-3)
    gen = torch.Generator().manual_seed(0)
    raw = torch.rand(BATCH, 4, 64, 64, generator=gen)
    srgb = torch.rand(BATCH, 3, 128, 128, generator=gen)
    task = TASKS["rbn"]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        out = model(raw)
        loss = rd_loss(out, raw, srgb, task, 0.18, "raw", "mse")["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        opt.step()
        model.aux_loss().backward()
        aux_opt.step()

    return best_of(step, rounds)


def coding_times(rounds: int = 1) -> dict[str, float | bool]:
    """12-MP encode and decode with the full-width RBN, baseline and fast path."""
    gen = torch.Generator().manual_seed(0)
    raw = torch.rand(1, 4, *RAW_12MP, generator=gen)
    base = _rbn({}, torch.float32, False).eval()
    base.update(force=True)
    fast = _rbn({}, FAST, True).eval()
    fast.update(force=True)
    with torch.no_grad():
        stream: dict = {}
        enc_base = best_of(lambda: stream.update(base.compress(raw)), rounds, warmup=0)
        enc_fast = best_of(lambda: fast.compress(raw), rounds, warmup=0)
        strings, shape = stream["strings"], stream["shape"]
        dec_base = best_of(lambda: base.decompress(strings, shape), rounds, warmup=0)
        dec_fast = best_of(lambda: fast.decompress(strings, shape), rounds, warmup=0)
    return {"encode": enc_base / enc_fast, "decode": dec_base / dec_fast,
            "encode_s": (enc_base, enc_fast), "decode_s": (dec_base, dec_fast),
            "bytes": sum(len(s[0]) for s in strings)}  # fmt: skip


COMP_NET_SRGB = (512, 768)  # a Kodak-sized photo, the mbt2018 reference case


def comp_net_decode_times(rounds: int = 3) -> dict[str, float]:
    """Full-width comp-net (mbt2018, quality 6) on the fast path: its whole decode against its
    two networks alone (``h_s`` of ``z_hat`` and ``g_s`` of ``y_hat``, same precision), so the
    ratio is what the wavefront context coder adds on top of the networks."""
    torch.manual_seed(0)
    model = set_transform_precision(zoo.comp_net(6), FAST, True).eval()
    model.update(force=True)
    # A smooth photo-like image gives a real-sized stream (uniform noise would code at ~8 bpp).
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, COMP_NET_SRGB[0] // 32, COMP_NET_SRGB[1] // 32, generator=gen)
    srgb = torch.nn.functional.interpolate(coarse, size=COMP_NET_SRGB, mode="bicubic").clamp(0, 1)
    with torch.no_grad():
        stream = model.compress(srgb)
        z_hat = model.entropy_bottleneck.decompress(stream["strings"][1], stream["shape"])
        y_hat = model.decompress(stream["strings"], stream["shape"])  # warm-up, and y's shape
        y_hat = torch.zeros(1, model.M, *(s * 4 for s in stream["shape"]))
        decode = best_of(lambda: model.decompress(stream["strings"], stream["shape"]), rounds)
        networks = best_of(lambda: (model.h_s(z_hat), model.synthesise(y_hat)), rounds)
    return {"decode": decode, "networks": networks,
            "bytes": sum(len(s[0]) for s in stream["strings"])}  # fmt: skip


def loader_batch_time(batches: int = 20) -> float:
    """Seconds per batch of 8 training pairs from cached synthetic DNGs, 2 workers."""
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(4):
            make_synthetic_dng(Path(tmp) / f"img{i}.dng", i, "GRBG", size=(1024, 1536))
        dataset = RawFolder(tmp, split="all", patch_size=128, cache_dir=Path(tmp) / "cache")
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=BATCH, num_workers=2, shuffle=True, persistent_workers=True
        )
        it = iter(_forever(loader))
        next(it)  # start the workers and fill the cache
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        return (time.perf_counter() - t0) / batches


def _forever(loader):
    while True:
        yield from loader


def main(cases: list[str]) -> None:
    if "BENCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    print(
        f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, torch threads "
        f"{torch.get_num_threads()}, fast path = {precision_name(FAST)} + channels-last, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| case | fp32, default layout | channels-last fp32 | fast path | baseline / fast |")
    print("|---|---|---|---|---|")
    fast_step = None
    if "train" in cases:
        for width in WIDTHS:
            base = train_step_time(width, torch.float32, False)
            cl = train_step_time(width, torch.float32, True)
            fast_step = fast = train_step_time(width, FAST, True)
            print(f"| {width}-width RBN training step, batch 8, 4x64x64 RAW | {base:.3f} s | "
                  f"{cl:.3f} s ({base / cl:.2f}x) | {fast:.3f} s | {base / fast:.2f}x |",
                  flush=True)  # fmt: skip
    if "coding" in cases:
        r = coding_times()
        for what in ("encode", "decode"):
            b, f = r[f"{what}_s"]
            print(f"| full-width RBN 12-MP {what} ({r['bytes']} B stream) | {b:.2f} s | - | "
                  f"{f:.2f} s | {r[what]:.2f}x |", flush=True)  # fmt: skip
    if "comp-net" in cases:
        r = comp_net_decode_times()
        print(f"| full-width comp-net q6 decode, {COMP_NET_SRGB[1]}x{COMP_NET_SRGB[0]} sRGB "
              f"({r['bytes']} B), fast path: whole decode vs its h_s + g_s | - | - | "
              f"{r['decode']:.3f} s vs {r['networks']:.3f} s | decode / networks "
              f"{r['decode'] / r['networks']:.2f}x |", flush=True)  # fmt: skip
    if "loader" in cases:
        t = loader_batch_time()
        step = fast_step or train_step_time("reduced", FAST, True)
        print(f"| data loader, batch 8, 2 workers (vs reduced fast step {step:.3f} s) | - | - | "
              f"{t:.3f} s / batch | step / batch {step / t:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:] or ["train", "coding", "comp-net", "loader"])
