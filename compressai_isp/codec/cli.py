"""``compressai-isp encode | decode | info``: RAW photos to ``.rbit`` files and back to sRGB.

Examples::

    compressai-isp encode IMG_0001.CR2                       # -> IMG_0001.rbit, default model
    compressai-isp encode raws/*.dng -o coded/ -a rbn -q 4   # batch, progress bar
    compressai-isp encode IMG.nef -p runs/rbn/model_best.pth
    compressai-isp encode IMG.nef -p weights.pth --input-space camera-normalised
    compressai-isp decode IMG_0001.rbit -o IMG_0001.png --bits 16
    compressai-isp info IMG_0001.rbit

Every failure is one line on stderr naming the file, and the exit status is non-zero
(:mod:`compressai_isp.errors`): 1 when some input could not be processed (the others still
are), 2 for bad arguments or an unusable model. Outputs are written atomically, so an
interrupted or failed run leaves no partial file. The flags are eval's where they mean the same
(``-a/--architecture``, ``-q/--quality``, ``-m/--metric``, ``-p/--path`` for weights); the
earlier spellings ``--arch`` and ``--checkpoint`` still work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from compressai_isp.codec.engine import (
    DEFAULT_ARCH,
    DEFAULT_METRIC,
    DEFAULT_QUALITY,
    CodecModel,
    checkpoint_model,
    decode_bitstream,
    encode_raw,
    model_for_stream,
    raw_geometry,
    save_image,
    zoo_model,
)
from compressai_isp.codec.format import read_bitstream
from compressai_isp.codec.limits import DEFAULT_MAX_PIXELS, DecodeLimits
from compressai_isp.data import read_raw
from compressai_isp.data.input_space import INPUT_SPACES
from compressai_isp.errors import (
    DEBUG_ENV,
    HANDLED_ERRORS,
    UsageError,
    error_line,
    one_line,
    run_command,
    usage_errors,
)
from compressai_isp.io.atomic import atomic_open
from compressai_isp.metrics import bpp_from_strings
from compressai_isp.precision import add_precision_arguments

__all__ = ["build_parser", "main", "DEFAULT_ARCH", "DEFAULT_QUALITY", "DEFAULT_METRIC"]


def _fail(prog: str, message: str) -> None:
    # tqdm.write keeps the line clear of a running progress bar.
    tqdm.write(error_line(prog, message), file=sys.stderr)


def _resolved(path: Path) -> Path:
    """``path`` with its links resolved where they resolve; a symlink loop stays as it is (the
    job that opens it reports it in one line, and the other files of the batch go on)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: "Symlink loop" before Python 3.13
        return path.absolute()


def _outputs(inputs: Sequence[Path], output_arg: str | None, suffix: str, what: str) -> list[Path]:
    """Output path of each input: ``-o`` itself for one input, ``-o DIR/stem+suffix`` for many,
    or next to the input when ``-o`` is omitted. Refuses collisions and overwriting an input."""
    output = Path(output_arg) if output_arg is not None else None
    # "-o coded/" names a directory even for a single input.
    many = len(inputs) > 1 or (
        output_arg is not None and (output_arg.endswith(("/", os.sep)) or Path(output_arg).is_dir())
    )
    if output is not None and many:
        if output.exists() and not output.is_dir():
            raise UsageError(f"-o {output}: several inputs need -o to be a directory")
        output.mkdir(parents=True, exist_ok=True)
        outs = [output / (p.stem + suffix) for p in inputs]
    elif output is not None:
        outs = [output]
    else:
        outs = [p.with_suffix(suffix) for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, outs, strict=True):
        key = _resolved(dst)
        if key in seen:
            raise UsageError(f"{src} and {seen[key]} would both be written to {dst}")
        if key == _resolved(src):
            raise UsageError(f"{src}: output {dst} would overwrite the input")
        seen[key] = src
    if output is not None and not many and output.suffix.lower() not in what.split("|"):
        raise UsageError(f"-o {output}: expected a {what.replace('|', ' or ')} file")
    return outs


def _run_batch(prog: str, inputs: Sequence[Path], job: Callable[[Path], str], desc: str) -> int:
    """Run ``job`` on every input with a progress bar; one line per result or error."""
    failures = 0
    bar = tqdm(inputs, desc=desc, unit="file", disable=len(inputs) < 2 or None, file=sys.stderr)
    for path in bar:
        try:
            tqdm.write(job(path), file=sys.stdout)
        except HANDLED_ERRORS as err:
            failures += 1
            _fail(prog, one_line(err))
        except Exception as err:  # noqa: BLE001 - a batch must go on; still one line
            if os.environ.get(DEBUG_ENV):
                raise
            failures += 1
            _fail(
                prog,
                f"{path}: internal error {type(err).__name__}: {one_line(err)} "
                f"(set {DEBUG_ENV}=1 for a traceback)",
            )
    if failures and len(inputs) > 1:
        _fail(prog, f"{failures} of {len(inputs)} files failed")
    return 1 if failures else 0


# ---- encode --------------------------------------------------------------------------------


def _encode_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp encode",
        description="Compress camera RAW files (DNG, CR2, NEF, CRW, KDC, ... anything LibRaw "
        "reads with a Bayer sensor) into .rbit bitstream files.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO", help="RAW file(s)")
    p.add_argument(
        "-o", "--output", type=str,
        help="output .rbit file (one input) or directory (several); default: next to each input",
    )  # fmt: skip
    p.add_argument(
        "-a", "--architecture", "--arch", dest="arch", metavar="ARCH",
        help=f"zoo architecture (default: {DEFAULT_ARCH})",
    )  # fmt: skip
    p.add_argument("-q", "--quality", type=int, help=f"zoo quality (default: {DEFAULT_QUALITY})")
    p.add_argument("-m", "--metric", help=f"zoo metric (default: {DEFAULT_METRIC})")
    _add_weights_argument(
        p, "use these weights (training checkpoint or model_best.pth) instead of the zoo"
    )
    _add_input_space_argument(p)
    add_precision_arguments(p)
    return p


def _add_weights_argument(p: argparse.ArgumentParser, help_: str) -> None:
    # -p/--path as eval checkpoint names weights; --checkpoint is this command's first spelling.
    p.add_argument(
        "-p", "--path", "--checkpoint", dest="checkpoint", type=Path, metavar="PATH", help=help_
    )


def _add_input_space_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input-space", choices=INPUT_SPACES,
        help="input space of --checkpoint weights that do not record it (a bare state dict; "
        "default: what the file records, else paper)",
    )  # fmt: skip


def _checkpoint_input_space(args: argparse.Namespace) -> str | None:
    if args.input_space is not None and args.checkpoint is None:
        raise UsageError("--input-space applies to --checkpoint weights (zoo cards record it)")
    return args.input_space


def _precision(args: argparse.Namespace) -> dict[str, Any]:
    return {"precision": args.precision, "channels_last": args.channels_last}


def _encoder(args: argparse.Namespace) -> CodecModel:
    """The model ``-p`` or ``-a/-q/-m`` name (the default model without them)."""
    input_space = _checkpoint_input_space(args)
    if args.checkpoint is not None:
        return checkpoint_model(
            args.checkpoint, args.arch, args.quality, args.metric, input_space, **_precision(args)
        )
    return zoo_model(
        args.arch or DEFAULT_ARCH,
        DEFAULT_QUALITY if args.quality is None else args.quality,
        args.metric or DEFAULT_METRIC,
        **_precision(args),
    )


def _encode(args: argparse.Namespace, prog: str) -> int:
    # Outputs and weights are what the command line names: when they fail, it is wrong (2).
    with usage_errors():
        outs = _outputs(args.inputs, args.output, ".rbit", ".rbit")
        cm = _encoder(args)
        cm.stream_identity()  # weights that cannot name their quality fail before any photo
    destination = dict(zip(args.inputs, outs, strict=True))

    def job(path: Path) -> str:
        start = time.perf_counter()
        raw = read_raw(path)
        data = encode_raw(raw, cm)
        with atomic_open(destination[path]) as f:
            f.write(data)
        geometry = raw_geometry(raw)
        return (
            f"{path} -> {destination[path]}: {len(data)} bytes, "
            f"{bpp_from_strings(data, geometry.num_pixels):.4f} bpp over "
            f"{geometry.crop_height}x{geometry.crop_width} px, "
            f"{time.perf_counter() - start:.2f} s"
        )

    return _run_batch(prog, args.inputs, job, "encode")


# ---- decode --------------------------------------------------------------------------------


def _decode_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp decode",
        description="Decompress .rbit files into sRGB PNG or TIFF images at the photo's size.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="STREAM", help=".rbit file(s)")
    p.add_argument(
        "-o", "--output", type=str,
        help="output .png/.tif file (one input) or directory (several); default: next to each "
        "input, as --format",
    )  # fmt: skip
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bits per sample (8)")
    p.add_argument(
        "--format", choices=("png", "tif"), default="png",
        help="image format when -o is a directory or omitted (png)",
    )  # fmt: skip
    _add_weights_argument(
        p, "decode with these weights instead of the zoo's (must be the encoder's weights)"
    )
    _add_input_space_argument(p)
    p.add_argument(
        "--no-orientation", action="store_true",
        help="keep the sensor's orientation (pixel-aligned with the RAW) instead of the camera's",
    )  # fmt: skip
    p.add_argument(
        "--max-megapixels", type=_positive_float, default=DEFAULT_MAX_PIXELS / 1e6, metavar="MP",
        help="refuse streams of larger photos (default: %(default)g)",
    )  # fmt: skip
    p.add_argument(
        "--max-memory", type=_positive_float, metavar="GB",
        help="refuse streams whose decoding needs more memory by the decoder's estimate "
        "(default: the memory available when decoding starts)",
    )  # fmt: skip
    add_precision_arguments(p)
    return p


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _decode(args: argparse.Namespace, prog: str) -> int:
    with usage_errors():
        outs = _outputs(args.inputs, args.output, "." + args.format, ".png|.tif|.tiff")
        input_space = _checkpoint_input_space(args)
        checkpoint = (
            checkpoint_model(args.checkpoint, input_space=input_space, **_precision(args))
            if args.checkpoint is not None
            else None
        )
        limits = DecodeLimits(
            max_pixels=int(args.max_megapixels * 1e6),
            max_memory=None if args.max_memory is None else int(args.max_memory * 1e9),
        )
    cache: dict[tuple[str, int, str], CodecModel] = {}
    destination = dict(zip(args.inputs, outs, strict=True))

    def job(path: Path) -> str:
        start = time.perf_counter()
        bs = read_bitstream(path)
        cm = model_for_stream(bs.header, str(path), checkpoint, cache, **_precision(args))
        srgb = decode_bitstream(
            bs, cm, str(path), apply_orientation=not args.no_orientation, limits=limits
        )
        save_image(destination[path], srgb, args.bits)
        h, w = srgb.shape[-2:]
        return (
            f"{path} -> {destination[path]}: {w}x{h} px, {args.bits}-bit, "
            f"{time.perf_counter() - start:.2f} s"
        )

    return _run_batch(prog, args.inputs, job, "decode")


# ---- info ----------------------------------------------------------------------------------


def _info_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp info", description="Print the header of .rbit files."
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="STREAM", help=".rbit file(s)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    return p


def _info(args: argparse.Namespace, prog: str) -> int:
    def job(path: Path) -> str:
        bs = read_bitstream(path)
        fields = {"file": str(path), "file_bytes": bs.total_bytes, **bs.header.describe()}
        if args.json:
            return json.dumps(fields)
        width = max(len(k) for k in fields)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in fields.items())

    return _run_batch(prog, args.inputs, job, "info")


_COMMANDS = {
    "encode": (_encode_parser, _encode),
    "decode": (_decode_parser, _decode),
    "info": (_info_parser, _info),
}


def build_parser(command: str) -> argparse.ArgumentParser:
    """The command line of ``encode``, ``decode`` or ``info``."""
    return _COMMANDS[command][0]()


def main(argv: list[str] | None = None) -> int:
    """Run ``encode``, ``decode`` or ``info``; ``argv[0]`` is the command name."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in _COMMANDS:
        got = repr(argv[0]) if argv else "nothing"
        print(
            f"compressai-isp: expected a command ({', '.join(_COMMANDS)}), got {got}",
            file=sys.stderr,
        )
        return 2
    command, rest = argv[0], argv[1:]
    make_parser, run = _COMMANDS[command]
    prog = f"compressai-isp {command}"
    try:
        args = make_parser().parse_args(rest)
    except SystemExit as done:  # argparse already printed usage / help
        return int(done.code or 0)
    return run_command(prog, lambda: run(args, prog))


if __name__ == "__main__":
    sys.exit(main())
