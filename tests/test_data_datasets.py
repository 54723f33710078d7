"""Datasets: deterministic splits, aligned crops, CFA-consistent augmentation, cache, bad files."""

from __future__ import annotations

import json
import os
import warnings
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import ConcatDataset, DataLoader

from compressai_isp.data import (
    BAYER_PATTERNS,
    PairDataset,
    PairedFolder,
    RawFolder,
    RawReadError,
    SyntheticRawFolder,
    dihedral,
    fivek_d700,
    libraw_render,
    load_pair,
    make_synthetic_dng,
    mosaic,
    pack_bayer,
    read_raw,
    split_files,
    synthesize_mosaic,
    unpack_bayer,
    write_dng,
)
from compressai_isp.data.cache import Entry
from compressai_isp.data.input_space import to_input_space


def _identity_pair(folder: Path, name: str, cfa: str, height: int, width: int, seed: int) -> None:
    """A RAW whose sensor values *are* its 16-bit target sampled through the CFA (black 0).

    With no ISP in between, every correct (raw, srgb) pair satisfies
    ``raw == pack_bayer(mosaic(srgb))`` exactly, whatever crop or transform produced it.
    """
    target = np.random.default_rng(seed).integers(0, 65536, (3, height, width), dtype=np.uint16)
    (folder / "raw").mkdir(exist_ok=True)
    (folder / "srgb").mkdir(exist_ok=True)
    write_dng(folder / "raw" / f"{name}.dng", mosaic(target, cfa), cfa, white_level=65535)
    (folder / "srgb" / f"{name}.png").write_bytes(
        imagecodecs.png_encode(np.ascontiguousarray(target.transpose(1, 2, 0)))
    )


def _as_int(x: torch.Tensor) -> np.ndarray:
    return np.round(x.numpy().astype(np.float64) * 65535).astype(np.int64)


# ----------------------------------------------------------------------------------- splits


def test_split_reproduces_the_paper_sizes_for_487_images():
    files = [Path(f"img{i:03d}.dng") for i in range(487)]
    parts = {s: split_files(files, s, seed=0) for s in ("train", "val", "test")}
    assert {s: len(p) for s, p in parts.items()} == {"train": 390, "val": 24, "test": 73}
    assert sorted(sum(parts.values(), [])) == sorted(files)


def test_split_is_deterministic_by_seed_and_independent_of_listing_order():
    files = [Path(f"{i}.nef") for i in range(40)]
    a = split_files(files, "test", seed=1)
    assert a == split_files(list(reversed(files)), "test", seed=1)
    assert a != split_files(files, "test", seed=2)
    assert split_files(files, "all") == sorted(files)


def test_every_split_gets_a_file_from_three_up():
    files = [Path(f"{i}.nef") for i in range(3)]
    assert all(len(split_files(files, s)) == 1 for s in ("train", "val", "test"))
    with pytest.raises(ValueError, match="split must be one of"):
        split_files(files, "training")


# ----------------------------------------------------------------------- alignment and CFA


@pytest.mark.parametrize("cfa", BAYER_PATTERNS)
def test_augmented_patches_keep_raw_and_target_consistent_for_every_cfa(tmp_path, cfa):
    _identity_pair(tmp_path, "a", cfa, 31, 37, seed=1)
    ds = PairedFolder(tmp_path, split="all", patch_size=(8, 12), augment=True)
    for _ in range(40):
        raw, srgb = ds[0]
        assert tuple(raw.shape) == (4, 4, 6) and tuple(srgb.shape) == (3, 8, 12)
        assert np.array_equal(_as_int(raw), pack_bayer(mosaic(_as_int(srgb))))


class _InMemory(PairDataset):
    """A PairDataset subclass over one in-memory identity pair (RAW = target through the CFA)."""

    def __init__(self, target: np.ndarray, **kwargs) -> None:
        self.target = target
        super().__init__(["mem"], **kwargs)

    def _build(self, item) -> Entry:
        packed = pack_bayer(mosaic(self.target))
        return Entry(
            packed, np.zeros(4, np.float32), np.full(4, 65535.0, np.float32), self.target, {}
        )


@settings(max_examples=30, deadline=None)
@given(
    half=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    patch_half=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    seed=st.integers(0, 2**16),
)
def test_any_patch_shape_of_any_image_keeps_the_pair_consistent(half, patch_half, seed):
    height, width = 2 * half[0], 2 * half[1]
    ph, pw = 2 * min(patch_half[0], half[0]), 2 * min(patch_half[1], half[1])
    target = np.random.default_rng(seed).integers(0, 65536, (3, height, width), dtype=np.uint16)
    ds = _InMemory(target, patch_size=(ph, pw))
    torch.manual_seed(seed)
    for _ in range(4):
        raw, srgb = ds[0]
        assert tuple(srgb.shape) == (3, ph, pw) and tuple(raw.shape) == (4, ph // 2, pw // 2)
        assert np.array_equal(_as_int(raw), pack_bayer(mosaic(_as_int(srgb))))


def test_augmentation_uses_all_eight_flips_and_rotations(tmp_path):
    _identity_pair(tmp_path, "a", "RGGB", 26, 26, seed=2)
    target = imagecodecs.imread(tmp_path / "srgb" / "a.png").transpose(2, 0, 1)
    ds = PairedFolder(tmp_path, split="all", patch_size=24)
    seen = set()
    for _ in range(120):
        srgb = _as_int(ds[0][1])
        for t in range(8):
            for y0 in range(3):
                for x0 in range(3):
                    if np.array_equal(srgb, dihedral(target[:, y0 : y0 + 24, x0 : x0 + 24], t)):
                        seen.add(t)
    assert seen == set(range(8))


def test_without_augmentation_crops_start_on_even_target_pixels(tmp_path):
    _identity_pair(tmp_path, "a", "RGGB", 30, 30, seed=3)
    target = imagecodecs.imread(tmp_path / "srgb" / "a.png").transpose(2, 0, 1)
    ds = PairedFolder(tmp_path, split="all", patch_size=8, augment=False)
    for _ in range(20):
        srgb = _as_int(ds[0][1])
        hits = [
            (y0, x0)
            for y0 in range(23)
            for x0 in range(23)
            if np.array_equal(srgb, target[:, y0 : y0 + 8, x0 : x0 + 8])
        ]
        assert len(hits) == 1 and hits[0][0] % 2 == 0 and hits[0][1] % 2 == 0


@pytest.mark.parametrize("cfa", ["RGGB", "GBRG"])
def test_full_image_mode_matches_load_pair(tmp_path, cfa):
    make_synthetic_dng(tmp_path / "x.dng", 4, cfa, size=(40, 44))
    ds = RawFolder(tmp_path, split="all", full_image=True)
    raw, srgb = ds[0]
    raw_ref, srgb_ref = load_pair(tmp_path / "x.dng")
    assert torch.equal(raw, raw_ref) and torch.equal(srgb, srgb_ref)


def _coloured_pair(folder: Path, height: int = 30, width: int = 30) -> Path:
    """A RAW of a camera with a real colour matrix and white balance (D700, as shot), with a
    random target that locates any crop of it."""
    from compressai_isp.data.synthetic import NIKON_D700_XYZ_TO_CAM

    rng = np.random.default_rng(5)
    (folder / "raw").mkdir(exist_ok=True)
    (folder / "srgb").mkdir(exist_ok=True)
    path = write_dng(
        folder / "raw" / "c.dng",
        rng.integers(100, 3900, (height, width), dtype=np.uint16),
        "RGGB",
        black_level=64,
        white_level=4095,
        color_matrix=NIKON_D700_XYZ_TO_CAM.numpy(),
        as_shot_neutral=(0.45, 1.0, 0.62),
    )
    target = rng.integers(0, 65536, (height, width, 3), dtype=np.uint16)
    (folder / "srgb" / "c.png").write_bytes(imagecodecs.png_encode(target))
    return path


def test_camera_normalised_full_images_are_read_raws_normalised_input(tmp_path):
    path = _coloured_pair(tmp_path)
    raw, _ = PairedFolder(tmp_path, split="all", full_image=True, input_space="camera-normalised")[
        0
    ]
    expected = read_raw(path).input("camera-normalised")
    torch.testing.assert_close(raw, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(raw, read_raw(path).packed, atol=1e-2)


def test_camera_normalised_patches_are_windows_of_the_normalised_image(tmp_path):
    """Every augmented patch is the transformed window of the whole normalised image: the
    one-pixel margin gives the patch's border sites the neighbours they have in the image."""
    path = _coloured_pair(tmp_path)
    normalised = unpack_bayer(read_raw(path).input("camera-normalised").numpy())
    target = imagecodecs.imread(tmp_path / "srgb" / "c.png").transpose(2, 0, 1)
    ds = PairedFolder(tmp_path, split="all", patch_size=12, input_space="camera-normalised")
    checked = set()
    for _ in range(40):
        raw, srgb = ds[0]
        srgb = _as_int(srgb)
        (t, y0, x0), *_ = [
            (t, y0, x0)
            for t in range(8)
            for y0 in range(19)
            for x0 in range(19)
            if np.array_equal(srgb, dihedral(target[:, y0 : y0 + 12, x0 : x0 + 12], t))
        ]
        window = pack_bayer(dihedral(normalised[y0 : y0 + 12, x0 : x0 + 12], t))
        np.testing.assert_allclose(raw.numpy(), window, atol=1e-6)
        checked.add((t, y0 in (0, 18) or x0 in (0, 18)))
    assert len({t for t, _ in checked}) > 4 and any(edge for _, edge in checked)


def test_synthetic_raw_in_camera_normalised_space_is_white_balanced_srgb(tmp_path):
    """Gains and matrix undo the synthetic camera: a grey image comes back grey."""
    grey = np.full((32, 32, 3), 128, np.uint8)
    (tmp_path / "grey.png").write_bytes(imagecodecs.png_encode(grey))
    paper = SyntheticRawFolder(tmp_path, full_image=True, noise=False)[0][0]
    ours = SyntheticRawFolder(
        tmp_path, full_image=True, noise=False, input_space="camera-normalised"
    )
    raw = ours[0][0]
    assert float(paper.amax((1, 2)).max() / paper.amax((1, 2)).min()) > 1.4  # camera colours
    # grey to the 16-bit quantisation of the stored mosaic
    torch.testing.assert_close(raw, raw[1:2].expand_as(raw), atol=1e-4, rtol=0)


def test_unknown_input_space_is_refused(tmp_path):
    make_synthetic_dng(tmp_path / "x.dng", 1, size=(40, 40))
    with pytest.raises(ValueError, match="input_space must be one of paper, camera-normalised"):
        RawFolder(tmp_path, split="all", input_space="linear")


def test_patch_defaults_follow_the_paper(tmp_path):
    make_synthetic_dng(tmp_path / "x.dng", 4, size=(260, 270))
    raw, srgb = RawFolder(tmp_path, split="all")[0]
    assert tuple(raw.shape) == (4, 128, 128) and tuple(srgb.shape) == (3, 256, 256)


# ------------------------------------------------------------------------------------ cache


def _count_decodes(monkeypatch) -> list:
    import compressai_isp.data.datasets as datasets

    calls = []
    real = datasets._decode

    def counting(path, bits):
        calls.append(Path(path).name)
        return real(path, bits)

    monkeypatch.setattr(datasets, "_decode", counting)
    return calls


def test_cache_decodes_once_and_is_reused_across_datasets(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    make_synthetic_dng(data / "x.dng", 1, size=(40, 40))
    calls = _count_decodes(monkeypatch)
    first = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0]
    second = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0]
    assert calls == ["x.dng"]
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(first[0], load_pair(data / "x.dng")[0])  # cached values are exact


def test_cache_is_invalidated_when_the_source_changes(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    make_synthetic_dng(data / "x.dng", 1, size=(40, 40))
    old = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0][0]
    before = (data / "x.dng").stat()
    make_synthetic_dng(data / "x.dng", 2, size=(40, 40))
    # Same size and modification time as before: only the content tells them apart.
    os.utime(data / "x.dng", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (data / "x.dng").stat().st_size == before.st_size
    new = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0][0]
    assert torch.equal(new, load_pair(data / "x.dng")[0]) and not torch.equal(new, old)
    assert len(list(cache.glob("*.json"))) == 1  # the stale entry was removed


def test_corrupt_cache_entries_are_rebuilt(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    make_synthetic_dng(data / "x.dng", 1, size=(40, 40))
    good = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0][0]
    (raw_npy,) = cache.glob("*.raw.npy")
    raw_npy.write_bytes(raw_npy.read_bytes()[:100])
    again = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0][0]
    assert torch.equal(good, again)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _zero_fill(path: Path) -> None:
    a = np.load(path)
    np.save(path, np.zeros_like(a))


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _as_float64(path: Path) -> None:
    np.save(path, np.load(path).astype(np.float64))


def _edit_marker(field: str, change):
    def edit(path: Path) -> None:
        marker = path.with_name(path.name.replace(".raw.npy", ".json"))
        meta = json.loads(marker.read_text())
        change(meta)
        marker.write_text(json.dumps(meta))

    edit.__name__ = f"edit_{field}"
    return edit


def _set(key: str, value):
    return lambda meta: meta.__setitem__(key, value)


def _set_info(key: str, value):
    return lambda meta: meta["info"].__setitem__(key, value)


@pytest.mark.parametrize(
    "suffix, damage",
    [
        (".raw.npy", _empty),
        (".raw.npy", _zero_fill),
        (".srgb.npy", _flip_last_byte),
        (".raw.npy", _as_float64),
        (".raw.npy", _edit_marker("white", _set("white", [1.0, 1.0, 1.0, 1.0]))),
        (".raw.npy", _edit_marker("black", _set("black", [7.0, 7.0, 7.0, 7.0]))),
        (".raw.npy", _edit_marker("crop", _set_info("crop", [0, 0, 2, 2]))),
        (".raw.npy", _edit_marker("cfa", _set_info("cfa", "BGGR"))),
    ],
    ids=["0-byte", "zero-filled", "flipped-byte", "float64", "white", "black", "crop", "cfa"],
)
def test_damaged_or_edited_cache_content_is_rebuilt(tmp_path, monkeypatch, suffix, damage):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    make_synthetic_dng(data / "x.dng", 1, size=(40, 40))
    good = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0]
    (array,) = cache.glob(f"*{suffix}")
    damage(array)
    calls = _count_decodes(monkeypatch)
    again = RawFolder(data, split="all", full_image=True, cache_dir=cache)[0]
    assert calls == ["x.dng"]  # the damage was noticed and the entry rebuilt from the file
    assert torch.equal(good[0], again[0]) and torch.equal(good[1], again[1])


def test_cache_is_shared_safely_by_dataloader_workers(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    for i in range(3):
        make_synthetic_dng(data / f"{i}.dng", i, size=(40, 40))
    ds = RawFolder(data, split="all", patch_size=16, cache_dir=cache)
    loader = DataLoader(ConcatDataset([ds] * 4), batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 3 and tuple(batches[0][0].shape) == (4, 4, 8, 8)
    assert len(list(cache.glob("*.json"))) == 3
    assert not list(cache.glob("*.tmp"))


# -------------------------------------------------------------------------------- bad input


def test_unreadable_files_raise_naming_the_file_or_are_skipped_with_a_warning(tmp_path):
    make_synthetic_dng(tmp_path / "good.dng", 1, size=(40, 40))
    (tmp_path / "empty.nef").write_bytes(b"")
    (tmp_path / "junk.dng").write_bytes(os.urandom(3000))
    strict = RawFolder(tmp_path, split="all", patch_size=16)
    assert len(strict) == 3
    with pytest.raises(RawReadError, match="empty.nef"):
        strict[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lenient = RawFolder(tmp_path, split="all", patch_size=16, skip_unreadable=True)
    assert len(lenient) == 1 and lenient.items[0].name == "good.dng"
    messages = " ".join(str(w.message) for w in caught)
    assert "empty.nef: file is empty" in messages and "junk.dng: not a RAW format" in messages


def test_image_smaller_than_the_patch_is_reported(tmp_path):
    make_synthetic_dng(tmp_path / "small.dng", 1, size=(30, 30))
    with pytest.raises(RawReadError, match=r"small.dng.*smaller than the 64x64 patch"):
        RawFolder(tmp_path, split="all", patch_size=64)[0]
    with warnings.catch_warnings(record=True), pytest.raises(ValueError, match="no usable files"):
        RawFolder(tmp_path, split="all", patch_size=64, skip_unreadable=True)


def test_bad_arguments_and_empty_folders_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        RawFolder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no RAW files"):
        RawFolder(tmp_path)
    make_synthetic_dng(tmp_path / "x.dng", 1, size=(40, 40))
    with pytest.raises(ValueError, match="patch_size"):
        RawFolder(tmp_path, split="all", patch_size=15)


def test_paired_folder_reports_missing_and_misaligned_targets(tmp_path):
    _identity_pair(tmp_path, "a", "RGGB", 24, 24, seed=1)
    write_dng(tmp_path / "raw" / "b.dng", np.zeros((24, 24), np.uint16), white_level=4095)
    with pytest.raises(ValueError, match="without an sRGB target"):
        PairedFolder(tmp_path, split="all")
    rotated = np.zeros((26, 24, 3), np.uint8)
    (tmp_path / "srgb" / "b.png").write_bytes(imagecodecs.png_encode(rotated))
    ds = PairedFolder(tmp_path, split="all", patch_size=8)
    with pytest.raises(RawReadError, match=r"b.png: target is 26x24"):
        ds[1]


# ------------------------------------------------------------------ synthetic, FiveK, mixing


def _png_folder(folder: Path, n: int, size=(36, 40)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        (folder / f"im{i}.png").write_bytes(imagecodecs.png_encode(img))
    return folder


def test_synthetic_folder_items_are_deterministic_per_seed(tmp_path):
    root = _png_folder(tmp_path / "png", 2)
    a = SyntheticRawFolder(root, full_image=True, seed=1, cfa="GRBG")
    b = SyntheticRawFolder(root, full_image=True, seed=1, cfa="GRBG")
    c = SyntheticRawFolder(root, full_image=True, seed=2, cfa="GRBG")
    raw, srgb = a[1]
    assert tuple(raw.shape) == (4, 18, 19) and tuple(srgb.shape) == (3, 36, 38)
    assert torch.equal(raw, b[1][0]) and not torch.equal(raw, c[1][0])
    expected = imagecodecs.imread(root / "im1.png")[:, 1:39].transpose(2, 0, 1) / 255.0
    assert torch.allclose(srgb, torch.from_numpy(expected).float())


def test_one_isp_synthetic_folder_targets_libraws_render_of_the_mosaic_it_gives(tmp_path):
    root = _png_folder(tmp_path / "png", 1, size=(36, 40))
    folder = SyntheticRawFolder(root, full_image=True, seed=1, isp="libraw")
    mixed = SyntheticRawFolder(root, full_image=True, seed=1)
    raw, srgb = folder[0]
    source = torch.from_numpy(imagecodecs.imread(root / "im0.png").transpose(2, 0, 1) / 255.0)
    seed = zlib.crc32(b"1|im0.png")
    noisy = synthesize_mosaic(source.float(), "RGGB", seed, isp="libraw")
    assert torch.allclose(raw, noisy.packed, atol=0.5 / 65535)  # the input keeps the noise
    # As for a real RAW file: the target is LibRaw's render of the mosaic the network sees,
    # noise included (LibRaw does not denoise), not of a clean copy of it.
    assert torch.equal(srgb, libraw_render(noisy))
    clean = synthesize_mosaic(source.float(), "RGGB", seed, noise=False, isp="libraw")
    assert not torch.equal(srgb, libraw_render(clean))
    assert torch.allclose(mixed[0][1], source.float())  # unprocessing: the source is the target
    assert folder.recipe != mixed.recipe  # distinct cache entries


def test_noise_draws_add_items_with_their_own_noise_and_keep_draw_zero(tmp_path):
    root = _png_folder(tmp_path / "png", 2)
    usual = SyntheticRawFolder(root, full_image=True, seed=1, isp="libraw")
    drawn = SyntheticRawFolder(root, full_image=True, seed=1, isp="libraw", noise_draws=3)
    assert len(drawn) == 6 and [item.draw for item in drawn.items] == [0, 0, 1, 1, 2, 2]
    assert torch.equal(drawn[1][0], usual[1][0])  # draw 0: the folder as without draws
    assert not torch.equal(drawn[3][0], drawn[1][0])  # draw 1 of the same image differs
    assert torch.equal(drawn[3][0], drawn[3][0])  # and is fixed
    # Each draw's target is LibRaw's render of that draw's own mosaic.
    assert not torch.equal(drawn[3][1], drawn[1][1])


def test_noise_draws_are_cached_apart(tmp_path):
    root = _png_folder(tmp_path / "png", 1)
    cached = SyntheticRawFolder(
        root, full_image=True, isp="libraw", noise_draws=2, cache_dir=tmp_path / "cache"
    )
    first = [cached[i][0] for i in range(2)]
    again = SyntheticRawFolder(
        root, full_image=True, isp="libraw", noise_draws=2, cache_dir=tmp_path / "cache"
    )
    assert all(torch.equal(a, again[i][0]) for i, a in enumerate(first))
    assert not torch.equal(first[0], first[1])


@pytest.mark.parametrize("draws", [0, -1, 1.5, True])
def test_synthetic_folder_refuses_a_bad_noise_draws(tmp_path, draws):
    with pytest.raises(ValueError, match="noise_draws must be an int >= 1"):
        SyntheticRawFolder(_png_folder(tmp_path / "png", 1), noise_draws=draws)


def test_synthetic_folder_refuses_an_unknown_isp(tmp_path):
    with pytest.raises(ValueError, match="isp must be one of unprocessing, libraw; got 'x'"):
        SyntheticRawFolder(_png_folder(tmp_path / "png", 1), isp="x")


def test_fivek_helper_selects_the_nikon_d700_by_header(tmp_path):
    models = ["NIKON D700", "NIKON D7000", "Canon EOS 5D", "D700"] * 3
    for i, model in enumerate(models):
        make = "Canon" if model.startswith("Canon") else "NIKON CORPORATION"
        mosaic_ = np.full((24, 24), 100, np.uint16)
        write_dng(tmp_path / f"a{i:04d}.dng", mosaic_, white_level=4095, make=make, model=model)
    everything = fivek_d700(tmp_path, split="all", patch_size=8)
    assert len(everything) == 6
    parts = [fivek_d700(tmp_path, split=s, patch_size=8).items for s in ("train", "val", "test")]
    assert sorted(sum(parts, [])) == everything.items
    assert all(len(p) >= 1 for p in parts)


def test_real_and_synthetic_data_mix_in_one_loader(tmp_path):
    make_synthetic_dng(tmp_path / "raw" / "x.dng", 1, size=(40, 40))
    root = _png_folder(tmp_path / "png", 2)
    mixed = ConcatDataset(
        [
            RawFolder(tmp_path / "raw", split="all", patch_size=16),
            SyntheticRawFolder(root, patch_size=16),
        ]
    )
    raw, srgb = next(iter(DataLoader(mixed, batch_size=3, shuffle=True)))
    assert tuple(raw.shape) == (3, 4, 8, 8) and tuple(srgb.shape) == (3, 3, 16, 16)


def test_shared_folder_skips_the_non_square_pixel_camera(shared_data):
    raw_dir = shared_data / "raw"
    files = sorted(raw_dir.glob("Kodak__DC50*")) + [raw_dir / "Kodak__DC120__DC120IMG__P003914.KDC"]
    with pytest.warns(UserWarning, match="non-square"):
        ds = RawFolder(raw_dir, split="all", files=files, skip_unreadable=True, patch_size=128)
    assert len(ds) == 4
    raw, srgb = ds[0]
    assert tuple(raw.shape) == (4, 64, 64) and tuple(srgb.shape) == (3, 128, 128)


def test_shared_kodak_becomes_synthetic_raw(shared_data):
    ds = SyntheticRawFolder(shared_data / "kodak", split="test", patch_size=64)
    assert 1 <= len(ds) <= 24
    raw, srgb = ds[0]
    assert tuple(raw.shape) == (4, 32, 32) and tuple(srgb.shape) == (3, 64, 64)


def test_a_whole_image_comes_with_its_colour_from_one_decode(tmp_path):
    make_synthetic_dng(tmp_path / "x.dng", 1, size=(40, 48))
    paper = RawFolder(tmp_path, split="all", full_image=True)
    normalised = RawFolder(tmp_path, split="all", full_image=True, input_space="camera-normalised")
    raw, srgb, colour = paper.image(0)
    assert torch.equal(raw, paper[0][0]) and torch.equal(srgb, paper[0][1])
    assert torch.equal(to_input_space(raw, colour, "camera-normalised"), normalised[0][0])


def test_a_raw_folder_of_its_written_dngs_gives_the_one_isp_synthetic_folders_pairs(tmp_path):
    root = _png_folder(tmp_path / "png", 2, size=(36, 40))
    common = {"full_image": True, "seed": 1, "input_space": "camera-normalised"}
    folder = SyntheticRawFolder(root, isp="libraw", **common)
    for i in range(2):
        folder.write_dng(i, tmp_path / "dng" / f"im{i}.dng")
    dngs = RawFolder(
        tmp_path / "dng", split="all", full_image=True, input_space="camera-normalised"
    )
    for i in range(2):
        (raw, srgb), (dng_raw, dng_srgb) = folder[i], dngs[i]
        assert torch.equal(srgb, dng_srgb)  # LibRaw's render of the same file
        assert torch.allclose(raw, dng_raw, atol=1e-5)  # the same mosaic, colour from the DNG
