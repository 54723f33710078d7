"""Anchors: conventional and learned ISPs followed by standard image codecs.

Every anchor is measured exactly like a learned codec (:mod:`compressai_isp.utils.eval_model`):
same data set, same ground truth (the LibRaw rendering, :func:`compressai_isp.data.raw.load_pair`),
same 8-bit PSNR / MS-SSIM per image (:func:`compressai_isp.metrics.compute_metrics`), bits per
*sRGB output pixel* (the whole file, headers included), and the same result JSON, so all curves
share one plot (:mod:`compressai_isp.utils.plot`) and BD-rate (:mod:`compressai_isp.utils.bd`).

Pipelines (``compressai-isp anchors <pipeline> DATASET ...``):

``libraw``
    The LibRaw rendering, coded with JPEG, JPEG 2000, WebP, AVIF and JPEG XL over a quality
    sweep. **Its ground truth is its own input**, so it carries no ISP error at all: it is the
    curve of a *perfect* ISP followed by a standard codec, a reference for what the codec alone
    costs, not a fair rival to a learned RAW codec (whose decoder must also learn the ISP).
``isp``
    The fair rivals of RAWtoBit's related work (§2.1: ISP-Nets followed by standard JPEG): a
    learned ISP-Net (LiteISPNet, zoo ``"liteispnet"``) renders the RAW, then each standard codec
    codes the rendering; scored against the LibRaw ground truth. Also writes the **ISP-only
    ceiling**: the ISP-Net's quality with no compression at all, an upper bound no
    ISP-then-codec pipeline can exceed (the paper reports 32.82 dB for its LiteISPNet on the FiveK
    Nikon D700 test split, §4.2; this tool measures it on *your* data and weights).
``classical``
    An honest rival that learns nothing: the RAW in the camera-normalised input space (the
    file's as-shot white balance and LibRaw's camera -> sRGB matrix,
    :mod:`compressai_isp.data.input_space`), rendered by the classical ISP (bilinear demosaic
    and LibRaw's BT.709 curve, :func:`compressai_isp.data.classical_isp`), then each standard
    codec; scored against the LibRaw ground truth. Also writes its ISP-only ceiling, like ``isp``.
    What it loses to LibRaw is demosaicing (AHD against bilinear) and nothing else.
``cascade``
    The paper's cascaded structure (CS, §3.1): a separately trained ISP-Net followed by an
    mbt2018 Comp-Net, assembled from a LiteISPNet checkpoint and one mbt2018 state dict per rate
    point (e.g. trained with CompressAI's example trainer on sRGB images) and entropy-coded for
    real. A cascade trained as one zoo ``"cascaded"`` model is evaluated with
    ``compressai-isp eval checkpoint -a cascaded`` instead.

Every ISP renders the RAW in its own input space (a learned ISP-Net: ``isp.input_space``), and
the result JSON of a RAW pipeline records it per rate point under ``results["input_space"]``.

Codecs are those of ``imagecodecs`` (libjpeg-turbo, OpenJPEG, libwebp, libavif, libjxl), which
installs beside CompressAI's ``numpy<2`` pin. Quality parameters: JPEG, WebP, AVIF and JPEG XL
take a 0-100 quality; JPEG 2000 takes OpenJPEG's target PSNR in dB (``tcp_distoratio``), which is
how OpenJPEG exposes fixed-quality coding. Codec defaults otherwise (JPEG 4:2:0 as imagecodecs
sets it, AVIF speed 6 to keep the sweep affordable, libwebp's and libjxl's own defaults).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from compressai_isp import zoo
from compressai_isp.codec.pipeline import render_isp
from compressai_isp.data import classical_isp
from compressai_isp.errors import report_error, run_command, usage_errors
from compressai_isp.io import load_model, load_state_file
from compressai_isp.metrics import compute_metrics, quantize_8bit
from compressai_isp.models import Cascaded
from compressai_isp.utils.errors import UsageError
from compressai_isp.utils.eval_model import (
    EvalError,
    EvalImage,
    EvalSample,
    add_dataset_arguments,
    dataset_from_arguments,
    eval_models,
    model_input_space,
    set_threads,
)
from compressai_isp.utils.results import make_result, write_json_atomic

__all__ = [
    "CLASSICAL_ISP",
    "CODECS",
    "PAPER_LITEISPNET_PSNR",
    "Codec",
    "Renderer",
    "build_parser",
    "codec_anchors",
    "isp_ceiling",
    "load_cascade",
    "learned_isp",
    "load_isp",
    "read_state_dict",
    "main",
    "render_isp",
]

#: LiteISPNet's PSNR without compression on MIT-Adobe FiveK Nikon D700, reported by RAWtoBit
#: (§4.2). A published number for reference and plotting, not something this code measured.
PAPER_LITEISPNET_PSNR = 32.82


@dataclass(frozen=True)
class Codec:
    """A standard image codec: 8-bit ``HxWx3`` array <-> bytes at a quality setting."""

    key: str
    label: str
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    qualities: tuple[float, ...]
    quality_unit: str = "quality (0-100)"
    extra: dict[str, Any] = field(default_factory=dict)


def _make_codecs() -> dict[str, Codec]:
    sweep = (10.0, 30.0, 50.0, 70.0, 80.0, 90.0, 95.0)
    return {
        "jpeg": Codec(
            "jpeg",
            "JPEG",
            lambda a, q: imagecodecs.jpeg8_encode(a, level=int(q)),
            lambda b: imagecodecs.jpeg8_decode(b),
            sweep,
        ),
        "jpeg2000": Codec(
            "jpeg2000",
            "JPEG 2000",
            lambda a, q: imagecodecs.jpeg2k_encode(a, level=float(q), codecformat="j2k"),
            lambda b: imagecodecs.jpeg2k_decode(b),
            (24.0, 27.0, 30.0, 33.0, 36.0, 39.0, 42.0),
            quality_unit="target PSNR [dB] (OpenJPEG tcp_distoratio)",
        ),
        "webp": Codec(
            "webp",
            "WebP",
            lambda a, q: imagecodecs.webp_encode(a, level=float(q), lossless=False),
            lambda b: imagecodecs.webp_decode(b),
            sweep,
        ),
        "avif": Codec(
            "avif",
            "AVIF",
            lambda a, q: imagecodecs.avif_encode(a, level=int(q), speed=6),
            lambda b: imagecodecs.avif_decode(b),
            sweep,
        ),
        "jpegxl": Codec(
            "jpegxl",
            "JPEG XL",
            lambda a, q: imagecodecs.jpegxl_encode(a, level=float(q)),
            lambda b: imagecodecs.jpegxl_decode(b),
            sweep,
        ),
    }


#: The standard codecs by key: ``jpeg``, ``jpeg2000``, ``webp``, ``avif``, ``jpegxl``.
CODECS: dict[str, Codec] = _make_codecs()


def _to_hwc_uint8(image: Tensor) -> np.ndarray:
    img = image[0] if image.dim() == 4 else image
    return np.ascontiguousarray(quantize_8bit(img).to(torch.uint8).permute(1, 2, 0).cpu().numpy())


def _from_hwc_uint8(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255.0)


def codec_roundtrip(
    codec: Codec, image: np.ndarray, quality: float
) -> tuple[np.ndarray, int, float, float]:
    """Code an 8-bit ``HxWx3`` image: ``(decoded, bytes, encoding seconds, decoding seconds)``."""
    start = time.perf_counter()
    data = codec.encode(image, quality)
    enc = time.perf_counter() - start
    start = time.perf_counter()
    decoded = np.asarray(codec.decode(data))
    dec = time.perf_counter() - start
    if decoded.shape != image.shape:
        raise ValueError(
            f"{codec.label} at {quality}: decoded shape {decoded.shape} != input {image.shape}"
        )
    return decoded, len(data), enc, dec


# --------------------------------------------------------------------------------------------
# ISP-Net rendering
# --------------------------------------------------------------------------------------------


def read_state_dict(path: str | Path, what: str) -> tuple[dict[str, Tensor], str | None]:
    """``(state dict, recorded architecture or None)`` of a checkpoint file.

    Accepts a bare state dict (e.g. ``torch.save(model.state_dict())``), CompressAI's example
    trainer's ``{"state_dict": ...}`` and this library's training checkpoints, all read by
    :func:`compressai_isp.io.load_state_file` (weights-only: runs no code). A state dict, not
    a model: the cascade is assembled from it and the ISP-Net (:func:`load_cascade`).
    """
    path = Path(path)
    try:
        ckpt = load_state_file(path)
    except ValueError as err:
        raise EvalError(f"{what}: {err}") from None
    state = ckpt.get("state_dict", ckpt)
    if not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise EvalError(f"{what} {path}: no model state dict found")
    arch = ckpt.get("arch")
    return state, arch if isinstance(arch, str) else None


def load_isp(checkpoint: str | None = None, pretrained: bool = False) -> nn.Module:
    """The ISP-Net of the ``isp`` / ``cascade`` anchors: a LiteISPNet checkpoint or zoo weights."""
    if checkpoint:
        # The one loader: the input space the file records comes back with the weights.
        try:
            return load_model(checkpoint, arch="liteispnet").model
        except ValueError as err:
            raise EvalError(f"ISP checkpoint: {err}") from None
    if pretrained:
        return zoo.liteispnet(quality=1, pretrained=True, progress=False).eval()
    raise EvalError("an ISP-Net is needed: pass --isp-checkpoint PATH or --isp-pretrained")


@dataclass(frozen=True)
class Renderer:
    """An ISP that renders a test image for the codecs: the RAW in ``input_space`` -> sRGB.

    ``label`` prefixes the curve names (``"<label>+JPEG"``); ``ceiling`` describes its ISP-only
    result.
    """

    label: str
    input_space: str
    render: Callable[[Tensor], Tensor]  # packed RAW [4,h,w] -> sRGB [3,2h,2w] in [0, 1]
    ceiling: str


def learned_isp(isp: nn.Module) -> Renderer:
    """A learned ISP-Net (e.g. LiteISPNet) as a :class:`Renderer`, in its own input space."""
    return Renderer(
        type(isp).__name__,
        model_input_space(isp),
        lambda raw: render_isp(isp, raw),
        "ISP-only ceiling: ISP-Net rendering vs LibRaw ground truth, no compression (RAWtoBit "
        f"§4.2 reports {PAPER_LITEISPNET_PSNR} dB for LiteISPNet on FiveK D700)",
    )


#: The ``classical`` pipeline's ISP: bilinear demosaic + LibRaw's BT.709 curve of the
#: camera-normalised RAW (:func:`compressai_isp.data.classical_isp`).
CLASSICAL_ISP = Renderer(
    "Classical ISP",
    "camera-normalised",
    classical_isp,
    "ISP-only ceiling: classical ISP (camera-normalised RAW, bilinear demosaic, LibRaw's BT.709 "
    "curve) vs LibRaw ground truth, no compression",
)


# --------------------------------------------------------------------------------------------
# Codec anchors (libraw / isp / classical pipelines)
# --------------------------------------------------------------------------------------------


Totals = dict[tuple[str, float], dict[str, float]]  # (codec key, quality) -> metric sums


def _render(image: EvalImage, renderer: Renderer | None) -> tuple[Tensor, float]:
    """The picture the codecs code and the seconds its ISP took (making its input space
    included: the camera does both before encoding)."""
    if renderer is None:
        return image.srgb, 0.0
    start = time.perf_counter()
    rendered = renderer.render(image.input(renderer.input_space))
    return rendered, time.perf_counter() - start


def _code_at_every_quality(
    totals: Totals,
    name: str,
    rendered: Tensor,
    reference: Tensor,
    sweeps: Sequence[tuple[Codec, Sequence[float]]],
    isp_time: float,
) -> None:
    """Add one image's scores at every quality of every codec in ``sweeps`` to ``totals``."""
    image = _to_hwc_uint8(rendered)
    num_pixels = image.shape[0] * image.shape[1]  # sRGB output pixels
    for codec, sweep in sweeps:
        for q in sweep:
            try:
                decoded, nbytes, enc, dec = codec_roundtrip(codec, image, q)
            except Exception as err:  # codec libraries raise their own error types
                raise EvalError(f"{name}: {codec.label} at {q}: {err}") from err
            t = totals[(codec.key, q)]
            for k, v in compute_metrics(reference, _from_hwc_uint8(decoded)).items():
                t[k] += v
            t["bpp"] += 8.0 * nbytes / num_pixels
            t["encoding_time"] += enc + isp_time
            t["decoding_time"] += dec


def _anchor_results(
    totals: Totals,
    ceiling: dict[str, float],
    n: int,
    sweeps: Sequence[tuple[Codec, Sequence[float]]],
    renderer: Renderer | None,
) -> dict[str, dict[str, Any]]:
    """The result dicts of :func:`codec_anchors` from the metric sums over ``n`` images."""
    prefix = "LibRaw" if renderer is None else renderer.label
    truth = (
        "ground truth = its own input: perfect-ISP reference"
        if renderer is None
        else f"input space {renderer.input_space}; ground truth = LibRaw rendering"
    )
    out: dict[str, dict[str, Any]] = {}
    for codec, sweep in sweeps:
        results: dict[str, list[Any]] = defaultdict(list)
        for q in sweep:
            for k, v in totals[(codec.key, q)].items():
                results[k].append(v / n)
            results["quality"].append(q)
            if renderer is not None:
                results["input_space"].append(renderer.input_space)
        out[codec.key] = make_result(
            f"{prefix}+{codec.label}",
            f"{prefix} rendering coded with {codec.label} (imagecodecs; quality = "
            f"{codec.quality_unit}); {truth}",
            dict(results),
        )
    if renderer is not None:
        levels: dict[str, list[Any]] = {k: [v / n] for k, v in ceiling.items()}
        out["isp-only"] = make_result(
            f"{prefix} (no compression)",
            renderer.ceiling,
            {**levels, "input_space": [renderer.input_space]},
        )
    return out


def codec_anchors(
    samples: Sequence[EvalSample],
    codecs: Sequence[Codec],
    *,
    qualities: dict[str, Sequence[float]] | None = None,
    isp: nn.Module | Renderer | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Result dicts (one per codec, plus ``"isp-only"`` when ``isp`` is given) over ``samples``.

    The codec input is the LibRaw rendering itself (``isp=None``, the perfect-ISP reference),
    a learned ISP-Net's rendering of the RAW (an ``nn.Module``, :func:`learned_isp`) or any
    :class:`Renderer`'s (:data:`CLASSICAL_ISP`), each fed the RAW in its own input space; the
    reference is always the LibRaw rendering. Each image is rendered once and coded at every
    quality of every codec. ``encoding_time`` includes the ISP's rendering time (the camera runs
    it before encoding).
    """
    if not samples:
        raise ValueError("no images to evaluate")
    renderer = learned_isp(isp) if isinstance(isp, nn.Module) else isp
    sweeps = [(c, tuple((qualities or {}).get(c.key, c.qualities))) for c in codecs]
    totals: Totals = defaultdict(lambda: defaultdict(float))
    ceiling: dict[str, float] = defaultdict(float)
    # disable=None: a bar only on a terminal, never in logs or pipes.
    bar = tqdm(
        samples, desc="anchors", unit="img", disable=None if progress else True, file=sys.stderr
    )
    for sample in bar:
        image = sample.load()
        rendered, isp_time = _render(image, renderer)
        if renderer is not None:
            for k, v in compute_metrics(image.srgb, rendered).items():
                ceiling[k] += v
            ceiling["encoding_time"] += isp_time
        _code_at_every_quality(totals, sample.name, rendered, image.srgb, sweeps, isp_time)
    return _anchor_results(totals, ceiling, len(samples), sweeps, renderer)


def isp_ceiling(
    samples: Sequence[EvalSample], isp: nn.Module | Renderer, progress: bool = True
) -> dict[str, Any]:
    """The ISP-only ceiling alone (no codec): the ISP's PSNR / MS-SSIM / ΔE00 against LibRaw."""
    return codec_anchors(samples, [], isp=isp, progress=progress)["isp-only"]


# --------------------------------------------------------------------------------------------
# Cascade from separately trained ISP-Net and Comp-Net
# --------------------------------------------------------------------------------------------


def load_cascade(isp: nn.Module, comp_checkpoint: str | Path) -> nn.Module:
    """A :class:`~compressai_isp.models.Cascaded` from an ISP-Net and a comp-net / mbt2018 file."""
    comp, arch = read_state_dict(comp_checkpoint, "Comp-Net checkpoint")
    if arch not in (None, "comp-net"):
        raise EvalError(
            f"Comp-Net checkpoint {comp_checkpoint}: holds a {arch!r} model, not comp-net"
        )
    state = {**comp, **{f"isp.{k}": v for k, v in isp.state_dict().items()}}
    try:
        net = Cascaded.from_state_dict(state, input_space=model_input_space(isp))
    except (KeyError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise EvalError(
            f"Comp-Net checkpoint {comp_checkpoint}: not an mbt2018 state dict ({first})"
        ) from None
    net.update(force=True)
    return net.eval()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _named_model(load: Callable[..., nn.Module], *args: Any) -> nn.Module:
    """``load(*args)``; a model the options name that cannot be loaded is a wrong command line."""
    with usage_errors():
        return load(*args)


def _parse_list(text: str, what: str, cast: Callable[[str], Any]) -> list[Any]:
    try:
        items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{what}: cannot parse {text!r}") from None
    if not items:
        raise UsageError(f"{what}: empty list")
    return items


def _parent_parsers() -> tuple[argparse.ArgumentParser, ...]:
    """The option groups the pipelines share: data set and output, codec sweep, ISP-Net."""
    common = argparse.ArgumentParser(add_help=False)
    add_dataset_arguments(common)
    common.add_argument(
        "-d",
        "--output-directory",
        "-o",  # the first spellings, kept for scripts: -o/--output-dir
        "--output-dir",
        dest="output_dir",
        metavar="DIR",
        default="anchors",
        help="directory for the result JSONs, as eval's -d (default: %(default)s)",
    )
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    common.add_argument("--cuda", action="store_true", help="run the ISP-Net / cascade on CUDA")
    common.add_argument(
        "--threads", type=int, default=1, help="CPU threads for torch (default: %(default)s)"
    )

    codec_args = argparse.ArgumentParser(add_help=False)
    codec_args.add_argument(
        "--codecs",
        default=",".join(CODECS),
        help="comma-separated codecs, or 'none' (ISP-only ceiling alone) (default: %(default)s)",
    )
    codec_args.add_argument(
        "-q",
        "--quality",
        "--qualities",
        dest="qualities",
        default=None,
        help="comma-separated quality settings for every chosen codec "
        "(default: each codec's own sweep)",
    )

    isp_args = argparse.ArgumentParser(add_help=False)
    isp_args.add_argument("--isp-checkpoint", default=None, help="LiteISPNet checkpoint")
    isp_args.add_argument(
        "--isp-pretrained", action="store_true", help="use the zoo's trained liteispnet weights"
    )
    return common, codec_args, isp_args


def build_parser() -> argparse.ArgumentParser:
    common, codec_args, isp_args = _parent_parsers()
    parser = argparse.ArgumentParser(
        prog="compressai-isp anchors",
        description="Standard-codec and learned-ISP anchors, measured like eval (bpp over sRGB "
        "pixels, 8-bit PSNR/MS-SSIM vs the LibRaw rendering).",
    )
    sub = parser.add_subparsers(dest="pipeline")
    sub.add_parser(
        "libraw",
        parents=[common, codec_args],
        help="LibRaw rendering + standard codecs (perfect-ISP reference)",
    )
    sub.add_parser(
        "isp",
        parents=[common, codec_args, isp_args],
        help="learned ISP-Net + standard codecs, and the ISP-only ceiling",
    )
    sub.add_parser(
        "classical",
        parents=[common, codec_args],
        help="camera-normalised RAW + classical ISP (bilinear, LibRaw's BT.709 curve) + "
        "standard codecs, and the ISP-only ceiling",
    )
    cas = sub.add_parser(
        "cascade",
        parents=[common, isp_args],
        help="ISP-Net + mbt2018 Comp-Net from separate checkpoints",
    )
    cas.add_argument(
        "--comp-checkpoint",
        nargs="+",
        required=True,
        help="comp-net checkpoints or mbt2018 state dicts, one per rate point",
    )
    cas.add_argument(
        "--entropy-estimation",
        action="store_true",
        help="estimated rate instead of real entropy coding",
    )
    return parser


def _codec_sweeps(args: argparse.Namespace) -> tuple[list[Codec], dict[str, list[float]] | None]:
    """The codecs ``--codecs`` names and the ``--qualities`` sweep (``None``: their own)."""
    keys = [] if args.codecs == "none" else _parse_list(args.codecs, "--codecs", str)
    if not keys and args.pipeline == "libraw":
        raise UsageError("--codecs: the libraw pipeline needs at least one codec")
    unknown = [k for k in keys if k not in CODECS]
    if unknown:
        raise UsageError(f"--codecs: unknown {', '.join(unknown)} (known: {', '.join(CODECS)})")
    if not args.qualities:
        return [CODECS[k] for k in keys], None
    sweep = _parse_list(args.qualities, "--qualities", float)
    return [CODECS[k] for k in keys], {k: sweep for k in keys}


def _run_codec_pipeline(
    args: argparse.Namespace, samples: Sequence[EvalSample], device: str
) -> dict[str, Path]:
    """The ``libraw``, ``isp`` and ``classical`` pipelines: ``<prefix>-<codec>.json`` each
    (and ``<prefix>-isp-only.json`` for an ISP)."""
    codecs, qualities = _codec_sweeps(args)
    isp: nn.Module | Renderer | None = None
    if args.pipeline == "isp":
        isp = _named_model(load_isp, args.isp_checkpoint, args.isp_pretrained).to(device)
    elif args.pipeline == "classical":
        isp = CLASSICAL_ISP
    results = codec_anchors(samples, codecs, qualities=qualities, isp=isp, progress=not args.quiet)
    prefix = "liteispnet" if args.pipeline == "isp" else args.pipeline
    out_dir = Path(args.output_dir)
    return {
        key: write_json_atomic(out_dir / f"{prefix}-{key}.json", result)
        for key, result in results.items()
    }


def run(args: argparse.Namespace) -> dict[str, Path]:
    """Run the chosen pipeline; returns ``{result key: written JSON path}``."""
    if args.cuda and not torch.cuda.is_available():
        raise UsageError("--cuda given but CUDA is not available")
    device = "cuda" if args.cuda else "cpu"
    samples = dataset_from_arguments(args)
    if args.pipeline in ("libraw", "isp", "classical"):
        return _run_codec_pipeline(args, samples, device)

    isp = _named_model(load_isp, args.isp_checkpoint, args.isp_pretrained)
    models = [_named_model(load_cascade, isp, ckpt).to(device) for ckpt in args.comp_checkpoint]
    per_run = eval_models(
        models,
        samples,
        run_names=[Path(ckpt).stem for ckpt in args.comp_checkpoint],
        entropy_estimation=args.entropy_estimation,
        progress=not args.quiet,
    )
    results: dict[str, list[Any]] = defaultdict(list)
    for ckpt, metrics in zip(args.comp_checkpoint, per_run, strict=True):
        for k, v in metrics.items():
            results[k].append(v)
        results["checkpoint"].append(str(ckpt))
    results["input_space"] = [model_input_space(model) for model in models]
    coder = "entropy estimation" if args.entropy_estimation else "ans"
    result = make_result(
        "Cascade (LiteISPNet+mbt2018)",
        f"Inference ({coder}); separately trained ISP-Net and Comp-Net (RAWtoBit CS)",
        dict(results),
    )
    return {"cascade": write_json_atomic(Path(args.output_dir) / "cascade.json", result)}


def _anchors(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    for path in run(args).values():
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.pipeline is None:
        parser.print_usage(sys.stderr)
        return report_error(
            "compressai-isp anchors",
            UsageError("choose a pipeline: libraw, isp, classical or cascade"),
        )
    return run_command("compressai-isp anchors", lambda: _anchors(args))


if __name__ == "__main__":
    sys.exit(main())
