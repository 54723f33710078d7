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

import struct
import zlib
from collections.abc import Callable

import numpy as np
import torch
from compressai.ans import RansDecoder, RansEncoder
from torch import Tensor, nn

from compressai_isp.context.plan import ROW_MULTIPLE, ContextPlan
from compressai_isp.context.schedule import Schedule, make_schedule

__all__ = [
    "ContextMismatchError",
    "StreamError",
    "compress_latent",
    "decompress_latent",
    "quantize_latent",
]

_HEADER = struct.Struct("<II")


class StreamError(ValueError):
    """A latent string is malformed, truncated or damaged."""


class ContextMismatchError(RuntimeError):
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

    def __init__(self, model: nn.Module, params: Tensor) -> None:
        self.model = model
        self.plan = ContextPlan.from_model(model)
        b, _, h, w = params.shape
        self.batch, self.height, self.width = b, h, w
        self.sched: Schedule = make_schedule(h, w, self.plan.taps)
        self.device = params.device
        self.m = self.plan.latent_channels
        self.params = self.plan.params_rows(params, self.sched)

    def buffer(self, images: int) -> Tensor:
        """Zeroed channel-last decoded-latent buffer for ``images`` images, plus a dummy row."""
        rows = images * self.sched.padded_size + 1
        return torch.zeros(rows, self.m, device=self.device, dtype=self.params.dtype)

    def latent_rows(self, y: Tensor) -> Tensor:
        """``y`` as ``[B * h * w + 1, M]`` rows in coding order (last row: dummy)."""
        order = self.sched.order.to(y.device)
        rows = y.flatten(2).index_select(2, order).transpose(1, 2).reshape(-1, self.m)
        return torch.cat([rows, rows.new_zeros(1, self.m)])

    def unpack(self, buf: Tensor, images: int) -> Tensor:
        """The decoded latent ``[images, M, h, w]`` from a channel-last buffer."""
        s = self.sched
        write, order = s.write_rows.to(buf.device), s.order.to(buf.device)
        out = buf.new_empty(images, self.height * self.width, self.m)
        for i in range(images):
            out[i].index_copy_(0, order, buf.index_select(0, write + i * s.padded_size))
        return out.transpose(1, 2).reshape(images, self.m, self.height, self.width)


def _pad_index(index: Tensor, rows: int, dummy: int) -> Tensor:
    """``index`` followed by ``dummy`` entries up to a multiple of :data:`ROW_MULTIPLE` rows."""
    extra = (-rows) % ROW_MULTIPLE
    if extra == 0:
        return index
    per_row = index.numel() // rows
    return torch.cat([index, index.new_full((extra * per_row,), dummy)])


# A step callback gets the coding-order rows of the step, their scales and means ([n, M]) and
# returns the float symbols (round(y - mean) on the encoder, the rANS output on the decoder).
StepFn = Callable[[int, Tensor, Tensor, Tensor], Tensor]


def _run_batched(job: _Latent, step_fn: StepFn) -> Tensor:
    """Code every image of the batch together, wavefront by wavefront; return the buffer.

    Rows of a step are image-major (all positions of image 0, then image 1, ...); the row count
    is padded with dummy rows, which read zeros and write nowhere that is read.
    """
    s, b = job.sched, job.batch
    hw = job.height * job.width
    dev = job.device
    buf = job.buffer(b)
    img_buf = (torch.arange(b, device=dev) * s.padded_size)[:, None]
    img_rows = (torch.arange(b, device=dev) * hw)[:, None]
    ctx_all, write_all = s.context_rows.to(dev), s.write_rows.to(dev)
    for t in range(s.num_steps):
        lo, hi = s.bounds[t], s.bounds[t + 1]
        n = b * (hi - lo)
        ctx = (img_buf[:, :, None] + ctx_all[lo:hi][None]).reshape(-1)
        rows = (img_rows + torch.arange(lo, hi, device=dev)[None]).reshape(-1)
        scales, means = job.plan.gaussian_params(
            buf,
            job.params,
            _pad_index(ctx, n, b * s.padded_size),
            _pad_index(rows, n, b * hw),
        )
        scales, means = scales[:n], means[:n]
        symbols = step_fn(t, rows, scales, means)
        buf.index_copy_(0, (img_buf + write_all[lo:hi][None]).reshape(-1), symbols + means)
    return buf


# -- public API ----------------------------------------------------------------------------------


@torch.no_grad()
def quantize_latent(model: nn.Module, y: Tensor, params: Tensor) -> Tensor:
    """``y_hat``: ``y`` quantised exactly as :func:`compress_latent` codes it, without coding.

    Each position becomes ``round(y - mu) + mu`` with the mean ``mu`` that the context model
    predicts from the already quantised positions (CompressAI's ``_compress_ar`` rule), so an
    eval-mode ``forward`` built on it returns exactly the decoder's reconstruction. ``params``
    is ``h_s(z_hat)``. The result carries no autograd history.
    """
    _check_latents(model, y, params)
    job = _Latent(model, params)
    y_rows = job.latent_rows(y.to(job.params))

    def step(t: int, rows: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        return torch.round(y_rows.index_select(0, rows) - means)

    return job.unpack(_run_batched(job, step), job.batch)


@torch.no_grad()
def compress_latent(model: nn.Module, y: Tensor, params: Tensor) -> list[bytes]:
    """Code the latent ``y`` ``[B, M, h, w]``; one string per image (see the module docstring).

    ``params`` is ``h_s(z_hat)`` ``[B, 2M, h, w]``; ``model`` needs mbt2018's
    ``context_prediction`` / ``entropy_parameters`` / ``gaussian_conditional`` (after
    ``update()``). The symbols are CompressAI's, ``round(y - mu)``, coded wavefront by wavefront.
    """
    _check_latents(model, y, params)
    cdfs, lengths, offsets = _entropy_tables(model)
    job = _Latent(model, params)
    y_rows = job.latent_rows(y.to(job.params))
    total = job.batch * job.height * job.width
    symbols = torch.empty(total, job.m, dtype=torch.int32, device=job.device)
    indexes = torch.empty_like(symbols)

    def step(t: int, rows: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        q = torch.round(y_rows.index_select(0, rows) - means)
        symbols.index_copy_(0, rows, q.int())
        indexes.index_copy_(0, rows, _scale_indexes(model, scales))
        return q

    _run_batched(job, step)
    symbols_np = symbols.cpu().numpy().reshape(job.batch, -1).astype("<i4")
    indexes_np = indexes.cpu().numpy().reshape(job.batch, -1)
    strings = []
    for sym, idx in zip(symbols_np, indexes_np, strict=True):
        payload = RansEncoder().encode_with_indexes(
            sym.tolist(), idx.tolist(), cdfs, lengths, offsets
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
def decompress_latent(model: nn.Module, strings: list[bytes], params: Tensor) -> Tensor:
    """Decode :func:`compress_latent`'s strings into ``y_hat`` ``[B, M, h, w]``.

    ``params`` is ``h_s(z_hat)`` for the same ``z_hat`` as the encoder. Raises
    :class:`StreamError` for a damaged string and :class:`ContextMismatchError` when the decoded
    symbols fail the encoder's checksum (the decoder's arithmetic differs from the encoder's).
    """
    _check_latents(model, None, params)
    if not isinstance(strings, list | tuple) or len(strings) != params.shape[0]:
        got = len(strings) if isinstance(strings, list | tuple) else type(strings).__name__
        raise ValueError(f"need one latent string per image ({params.shape[0]}); got {got}")
    cdfs, lengths, offsets = _entropy_tables(model)
    job = _Latent(model, params)
    per_image = job.height * job.width * job.m
    decoders = [_open_stream(s, i, per_image) for i, s in enumerate(strings)]
    crcs = [0] * job.batch

    def step(t: int, rows: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        idx = _scale_indexes(model, scales).cpu()
        used, local = torch.unique(idx, return_inverse=True)
        used_l = used.tolist()
        sub = (
            [cdfs[k] for k in used_l],
            [lengths[k] for k in used_l],
            [offsets[k] for k in used_l],
        )
        local = local.view(job.batch, -1)
        out = []
        for i, dec in enumerate(decoders):
            sym = np.asarray(dec.decode_stream(local[i].tolist(), *sub), dtype="<i4")
            crcs[i] = zlib.crc32(sym.tobytes(), crcs[i])
            out.append(sym)
        return torch.from_numpy(np.concatenate(out)).view_as(means).to(means)

    buf = _run_batched(job, step)
    for i, s in enumerate(strings):
        if crcs[i] != _HEADER.unpack_from(s)[1]:
            raise ContextMismatchError(
                f"latent string {i}: decoded symbols do not match the encoder's checksum; this "
                "decoder's arithmetic differs from the encoder's (other device, library version "
                "or CPU kind): decode where it was encoded"
            )
    return job.unpack(buf, job.batch)
