import json
from pathlib import Path

import pytest

from compressai_isp.utils.plot import main, plot_rd


def _result(path, name, bpp, psnr):
    path.write_text(
        json.dumps(
            {
                "name": name,
                "description": "synthetic",
                "results": {"bpp": bpp, "psnr-rgb": psnr, "ms-ssim-rgb": [0.9, 0.95, 0.97]},
            }
        )
    )
    return path


@pytest.fixture
def two_results(tmp_path):
    return [
        _result(tmp_path / "rbn.json", "rbn-mse", [0.2, 0.5, 1.0], [30.0, 33.0, 36.0]),
        _result(tmp_path / "jpeg.json", "LibRaw+JPEG", [0.5, 1.0, 2.0], [28.0, 31.0, 34.0]),
    ]


def test_plot_writes_png_and_svg(tmp_path, two_results):
    png, svg = tmp_path / "out" / "rd.png", tmp_path / "out" / "rd.svg"
    curves = plot_rd(two_results, [png, svg], "psnr", title="RD", ceiling=32.82)
    assert [c.name for c in curves] == ["rbn-mse", "LibRaw+JPEG"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg_text = svg.read_text()
    assert "<svg" in svg_text and "rbn-mse" in svg_text and "LibRaw+JPEG" in svg_text
    assert not [p for p in png.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_ms_ssim_is_plotted_in_db(tmp_path, two_results):
    curves = plot_rd(two_results, [tmp_path / "ms.svg"], "ms-ssim")
    assert curves[0].values[0] == pytest.approx(10.0)  # -10 log10(1 - 0.9)
    assert "MS-SSIM [dB]" in (tmp_path / "ms.svg").read_text()


def test_cli_rejects_an_unknown_metric_and_format_on_one_line(tmp_path, two_results, capsys):
    files = [str(p) for p in two_results]
    assert main(["-f", *files, "-m", "lpips", "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert "lpips" in err and "available" in err and "\n" not in err
    assert main(["-f", *files, "-o", str(tmp_path / "x.gif")]) == 2  # the command line is wrong
    assert "x.gif" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.gif").exists()


def test_cli_writes_every_output(tmp_path, two_results, capsys):
    outs = [str(tmp_path / "a.png"), str(tmp_path / "a.svg")]
    assert main(["-f", *map(str, two_results), "-o", *outs, "--log-bpp"]) == 0
    assert all((tmp_path / n).stat().st_size > 0 for n in ("a.png", "a.svg"))


@pytest.fixture
def isp_only(tmp_path):
    path = tmp_path / "liteispnet-isp-only.json"
    path.write_text(
        json.dumps(
            {
                "name": "LiteISPNet (no compression)",
                "description": "ISP-only ceiling",
                "results": {"psnr-rgb": [31.5], "ms-ssim-rgb": [0.99]},
            }
        )
    )
    return path


def test_ceiling_can_come_from_an_isp_only_result_file(tmp_path, two_results, isp_only):
    svg = tmp_path / "rd.svg"
    args = ["-f", *map(str, two_results), "-o", str(svg), "--ceiling", str(isp_only)]
    assert main(args) == 0
    assert "LiteISPNet (no compression)" in svg.read_text()
    assert main([*args[:-1], str(tmp_path / "absent.json")]) == 1


def test_an_isp_only_result_among_the_curves_is_a_horizontal_line(tmp_path, two_results, isp_only):
    svg = tmp_path / "rd.svg"
    curves = plot_rd([*two_results, isp_only], [svg], "psnr")
    level = curves[-1]
    assert level.name == "LiteISPNet (no compression)" and level.bpp == ()
    assert level.values == (31.5,)
    assert "LiteISPNet (no compression)" in svg.read_text()


def test_the_shipped_results_plot_as_the_readme_says(tmp_path, capsys):
    shipped = sorted(Path(__file__).resolve().parents[1].glob("docs/equal-budget/test/**/*.json"))
    assert any("isp-only" in p.name for p in shipped)
    assert main(["-f", *map(str, shipped), "-o", str(tmp_path / "rd.png")]) == 0


def test_labels_name_the_curves_without_touching_the_files(tmp_path, two_results):
    before = [p.read_text() for p in two_results]
    svg = tmp_path / "rd.svg"
    args = ["-f", *map(str, two_results), "-o", str(svg), "-l", "pretrained", "fine-tuned"]
    assert main(args) == 0
    text = svg.read_text()
    assert "pretrained" in text and "fine-tuned" in text and "rbn-mse" not in text
    assert [p.read_text() for p in two_results] == before


def test_labels_must_match_the_files_one_to_one(tmp_path, two_results, capsys):
    args = ["-f", *map(str, two_results), "-o", str(tmp_path / "rd.png"), "-l", "only one"]
    assert main(args) == 2
    assert "1 labels for 2 result files" in capsys.readouterr().err
    assert not (tmp_path / "rd.png").exists()
