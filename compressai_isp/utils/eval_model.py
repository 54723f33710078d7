"""Rate-distortion evaluation of a RAW-to-sRGB codec on a folder of camera RAW files.

``compressai.utils.eval_model`` for RAW input: the same sub-commands, flags and JSON, but

* the data set is a folder of RAW files (each paired with its LibRaw rendering,
  :func:`compressai_isp.data.load_pair`: the paper's ground truth) or a paired RAW/sRGB folder;
* bits per pixel are counted over the **sRGB output pixels** ``H * W`` (RAWtoBit §4.2), not over
  the packed RAW tensor ``[4, H/2, W/2]``, which would report 4x too many bits per pixel
  (:func:`compressai_isp.metrics.srgb_num_pixels`);
* images whose packed RAW side is not a multiple of ``model.downsampling_factor`` are
  replicate-padded and the output cropped back by the codec's own stages
  (:mod:`compressai_isp.codec.pipeline`, what ``compressai-isp encode`` / ``decode`` run), so
  any camera's frame size works; bits are those of the padded stream over the true pixels;
* every RAW-input model sees the packed RAW in **its own input space** (``model.input_space``:
  ``"paper"`` or ``"camera-normalised"``, :mod:`compressai_isp.data.input_space`), made from the
  file's own colour metadata; models of different spaces evaluate in one run (each image is
  decoded once, each space derived from it once) against the same ground truth, and the result
  JSON records each rate point's space under ``results["input_space"]`` (``null``: sRGB input).

By default the model really entropy-codes every image (``compress`` then ``decompress``; bits =
8 x the bytes of the streams) and the timings are those of the two calls; with
``--entropy-estimation`` one ``forward`` pass gives the estimated rate ``-log2 p``. PSNR and
MS-SSIM are measured on 8-bit images, per image, then averaged
(:func:`compressai_isp.metrics.compute_metrics`). Models whose output is packed RAW (the
compression teacher) are scored against the input RAW under ``psnr-raw`` / ``ms-ssim-raw``.

Examples::

    python -m compressai_isp.utils.eval_model checkpoint /data/raw -a rbn \\
        -p rbn-q1.pth.tar rbn-q4.pth.tar -o results/rbn.json
    python -m compressai_isp.utils.eval_model pretrained /data/raw -a rbn -q 6 -d out/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import compressai
import torch
from torch import Tensor, nn
from tqdm import tqdm

from compressai_isp import zoo
from compressai_isp.codec import pipeline
from compressai_isp.codec.engine import DEFAULT_ARCH, save_image
from compressai_isp.data.datasets import PairedFolder, RawFolder
from compressai_isp.data.input_space import CameraColour, to_input_space
from compressai_isp.errors import report_error, run_command, usage_errors
from compressai_isp.io import load_model
from compressai_isp.metrics import (
    bpp_from_likelihoods,
    bpp_from_strings,
    compute_metrics,
    ms_ssim,
    psnr,
    srgb_num_pixels,
)
from compressai_isp.models import require_compression
from compressai_isp.precision import (
    add_precision_arguments,
    resolve_precision,
    set_transform_precision,
)
from compressai_isp.utils.errors import EvalError, UsageError
from compressai_isp.utils.results import make_result, write_json_atomic

__all__ = [
    "EvalError",
    "EvalImage",
    "EvalSample",
    "add_dataset_arguments",
    "build_parser",
    "collect_dataset",
    "dataset_from_arguments",
    "eval_model",
    "eval_models",
    "inference",
    "load_checkpoint",
    "load_eval_image",
    "load_pretrained",
    "main",
    "model_input_space",
    "set_threads",
    "UsageError",
]

# --------------------------------------------------------------------------------------------
# Data set
# --------------------------------------------------------------------------------------------


@dataclass
class EvalImage:
    """One decoded test image: paper-space packed RAW ``[4,h,w]``, its ground truth
    ``[3,2h,2w]`` and the colour metadata that maps it to the other input spaces."""

    raw: Tensor
    srgb: Tensor
    colour: CameraColour
    _inputs: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def input(self, space: str | None) -> Tensor:
        """The packed RAW in ``space`` (``None``, for sRGB-input models: the paper RAW, which
        they do not look at), computed once per space."""
        if space is None:
            return self.raw
        if space not in self._inputs:
            self._inputs[space] = to_input_space(self.raw, self.colour, space)
        return self._inputs[space]


@dataclass(frozen=True)
class EvalSample:
    """One test image: a name (path relative to the data set) and how to decode it."""

    name: str
    load: Callable[[], EvalImage]


def _decoded_image(dataset: Any, index: int) -> EvalImage:
    # One decode gives the paper RAW, the target and the colour: a run with models of several
    # input spaces makes each space from them (LibRaw's render is the expensive part).
    return EvalImage(*dataset.image(index))


def collect_dataset(
    root: str | Path,
    targets: str | Path | None = None,
    *,
    split: str = "all",
    camera: str | None = None,
    cache_dir: str | Path | None = None,
    skip_unreadable: bool = False,
) -> list[EvalSample]:
    """The whole test images under ``root``, in sorted order, as :class:`EvalSample` s.

    A folder of RAW files (searched recursively) is read with
    :class:`compressai_isp.data.RawFolder`: each file is paired with its LibRaw rendering (the
    paper's ground truth). A paired folder — ``root/raw/`` + ``root/srgb/``, or any ``targets``
    folder holding ``<same relative path>.png|tif|jpg`` per RAW file — is read with
    :class:`compressai_isp.data.PairedFolder`. ``split`` (``"all"``, ``"train"``, ``"val"``,
    ``"test"``), ``camera``, ``cache_dir`` and ``skip_unreadable`` are those datasets' arguments
    (e.g. ``split="test", camera="NIKON D700"`` is the paper's FiveK test set).
    """
    root = Path(root)
    if not root.is_dir():
        raise EvalError(f"dataset {root}: not a directory")
    common = {
        "split": split,
        "full_image": True,
        "augment": False,
        "cache_dir": cache_dir,
        "skip_unreadable": skip_unreadable,
    }
    paired = targets is not None or ((root / "raw").is_dir() and (root / "srgb").is_dir())
    try:
        if paired:
            if camera is not None:
                raise EvalError(
                    "--camera selects RAW files of a RAW folder; not with paired targets"
                )
            dataset = PairedFolder(root, targets, **common)
            raw_paths = [raw for raw, _ in dataset.items]
        else:
            dataset = RawFolder(root, camera=camera, **common)
            raw_paths = list(dataset.items)
    except (ValueError, FileNotFoundError) as err:
        raise EvalError(f"dataset: {err}") from None

    def name(path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.name

    return [
        EvalSample(name(Path(p)), lambda i=i: _decoded_image(dataset, i))
        for i, p in enumerate(raw_paths)
    ]


def load_eval_image(path: str | Path) -> EvalImage:
    """One RAW file as :func:`collect_dataset` reads it: paper RAW, LibRaw ground truth, colour."""
    dataset = RawFolder(Path(path).parent, split="all", full_image=True, files=[path])
    return _decoded_image(dataset, 0)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The data-set options shared by ``eval`` and ``anchors``."""
    parser.add_argument(
        "dataset", help="folder of RAW files (targets: LibRaw renderings) or a paired folder"
    )
    parser.add_argument(
        "--targets",
        default=None,
        help="folder of sRGB targets paired by relative path (default: ROOT/srgb when ROOT has "
        "raw/ and srgb/, else the LibRaw renderings)",
    )
    parser.add_argument(
        "--split",
        default="all",
        choices=["all", "train", "val", "test"],
        help="80:5:15 split of the folder (default: %(default)s)",
    )
    parser.add_argument(
        "--camera", default=None, help="only RAW files of this camera, e.g. 'NIKON D700'"
    )
    parser.add_argument("--cache-dir", default=None, help="cache of decoded RAW / targets")
    parser.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="skip (with a warning) files that cannot be used instead of failing",
    )


def dataset_from_arguments(args: argparse.Namespace) -> list[EvalSample]:
    return collect_dataset(
        args.dataset,
        args.targets,
        split=args.split,
        camera=args.camera,
        cache_dir=args.cache_dir,
        skip_unreadable=args.skip_unreadable,
    )


# --------------------------------------------------------------------------------------------
# Inference on one image
# --------------------------------------------------------------------------------------------


def _model_kinds(model: nn.Module) -> tuple[str, str]:
    # CompressAI's own sRGB models carry no kinds: they code the LibRaw rendering (sRGB -> sRGB)
    # (and need sides that are multiples of 64: pipeline.downsampling_factor).
    return getattr(model, "input_kind", "srgb"), getattr(model, "output_kind", "srgb")


def model_input_space(model: nn.Module) -> str | None:
    """The input space ``model``'s packed RAW must be in (``None``: the model takes the sRGB
    rendering); a RAW-input model that declares none is refused rather than guessed."""
    if _model_kinds(model)[0] != "raw":
        return None
    space = getattr(model, "input_space", None)
    if space is None:
        raise ValueError(f"{type(model).__name__} takes packed RAW but declares no input_space")
    return space


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, work: Callable[[], Any]) -> tuple[Any, float]:
    """``(work(), seconds)``, the device synchronised on both sides."""
    _sync(device)
    start = time.perf_counter()
    out = work()
    _sync(device)
    return out, time.perf_counter() - start


def _code(
    model: nn.Module, x: Tensor, num_pixels: int, entropy_estimation: bool
) -> tuple[Tensor, float, float, float]:
    """``(cropped reconstruction, bpp, encoding s, decoding s)`` of a batch, through the codec's
    stages: real coding, or one forward pass (its time split evenly like CompressAI's)."""
    device = x.device
    if entropy_estimation:
        (x_hat, likelihoods), elapsed = _timed(device, lambda: pipeline.estimate(model, x))
        return x_hat, bpp_from_likelihoods(likelihoods, num_pixels), elapsed / 2, elapsed / 2
    coded, enc_time = _timed(device, lambda: pipeline.compress(model, x))
    x_hat, dec_time = _timed(
        device,
        lambda: pipeline.decompress(model, coded.strings, coded.latent_shape, coded.frame),
    )
    return x_hat, bpp_from_strings(coded.strings, num_pixels), enc_time, dec_time


@torch.no_grad()
def inference(
    model: nn.Module,
    raw: Tensor,
    srgb: Tensor,
    *,
    entropy_estimation: bool = False,
    half: bool = False,
) -> tuple[dict[str, float], Tensor]:
    """Code one image and measure it; returns ``(metrics, reconstruction [1,C,H,W])``.

    ``raw`` is the packed RAW ``[4,h,w]`` (or ``[1,4,h,w]``) already in the model's input space
    (:meth:`EvalImage.input` of :func:`model_input_space`), ``srgb`` its target ``[3,2h,2w]``.
    The model sees ``raw`` or ``srgb`` according to ``model.input_kind`` and is scored against
    ``srgb`` or ``raw`` according to ``model.output_kind``.
    """
    raw = raw if raw.dim() == 4 else raw.unsqueeze(0)
    srgb = srgb if srgb.dim() == 4 else srgb.unsqueeze(0)
    if (
        raw.shape[1] != 4
        or srgb.shape[1] != 3
        or srgb.shape[-2:] != (2 * raw.shape[-2], 2 * raw.shape[-1])
    ):
        raise ValueError(
            "expected packed RAW [4,h,w] and sRGB [3,2h,2w]; "
            f"got {tuple(raw.shape)} and {tuple(srgb.shape)}"
        )
    input_kind, output_kind = _model_kinds(model)
    device = next(model.parameters()).device
    x = (raw if input_kind == "raw" else srgb).to(device)
    target = (srgb if output_kind == "srgb" else raw).to(device)
    if half:
        x = x.half()
    num_pixels = srgb_num_pixels(x, input_kind=input_kind)
    x_hat, bpp, enc_time, dec_time = _code(model, x, num_pixels, entropy_estimation)
    x_hat = x_hat.float()
    if x_hat.shape != target.shape:
        raise ValueError(
            f"{type(model).__name__} output {tuple(x_hat.shape)} does not match the "
            f"{output_kind} target {tuple(target.shape)}"
        )
    if output_kind == "srgb":
        metrics = compute_metrics(target, x_hat)
    else:
        # Linear RAW is no 8-bit picture: measure the float values in [0, 1].
        x_hat = x_hat.clamp(0, 1)
        metrics = {"psnr-raw": psnr(target, x_hat), "ms-ssim-raw": ms_ssim(target, x_hat)}
    metrics.update(bpp=bpp, encoding_time=enc_time, decoding_time=dec_time)
    return metrics, x_hat


def _save_outputs(
    output_dir: Path, image_name: str, run_name: str, x_hat: Tensor, record: dict | None
) -> None:
    """An sRGB reconstruction to ``output_dir/<run>/<image>.png`` and, when given, the image's
    result ``record`` to ``output_dir/<image dir>/<stem>-<run>.json`` (CompressAI's layout)."""
    stem = Path(image_name).with_suffix("")
    if x_hat.shape[1] == 3:
        save_image(output_dir / run_name / stem.with_suffix(".png"), x_hat[0])
    if record is not None:
        write_json_atomic(output_dir / stem.parent / f"{stem.name}-{run_name}.json", record)


def eval_models(
    models: Sequence[nn.Module],
    samples: Sequence[EvalSample],
    *,
    run_names: Sequence[str] | None = None,
    entropy_estimation: bool = False,
    half: bool = False,
    output_dir: Path | None = None,
    per_image: bool = False,
    name: str = "",
    description: str = "",
    progress: bool = True,
) -> list[dict[str, float]]:
    """Average metrics of each model (one rate point each) over ``samples``.

    Image-major: every image is decoded once (LibRaw rendering included) and coded by every
    model, instead of once per rate point; each model gets the image in its own input space
    (:func:`model_input_space`), every space made once per image. With ``output_dir``:
    reconstructions go to ``output_dir/<run name>/<image>.png`` and, with ``per_image``, each
    image's metrics (and the model's input space) to
    ``output_dir/<image dir>/<stem>-<run name>.json`` (CompressAI's layout).
    """
    if not samples:
        raise EvalError("no images to evaluate")
    run_names = (
        list(run_names) if run_names is not None else [f"run{i}" for i in range(len(models))]
    )
    if len(run_names) != len(models):
        raise ValueError(f"{len(models)} models but {len(run_names)} run names")
    if half:
        models = [m.half() for m in models]
    totals: list[dict[str, float]] = [defaultdict(float) for _ in models]
    # disable=None: a bar only on a terminal, never in logs or pipes.
    bar = tqdm(
        samples, desc="eval", unit="img", disable=None if progress else True, file=sys.stderr,
        leave=False,
    )  # fmt: skip
    try:
        spaces = [model_input_space(model) for model in models]
    except ValueError as err:
        raise EvalError(str(err)) from None
    for sample in bar:
        image = sample.load()
        for model, space, run_name, total in zip(models, spaces, run_names, totals, strict=True):
            try:
                rv, x_hat = inference(
                    model, image.input(space), image.srgb,
                    entropy_estimation=entropy_estimation, half=half,
                )  # fmt: skip
            except (RuntimeError, ValueError) as err:
                msg = str(err).strip()
                first = msg.splitlines()[0] if msg else type(err).__name__
                raise EvalError(f"{sample.name}: {type(err).__name__}: {first}") from err
            for k, v in rv.items():
                total[k] += v
            if output_dir is not None:
                record = {
                    "source": sample.name,
                    "name": name,
                    "description": f"Inference ({description})",
                    "results": {**rv, "input_space": space},
                }
                _save_outputs(
                    output_dir, sample.name, run_name, x_hat, record if per_image else None
                )
            del x_hat
            if next(model.parameters()).is_cuda:
                torch.cuda.empty_cache()
    return [{k: v / len(samples) for k, v in total.items()} for total in totals]


def eval_model(
    model: nn.Module,
    samples: Sequence[EvalSample],
    *,
    run_name: str = "",
    **kwargs: Any,
) -> dict[str, float]:
    """Average metrics of one model over ``samples``; options as :func:`eval_models`."""
    return eval_models([model], samples, run_names=[run_name or "run"], **kwargs)[0]


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def load_pretrained(arch: str, metric: str, quality: int) -> nn.Module:
    """A zoo model with its trained weights (from the local zoo manifest; nothing downloads).

    Built by the zoo exactly as the codec's ``encode`` builds it, with the CDF tables shipped
    with the weights (``update(force=False)`` only fills missing ones).
    """
    model = zoo.load_pretrained(arch, quality, metric).model
    require_compression(model, arch)
    model.update(force=False)
    return model.eval()


def load_checkpoint(
    arch: str | None, path: str | Path, no_update: bool = False
) -> tuple[nn.Module, str]:
    """``(model, architecture)`` from a training checkpoint or an exported ``model_best.pth``.

    Loaded by :func:`compressai_isp.io.load_model` (the codec's loader too; architecture
    from the file when it records it, widths from the weights). Any architecture evaluates:
    RAW or sRGB input, sRGB or RAW output. As in ``compressai.utils.eval_model``, the entropy
    models' CDF tables are then rebuilt (``update(force=True)``) because a mid-training
    checkpoint may hold stale ones; ``no_update`` keeps them.
    """
    loaded = load_model(path, arch=arch)
    model = require_compression(loaded.model, loaded.arch)
    if not no_update:
        model.update(force=True)
    return model.eval(), loaded.arch


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _add_model_arguments(parent: argparse.ArgumentParser) -> None:
    parent.add_argument(
        "-a",
        "--architecture",
        help=f"model architecture (zoo name; pretrained: default {DEFAULT_ARCH}, checkpoint: the "
        "one the file records)",
    )
    parent.add_argument(
        "--name",
        default=None,
        help='curve name in the result JSON and its plot legend (default: "<arch>-<metric>")',
    )
    parent.add_argument(
        "-c",
        "--entropy-coder",
        choices=compressai.available_entropy_coders(),
        default=compressai.available_entropy_coders()[0],
        help="entropy coder (default: %(default)s)",
    )


def _add_compute_arguments(parent: argparse.ArgumentParser) -> None:
    parent.add_argument("--cuda", action="store_true", help="enable CUDA")
    parent.add_argument(
        "--half", action="store_true", help="convert model to half floating point (fp16)"
    )
    add_precision_arguments(parent, default="fp32")
    parent.add_argument(
        "--entropy-estimation",
        action="store_true",
        help="use the estimated rate -log2(p) of one forward pass (no entropy coding)",
    )


def _add_output_arguments(parent: argparse.ArgumentParser) -> None:
    parent.add_argument(
        "-m",
        "--metric",
        choices=["mse", "ms-ssim"],
        default="mse",
        help="metric trained against (default: %(default)s)",
    )
    parent.add_argument(
        "-d",
        "--output-directory",
        "--output_directory",  # CompressAI's eval_model spelling
        metavar="DIR",
        default="",
        help="directory for reconstructions (PNG), per-image results and, "
        "without -o, the result JSON",
    )
    parent.add_argument(
        "-o",
        "--output-file",
        default="",
        help="result JSON path (default with -d: DIR/<arch>-<coder>.json)",
    )
    parent.add_argument(
        "--per-image", action="store_true", help="store each image's results separately (needs -d)"
    )
    parent.add_argument("-v", "--verbose", action="store_true", help="verbose mode")
    parent.add_argument("--quiet", action="store_true", help="no progress bar")
    parent.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default: %(default)s, as CompressAI's eval_model)",
    )


def setup_args() -> argparse.ArgumentParser:
    """``compressai.utils.eval_model``'s command line: ``pretrained`` and ``checkpoint``."""
    parent = argparse.ArgumentParser(add_help=False)
    add_dataset_arguments(parent)
    _add_model_arguments(parent)
    _add_compute_arguments(parent)
    _add_output_arguments(parent)
    parser = argparse.ArgumentParser(
        prog="compressai-isp eval",
        description="Evaluate a RAW-to-sRGB codec on a RAW image dataset (bpp over sRGB pixels).",
    )
    sub = parser.add_subparsers(dest="source", help="model source")
    pre = sub.add_parser("pretrained", parents=[parent], help="weights from the model zoo")
    pre.add_argument(
        "-q",
        "--quality",
        dest="qualities",
        default=None,
        help="qualities, e.g. '1,2,3' (default: every quality the zoo ships for -a and -m)",
    )
    ck = sub.add_parser("checkpoint", parents=[parent], help="trained checkpoint files")
    ck.add_argument(
        "-p",
        "--path",
        dest="checkpoint_paths",
        nargs="+",
        required=True,
        help="checkpoint path(s), one rate point each",
    )
    ck.add_argument(
        "--no-update",
        action="store_true",
        help="do not rebuild the entropy models' CDF tables before evaluating",
    )
    return parser


#: Every sub-command module's parser builder has this name; CompressAI's is ``setup_args``.
build_parser = setup_args


def _parse_qualities(text: str | None, arch: str, metric: str) -> list[int]:
    """The ``-q`` list, or without one every quality the zoo ships for ``arch`` / ``metric``."""
    if text is None:
        shipped = sorted({w.quality for w in zoo.list_weights(arch) if w.metric == metric})
        if not shipped:
            available = ", ".join(f"{w.arch} q{w.quality} ({w.metric})" for w in zoo.list_weights())
            raise UsageError(
                f"the zoo ships no {arch} ({metric}) weights (available: {available or 'none'}); "
                "evaluate your own with `compressai-isp eval checkpoint DATASET -p PATH`"
            )
        return shipped
    try:
        qualities = sorted({int(q) for q in text.split(",") if q.strip()})
    except ValueError:
        raise UsageError(f"-q/--quality: expected comma-separated integers, got {text!r}") from None
    if not qualities:
        raise UsageError("-q/--quality: no quality given")
    return qualities


def _checkpoint_stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".pth.tar", ".pth", ".pt", ".tar", ".ckpt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _runs(
    args: argparse.Namespace, description: str
) -> Iterable[tuple[str, Any, Callable[[], tuple[nn.Module, str]]]]:
    """``(run name, rate-point label, loader -> (model, architecture))`` per rate point."""
    if args.source == "pretrained":
        arch = args.architecture
        for q in _parse_qualities(args.qualities, arch, args.metric):
            yield (
                f"{arch}-{args.metric}-{q}-{description}",
                q,
                lambda q=q: (load_pretrained(arch, args.metric, q), arch),
            )
    else:
        for p in args.checkpoint_paths:
            yield (
                f"{_checkpoint_stem(p)}-{description}",
                str(p),
                lambda p=p: load_checkpoint(args.architecture, p, args.no_update),
            )


def _load_models(
    args: argparse.Namespace, run_tag: str
) -> tuple[list[str], list[Any], list[nn.Module], list[str]]:
    """``(run names, rate-point labels, models, architectures)``, every rate point's model
    loaded up front (a few hundred MB at most) so each image is decoded once for all of them."""
    run_names, labels, models, archs = [], [], [], []
    device = torch.device("cuda" if args.cuda else "cpu")
    dtype = resolve_precision(args.precision, device)
    for run_name, label, load in _runs(args, run_tag):
        # Weights that do not exist or cannot do the job: the command line must change.
        with usage_errors():
            model, arch = load()
        if args.verbose:
            print(f"Using trained model {run_name}", file=sys.stderr)
        run_names.append(run_name)
        labels.append(label)
        models.append(set_transform_precision(model.to(device), dtype, args.channels_last))
        archs.append(arch)
    return run_names, labels, models, archs


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate every rate point the arguments name; returns the result dict (and writes it)."""
    if args.source == "pretrained" and not args.architecture:
        args.architecture = DEFAULT_ARCH
    if args.per_image and not args.output_directory:
        raise UsageError("--per-image needs an output directory (-d)")
    if args.cuda and not torch.cuda.is_available():
        raise UsageError("--cuda given but CUDA is not available")
    # As CompressAI's eval: the same numbers on every run (only this CLI sets it, not imports).
    torch.backends.cudnn.deterministic = True
    if args.half and args.entropy_estimation:
        # As in CompressAI, fp16 applies to real coding only.
        print("note: --half is ignored with --entropy-estimation", file=sys.stderr)
        args.half = False
    compressai.set_entropy_coder(args.entropy_coder)
    samples = dataset_from_arguments(args)
    out_dir = Path(args.output_directory) if args.output_directory else None
    coder = "entropy estimation" if args.entropy_estimation else args.entropy_coder
    run_tag = "entropy-estimation" if args.entropy_estimation else args.entropy_coder

    run_names, labels, models, archs = _load_models(args, run_tag)
    arch = archs[0]
    per_run = eval_models(
        models,
        samples,
        run_names=run_names,
        entropy_estimation=args.entropy_estimation,
        half=args.half,
        output_dir=out_dir,
        per_image=args.per_image,
        name=args.name or f"{arch}-{args.metric}",
        description=coder,
        progress=not args.quiet,
    )
    results: dict[str, list[Any]] = defaultdict(list)
    for metrics in per_run:
        for k, v in metrics.items():
            results[k].append(v)
    results["quality" if args.source == "pretrained" else "checkpoint"] = labels
    results["input_space"] = [model_input_space(model) for model in models]
    output = make_result(
        args.name or f"{arch}-{args.metric}", f"Inference ({coder})", dict(results)
    )
    output_file = args.output_file
    if not output_file and out_dir is not None:
        output_file = str(out_dir / f"{arch}-{run_tag}.json")
    if output_file:
        write_json_atomic(output_file, output)
    return output


def set_threads(threads: int) -> None:
    """CPU threads for torch; CompressAI's eval uses 1 so timings are comparable across runs."""
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)


def _evaluate(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    print(json.dumps(run(args), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = setup_args()
    args = parser.parse_args(argv)
    if args.source not in ("checkpoint", "pretrained"):
        parser.print_usage(sys.stderr)
        return report_error(
            "compressai-isp eval", UsageError("missing 'checkpoint' or 'pretrained' source")
        )
    return run_command("compressai-isp eval", lambda: _evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
