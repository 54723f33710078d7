import json
import math

import pytest
import torch
from compressai.models import JointAutoregressiveHierarchicalPriors

from compressai_isp import zoo
from compressai_isp.codec.engine import DEFAULT_ARCH
from compressai_isp.data import make_synthetic_dng
from compressai_isp.metrics import compute_metrics, psnr
from compressai_isp.models import pad_to_multiple
from compressai_isp.utils.eval_model import (
    EvalError,
    EvalSample,
    collect_dataset,
    eval_model,
    eval_models,
    inference,
    main,
)
from compressai_isp.utils.results import METRIC_KEYS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {"N": 16, "M": 16, "N_hyper": 16, "decoder_width": 8}


def _pair(sample: EvalSample) -> tuple[torch.Tensor, torch.Tensor]:
    """A sample's paper-space packed RAW and its ground truth."""
    image = sample.load()
    return image.raw, image.srgb


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    # Sizes that are not multiples of the model's 64-px packed-RAW stride, two CFAs, a subfolder.
    root = tmp_path_factory.mktemp("raw")
    make_synthetic_dng(root / "a.dng", 1, "RGGB", (36, 52))
    make_synthetic_dng(root / "sub" / "b.dng", 2, "GRBG", (40, 70))
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def tiny_rbn():
    torch.manual_seed(0)
    model = zoo.rbn(quality=1, **TINY)
    model.update(force=True)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_rbn):
    # Two rate points: an exported model file (records its architecture) and a bare state dict.
    d = tmp_path_factory.mktemp("ckpt")
    torch.save({"arch": "rbn", "quality": 1, "state_dict": tiny_rbn.state_dict()}, d / "q1.pth")
    torch.manual_seed(1)
    other = zoo.rbn(quality=2, **TINY)
    torch.save(other.state_dict(), d / "q2.pth.tar")
    return [d / "q1.pth", d / "q2.pth.tar"]


def test_dataset_is_every_raw_file_recursively_sorted(raw_dir):
    samples = collect_dataset(raw_dir)
    assert [s.name for s in samples] == ["a.dng", "sub/b.dng"]
    image = samples[1].load()
    raw, srgb = image.raw, image.srgb
    assert raw.shape[0] == 4 and srgb.shape[1:] == (2 * raw.shape[1], 2 * raw.shape[2])


def test_dataset_errors_name_the_folder(tmp_path):
    with pytest.raises(EvalError, match="no RAW files"):
        collect_dataset(tmp_path)
    with pytest.raises(EvalError, match="missing: not a directory"):
        collect_dataset(tmp_path / "missing")


def test_a_paired_folder_supplies_its_own_targets(tmp_path, tiny_rbn):
    from PIL import Image

    make_synthetic_dng(tmp_path / "raw" / "a.dng", 3, "RGGB", (36, 52))
    (tmp_path / "srgb").mkdir()
    Image.new("RGB", (52, 36), (200, 100, 50)).save(tmp_path / "srgb" / "a.png")
    [sample] = collect_dataset(tmp_path)
    assert sample.name == "raw/a.dng"
    image = sample.load()
    target = image.srgb
    assert target[:, 0, 0].mul(255).round().tolist() == [200.0, 100.0, 50.0]
    metrics, x_hat = inference(tiny_rbn, image.raw, target)
    assert metrics["psnr-rgb"] == pytest.approx(compute_metrics(target, x_hat)["psnr-rgb"])


def test_real_coding_counts_stream_bytes_over_srgb_pixels(raw_dir, tiny_rbn):
    raw, srgb = _pair(collect_dataset(raw_dir)[0])
    metrics, x_hat = inference(tiny_rbn, raw, srgb)
    assert x_hat.shape == (1, *srgb.shape)  # padded for the model, cropped back
    enc = tiny_rbn.compress(pad_to_multiple(raw[None], tiny_rbn.downsampling_factor))
    nbytes = sum(len(s) for streams in enc["strings"] for s in streams)
    # sRGB pixels = 4 x packed RAW pixels; dividing by the packed size would give 4x the bpp.
    assert metrics["bpp"] == pytest.approx(8 * nbytes / (srgb.shape[1] * srgb.shape[2]))
    assert metrics["psnr-rgb"] == pytest.approx(compute_metrics(srgb, x_hat)["psnr-rgb"])
    assert set(metrics) == set(METRIC_KEYS)


def test_entropy_estimation_reconstructs_the_same_image(raw_dir, tiny_rbn):
    raw, srgb = _pair(collect_dataset(raw_dir)[1])
    coded, x_coded = inference(tiny_rbn, raw, srgb)
    estimated, x_est = inference(tiny_rbn, raw, srgb, entropy_estimation=True)
    # decompress() clamps to [0, 1]; forward() does not (the 8-bit metrics clamp both).
    torch.testing.assert_close(x_est.clamp(0, 1), x_coded, atol=1e-4, rtol=0)
    assert estimated["psnr-rgb"] == pytest.approx(coded["psnr-rgb"], abs=1e-3)
    assert 0 < estimated["bpp"] <= coded["bpp"]  # real streams carry coder overhead
    assert estimated["encoding_time"] == estimated["decoding_time"]


def test_compressai_srgb_models_code_the_libraw_rendering(raw_dir):
    # A plain CompressAI model has no input_kind: it is an sRGB codec of the LibRaw rendering.
    model = JointAutoregressiveHierarchicalPriors(N=8, M=8).eval()
    model.update(force=True)
    raw, srgb = _pair(collect_dataset(raw_dir)[0])
    metrics, x_hat = inference(model, raw, srgb, entropy_estimation=True)
    assert x_hat.shape == (1, *srgb.shape)
    # Its rate is counted over the rendering's own pixels (no 4x RAW factor).
    with torch.no_grad():
        out = model(pad_to_multiple(srgb[None], 64))
    bits = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    assert metrics["bpp"] == pytest.approx(float(bits) / (srgb.shape[1] * srgb.shape[2]), rel=1e-5)


def test_eval_model_averages_over_images_and_saves_outputs(raw_dir, tiny_rbn, tmp_path):
    samples = collect_dataset(raw_dir)
    avg = eval_model(
        tiny_rbn, samples, output_dir=tmp_path, run_name="run", per_image=True, progress=False
    )
    per = [inference(tiny_rbn, *_pair(s))[0] for s in samples]
    assert avg["bpp"] == pytest.approx((per[0]["bpp"] + per[1]["bpp"]) / 2)
    assert (tmp_path / "run" / "a.png").is_file() and (tmp_path / "run" / "sub" / "b.png").is_file()
    record = json.loads((tmp_path / "sub" / "b-run.json").read_text())
    assert record["source"] == "sub/b.dng" and record["results"]["bpp"] == pytest.approx(
        per[1]["bpp"]
    )


def test_cli_checkpoint_writes_compressai_shaped_json(raw_dir, checkpoints, tmp_path, capsys):
    out = tmp_path / "rbn.json"
    argv = ["checkpoint", str(raw_dir), "-a", "rbn", "-o", str(out), "--quiet"]
    argv += ["-p", *map(str, checkpoints)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == data
    assert data["name"] == "rbn-mse" and data["description"] == "Inference (ans)"
    results = data["results"]
    assert set(results) == {*METRIC_KEYS, "checkpoint", "input_space"}
    assert all(len(v) == 2 for v in results.values())
    assert results["checkpoint"] == [str(p) for p in checkpoints]
    assert results["input_space"] == ["paper", "paper"]  # the models' own, from their config


def test_bf16_transforms_measure_close_to_fp32_with_real_coding(raw_dir, checkpoints, tmp_path):
    results = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.json"
        argv = ["checkpoint", str(raw_dir), "-a", "rbn", "-o", str(out), "--quiet"]
        argv += ["-p", str(checkpoints[0]), "--precision", precision]
        assert main(argv) == 0
        results[precision] = json.loads(out.read_text())["results"]
    # The entropy path is float32 in both: the bf16 g_a codes a nearby latent of similar size.
    assert results["bf16"]["bpp"][0] == pytest.approx(results["fp32"]["bpp"][0], rel=0.1)
    assert results["bf16"]["psnr-rgb"][0] == pytest.approx(results["fp32"]["psnr-rgb"][0], abs=0.5)


def test_cli_reads_the_architecture_from_the_checkpoint(raw_dir, checkpoints, tmp_path):
    argv = ["checkpoint", str(raw_dir), "-p", str(checkpoints[0]), "-d", str(tmp_path)]
    assert main([*argv, "--entropy-estimation", "--quiet"]) == 0
    data = json.loads((tmp_path / "rbn-entropy-estimation.json").read_text())
    assert data["description"] == "Inference (entropy estimation)"
    assert (tmp_path / "q1-entropy-estimation" / "a.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-p", "missing.pth"], "missing.pth"),
        (["-a", "liteispnet", "-p", "CKPT"], "liteispnet"),
        (["-a", "rbn", "-p", "CKPT", "--per-image"], "--per-image"),
    ],
)
def test_cli_errors_are_one_line(raw_dir, checkpoints, tmp_path, capsys, extra, message):
    extra = [str(checkpoints[0]) if e == "CKPT" else e for e in extra]
    out = tmp_path / "x.json"
    # A command line that cannot work exits 2, as encode/decode do.
    assert main(["checkpoint", str(raw_dir), "-o", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


def test_cli_pretrained_without_weights_says_what_is_missing(raw_dir, tmp_path, capsys):
    assert main(["pretrained", str(raw_dir), "-a", "rbn", "-q", "3", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "rbn quality 3" in err and "\n" not in err
    # The way out for a CLI user, and where the zoo is read from.
    assert "--checkpoint PATH" in err and "eval checkpoint" in err
    assert "$COMPRESSAI_ISP_ZOO" in err and "load_state_dict" not in err


def test_a_dataset_that_fails_exits_1_a_wrong_option_exits_2(raw_dir, tmp_path, capsys):
    assert main(["pretrained", str(tmp_path / "missing"), "-q", "6", "--quiet"]) == 1
    assert "missing: not a directory" in capsys.readouterr().err
    assert main(["pretrained", str(raw_dir), "-q", "six", "--quiet"]) == 2
    assert "-q/--quality" in capsys.readouterr().err
    assert main(["checkpoint", str(raw_dir), "-p", "x.pth", "--threads", "0"]) == 2


def _tiny_zoo(root, qualities, arch="rbn"):
    """A zoo folder of tiny ``arch`` weights at ``qualities`` (read via $COMPRESSAI_ISP_ZOO)."""
    from compressai_isp.zoo.publish import publish

    config = TINY if arch == "rbn" else {"N": TINY["N"], "M": TINY["M"]}
    for q in qualities:
        model = zoo.image_models[arch](quality=q, **config)
        export = {"arch": arch, "quality": q, "config": config, "state_dict": model.state_dict()}
        publish(export, {"note": "test"}, root)
    return root


def test_cli_pretrained_defaults_to_the_default_model_at_every_shipped_quality(
    raw_dir, tmp_path, monkeypatch, capsys
):
    zoo_dir = _tiny_zoo(tmp_path / "zoo", [5, 2], arch=DEFAULT_ARCH)
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(zoo_dir))
    out = tmp_path / "default.json"
    assert main(["pretrained", str(raw_dir), "--entropy-estimation", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["name"] == f"{DEFAULT_ARCH}-mse" and data["results"]["quality"] == [2, 5]


def test_cli_pretrained_with_nothing_shipped_says_so(raw_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path / "empty-zoo"))
    assert main(["pretrained", str(raw_dir), "-a", "unified-raw", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ships no unified-raw (mse) weights" in err and "eval checkpoint" in err


def test_name_labels_the_curve_in_compressai_json(raw_dir, checkpoints, tmp_path):
    out = tmp_path / "mine.json"
    argv = ["checkpoint", str(raw_dir), "-p", str(checkpoints[0]), "-o", str(out), "--quiet"]
    assert main([*argv, "--name", "my rbn, step 500", "--entropy-estimation"]) == 0
    data = json.loads(out.read_text())
    assert data["name"] == "my rbn, step 500"
    assert set(data) == {"name", "description", "results"}  # CompressAI's shape, nothing added


def test_no_progress_bar_when_stderr_is_not_a_terminal(raw_dir, tiny_rbn, capsys):
    eval_models([tiny_rbn], collect_dataset(raw_dir), entropy_estimation=True, progress=True)
    assert "img" not in capsys.readouterr().err  # capsys' stderr is no terminal


def test_half_precision_coding_stays_close_to_float(raw_dir):
    torch.manual_seed(0)
    model = zoo.rbn(quality=1, **TINY)
    model.update(force=True)
    raw, srgb = _pair(collect_dataset(raw_dir)[0])
    full, _ = inference(model.eval(), raw, srgb)
    half, x_half = inference(model.half(), raw, srgb, half=True)
    assert x_half.dtype == torch.float32 and x_half.shape == (1, *srgb.shape)
    assert half["psnr-rgb"] == pytest.approx(full["psnr-rgb"], abs=0.5)
    assert half["bpp"] == pytest.approx(full["bpp"], rel=0.2)


def test_several_rate_points_decode_each_image_once(raw_dir, tiny_rbn):
    loads = []
    samples = [
        EvalSample(s.name, lambda s=s: (loads.append(s.name), s.load())[1])
        for s in collect_dataset(raw_dir)
    ]
    torch.manual_seed(3)
    other = zoo.rbn(quality=2, **TINY).eval()
    other.update(force=True)
    per_run = eval_models([tiny_rbn, other], samples, run_names=["a", "b"], progress=False)
    assert sorted(loads) == ["a.dng", "sub/b.dng"]
    # Same numbers as evaluating each model on its own (timings aside).
    for model, result in zip([tiny_rbn, other], per_run, strict=True):
        alone = eval_model(model, samples, progress=False)
        for key in ("psnr-rgb", "ms-ssim-rgb", "bpp"):
            assert result[key] == pytest.approx(alone[key])
    assert per_run[0]["psnr-rgb"] != per_run[1]["psnr-rgb"]


def test_raw_output_models_are_scored_against_the_raw(raw_dir):
    teacher = zoo.raw_comp_teacher(quality=1, N=16, K=16, N_hyper=16).eval()
    teacher.update(force=True)
    raw, srgb = _pair(collect_dataset(raw_dir)[0])
    metrics, x_hat = inference(teacher, raw, srgb)
    assert x_hat.shape == (1, *raw.shape)
    assert set(metrics) == {"psnr-raw", "ms-ssim-raw", "bpp", "encoding_time", "decoding_time"}
    assert metrics["psnr-raw"] == pytest.approx(psnr(raw[None], x_hat))


@pytest.mark.parametrize(
    ("arch", "widths", "score"),
    [
        ("comp-net", {"N": 8, "M": 8}, "psnr-rgb"),  # sRGB in: codes the LibRaw rendering
        ("raw-comp-teacher", {"N": 8, "K": 8, "N_hyper": 8}, "psnr-raw"),  # RAW out
    ],
)
def test_cli_evaluates_models_that_are_not_raw_to_srgb(raw_dir, tmp_path, arch, widths, score):
    model = zoo.create_model(arch, 1, **widths)
    torch.save({"arch": arch, "quality": 1, "state_dict": model.state_dict()}, tmp_path / "m.pth")
    out = tmp_path / "result.json"
    argv = ["checkpoint", str(raw_dir), "-p", str(tmp_path / "m.pth"), "-o", str(out), "--quiet"]
    assert main(argv) == 0
    results = json.loads(out.read_text())["results"]
    assert results["bpp"][0] > 0 and math.isfinite(results[score][0])


def test_a_model_without_entropy_model_is_refused_in_one_line(raw_dir, tmp_path, capsys):
    isp = zoo.liteispnet(1, width=4)
    torch.save({"arch": "liteispnet", "state_dict": isp.state_dict()}, tmp_path / "isp.pth")
    assert main(["checkpoint", str(raw_dir), "-p", str(tmp_path / "isp.pth"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "liteispnet has no entropy model" in err


def test_each_input_space_is_the_datasets_own_from_one_decode(raw_dir):
    from compressai_isp.data import RawFolder

    normalised = RawFolder(raw_dir, split="all", full_image=True, input_space="camera-normalised")
    for i, sample in enumerate(collect_dataset(raw_dir)):
        image = sample.load()
        raw, srgb = normalised[i]
        assert torch.equal(image.input("camera-normalised"), raw)
        assert torch.equal(image.srgb, srgb)
        # The synthetic camera has gains and a matrix: the spaces really differ.
        assert image.input("paper") is image.raw and not torch.equal(image.raw, raw)
        assert image.input(None) is image.raw  # sRGB-input models ignore it


def _record_analysis_inputs(model):
    """The tensors ``model.g_a`` is called on, in call order."""
    seen = []
    model.g_a.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("entropy_estimation", [True, False])
def test_models_of_different_input_spaces_each_see_their_own(raw_dir, entropy_estimation):
    torch.manual_seed(0)
    paper = zoo.rbn(quality=1, **TINY).eval()
    normalised = zoo.rbn(quality=1, **TINY, input_space="camera-normalised").eval()
    normalised.load_state_dict(paper.state_dict())  # same weights: only the input differs
    for model in (paper, normalised):
        model.update(force=True)
    seen = {"paper": _record_analysis_inputs(paper)}
    seen["camera-normalised"] = _record_analysis_inputs(normalised)
    samples = collect_dataset(raw_dir)
    per_run = eval_models(
        [paper, normalised], samples, entropy_estimation=entropy_estimation, progress=False
    )
    for i, sample in enumerate(samples):
        image = sample.load()
        for space, inputs in seen.items():
            expected = image.input(space)[None]
            received = inputs[i][..., : expected.shape[-2], : expected.shape[-1]]  # unpadded
            assert torch.equal(received, expected), space
    assert len(per_run) == 2 and all(r["bpp"] > 0 for r in per_run)


def test_a_raw_model_without_an_input_space_is_refused_before_decoding(raw_dir, tiny_rbn):
    class Undeclared(torch.nn.Module):
        input_kind, output_kind = "raw", "srgb"

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 12, 1)

    loads = []
    samples = [EvalSample("x.dng", lambda: loads.append(1))]
    with pytest.raises(EvalError, match="Undeclared takes packed RAW but declares no input_space"):
        eval_models([tiny_rbn, Undeclared()], samples, progress=False)
    assert not loads


def test_cli_records_each_rate_points_input_space(raw_dir, checkpoints, tmp_path):
    torch.manual_seed(4)
    model = zoo.rbn(quality=1, **TINY, input_space="camera-normalised")
    export = {"arch": "rbn", "quality": 1, "config": model.config, "state_dict": model.state_dict()}
    torch.save(export, tmp_path / "normalised.pth")
    out, per_image = tmp_path / "mixed.json", tmp_path / "per-image"
    argv = ["checkpoint", str(raw_dir), "-p", str(checkpoints[0]), str(tmp_path / "normalised.pth")]
    argv += ["-o", str(out), "-d", str(per_image), "--per-image", "--quiet"]
    assert main([*argv, "--entropy-estimation"]) == 0
    results = json.loads(out.read_text())["results"]
    assert results["input_space"] == ["paper", "camera-normalised"]
    record = json.loads((per_image / "a-normalised-entropy-estimation.json").read_text())
    assert record["results"]["input_space"] == "camera-normalised"
    # Each got its own input: the normalised model's own single-model run gives its numbers.
    alone = tmp_path / "alone.json"
    argv = ["checkpoint", str(raw_dir), "-p", str(tmp_path / "normalised.pth"), "-o", str(alone)]
    assert main([*argv, "--entropy-estimation", "--quiet"]) == 0
    assert json.loads(alone.read_text())["results"]["bpp"] == results["bpp"][1:]
