"""Seconds per training iteration of RBN, with and without distillation (pytest-benchmark).

    .venv/bin/pytest benchmarks/test_bench_train.py -p no:randomly -s

One iteration = what ``compressai_isp.train`` does per step: forward, Eq. 4 loss (bpp over sRGB
pixels), backward, gradient clipping, Adam step, aux-loss step; with ``kd`` also both teachers'
forwards and the attention terms (Eqs. 1-3). Batch 8 of 128x128 packed-RAW patches (256x256
sRGB), the paper's setting (§4.1). Models:

* ``full``: the paper's widths (RBN N=256, M=192, decoder C=64; compression teacher K=320;
  ISP teacher as RBN);
* ``reduced``: the widths of the shipped default model (N=64, M=96, N_hyper=64, C=16), at the
  128x128 sRGB patches it was trained on.

The baseline measured in the same run is the model's no-grad forward on the same batch; the
table printed at the end gives seconds per iteration and the ratios (training / forward,
KD / no KD), each from the fastest of its rounds (the least disturbed by other processes on a
shared machine). Set ``BENCH_THREADS`` to pin torch's thread count.
"""

from __future__ import annotations

import os

import pytest
import torch

from compressai_isp import zoo
from compressai_isp.distill import (
    AttentionDistiller,
    Teacher,
    autoencoder_forward,
    encoder_forward,
    match_layers,
)
from compressai_isp.training.tasks import TASKS, rd_loss

BATCH = 8
CONFIGS = {
    "full": ({}, {"K": 320}, {}, 256),
    "reduced": ({"N": 64, "M": 96, "N_hyper": 64, "decoder_width": 16}, None, None, 128),
}
_TIMES: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report(cpu_name: str):
    yield
    print(
        f"\n\nRBN training iteration, batch {BATCH}, {cpu_name}, {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| model | patch (sRGB) | forward | train step | train / forward | KD step | KD / no KD |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (*_, patch) in CONFIGS.items():
        t = {k: _TIMES.get((name, k)) for k in ("forward", "train", "kd")}
        if t["forward"] is None or t["train"] is None:
            continue
        kd = f"{t['kd']:.2f} s | {t['kd'] / t['train']:.2f}" if t["kd"] else "- | -"
        print(
            f"| {name} | {patch} | {t['forward']:.2f} s | {t['train']:.2f} s | "
            f"{t['train'] / t['forward']:.1f} | {kd} |"
        )


def _setup(name: str, kd: bool):
    rbn_kw, enc_kw, dec_kw, patch = CONFIGS[name]
    torch.manual_seed(0)
    model = zoo.rbn(6, **rbn_kw).train()
    raw = torch.rand(BATCH, 4, patch // 2, patch // 2)
    srgb = torch.rand(BATCH, 3, patch, patch)
    distiller = None
    if kd:
        enc = zoo.raw_comp_teacher(6, **enc_kw)
        dec = zoo.isp_teacher(6, **dec_kw)
        probe_raw, probe_srgb = raw[:1], srgb[:1]
        enc_pairs = match_layers(
            model, enc, "g_a", sample_inputs=(probe_raw, probe_raw),
            student_forward=encoder_forward, teacher_forward=encoder_forward,
        )  # fmt: skip
        dec_pairs = match_layers(
            model, dec, "g_s", sample_inputs=(probe_raw, probe_srgb),
            student_forward=autoencoder_forward, teacher_forward=autoencoder_forward,
        )  # fmt: skip
        distiller = AttentionDistiller(
            model,
            [
                Teacher("enc", enc, enc_pairs, alpha0=1e6, forward=encoder_forward),
                Teacher("dec", dec, dec_pairs, alpha0=1e5, forward=autoencoder_forward),
            ],
        )
    params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt, aux_opt = torch.optim.Adam(params, lr=5e-5), torch.optim.Adam(aux, lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        out = model(raw)
        loss = rd_loss(out, raw, srgb, TASKS["rbn"], 0.0932, "raw")["loss"]
        if distiller is not None:
            loss = loss + distiller.loss({"enc": raw, "dec": srgb}, progress=0)["kd"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        model.aux_loss().backward()
        aux_opt.step()

    def forward() -> None:
        with torch.no_grad():
            model(raw)

    return step, forward


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_baseline(benchmark, name: str) -> None:
    _, forward = _setup(name, kd=False)
    forward()  # warm-up (allocator, oneDNN primitive caches)
    benchmark.pedantic(forward, rounds=3, iterations=1)
    _TIMES[(name, "forward")] = benchmark.stats.stats.min


@pytest.mark.parametrize("name", list(CONFIGS))
def test_train_step(benchmark, name: str) -> None:
    step, _ = _setup(name, kd=False)
    step()
    benchmark.pedantic(step, rounds=3, iterations=1)
    _TIMES[(name, "train")] = benchmark.stats.stats.min


def test_train_step_with_both_teachers(benchmark) -> None:
    step, _ = _setup("full", kd=True)
    step()
    benchmark.pedantic(step, rounds=3, iterations=1)
    _TIMES[("full", "kd")] = benchmark.stats.stats.min
