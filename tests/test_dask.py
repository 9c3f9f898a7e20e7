"""``gpumetrics.dask`` on a real LocalCluster (two worker processes on loopback): results
equal the single-process functions on all the data."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _data import multiclass

import gpumetrics as gm

pytest.importorskip("dask.distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

from dask.distributed import Client, LocalCluster  # noqa: E402

import gpumetrics.dask as gdask  # noqa: E402
from gpumetrics.metrics import (  # noqa: E402
    AUROC,
    Accuracy,
    AveragePrecision,
    F1Score,
    MatthewsCorrCoef,
    MeanSquaredError,
    MetricSet,
    R2Score,
)


@pytest.fixture(scope="module")
def client():
    # a nanny writes its workers' settings (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, ...)
    # into this process's environment: put it back, or every later subprocess inherits them
    environ = dict(os.environ)
    try:
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as c:
            yield c
    finally:
        os.environ.clear()
        os.environ.update(environ)


def _data(n=50_000, seed=0):
    return multiclass(n, 4, seed)


def test_arrays_on_a_cluster_equal_the_functions(client):
    t, s, w = _data()
    metrics = MetricSet({
        "acc": Accuracy("multiclass", num_classes=4),
        "f1": F1Score("multiclass", num_classes=4),
        "mcc": MatthewsCorrCoef("multiclass", num_classes=4),
        "auc": AUROC("multiclass", num_classes=4, thresholds=100),
        "auc_exact": AUROC("multiclass", num_classes=4),
    })
    result = gdask.score(metrics, da.from_array(t, chunks=7_000),
                         da.from_array(s, chunks=(5_000, 2)), da.from_array(w, chunks=9_000),
                         split_every=3)
    labels = s.argmax(axis=1)
    edges = np.linspace(0, 1, 101)[1:-1]
    assert result["acc"] == pytest.approx(gm.accuracy_score(t, labels, sample_weight=w),
                                          rel=1e-12)
    assert result["f1"] == pytest.approx(
        gm.f1_score(t, labels, average="macro", sample_weight=w), rel=1e-12)
    assert result["mcc"] == pytest.approx(gm.matthews_corrcoef(t, labels, sample_weight=w),
                                          rel=1e-12)
    binned = gm.roc_auc_score(t, s, multi_class="ovr", sample_weight=w, thresholds=edges)
    assert result["auc"].value == pytest.approx(binned.value, rel=1e-12)
    assert result["auc"].bound == pytest.approx(binned.bound, rel=1e-12)
    assert result["auc_exact"] == pytest.approx(
        gm.roc_auc_score(t, s, multi_class="ovr", sample_weight=w), rel=1e-12)


def test_dataframe_on_a_cluster_equals_the_functions(client):
    rng = np.random.default_rng(1)
    n = 30_000
    y = 1e6 + rng.normal(size=n)
    frame = pd.DataFrame({"y": y, "yhat": y + rng.normal(size=n),
                          "label": rng.integers(0, 2, n), "score": rng.random(n)})
    ddf = dd.from_pandas(frame, npartitions=6)
    reg = gdask.score_dataframe(MetricSet([R2Score(), MeanSquaredError()]), ddf,
                                y_true="y", y_pred="yhat")
    assert reg["r2_score"] == pytest.approx(gm.r2_score(frame.y, frame.yhat), rel=1e-10)
    assert reg["mean_squared_error"] == pytest.approx(
        gm.mean_squared_error(frame.y, frame.yhat), rel=1e-10)
    ap = gdask.score_dataframe(AveragePrecision(thresholds=64), ddf, y_true="label",
                               y_pred="score")
    expected = gm.average_precision_score(frame.label, frame.score,
                                          thresholds=np.linspace(0, 1, 65)[1:-1])
    assert ap.value == pytest.approx(expected.value, rel=1e-12)


def test_bad_arguments(client):
    t, s, _ = _data(100)
    with pytest.raises(ValueError, match="dask array"):
        gdask.score(Accuracy(), t, s[:, 0])
    with pytest.raises(ValueError, match="Metric"):
        gdask.score("accuracy", da.from_array(t), da.from_array(s[:, 0]))
    frame = dd.from_pandas(pd.DataFrame({"a": t}), npartitions=2)
    with pytest.raises(ValueError, match="not in the dataframe"):
        gdask.score_dataframe(Accuracy(), frame, y_true="a", y_pred="missing")
