"""The per-position arithmetic of an mbt2018-style context model, gathered for a wavefront.

For the positions of one wavefront (of every image of the batch) :meth:`ContextPlan.gaussian_params`
gathers the causal context patches from a channel-last buffer, applies the masked 5x5 weights as
one matrix product, and runs ``entropy_parameters`` (1x1 convolutions, i.e. per-position linear
layers) on the rows. The hyperprior half of the first 1x1 layer does not depend on the context,
so it is applied to every position at once beforehand (:meth:`ContextPlan.params_rows`).

Exactness: encoder and decoder run exactly this code on exactly the same rows, so they agree
bit for bit on one build. oneMKL picks its kernels (and so its rounding) from a product's shape,
its thread count and the CPU: on Intel AVX-512 a row of a 24-row product came out differently
from the same row of an 8-row one, and on AMD an 8-row product differs between 1 and 16 threads.
So every product here is computed per image, on a block whose shape depends only on the latent's
size, and the coder runs them on a fixed thread count (see ``coder._coder_threads``): an image's
result then does not depend on the other images of its batch or on torch's thread count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressai_isp.context.schedule import Schedule, causal_taps

__all__ = ["ROW_MULTIPLE", "ContextPlan", "check_context_model"]

# Row count the static (fixed-shape) engine rounds its steps up to.
ROW_MULTIPLE = 8

_REQUIRED = ("context_prediction", "entropy_parameters", "gaussian_conditional")

# Every matrix product of the coder goes through these two names: the products whose rounding
# depends on their shape, so that a test can stand in for a shape-sensitive BLAS.
_linear = F.linear
_addmm = torch.addmm


def check_context_model(model: nn.Module, needs: tuple[str, ...] = ()) -> None:
    """Raise a one-line ``ValueError`` unless ``model`` has mbt2018's context-model attributes."""
    missing = [name for name in (*_REQUIRED, *needs) if not hasattr(model, name)]
    if missing:
        raise ValueError(
            f"{type(model).__name__} is not an mbt2018-style context model: it lacks "
            + ", ".join(missing)
        )


def _is_pointwise_conv(m: nn.Module) -> bool:
    return (
        isinstance(m, nn.Conv2d)
        and tuple(m.kernel_size) == (1, 1)
        and tuple(m.stride) == (1, 1)
        and m.groups == 1
        and m.padding in ((0, 0), "valid")
    )


def _pointwise_ops(module: nn.Module) -> list[tuple[str, object]]:
    layers = list(module) if isinstance(module, nn.Sequential) else [module]
    ops: list[tuple[str, object]] = []
    for layer in layers:
        if _is_pointwise_conv(layer):
            w = layer.weight.detach().flatten(1)
            b = None if layer.bias is None else layer.bias.detach()
            ops.append(("linear", (w, b)))
            continue
        for sub in layer.modules():
            if isinstance(sub, nn.Conv2d | nn.ConvTranspose2d) and not _is_pointwise_conv(sub):
                raise ValueError(
                    "entropy_parameters must act on each position alone (1x1 convolutions and "
                    f"element-wise layers); it contains {sub}"
                )
        ops.append(("module", layer))
    return ops


def _apply(op: tuple[str, object], h: Tensor) -> Tensor:
    kind, payload = op
    if kind == "linear":
        w, b = payload  # type: ignore[misc]
        return _linear(h, w, b)
    layer: Callable[[Tensor], Tensor] = payload  # type: ignore[assignment]
    return layer(h[:, :, None, None]).flatten(1)


@dataclass
class ContextPlan:
    """The weights of a model's context model, rearranged for row-wise (per-position) use."""

    taps: tuple[tuple[int, int], ...]
    latent_channels: int
    ctx_weight: Tensor  # [C_ctx, taps * M], tap-major like the gathered rows
    ctx_bias: Tensor | None
    first_params: tuple[Tensor, Tensor | None] | None  # hyperprior half of the first 1x1 layer
    first_ctx_t: Tensor | None  # context half of the first 1x1 layer, transposed
    ops: list[tuple[str, object]]  # the remaining entropy_parameters layers

    @classmethod
    def from_model(cls, model: nn.Module) -> ContextPlan:
        check_context_model(model)
        conv = model.context_prediction
        taps = causal_taps(conv)
        kh, kw = conv.kernel_size
        weight = conv.weight.detach()
        mask = getattr(conv, "mask", None)
        if isinstance(mask, Tensor):
            weight = weight * mask
        rows = torch.tensor([dy + kh // 2 for dy, _ in taps])
        cols = torch.tensor([dx + kw // 2 for _, dx in taps])
        ctx_weight = weight[:, :, rows, cols].permute(0, 2, 1).flatten(1).contiguous()
        ctx_bias = None if conv.bias is None else conv.bias.detach()

        ops = _pointwise_ops(model.entropy_parameters)
        first_params = first_ctx_t = None
        c_ctx = ctx_weight.shape[0]
        if ops and ops[0][0] == "linear":
            w, b = ops[0][1]  # type: ignore[misc]
            if w.shape[1] <= c_ctx:
                raise ValueError(
                    f"entropy_parameters' first layer takes {w.shape[1]} channels, fewer than "
                    f"context_prediction's {c_ctx} outputs plus the hyperprior parameters"
                )
            split = w.shape[1] - c_ctx
            first_params = (w[:, :split].contiguous(), b)
            first_ctx_t = w[:, split:].t().contiguous()
            ops = ops[1:]
        return cls(
            taps=taps,
            latent_channels=conv.in_channels,
            ctx_weight=ctx_weight,
            ctx_bias=ctx_bias,
            first_params=first_params,
            first_ctx_t=first_ctx_t,
            ops=ops,
        )

    @property
    def params_channels(self) -> int | None:
        """Hyperprior channels the first 1x1 layer takes (``None``: not split)."""
        return None if self.first_params is None else self.first_params[0].shape[1]

    def params_rows(self, params: Tensor, schedule: Schedule) -> Tensor:
        """``[B * h * w + 1, C]``: each position's hyperprior term, in coding order, image-major.

        With a 1x1 first layer this is already that layer's hyperprior half (plus its bias),
        computed for all positions in one product. The last row is a zero dummy that padded
        rows of a step point at.
        """
        b, c = params.shape[:2]
        expected = self.params_channels
        if expected is not None and c != expected:
            raise ValueError(
                f"params has {c} channels; entropy_parameters expects {expected} hyperprior "
                "channels (params must be h_s(z_hat))"
            )
        order = schedule.order.to(params.device)
        rows = params.flatten(2).index_select(2, order).transpose(1, 2)
        if self.first_params is not None:
            w, bias = self.first_params
            # A fresh copy per image: the same strides and alignment whatever its batch.
            rows = torch.stack([_linear(image.contiguous(), w, bias) for image in rows])
        rows = rows.reshape(b * rows.shape[1], -1)
        return torch.cat([rows, rows.new_zeros(1, rows.shape[1])])

    def gaussian_params(
        self, latent: Tensor, hyper: Tensor, context_rows: Tensor, images: int = 1
    ) -> tuple[Tensor, Tensor]:
        """``(scales, means)``, ``[R, M]`` each, of the ``R`` rows of one wavefront step.

        ``latent`` is the channel-last decoded-latent buffer, ``context_rows`` ``[R, taps]`` the
        buffer rows of each step row's context taps, ``hyper`` the step rows of
        :meth:`params_rows`. The rows are ``images`` equal blocks, one per image; each block is
        computed on its own, so an image's result does not depend on the other images of the
        batch.
        """
        blocks = zip(hyper.chunk(images), context_rows.chunk(images), strict=True)
        h = torch.cat([self._block_params(latent, hyp, ctx) for hyp, ctx in blocks])
        m = self.latent_channels
        return h[:, :m], h[:, m:]

    def _block_params(self, latent: Tensor, hyper: Tensor, context_rows: Tensor) -> Tensor:
        ctx = latent.index_select(0, context_rows.reshape(-1)).view(hyper.shape[0], -1)
        h = _linear(ctx, self.ctx_weight, self.ctx_bias)
        if self.first_ctx_t is not None:
            h = _addmm(hyper, h, self.first_ctx_t)
        else:
            h = torch.cat([hyper, h], dim=1)
        for op in self.ops:
            h = _apply(op, h)
        if h.shape[1] != 2 * self.latent_channels:
            raise ValueError(
                f"entropy_parameters outputs {h.shape[1]} channels; the coder expects 2*M = "
                f"{2 * self.latent_channels} (scales, then means)"
            )
        return h
