"""Wavefront-parallel coding of a latent with a masked-convolution context (Minnen et al. 2018).

CompressAI codes the latent of ``mbt2018`` one position at a time (``_compress_ar``): ``h * w``
sequential steps, each a handful of tiny convolutions and a round trip through the rANS
bindings. Here all positions of a wavefront ``t = a * i + j`` (see :mod:`.schedule`) are coded
in one step, for every image of the batch: ``a * (h - 1) + w`` steps, each a few matrix products.

Stream of one image (what CompressAI puts in ``strings[0][i]``)::

    uint32 LE  CRC-32 of the rANS payload       (detects a damaged or truncated stream)
    uint32 LE  CRC-32 of the coded symbols      (int32 LE, in coding order)
    bytes      rANS payload (compressai.ans, CompressAI's Gaussian conditional CDFs)

The symbol checksum is how a decoder notices that its arithmetic differs from the encoder's
(another device, library version or CPU): the context model's output then drifts, other CDFs
are selected and the decoded symbols differ, which would otherwise silently give a wrong image
(CompressAI issues #279, #309). It raises :class:`ContextMismatchError` instead.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from compressai.ans import RansDecoder, RansEncoder
from torch import Tensor, nn

from compressai_isp.context.plan import ROW_MULTIPLE, ContextPlan
from compressai_isp.context.schedule import Schedule, make_schedule
from compressai_isp.errors import InputError

__all__ = [
    "ContextMismatchError",
    "StreamError",
    "compress_latent",
    "decompress_latent",
    "quantize_latent",
]

_HEADER = struct.Struct("<II")


class StreamError(InputError, ValueError):
    """A latent string is malformed, truncated or damaged."""


class ContextMismatchError(InputError, RuntimeError):
    """The decoded symbols do not match the checksum the encoder stored in the stream."""


# -- shared helpers ------------------------------------------------------------------------------


def _check_latents(model: nn.Module, y: Tensor | None, params: Tensor) -> None:
    m = model.context_prediction.in_channels
    if not isinstance(params, Tensor) or params.dim() != 4:
        raise ValueError(f"params must be a [B, C, h, w] tensor (h_s(z_hat)); got {_shape(params)}")
    if y is None:
        return
    if not isinstance(y, Tensor) or y.dim() != 4 or y.shape[1] != m:
        raise ValueError(f"y must be a [B, {m}, h, w] latent tensor; got {_shape(y)}")
    if y.shape[0] != params.shape[0] or y.shape[-2:] != params.shape[-2:]:
        raise ValueError(
            f"y {tuple(y.shape)} and params {tuple(params.shape)} must have the same batch size "
            "and spatial size (pad the input to a multiple of the model's downsampling factor)"
        )


def _shape(x: object) -> object:
    return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__


def _entropy_tables(model: nn.Module) -> tuple[list[list[int]], list[int], list[int]]:
    gc = model.gaussian_conditional
    if gc._offset.numel() == 0 or gc._quantized_cdf.numel() == 0:
        raise ValueError(
            f"{type(model).__name__}.gaussian_conditional has no CDF tables: call model.update() "
            "(or update(force=True)) before compress/decompress"
        )
    lengths = gc.cdf_length.tolist()
    cdfs = [row[:n] for row, n in zip(gc.quantized_cdf.tolist(), lengths, strict=True)]
    return cdfs, lengths, gc.offset.tolist()


def _scale_indexes(model: nn.Module, scales: Tensor) -> Tensor:
    """``GaussianConditional.build_indexes`` in one op: the number of table scales below ``s``."""
    gc = model.gaussian_conditional
    table = gc.scale_table[:-1].to(scales)
    return torch.searchsorted(table, gc.lower_bound_scale(scales).contiguous(), out_int32=True)


class _Latent:
    """One coding job: the schedule, the rearranged weights and the buffers of a batch."""

    def __init__(self, params: Tensor, plan: ContextPlan) -> None:
        self.plan = plan
        b, _, h, w = params.shape
        self.batch, self.height, self.width = b, h, w
        self.sched: Schedule = make_schedule(h, w, self.plan.taps)
        self.device = params.device
        self.m = self.plan.latent_channels
        self.params = self.plan.params_rows(params, self.sched)
        rows = b * self.sched.padded_size + 1  # plus a dummy row that padding rows write to
        self.buf = torch.zeros(rows, self.m, device=self.device, dtype=self.params.dtype)

    def reset(self) -> None:
        self.buf.zero_()

    def in_coding_order(self, x: Tensor, layout: _Layout) -> Tensor:
        """Layout-ordered rows ``x`` as ``[B, h * w, ...]`` in each image's coding order."""
        n = self.batch * self.height * self.width
        out = x.new_empty(n + 1, *x.shape[1:]).index_copy_(0, layout.rows, x)
        return out[:n].view(self.batch, self.height * self.width, *x.shape[1:])

    def latent_rows(self, y: Tensor) -> Tensor:
        """``y`` as ``[B * h * w + 1, M]`` rows in coding order (last row: dummy)."""
        order = self.sched.order.to(y.device)
        rows = y.flatten(2).index_select(2, order).transpose(1, 2).reshape(-1, self.m)
        return torch.cat([rows, rows.new_zeros(1, self.m)])

    def unpack(self) -> Tensor:
        """The decoded latent ``[B, M, h, w]`` from the channel-last buffer."""
        s, buf = self.sched, self.buf
        write, order = s.write_rows.to(buf.device), s.order.to(buf.device)
        out = buf.new_empty(self.batch, self.height * self.width, self.m)
        for i in range(self.batch):
            out[i].index_copy_(0, order, buf.index_select(0, write + i * s.padded_size))
        return out.transpose(1, 2).reshape(self.batch, self.m, self.height, self.width)


@dataclass(frozen=True)
class _Layout:
    """All rows of all steps, step-major, so that a step's inputs are one contiguous slice.

    Step ``t`` owns rows ``offsets[t]:offsets[t + 1]``: one block of ``block[t]`` rows per
    image, whose first ``valid[t]`` are that image's positions of the step; static shapes pad
    each step to a fixed ``step_rows`` with dummy rows. A block's shape thus depends only on the
    latent's size, never on the batch. Dummy rows read the zero dummy rows of the inputs and
    write to the buffer's dummy row.
    """

    rows: Tensor  # [R] coding-order row b * h * w + k of each step row; dummy: B * h * w
    context: Tensor  # [R, taps] buffer rows of its context taps; dummy: B * padded_size
    write: Tensor  # [R] buffer row it decodes to; dummy: B * padded_size
    offsets: tuple[int, ...]
    block: tuple[int, ...]  # rows per image block of each step
    valid: tuple[int, ...]  # positions per image of each step
    step_rows: int | None

    def take(self, x: Tensor, t: int | Tensor) -> Tensor:
        """Rows of step ``t`` of a layout-ordered tensor (``t`` a 1-element tensor: by index,
        which keeps addresses fixed for CUDA graphs)."""
        if isinstance(t, int):
            return x[self.offsets[t] : self.offsets[t + 1]]
        steps = len(self.offsets) - 1
        return x.view(steps, -1, *x.shape[1:]).index_select(0, t).flatten(0, 1)

    def put(self, x: Tensor, t: int | Tensor, value: Tensor) -> None:
        """Store ``value`` as the rows of step ``t`` of ``x`` (see :meth:`take`)."""
        if isinstance(t, int):
            x[self.offsets[t] : self.offsets[t + 1]] = value
        else:
            steps = len(self.offsets) - 1
            x.view(steps, -1, *x.shape[1:]).index_copy_(0, t, value[None])


def _make_layout(
    sched: Schedule, batch: int, device: torch.device, step_rows: int | None
) -> _Layout:
    hw, size = sched.height * sched.width, sched.padded_size
    img_rows = torch.arange(batch)[:, None] * hw
    img_buf = torch.arange(batch)[:, None] * size
    taps = sched.context_rows.shape[1]
    rows, ctx, write, offsets, blocks, valid = [], [], [], [0], [], []
    for t in range(sched.num_steps):
        lo, hi = sched.bounds[t], sched.bounds[t + 1]
        n = hi - lo
        block = step_rows if step_rows is not None else n
        pad = block - n
        rows.append(_pad_blocks(img_rows + torch.arange(lo, hi)[None], pad, batch * hw))
        ctx_rows = img_buf[:, :, None] + sched.context_rows[None, lo:hi]
        ctx.append(_pad_blocks(ctx_rows, pad, batch * size).reshape(-1, taps))
        write.append(_pad_blocks(img_buf + sched.write_rows[None, lo:hi], pad, batch * size))
        offsets.append(offsets[-1] + batch * block)
        blocks.append(block)
        valid.append(n)
    return _Layout(
        rows=torch.cat(rows).to(device),
        context=torch.cat(ctx).to(device),
        write=torch.cat(write).to(device),
        offsets=tuple(offsets),
        block=tuple(blocks),
        valid=tuple(valid),
        step_rows=step_rows,
    )


def _pad_blocks(per_image: Tensor, pad: int, dummy: int) -> Tensor:
    """``[B, n, ...]`` rows plus ``pad`` dummy rows per image, flattened image-major."""
    filler = per_image.new_full((per_image.shape[0], pad, *per_image.shape[2:]), dummy)
    return torch.cat([per_image, filler], dim=1).flatten(0, 1)


def _capture(fn: Callable[[], None], device: torch.device) -> Callable[[], None]:
    """``fn`` as a replayable CUDA graph (one launch instead of one per kernel); ``fn`` itself
    elsewhere. ``fn`` runs once for warm-up, so it must be safe to repeat."""
    if device.type != "cuda" or not _use_cuda_graphs():
        return fn
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def _use_cuda_graphs() -> bool:
    return os.environ.get("COMPRESSAI_ISP_CUDA_GRAPHS", "1") != "0"


# A stage of a step: ("device", fn(t)) runs tensor work (captured as a CUDA graph in the static
# engine, where t is a 1-element device tensor), ("host", fn(t)) runs Python with t an int.
Stage = tuple[str, Callable[[Any], None]]


@contextlib.contextmanager
def _coder_threads(device: torch.device) -> Iterator[None]:
    """Run the CPU coder with ``COMPRESSAI_ISP_CONTEXT_THREADS`` intra-op threads (1).

    A step's products have a few dozen rows: splitting them across threads gains little, and on
    a loaded machine every parallel region waits for a descheduled thread (measured 15x slower
    with 2 threads on a busy 2-core runner). A fixed count also keeps the results independent of
    torch's thread count: oneMKL's rounding can depend on how many threads share a product.
    """
    threads = int(os.environ.get("COMPRESSAI_ISP_CONTEXT_THREADS", "1"))
    before = torch.get_num_threads()
    if device.type != "cpu" or threads <= 0 or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _drive(job: _Latent, layout: _Layout, stages: list[Stage]) -> None:
    """Run ``stages`` for every step; fixed-shape layouts index steps through a device tensor."""
    if layout.step_rows is None:
        for t in range(len(layout.valid)):
            for _, fn in stages:
                fn(t)
        return
    step = torch.zeros(1, dtype=torch.long, device=job.device)
    runs = [
        (_capture(lambda fn=fn: fn(step), job.device), False) if kind == "device" else (fn, True)
        for kind, fn in stages
    ]
    job.reset()  # the graph warm-up ran step 0 once
    for t in range(len(layout.valid)):
        step.fill_(t)
        for fn, host in runs:
            if host:
                fn(t)
            else:
                fn()


class _Step:
    """The device work of a step shared by every mode: Gaussian parameters, then the write."""

    def __init__(self, job: _Latent, layout: _Layout) -> None:
        self.job, self.layout = job, layout
        self.hyper = job.params.index_select(0, layout.rows)
        self.context = layout.context

    def params(self, t: int | Tensor) -> tuple[Tensor, Tensor]:
        lay = self.layout
        ctx = lay.take(self.context, t)
        hyper = lay.take(self.hyper, t)
        return self.job.plan.gaussian_params(self.job.buf, hyper, ctx, self.job.batch)

    def write(self, t: int | Tensor, symbols: Tensor, means: Tensor) -> None:
        self.job.buf.index_copy_(0, self.layout.take(self.layout.write, t), symbols + means)


def _engines(model: nn.Module, params: Tensor, engine: str) -> list[tuple[_Latent, _Layout, slice]]:
    """The jobs that code ``params``' batch: one for all images, or one per image ("static")."""
    if engine == "auto":
        engine = "static" if params.device.type == "cuda" else "batched"
    if engine not in ("batched", "static"):
        raise ValueError(f'engine must be "auto", "batched" or "static"; got {engine!r}')
    plan = ContextPlan.from_model(model)
    if engine == "batched":
        job = _Latent(params, plan)
        return [(job, _make_layout(job.sched, job.batch, job.device, None), slice(None))]
    jobs = []
    for b in range(params.shape[0]):
        job = _Latent(params[b : b + 1], plan)
        rows = job.sched.max_step + (-job.sched.max_step) % ROW_MULTIPLE
        jobs.append((job, _make_layout(job.sched, 1, job.device, rows), slice(b, b + 1)))
    return jobs


def _quantize_jobs(
    model: nn.Module, y: Tensor, params: Tensor, engine: str, record: bool
) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """``y_hat`` and, with ``record``, each job's symbols and CDF indexes in coding order."""
    with _coder_threads(params.device):
        return _quantize_engines(model, y, params, engine, record)


def _quantize_engines(
    model: nn.Module, y: Tensor, params: Tensor, engine: str, record: bool
) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    y_hat = params.new_empty(y.shape)
    recorded = []
    for job, layout, images in _engines(model, params, engine):
        step = _Step(job, layout)
        y_lay = job.latent_rows(y[images].to(params)).index_select(0, layout.rows)
        sym = torch.zeros(layout.rows.shape[0], job.m, dtype=torch.int32, device=job.device)
        idx = torch.zeros_like(sym)

        def body(t: int | Tensor, step=step, layout=layout, y_lay=y_lay, sym=sym, idx=idx) -> None:
            scales, means = step.params(t)
            q = torch.round(layout.take(y_lay, t) - means)
            if record:
                layout.put(sym, t, q.int())
                layout.put(idx, t, _scale_indexes(model, scales))
            step.write(t, q, means)

        _drive(job, layout, [("device", body)])
        y_hat[images] = job.unpack()
        if record:
            recorded += [(job.in_coding_order(sym, layout), job.in_coding_order(idx, layout))]
    return y_hat, recorded


# -- public API ----------------------------------------------------------------------------------


@torch.no_grad()
def quantize_latent(model: nn.Module, y: Tensor, params: Tensor, *, engine: str = "auto") -> Tensor:
    """``y_hat``: ``y`` quantised exactly as :func:`compress_latent` codes it, without coding.

    Each position becomes ``round(y - mu) + mu`` with the mean ``mu`` that the context model
    predicts from the already quantised positions (CompressAI's ``_compress_ar`` rule), so an
    eval-mode ``forward`` built on it returns exactly the decoder's reconstruction. ``params``
    is ``h_s(z_hat)``. The result carries no autograd history. ``engine``: see
    :func:`compress_latent`.
    """
    _check_latents(model, y, params)
    return _quantize_jobs(model, y, params, engine, record=False)[0]


@torch.no_grad()
def compress_latent(
    model: nn.Module, y: Tensor, params: Tensor, *, engine: str = "auto"
) -> list[bytes]:
    """Code the latent ``y`` ``[B, M, h, w]``; one string per image (see the module docstring).

    ``params`` is ``h_s(z_hat)`` ``[B, 2M, h, w]``; ``model`` needs mbt2018's
    ``context_prediction`` / ``entropy_parameters`` / ``gaussian_conditional`` (after
    ``update()``). The symbols are CompressAI's, ``round(y - mu)``, coded wavefront by wavefront
    on ``params``' device; only the rANS coder runs on the CPU. ``engine``: ``"batched"`` codes
    all images in each step (the CPU default), ``"static"`` one image at a time with
    fixed-shape steps, replayed as CUDA graphs on CUDA (the CUDA default). Their products have
    other shapes, so their latents agree to rounding: decode with the engine that encoded. An
    image's string does not depend on the other images of the batch.
    """
    _check_latents(model, y, params)
    cdfs, lengths, offsets = _entropy_tables(model)
    _, recorded = _quantize_jobs(model, y, params, engine, record=True)
    strings = []
    for symbols, indexes in recorded:
        for sym, idx in zip(symbols.cpu().numpy(), indexes.cpu().numpy(), strict=True):
            sym = sym.reshape(-1).astype("<i4")
            payload = RansEncoder().encode_with_indexes(
                sym.tolist(), idx.reshape(-1).tolist(), cdfs, lengths, offsets
            )
            header = _HEADER.pack(zlib.crc32(payload), zlib.crc32(sym.tobytes()))
            strings.append(header + payload)
    return strings


def _open_stream(string: object, i: int, num_symbols: int) -> RansDecoder:
    if not isinstance(string, bytes | bytearray):
        raise StreamError(f"latent string {i} must be bytes, got {type(string).__name__}")
    if len(string) < _HEADER.size:
        raise StreamError(f"latent string {i} is truncated ({len(string)} bytes)")
    payload_crc, _ = _HEADER.unpack_from(string)
    payload = bytes(string[_HEADER.size :])
    if zlib.crc32(payload) != payload_crc:
        raise StreamError(f"latent string {i} is damaged or truncated (payload checksum mismatch)")
    decoder = RansDecoder()
    # Zero padding: if the decoder's arithmetic diverged, it keeps reading (about one word per
    # symbol) past the payload; give it zeros to read rather than foreign memory.
    decoder.set_stream(payload + bytes(4 * num_symbols + 64))
    return decoder


@torch.no_grad()
def decompress_latent(
    model: nn.Module, strings: list[bytes], params: Tensor, *, engine: str = "auto"
) -> Tensor:
    """Decode :func:`compress_latent`'s strings into ``y_hat`` ``[B, M, h, w]``.

    ``params`` is ``h_s(z_hat)`` for the same ``z_hat`` as the encoder. Raises
    :class:`StreamError` for a damaged string and :class:`ContextMismatchError` when the decoded
    symbols fail the encoder's checksum (the decoder's arithmetic differs from the encoder's).
    """
    _check_latents(model, None, params)
    if not isinstance(strings, list | tuple) or len(strings) != params.shape[0]:
        got = len(strings) if isinstance(strings, list | tuple) else type(strings).__name__
        raise ValueError(f"need one latent string per image ({params.shape[0]}); got {got}")
    b, _, h, w = params.shape
    m = model.context_prediction.in_channels
    decoders = [_open_stream(s, i, h * w * m) for i, s in enumerate(strings)]
    crcs = [0] * b
    with _coder_threads(params.device):
        y_hat = _decode_engines(model, decoders, crcs, params, engine)
    for i, s in enumerate(strings):
        if crcs[i] != _HEADER.unpack_from(s)[1]:
            raise ContextMismatchError(
                f"latent string {i}: decoded symbols do not match the encoder's checksum; this "
                "decoder's arithmetic differs from the encoder's (other device, library version "
                "or CPU kind): decode where it was encoded"
            )
    return y_hat


def _decode_engines(
    model: nn.Module, decoders: list[RansDecoder], crcs: list[int], params: Tensor, engine: str
) -> Tensor:
    """``y_hat`` decoded step by step; ``crcs`` accumulates each image's symbol checksum."""
    cdfs, lengths, offsets = _entropy_tables(model)
    m = model.context_prediction.in_channels
    y_hat = params.new_empty(params.shape[0], m, *params.shape[-2:])
    for job, layout, images in _engines(model, params, engine):
        step = _Step(job, layout)
        rows = max(hi - lo for lo, hi in zip(layout.offsets[:-1], layout.offsets[1:], strict=True))
        means_s = params.new_zeros(rows, m)
        idx_s = torch.zeros(rows, m, dtype=torch.int32, device=job.device)
        sym_s = params.new_zeros(rows, m)
        first = range(params.shape[0])[images].start

        def gaussian(t: int | Tensor, step=step, means_s=means_s, idx_s=idx_s) -> None:
            scales, means = step.params(t)
            means_s[: means.shape[0]] = means
            idx_s[: means.shape[0]] = _scale_indexes(model, scales)

        def entropy_decode(
            t: int, job=job, layout=layout, idx_s=idx_s, sym_s=sym_s, first=first
        ) -> None:
            n, blocks = layout.valid[t], idx_s[: job.batch * layout.block[t]]
            idx = blocks.view(job.batch, -1, m)[:, :n].cpu()
            used, local = torch.unique(idx, return_inverse=True)
            used_l = used.tolist()
            sub = (
                [cdfs[k] for k in used_l],
                [lengths[k] for k in used_l],
                [offsets[k] for k in used_l],
            )
            local = local.view(job.batch, -1)
            out = []
            for i in range(job.batch):
                sym = np.asarray(decoders[first + i].decode_stream(local[i].tolist(), *sub), "<i4")
                crcs[first + i] = zlib.crc32(sym.tobytes(), crcs[first + i])
                out.append(sym)
            decoded = torch.from_numpy(np.stack(out)).view(job.batch, n, m)
            sym_s[: job.batch * layout.block[t]].view(job.batch, -1, m)[:, :n] = decoded

        def write(t: int | Tensor, step=step, layout=layout, sym_s=sym_s, means_s=means_s) -> None:
            r = layout.step_rows or layout.offsets[t + 1] - layout.offsets[t]
            step.write(t, sym_s[:r], means_s[:r])

        _drive(job, layout, [("device", gaussian), ("host", entropy_decode), ("device", write)])
        y_hat[images] = job.unpack()
    return y_hat
