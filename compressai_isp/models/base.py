"""The context + hyperprior entropy model shared by every RAWtoBit compression model.

Every compression model of the paper (RBN, unified, compression teacher, ISP teacher, the
Comp-Net of the cascade) codes its latent with the model of Minnen et al. 2018 [20]: a scale
hyperprior plus a 5x5 masked-convolution context. :class:`ContextHyperprior` is CompressAI's
``mbt2018`` (it subclasses it, so every attribute name and tool written for mbt2018 still
applies) with the analysis / synthesis transforms supplied by the concrete model, and with
the latent coded by :mod:`compressai_isp.context`'s wavefront-parallel coder instead of the
position-by-position loop.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from compressai.models import JointAutoregressiveHierarchicalPriors
from torch import Tensor, nn

from compressai_isp import context
from compressai_isp.data.input_space import INPUT_SPACES
from compressai_isp.precision import TransformPrecision

__all__ = [
    "Configurable",
    "ContextHyperprior",
    "check_input",
    "checked_input_space",
    "require_compression",
    "pad_to_multiple",
    "crop_to",
]

HYPER_STRIDE = 4  # h_a downsamples the latent twice by 2


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Replicate-pad the bottom/right of ``x`` so that both sides are multiples of ``multiple``.

    Models take inputs whose sides are multiples of their ``downsampling_factor``; pad before
    the model and :func:`crop_to` the original size after it (sRGB outputs are twice the packed
    RAW size, so crop to ``2 * raw_size`` there).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop the top-left ``size = (H, W)`` of ``x``, undoing :func:`pad_to_multiple`."""
    return x[..., : size[0], : size[1]]


def require_compression(model: nn.Module, what: str) -> nn.Module:
    """``model`` if it has an entropy model (``compress``/``decompress``), else a one-line
    ``ValueError`` naming ``what``: the codec and the evaluator only take compression models."""
    if not callable(getattr(model, "compress", None)):
        raise ValueError(
            f"{what} has no entropy model (compress/decompress): not a compression model"
        )
    return model


def check_input(model: nn.Module, x: Tensor) -> None:
    """Raise a one-line ``ValueError`` when ``x`` is not a tensor ``model`` can take."""
    name = type(model).__name__
    expected = model.in_channels
    kind = "[B, 4, H/2, W/2] of packed RAW" if model.input_kind == "raw" else "[B, 3, H, W] of sRGB"
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != expected:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        # The commonest slip is one image without its batch dimension: say how to add it.
        unbatched = isinstance(x, Tensor) and x.dim() == 3 and x.shape[0] == expected
        hint = " (one image without its batch dimension: pass x[None])" if unbatched else ""
        raise ValueError(f"{name} expects a batch {kind}; got {shape}{hint}")
    m = model.downsampling_factor
    h, w = x.shape[-2:]
    if h % m or w % m:
        raise ValueError(
            f"{name} needs input sides that are multiples of {m}; got {h}x{w} "
            f"(pad with compressai_isp.models.pad_to_multiple(x, {m}) and crop the output)"
        )


def checked_input_space(input_space: Any) -> str:
    """``input_space`` if it is one of :data:`compressai_isp.data.INPUT_SPACES`, else a
    one-line ``ValueError`` naming it and the allowed ones."""
    if not isinstance(input_space, str) or input_space not in INPUT_SPACES:
        allowed = ", ".join(repr(s) for s in INPUT_SPACES)
        raise ValueError(f"unknown input space {input_space!r}; use one of {allowed}")
    return input_space


class Configurable:
    """A model that records its constructor widths and rebuilds them from a state dict.

    Subclasses store their constructor keyword arguments in ``self._config`` and say how to
    read them back off a state dict's tensor shapes in :meth:`config_from_state_dict`.

    **Input space.** A model of packed RAW (``input_kind == "raw"``) takes the keyword
    ``input_space`` (one of :data:`compressai_isp.data.INPUT_SPACES`; see
    :mod:`compressai_isp.data.input_space`): ``"paper"`` (the default, RAWtoBit's
    black/white-normalised packed RAW in the camera's own colours) or ``"camera-normalised"``
    (the same after the file's as-shot white balance and LibRaw's camera -> linear-sRGB
    matrix). It is what the model was trained on and must be fed
    (``RawImage.input(model.input_space)``); it is kept in :attr:`config`, so checkpoints,
    exports and model cards carry it. Models of sRGB have ``input_space = None``.
    """

    _config: dict[str, Any]
    #: The RAW input space the model was trained on; ``None`` for sRGB-input models.
    input_space: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments that rebuild this model (saved with checkpoints)."""
        return dict(self._config)

    @classmethod
    def config_from_state_dict(cls, state_dict: dict[str, Tensor]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Tensor], **config: Any) -> Any:
        """Rebuild the model with the widths recorded in ``state_dict`` and load it.

        Only widths can be read off tensor shapes: the input space leaves none, so a RAW model
        comes back in ``"paper"`` space unless the caller passes ``input_space=`` (from the
        checkpoint's or export's recorded config). ``config`` overrides what the shapes say.
        """
        net = cls(**{**cls.config_from_state_dict(state_dict), **config})
        net.load_state_dict(state_dict)
        return net


def hyperprior_widths(state_dict: dict[str, Tensor]) -> dict[str, int]:
    """``M`` (latent channels) and ``N_hyper`` read off ``h_a``'s first convolution."""
    n_hyper, m = state_dict["h_a.0.weight"].shape[:2]
    return {"M": m, "N_hyper": n_hyper}


class ContextHyperprior(Configurable, JointAutoregressiveHierarchicalPriors):
    """mbt2018's context + hyperprior entropy model around a model-specific ``g_a`` / ``g_s``.

    Subclasses set ``input_kind`` / ``output_kind`` and pass their transforms::

        x ──g_a──► y ──h_a──► z ──Q/EB──► z_hat ──h_s──► params ─┐
                   │                                             ├─EP──► (scales, means)
                   └──Q──► y_hat ──context_prediction (5x5 mask)─┘         │
                           │                                     GC (rANS) ◄┘
                           └──g_s──► x_hat

    Args:
        g_a: analysis transform, input -> latent ``[B, M, h, w]`` (``None``: mbt2018's).
        g_s: synthesis transform, latent -> output (``None``: mbt2018's).
        M: latent channels.
        N_hyper: hyperprior width (``h_a`` / ``h_s``), ``N`` of CompressAI's mbt2018.
        latent_stride: input side / latent side (16 for a packed RAW input, 32 for sRGB).

    In training mode the latent is perturbed with uniform noise (CompressAI's convention). In
    eval mode ``forward`` quantises the latent exactly as the coder does, ``round(y - mu) + mu``
    with the autoregressive means, so ``forward(x)["x_hat"]`` equals
    ``decompress(**compress(x))["x_hat"]`` and its likelihoods are those of the real stream.
    """

    input_kind: ClassVar[str] = "raw"
    output_kind: ClassVar[str] = "srgb"
    in_channels: ClassVar[int] = 4
    #: What :func:`compressai_isp.precision.set_transform_precision` may speed up.
    transform_modules: ClassVar[tuple[str, ...]] = ("g_a", "g_s")
    transform_precision: TransformPrecision = TransformPrecision()

    def __init__(
        self,
        g_a: nn.Module | None,
        g_s: nn.Module | None,
        *,
        M: int,
        N_hyper: int,
        latent_stride: int,
    ) -> None:
        super().__init__(N=N_hyper, M=M)
        # ``None`` keeps mbt2018's own sRGB transforms (the Comp-Net of the cascade).
        if g_a is not None:
            self.g_a = g_a
        if g_s is not None:
            self.g_s = g_s
        self.latent_stride = latent_stride

    # -- configuration --------------------------------------------------------------------------
    @property
    def downsampling_factor(self) -> int:
        """The multiple that both input sides must be (latent stride times the hyper stride)."""
        return self.latent_stride * HYPER_STRIDE

    # -- CompressAI contract ----------------------------------------------------------------------
    def analysis_input(self, x: Tensor) -> Tensor:
        """Validate the model input and return what ``g_a`` codes (the cascade renders it)."""
        check_input(self, x)
        return x

    def analyse(self, x: Tensor) -> Tensor:
        """``g_a`` of the input in the transform precision; float32 latent ``[B, M, h, w]``."""
        with self.transform_precision.scope(x) as x:
            y = self.g_a(self.analysis_input(x))
        return self.transform_precision.output(y)

    def synthesise(self, y_hat: Tensor) -> Tensor:
        """``g_s`` of a (float32) latent in the transform precision; float32 output."""
        with self.transform_precision.scope(y_hat) as y_hat:
            x_hat = self.g_s(y_hat)
        return self.transform_precision.output(x_hat)

    def forward(self, x: Tensor) -> dict[str, Any]:
        y = self.analyse(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        params = self.h_s(z_hat)
        if self.training:
            y_hat = self.gaussian_conditional.quantize(y, "noise")
        else:
            y_hat = context.quantize_latent(self, y, params)
        ctx_params = self.context_prediction(y_hat)
        gaussian_params = self.entropy_parameters(torch.cat((params, ctx_params), dim=1))
        scales_hat, means_hat = gaussian_params.chunk(2, 1)
        _, y_likelihoods = self.gaussian_conditional(y, scales_hat, means=means_hat)
        return {
            "x_hat": self.synthesise(y_hat),
            "likelihoods": {"y": y_likelihoods, "z": z_likelihoods},
        }

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        return context.context_compress_latent(self, self.analyse(x))

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Any) -> dict[str, Tensor]:
        y_hat = context.context_decompress_latent(self, strings, shape)
        return {"x_hat": self.synthesise(y_hat).clamp_(0, 1)}
