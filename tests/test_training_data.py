"""A first training run on a handful of photos: small data gets a clear path, not a dead end."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from compressai_isp.data import make_synthetic_dng
from compressai_isp.train import config_from_args, main, parse_args
from compressai_isp.training.checkpoint import load_checkpoint
from compressai_isp.training.data import DataRecipe, build_datasets

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_RBN_ARG = "N=8,M=8,N_hyper=8,decoder_width=4"


@pytest.fixture(scope="module")
def two_photos(tmp_path_factory) -> Path:
    # Two files: too few for the 80:5:15 split to give a validation file (as compressai_isp/assets).
    root = tmp_path_factory.mktemp("two")
    make_synthetic_dng(root / "a.dng", 1, "RGGB", (160, 192))
    make_synthetic_dng(root / "b.dng", 2, "GRBG", (160, 192))
    return root


def _png_folder(folder: Path, count: int) -> Path:
    """``count`` random 64x64 sRGB images, the sources of a ``synthetic:`` folder."""
    folder.mkdir()
    for i in range(count):
        image = np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        (folder / f"{i:02d}.png").write_bytes(imagecodecs.png_encode(image))
    return folder


def test_a_folder_too_small_to_split_validates_on_its_training_images(two_photos, capsys):
    train, valid, _ = build_datasets([f"raw:{two_photos}"], DataRecipe((64, 64)))
    assert valid == train and len(train[0]) == 2
    note = capsys.readouterr().err
    assert "no validation split" in note and "fixed patches of its 2 training images" in note
    assert "not generalisation" in note and len(note.strip().splitlines()) == 1


def test_a_real_validation_split_is_still_used_when_there_is_one(tmp_path, capsys):
    for i in range(3):  # 3 files: one each for train, val and test
        make_synthetic_dng(tmp_path / f"{i}.dng", i, "RGGB", (160, 192))
    train, valid, _ = build_datasets([f"raw:{tmp_path}"], DataRecipe((64, 64)))
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


def test_camera_normalised_training_reads_that_space_and_records_it_in_the_model(
    two_photos, tmp_path
):
    run = tmp_path / "run"
    assert _train(two_photos, run, "--batch-size", "2", "--input-space", "camera-normalised") == 0
    exported = load_checkpoint(run / "model_best.pth")
    assert exported["config"]["input_space"] == "camera-normalised"
    assert exported["training_data"]["input_space"] == "camera-normalised"
    assert exported["training_data"]["synthetic_isp"] == "libraw"  # the default recipe
    assert exported["training_data"]["synthetic_noise_draws"] == 1


def test_every_folder_of_a_run_gets_the_runs_input_space_and_synthetic_isp(two_photos, tmp_path):
    kodak = _png_folder(tmp_path / "png", 20)
    recipe = DataRecipe((64, 64), input_space="camera-normalised", synthetic_isp="libraw")
    train, _, _ = build_datasets([f"raw:{two_photos}", f"synthetic:{kodak}"], recipe)
    assert [t.input_space for t in train] == ["camera-normalised"] * 2
    assert train[1].isp == "libraw"
    assert len(train[1]) == 16  # 1 validation and 3 test images of the 20 are held out


def test_synthetic_noise_draws_multiply_the_synthetic_training_items(two_photos, tmp_path):
    kodak = _png_folder(tmp_path / "png", 5)
    recipe = DataRecipe((64, 64), synthetic_isp="libraw", synthetic_noise_draws=2)
    train, _, desc = build_datasets([f"raw:{two_photos}", f"synthetic:{kodak}"], recipe)
    assert len(train[1]) == 2 * 3  # 3 training images of the 5, two draws each
    assert desc[1].endswith("(3 images x 2 noise draws)")
    assert len(train[0]) == 2 and desc[0].endswith("(2 images)")  # real RAW: unchanged


def test_noise_draws_never_multiply_a_validation_folder(two_photos, tmp_path):
    kodak = _png_folder(tmp_path / "png", 3)
    recipe = DataRecipe((64, 64), synthetic_isp="libraw", synthetic_noise_draws=2)
    _, valid, _ = build_datasets([f"raw:{two_photos}"], recipe, val_specs=[f"synthetic:{kodak}"])
    assert len(valid) == 1 and len(valid[0]) == 3 and valid[0].noise_draws == 1


def test_model_kwargs_may_not_contradict_the_input_space(two_photos, tmp_path, capsys):
    kwargs = TINY_RBN_ARG + ",input_space=paper"
    code = main(
        ["-m", "rbn", "-q", "1", "--model-kwargs", kwargs, "-d", f"raw:{two_photos}",
         "--input-space", "camera-normalised", "--max-steps", "1", "--save", str(tmp_path)]
    )  # fmt: skip
    assert code == 2
    message = capsys.readouterr().err
    assert "input_space=paper contradicts --input-space camera-normalised" in message


def test_a_fresh_run_uses_the_chosen_recipe_and_a_continued_one_its_weights_space(two_photos):
    fresh = config_from_args(parse_args(["-m", "rbn", "-d", str(two_photos)]))
    assert (fresh.input_space, fresh.synthetic_isp) == ("camera-normalised", "libraw")
    tuned = config_from_args(parse_args(["-m", "rbn", "-q", "6", "--pretrained", "-d", "x"]))
    assert tuned.input_space == "camera-normalised"  # the shipped weights' own space
    paper = config_from_args(parse_args(["-m", "rbn", "--input-space", "paper", "-d", "x"]))
    assert paper.input_space == "paper"


def test_resuming_without_input_space_continues_in_the_checkpoints_space(two_photos, tmp_path):
    run = tmp_path / "run"
    assert _train(two_photos, run, "--batch-size", "2", "--input-space", "paper") == 0
    assert _train(two_photos, run, "--batch-size", "2", "--max-steps", "3") == 0
    assert load_checkpoint(run / "model_best.pth")["config"]["input_space"] == "paper"
