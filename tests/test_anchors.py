import json

import numpy as np
import pytest
import torch

from compressai_isp.data import load_pair, make_synthetic_dng
from compressai_isp.metrics import compute_metrics
from compressai_isp.models import CompNet, LiteISPNet
from compressai_isp.utils.anchors import (
    CLASSICAL_ISP,
    CODECS,
    PAPER_LITEISPNET_PSNR,
    codec_anchors,
    codec_roundtrip,
    main,
)
from compressai_isp.utils.eval_model import collect_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    make_synthetic_dng(root / "a.dng", 1, "RGGB", (36, 52))
    make_synthetic_dng(root / "sub" / "b.dng", 2, "GRBG", (40, 70))
    return root


@pytest.mark.parametrize("key", sorted(CODECS))
def test_every_codec_round_trips_an_odd_sized_image(key):
    codec = CODECS[key]
    image = (np.random.default_rng(0).random((17, 23, 3)) * 255).astype(np.uint8)
    decoded, nbytes, enc, dec = codec_roundtrip(codec, image, codec.qualities[-1])
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert nbytes > 0 and enc >= 0 and dec >= 0


def test_libraw_anchor_measures_the_rendering_against_itself(raw_dir):
    samples = collect_dataset(raw_dir)
    results = codec_anchors(
        samples, [CODECS["jpeg"], CODECS["jpegxl"]], qualities={"jpeg": [20, 90]}, progress=False
    )
    jpeg = results["jpeg"]
    assert jpeg["name"] == "LibRaw+JPEG" and "perfect-ISP" in jpeg["description"]
    r = jpeg["results"]
    assert r["quality"] == [20, 90]
    assert set(r) >= {"psnr-rgb", "ms-ssim-rgb", "delta-e00", "bpp", "encoding_time"}
    assert r["bpp"][0] < r["bpp"][1] and r["psnr-rgb"][0] < r["psnr-rgb"][1]
    # JPEG XL keeps its own default sweep.
    assert results["jpegxl"]["results"]["quality"] == list(CODECS["jpegxl"].qualities)

    # bpp is the mean over images of 8 * file bytes / sRGB output pixels.
    expected_bpp, expected_psnr = [], []
    for s in samples:
        srgb = s.load().srgb
        image = np.ascontiguousarray((srgb * 255).round().byte().permute(1, 2, 0).numpy())
        decoded, nbytes, _, _ = codec_roundtrip(CODECS["jpeg"], image, 20)
        expected_bpp.append(8 * nbytes / (srgb.shape[1] * srgb.shape[2]))
        rec = torch.from_numpy(decoded).permute(2, 0, 1).float() / 255
        expected_psnr.append(compute_metrics(srgb, rec)["psnr-rgb"])
    assert r["bpp"][0] == pytest.approx(np.mean(expected_bpp))
    assert r["psnr-rgb"][0] == pytest.approx(np.mean(expected_psnr))


def test_isp_anchor_reports_the_isp_only_ceiling(raw_dir):
    isp = LiteISPNet(width=8).eval()
    samples = collect_dataset(raw_dir)
    results = codec_anchors(
        samples, [CODECS["jpeg"]], qualities={"jpeg": [50]}, isp=isp, progress=False
    )
    assert results["jpeg"]["name"] == "LiteISPNet+JPEG"
    ceiling = results["isp-only"]
    assert "bpp" not in ceiling["results"] and str(PAPER_LITEISPNET_PSNR) in ceiling["description"]
    # No codec can beat the ISP rendering it codes (up to rounding noise at high quality).
    assert results["jpeg"]["results"]["psnr-rgb"][0] <= ceiling["results"]["psnr-rgb"][0] + 0.5
    # The ceiling is the ISP's own 8-bit PSNR against LibRaw, averaged over images.
    from compressai_isp.utils.anchors import render_isp

    per_image = []
    for s in samples:
        image = s.load()
        per_image.append(compute_metrics(image.srgb, render_isp(isp, image.raw))["psnr-rgb"])
    assert ceiling["results"]["psnr-rgb"][0] == pytest.approx(np.mean(per_image), abs=1e-4)
    # An untrained ISP renders wrong colours: the ceiling records how wrong.
    assert ceiling["results"]["delta-e00"][0] > 1.0


def test_cli_writes_one_json_per_codec(raw_dir, tmp_path, capsys):
    out = tmp_path / "anchors"
    rc = main(
        [
            "libraw",
            str(raw_dir),
            "--codecs",
            "jpeg2000,jpegxl",
            "-q",
            "30,60",
            "-o",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["libraw-jpeg2000.json", "libraw-jpegxl.json"]
    data = json.loads((out / "libraw-jpegxl.json").read_text())
    assert data["name"] == "LibRaw+JPEG XL" and len(data["results"]["bpp"]) == 2
    assert len(data["results"]["delta-e00"]) == 2  # colour accuracy, one value per rate point


def test_cli_isp_pipeline_from_a_checkpoint(raw_dir, tmp_path):
    ckpt = tmp_path / "isp.pth.tar"
    torch.save({"state_dict": LiteISPNet(width=8).state_dict()}, ckpt)
    out = tmp_path / "isp"
    assert (
        main(
            [
                "isp",
                str(raw_dir),
                "--isp-checkpoint",
                str(ckpt),
                "--codecs",
                "jpeg",
                "-q",
                "50",
                "-o",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "liteispnet-isp-only.json",
        "liteispnet-jpeg.json",
    ]
    ceiling_only = tmp_path / "ceiling"
    argv = ["isp", str(raw_dir), "--isp-checkpoint", str(ckpt), "--codecs", "none"]
    assert main([*argv, "-o", str(ceiling_only), "--quiet"]) == 0
    assert [p.name for p in ceiling_only.iterdir()] == ["liteispnet-isp-only.json"]


def test_cli_errors_are_one_line(raw_dir, tmp_path, capsys):
    # Exit 2: the command line is wrong; exit 1: the input failed.
    assert main(["libraw", str(raw_dir), "--codecs", "jpeg,bpg", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bpg" in err and "\n" not in err
    assert main(["isp", str(raw_dir), "-o", str(tmp_path)]) == 2
    assert "--isp-checkpoint" in capsys.readouterr().err
    assert main(["libraw", str(tmp_path / "nowhere"), "-o", str(tmp_path)]) == 1
    assert "nowhere" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


def test_libraw_anchor_on_a_real_camera_file(shared_data, tmp_path):
    (tmp_path / "dc50").mkdir()
    src = shared_data / "raw" / "Kodak__DC50__DC50IMG__DC0010S.KDC"
    (tmp_path / "dc50" / src.name).symlink_to(src)
    samples = collect_dataset(tmp_path / "dc50")
    r = codec_anchors(samples, [CODECS["jpeg"]], qualities={"jpeg": [75]}, progress=False)["jpeg"]
    _, srgb = load_pair(src)
    assert srgb.shape[1:] == (512, 766)
    assert 0.2 < r["results"]["bpp"][0] < 8 and r["results"]["psnr-rgb"][0] > 25


def test_cascade_from_separate_isp_and_comp_net_checkpoints(raw_dir, tmp_path):
    from compressai.models import JointAutoregressiveHierarchicalPriors

    isp_ckpt, comp_ckpts = tmp_path / "isp.pth", []
    torch.save(LiteISPNet(width=8).state_dict(), isp_ckpt)
    # CompressAI's example trainer's checkpoint layout, and this library's comp-net export.
    mbt = {"epoch": 1, "state_dict": JointAutoregressiveHierarchicalPriors(8, 8).state_dict()}
    comp = {"arch": "comp-net", "state_dict": CompNet(8, 12).state_dict()}
    for name, ckpt in (("mbt2018.pth.tar", mbt), ("comp-net.pth", comp)):
        torch.save(ckpt, tmp_path / name)
        comp_ckpts.append(str(tmp_path / name))
    out = tmp_path / "out"
    argv = ["cascade", str(raw_dir), "--isp-checkpoint", str(isp_ckpt), "-o", str(out), "--quiet"]
    assert main([*argv, "--comp-checkpoint", *comp_ckpts]) == 0
    data = json.loads((out / "cascade.json").read_text())
    assert data["name"] == "Cascade (LiteISPNet+mbt2018)"
    assert data["results"]["checkpoint"] == comp_ckpts
    assert len(data["results"]["bpp"]) == 2 and all(b > 0 for b in data["results"]["bpp"])


def test_cascade_refuses_a_checkpoint_of_another_architecture(raw_dir, tmp_path, capsys):
    isp_ckpt, wrong = tmp_path / "isp.pth", tmp_path / "rbn.pth"
    torch.save(LiteISPNet(width=8).state_dict(), isp_ckpt)
    torch.save({"arch": "rbn", "state_dict": CompNet(8, 8).state_dict()}, wrong)
    argv = ["cascade", str(raw_dir), "--isp-checkpoint", str(isp_ckpt), "--quiet"]
    assert main([*argv, "--comp-checkpoint", str(wrong), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds a 'rbn' model, not comp-net" in err


def test_no_progress_bar_when_stderr_is_not_a_terminal(raw_dir, capsys):
    codec_anchors(collect_dataset(raw_dir), [CODECS["jpeg"]], qualities={"jpeg": [50]})
    assert "img" not in capsys.readouterr().err  # capsys' stderr is no terminal


def test_classical_anchor_renders_the_camera_normalised_raw(raw_dir):
    from compressai_isp.data import RawFolder, classical_isp

    samples = collect_dataset(raw_dir)
    results = codec_anchors(
        samples, [CODECS["jpeg"]], qualities={"jpeg": [50, 95]}, isp=CLASSICAL_ISP, progress=False
    )
    jpeg, ceiling = results["jpeg"], results["isp-only"]
    assert jpeg["name"] == "Classical ISP+JPEG" and "LibRaw rendering" in jpeg["description"]
    assert jpeg["results"]["input_space"] == ["camera-normalised"] * 2
    assert ceiling["name"] == "Classical ISP (no compression)" and "bpp" not in ceiling["results"]
    assert ceiling["results"]["input_space"] == ["camera-normalised"]
    # The ceiling is the classical ISP of the data set's own camera-normalised RAW vs LibRaw.
    normalised = RawFolder(raw_dir, split="all", full_image=True, input_space="camera-normalised")
    per_image, paper = [], []
    for i, sample in enumerate(samples):
        raw, srgb = normalised[i]
        per_image.append(compute_metrics(srgb, classical_isp(raw)))
        paper.append(compute_metrics(srgb, classical_isp(sample.load().raw))["psnr-rgb"])
    for key in ("psnr-rgb", "delta-e00"):
        expected = np.mean([m[key] for m in per_image])
        assert ceiling["results"][key][0] == pytest.approx(expected, rel=1e-6)
    # The colour science is in the metadata: fed the paper RAW it would miss by over 10 dB.
    assert ceiling["results"]["psnr-rgb"][0] > np.mean(paper) + 10
    assert ceiling["results"]["delta-e00"][0] < 3
    r = jpeg["results"]
    assert r["psnr-rgb"][0] < r["psnr-rgb"][1] <= ceiling["results"]["psnr-rgb"][0] + 0.5


def test_cli_classical_pipeline_writes_curves_plot_and_bd_read(raw_dir, tmp_path):
    from compressai_isp.utils.bd import bd_from_files
    from compressai_isp.utils.plot import plot_rd

    out = tmp_path / "classical"
    argv = ["classical", str(raw_dir), "--codecs", "jpeg,webp", "-q", "30,60,90", "-o", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "classical-isp-only.json",
        "classical-jpeg.json",
        "classical-webp.json",
    ]
    curves = plot_rd(
        [out / "classical-jpeg.json", out / "classical-isp-only.json"], [tmp_path / "rd.png"]
    )
    assert [c.name for c in curves] == ["Classical ISP+JPEG", "Classical ISP (no compression)"]
    assert (tmp_path / "rd.png").stat().st_size > 0
    jpeg = str(out / "classical-jpeg.json")
    assert bd_from_files(jpeg, jpeg)["bd_rate_percent"] == pytest.approx(0.0, abs=1e-9)
    ceiling_only = tmp_path / "ceiling"
    argv = ["classical", str(raw_dir), "--codecs", "none", "-o", str(ceiling_only), "--quiet"]
    assert main(argv) == 0
    assert [p.name for p in ceiling_only.iterdir()] == ["classical-isp-only.json"]


def test_isp_pipeline_feeds_a_checkpoints_own_input_space(raw_dir, tmp_path):
    from compressai_isp.utils.anchors import load_isp, render_isp

    torch.manual_seed(0)
    isp = LiteISPNet(width=8, input_space="camera-normalised").eval()
    ckpt = tmp_path / "isp.pth"
    torch.save({"arch": "liteispnet", "config": isp.config, "state_dict": isp.state_dict()}, ckpt)
    loaded = load_isp(str(ckpt))
    assert loaded.input_space == "camera-normalised"
    samples = collect_dataset(raw_dir)
    ceiling = codec_anchors(samples, [], isp=loaded, progress=False)["isp-only"]["results"]
    assert ceiling["input_space"] == ["camera-normalised"]
    expected = []
    for sample in samples:
        image = sample.load()
        rendered = render_isp(isp, image.input("camera-normalised"))
        expected.append(compute_metrics(image.srgb, rendered)["psnr-rgb"])
    assert ceiling["psnr-rgb"][0] == pytest.approx(np.mean(expected), abs=1e-4)


def test_cascade_takes_the_isp_checkpoints_input_space(raw_dir, tmp_path):
    isp = LiteISPNet(width=8, input_space="camera-normalised")
    isp_ckpt, comp_ckpt = tmp_path / "isp.pth", tmp_path / "comp-net.pth"
    torch.save(
        {"arch": "liteispnet", "config": isp.config, "state_dict": isp.state_dict()}, isp_ckpt
    )
    torch.save({"arch": "comp-net", "state_dict": CompNet(8, 12).state_dict()}, comp_ckpt)
    argv = ["cascade", str(raw_dir), "--isp-checkpoint", str(isp_ckpt), "-o", str(tmp_path)]
    assert (
        main([*argv, "--comp-checkpoint", str(comp_ckpt), "--entropy-estimation", "--quiet"]) == 0
    )
    data = json.loads((tmp_path / "cascade.json").read_text())
    assert data["results"]["input_space"] == ["camera-normalised"]
