"""Run store, mixed scores, early stopping and diagnosis."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpumetrics.runs import (
    EarlyStopping,
    Epoch,
    RunStore,
    diagnose,
    diagnose_predictions,
    mixed_scores,
    optimal_epoch,
)


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.db") as s:
        yield s


def _log(run, losses, acc, gco2e_per_epoch=1.0):
    for i, (tl, vl) in enumerate(losses):
        run.log_epoch(i, train_loss=tl, val_loss=vl, train_accuracy=acc[i],
                      gco2e=gco2e_per_epoch * (i + 1))


def test_store_round_trip_and_vgap(store, tmp_path):
    run = store.start_run("a", experiment="sweep", dataset="iris", params={"lr": 0.1})
    _log(run, [(1.0, 1.1), (0.6, 0.8), (0.4, 0.7)], [0.5, 0.7, 0.8])
    run.finish(flops=3e9)
    again = RunStore(tmp_path / "runs.db").run("a", "sweep")
    assert again.status == "finished" and again.params == {"lr": 0.1}
    assert [e.epoch for e in again.epochs] == [0, 1, 2]
    assert again.epochs[2].vgap == pytest.approx(0.3)
    assert again.total("flops") == 3e9 and again.summary["flops_convention"]
    assert again.total("gco2e") == 3.0  # the last epoch's cumulative figure
    assert again.total("train_accuracy") == 0.8


def test_bad_input_is_a_clear_error(store, tmp_path):
    run = store.start_run("a", dataset="iris")
    run.log_epoch(0, train_loss=1.0)
    with pytest.raises(ValueError, match="already logged"):
        run.log_epoch(0, train_loss=0.5)
    with pytest.raises(ValueError, match="is marked running"):
        store.start_run("a", dataset="iris")
    with pytest.raises(ValueError, match="no run 'b'"):
        store.run("b")
    with pytest.raises(ValueError, match="no run matches dataset='mnist'"):
        store.runs(dataset="mnist")
    with pytest.raises(ValueError, match="train_loss must be a number"):
        run.log_epoch(1, train_loss="low")
    with pytest.raises(ValueError, match="opened for reading"):
        store.run("a").log_epoch(1, train_loss=0.1)
    run.finish()
    with pytest.raises(ValueError, match="takes no more epochs"):
        run.log_epoch(1, train_loss=0.1)
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("hello")
    with pytest.raises(ValueError, match="not an SQLite database"):
        RunStore(not_sqlite)
    assert not_sqlite.read_text() == "hello"
    with RunStore(tmp_path / "empty.db") as empty, pytest.raises(ValueError, match="no runs"):
        empty.compare()


def test_a_killed_writer_loses_at_most_the_epoch_in_flight(tmp_path):
    path = tmp_path / "runs.db"
    code = textwrap.dedent(f"""
        import os, signal
        from gpumetrics.runs import RunStore
        run = RunStore({str(path)!r}).start_run("r", dataset="d")
        for epoch in range(100):
            run.log_epoch(epoch, train_loss=1.0 / (epoch + 1))
            if epoch == 6:
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", code])
    assert done.returncode == -9
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    run = RunStore(path).run("r")
    assert [e.epoch for e in run.epochs] == list(range(7)) and run.status == "running"


def test_writers_in_several_processes(tmp_path):
    path = tmp_path / "runs.db"
    RunStore(path).close()
    code = textwrap.dedent("""
        import sys
        from gpumetrics.runs import RunStore
        run = RunStore(sys.argv[1]).start_run(sys.argv[2], dataset="d")
        for epoch in range(40):
            run.log_epoch(epoch, train_loss=float(epoch), train_accuracy=0.5)
        run.finish()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"w{i}"])
             for i in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    runs = RunStore(path).runs(dataset="d")
    assert sorted(r.name for r in runs) == ["w0", "w1", "w2"]
    assert all(len(r.epochs) == 40 and r.status == "finished" for r in runs)


def test_mixed_scores_by_hand():
    # acc 0.9/0.8/0.7 with gCO2e 10/20/30: minmax 0/0.5/1
    scores = mixed_scores([0.9, 0.8, 0.7], [10.0, 20.0, 30.0])
    assert scores == pytest.approx([0.8 * 0.9 + 0.2, 0.8 * 0.8 + 0.1, 0.8 * 0.7])
    assert mixed_scores([0.6], [5.0]) == pytest.approx([0.8 * 0.6 + 0.2])  # min == max
    assert mixed_scores([0.5, 0.7], [3.0, 3.0], weight=0.5) == pytest.approx([0.75, 0.85])
    with pytest.raises(ValueError, match="weight must be in"):
        mixed_scores([0.5], [1.0], weight=1.5)
    with pytest.raises(ValueError, match="finite"):
        mixed_scores([0.5, math.nan], [1.0, 2.0])


def test_compare_ranks_the_runs_of_a_dataset(store):
    for name, acc, g in (("cheap", 0.80, 1.0), ("best", 0.92, 2.0), ("costly", 0.93, 10.0)):
        run = store.start_run(name, dataset="fraud")
        _log(run, [(1.0, 1.0), (0.5, 0.6)], [acc - 0.1, acc], gco2e_per_epoch=g / 2)
        run.log_epoch(2, train_loss=0.4, val_loss=0.5, train_accuracy=acc, val_accuracy=acc,
                      gco2e=g)
        run.finish()
    ranked = store.compare(dataset="fraud", score="acc-gco2e", accuracy="train_accuracy")
    assert [r.run.name for r in ranked] == ["best", "cheap", "costly"]
    assert ranked[0].score == pytest.approx(0.8 * 0.92 + 0.2 * (1 - 1 / 9))
    assert ranked[0].accuracy_term == pytest.approx(0.8 * 0.92)
    assert ranked[0].cost_term == pytest.approx(0.2 * (1 - 1 / 9))
    assert ranked.formula() == ("acc-gco2e = 0.8 x train_accuracy + 0.2 x "
                                "(1 - minmax(gco2e))")
    assert store.compare(dataset="fraud").accuracy == "val_accuracy"  # the default
    by_vgap = store.compare(dataset="fraud", score="acc-vgap", accuracy="val_accuracy")
    assert [r.rank for r in by_vgap] == [1, 2, 3]
    with pytest.raises(ValueError, match="score must be one of"):
        store.compare(dataset="fraud", score="acc-watts")
    nan_run = store.start_run("diverged", dataset="fraud")
    nan_run.log_epoch(0, train_loss=math.nan, train_accuracy=math.nan, gco2e=1.0)
    store.start_run("just-started", dataset="fraud")  # no epoch yet
    ranked = store.compare(dataset="fraud", accuracy="train_accuracy")
    assert [r.run.name for r in ranked] == ["best", "cheap", "costly"]  # unchanged
    assert [(run.name, why.split(" (")[0]) for run, why in ranked.skipped] == [
        ("diverged", "no finite train_accuracy"), ("just-started", "no finite train_accuracy")]
    assert store.mark_failed("just-started").status == "failed"
    with pytest.raises(ValueError, match="no running run"):
        store.mark_failed("just-started")


def test_early_stopping():
    stop = EarlyStopping("val_loss", patience=2, min_delta=0.01)
    results = [stop.step(v) for v in (1.0, 0.8, 0.795, 0.79, 0.85)]
    assert results == [False, False, False, True, True]  # the 2nd epoch in a row without
    assert stop.best == 0.8 and stop.best_epoch == 1 and stop.stopped_epoch == 3
    assert EarlyStopping("brier_score_loss").mode == "min"
    assert EarlyStopping("val_mcc").mode == "max"
    acc = EarlyStopping("val_accuracy", patience=0)
    assert acc.mode == "max"
    assert not acc.step({"val_accuracy": 0.5}) and acc.step({"val_accuracy": math.nan})
    healthy = diagnose(_history([1.0, 0.9, 0.85, 0.82, 0.80, 0.79],  # dropout: train > val
                                [0.9, 0.75, 0.66, 0.60, 0.55, 0.52]))
    assert not any(f.kind == "overfitting" for f in healthy)
    with pytest.raises(ValueError, match="the logs have no 'val_loss'"):
        EarlyStopping().step({"loss": 1.0})
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def _history(train, val, **metrics):
    return [Epoch(i, t, v, {k: m[i] for k, m in metrics.items()})
            for i, (t, v) in enumerate(zip(train, val, strict=True))]


def _kinds(findings):
    return [(f.kind, f.severity) for f in findings]


def test_both_losses_falling_is_healthy():
    """The seed's good run: training and validation loss both decrease and stabilise."""
    found = diagnose(_history([0.9, 0.6, 0.45, 0.38, 0.35, 0.34, 0.339, 0.3385, 0.338],
                              [0.95, 0.66, 0.5, 0.43, 0.4, 0.39, 0.389, 0.3885, 0.388]))
    assert _kinds(found) == [("plateau", "info")]  # converged: worth a note, no more
    assert diagnose(_history([1.0, 0.5, 0.3, 0.2], [1.0, 0.55, 0.35, 0.25])) == []


def test_training_falling_while_validation_rises_is_overfitting():
    found = diagnose(_history([1.0, 0.8, 0.6, 0.4, 0.3, 0.2], [1.0, 0.9, 0.95, 1.0, 1.1, 1.2]))
    (over,) = [f for f in found if f.kind == "overfitting"]
    assert over.severity == "critical"  # 33% above its best
    assert over.evidence["best_epoch"] == 1 and over.evidence["epochs"] == [1, 2, 3, 4, 5]
    assert "epoch 1 is the one to keep" in over.message
    mild = diagnose(_history([1.0, 0.8, 0.6, 0.5, 0.45, 0.4],
                             [1.0, 0.8, 0.82, 0.83, 0.83, 0.84]))
    assert ("overfitting", "warning") in _kinds(mild)  # 5% above its best
    # on a monitored validation metric: accuracy falling while training accuracy rises
    acc = diagnose(_history([1.0] * 6, [1.0] * 6,
                            train_accuracy=[0.6, 0.7, 0.8, 0.85, 0.9, 0.95],
                            val_accuracy=[0.6, 0.7, 0.72, 0.7, 0.69, 0.68]),
                   monitor="val_accuracy")
    assert [f.evidence["best_epoch"] for f in acc if f.kind == "overfitting"] == [2]


def test_a_widening_gap_while_validation_improves_is_not_overfitting():
    """Validation loss fell every epoch (0.588 to 0.320) while the gap widened: a milder,
    separate finding."""
    train = [0.55, 0.42, 0.33, 0.25, 0.18, 0.12, 0.08]
    val = [0.588, 0.5, 0.44, 0.4, 0.37, 0.34, 0.32]
    found = diagnose(_history(train, val))
    assert "overfitting" not in [f.kind for f in found]
    (gap,) = found
    assert (gap.kind, gap.severity) == ("generalisation-gap", "info")
    assert "validation loss still improved" in gap.message and gap.evidence["gap"][-1] > 0.2
    # a large train/validation accuracy gap is a warning of its own
    acc = diagnose(_history(train, val, train_accuracy=[0.9] * 6 + [0.99],
                            val_accuracy=[0.85] * 6 + [0.86]))
    assert ("generalisation-gap", "warning") in _kinds(acc)
    # dropout: training loss above validation loss is no gap
    assert diagnose(_history([1.0, 0.9, 0.85, 0.82, 0.80, 0.79],
                             [0.9, 0.75, 0.66, 0.60, 0.55, 0.52])) == []


def test_validation_plateau_plateau_divergence_underfitting():
    stalled = diagnose(_history([1.0, 0.8, 0.6, 0.5, 0.4, 0.3],
                                [1.0, 0.8, 0.7, 0.702, 0.7, 0.703]))
    assert _kinds(stalled) == [("validation-plateau", "info")]
    assert stalled[0].evidence["best_epoch"] == 2
    nan = diagnose(_history([1.0, 0.9, math.nan], [1.0, 1.0, 1.0]))
    assert _kinds(nan)[0] == ("divergence", "critical") and nan[0].evidence["epochs"] == [2]
    rising = diagnose(_history([1.0, 1.1, 1.3, 1.6, 2.0], [1.0] * 5))
    assert any(f.kind == "divergence" and "rose for 4 epochs" in f.message for f in rising)
    flat = diagnose(_history([1.0, 0.7, 0.699, 0.6985, 0.698], [1.0] * 5),
                    baseline_loss=0.72)
    assert _kinds(flat) == [("underfitting", "warning"), ("validation-plateau", "info"),
                            ("plateau", "info")]  # by severity


def test_findings_are_kept_and_read_back(store):
    from gpumetrics.runs import Finding, run_findings

    run = store.start_run("kept", dataset="d")
    _log(run, [(1.0, 1.0), (0.8, 0.9), (0.6, 0.95), (0.4, 1.0), (0.3, 1.1)], [0.5] * 5)
    paradox = Finding("accuracy-paradox", "accuracy 97.8% hides a recall of 12%")
    run.finish(findings=[paradox, "plateau: legacy text"])
    found = run_findings(store.run("kept"))
    assert _kinds(found) == [("overfitting", "critical"), ("accuracy-paradox", "critical"),
                             ("plateau", "info")]
    assert found[1] == paradox and str(found[1]).startswith("accuracy-paradox (critical)")
    with pytest.raises(ValueError, match="severity must be one of"):
        Finding("overfitting", "x", severity="fatal")


def test_accuracy_paradox_and_baselines():
    y = np.zeros(2000, int)
    y[:50] = 1  # 2.5% fraud
    pred = np.zeros_like(y)
    pred[:6] = 1  # 12% fraud recall, no false alarm: 97.8% accuracy
    (finding,) = diagnose_predictions(y, pred, margin=0.0)
    assert finding.kind == "accuracy-paradox" and "minority class 1" in finding.message
    assert finding.severity == "critical"  # 98% accuracy, 12% fraud recall: not for use
    near = diagnose_predictions(y, pred)  # within 2 points of the majority class, too
    assert [f.kind for f in near] == ["accuracy-paradox", "accuracy-paradox"]
    assert finding.evidence["accuracy"] == pytest.approx(0.978)
    assert finding.evidence["recall"][1] == pytest.approx(0.12)
    pred[1000:1020] = 1  # 20 false alarms as well: no better than the majority class
    kinds = [f.kind for f in diagnose_predictions(y, pred)]
    assert kinds == ["below-baseline", "accuracy-paradox"]
    majority = diagnose_predictions(y, np.zeros_like(y))
    assert majority[0].kind == "accuracy-paradox" and "majority class" in majority[0].message
    good = y.copy()
    assert diagnose_predictions(y, good) == []
    yr = np.linspace(0, 1, 50)
    (below,) = diagnose_predictions(yr, np.full(50, yr.mean()) + 0.01)
    assert below.kind == "below-baseline"
    with pytest.raises(ValueError, match="one length"):
        diagnose_predictions([0, 1], [0])


def test_optimal_epoch():
    epochs = [Epoch(i, 1.0, v, {"val_accuracy": a}, gco2e=10.0 * (i + 1))
              for i, (v, a) in enumerate(zip([1.0, 0.6, 0.50, 0.49], [0.5, 0.8, 0.84, 0.85],
                                             strict=True))]
    assert optimal_epoch(epochs).epoch == 3
    assert optimal_epoch(epochs, monitor="val_accuracy").epoch == 3
    assert optimal_epoch(epochs, monitor="val_accuracy", sustainability_weight=0.5).epoch == 1


def test_compare_command(tmp_path):
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        for name, acc, g in (("a", 0.9, 2.0), ("b", 0.85, 1.0)):
            run = store.start_run(name, dataset="d")
            run.log_epoch(0, train_loss=0.3, val_loss=0.4, train_accuracy=acc,
                          val_accuracy=acc - 0.05, gco2e=g)
            run.finish()
    from gpumetrics.cli import main

    assert main(["compare", str(path), "--json"]) == 0
    assert main(["compare", str(path), "--dataset", "nope"]) == 2
    assert main(["compare", str(tmp_path / "missing.db")]) == 2
    done = subprocess.run([sys.executable, "-m", "gpumetrics.cli", "compare", str(path)],
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == ("acc-gco2e = 0.8 x val_accuracy + 0.2 x (1 - minmax(gco2e)), "
                        "dataset d, 2 runs")
    assert lines[1].split()[:7] == ["rank", "run", "score", "=", "acc", "term", "+"]
    assert "gco2e (gCO2e)" in lines[1]
    assert lines[2].split()[:2] == ["1", "b"] and lines[3].split()[:2] == ["2", "a"]
    assert lines[2].split()[3:5] == ["0.6400", "0.2000"]  # 0.8 x 0.80 + 0.2 x (1 - 0)
    rows = json.loads(subprocess.run(
        [sys.executable, "-m", "gpumetrics.cli", "compare", str(path), "--json",
         "--accuracy", "train_accuracy", "--weight", "0.5"],
        capture_output=True, text=True, check=True).stdout)
    assert [(r["run"], r["score"]) for r in rows] == [("b", pytest.approx(0.925)),
                                                      ("a", pytest.approx(0.45))]


def test_html_report(tmp_path, monkeypatch):
    import html
    import re
    from collections import Counter
    from xml.dom import minidom

    from gpumetrics._units import co2e_unit
    from gpumetrics.cli import main
    from gpumetrics.runs.report import render, write_report

    long = "resnet18-lr0.01-bs128-cosine-warmup5-seed1234"

    def fill(store, names):
        """Runs ranked in the order given; mgCO2e-sized emissions; the best keeps its
        confusion matrix, curves (ROC AUC stored, AP not) and a finding; the second has no
        energy report."""
        for i, name in enumerate(names):
            run = store.start_run(name, dataset="d", params={"lr": 0.1, "i": i})
            for e in range(5):
                run.log_epoch(e, train_loss=1 / (e + 1), val_loss=1.2 / (e + 1),
                              val_accuracy=0.9 - 0.005 * i, gco2e=2e-4 * (i + 1) * (e + 1))
            extra = {} if i == 1 else {"energy": {
                "method": "estimated", "scope": "process", "energy_kwh": 2e-6 * (i + 1),
                "gco2e": 1e-3 * (i + 1), "carbon_intensity_g_per_kwh": 480.6, "pue": 1.0,
                "carbon_intensity_source": "world average", "notes": [],
                "components": {"cpu": {"method": "estimated:tdp-x-utilisation",
                                       "energy_kwh": 2e-6 * (i + 1)}}}}
            if i == 0:
                extra.update(confusion_matrix=np.array([[5, 1], [2, 7]]), labels=["no", "yes"],
                             roc={"fpr": np.array([0, 0.2, 1]), "tpr": [0, 0.7, 1]},
                             roc_auc=0.81, pr={"recall": [1, 0.5, 0], "precision": [0.5, 0.8, 1]},
                             findings=[{"kind": "accuracy-paradox", "severity": "critical",
                                        "message": "fraud recall 12%"}])
            run.finish(**extra)

    def check_page(text, names):
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
        assert "<script" not in text and "<link" not in text and " src=" not in text
        assert set(re.findall(r"https?://[^\s\"'<]*", text)) <= {
            "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # namespaces only
        assert "<?xml" not in text and "<!DOCTYPE svg" not in text
        ids = re.findall(r'\sid="([^"]+)"', text)
        assert [i for i, n in Counter(ids).items() if n > 1] == []  # unique across figures
        svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
        for svg in svgs:
            minidom.parseString(svg)  # well-formed
            own = re.match(r'<svg id="([^"]+)"', svg).group(1)
            refs = re.findall(r'href="#([^"]+)"|url\(#([^)]+)\)', svg)
            assert refs and all((a or b).startswith(own + "-") for a, b in refs)
        assert all(html.escape(n) in text for n in names)  # in full, in the tables
        return svgs

    path = tmp_path / "runs.db"
    names = ["best", long, "c"]
    with RunStore(path) as store:
        fill(store, names)
        ranking = store.compare()
        unit = co2e_unit([r.run.total("gco2e") for r in ranking])
        out = write_report(store, tmp_path / "report.html")
    text = out.read_text()
    svgs = check_page(text, names)
    assert [re.match(r'<svg id="([^"]+)"', s).group(1) for s in svgs] == [
        "loss", "vgap", "co2e", "pareto", "confusion", "roc", "pr"]
    assert f"<!-- #2 {long} -->" in text  # the legend's text, in full
    assert html.escape(ranking.formula()) in text and "last epoch" in text
    assert unit.name == "mgCO2e"  # the console's unit, on the table and the charts' axes
    assert "gco2e (mgCO2e)" in text and "<!-- cumulative emissions (mgCO2e) -->" in text
    assert "<!-- emissions (mgCO2e) -->" in text and "(gCO2e)" not in text
    best_row = re.search(r"<tr><td class='num'>1</td>.*?</tr>", text, re.S).group(0)
    assert "best" in best_row and "critical" in best_row and "accuracy-paradox" in best_row
    assert "scope: the profiled process tree, 480.6 gCO2e/kWh (world average)" in text
    assert "Not like for like" in text and "as logged" in text
    assert "ROC curve, AUC = 0.8100 -->" in text  # as stored
    assert "PR curve, AP = 0.6500 (from the stored curve) -->" in text  # .5 x .5 + .5 x .8
    assert not list(tmp_path.glob(".*.tmp"))

    # the CLI writes the same page: a store renders the same way every time
    assert main(["report", str(path), "-o", str(tmp_path / "cli.html")]) == 0
    assert (tmp_path / "cli.html").read_text() == text
    assert main(["report", str(tmp_path / "none.db")]) == 2

    for n in (1, 50):  # one run: no grey; fifty: five in colour, one entry for the rest
        many = [f"run-{i:02d}" for i in range(n)]
        with RunStore(tmp_path / f"runs{n}.db") as store:
            fill(store, many)
            page = render(store)
        assert len(check_page(page, many)) == 7
        assert ("other runs (45)" in page) == (n == 50) and ("other runs" in page) == (n > 5)
        assert page.count("<!-- #1 run-00 -->") == 4  # loss, vgap, co2e, pareto legends

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with RunStore(path) as store, pytest.raises(ImportError, match=r"gpumetrics\[report\]"):
        write_report(store, tmp_path / "nomatplotlib.html")
    assert not (tmp_path / "nomatplotlib.html").exists()
    assert not list(tmp_path.glob(".*.tmp"))
    monkeypatch.undo()
    done = subprocess.run([sys.executable, "-c", "import sys, gpumetrics.runs.report; "
                           "print('matplotlib' in sys.modules)"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"  # imported only when a report is drawn


def test_demo_trains_profiles_stores_ranks_and_reports(tmp_path, capsys):
    from gpumetrics._units import co2e_unit
    from gpumetrics.cli import main
    from gpumetrics.runs import run_findings

    assert main(["demo", "--out", str(tmp_path), "--samples", "2000", "--epochs", "4",
                 "--country", "FRA"]) == 0
    out = capsys.readouterr().out
    assert ("ranked by acc-gco2e = 0.8 x val_accuracy + 0.2 x (1 - minmax(gco2e)), dataset "
            "synthetic-fraud, 4 runs") in out
    assert "scope: this process tree" in out and "diagnosis:" in out
    with RunStore(tmp_path / "runs.db") as store:
        runs = store.runs(dataset="synthetic-fraud")
        assert len(runs) == 4 and all(r.status == "finished" for r in runs)
        first = runs[0]
        assert [e.epoch for e in first.epochs] == [0, 1, 2, 3]
        gco2e = [e.gco2e for e in first.epochs]
        assert gco2e == sorted(gco2e) and gco2e[-1] > 0
        energy = first.summary["energy"]
        assert energy["scope"] == "process"
        assert energy["components"]["cpu"]["method"].startswith(("measured", "estimated"))
        assert energy["excluded_cpu_s"]["compilation"] < 0.05  # compiled before the runs
        assert first.summary["flops_convention"] == "FLOPs = 2 x multiply-accumulates"
        roc, pr = first.summary["roc"], first.summary["pr"]
        assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
        assert pr["recall"][0] == 1 and pr["recall"][-1] == 0  # whole curves, end to end
        assert 0.5 < first.summary["roc_auc"] <= 1
        ranked = store.compare()
        unit = co2e_unit([r.cost for r in ranked])
        best = ranked[0]
        # the ranking line of the best run carries its findings and the shared unit
        line = next(ln for ln in out.splitlines() if ln.split()[:2] == ["1", best.run.name])
        assert f"{unit(best.cost):.4g}" in line
        for finding in run_findings(best.run):
            assert f"{finding.severity}: {finding.kind}" in line
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == 7 and "<script" not in page
    assert f"gco2e ({unit.name})" in page and "AUC = " in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "runs.db"]


def test_tensorboard_export_reads_back(store, tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    from gpumetrics.runs.export import crc32c, to_tensorboard

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    run = store.start_run("tb", dataset="d")
    _log(run, [(1.0, 1.2), (0.5, 0.9), (0.25, math.nan)], [0.5, 0.7, 0.9])
    path = to_tensorboard(store.run("tb"), tmp_path / "tb")
    acc = event_accumulator.EventAccumulator(str(path.parent))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"train_loss", "val_loss", "vgap", "gco2e",
                                          "train_accuracy"}
    assert [(e.step, e.value) for e in acc.Scalars("train_loss")] == [
        (0, 1.0), (1, 0.5), (2, 0.25)]
    assert [e.step for e in acc.Scalars("val_loss")] == [0, 1]  # NaN is left out
    assert [round(e.value, 6) for e in acc.Scalars("vgap")] == [0.2, 0.4]
    run.log_epoch(3, train_loss=1e39, flops=1e39)  # beyond float32: left out, no error
    again = to_tensorboard(store.run("tb"), tmp_path / "tb")
    assert list(again.parent.glob("events.out.tfevents.*")) == [again]  # replaced
    odd = store.start_run("../escape", dataset="d")
    odd.log_epoch(0, train_loss=1.0)
    assert to_tensorboard(store.run("../escape"), tmp_path / "tb").parent.parent == \
        tmp_path / "tb"


def test_mlflow_export_reads_back(store, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from gpumetrics.runs.export import to_mlflow

    run = store.start_run("ml", experiment="sweep", dataset="d", params={"lr": 0.1})
    _log(run, [(1.0, 1.2), (0.5, 0.9)], [0.5, 0.7])
    run.finish(flops=2e9)
    uri = (tmp_path / "mlruns").as_uri()
    run_id = to_mlflow(store.run("ml", "sweep"), uri)
    import os

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        client = MlflowClient(tracking_uri=uri)
        got = client.get_run(run_id)
        history = client.get_metric_history(run_id, "train_loss")
    finally:
        del os.environ["MLFLOW_ALLOW_FILE_STORE"]
    assert got.data.params == {"lr": "0.1"} and got.info.status == "FINISHED"
    assert got.data.tags["gpumetrics.dataset"] == "d"
    assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 0.5)]
    assert got.data.metrics["total_flops"] == 2e9
    assert got.data.metrics["vgap"] == pytest.approx(0.4)  # the latest step's value
