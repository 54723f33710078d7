"""The model-loading floor: one identity record and one loader for cards, exports, checkpoints.

Every source kind goes through ``compressai_isp.io.load_model`` and comes back with the same
``ModelIdentity``; a zoo card's identity survives the trip into a ``.rbit`` header; a file that
does not record its quality cannot name one in a stream; every failure is one line naming the
file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from compressai_isp import zoo
from compressai_isp.cli import main as cli_main
from compressai_isp.codec.engine import checkpoint_model, encode_raw, model_for_stream, zoo_model
from compressai_isp.codec.format import unpack
from compressai_isp.data import read_raw, write_dng
from compressai_isp.io import (
    UNRECORDED_INPUT_SPACE,
    LoadedModel,
    ModelIdentity,
    load_model,
    weights_fingerprint,
)
from compressai_isp.zoo.publish import publish

TINY = {"N": 8, "M": 8, "N_hyper": 8, "decoder_width": 4}


@pytest.fixture
def tiny() -> torch.nn.Module:
    torch.manual_seed(3)
    return zoo.rbn(2, **TINY, input_space="camera-normalised")


def _save(path: Path, state: dict) -> Path:
    torch.save(state, path)
    return path


@pytest.fixture
def files(tmp_path: Path, tiny: torch.nn.Module) -> dict[str, Path]:
    """One file of each kind the library reads, all holding ``tiny``'s weights."""
    sd = tiny.state_dict()
    return {
        "checkpoint": _save(
            tmp_path / "checkpoint.pth.tar",
            {
                "arch": "rbn",
                "quality": 2,
                "metric": "ms-ssim",
                "model_config": tiny.config,
                "state_dict": sd,
                "step": 7,
            },
        ),
        "export": _save(
            tmp_path / "model_best.pth",
            {
                "arch": "rbn",
                "quality": 2,
                "metric": "ms-ssim",
                "config": tiny.config,
                "state_dict": sd,
            },
        ),
        "foreign": _save(tmp_path / "foreign.pth", {"state_dict": sd, "epoch": 3}),
        "bare": _save(tmp_path / "bare.pth", sd),
    }


@pytest.fixture
def card_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private zoo whose one card is a tiny RBN q2 trained for MS-SSIM."""
    root = tmp_path / "zoo"
    root.mkdir()
    monkeypatch.setenv("COMPRESSAI_ISP_ZOO", str(root))
    torch.manual_seed(5)
    model = zoo.rbn(2, **TINY)
    path = root / "rbn-q2-tiny.pth"
    torch.save(model.state_dict(), path)
    entry = {
        "arch": "rbn", "quality": 2, "metric": "ms-ssim", "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "config": TINY,
    }  # fmt: skip
    (root / "manifest.json").write_text(json.dumps({"weights": [entry]}))
    return root


@pytest.mark.parametrize("kind", ["checkpoint", "export"])
def test_a_training_file_comes_back_with_its_whole_identity(
    files: dict[str, Path], tiny: torch.nn.Module, kind: str
) -> None:
    loaded = load_model(files[kind])
    assert isinstance(loaded, LoadedModel) and not loaded.model.training
    assert loaded.identity == ModelIdentity(
        "rbn", 2, "ms-ssim", tiny.config, weights_fingerprint(tiny)
    )
    # The metric is the file's, not the default: an MS-SSIM run is never labelled "mse".
    assert (loaded.metric, loaded.input_space) == ("ms-ssim", "camera-normalised")
    assert loaded.source == str(files[kind])


def test_files_that_record_less_take_the_arguments(files: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"foreign\.pth does not record its architecture"):
        load_model(files["foreign"])
    for kind in ("foreign", "bare"):
        loaded = load_model(files[kind], arch="rbn")
        # Tensors show no input space or quality: paper space and no quality unless named.
        assert (loaded.input_space, loaded.quality, loaded.metric) == ("paper", None, "mse")
        named = load_model(files[kind], arch="rbn", quality=2, input_space="camera-normalised")
        assert (named.input_space, named.quality) == ("camera-normalised", 2)
        assert named.fingerprint == loaded.fingerprint  # same weights, whatever the labels


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"arch": "liteispnet"}, r"holds arch 'rbn', not the requested 'liteispnet'"),
        ({"quality": 3}, r"holds quality 2, not the requested 3"),
        ({"metric": "mse"}, r"holds metric 'ms-ssim', not the requested 'mse'"),
        ({"input_space": "paper"}, r"holds input_space 'camera-normalised', not .*'paper'"),
    ],
)
def test_arguments_may_not_contradict_the_file(
    files: dict[str, Path], given: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        load_model(files["export"], **given)
    assert "\n" not in str(caught.value) and "model_best.pth" in str(caught.value)


def test_every_refusal_is_one_line_naming_the_file(tmp_path: Path, files: dict[str, Path]) -> None:
    other = _save(tmp_path / "other.pth", zoo.liteispnet(1, width=8).state_dict())
    cases = {
        tmp_path / "missing.pth": {},
        other: {"arch": "rbn"},
        files["bare"]: {"arch": "comp-net", "input_space": "paper"},
        _save(tmp_path / "list.pth", {"arch": "nope", "state_dict": {}}): {},
    }
    for path, given in cases.items():
        with pytest.raises(ValueError) as caught:
            load_model(path, **given)
        text = str(caught.value)
        assert "\n" not in text, text
        assert path.name in text, text
    assert "unknown architecture 'nope'" in text


def test_a_zoo_card_loads_with_its_identity_checked_by_its_hash(card_zoo: Path) -> None:
    card = zoo.get_weights("rbn", 2, "ms-ssim")
    assert card.identity == ModelIdentity("rbn", 2, "ms-ssim", TINY)
    assert card.identity.input_space == UNRECORDED_INPUT_SPACE  # a card without the field
    loaded = load_model(card)
    assert loaded.identity.config == {**TINY, "input_space": "paper"}
    assert loaded.fingerprint == weights_fingerprint(card.get_state_dict())
    assert zoo.load_pretrained("rbn", 2, "ms-ssim").identity == loaded.identity
    with pytest.raises(ValueError, match=r"holds metric 'ms-ssim', not the requested 'mse'"):
        load_model(card, metric="mse")
    path = card_zoo / card.file
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_model(card)


def _photo(tmp_path: Path) -> Path:
    mosaic = np.random.default_rng(0).integers(64, 4000, (70, 134)).astype(np.uint16)
    return write_dng(tmp_path / "p.dng", mosaic, cfa="RGGB", black_level=64, white_level=4095)


def test_the_cards_identity_reaches_the_stream_header_and_back(
    tmp_path: Path, card_zoo: Path
) -> None:
    card = zoo.get_weights("rbn", 2, "ms-ssim")
    cm = zoo_model("rbn", 2, "ms-ssim")
    header = unpack(encode_raw(read_raw(_photo(tmp_path)), cm)).header
    assert header.identity == load_model(card).identity.streamed() == cm.identity.streamed()
    assert header.model_name() == "rbn q2 ms-ssim"
    assert model_for_stream(header, "p.rbit").identity == cm.identity  # found in the zoo again


def test_a_file_without_a_quality_codes_only_once_it_is_named(
    tmp_path: Path, files: dict[str, Path], capsys
) -> None:
    unnamed = _save(
        tmp_path / "unnamed.pth",
        {"arch": "rbn", "config": {**TINY, "input_space": "paper"},
         "state_dict": zoo.rbn(1, **TINY).state_dict()},
    )  # fmt: skip
    photo, stream = _photo(tmp_path), tmp_path / "p.rbit"
    assert cli_main(["encode", str(photo), "-o", str(stream), "-p", str(unnamed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unnamed.pth does not record its quality; pass -q" in err
    assert not stream.exists()
    with pytest.raises(ValueError, match="does not record its quality"):
        encode_raw(read_raw(photo), checkpoint_model(unnamed))
    assert cli_main(["encode", str(photo), "-o", str(stream), "-p", str(unnamed), "-q", "4"]) == 0
    assert unpack(stream.read_bytes()).header.quality == 4
    # Decoding needs no quality: the stream names it, the weights' fingerprint must match.
    capsys.readouterr()
    image = tmp_path / "p.png"
    assert cli_main(["decode", str(stream), "-o", str(image), "-p", str(unnamed)]) == 0
    assert image.is_file()


def test_identity_records_round_trip_through_files() -> None:
    identity = ModelIdentity("rbn", 6, "ms-ssim", {**TINY, "input_space": "paper"})
    assert ModelIdentity.from_record(identity.record()) == identity
    checkpoint = {**identity.record(), "model_config": identity.config}
    del checkpoint["config"]
    assert ModelIdentity.from_record(checkpoint) == identity
    assert ModelIdentity.from_record({}, arch="comp-net") == ModelIdentity("comp-net", None)
    assert ModelIdentity("comp-net", 1).input_space is None  # a model of sRGB
    assert ModelIdentity("rbn", None).name() == "rbn q? mse"


def test_publish_keeps_the_exports_metric_and_needs_a_quality(tmp_path: Path) -> None:
    model = zoo.rbn(2, **TINY)
    export = {"arch": "rbn", "metric": "ms-ssim", "config": TINY, "state_dict": model.state_dict()}
    with pytest.raises(ValueError, match="records no quality .*pass --quality"):
        publish(export, {}, tmp_path)
    entry = publish({**export, "quality": 2}, {}, tmp_path)
    assert (entry["quality"], entry["metric"]) == (2, "ms-ssim")
    assert publish(export, {}, tmp_path / "q", quality=3)["quality"] == 3
    with pytest.raises(ValueError, match="records metric 'ms-ssim', not the requested 'mse'"):
        publish(export, {}, tmp_path, metric="mse", quality=2)
