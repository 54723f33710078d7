"""The zoo: builders, quality ladders, registry and pretrained weights with model cards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import compressai.registry
import pytest
import torch

from compressai_isp import create_model, list_models, zoo
from compressai_isp.codec.engine import DEFAULT_ARCH, DEFAULT_QUALITY
from compressai_isp.io import ModelIdentity
from compressai_isp.models import RBN
from compressai_isp.registry import MODELS

ARCHS = [
    "rbn",
    "unified-raw",
    "raw-comp-teacher",
    "isp-teacher",
    "liteispnet",
    "cascaded",
    "comp-net",
]
TINY_RBN = {"N": 16, "M": 16, "N_hyper": 16, "decoder_width": 8}


def test_every_architecture_is_in_the_zoo_and_in_compressai_registry() -> None:
    assert set(ARCHS) <= set(zoo.image_models)
    for arch in ARCHS:
        assert compressai.registry.MODELS[arch] is MODELS[arch]
        assert zoo.model_architectures[arch] is MODELS[arch]


def test_quality_ladders_are_the_papers() -> None:
    assert list(zoo.lambdas["rbn"].values()) == [0.0035, 0.0067, 0.013, 0.0483, 0.0932, 0.18, 0.36]
    assert zoo.lambdas["raw-comp-teacher"] == zoo.lambdas["rbn"]
    assert list(zoo.lambdas["unified-raw"].values()) == [
        0.0035,
        0.0067,
        0.013,
        0.025,
        0.0483,
        0.0932,
        0.18,
    ]
    assert [zoo.cfgs["raw-comp-teacher"][q]["K"] for q in range(1, 8)] == [192] * 3 + [320] * 4


@pytest.mark.parametrize("quality", [0, 8])
def test_invalid_quality_names_the_range(quality: int) -> None:
    with pytest.raises(ValueError, match=r"quality .* should be 1\.\.7"):
        zoo.rbn(quality)


def test_kwargs_override_the_quality_widths() -> None:
    model = zoo.rbn(2, **TINY_RBN)
    assert model.config == {**TINY_RBN, "input_space": "paper"}
    assert isinstance(create_model("rbn", quality=2, **TINY_RBN), RBN)
    assert list_models() == sorted(zoo.image_models)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")


@pytest.fixture
def private_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path))
    model = zoo.rbn(3, **TINY_RBN)
    model.update(force=True)
    path = tmp_path / "rbn-q3-tiny.pth"
    torch.save(model.state_dict(), path)
    entry = {
        "arch": "rbn",
        "quality": 3,
        "metric": "mse",
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "config": TINY_RBN,
        "meta": {"lambda": 0.013, "recipe": "python -m compressai_isp.train ..."},
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"weights": [entry]}))
    return tmp_path


def test_pretrained_loads_the_manifest_weights_with_their_card(private_zoo: Path) -> None:
    model = zoo.rbn(3, pretrained=True)
    assert not model.training
    assert model.config == {**TINY_RBN, "input_space": "paper"}  # a card without it: paper
    weights = zoo.get_weights("rbn", 3)
    assert weights.meta["lambda"] == 0.013
    expected = weights.get_state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert list_models(pretrained=True) == ["rbn"]


def test_missing_weights_say_which_exist_and_how_to_train(private_zoo: Path) -> None:
    with pytest.raises(zoo.WeightsNotFoundError, match=r"available: rbn q3 \(mse\).*train"):
        zoo.rbn(5, pretrained=True)


def test_corrupt_weight_file_is_refused_by_its_hash(private_zoo: Path) -> None:
    path = private_zoo / "rbn-q3-tiny.pth"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        zoo.rbn(3, pretrained=True)


def test_pretrained_refuses_conflicting_widths(private_zoo: Path) -> None:
    with pytest.raises(ValueError, match="cannot override"):
        zoo.rbn(3, pretrained=True, N=32)


def test_published_export_loads_through_the_zoo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compressai_isp.zoo.publish import publish

    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path))
    trained = zoo.rbn(6, **TINY_RBN)
    export = {"arch": "rbn", "quality": 6, "config": TINY_RBN, "state_dict": trained.state_dict()}
    entry = publish(export, {"lambda": 0.0932, "steps": 10}, tmp_path)
    assert (tmp_path / entry["file"]).is_file()
    # Publishing again replaces the entry instead of duplicating it, and its file.
    retrained = zoo.rbn(6, **TINY_RBN)
    export = {**export, "state_dict": retrained.state_dict()}
    second = publish(export, {"lambda": 0.0932, "steps": 20}, tmp_path)
    assert [w.meta["steps"] for w in zoo.list_weights("rbn")] == [20]
    assert second["file"] != entry["file"] and not (tmp_path / entry["file"]).exists()
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == [second["file"]]
    loaded = zoo.rbn(6, pretrained=True)
    assert zoo.get_weights("rbn", 6).meta["parameters"] == sum(
        p.numel() for p in loaded.parameters()
    )
    x = torch.rand(1, 4, 64, 64)
    with torch.no_grad():
        coded = loaded.compress(x)
        assert loaded.decompress(coded["strings"], coded["shape"])["x_hat"].shape == (
            1,
            3,
            128,
            128,
        )


def test_a_card_without_an_input_space_is_paper_space(private_zoo: Path) -> None:
    weights = zoo.get_weights("rbn", 3)
    assert "input_space" not in weights.config
    assert weights.input_space == "paper"
    # Repeating what the card implies is no clash; asking for the other space is.
    assert zoo.rbn(3, pretrained=True, input_space="paper").input_space == "paper"
    with pytest.raises(ValueError, match=r"cannot override \{'input_space': 'camera-normalised'"):
        zoo.rbn(3, pretrained=True, input_space="camera-normalised")


def test_publish_records_the_exported_models_input_space(tmp_path: Path) -> None:
    from compressai_isp.zoo.publish import publish

    trained = zoo.rbn(6, **TINY_RBN, input_space="camera-normalised")
    export = {
        "arch": "rbn",
        "quality": 6,
        "config": trained.config,
        "state_dict": trained.state_dict(),
    }
    entry = publish(export, {}, tmp_path / "zoo")
    assert entry["config"]["input_space"] == "camera-normalised"
    # Loaded by path, without its manifest, the file is still the model its card describes.
    by_path = zoo.load_model_file(tmp_path / "zoo" / entry["file"])
    assert by_path.identity.record() == ModelIdentity("rbn", 6, "mse", entry["config"]).record()
    assert by_path.model.input_space == "camera-normalised"
    # An export made before models recorded their space is published as paper-space.
    old = {**export, "config": TINY_RBN}
    assert publish(old, {}, tmp_path / "old")["config"]["input_space"] == "paper"


def test_camera_normalised_weights_load_in_their_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compressai_isp.zoo.publish import publish

    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(tmp_path))
    trained = zoo.liteispnet(1, width=8, input_space="camera-normalised")
    export = {"arch": "liteispnet", "quality": 1, "config": trained.config}
    publish({**export, "state_dict": trained.state_dict()}, {}, tmp_path)
    assert zoo.get_weights("liteispnet", 1).input_space == "camera-normalised"
    assert zoo.liteispnet(1, pretrained=True).input_space == "camera-normalised"
    with pytest.raises(ValueError, match="cannot override"):
        zoo.liteispnet(1, pretrained=True, input_space="paper")


def test_srgb_weights_have_no_input_space() -> None:
    card = zoo.Weights("comp-net", 1, "mse", "f.pth", "0" * 64, {"N": 16, "M": 16})
    assert card.input_space is None
    assert card.full_config == {"N": 16, "M": 16}


def test_model_files_carry_their_input_space(tmp_path: Path) -> None:
    model = zoo.rbn(2, **TINY_RBN, input_space="camera-normalised")
    export = tmp_path / "model_best.pth"
    torch.save({"arch": "rbn", "config": model.config, "state_dict": model.state_dict()}, export)
    assert zoo.load_model_file(export).model.input_space == "camera-normalised"
    with pytest.raises(ValueError, match=r"holds input_space 'camera-normalised', not .*'paper'"):
        zoo.load_model_file(export, input_space="paper")
    # A training checkpoint records it as model_config.
    checkpoint = tmp_path / "checkpoint.pth.tar"
    torch.save(
        {"arch": "rbn", "model_config": model.config, "state_dict": model.state_dict()}, checkpoint
    )
    assert zoo.load_model_file(checkpoint).model.input_space == "camera-normalised"
    # A bare state dict shows no space: paper unless the caller names one.
    bare = tmp_path / "bare.pth"
    torch.save(model.state_dict(), bare)
    assert zoo.load_model_file(bare, arch="rbn").model.input_space == "paper"
    named = zoo.load_model_file(bare, arch="rbn", input_space="camera-normalised")
    assert named.model.input_space == "camera-normalised"
    with pytest.raises(ValueError, match="comp-net takes sRGB and has no input space"):
        zoo.load_model_file(bare, arch="comp-net", input_space="paper")


def test_every_shipped_weight_loads_and_carries_its_card(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPRESSAI_ISP_ZOO", raising=False)  # the repository's own zoo/
    shipped = zoo.list_weights()
    shipped_names = {(w.arch, w.quality) for w in shipped}
    assert ("rbn", 6) in shipped_names  # the paper's model
    assert (DEFAULT_ARCH, DEFAULT_QUALITY) in shipped_names  # every command's default
    for w in shipped:
        model = create_model(w.arch, w.quality, pretrained=True, metric=w.metric)
        assert sum(p.numel() for p in model.parameters()) == w.meta["parameters"], w.file
        for field in ("training_command", "data", "metrics", "machine"):
            assert w.meta.get(field), (w.file, field)
        assert w.meta["metrics"]["split"], w.file
        assert model.input_space == w.input_space, w.file
