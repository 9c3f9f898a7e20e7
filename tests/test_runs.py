"""Run store, mixed scores, early stopping and diagnosis."""

from __future__ import annotations

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
    ranked = store.compare(dataset="fraud", score="acc-gco2e")
    assert [r.run.name for r in ranked] == ["best", "cheap", "costly"]
    assert ranked[0].score == pytest.approx(0.8 * 0.92 + 0.2 * (1 - 1 / 9))
    by_vgap = store.compare(dataset="fraud", score="acc-vgap", accuracy="val_accuracy")
    assert [r.rank for r in by_vgap] == [1, 2, 3]
    with pytest.raises(ValueError, match="score must be one of"):
        store.compare(dataset="fraud", score="acc-watts")
    nan_run = store.start_run("diverged", dataset="fraud")
    nan_run.log_epoch(0, train_loss=math.nan, train_accuracy=math.nan, gco2e=1.0)
    store.start_run("just-started", dataset="fraud")  # no epoch yet
    ranked = store.compare(dataset="fraud")
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


def _history(train, val):
    return [Epoch(i, t, v) for i, (t, v) in enumerate(zip(train, val, strict=True))]


def test_diagnose_overfitting_divergence_plateau_underfitting():
    over = diagnose(_history([1.0, 0.8, 0.6, 0.4, 0.3, 0.2], [1.0, 0.9, 0.95, 1.0, 1.1, 1.2]))
    (finding,) = [f for f in over if f.kind == "overfitting"]
    assert finding.evidence["epochs"] == [1, 2, 3, 4]
    nan = diagnose(_history([1.0, 0.9, math.nan], [1.0, 1.0, 1.0]))
    assert nan[0].kind == "divergence" and nan[0].evidence["epochs"] == [2]
    rising = diagnose(_history([1.0, 1.1, 1.3, 1.6, 2.0], [1.0] * 5))
    assert any(f.kind == "divergence" and "rose for 4 epochs" in f.message for f in rising)
    flat = diagnose(_history([1.0, 0.7, 0.699, 0.6985, 0.698], [1.0] * 5),
                    baseline_loss=0.72)
    assert {f.kind for f in flat} >= {"plateau", "underfitting"}
    assert diagnose(_history([1.0, 0.5, 0.3, 0.2], [1.0, 0.55, 0.35, 0.25])) == []


def test_accuracy_paradox_and_baselines():
    y = np.zeros(2000, int)
    y[:50] = 1  # 2.5% fraud
    pred = np.zeros_like(y)
    pred[:6] = 1  # 12% fraud recall, no false alarm: 97.8% accuracy
    (finding,) = diagnose_predictions(y, pred, margin=0.0)
    assert finding.kind == "accuracy-paradox" and "minority class 1" in finding.message
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
            run.log_epoch(0, train_loss=0.3, val_loss=0.4, train_accuracy=acc, gco2e=g)
            run.finish()
    from gpumetrics.cli import main

    assert main(["compare", str(path), "--json"]) == 0
    assert main(["compare", str(path), "--dataset", "nope"]) == 2
    assert main(["compare", str(tmp_path / "missing.db")]) == 2
    done = subprocess.run([sys.executable, "-m", "gpumetrics.cli", "compare", str(path)],
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("acc-gco2e = 0.8 x train_accuracy")
    assert lines[2].split()[:2] == ["1", "b"] and lines[3].split()[:2] == ["2", "a"]


def test_html_report(tmp_path):
    from gpumetrics.runs.report import write_report

    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        for name, slope, g in (("a", 0.1, 1.0), ("b", 0.2, 2.0), ("c", 0.05, 0.5)):
            run = store.start_run(name, dataset="d")
            for e in range(5):
                run.log_epoch(e, train_loss=1 - slope * e, val_loss=1 - slope * e / 2,
                              train_accuracy=0.5 + slope * e / 2, gco2e=g * (e + 1))
            run.finish(confusion_matrix=np.array([[5, 1], [2, 7]]), labels=["no", "yes"],
                       roc={"fpr": np.array([0, 0.2, 1]), "tpr": [0, 0.7, 1]},
                       pr={"recall": [0, 0.5, 1], "precision": [1, 0.8, 0.5]})
        out = write_report(store, tmp_path / "report.html")
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 7
    assert "<script" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", "")
    assert "confusion matrix of b" in text and "Diagnosis" in text
    from xml.dom import minidom

    for chunk in text.split("<svg")[1:]:
        minidom.parseString("<svg" + chunk.split("</svg>")[0] + "</svg>")  # well-formed
    assert not list(tmp_path.glob(".*.tmp"))
    from gpumetrics.cli import main

    assert main(["report", str(path), "-o", str(tmp_path / "cli.html")]) == 0
    assert (tmp_path / "cli.html").read_text().count("<svg") == 7
    assert main(["report", str(tmp_path / "none.db")]) == 2


def test_demo_trains_profiles_stores_ranks_and_reports(tmp_path, capsys):
    from gpumetrics.cli import main

    assert main(["demo", "--out", str(tmp_path), "--samples", "2000", "--epochs", "4",
                 "--country", "FRA"]) == 0
    out = capsys.readouterr().out
    assert "ranked by acc-gCO2e" in out and "diagnosis:" in out
    with RunStore(tmp_path / "runs.db") as store:
        runs = store.runs(dataset="synthetic-fraud")
        assert len(runs) == 4 and all(r.status == "finished" for r in runs)
        first = runs[0]
        assert [e.epoch for e in first.epochs] == [0, 1, 2, 3]
        gco2e = [e.gco2e for e in first.epochs]
        assert gco2e == sorted(gco2e) and gco2e[-1] > 0
        assert first.summary["energy"]["components"]["cpu"]["method"].startswith(
            ("measured", "estimated"))
        assert first.summary["flops_convention"] == "FLOPs = 2 x multiply-accumulates"
    assert (tmp_path / "report.html").read_text().count("<svg") == 7
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


def test_log_a_metric_sets_results(store):
    from gpumetrics import metrics as M

    ms = M.MetricSet({"val_accuracy": M.Accuracy("multiclass", num_classes=3),
                      "val_f1": M.F1Score("multiclass", num_classes=3, average=None),
                      "val_auroc": M.AUROC("multiclass", num_classes=3, thresholds=64)})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    p = rng.random((300, 3))
    ms.update(y, p / p.sum(axis=1, keepdims=True))
    run = store.start_run("ms", dataset="d")
    epoch = run.log_epoch(0, train_loss=1.0, **ms.compute())
    assert isinstance(epoch.metrics["val_f1"], list) and len(epoch.metrics["val_f1"]) == 3
    assert epoch.get("val_f1") is None and 0 <= epoch.get("val_auroc") <= 1
    stored = store.run("ms").epochs[0]
    assert stored.metrics == epoch.metrics
    with pytest.raises(ValueError, match="is a curve"):
        run.log_epoch(1, roc=(np.zeros(2), np.ones(2)))
