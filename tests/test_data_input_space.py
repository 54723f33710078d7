"""Camera-normalised input: LibRaw's gains and matrix, exact on known DNGs, close to LibRaw."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import rawpy
import torch

from compressai_isp.data import (
    INPUT_SPACES,
    RENDER_RECIPE,
    CameraColour,
    demo_raw_path,
    make_synthetic_dng,
    mosaic,
    read_raw,
    render_srgb,
    sample_raw_path,
    to_input_space,
    write_dng,
)
from compressai_isp.data.classical_isp import bilinear_demosaic, classical_isp, libraw_gamma
from compressai_isp.data.dng import XYZ_TO_LINEAR_SRGB
from compressai_isp.data.metadata import kodak_camera_matrix
from compressai_isp.data.synthetic import NIKON_D700_XYZ_TO_CAM, SRGB_TO_XYZ

# Four linear-sRGB patch colours inside the D700's gamut at the gains below.
PATCHES = np.array([[0.20, 0.30, 0.10], [0.05, 0.12, 0.30], [0.40, 0.40, 0.40], [0.30, 0.15, 0.20]])
CORNERS = [(0, 0), (0, 16), (16, 0), (16, 16)]  # of each 16x16 patch in the 32x32 image
NEUTRAL = (0.45, 1.0, 0.62)  # AsShotNeutral: camera RGB of white, 1 / gains
D700 = NIKON_D700_XYZ_TO_CAM.double().numpy()


def _camera_from_srgb(xyz_to_camera: np.ndarray) -> np.ndarray:
    m = xyz_to_camera @ SRGB_TO_XYZ.double().numpy()
    return m / m.sum(axis=1, keepdims=True)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a.double() - b.double()).pow(2).mean()))


def _patch_dng(path, white: int = 65535) -> np.ndarray:
    """Write a DNG of four flat patches whose camera values are PATCHES through the D700
    matrix and the gains of NEUTRAL; return what the transform must give from its codes."""
    gains = 1 / np.array(NEUTRAL)
    codes = np.round((_camera_from_srgb(D700) @ PATCHES.T).T / gains * white)  # [patch, RGB]
    assert codes.min() > 0 and codes.max() < white
    camera = np.zeros((3, 32, 32), np.uint16)
    for (y, x), code in zip(CORNERS, codes, strict=True):
        camera[:, y : y + 16, x : x + 16] = code[:, None, None]
    write_dng(
        path,
        mosaic(camera, "RGGB"),
        "RGGB",
        white_level=white,
        color_matrix=D700,
        as_shot_neutral=NEUTRAL,
    )
    balanced = np.clip(codes / white * gains / gains.min(), 0, 1)
    return np.clip((np.linalg.inv(_camera_from_srgb(D700)) @ balanced.T).T, 0, 1)


def _flat_patches(packed: torch.Tensor):
    """Each patch's packed interior (one packed pixel in from its edges) and its index."""
    for k, (y, x) in enumerate(CORNERS):
        yield k, packed[:, y // 2 + 1 : y // 2 + 7, x // 2 + 1 : x // 2 + 7]


def test_a_dng_with_known_gains_and_matrix_round_trips_exactly(tmp_path):
    expected = _patch_dng(tmp_path / "patches.dng")
    raw = read_raw(tmp_path / "patches.dng")
    gains = 1 / np.array(NEUTRAL)
    assert raw.colour.wb_source == "as-shot" and raw.colour.matrix_source == "color_matrix"
    np.testing.assert_allclose(raw.colour.wb_gains, (gains / gains.min())[[0, 1, 1, 2]], rtol=1e-6)
    camera_to_srgb = np.linalg.inv(_camera_from_srgb(D700))
    np.testing.assert_allclose(raw.colour.camera_to_srgb, camera_to_srgb, atol=1e-6)
    normalised = raw.input("camera-normalised")
    assert normalised.shape == raw.packed.shape and normalised.dtype == torch.float32
    for k, inner in _flat_patches(normalised):
        want = torch.tensor(expected[k][[0, 1, 1, 2]], dtype=torch.float32)
        torch.testing.assert_close(inner, want.view(4, 1, 1).expand_as(inner), atol=2e-6, rtol=0)
        # ... which is the patch's own linear-sRGB colour, to the 16-bit quantisation.
        colour = torch.tensor(PATCHES[k][[0, 1, 1, 2]], dtype=torch.float32)
        torch.testing.assert_close(inner, colour.view(4, 1, 1).expand_as(inner), atol=1e-4, rtol=0)


def test_paper_space_is_the_packed_raw_itself_and_unknown_spaces_are_named(tmp_path):
    _patch_dng(tmp_path / "p.dng")
    raw = read_raw(tmp_path / "p.dng")
    assert INPUT_SPACES == ("paper", "camera-normalised")
    assert raw.input("paper") is raw.packed
    assert not torch.equal(raw.input("camera-normalised"), raw.packed)
    with pytest.raises(ValueError, match="paper, camera-normalised; got 'srgb'"):
        raw.input("srgb")


def test_numpy_and_batched_inputs_give_the_same_values(tmp_path):
    _patch_dng(tmp_path / "p.dng")
    raw = read_raw(tmp_path / "p.dng")
    one = to_input_space(raw.packed, raw.colour, "camera-normalised")
    as_numpy = to_input_space(raw.packed.numpy(), raw.colour, "camera-normalised")
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float32
    np.testing.assert_allclose(as_numpy, one.numpy(), atol=1e-6)
    batch = to_input_space(raw.packed.expand(2, 4, 16, 16), raw.colour, "camera-normalised")
    torch.testing.assert_close(batch[1], one, atol=1e-6, rtol=0)


def _fake_libraw(**fields) -> SimpleNamespace:
    base = {
        "camera_whitebalance": [2.0, 1.0, 1.5, 0.0],
        "daylight_whitebalance": [1.8, 1.0, 1.2, 0.0],
        "color_matrix": np.zeros((3, 4)),
        "rgb_xyz_matrix": np.zeros((4, 3)),
    }
    return SimpleNamespace(**{**base, **fields})


RGGB_COLOURS = np.array([0, 1, 3, 2])  # LibRaw colour index of packed R, G1, G2, B ("RGBG")


def test_gains_follow_libraws_choice_and_normalisation():
    as_shot = CameraColour.from_libraw(_fake_libraw(), RGGB_COLOURS)
    assert as_shot.wb_source == "as-shot" and as_shot.wb_gains == (2.0, 1.0, 1.0, 1.5)
    no_red = CameraColour.from_libraw(_fake_libraw(camera_whitebalance=[0, 1, 0, 0]), RGGB_COLOURS)
    assert no_red.wb_source == "daylight" and no_red.wb_gains == pytest.approx((1.8, 1, 1, 1.2))
    raw_units = _fake_libraw(camera_whitebalance=[1810.0, 993.0, 1785.0, 993.0])
    gains = CameraColour.from_libraw(raw_units, RGGB_COLOURS).wb_gains
    assert gains == pytest.approx((1810 / 993, 1.0, 1.0, 1785 / 993))  # smallest is 1
    nothing = _fake_libraw(camera_whitebalance=[0, 0, 0, 0], daylight_whitebalance=[0, 0, 0, 0])
    assert CameraColour.from_libraw(nothing, RGGB_COLOURS).wb_gains == (1.0,) * 4


def test_matrix_follows_libraws_order_of_precedence():
    dng_matrix = np.array([[1.6, -0.4, -0.2, 0], [-0.1, 1.3, -0.2, 0], [0.0, -0.3, 1.3, 0]])
    xyz_to_camera = np.vstack([D700, np.zeros(3)])
    kodak = [[1.8, -0.3, -0.5], [-0.4, 1.8, -0.4], [-0.7, -1.4, 3.1]]

    def colour(**fields):
        return CameraColour.from_libraw(_fake_libraw(**fields), RGGB_COLOURS, kodak)

    first = colour(color_matrix=dng_matrix, rgb_xyz_matrix=xyz_to_camera)
    assert first.matrix_source == "color_matrix"
    np.testing.assert_allclose(first.camera_to_srgb, dng_matrix[:, :3])
    table = colour(rgb_xyz_matrix=xyz_to_camera)
    assert table.matrix_source == "rgb_xyz_matrix"
    np.testing.assert_allclose(table.camera_to_srgb, np.linalg.inv(_camera_from_srgb(D700)))
    np.testing.assert_allclose(np.sum(table.camera_to_srgb, axis=1), 1.0)  # white stays white
    tag = colour()
    assert tag.matrix_source == "kodak_tag_37400" and tag.camera_to_srgb[2] == (-0.7, -1.4, 3.1)
    none = CameraColour.from_libraw(_fake_libraw(), RGGB_COLOURS, None)
    assert (
        none.matrix_source == "none"
        and none.camera_to_srgb == CameraColour.identity().camera_to_srgb
    )


def test_colour_survives_json():
    colour = CameraColour.from_libraw(
        _fake_libraw(rgb_xyz_matrix=np.vstack([D700, [0, 0, 0]])), RGGB_COLOURS
    )
    assert CameraColour.from_json(colour.to_json()) == colour


def test_kodak_dc50_matrix_is_read_from_its_own_tag_where_rawpy_has_none():
    """LibRaw renders the DC50 with TIFF tag 37400's matrix; rawpy reports no matrix at all."""
    path = sample_raw_path()
    with rawpy.imread(str(path)) as r:
        assert not np.any(r.color_matrix) and not np.any(r.rgb_xyz_matrix)
        assert list(r.camera_whitebalance) == [1.0, 1.0, 1.0, 1.0]
    assert kodak_camera_matrix(path)[0] == pytest.approx([1.8125, -0.3365, -0.476])
    colour = read_raw(path).colour
    assert colour.matrix_source == "kodak_tag_37400" and colour.wb_gains == (1.0,) * 4
    assert kodak_camera_matrix(demo_raw_path()) is None  # a CRW: no TIFF header


def test_kodak_tag_reader_ignores_files_without_it(tmp_path):
    dng = make_synthetic_dng(tmp_path / "x.dng", 1, size=(32, 32))
    assert kodak_camera_matrix(dng) is None
    (tmp_path / "junk.kdc").write_bytes(b"II*\0" + b"\xff" * 64)
    assert kodak_camera_matrix(tmp_path / "junk.kdc") is None


def test_normalised_input_through_a_classical_isp_matches_libraws_render():
    """Bilinear demosaic + LibRaw's gamma on the normalised input vs LibRaw's own render: only
    the demosaicing differs (37.6 dB measured); the paper input is 28 dB off (colour)."""
    path = sample_raw_path()
    raw = read_raw(path)
    libraw = render_srgb(path, bits=16)
    normalised = _psnr(classical_isp(raw.input("camera-normalised")), libraw)
    paper = _psnr(classical_isp(raw.input("paper")), libraw)
    assert normalised > 37.0 and paper < 29.0


def test_libraw_gamma_is_libraws_curve(tmp_path):
    """A grey ramp in a DNG whose camera is linear sRGB: LibRaw's 16-bit render of each level
    is libraw_gamma of it, within LibRaw's own integer rounding."""
    levels = np.linspace(0, 60000, 16).round()
    rgb = np.repeat(np.repeat(levels.reshape(4, 4), 8, 0), 8, 1).astype(np.uint16)
    path = write_dng(
        tmp_path / "ramp.dng",
        mosaic(np.stack([rgb] * 3), "RGGB"),
        "RGGB",
        white_level=65535,
        color_matrix=XYZ_TO_LINEAR_SRGB,
    )
    with rawpy.imread(str(path)) as r:
        out = r.postprocess(output_bps=16, **RENDER_RECIPE)[3::8, 3::8, 1] / 65535
    ours = libraw_gamma(torch.tensor(levels / 65535)).view(4, 4).numpy()
    np.testing.assert_allclose(out, ours, atol=3 / 65535)
    assert float(libraw_gamma(torch.tensor(1.0))) == pytest.approx(1.0)
    assert float(libraw_gamma(torch.tensor(0.01))) == pytest.approx(0.045)  # linear toe: 4.5 x


def test_bilinear_demosaic_keeps_flat_colours_to_the_border():
    packed = torch.tensor([0.2, 0.5, 0.5, 0.7]).view(4, 1, 1).expand(4, 5, 6)
    rgb = bilinear_demosaic(packed)
    assert rgb.shape == (3, 10, 12)
    torch.testing.assert_close(rgb, torch.tensor([0.2, 0.5, 0.7]).view(3, 1, 1).expand(3, 10, 12))
    with pytest.raises(ValueError, match="float"):
        bilinear_demosaic(torch.zeros(4, 2, 2, dtype=torch.int32))


def test_bad_colour_metadata_is_named():
    bad = CameraColour((1.0, 0.0, 1.0, 1.0), CameraColour.identity().camera_to_srgb, "x", "y")
    with pytest.raises(ValueError, match="white-balance gains"):
        to_input_space(torch.zeros(4, 2, 2), bad, "camera-normalised")
    with pytest.raises(ValueError, match=r"\[\.\.\., 4, h, w\]"):
        to_input_space(torch.zeros(3, 2, 2), CameraColour.identity(), "camera-normalised")
