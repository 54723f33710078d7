"""Torch datasets of ``(raw, srgb)`` pairs: RAW folders, paired folders, synthetic RAW, FiveK.

RAWtoBit §4.1 trains on random ``4×128×128`` packed-RAW / ``3×256×256`` sRGB patch pairs with
flips and rotations, and splits the 487 Nikon D700 images of MIT-Adobe FiveK 80:5:15 into
train / validation / test. Every dataset here:

* splits its (sorted) file list deterministically with ``seed`` (:func:`split_files`);
* returns float32 ``raw [4, P/2, P/2]`` and ``srgb [3, P, P]`` in ``[0, 1]`` (``P = patch_size``,
  an even int or an ``(height, width)`` pair of even ints), or whole images with
  ``full_image=True`` (no augmentation; sizes vary, so use ``batch_size=1``);
* with ``augment=True`` applies one of the 8 flips/rotations to the pair. A flipped RGGB mosaic
  is another Bayer pattern (a horizontal flip gives GRBG), so the patch is cut from the *mosaic*
  at the phase :func:`~compressai_isp.data.bayer.red_phase` that makes the transformed window
  start on red again, then re-packed: channel 0 is always red, channel 1 always the green on the
  red rows, in both RAW and target geometry;
* with ``cache_dir`` keeps decoded images in a :class:`~compressai_isp.data.cache.PairCache`;
* with ``input_space="camera-normalised"`` gives the RAW with each file's white balance and
  camera -> sRGB matrix applied (:mod:`~compressai_isp.data.input_space`; default ``"paper"``).
  Patches are normalised with a one-pixel margin of their image, so a patch equals the same
  window of the normalised whole image.

Random choices use torch's global RNG, which DataLoader seeds per worker; ``torch.manual_seed``
makes a run reproducible. Mix datasets with ``torch.utils.data.ConcatDataset``.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .bayer import cfa_crop, dihedral, normalize_cfa, pack_bayer, red_phase, unpack_bayer
from .cache import Entry, PairCache
from .dng import libraw_render, write_synthetic_dng
from .input_space import INPUT_SPACES, CameraColour, camera_normalise, to_input_space
from .metadata import camera_make_model
from .raw import (
    RECIPE_VERSION,
    RawReadError,
    _decode,
    normalize_packed,
    normalize_packed_np,
    srgb_to_float,
    srgb_to_tensor,
)
from .synthetic import SYNTHETIC_ISPS, SyntheticRaw, synthesize_mosaic

__all__ = [
    "RAW_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "split_files",
    "find_files",
    "PairDataset",
    "RawFolder",
    "PairedFolder",
    "SyntheticRawFolder",
    "NoiseDraw",
    "fivek_d700",
]

#: File name extensions treated as camera RAW files (LibRaw formats).
RAW_EXTENSIONS = frozenset(
    ".3fr .ari .arw .bay .cr2 .cr3 .crw .dcr .dcs .dng .erf .fff .iiq .k25 .kdc .mdc .mef .mos "
    ".mrw .nef .nrw .orf .pef .ptx .raf .raw .rw2 .rwl .sr2 .srf .srw .x3f".split()
)
#: File name extensions of sRGB images (targets, or sources of synthetic RAW).
IMAGE_EXTENSIONS = frozenset(".png .tif .tiff .jpg .jpeg .bmp .webp".split())
#: Split names and their share of the files (RAWtoBit §4.1: 80:5:15).
SPLITS = {"train": 0.80, "val": 0.05, "test": 0.15}


def split_files(files: Sequence[Path], split: str, seed: int = 0) -> list[Path]:
    """The ``split`` (``"train"``, ``"val"``, ``"test"`` or ``"all"``) share of ``files``.

    The sorted list is shuffled with ``numpy.random.default_rng(seed)``; the first
    ``round(5 %)`` files are validation, the next ``round(15 %)`` test, the rest training (for
    FiveK's 487 D700 images: 390 / 24 / 73, the paper's 73 test images). With 3 or more files every
    split gets at least one. The result is sorted.
    """
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {', '.join([*SPLITS, 'all'])}; got {split!r}")
    ordered = sorted(files)
    if split == "all":
        return ordered
    n = len(ordered)
    n_val = math.floor(n * SPLITS["val"] + 0.5)
    n_test = math.floor(n * SPLITS["test"] + 0.5)
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    perm = np.random.default_rng(seed).permutation(n)
    bounds = {"val": (0, n_val), "test": (n_val, n_val + n_test), "train": (n_val + n_test, n)}
    lo, hi = bounds[split]
    return sorted(ordered[i] for i in perm[lo:hi])


def find_files(root: str | os.PathLike[str], extensions: Iterable[str]) -> list[Path]:
    """Files under ``root`` (recursively, hidden ones skipped) with one of ``extensions``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    exts = {e.lower() for e in extensions}
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in exts
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _patch_hw(patch_size: int | Sequence[int]) -> tuple[int, int]:
    hw = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
    if len(hw) != 2 or any(not isinstance(v, (int, np.integer)) or v < 2 or v % 2 for v in hw):
        raise ValueError(f"patch_size must be an even int >= 2 or two of them; got {patch_size!r}")
    return int(hw[0]), int(hw[1])


class PairDataset(Dataset):
    """Base class: subclasses list ``self.items`` and implement :meth:`_build` for one item.

    See the module docstring for the common behaviour and arguments.
    """

    recipe: str = ""

    def __init__(
        self,
        items: Sequence,
        *,
        patch_size: int | Sequence[int] = 256,
        full_image: bool = False,
        augment: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        skip_unreadable: bool = False,
        name: str = "dataset",
        input_space: str = "paper",
    ) -> None:
        if input_space not in INPUT_SPACES:
            raise ValueError(
                f"input_space must be one of {', '.join(INPUT_SPACES)}; got {input_space!r}"
            )
        self.input_space = input_space
        self.patch = _patch_hw(patch_size)
        self.name = name
        self.full_image = full_image
        self.augment = augment and not full_image
        self.cache = PairCache(cache_dir) if cache_dir is not None else None
        self.items = list(items)
        if skip_unreadable:
            kept = []
            for item in self.items:
                try:
                    entry = self._entry(item)
                    if not full_image:
                        self._check_size(entry, item)
                    kept.append(item)
                except (RawReadError, OSError) as err:
                    warnings.warn(f"skipping unreadable {err}", stacklevel=3)
            self.items = kept
        if not self.items:
            raise ValueError(f"{name}: no usable files")

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        mode = "full images" if self.full_image else f"patches {self.patch[0]}x{self.patch[1]}"
        cache = f", cache {self.cache.root}" if self.cache is not None else ""
        return f"{type(self).__name__}({self.name}: {len(self)} items, {mode}{cache})"

    def sources(self, item) -> list[Path]:
        """The files an item is built from (fingerprinted by the cache)."""
        return [Path(item)]

    def _build(self, item) -> Entry:
        raise NotImplementedError

    def recipe_of(self, item) -> str:
        """The cache recipe of one item (the folder's, unless its items differ in how they are
        made)."""
        return self.recipe

    def _entry(self, item) -> Entry:
        if self.cache is None:
            return self._build(item)
        try:
            return self.cache.get_or_create(
                self.sources(item), self.recipe_of(item), lambda: self._build(item)
            )
        except FileNotFoundError as err:
            raise RawReadError(self.sources(item)[0], f"no such file ({err.filename})") from None

    def _check_size(self, entry: Entry, item) -> None:
        h, w = entry.srgb.shape[1:]
        ph, pw = self.patch
        if h < ph or w < pw:
            raise RawReadError(
                self.sources(item)[0],
                f"image is {h}x{w} after the Bayer crop, smaller than the {ph}x{pw} patch",
            )

    def image(self, index: int) -> tuple[torch.Tensor, torch.Tensor, CameraColour]:
        """Item ``index`` whole, from one decode: the paper-space packed RAW ``[4, h, w]``, the
        sRGB target ``[3, 2h, 2w]`` and the file's colour metadata, from which any input space
        is made (:func:`~.input_space.to_input_space`) without decoding again."""
        entry = self._entry(self.items[index])
        raw = normalize_packed(np.asarray(entry.packed), entry.black, entry.white)
        return raw, srgb_to_tensor(np.asarray(entry.srgb)), self._colour(entry)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.full_image:
            raw, srgb, colour = self.image(index)
            return to_input_space(raw, colour, self.input_space), srgb
        item = self.items[index]
        entry = self._entry(item)
        self._check_size(entry, item)
        colour = self._colour(entry) if self.input_space == "camera-normalised" else None
        return _random_patch(entry, self.patch, self.augment, colour)

    def _colour(self, entry: Entry) -> CameraColour:
        if "colour" not in entry.info:  # a subclass that records no colour metadata
            return CameraColour.identity()
        return CameraColour.from_json(entry.info["colour"])


def _normalised_block(
    entry: Entry, rows: slice, cols: slice, colour: CameraColour | None
) -> np.ndarray:
    """Packed rows/cols of ``entry`` normalised (and camera-normalised with ``colour``, from a
    one-pixel margin so that the result equals that window of the whole normalised image)."""
    if colour is None:
        block = np.asarray(entry.packed[:, rows, cols])
        return normalize_packed_np(block, entry.black, entry.white)
    h, w = entry.packed.shape[1:]
    top, left = max(rows.start - 1, 0), max(cols.start - 1, 0)
    bottom, right = min(rows.stop + 1, h), min(cols.stop + 1, w)
    block = np.asarray(entry.packed[:, top:bottom, left:right])
    wide = camera_normalise(normalize_packed_np(block, entry.black, entry.white), colour)
    return wide[:, rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]


def _random_patch(
    entry: Entry, patch: tuple[int, int], augment: bool, colour: CameraColour | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``(raw, srgb)`` patch, flipped/rotated with the CFA kept RGGB (module docstring)."""
    height, width = entry.srgb.shape[1:]
    ph, pw = patch
    options = []
    for t in range(8) if augment else (0,):
        swap = bool(t & 4) != bool(t % 2)  # the window is transposed by the transform
        wh, ww = (pw, ph) if swap else (ph, pw)
        dy, dx = red_phase(t)
        if wh + dy <= height and ww + dx <= width:
            options.append((t, wh, ww, dy, dx))
    t, wh, ww, dy, dx = options[int(torch.randint(len(options), ()))]
    # Window origin in mosaic pixels, with the parity the transform needs.
    y0 = dy + 2 * int(torch.randint((height - wh - dy) // 2 + 1, ()))
    x0 = dx + 2 * int(torch.randint((width - ww - dx) // 2 + 1, ()))

    by, bx = y0 // 2, x0 // 2
    # Normalise with the original channel levels before the transform moves sites around.
    # NumPy, not torch: small tensor ops are slow when several workers share the CPU threads.
    rows, cols = slice(by, by + wh // 2 + dy), slice(bx, bx + ww // 2 + dx)
    mosaic = unpack_bayer(_normalised_block(entry, rows, cols, colour))
    window = mosaic[dy : dy + wh, dx : dx + ww]
    raw = np.ascontiguousarray(pack_bayer(dihedral(window, t)))
    srgb = dihedral(srgb_to_float(np.asarray(entry.srgb[:, y0 : y0 + wh, x0 : x0 + ww])), t)
    return torch.from_numpy(raw), torch.from_numpy(np.ascontiguousarray(srgb))


class RawFolder(PairDataset):
    """Camera RAW files under ``root`` paired with their LibRaw renderings (RAWtoBit §4.1).

    Args:
        root: directory searched recursively for :data:`RAW_EXTENSIONS` files.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (:func:`split_files`).
        patch_size: sRGB patch side (or ``(h, w)``); the RAW patch is half of it.
        full_image: return whole images instead of patches (evaluation).
        augment: random flips and 90° rotations (patch mode only).
        cache_dir: where decoded RAW / rendered targets are cached (``None``: decode every time).
        seed: split seed.
        skip_unreadable: check every file of the split up front (which also fills the cache)
            and skip, with a warning, those that cannot be used (unreadable, unsupported camera,
            smaller than the patch); otherwise such a file raises :class:`RawReadError` when
            its item is loaded.
        bits: 8 or 16, bit depth of LibRaw's rendering (the target is float32 either way).
        camera: keep only files whose header make + model contain all these words, e.g.
            ``"NIKON D700"`` (whole words, case-insensitive: ``"D700"`` does not match D7000).
        files: use these files instead of searching ``root``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        patch_size: int | Sequence[int] = 256,
        full_image: bool = False,
        augment: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        seed: int = 0,
        skip_unreadable: bool = False,
        bits: int = 8,
        camera: str | None = None,
        files: Sequence[str | os.PathLike[str]] | None = None,
        input_space: str = "paper",
    ) -> None:
        if bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16; got {bits}")
        self.root = Path(root)
        self.bits = bits
        self.recipe = f"raw|{RECIPE_VERSION}|{bits}"
        candidates = (
            [Path(f) for f in files] if files is not None else find_files(root, RAW_EXTENSIONS)
        )
        if camera is not None:
            candidates = [f for f in candidates if _camera_matches(f, camera)]
        if not candidates:
            what = f" from a {camera}" if camera else ""
            raise ValueError(f"{root}: no RAW files{what} found")
        super().__init__(
            split_files(candidates, split, seed),
            patch_size=patch_size,
            full_image=full_image,
            augment=augment,
            cache_dir=cache_dir,
            skip_unreadable=skip_unreadable,
            name=f"{root} ({split} split)",
            input_space=input_space,
        )

    def _build(self, item: Path) -> Entry:
        return _decode(item, self.bits)


def _camera_matches(path: Path, camera: str) -> bool:
    try:
        make, model = camera_make_model(path)
    except OSError:
        return False
    # Word sets, not substrings: "NIKON D700" matches make "NIKON CORPORATION" + model "D700"
    # as well as model "NIKON D700", but never "NIKON D7000".
    return set(camera.upper().split()) <= set(f"{make} {model}".upper().split())


def fivek_d700(root: str | os.PathLike[str], split: str = "train", **kwargs) -> RawFolder:
    """The Nikon D700 subset of an MIT-Adobe FiveK folder, split 80:5:15 as in RAWtoBit §4.1.

    ``root`` is searched recursively (e.g. ``fivek_dataset/raw_photos``); files are selected by the
    camera model in their header, so any FiveK layout works. Other arguments: :class:`RawFolder`.
    """
    return RawFolder(root, split=split, camera="NIKON D700", **kwargs)


def read_image(path: Path) -> np.ndarray:
    """An sRGB image file as ``uint8``/``uint16`` ``[3, H, W]``, or :class:`RawReadError`."""
    if not path.is_file():
        raise RawReadError(path, "no such file")
    try:
        import imagecodecs

        img = np.asarray(imagecodecs.imread(str(path)))
    except Exception as err:  # imagecodecs raises codec-specific error types
        raise RawReadError(path, f"cannot decode the image ({type(err).__name__}: {err})") from None
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise RawReadError(path, f"not an RGB image (array shape {img.shape})")
    img = img[..., :3]
    if img.dtype.kind == "f":
        img = np.round(np.clip(img, 0.0, 1.0) * 65535).astype(np.uint16)
    elif img.dtype not in (np.uint8, np.uint16):
        raise RawReadError(path, f"unsupported sample type {img.dtype}")
    return np.ascontiguousarray(img.transpose(2, 0, 1))


class PairedFolder(PairDataset):
    """RAW files with user-supplied sRGB targets (e.g. expert-retouched renderings).

    Each RAW file ``raw_root/a/b.NEF`` is paired with ``srgb_root/a/b.<png|tif|jpg...>``. Without
    ``srgb_root`` the layout ``raw_root/raw/`` + ``raw_root/srgb/`` is used if present, otherwise
    targets sit next to the RAW files. A target must cover the RAW file's visible area (it is then
    cropped like the RAW) or already match the Bayer crop; it must not be rotated. Other
    arguments as :class:`RawFolder`; the cache also tracks changes to the target file.
    """

    def __init__(
        self,
        raw_root: str | os.PathLike[str],
        srgb_root: str | os.PathLike[str] | None = None,
        split: str = "train",
        patch_size: int | Sequence[int] = 256,
        full_image: bool = False,
        augment: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        seed: int = 0,
        skip_unreadable: bool = False,
        input_space: str = "paper",
    ) -> None:
        raw_root = Path(raw_root)
        if srgb_root is None:
            if (raw_root / "raw").is_dir() and (raw_root / "srgb").is_dir():
                raw_root, srgb_root = raw_root / "raw", raw_root / "srgb"
            else:
                srgb_root = raw_root
        srgb_root = Path(srgb_root)
        targets = {}
        for img in find_files(srgb_root, IMAGE_EXTENSIONS):
            targets.setdefault(img.relative_to(srgb_root).with_suffix(""), img)
        pairs, missing = [], []
        for raw in find_files(raw_root, RAW_EXTENSIONS):
            target = targets.get(raw.relative_to(raw_root).with_suffix(""))
            (pairs.append((raw, target)) if target is not None else missing.append(raw))
        if missing:
            shown = ", ".join(str(m) for m in missing[:3]) + (" ..." if len(missing) > 3 else "")
            message = f"{len(missing)} RAW file(s) without an sRGB target in {srgb_root}: {shown}"
            if not skip_unreadable:
                raise ValueError(message)
            warnings.warn(f"skipping {message}", stacklevel=2)
        if not pairs:
            raise ValueError(f"{raw_root}: no RAW files with sRGB targets in {srgb_root}")
        self.recipe = f"paired|{RECIPE_VERSION}"
        by_raw = dict(pairs)
        super().__init__(
            [(raw, by_raw[raw]) for raw in split_files(list(by_raw), split, seed)],
            patch_size=patch_size,
            full_image=full_image,
            augment=augment,
            cache_dir=cache_dir,
            skip_unreadable=skip_unreadable,
            name=f"{raw_root} ({split} split)",
            input_space=input_space,
        )

    def sources(self, item: tuple[Path, Path]) -> list[Path]:
        return list(item)

    def _build(self, item: tuple[Path, Path]) -> Entry:
        raw_path, target_path = item
        d = _decode(raw_path, None)
        target = read_image(target_path)
        top, left, h, w = d.info["crop"]
        if target.shape[1:] == tuple(d.info["raw_size"]):
            target = np.ascontiguousarray(target[:, top : top + h, left : left + w])
        elif target.shape[1:] != (h, w):
            raise RawReadError(
                target_path,
                f"target is {target.shape[1]}x{target.shape[2]} but {raw_path.name} has a "
                f"visible area of {d.info['raw_size'][0]}x{d.info['raw_size'][1]} "
                f"(Bayer crop {h}x{w}); rotated or resized targets cannot be aligned",
            )
        d.srgb = target
        return d


class NoiseDraw(NamedTuple):
    """One item of a :class:`SyntheticRawFolder`: a source image and which draw of camera
    parameters and noise it is made with (0: the image's usual one)."""

    path: Path
    draw: int = 0


class SyntheticRawFolder(PairDataset):
    """sRGB images (e.g. the Kodak suite) turned into synthetic RAW (:mod:`.synthetic`).

    Each image gets its own fixed camera parameters and noise, drawn from ``seed`` and its path,
    so an item is the same in every epoch and process; crops and augmentation vary. The mosaic
    uses ``cfa`` and is packed with the same Bayer crop as a real camera's. The split defaults to
    ``"all"`` (sRGB-only collections are usually used whole); other arguments as
    :class:`RawFolder`, plus ``noise`` to switch shot/read noise off.

    ``isp`` chooses the camera ISP the pair stands for (:data:`~.synthetic.SYNTHETIC_ISPS`):

    * ``"unprocessing"`` (the paper's recipe): Brooks et al.'s inverted pipeline, and the source
      image is the target. Mixed with real RAW, whose targets are LibRaw renders, the network
      is asked to imitate two ISPs at once.
    * ``"libraw"`` (one ISP): the source is unprocessed through the inverse of LibRaw's recipe
      and the target is LibRaw's own render of that very mosaic, noise included, written as a
      DNG (:func:`~.dng.libraw_render`): exactly how a real RAW file's target is made. LibRaw
      does not denoise, so a real target carries its sensor's noise through AHD; a target
      rendered from a clean copy of the mosaic would ask the network to denoise synthetic
      images and not real ones (a second ISP). Noise-free (``noise=False``), the render
      differs from the source only by LibRaw's demosaicing and clipping (measured on the
      Kodak suite in the README).

    ``noise_draws`` makes each source image that many items, each with its own camera
    parameters and noise (draw 0 is the image's usual one, so ``noise_draws=1`` is the folder
    as before and every test set stays the same): 19 training images cover the noise range
    with 19 levels, most of them low, and an ISP-Net sees a high-ISO render only in a few
    of them. Items are :class:`NoiseDraw` pairs of a path and its draw.
    """

    def __init__(
        self,
        srgb_root: str | os.PathLike[str],
        split: str = "all",
        patch_size: int | Sequence[int] = 256,
        full_image: bool = False,
        augment: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        seed: int = 0,
        skip_unreadable: bool = False,
        cfa: str = "RGGB",
        noise: bool = True,
        input_space: str = "paper",
        isp: str = "unprocessing",
        noise_draws: int = 1,
    ) -> None:
        if isp not in SYNTHETIC_ISPS:
            raise ValueError(f"isp must be one of {', '.join(SYNTHETIC_ISPS)}; got {isp!r}")
        if isinstance(noise_draws, bool) or not isinstance(noise_draws, int) or noise_draws < 1:
            raise ValueError(f"noise_draws must be an int >= 1; got {noise_draws!r}")
        self.root = Path(srgb_root)
        self.cfa = normalize_cfa(cfa)
        self.seed = seed
        self.noise = noise
        self.isp = isp
        self.recipe = f"synthetic-v2|{self.cfa}|{seed}|{noise}"  # v2: entries carry colour
        if isp != "unprocessing":  # the target renders the (noisy) input; low-pass filtered
            self.recipe += f"|{isp}|{RECIPE_VERSION}|render-of-input|olpf-121"
        files = find_files(srgb_root, IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(f"{srgb_root}: no sRGB images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        self.noise_draws = noise_draws
        paths = split_files(files, split, seed)
        super().__init__(
            [NoiseDraw(path, draw) for draw in range(noise_draws) for path in paths],
            patch_size=patch_size,
            full_image=full_image,
            augment=augment,
            cache_dir=cache_dir,
            skip_unreadable=skip_unreadable,
            name=f"{srgb_root} ({split} split)",
            input_space=input_space,
        )

    def sources(self, item: NoiseDraw) -> list[Path]:
        return [item.path]

    def recipe_of(self, item: NoiseDraw) -> str:
        return self.recipe + (f"|draw-{item.draw}" if item.draw else "")

    def _synthesize(
        self, item: NoiseDraw
    ) -> tuple[np.ndarray, tuple[int, int, int, int], SyntheticRaw]:
        """The source image of ``item``, its Bayer crop and its synthetic RAW (fixed by ``seed``,
        the path and the draw)."""
        source = read_image(item.path)
        height, width = source.shape[1:]
        try:
            crop = cfa_crop(self.cfa, height, width)
        except ValueError:
            raise RawReadError(item.path, f"image {height}x{width} is too small") from None
        scale = 255.0 if source.dtype == np.uint8 else 65535.0
        key = f"{self.seed}|{item.path.relative_to(self.root)}"
        image_seed = zlib.crc32((key + (f"|{item.draw}" if item.draw else "")).encode())
        image = torch.from_numpy(source.astype(np.float32) / scale)
        syn = synthesize_mosaic(image, self.cfa, image_seed, noise=self.noise, isp=self.isp)
        return source, crop, syn

    def write_dng(self, index: int, path: str | os.PathLike[str]) -> Path:
        """Item ``index``'s synthetic RAW as a DNG file (:func:`~.dng.write_synthetic_dng`),
        returning its path. With ``isp="libraw"`` a :class:`RawFolder` of such files gives the
        same pairs as this folder (LibRaw renders each file into its target), so a synthetic
        test set can be coded and scored like real photos (eval, anchors, the codec)."""
        return write_synthetic_dng(self._synthesize(self.items[index])[2], path)

    def _build(self, item: NoiseDraw) -> Entry:
        target, (top, left, h, w), syn = self._synthesize(item)
        height, width = target.shape[1:]
        scale = 255.0 if target.dtype == np.uint8 else 65535.0
        if self.isp == "libraw":  # on the source's bit depth, as RawFolder renders real RAW
            render = libraw_render(syn, 8 if scale == 255.0 else 16).numpy() * scale
            target = np.zeros_like(target)
            target[:, top : top + h, left : left + w] = np.round(render)
        packed = torch.round(pack_bayer(syn.mosaic, self.cfa) * 65535).to(torch.int32).numpy()
        info = {
            "cfa": self.cfa,
            "crop": [top, left, h, w],
            "raw_size": [height, width],
            "make": "synthetic",
            "model": "",
            "wb_gains": list(syn.wb_gains),
            "colour": CameraColour.from_synthetic(syn).to_json(),
        }
        return Entry(
            packed=packed.astype(np.uint16),
            black=np.zeros(4, np.float32),
            white=np.full(4, 65535.0, np.float32),
            srgb=np.ascontiguousarray(target[:, top : top + h, left : left + w]),
            info=info,
        )
