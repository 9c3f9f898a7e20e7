"""Every user mistake on the command line is one line naming the flag, exit code 2, with
nothing written and nothing run: checked before any work, so that a profiled command's
exit code and energy are never lost to a bad output path."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpumetrics import dispatch
from gpumetrics.cli import build_parser

MARKER = "ran.txt"  # written by the profiled command: its presence means the command ran
COMMAND = ["--", sys.executable, "-c",
           f"import pathlib, sys; pathlib.Path({MARKER!r}).write_text('x'); sys.exit(3)"]


def _run(argv, cwd):
    return subprocess.run([sys.executable, "-m", "gpumetrics", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture
def store(tmp_path):
    """A run store of two datasets."""
    from gpumetrics.runs import RunStore

    path = tmp_path / "runs.db"
    with RunStore(path) as runs:
        for dataset in ("cifar", "mnist"):
            run = runs.start_run(f"m-{dataset}", experiment="e", dataset=dataset)
            run.log_epoch(0, val_accuracy=0.5, train_loss=1.0, val_loss=1.1)
            run.finish()
    return path


MISTAKES = {
    "profile --csv DIR": (["profile", "--csv", ".", *COMMAND], "--csv"),
    "profile --out in a missing folder": (["profile", "--out", "no/such/x.json", *COMMAND],
                                          "--out"),
    "profile --country unknown": (["profile", "--country", "Atlantis", *COMMAND],
                                  "--country"),
    "profile --interval 0": (["profile", "--interval", "0", *COMMAND], "--interval"),
    "profile --carbon-intensity -1": (["profile", "--carbon-intensity", "-1", *COMMAND],
                                      "--carbon-intensity"),
    "profile --pue 0.5": (["profile", "--pue", "0.5", *COMMAND], "--pue"),
    "profile without a command": (["profile"], "give a command after --"),
    "report -o DIR": (["report", "{store}", "-o", "."], "--output"),
    "report of several datasets": (["report", "{store}"], "--dataset"),
    "compare of several datasets": (["compare", "{store}"], "--dataset"),
    "compare --weight -1": (["compare", "{store}", "--weight", "-1"], "--weight"),
    "demo --country unknown": (["demo", "--country", "Atlantis", "--out", "d"], "--country"),
    "demo --out a file": (["demo", "--out", "{store}"], "--out"),
    "batched-demo --backend gpu": (["batched-demo", "--backend", "gpu"], "--backend"),
    "batched-demo --samples 0": (["batched-demo", "--samples", "0"], "--samples"),
    "score --backend gpu": (["score", "p.csv", "--y-true", "a", "--y-pred", "b", "--backend",
                             "gpu"], "--backend"),
}
if dispatch.cuda_unavailable_reason() is not None:
    MISTAKES["batched-demo --backend cuda"] = (["batched-demo", "--backend", "cuda"],
                                              "--backend cuda")
    MISTAKES["score --backend cuda"] = (["score", "p.csv", "--y-true", "a", "--y-pred", "b",
                                         "--backend", "cuda"], "--backend cuda")


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_one_line_naming_the_flag(mistake, tmp_path, store):
    argv, flag = MISTAKES[mistake]
    work = tmp_path / "work"
    work.mkdir()
    (work / "p.csv").write_text("a,b\n0,1\n1,1\n")
    before = set(work.iterdir())
    done = _run([a.format(store=store) for a in argv], cwd=work)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # argparse prints its usage first
    assert flag in last, done.stderr
    assert last.startswith("gpumetrics"), last
    assert set(work.iterdir()) == before, "something was run or written"
    if argv[0] == "demo":
        assert done.stdout == ""  # refused before its header


def test_the_profiled_commands_exit_code_and_energy_survive_its_outputs(tmp_path):
    """A good --csv appends its row and leaves no lock or temporary file; the command's own
    exit code (3) is the profile's."""
    done = _run(["profile", "--carbon-intensity", "100", "--csv", "em.csv", "--out",
                 "r.json", *COMMAND], cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"em.csv", MARKER, "r.json"}


def test_concurrent_appends_to_one_emissions_csv_lose_no_row(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gpumetrics.energy import EnergyProfiler

    path = tmp_path / "emissions.csv"

    def one(i):
        with EnergyProfiler(carbon_intensity=100, run_id=f"r{i}", output_csv=path,
                            interval_s=0.05):
            pass

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(8)))
    import csv

    rows = list(csv.DictReader(path.open()))
    assert sorted(r["run_id"] for r in rows) == sorted(f"r{i}" for i in range(8))
    assert [p.name for p in tmp_path.iterdir()] == ["emissions.csv"]


def test_every_option_has_help_and_the_task_follows_the_columns(tmp_path, capsys):
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, (name, action.option_strings or action.dest)
    data = Path(tmp_path / "s.csv")
    data.write_text("y,p0,p1,p2\n0,0.7,0.2,0.1\n2,0.1,0.1,0.8\n1,0.2,0.5,0.3\n")
    from gpumetrics.cli import main

    assert main(["score", str(data), "--y-true", "y", "--y-score", "p0,p1,p2", "--json"]) == 0
    assert '"task": "multiclass"' in capsys.readouterr().out
