"""``compressai-isp encode | decode | info`` as a user runs them, including every bad input.

A reduced-width RBN is saved as a checkpoint (``--checkpoint``) and, for the header-driven
model lookup, published in a temporary zoo (``COMPRESSAI_ISP_ZOO``). Every failure must be one
line on stderr with a non-zero exit status and must leave no output file behind.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import torch

from compressai_isp import zoo
from compressai_isp.cli import main as cli_main
from compressai_isp.codec.engine import DEFAULT_ARCH, DEFAULT_QUALITY
from compressai_isp.codec.format import MAGIC, unpack, weights_fingerprint
from compressai_isp.data import write_dng

TINY = dict(N=8, M=8, N_hyper=8, decoder_width=4)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def make_dng(path: Path, cfa: str = "RGGB", height: int = 35, width: int = 37) -> Path:
    rng = np.random.default_rng(len(str(path)))
    mosaic = rng.integers(0, 1023, (height, width)).astype(np.uint16)
    return write_dng(path, mosaic, cfa=cfa, white_level=1023)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Two tiny RBNs: ``a`` as a checkpoint and as zoo weights rbn q1, ``b`` as a checkpoint."""
    root = tmp_path_factory.mktemp("weights")
    paths = {}
    for name, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        model = zoo.rbn(1, **TINY)
        paths[name] = root / f"{name}.pth"
        torch.save({"arch": "rbn", "quality": 1, "state_dict": model.state_dict()}, paths[name])
    zoo_root = root / "zoo"
    zoo_root.mkdir()
    blob = paths["a"].read_bytes()
    (zoo_root / "rbn-q1-tiny.pth").write_bytes(blob)
    manifest = {
        "weights": [
            {
                "arch": "rbn",
                "quality": 1,
                "metric": "mse",
                "file": "rbn-q1-tiny.pth",
                "sha256": hashlib.sha256(blob).hexdigest(),
                "config": TINY,
            }
        ]
    }
    (zoo_root / "manifest.json").write_text(json.dumps(manifest))
    paths["zoo"] = zoo_root
    return paths


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return make_dng(tmp_path / "IMG_0001.dng", "GRBG", 41, 37)


@pytest.fixture(scope="module")
def coded(tmp_path_factory, weights) -> bytes:
    """The .rbit bytes of ``photo``, encoded once through the CLI."""
    photo = make_dng(tmp_path_factory.mktemp("coded") / "IMG_0001.dng", "GRBG", 41, 37)
    assert cli_main(["encode", str(photo), "--checkpoint", str(weights["a"])]) == 0
    return photo.with_suffix(".rbit").read_bytes()


@pytest.fixture
def stream(tmp_path: Path, coded: bytes) -> Path:
    path = tmp_path / "IMG_0001.rbit"
    path.write_bytes(coded)
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted atomic write would leave."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---- the happy path --------------------------------------------------------------------------


def test_encode_then_decode_png_and_16_bit_tiff(tmp_path, stream: Path, weights, capsys) -> None:
    assert stream.is_file() and stream.read_bytes().startswith(MAGIC)
    code, out, _ = run(capsys, "decode", str(stream), "-o", str(tmp_path / "out.png"),
                       "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 0 and "out.png" in out
    png = imagecodecs.png_decode((tmp_path / "out.png").read_bytes())
    assert png.shape == (40, 36, 3) and png.dtype == np.uint8  # GRBG: one column dropped

    code, _, _ = run(capsys, "decode", str(stream), "-o", str(tmp_path / "out.tif"), "--bits",
                     "16", "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 0
    tif = imagecodecs.tiff_decode((tmp_path / "out.tif").read_bytes())
    assert tif.shape == (40, 36, 3) and tif.dtype == np.uint16
    # Both are the same decode at two bit depths.
    assert np.abs(tif.astype(float) / 257 - png).max() <= 0.51
    assert leftovers(tmp_path) == []


def test_decoder_finds_the_model_from_the_header(stream, weights, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(weights["zoo"]))
    code, out, err = run(capsys, "decode", str(stream))
    assert code == 0, err
    assert stream.with_suffix(".png").is_file()


def test_encode_with_zoo_arch_and_quality(tmp_path, photo, weights, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(weights["zoo"]))
    out_file = tmp_path / "coded.rbit"
    code, out, err = run(capsys, "encode", str(photo), "-a", "rbn", "-q", "1", "-o", str(out_file))
    assert code == 0, err
    assert "bpp" in out
    header = unpack(out_file.read_bytes()).header
    assert (header.arch, header.quality, header.metric) == ("rbn", 1, "mse")
    state = torch.load(weights["a"], weights_only=True)["state_dict"]
    assert header.fingerprint == weights_fingerprint(state)


def test_info_prints_the_header(stream, capsys) -> None:
    code, out, _ = run(capsys, "info", str(stream))
    assert code == 0
    assert "architecture" in out and "rbn" in out and "GRBG" in out
    assert "40x36 at (top 0, left 1)" in out
    code, out, _ = run(capsys, "info", "--json", str(stream))
    fields = json.loads(out)
    assert fields["raw_size"] == "41x37" and fields["file_bytes"] == stream.stat().st_size


def test_output_with_a_trailing_slash_is_a_directory(tmp_path, photo, weights, capsys) -> None:
    out_dir = tmp_path / "coded"
    code, _, err = run(capsys, "encode", str(photo), "-o", f"{out_dir}/",
                       "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 0, err
    assert [p.name for p in out_dir.iterdir()] == ["IMG_0001.rbit"]


def test_batch_encode_into_a_directory_keeps_going_past_a_bad_file(tmp_path, weights, capsys):
    good = [make_dng(tmp_path / f"{cfa}.dng", cfa) for cfa in ("RGGB", "BGGR", "GBRG")]
    bad = tmp_path / "broken.dng"
    bad.write_bytes(b"II*\x00 this is not a raw file")
    out_dir = tmp_path / "coded"
    code, out, err = run(capsys, "encode", *map(str, [*good, bad]), "-o", str(out_dir),
                         "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["BGGR.rbit", "GBRG.rbit", "RGGB.rbit"]
    assert err.count("\n") == 2 and "broken.dng" in err and "1 of 4 files failed" in err
    assert [unpack(p.read_bytes()).header.geometry.cfa for p in sorted(out_dir.iterdir())] == [
        "BGGR", "GBRG", "RGGB",
    ]  # fmt: skip


# ---- bad input: one line, non-zero exit, nothing written --------------------------------------


def _damaged(stream: Path, kind: str) -> bytes:
    data = stream.read_bytes()
    if kind == "empty":
        return b""
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "bit-flipped":
        flipped = bytearray(data)
        flipped[len(data) - 9] ^= 0x04
        return bytes(flipped)
    if kind == "wrong magic":
        return imagecodecs.png_encode(np.zeros((4, 4, 3), np.uint8))
    if kind == "newer version":
        newer = bytearray(data)
        struct.pack_into("<H", newer, len(MAGIC), 99)
        return bytes(newer[:-4]) + struct.pack("<I", zlib.crc32(bytes(newer[:-4])))
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "empty file"),
        ("truncated", "truncated"),
        ("bit-flipped", "CRC-32 mismatch"),
        ("wrong magic", "not an .rbit stream"),
        ("newer version", "format version 99 is newer"),
    ],
)
def test_bad_streams_fail_in_one_line_without_output(
    tmp_path, stream: Path, weights, capsys, kind: str, message: str
) -> None:
    bad = tmp_path / "bad.rbit"
    bad.write_bytes(_damaged(stream, kind))
    target = tmp_path / "bad.png"
    code, out, err = run(capsys, "decode", str(bad), "-o", str(target),
                         "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 1
    assert err.count("\n") == 1 and message in err and str(bad) in err
    assert not target.exists() and leftovers(tmp_path) == []
    code, _, err = run(capsys, "info", str(bad))
    assert code == 1 and message in err and err.count("\n") == 1


def test_other_weights_are_refused_with_the_needed_fingerprint(stream, weights, capsys) -> None:
    code, _, err = run(capsys, "decode", str(stream), "--checkpoint", str(weights["b"]))
    needed = unpack(stream.read_bytes()).header.fingerprint.hex()
    assert code == 1 and err.count("\n") == 1
    assert f"this stream needs weights {needed} (rbn q1 mse); loaded weights are" in err
    assert not stream.with_suffix(".png").exists()


def test_stream_without_matching_zoo_weights_asks_for_a_checkpoint(
    tmp_path, stream, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path / "empty-zoo"))
    code, _, err = run(capsys, "decode", str(stream))
    assert code == 1 and err.count("\n") == 1
    assert "which the zoo cannot provide" in err and "--checkpoint" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "file is empty"),
        (b"plain text, not a photo\n" * 20, "LibRaw"),
    ],
)
def test_unreadable_raw_fails_in_one_line_without_output(
    tmp_path, weights, capsys, content: bytes | None, message: str
) -> None:
    photo = tmp_path / "photo.nef"
    if content is not None:
        photo.write_bytes(content)
    code, _, err = run(capsys, "encode", str(photo), "--checkpoint", str(weights["a"]))
    assert code == 1 and err.count("\n") == 1 and message in err and "photo.nef" in err
    assert not photo.with_suffix(".rbit").exists() and leftovers(tmp_path) == []


def test_non_square_pixel_camera_is_refused_in_one_line(tmp_path, shared_data, weights, capsys):
    photo = shared_data / "raw" / "Kodak__DC120__DC120IMG__P003914.KDC"
    out = tmp_path / "dc120.rbit"
    code, _, err = run(
        capsys, "encode", str(photo), "-o", str(out), "--checkpoint", str(weights["a"])
    )
    assert code == 1 and err.count("\n") == 1 and "non-square sensor pixels" in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_missing_default_weights_are_named(tmp_path, photo, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path / "empty-zoo"))
    code, _, err = run(capsys, "encode", str(photo))
    assert code == 2 and err.count("\n") == 1
    assert f"{DEFAULT_ARCH} quality {DEFAULT_QUALITY} (mse)" in err
    assert not photo.with_suffix(".rbit").exists()


def test_usage_errors(tmp_path, photo, weights, capsys) -> None:
    ck = ("--checkpoint", str(weights["a"]))
    code, _, err = run(capsys, "encode", str(photo), "-o", str(tmp_path / "x.png"), *ck)
    assert code == 2 and "expected a .rbit file" in err
    other = make_dng(tmp_path / "sub" / "IMG_0001.dng")
    code, _, err = run(capsys, "encode", str(photo), str(other), "-o", str(tmp_path / "o"), *ck)
    assert code == 2 and "would both be written to" in err
    code, _, err = run(capsys, "encode", str(photo), "--checkpoint", str(tmp_path / "none.pth"))
    assert code == 2 and "none.pth does not exist" in err
    code, _, err = run(capsys, "encode", str(photo), "-a", "unified-raw", *ck)
    assert code == 2 and "holds arch 'rbn', not the requested 'unified-raw'" in err
    code, _, err = run(capsys, "decode", str(photo), "--bits", "12")
    assert code == 2 and "invalid choice" in err


# ---- bounded decoding, links, unwritable outputs ----------------------------------------------


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--max-megapixels", "0.001", "over the decoder's limit of 0.001 MP"),
        ("--max-memory", "0.000001", "GB of memory, more than the 0.0 GB available"),
    ],
)
def test_decode_limits_can_be_tightened_from_the_command_line(
    tmp_path, stream, weights, capsys, flag: str, value: str, message: str
) -> None:
    target = tmp_path / "out.png"
    code, _, err = run(capsys, "decode", str(stream), "-o", str(target), flag, value,
                       "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and message in err and str(stream) in err
    assert not target.exists() and leftovers(tmp_path) == []
    code, _, err = run(capsys, "decode", str(stream), "-o", str(target), flag, "1000",
                       "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf", "lots"])
def test_decode_limits_must_be_positive_numbers(stream, capsys, value: str) -> None:
    code, _, err = run(capsys, "decode", str(stream), "--max-megapixels", value)
    assert code == 2 and "--max-megapixels" in err


def test_a_symlink_loop_is_one_line_and_the_rest_of_the_batch_goes_on(
    tmp_path, photo, stream, weights, capsys
) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    ck = ("--checkpoint", str(weights["a"]))
    code, _, err = run(
        capsys, "encode", str(tmp_path / "a"), str(photo), "-o", str(tmp_path / "e"), *ck
    )
    assert code == 1 and err.count("\n") == 2 and f"{tmp_path / 'a'}: " in err
    assert [p.name for p in (tmp_path / "e").iterdir()] == ["IMG_0001.rbit"]
    code, _, err = run(
        capsys, "decode", str(tmp_path / "a"), str(stream), "-o", str(tmp_path / "d"), *ck
    )
    assert code == 1 and err.count("\n") == 2 and "symbolic links" in err
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["IMG_0001.png"]
    code, _, err = run(capsys, "encode", str(tmp_path / "a"), "-o", str(tmp_path / "x.rbit"), *ck)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_unwritable_output_is_named_as_the_user_gave_it(stream, weights, capsys) -> None:
    code, _, err = run(capsys, "decode", str(stream), "-o", "/proc/x.png",
                       "--checkpoint", str(weights["a"]))  # fmt: skip
    assert code == 1 and err.count("\n") == 1
    assert "'/proc/x.png'" in err and ".tmp" not in err
