"""``gpumetrics score``: files streamed in batches give the functions' results on all the
data; bad input is one line naming the file and where in it, exit code 2, no output file."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gpumetrics as gm
from gpumetrics.cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

BINS = 4096
EDGES = np.linspace(0, 1, BINS + 1)[1:-1]


def _binary(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int8)
    s = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1).astype(np.float32)
    return y, s


def _run(capsys, *argv):
    code = main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv):
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def _expected_binary(y, s):
    return {
        "accuracy": gm.accuracy_score(y, s >= 0.5),
        "f1": gm.f1_score(y, (s >= 0.5).astype(int)),
        "auroc": gm.roc_auc_score(y, s, thresholds=EDGES),
        "average_precision": gm.average_precision_score(y, s, thresholds=EDGES),
    }


def _check(result, expected):
    for name, value in expected.items():
        got = result["metrics"][name]
        if isinstance(value, gm.Binned):
            assert got["value"] == pytest.approx(float(value.value), rel=1e-12), name
            assert got["bound"] == pytest.approx(float(value.bound), rel=1e-12), name
        else:
            assert np.allclose(got, value, rtol=1e-12), name


def test_parquet_in_row_groups_and_batches(tmp_path, capsys):
    y, s = _binary()
    path = tmp_path / "preds.parquet"
    pq.write_table(pa.table({"label": y, "score": s}), path, row_group_size=1300)
    result = _json(capsys, path, "--y-true", "label", "--y-score", "score",
                   "--batch-size", 500)
    assert result["rows"] == y.shape[0]
    _check(result, _expected_binary(y, s))


def test_several_files_are_one_dataset_and_formats_agree(tmp_path, capsys):
    y, s = _binary(3000, seed=1)
    a, b = slice(0, 1000), slice(1000, 3000)
    pq.write_table(pa.table({"y": y[a], "p": s[a]}), tmp_path / "a.parquet")
    pa.csv.write_csv(pa.table({"y": y[b], "p": s[b]}), tmp_path / "b.csv")
    result = _json(capsys, tmp_path / "a.parquet", tmp_path / "b.csv", "--y-true", "y",
                   "--y-score", "p")
    assert result["rows"] == 3000
    _check(result, _expected_binary(y, s))
    two_d = np.column_stack([y, s]).astype(np.float64)
    np.save(tmp_path / "c.npy", two_d)
    result = _json(capsys, tmp_path / "c.npy", "--y-true", "0", "--y-score", "1",
                   "--batch-size", 700)
    _check(result, _expected_binary(y, s.astype(np.float64)))
    structured = np.zeros(3000, dtype=[("y", "i1"), ("p", "f4")])
    structured["y"], structured["p"] = y, s
    np.save(tmp_path / "d.npy", structured)
    _check(_json(capsys, tmp_path / "d.npy", "--y-true", "y", "--y-score", "p"),
           _expected_binary(y, s))


def test_multiclass_scores_labels_and_regression(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n, C = 4000, 3
    t = rng.integers(0, C, n)
    proba = rng.random((n, C))
    proba /= proba.sum(axis=1, keepdims=True)
    w = rng.random(n)
    table = {"t": t, "w": w, **{f"p{c}": proba[:, c] for c in range(C)}}
    path = tmp_path / "mc.parquet"
    pq.write_table(pa.table(table), path, row_group_size=900)
    result = _json(capsys, path, "--task", "multiclass", "--y-true", "t", "--y-score",
                   "p0,p1,p2", "--sample-weight", "w", "--metrics",
                   "accuracy,f1,mcc,confusion_matrix,auroc,top_k", "--batch-size", 1000)
    labels = proba.argmax(axis=1)
    _check(result, {
        "accuracy": gm.accuracy_score(t, labels, sample_weight=w),
        "f1": gm.f1_score(t, labels, average="macro", sample_weight=w),
        "mcc": gm.matthews_corrcoef(t, labels, sample_weight=w),
        "confusion_matrix": gm.confusion_matrix(t, labels, sample_weight=w),
        "auroc": gm.roc_auc_score(t, proba, multi_class="ovr", sample_weight=w,
                                  thresholds=EDGES),
        "top_k": gm.top_k_accuracy_score(t, proba, k=2, sample_weight=w),
    })
    y = 1e6 + rng.normal(size=n)
    yhat = y + rng.normal(size=n)
    pq.write_table(pa.table({"y": y, "yhat": yhat}), tmp_path / "r.parquet",
                   row_group_size=1000)
    result = _json(capsys, tmp_path / "r.parquet", "--task", "regression", "--y-true", "y",
                   "--y-pred", "yhat")
    _check(result, {"mse": gm.mean_squared_error(y, yhat), "r2": gm.r2_score(y, yhat),
                    "pearson": gm.pearson_corrcoef(y, yhat)})


def test_table_and_atomic_out(tmp_path, capsys):
    y, s = _binary(500)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"y": y, "s": s}), path)
    out = tmp_path / "result.json"
    code, text, _ = _run(capsys, path, "--y-true", "y", "--y-score", "s", "--out", out)
    assert code == 0
    assert "auroc" in text and "binned" in text and "500 rows" in text
    assert json.loads(out.read_text())["rows"] == 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet", "result.json"]


def _bad(tmp_path, capsys, *argv, match: str):
    out = tmp_path / "never.json"
    code, _, err = _run(capsys, *argv, "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpumetrics score: error: ")
    assert match in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    return lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    y, s = _binary(3000)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"y": y, "s": s, "name": ["x"] * 3000}), good,
                   row_group_size=1000)
    _bad(tmp_path, capsys, tmp_path / "missing.parquet", "--y-true", "y", "--y-score", "s",
         match="missing.parquet: no such file")
    _bad(tmp_path, capsys, good, "--y-true", "y", "--y-score", "nope",
         match="no column 'nope'")
    _bad(tmp_path, capsys, good, "--y-true", "y", "--y-score", "name",
         match="row group 0 (rows 0-999)")
    nan = s.copy()
    nan[2500] = np.nan
    with_nan = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"y": y, "s": nan}), with_nan, row_group_size=1000)
    line = _bad(tmp_path, capsys, with_nan, "--y-true", "y", "--y-score", "s",
                match="row group 2 (rows 2000-2999)")
    assert "NaN" in line
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _bad(tmp_path, capsys, corrupt, "--y-true", "y", "--y-score", "s", match="corrupt.parquet")
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"y": y[:0], "s": s[:0]}), empty)
    _bad(tmp_path, capsys, empty, "--y-true", "y", "--y-score", "s", match="no rows")
    labels = tmp_path / "labels.csv"
    labels.write_text("y,p\n0,1\n1,7\n")
    _bad(tmp_path, capsys, labels, "--y-true", "y", "--y-pred", "p", match="rows 0-1")
    _bad(tmp_path, capsys, good, "--y-true", "y", "--y-score", "s", "--metrics", "nope",
         match="unknown metrics")
    _bad(tmp_path, capsys, good, "--y-true", "y", match="exactly one of")


def test_corrupt_row_group_names_the_group(tmp_path, capsys):
    y, s = _binary(4000)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"y": y, "s": s}), path, row_group_size=1000,
                   compression="none")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(2).column(1)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset + 16
    data[start:start + 64] = b"\xff" * 64  # scramble a data page of row group 2
    path.write_bytes(bytes(data))
    code, _, err = _run(capsys, path, "--y-true", "y", "--y-score", "s")
    if code == 0:  # the scrambled bytes decoded as (finite) floats: nothing to report
        pytest.skip("the damaged page still decodes")
    assert code == 2
    assert "row group 2 (rows 2000-2999)" in err, err
    assert len(err.strip().splitlines()) == 1


def test_dask_scheduler(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    y, s = _binary(6000, seed=3)
    paths = []
    for i, sl in enumerate((slice(0, 2500), slice(2500, 6000))):
        paths.append(tmp_path / f"part{i}.parquet")
        pq.write_table(pa.table({"y": y[sl], "s": s[sl]}), paths[-1])
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        result = _json(capsys, *paths, "--y-true", "y", "--y-score", "s", "--dask-scheduler",
                       cluster.scheduler_address)
    assert result["rows"] == 6000
    _check(result, _expected_binary(y, s))
