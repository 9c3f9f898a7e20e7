"""The demo gives the same answer from one launch to the next, also beside a process that
keeps a core busy: the same acc-gCO2e ranking every time, each run's share of the demo's
gCO2e within 1.3x across launches, and no more gCO2e per CPU second of the run's own
process beside the busy core than alone (its work is not the runs'). Each demo is a fresh
``gpumetrics demo`` process, alone and loaded in turns; the full-size measurement is
``benchmarks/run_demo_repeatability.py``.

A run's own gCO2e moves with the host: on this project's shared 2-core VMs the CPU time of
one fixed piece of work varied 1.3-1.9x across the same minutes (the benchmark's host
floor), and every run of a demo moves with it, loaded or not (a median of 0.2 CPU seconds
came out 0.76x alone what it was beside the busy core in one CI run). The shares, which
the ranking's min-max scaling sees, the ranking itself, and the gCO2e charged per second
of the run's own CPU time do not: they are what is asserted; the raw figures are in the
assertion messages. Charging the busy core's CPU time to the runs (as ``scope="machine"``
does: 1.72 J of CPU for the logistic run beside it, 0.84 J alone) would double their CPU
energy per second of their own CPU time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run_demo_repeatability import repeat_demo, summarise  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_demo_ranks_alike_every_time_and_charges_only_its_runs():
    summary = summarise(repeat_demo(5, samples=20_000, epochs=8))
    assert summary["rankings_identical"], summary["rankings"]
    for name, row in summary["runs"].items():
        for key in ("quiet", "loaded"):
            assert row[key]["share_spread"] <= 1.3, (name, key, row[key])
        assert 1 / 1.1 <= row["per_cpu_s_loaded_over_quiet"] <= 1.1, (name, row)
