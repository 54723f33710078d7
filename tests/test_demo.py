"""``compressai-isp demo``: the README's main-job command, end to end on the shipped model."""

from __future__ import annotations

import re
from pathlib import Path

import imagecodecs
import pytest
import torch

from compressai_isp import zoo
from compressai_isp.cli import main as cli_main
from compressai_isp.codec.demo import run_demo
from compressai_isp.codec.engine import DEFAULT_ARCH, DEFAULT_METRIC, DEFAULT_QUALITY, codec_model
from compressai_isp.codec.format import read_bitstream
from compressai_isp.data import demo_raw_path, read_raw, sample_raw_path


@pytest.mark.slow
def test_demo_runs_end_to_end_with_the_shipped_default_model(tmp_path: Path, capsys) -> None:
    code = cli_main(["demo", "--output-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    stem = demo_raw_path().stem
    header = read_bitstream(tmp_path / f"{stem}.rbit").header
    assert (header.arch, header.quality, header.metric) == (
        DEFAULT_ARCH,
        DEFAULT_QUALITY,
        DEFAULT_METRIC,
    )
    assert header.fingerprint.hex() in out
    crop = read_raw(demo_raw_path()).crop
    decoded = imagecodecs.png_decode((tmp_path / f"{stem}.png").read_bytes())
    assert decoded.shape == (crop[2], crop[3], 3)
    assert (tmp_path / f"{stem}_comparison.png").stat().st_size > 0
    psnr = float(re.search(r"PSNR ([0-9.]+) dB", out).group(1))
    bpp = float(re.search(r"([0-9.]+) bpp", out).group(1))
    assert bpp > 0
    ms_ssim = float(re.search(r"MS-SSIM ([0-9.]+)", out).group(1))
    # A trained model, not a stub: the shipped model scores about 34 dB / 0.93 on this photo;
    # untrained weights render it black.
    assert psnr > 25 and ms_ssim > 0.8, out


def test_demo_without_the_default_weights_names_them_and_writes_nothing(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path / "empty-zoo"))
    out_dir = tmp_path / "demo"
    code = cli_main(["demo", "--output-dir", str(out_dir)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "unified_raw(quality=7, pretrained=True)" in err and "no pretrained weights" in err
    assert not out_dir.exists()


def test_demo_outputs_and_numbers_agree_with_each_other(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cm = codec_model(zoo.rbn(6, N=8, M=8, N_hyper=8, decoder_width=4), "rbn", 6, "mse", "tiny")
    result = run_demo(cm, tmp_path, raw_path=sample_raw_path())
    assert result.stream_bytes == result.stream_path.stat().st_size
    assert result.raw_bytes == sample_raw_path().stat().st_size
    png = imagecodecs.png_decode(result.png_path.read_bytes())
    assert png.shape[0] * png.shape[1] == result.num_pixels
    assert result.bpp == pytest.approx(8 * result.stream_bytes / result.num_pixels)
    assert result.encode_s > 0 and result.decode_s > 0
    figure = imagecodecs.png_decode(result.figure_path.read_bytes())
    assert figure.shape[1] > 2 * figure.shape[0]  # three panels side by side
    report = result.report()
    assert f"{result.psnr:.2f} dB" in report and f"{result.bpp:.4f} bpp" in report
