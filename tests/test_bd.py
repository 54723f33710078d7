import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from compressai_isp.utils.bd import bd_from_files, bd_psnr, bd_rate, bd_table, main

RATES = [0.1, 0.25, 0.5, 1.0, 2.0]
PSNRS = [28.0, 30.5, 33.0, 35.2, 37.0]


def test_identical_curves_have_zero_deltas():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("factor", [0.7, 0.9, 1.25])
def test_rates_scaled_by_a_constant_give_exactly_that_bd_rate(factor):
    test_rates = [r * factor for r in RATES]
    assert bd_rate(RATES, PSNRS, test_rates, PSNRS) == pytest.approx(100 * (factor - 1), abs=1e-9)


def test_a_constant_psnr_offset_gives_exactly_that_bd_psnr():
    better = [p + 0.75 for p in PSNRS]
    assert bd_psnr(RATES, PSNRS, RATES, better) == pytest.approx(0.75, abs=1e-9)


def test_curves_linear_in_log_rate_have_the_analytic_deltas():
    # PSNR = 30 + 6 * ln(R): scaling rates by k lowers PSNR at equal rate by 6 ln k, and PCHIP
    # reproduces straight lines exactly, so both deltas are known in closed form.
    rates = np.geomspace(0.05, 3.0, 6)
    anchor = 30 + 6 * np.log(rates)
    k = 1.4
    test_rates = rates * k
    assert bd_rate(rates, anchor, test_rates, anchor) == pytest.approx(40.0, abs=1e-9)
    assert bd_psnr(rates, anchor, test_rates, anchor) == pytest.approx(-6 * math.log(k), abs=1e-9)


def test_point_order_does_not_matter():
    shuffled = [3, 0, 4, 1, 2]
    r = [RATES[i] for i in shuffled]
    p = [PSNRS[i] for i in shuffled]
    faster = [x * 0.8 for x in RATES]
    assert bd_rate(r, p, faster, PSNRS) == pytest.approx(-20.0, abs=1e-9)


def test_bad_curves_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate([1.0], [30.0], RATES, PSNRS)
    with pytest.raises(ValueError, match="positive"):
        bd_psnr([0.0, 1.0], [30.0, 31.0], RATES, PSNRS)
    with pytest.raises(ValueError, match="repeated"):
        bd_rate([0.1, 0.2, 0.3], [30.0, 30.0, 31.0], RATES, PSNRS)


def _write(path, name, bpp, psnr, msssim):
    path.write_text(
        json.dumps(
            {
                "name": name,
                "description": "synthetic",
                "results": {"bpp": bpp, "psnr-rgb": psnr, "ms-ssim-rgb": msssim},
            }
        )
    )
    return str(path)


def test_bd_between_result_files_and_cli(tmp_path, capsys):
    msssim = [0.90, 0.94, 0.96, 0.975, 0.985]
    a = _write(tmp_path / "a.json", "anchor", RATES, PSNRS, msssim)
    b = _write(tmp_path / "b.json", "test", [r * 0.5 for r in RATES], PSNRS, msssim)
    out = bd_from_files(a, b)
    assert out["anchor"] == "anchor" and out["test"] == "test"
    assert out["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    assert bd_from_files(a, b, "ms-ssim")["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)

    assert main([a, b, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)


def test_disjoint_curves_name_both_ranges_in_the_error():
    with pytest.raises(ValueError, match=r"quality \(anchor 28-37, test 48-57\)"):
        bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])
    with pytest.raises(ValueError, match=r"rate \(anchor 0.1-2, test 10-200\)"):
        bd_psnr(RATES, PSNRS, [r * 100 for r in RATES], PSNRS)


def test_a_table_gives_each_test_its_row_and_says_why_a_pair_has_none(tmp_path, capsys):
    msssim = [0.90, 0.94, 0.96, 0.975, 0.985]
    anchor = _write(tmp_path / "a.json", "anchor", RATES, PSNRS, msssim)
    half = _write(tmp_path / "b.json", "half", [r * 0.5 for r in RATES], PSNRS, msssim)
    far = _write(tmp_path / "c.json", "far", RATES, [p + 20 for p in PSNRS], msssim)
    single = _write(tmp_path / "d.json", "single", [0.3], [31.0], [0.95])
    isp_only = tmp_path / "e.json"
    isp_only.write_text(json.dumps({"name": "isp", "results": {"psnr-rgb": [33.0]}}))
    rows = bd_table(anchor, [half, far, single, str(isp_only)])
    assert [r["test"] for r in rows] == ["half", "far", "single", "isp"]
    assert "no rates" in rows[3]["error"]
    assert rows[0]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    assert "do not overlap in quality" in rows[1]["error"] and "bd_rate_percent" not in rows[1]
    assert rows[1]["bd_quality_db"] == pytest.approx(20.0)  # the rates still overlap
    assert "at least 2" in rows[2]["error"] and "bd_rate_percent" not in rows[2]
    assert rows[2]["error"].count("at least 2") == 1

    assert main([anchor, half, far, single, "--markdown"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| test | BD-rate vs anchor | BD-PSNR (dB) |" and len(table) == 5
    assert table[2] == f"| half | -50.0 % | {rows[0]['bd_quality_db']:+.2f} |"
    assert table[3].startswith("| far | n/a: the two curves do not overlap in quality")
    assert main([anchor, half, far, "--json"]) == 0
    assert [r["test"] for r in json.loads(capsys.readouterr().out)] == ["half", "far"]


def test_a_table_gives_each_measure_where_its_range_overlaps(tmp_path, capsys):
    anchor = _write(tmp_path / "a.json", "anchor", RATES, PSNRS, PSNRS)
    # Same rates, 20 dB better everywhere: no common quality, a common rate range.
    better = _write(tmp_path / "b.json", "better", RATES, [p + 20 for p in PSNRS], PSNRS)
    # Same qualities at 100x the rate: a common quality range, no common rate.
    costly = _write(tmp_path / "c.json", "costly", [r * 100 for r in RATES], PSNRS, PSNRS)
    rows = bd_table(anchor, [better, costly])
    assert rows[0]["bd_quality_db"] == pytest.approx(20.0) and "bd_rate_percent" not in rows[0]
    assert "do not overlap in quality" in rows[0]["error"]
    assert rows[1]["bd_rate_percent"] == pytest.approx(9900.0) and "bd_quality_db" not in rows[1]
    assert "do not overlap in rate" in rows[1]["error"]

    assert main([anchor, better, costly, "--markdown"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].startswith("| better | n/a: the two curves do not overlap in quality")
    assert table[2].endswith("| +20.00 |")
    assert table[3].startswith("| costly | +9900.0 % | n/a: the two curves do not overlap in rate")


def test_cli_reports_a_bad_file_on_one_line(tmp_path, capsys):
    good = _write(tmp_path / "a.json", "anchor", RATES, PSNRS, PSNRS)
    (tmp_path / "broken.json").write_text("{not json")
    assert main([good, str(tmp_path / "broken.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert "broken.json" in err and "\n" not in err
    assert main([good, str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err


_curves = st.lists(
    st.tuples(st.floats(0.01, 4.0), st.floats(20.0, 45.0)), min_size=3, max_size=8
).filter(
    lambda pts: (
        len({round(p, 6) for _, p in pts}) == len(pts) and len({r for r, _ in pts}) == len(pts)
    )
)


@settings(max_examples=40, deadline=None)
@given(_curves, st.floats(0.2, 5.0))
def test_bd_rate_of_any_curve_scaled_in_rate_is_the_scale(points, factor):
    rates, psnrs = zip(*points, strict=True)
    scaled = [r * factor for r in rates]
    assert bd_rate(rates, psnrs, scaled, psnrs) == pytest.approx(100 * (factor - 1), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(_curves, _curves)
def test_swapping_anchor_and_test_inverts_the_rate_ratio(a, b):
    ra, pa = zip(*a, strict=True)
    rb, pb = zip(*b, strict=True)
    assume(max(min(pa), min(pb)) < min(max(pa), max(pb)))  # quality ranges overlap
    forward = bd_rate(ra, pa, rb, pb)
    backward = bd_rate(rb, pb, ra, pa)
    assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1.0, rel=1e-9)
