from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import torch

from compressai_isp import zoo
from compressai_isp.cli import main as cli_main
from compressai_isp.models import LiteISPNet
from compressai_isp.utils.compare import (
    code_and_measure,
    compare_figure,
    load_model,
    main,
    parse_crop,
)
from compressai_isp.utils.errors import UsageError
from compressai_isp.utils.eval_model import inference, load_eval_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KODAK = Path(__file__).resolve().parents[1] / "compressai_isp" / "assets" / "Kodak_DC50_DC0010S.KDC"
TINY = {"N": 16, "M": 16, "N_hyper": 16, "decoder_width": 8}


@pytest.fixture(scope="module")
def image():
    return load_eval_image(KODAK)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = zoo.rbn(quality=1, **TINY)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-rbn.pth"
    torch.save({"arch": "rbn", "quality": 1, "state_dict": model.state_dict()}, path)
    return path


def test_a_model_is_coded_for_real_and_scored_as_eval_scores_it(image, tiny_checkpoint):
    model, label = load_model(str(tiny_checkpoint))
    assert label == "rbn (tiny-rbn.pth)"
    srgb = image.srgb
    panel = code_and_measure(model, label, image)
    expected, x_hat = inference(model, image.raw, srgb)
    assert panel.bpp == expected["bpp"] > 0
    assert panel.psnr == expected["psnr-rgb"] and panel.delta_e00 == expected["delta-e00"]
    assert torch.equal(panel.image, x_hat[0])
    # The error map is the per-pixel ΔE00 whose mean the title reports.
    assert panel.error.shape == srgb.shape[-2:]
    assert panel.error.mean(dtype=np.float64) == pytest.approx(panel.delta_e00, rel=1e-6)


def test_a_file_without_its_architecture_is_named_arch_colon_path(tmp_path):
    torch.manual_seed(0)
    bare = tmp_path / "weights.pth"
    torch.save(zoo.rbn(quality=1, **TINY).state_dict(), bare)
    with pytest.raises(UsageError, match="does not record its architecture"):
        load_model(str(bare))
    model, label = load_model(f"rbn:{bare}")
    assert label == "rbn (weights.pth)" and model.g_s.up2.deconv.in_channels == 4 * 8


def test_an_isp_only_model_is_rendered_without_a_rate(image):
    panel = code_and_measure(LiteISPNet(width=8).eval(), "isp", image)
    assert panel.bpp is None and panel.delta_e00 > 0


def test_the_figure_shows_truth_then_each_image_and_its_error_map(image, tiny_checkpoint):
    srgb = image.srgb
    model, label = load_model(str(tiny_checkpoint))
    panels = [code_and_measure(model, label, image)] * 2
    fig = compare_figure(srgb, panels, crop=parse_crop("10,20,64,32", *srgb.shape[-2:]))
    axes = fig.axes[:5]  # the colour bars follow
    assert axes[0].get_title().startswith("ground truth")
    title = axes[1].get_title()
    assert f"{panels[0].bpp:.3f} bpp" in title and f"{panels[0].psnr:.2f} dB" in title
    assert f"ΔE00 {panels[0].delta_e00:.2f}" in title
    assert axes[2].get_title().startswith("ΔE00 error map")
    assert all(ax.get_images()[0].get_array().shape[:2] == (32, 64) for ax in axes)


def test_cli_writes_one_png(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "figure.png"
    argv = ["compare", str(KODAK), "-m", str(tiny_checkpoint), "-m", str(tiny_checkpoint)]
    assert cli_main([*argv, "-o", str(out), "--dpi", "40"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = imagecodecs.png_decode(out.read_bytes())
    assert image.ndim == 3 and image.shape[1] > 2 * image.shape[0]  # five panels side by side
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]  # no temp file left


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["-m", "nonsense"], 2, "model 'nonsense': no such checkpoint file, and not ARCH:QUALITY"),
        (["-m", "nosucharch:3"], 2, "model 'nosucharch:3': unknown model"),
        (["--crop", "0,0,5"], 2, "--crop: expected X,Y,W,H"),
        (["--crop", "700,0,100,10"], 2, "lie inside the 766x512 image"),
    ],
)
def test_bad_options_fail_in_one_line_and_keep_the_old_figure(
    tiny_checkpoint, tmp_path, capsys, argv, status, message
):
    out = tmp_path / "figure.png"
    out.write_bytes(b"previous figure")
    model = [] if "-m" in argv else ["-m", str(tiny_checkpoint)]
    assert main([str(KODAK), *model, *argv, "-o", str(out)]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert out.read_bytes() == b"previous figure"


def test_a_file_that_is_no_raw_fails_with_status_1_naming_it(tiny_checkpoint, tmp_path, capsys):
    bad = tmp_path / "photo.CRW"
    bad.write_bytes(b"not a raw file")
    out = tmp_path / "figure.png"
    assert main([str(bad), "-m", str(tiny_checkpoint), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err
    assert not out.exists()


def test_the_figure_must_be_a_png(tiny_checkpoint, tmp_path, capsys):
    assert main([str(KODAK), "-m", str(tiny_checkpoint), "-o", str(tmp_path / "f.jpg")]) == 2
    assert "*.png" in capsys.readouterr().err


def test_a_model_with_raw_output_is_refused(tmp_path):
    teacher = zoo.create_model("raw-comp-teacher", 1, N=8, K=8, N_hyper=8)
    path = tmp_path / "teacher.pth"
    torch.save({"arch": "raw-comp-teacher", "quality": 1, "state_dict": teacher.state_dict()}, path)
    with pytest.raises(UsageError, match="outputs packed RAW"):
        load_model(str(path))


def test_each_model_is_fed_the_photo_in_its_own_input_space(image, tmp_path):
    from compressai_isp.data import load_pair
    from compressai_isp.utils.anchors import render_isp

    # The ground truth and the paper RAW are the photo's own, as eval loads them.
    raw, srgb = load_pair(KODAK)
    assert torch.equal(image.raw, raw) and torch.equal(image.srgb, srgb)
    normalised = image.input("camera-normalised")
    assert not torch.equal(normalised, image.raw)  # the DC50's tag-37400 matrix acts
    torch.manual_seed(0)
    codec = zoo.rbn(quality=1, **TINY, input_space="camera-normalised").eval()
    codec.update(force=True)
    seen = []
    codec.g_a.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    code_and_measure(codec, "normalised", image)
    h, w = normalised.shape[-2:]
    assert torch.equal(seen[0][..., :h, :w], normalised[None])
    isp = LiteISPNet(width=8, input_space="camera-normalised").eval()
    panel = code_and_measure(isp, "normalised isp", image)
    assert torch.equal(panel.image, render_isp(isp, normalised))
