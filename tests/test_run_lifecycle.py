"""A run's life in the store as a user meets it on day one: the context manager, resuming,
what ``log_epoch`` accepts from a ``MetricSet``, stores written by an earlier version, and
exporting to MLflow more than once."""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np
import pytest

from gpumetrics.runs import RunStore


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.db") as s:
        yield s


def test_a_run_as_a_context_manager(store):
    with store.start_run("ok", dataset="d") as run:
        run.log_epoch(0, train_loss=1.0)
    assert store.run("ok").status == "finished"
    with pytest.raises(KeyError), store.start_run("boom", dataset="d") as run:
        run.log_epoch(0, train_loss=1.0)
        raise KeyError("no such column")
    failed = store.run("boom")
    assert failed.status == "failed" and failed.summary["error"] == "KeyError: 'no such column'"
    assert [e.epoch for e in failed.epochs] == [0]  # what was logged is kept
    with store.start_run("kept", dataset="d") as run:  # finish inside: left as it was
        run.finish(flops=1e9)
    assert store.run("kept").summary["flops"] == 1e9


def test_resume_continues_a_run(store):
    run = store.start_run("r", dataset="d", params={"lr": 0.1})
    for epoch in range(3):
        run.log_epoch(epoch, train_loss=1.0 / (epoch + 1), flops=1e9 * (epoch + 1),
                      gco2e=2.0 * (epoch + 1), wall_s=10.0 * (epoch + 1))
    # the process dies here: the run is left "running"
    with pytest.raises(ValueError, match="resume=True continues it"):
        store.start_run("r", dataset="d")
    again = store.start_run("r", dataset="d", resume=True)
    assert again.next_epoch == 3 and again.status == "running"
    with pytest.raises(ValueError, match="written by another process"):
        run.log_epoch(3, train_loss=0.1)  # the old handle may no longer write
    again.log_epoch(3, train_loss=0.2, flops=1e9, gco2e=2.0, wall_s=10.0)  # since the resume
    last = store.run("r").epochs[-1]
    assert (last.flops, last.gco2e, last.wall_s) == (4e9, 8.0, 40.0)
    again.finish(flops=1e9)
    assert store.run("r").total("flops") == 4e9
    with pytest.raises(ValueError, match="started with params"):
        store.start_run("r", dataset="d", params={"lr": 0.2}, resume=True)
    with pytest.raises(ValueError, match="is on dataset 'd'"):
        store.start_run("r", dataset="other", resume=True)
    more = store.start_run("r", dataset="d", params={"lr": 0.1}, resume=True)  # finished
    assert more.next_epoch == 4
    fresh = store.start_run("new", dataset="d", resume=True)  # nothing to resume: a new run
    assert fresh.next_epoch == 0


def test_log_epoch_takes_what_a_metric_set_returns(store):
    from gpumetrics import metrics as M

    ms = M.MetricSet({"val_accuracy": M.Accuracy("multiclass", num_classes=3),
                      "val_f1": M.F1Score("multiclass", num_classes=3, average=None),
                      "val_confusion": M.ConfusionMatrix("multiclass", num_classes=3),
                      "val_auroc": M.AUROC("multiclass", num_classes=3, thresholds=64)})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    p = rng.random((300, 3))
    ms.update(y, p / p.sum(axis=1, keepdims=True))
    values = ms.compute()
    run = store.start_run("ms", dataset="d")
    epoch = run.log_epoch(0, train_loss=1.0, **values)
    assert isinstance(epoch.metrics["val_f1"], list) and len(epoch.metrics["val_f1"]) == 3
    assert epoch.get("val_f1") is None and 0 <= epoch.get("val_auroc") <= 1  # binned value
    matrix = epoch.metrics["val_confusion"]
    assert np.array_equal(matrix, np.asarray(values["val_confusion"]))
    assert sum(map(sum, matrix)) == 300 and epoch.get("val_confusion") is None
    assert store.run("ms").epochs[0].metrics == epoch.metrics
    curves = M.MetricSet({"roc": M.ROCCurve()})
    curves.update([0, 1, 1], [0.2, 0.8, 0.6])
    with pytest.raises(ValueError, match=r"finish\(roc=\.\.\.") as error:
        run.log_epoch(1, **curves.compute())
    assert "if k != 'roc'" in str(error.value)
    with pytest.raises(ValueError, match="a matrix"):
        run.log_epoch(1, ragged=[[1, 2], [3]])


def test_a_store_of_an_earlier_version_is_brought_up_to_date(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema before runs had a uid
        db.executescript("""
            CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                experiment TEXT NOT NULL, dataset TEXT NOT NULL, params TEXT NOT NULL,
                status TEXT NOT NULL, writer TEXT NOT NULL, started_at TEXT NOT NULL,
                finished_at TEXT, summary TEXT NOT NULL DEFAULT '{}',
                UNIQUE (experiment, name));
            CREATE TABLE epochs (run_id INTEGER NOT NULL REFERENCES runs (id),
                epoch INTEGER NOT NULL, record TEXT NOT NULL, logged_at TEXT NOT NULL,
                PRIMARY KEY (run_id, epoch));
            INSERT INTO runs (name, experiment, dataset, params, status, writer, started_at)
                VALUES ('a', 'default', 'd', '{}', 'finished', 'w', '2026-01-01');""")
    with RunStore(path) as store:
        uid = store.run("a").uid
        assert len(uid) == 32
    with RunStore(path) as store:
        assert store.run("a").uid == uid  # given once, kept


def test_exporting_to_mlflow_twice_updates_one_run(store, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from gpumetrics.runs.export import to_mlflow

    uri = (tmp_path / "mlruns").as_uri()
    run = store.start_run("ml", experiment="sweep", dataset="d", params={"lr": 0.1})
    run.log_epoch(0, train_loss=1.0, val_accuracy=0.5)
    first = to_mlflow(store.run("ml", "sweep"), uri)
    run.log_epoch(1, train_loss=0.5, val_accuracy=0.7)
    run.finish(flops=2e9)
    second = to_mlflow(store.run("ml", "sweep"), uri)
    third = to_mlflow(store.run("ml", "sweep"), uri)  # nothing new: nothing logged twice
    assert first == second == third
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        client = MlflowClient(tracking_uri=uri)
        runs = client.search_runs([client.get_experiment_by_name("sweep/d").experiment_id])
        history = client.get_metric_history(first, "train_loss")
        totals = client.get_metric_history(first, "total_flops")
        got = client.get_run(first)
    finally:
        del os.environ["MLFLOW_ALLOW_FILE_STORE"]
    assert len(runs) == 1
    assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 0.5)]
    assert [m.value for m in totals] == [2e9]
    assert got.info.status == "FINISHED" and got.data.params == {"lr": "0.1"}
    assert json.loads(json.dumps(got.data.tags))["gpumetrics.run_uid"] == run.uid
