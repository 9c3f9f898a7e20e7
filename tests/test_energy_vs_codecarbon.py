"""The gpumetrics-vs-CodeCarbon benchmark's arithmetic and table, without CodeCarbon."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import run_energy_vs_codecarbon as bench  # noqa: E402


def test_doctests():
    assert doctest.testmod(bench).failed == 0


def test_import_does_not_need_codecarbon():
    code = ("import sys; import benchmarks.run_energy_vs_codecarbon; "
            "assert 'codecarbon' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_codecarbon_gets_the_same_power_per_logical_cpu():
    assert bench.codecarbon_cpu_power_w(8.0, 2, 2) == 8.0
    # 2 usable CPUs of 8: CodeCarbon divides by all 8, so it needs 4x the power
    assert bench.codecarbon_cpu_power_w(8.0, 2, 8) == 32.0


@pytest.mark.parametrize(("scope", "workload", "load", "expected"), [
    ("process", "busy", "alone", 4.0 * 2.5),      # W/n x the work's CPU seconds
    ("process", "sleep", "competitor", 4.0 * 2.5),
    ("machine", "busy", "alone", 4.0 * 3.0),      # W/n x seconds x busy cores
    ("machine", "sleep", "alone", 0.0),
    ("machine", "sleep", "competitor", 4.0 * 3.0),
    ("machine", "busy", "competitor", 8.0 * 3.0),
])
def test_ideal_cpu_j(scope, workload, load, expected):
    assert bench.ideal_cpu_j(scope, workload, load, 3.0, 2.5, 4.0, 2) == pytest.approx(expected)


def test_ideal_machine_figure_is_capped_at_the_usable_cpus():
    assert bench.ideal_cpu_j("machine", "busy", "competitor", 3.0, 3.0, 4.0, 1) == 12.0


def test_spread_and_cell():
    stat = bench.spread([4.2, 3.9, 4.0])
    assert stat == {"median": 4.0, "min": 3.9, "max": 4.2}
    assert bench.cell(stat) == "4.00 (3.90–4.20)"
    assert bench.cell(bench.spread([0.0])) == "0.0000"
    assert "e" not in bench.number(1e-9) and "e" not in bench.number(12345.0)


def _run(gm_cpu, cc_cpu, work_cpu_s, workload="busy"):
    return {"wall_s": 3.0, "work_cpu_s": work_cpu_s, "other_threads_cpu_s": 0.02,
            "gpumetrics": {"cpu_j": gm_cpu, "dram_j": 0.5, "total_j": gm_cpu + 0.5},
            "codecarbon": {"cpu_j": cc_cpu, "ram_j": 30.0, "total_j": cc_cpu + 30.0,
                           "ram_coverage": 1.0}}


def _case(scope, workload, load, runs, w_per_cpu=4.0):
    table = [bench.figures(r, (scope, workload, load), w_per_cpu, 2) for r in runs]
    return {"scope": scope, "workload": workload, "load": load, "runs": runs,
            "summary": {f: bench.spread([t[f] for t in table]) for f in bench.FIGURES}}


def test_figures_of_a_run():
    f = bench.figures(_run(12.4, 11.0, 3.0), ("process", "busy", "alone"), 4.0, 2)
    assert f["ideal_cpu_j"] == pytest.approx(12.0)
    assert (f["gm_total_j"], f["cc_total_j"]) == (12.9, 41.0)


def test_ratio_line_gives_joules_where_the_ideal_is_nothing():
    busy = _case("process", "busy", "alone", [_run(12.0, 6.0, 3.0)])
    assert bench.ratio_line(busy, 0.12) == "busy/alone: gpumetrics 100%, CodeCarbon 50%"
    sleep = _case("process", "sleep", "alone", [_run(0.08, 0.1, 0.0)])
    assert bench.ratio_line(sleep, 0.12) == (
        "sleep/alone: ideal ~0, gpumetrics 0.080 J, CodeCarbon 0.100 J")


def test_markdown_has_one_row_per_case_and_the_cpu_model():
    cases = [_case("process", "busy", "alone", [_run(12.0, 11.0, 3.0), _run(12.5, 11.5, 3.1)]),
             _case("process", "sleep", "competitor", [_run(0.1, 0.1, 0.0)] * 2),
             _case("machine", "busy", "alone", [_run(12.0, 5.0, 3.0)] * 2)]
    report = {"machine": {"cpu_model": "Test CPU 9000"}, "codecarbon_version": "3.3.2",
              "parameters": {"seconds": 3.0, "repeats": 2, "cpus_usable": 2, "cpu_count": 2,
                             "cpu_power_w": 8.0, "w_per_cpu": 4.0, "cc_cpu_power_w": 8.0,
                             "measure_power_secs": 0.45, "country": "FRA",
                             "intensity_g_per_kwh": 56.039},
              "cases": cases}
    text = bench.markdown(report)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(cases)  # the header, then one per case
    assert all(row.count("|") == 4 + len(bench.COLUMNS) for row in rows)
    assert "| process | busy | alone | 3.00 | 3.05 (3.00–3.10) | 12.2 (12.0–12.4) |" in text
    assert "Test CPU 9000" in text.split("\n\n")[-1]
    assert "busy/alone: gpumetrics 100%, CodeCarbon 92%" in text


def test_unknown_workload_is_refused():
    with pytest.raises(ValueError, match="unknown workload 'spin'"):
        bench.run_workload("spin", 0.0)


def test_codecarbon_figures_in_joules_and_ram_coverage():
    from types import SimpleNamespace

    kwh = 1 / bench.J_PER_KWH
    data = SimpleNamespace(cpu_energy=4 * kwh, ram_energy=36 * kwh, gpu_energy=0.0,
                           energy_consumed=40 * kwh, duration=3.0, cpu_power=1.33,
                           ram_power=10.0, emissions=1e-6, cpu_count=2,
                           tracking_mode="process")
    f = bench.codecarbon_figures(data)
    assert (f["cpu_j"], f["ram_j"], f["total_j"]) == pytest.approx((4.0, 36.0, 40.0))
    assert f["ram_coverage"] == pytest.approx(1.2)  # 36 J where 10 W x 3 s is 30 J
    assert f["gco2e"] == pytest.approx(1e-3)
