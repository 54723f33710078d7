"""The RAWtoBit model family honours CompressAI's model contract."""

from __future__ import annotations

import pytest
import torch
from compressai.models import CompressionModel, JointAutoregressiveHierarchicalPriors

from compressai_isp import zoo
from compressai_isp.models import (
    RBN,
    Cascaded,
    CompNet,
    ISPTeacher,
    LiteISPNet,
    RawCompTeacher,
    UnifiedRaw,
    crop_to,
    pad_to_multiple,
)
from compressai_isp.models.layers import HaarDWT, HaarIDWT

# Reduced widths keep every test fast; full widths appear only in the parameter-count test.
TINY = {
    "rbn": {"N": 16, "M": 16, "N_hyper": 16, "decoder_width": 8},
    "raw-comp-teacher": {"N": 16, "K": 24, "N_hyper": 16},
    "isp-teacher": {"N": 16, "M": 16, "N_hyper": 16, "decoder_width": 8},
    "unified-raw": {"N": 16, "M": 16},
    "liteispnet": {"width": 8},
    "cascaded": {"N": 16, "M": 16, "isp_width": 8},
    "comp-net": {"N": 16, "M": 16},
}
COMPRESSION_ARCHS = [
    "rbn",
    "raw-comp-teacher",
    "isp-teacher",
    "unified-raw",
    "cascaded",
    "comp-net",
]


def tiny(arch: str) -> torch.nn.Module:
    return zoo.image_models[arch](quality=1, **TINY[arch])


def model_input(model: torch.nn.Module, rows: int = 1, cols: int = 1) -> torch.Tensor:
    m = model.downsampling_factor
    return torch.rand(2, model.in_channels, rows * m, cols * m)


@pytest.mark.parametrize("arch", list(TINY))
@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 2), (2, 1)])
def test_output_shape_follows_the_input(arch: str, rows: int, cols: int) -> None:
    model = tiny(arch).train()
    x = model_input(model, rows, cols)
    out = model(x)
    h, w = x.shape[-2:]
    if model.input_kind == "raw" and model.output_kind == "srgb":
        expected = (2, 3, 2 * h, 2 * w)  # sRGB is twice the packed RAW
    else:
        expected = tuple(x.shape)
    assert tuple(out["x_hat"].shape) == expected
    for likelihood in out["likelihoods"].values():
        assert torch.all((likelihood > 0) & (likelihood <= 1))


@pytest.mark.parametrize("arch", list(TINY))
def test_wrong_size_is_refused_with_the_padding_hint(arch: str) -> None:
    model = tiny(arch)
    m = model.downsampling_factor
    with pytest.raises(ValueError, match=rf"multiples of {m}.*pad_to_multiple"):
        model(torch.rand(1, model.in_channels, m + 2, m))


@pytest.mark.parametrize("arch", list(TINY))
def test_wrong_channel_count_is_refused(arch: str) -> None:
    model = tiny(arch)
    m = model.downsampling_factor
    with pytest.raises(ValueError, match=rf"expects a batch \[B, {model.in_channels}, "):
        model(torch.rand(1, 7, m, m))


@pytest.mark.parametrize("arch", ["rbn", "comp-net"])
def test_one_image_without_its_batch_dimension_is_told_to_add_it(arch: str) -> None:
    model = tiny(arch)
    m = model.downsampling_factor
    image = torch.rand(model.in_channels, 2 * m, 2 * m)
    with pytest.raises(ValueError, match=r"expects a batch \[B, .*pass x\[None\]") as err:
        model(image)
    assert "channels" not in str(err.value)
    assert model.eval()(image[None])["x_hat"].dim() == 4


def test_pad_then_crop_restores_the_input() -> None:
    x = torch.rand(1, 4, 37, 50)
    padded = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (48, 64)
    assert torch.equal(crop_to(padded, (37, 50)), x)
    assert pad_to_multiple(padded, 16) is padded


@pytest.mark.parametrize("arch", COMPRESSION_ARCHS)
def test_compress_decompress_reproduces_the_eval_forward(arch: str) -> None:
    model = tiny(arch).eval()
    model.update(force=True)
    x = model_input(model, 1, 2)
    with torch.no_grad():
        expected = model(x)["x_hat"].clamp(0, 1)
        coded = model.compress(x)
        decoded = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    assert isinstance(coded["strings"][0][0], bytes)
    assert decoded.shape == expected.shape
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", list(TINY))
def test_state_dict_round_trip_rebuilds_the_widths(arch: str) -> None:
    model = tiny(arch)
    if isinstance(model, CompressionModel):
        model.update(force=True)
    rebuilt = type(model).from_state_dict(model.state_dict())
    assert rebuilt.config == model.config
    for (k, a), (_, b) in zip(
        model.state_dict().items(), rebuilt.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


def test_compression_models_keep_mbt2018_attribute_names() -> None:
    for arch in COMPRESSION_ARCHS:
        model = tiny(arch)
        assert isinstance(model, JointAutoregressiveHierarchicalPriors)
        for name in (
            "g_a",
            "g_s",
            "h_a",
            "h_s",
            "entropy_bottleneck",
            "gaussian_conditional",
            "context_prediction",
            "entropy_parameters",
        ):
            assert hasattr(model, name), (arch, name)


def test_teachers_mirror_rbn_for_distillation() -> None:
    rbn = RBN(N=16, M=16, N_hyper=16, decoder_width=8)
    comp = RawCompTeacher(N=16, K=24, N_hyper=16)
    isp = ISPTeacher(N=16, M=16, N_hyper=16, decoder_width=8)
    # Encoders identical but for the last conv's width (K).
    for (name, a), (_, b) in zip(rbn.g_a.named_modules(), comp.g_a.named_modules(), strict=True):
        if name == "6":
            assert (a.out_channels, b.out_channels) == (16, 24)
        elif isinstance(a, torch.nn.Conv2d):
            assert a.weight.shape == b.weight.shape, name
    # Decoders identical, module by module.
    assert [n for n, _ in rbn.g_s.named_modules()] == [n for n, _ in isp.g_s.named_modules()]
    assert {k: v.shape for k, v in rbn.g_s.state_dict().items()} == {
        k: v.shape for k, v in isp.g_s.state_dict().items()
    }
    # Same latent shape from a RAW and from its sRGB (twice the size).
    raw, srgb = torch.rand(1, 4, 64, 64), torch.rand(1, 3, 128, 128)
    assert rbn.g_a(raw).shape == isp.g_a(srgb).shape


def test_rbn_decoder_stages_are_addressable_distillation_taps() -> None:
    names = dict(RBN(N=16, M=16, N_hyper=16, decoder_width=8).named_modules())
    for tap in ("g_s.middle.conv_out", "g_s.up5.conv", "g_s.up4.conv", "g_s.up3.conv"):
        assert isinstance(names[tap], torch.nn.Conv2d), tap
    assert isinstance(names["g_s.up2.deconv"], torch.nn.ConvTranspose2d)


def test_haar_transforms_are_exact_inverses() -> None:
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64)
    coeffs = HaarDWT()(x)
    assert coeffs.shape == (2, 12, 4, 5)
    torch.testing.assert_close(HaarIDWT()(coeffs), x)
    # Orthonormal: energy is preserved.
    torch.testing.assert_close(coeffs.pow(2).sum(), x.pow(2).sum())


def test_full_size_models_match_the_paper_widths() -> None:
    rbn = zoo.rbn(quality=1)
    assert rbn.g_a[0].weight.shape == (256, 4, 3, 3)
    assert rbn.g_a[6].weight.shape == (192, 256, 3, 3)
    assert zoo.raw_comp_teacher(quality=3).g_a[6].out_channels == 192
    assert zoo.raw_comp_teacher(quality=4).g_a[6].out_channels == 320
    lite = LiteISPNet()
    assert lite.down1.rcag.body[0].body[0].in_channels == 66
    assert lite.middle.conv_in.in_channels == 512
    counts = {arch: sum(p.numel() for p in zoo.image_models[arch](1).parameters()) for arch in TINY}
    assert 15e6 < counts["rbn"] < 20e6
    assert 8e6 < counts["liteispnet"] < 10e6
    assert counts["comp-net"] == sum(
        p.numel() for p in JointAutoregressiveHierarchicalPriors(192, 192).parameters()
    )
    assert counts["cascaded"] == counts["liteispnet"] + counts["comp-net"]
    x = torch.rand(1, 4, 64, 64)
    with torch.no_grad():
        assert RBN().train()(x)["x_hat"].shape == (1, 3, 128, 128)
        assert UnifiedRaw().train()(x)["x_hat"].shape == (1, 3, 128, 128)
        assert Cascaded().train()(x)["x_hat"].shape == (1, 3, 128, 128)


def test_comp_net_and_compressai_mbt2018_share_their_weights() -> None:
    comp = CompNet(N=16, M=24)
    mbt = JointAutoregressiveHierarchicalPriors(N=16, M=24)
    mbt.load_state_dict(comp.state_dict())  # a comp-net checkpoint serves CompressAI's mbt2018
    comp.load_state_dict(JointAutoregressiveHierarchicalPriors(N=16, M=24).state_dict())
    assert CompNet.from_state_dict(comp.state_dict()).config == {"N": 16, "M": 24}
    cascade = Cascaded(N=16, M=24, isp_width=8)
    cascade.load_comp_net_state_dict(comp.state_dict())
    for name, tensor in comp.state_dict().items():
        assert torch.equal(cascade.state_dict()[name], tensor), name


RAW_ARCHS = [arch for arch in TINY if tiny(arch).input_kind == "raw"]


def test_every_raw_model_defaults_to_the_paper_input_space() -> None:
    assert RAW_ARCHS == ["rbn", "raw-comp-teacher", "unified-raw", "liteispnet", "cascaded"]
    for arch in RAW_ARCHS:
        model = tiny(arch)
        assert model.input_space == "paper", arch
        assert model.config["input_space"] == "paper", arch


@pytest.mark.parametrize("arch", RAW_ARCHS)
def test_raw_models_record_the_input_space_they_were_built_for(arch: str) -> None:
    model = zoo.image_models[arch](quality=1, **TINY[arch], input_space="camera-normalised")
    assert model.input_space == "camera-normalised"
    assert model.config["input_space"] == "camera-normalised"
    # The config rebuilds the model, input space included.
    assert type(model)(**model.config).input_space == "camera-normalised"


@pytest.mark.parametrize("arch", RAW_ARCHS)
def test_an_unknown_input_space_is_refused_in_one_line(arch: str) -> None:
    with pytest.raises(ValueError, match=r"unknown input space 'linear'; use one of 'paper', "):
        zoo.image_models[arch](quality=1, **TINY[arch], input_space="linear")


@pytest.mark.parametrize("arch", ["isp-teacher", "comp-net"])
def test_srgb_models_have_no_input_space(arch: str) -> None:
    model = tiny(arch)
    assert model.input_space is None
    assert "input_space" not in model.config
    with pytest.raises(TypeError):
        zoo.image_models[arch](quality=1, **TINY[arch], input_space="paper")


@pytest.mark.parametrize("arch", RAW_ARCHS)
def test_from_state_dict_takes_the_input_space_it_cannot_read_off_the_tensors(arch: str) -> None:
    model = zoo.image_models[arch](quality=1, **TINY[arch], input_space="camera-normalised")
    state = model.state_dict()
    # The space changes no tensor: the same keys and shapes as a paper-space model.
    assert {k: v.shape for k, v in state.items()} == {
        k: v.shape for k, v in tiny(arch).state_dict().items()
    }
    assert type(model).from_state_dict(state).input_space == "paper"
    rebuilt = type(model).from_state_dict(state, input_space="camera-normalised")
    assert rebuilt.config == model.config


def test_the_cascade_passes_its_input_space_to_its_isp_net() -> None:
    cascade = Cascaded(N=16, M=16, isp_width=8, input_space="camera-normalised")
    assert cascade.isp.input_space == "camera-normalised"
