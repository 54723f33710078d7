"""A first training run on a handful of photos: small data gets a clear path, not a dead end."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressai_isp.data import make_synthetic_dng
from compressai_isp.train import main
from compressai_isp.training.data import build_datasets

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_RBN_ARG = "N=8,M=8,N_hyper=8,decoder_width=4"


@pytest.fixture(scope="module")
def two_photos(tmp_path_factory) -> Path:
    # Two files: too few for the 80:5:15 split to give a validation file (as compressai_isp/assets).
    root = tmp_path_factory.mktemp("two")
    make_synthetic_dng(root / "a.dng", 1, "RGGB", (160, 192))
    make_synthetic_dng(root / "b.dng", 2, "GRBG", (160, 192))
    return root


def test_a_folder_too_small_to_split_validates_on_its_training_images(two_photos, capsys):
    train, valid, _ = build_datasets([f"raw:{two_photos}"], (64, 64), cache_dir=None)
    assert valid == train and len(train[0]) == 2
    note = capsys.readouterr().err
    assert "no validation split" in note and "fixed patches of its 2 training images" in note
    assert "not generalisation" in note and len(note.strip().splitlines()) == 1


def test_a_real_validation_split_is_still_used_when_there_is_one(tmp_path, capsys):
    for i in range(3):  # 3 files: one each for train, val and test
        make_synthetic_dng(tmp_path / f"{i}.dng", i, "RGGB", (160, 192))
    train, valid, _ = build_datasets([f"raw:{tmp_path}"], (64, 64), cache_dir=None)
    assert len(train[0]) == 1 and len(valid[0]) == 1 and valid[0] is not train[0]
    assert "no validation split" not in capsys.readouterr().err


def _train(two_photos: Path, save: Path, *extra: str) -> int:
    return main(
        [
            "-m", "rbn", "-q", "1", "--model-kwargs", TINY_RBN_ARG, "-d", f"raw:{two_photos}",
            "--patch-size", "128", "128", "--max-steps", "2", "--val-every", "2", "-n", "0",
            "--cache-dir", "none", "--no-tensorboard", "--no-progress", "--save", str(save),
            *extra,
        ]
    )  # fmt: skip


def test_a_batch_larger_than_the_data_says_which_batch_size_fits(two_photos, tmp_path, capsys):
    assert _train(two_photos, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "fewer than --batch-size 8" in err and "give --batch-size 2 or less" in err


def test_two_photos_train_validate_and_export(two_photos, tmp_path):
    assert _train(two_photos, tmp_path / "run", "--batch-size", "2") == 0
    assert (tmp_path / "run" / "model_best.pth").is_file()
    log = (tmp_path / "run" / "log.csv").read_text()
    assert "val" in log  # the validation rows were written
