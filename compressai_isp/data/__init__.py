"""RAW data layer: reading camera RAW files, LibRaw ground truth, synthetic RAW and datasets.

Conventions (shared with the rest of compressai-isp): a packed RAW is float32 ``[4, H/2, W/2]``
in ``[0, 1]`` with channels R, G1, G2, B whatever the camera's CFA; the sRGB target is float32
``[3, H, W]`` in ``[0, 1]``; data pairs are ``(raw, srgb)`` (RAWtoBit §4.1).
"""

from pathlib import Path

from .bayer import (
    BAYER_PATTERNS,
    cfa_crop,
    dihedral,
    mosaic,
    normalize_cfa,
    pack_bayer,
    red_phase,
    unpack_bayer,
)
from .cache import PairCache
from .classical_isp import bilinear_demosaic, classical_isp, libraw_gamma
from .datasets import (
    IMAGE_EXTENSIONS,
    RAW_EXTENSIONS,
    NoiseDraw,
    PairDataset,
    PairedFolder,
    RawFolder,
    SyntheticRawFolder,
    find_files,
    fivek_d700,
    split_files,
)
from .dng import libraw_render, make_synthetic_dng, write_dng
from .input_space import (
    INPUT_SPACES,
    UNRECORDED_INPUT_SPACE,
    CameraColour,
    camera_normalise,
    to_input_space,
)
from .metadata import camera_make_model
from .raw import (
    RECIPE_VERSION,
    RENDER_RECIPE,
    RawImage,
    RawReadError,
    load_pair,
    read_raw,
    render_srgb,
)
from .synthetic import (
    SYNTHETIC_ISPS,
    SyntheticRaw,
    random_scene,
    synthesize_mosaic,
    synthesize_raw,
)

__all__ = [
    "BAYER_PATTERNS",
    "CameraColour",
    "IMAGE_EXTENSIONS",
    "INPUT_SPACES",
    "PairCache",
    "PairDataset",
    "PairedFolder",
    "RAW_EXTENSIONS",
    "RawFolder",
    "SyntheticRawFolder",
    "NoiseDraw",
    "find_files",
    "fivek_d700",
    "split_files",
    "RECIPE_VERSION",
    "RENDER_RECIPE",
    "RawImage",
    "RawReadError",
    "SyntheticRaw",
    "bilinear_demosaic",
    "camera_make_model",
    "camera_normalise",
    "cfa_crop",
    "classical_isp",
    "dihedral",
    "libraw_gamma",
    "load_pair",
    "make_synthetic_dng",
    "libraw_render",
    "SYNTHETIC_ISPS",
    "mosaic",
    "normalize_cfa",
    "pack_bayer",
    "random_scene",
    "read_raw",
    "red_phase",
    "render_srgb",
    "sample_raw_path",
    "demo_raw_path",
    "synthesize_mosaic",
    "synthesize_raw",
    "to_input_space",
    "UNRECORDED_INPUT_SPACE",
    "unpack_bayer",
    "write_dng",
]


def sample_raw_path() -> Path:
    """The small CC0 sample RAW shipped with the package (Kodak DC50, 512×768, GRBG).

    See ``compressai_isp/assets/LICENSE.md`` for its licence (CC0 1.0, thorsted/digicam_corpus).
    """
    return Path(__file__).resolve().parent.parent / "assets" / "Kodak_DC50_DC0010S.KDC"


def demo_raw_path() -> Path:
    """The CC0 photo ``compressai-isp demo`` encodes (Canon PowerShot S40, 1720×2312, RGGB).

    It lies in the default model's test split, so the demo shows a photo the model never saw;
    licence in ``compressai_isp/assets/LICENSE.md`` (CC0 1.0, thorsted/digicam_corpus).
    """
    return Path(__file__).resolve().parent.parent / "assets" / "Canon_S40_CRW_0112.CRW"
