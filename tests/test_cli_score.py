"""``gpumetrics score``: files streamed in batches give the functions' results on all the
data; bad input is one line naming the file and where in it, exit code 2, no output file."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from _data import multiclass

import gpumetrics as gm
from gpumetrics.cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pacsv = pytest.importorskip("pyarrow.csv")

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
    labels = (s >= 0.5).astype(int)
    return {
        "accuracy": gm.accuracy_score(y, labels),
        "f1": gm.f1_score(y, labels),
        "auroc": gm.roc_auc_score(y, s, thresholds=EDGES),
        "average_precision": gm.average_precision_score(y, s, thresholds=EDGES),
        "log_loss": gm.log_loss(y, s.astype(np.float64), labels=[0, 1]),
    }


def _check(result, expected, rtol=1e-12):
    for name, value in expected.items():
        got = result["metrics"][name]
        if isinstance(value, gm.Binned):
            assert got == pytest.approx(float(value.value), rel=rtol), name
            assert result["binned"][name] == pytest.approx(float(value.bound), rel=rtol), name
        else:
            assert np.allclose(got, value, rtol=rtol), name


def test_parquet_in_row_groups_and_batches(tmp_path, capsys):
    y, s = _binary()
    path = tmp_path / "preds.parquet"
    pq.write_table(pa.table({"label": y, "score": s}), path, row_group_size=1300)
    result = _json(capsys, path, "--y-true", "label", "--y-score", "score",
                   "--batch-size", 500)
    assert result["rows"] == y.shape[0]
    assert result["task"] == "binary" and result["files"] == [str(path)]
    assert result["bins"] == BINS and set(result["binned"]) == {"auroc", "average_precision"}
    _check(result, _expected_binary(y, s), rtol=1e-6)  # log loss: float32 vs float64 sums


def test_parquet_row_groups_joined_split_and_read_in_order(tmp_path):
    from gpumetrics.readers import ScoreError, open_reader

    y, s = _binary(10_000, seed=3)
    path = tmp_path / "small_groups.parquet"
    pq.write_table(pa.table({"y": y, "s": s}), path, row_group_size=100)
    reader = open_reader(path, ["y", "s"])
    joined = list(reader.batches(2000))  # 10 groups of 100 rows make one batch per reader
    assert [b.rows for b in joined] == [1000] * 10
    assert joined[1].where == "row groups 10-19 (rows 1000-1999)"
    assert [b.done for b in joined] == pytest.approx(np.arange(1, 11) / 10)
    split = list(reader.batches(60))  # a group above the batch size is cut in batches
    assert [b.rows for b in split[:4]] == [60, 40, 60, 40]
    assert split[2].where == "row group 1 (rows 100-199)"
    for batches in (joined, split):
        for name, column in (("y", y), ("s", s)):
            np.testing.assert_array_equal(np.concatenate([b.columns[name] for b in batches]),
                                          column)
    empty = tmp_path / "empty_groups.parquet"  # groups without rows make no batches
    with pq.ParquetWriter(empty, pa.schema([("y", pa.int8()), ("s", pa.float32())])) as out:
        for rows in (0, 5, 0, 3, 0):
            out.write_table(pa.table({"y": y[:rows], "s": s[:rows]}))
    assert [(b.where, b.rows) for b in open_reader(empty, ["y", "s"]).batches(4)] == [
        ("row group 1 (rows 0-4)", 4), ("row group 1 (rows 0-4)", 1),
        ("row group 3 (rows 5-7)", 3)]
    for batch_size in (100, 60):  # a consumer that stops early leaves no reader running
        left = reader.batches(batch_size)
        next(left)
        left.close()
    assert not [t for t in threading.enumerate()
                if t.name.startswith(("gpumetrics-parquet", "gpumetrics-reader"))]
    twice = tmp_path / "twice.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(y), pa.array(s), pa.array(s)],
                                        names=["y", "s", "s"]), twice)
    with pytest.raises(ScoreError, match="the file has 2 columns named 's'"):
        open_reader(twice, ["y", "s"])


def test_several_files_are_one_dataset_and_formats_agree(tmp_path, capsys):
    y, s = _binary(3000, seed=1)
    expected = _expected_binary(y, s)
    del expected["log_loss"]
    metrics = ("--metrics", "accuracy,f1,auroc,average_precision")
    a, b, c = slice(0, 1000), slice(1000, 2000), slice(2000, 3000)
    pq.write_table(pa.table({"y": y[a], "p": s[a]}), tmp_path / "a.parquet")
    pacsv.write_csv(pa.table({"p": s[b], "extra": s[b], "y": y[b]}), tmp_path / "b.csv")
    with gzip.open(tmp_path / "c.csv.gz", "wb") as f:
        pacsv.write_csv(pa.table({"y": y[c], "p": s[c]}), f)
    result = _json(capsys, tmp_path / "a.parquet", tmp_path / "b.csv", tmp_path / "c.csv.gz",
                   "--y-true", "y", "--y-score", "p", "--batch-size", 300, *metrics)
    assert result["rows"] == 3000 and len(result["files"]) == 3
    _check(result, expected)
    two_d = np.column_stack([y, s]).astype(np.float64)
    np.save(tmp_path / "c.npy", two_d)
    result = _json(capsys, tmp_path / "c.npy", "--y-true", "0", "--y-score", "1",
                   "--batch-size", 700, *metrics)
    _check(result, expected)
    structured = np.zeros(3000, dtype=[("y", "i1"), ("p", "f4")])
    structured["y"], structured["p"] = y, s
    np.save(tmp_path / "d.npy", structured)
    _check(_json(capsys, tmp_path / "d.npy", "--y-true", "y", "--y-score", "p", *metrics),
           expected)
    np.save(tmp_path / "f.npy", np.asfortranarray(two_d))  # columns contiguous on disk
    _check(_json(capsys, tmp_path / "f.npy", "--y-true", "0", "--y-score", "1",
                 "--batch-size", 800, *metrics), expected)


def test_multiclass_multilabel_and_regression(tmp_path, capsys):
    n, C = 4000, 3
    t, proba, w = multiclass(n, C, seed=2)
    rng = np.random.default_rng(3)
    table = {"t": t, "w": w, **{f"p{c}": proba[:, c] for c in range(C)}}
    path = tmp_path / "mc.parquet"
    pq.write_table(pa.table(table), path, row_group_size=900)
    result = _json(capsys, path, "--task", "multiclass", "--y-true", "t", "--y-score",
                   "p0,p1,p2", "--sample-weight", "w", "--metrics",
                   "accuracy,f1,mcc,confusion_matrix,auroc,top_k,log_loss", "--batch-size",
                   1000)
    labels = proba.argmax(axis=1)
    _check(result, {
        "accuracy": gm.accuracy_score(t, labels, sample_weight=w),
        "f1": gm.f1_score(t, labels, average="macro", sample_weight=w),
        "mcc": gm.matthews_corrcoef(t, labels, sample_weight=w),
        "confusion_matrix": gm.confusion_matrix(t, labels, sample_weight=w),
        "auroc": gm.roc_auc_score(t, proba, multi_class="ovr", sample_weight=w,
                                  thresholds=EDGES),
        "top_k": gm.top_k_accuracy_score(t, proba, k=2, sample_weight=w),
        "log_loss": gm.log_loss(t, proba, sample_weight=w, labels=[0, 1, 2]),
    }, rtol=1e-9)
    # predicted labels, with the class count given
    pq.write_table(pa.table({"t": t, "p": labels}), tmp_path / "labels.parquet")
    result = _json(capsys, tmp_path / "labels.parquet", "--task", "multiclass", "--y-true",
                   "t", "--y-pred", "p", "--num-classes", 3, "--average", "micro")
    assert set(result["metrics"]) == {"accuracy", "balanced_accuracy", "f1", "mcc", "kappa"}
    _check(result, {"f1": gm.f1_score(t, labels, average="micro"),
                    "kappa": gm.cohen_kappa_score(t, labels)})
    # multilabel: one y_true and one score column per label
    truth = rng.integers(0, 2, (n, 2))
    scores = rng.random((n, 2))
    pq.write_table(pa.table({"a": truth[:, 0], "b": truth[:, 1], "sa": scores[:, 0],
                             "sb": scores[:, 1]}), tmp_path / "ml.parquet")
    result = _json(capsys, tmp_path / "ml.parquet", "--task", "multilabel", "--y-true", "a,b",
                   "--y-score", "sa,sb")
    _check(result, {"accuracy": gm.accuracy_score(truth, (scores >= 0.5).astype(int)),
                    "auroc": gm.roc_auc_score(truth, scores, thresholds=EDGES)})
    # regression, far from zero
    y = 1e6 + rng.normal(size=n)
    yhat = y + rng.normal(size=n)
    pq.write_table(pa.table({"y": y, "yhat": yhat}), tmp_path / "r.parquet",
                   row_group_size=1000)
    result = _json(capsys, tmp_path / "r.parquet", "--task", "regression", "--y-true", "y",
                   "--y-pred", "yhat")
    assert result["binned"] == {} and result["bins"] is None
    _check(result, {"mse": gm.mean_squared_error(y, yhat), "r2": gm.r2_score(y, yhat),
                    "mae": gm.mean_absolute_error(y, yhat),
                    "pearson": gm.pearson_corrcoef(y, yhat)}, rtol=1e-9)


def test_exact_mode_and_bins(tmp_path, capsys):
    y, s = _binary(2000, seed=4)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"y": y, "s": s}), path, row_group_size=700)
    code, out, err = _run(capsys, path, "--y-true", "y", "--y-score", "s", "--metrics",
                          "auroc,average_precision", "--exact", "--json")
    assert code == 0 and "memory grows with the data" in err
    result = json.loads(out)
    assert result["binned"] == {} and result["bins"] is None
    _check(result, {"auroc": gm.roc_auc_score(y, s),
                    "average_precision": gm.average_precision_score(y, s)})
    edges = np.linspace(0, 1, 101)[1:-1]
    result = _json(capsys, path, "--y-true", "y", "--y-score", "s", "--metrics", "auroc",
                   "--thresholds", 100)
    _check(result, {"auroc": gm.roc_auc_score(y, s, thresholds=edges)})


def test_table_progress_and_atomic_out(tmp_path, capsys):
    y, s = _binary(500)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"y": y, "s": s}), path)
    out = tmp_path / "result.json"
    code, text, err = _run(capsys, path, "--y-true", "y", "--y-score", "s", "--out", out,
                           "--metrics", "accuracy,auroc,confusion_matrix", "--progress")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "value", "bound"]
    assert lines[1].startswith("accuracy ") and lines[2].startswith("auroc ")
    assert "e-0" in lines[2]  # the bound of the binned value
    cm = gm.confusion_matrix(y, (s >= 0.5).astype(int))
    assert lines[4].split() == [str(v) for v in cm[0]]
    assert "500 rows from 1 file" in text and "rows/s" in text
    assert "500/500 rows" in err and "100%" in err
    saved = json.loads(out.read_text())
    assert saved["rows"] == 500 and saved["metrics"]["confusion_matrix"] == cm.tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet", "result.json"]


def _bad(tmp_path, capsys, *argv, match: str):
    out = tmp_path / "never.json"
    code, text, err = _run(capsys, *argv, "--out", out)
    assert code == 2
    # what a terminal shows: each line's text after its last carriage return (an erased
    # progress bar shows nothing)
    lines = [seen for line in err.split("\n") if (seen := line.split("\r")[-1]).strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("gpumetrics score: error: ")
    assert match in lines[0], lines[0]
    assert text == ""
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    return lines[0]


def test_bad_parquet_input(tmp_path, capsys):
    y, s = _binary(3000)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"y": y, "s": s, "name": ["x"] * 3000}), good,
                   row_group_size=1000)
    args = ("--y-true", "y", "--y-score", "s")
    _bad(tmp_path, capsys, tmp_path / "missing.parquet", *args,
         match="missing.parquet: no such file")
    _bad(tmp_path, capsys, good, "--y-true", "y", "--y-score", "nope",
         match="good.parquet: no column 'nope'; the file has ['y', 's', 'name']")
    _bad(tmp_path, capsys, good, "--y-true", "y", "--y-score", "name",
         match="good.parquet: row group 0 (rows 0-999): column 'name' has type string")
    nan = s.copy()
    nan[2500] = np.nan
    with_nan = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"y": y, "s": nan}), with_nan, row_group_size=1000)
    line = _bad(tmp_path, capsys, with_nan, *args, "--batch-size", 300, "--progress",
                match="nan.parquet: row group 2 (rows 2000-2999): ")
    assert "NaN" in line and "column s" in line
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _bad(tmp_path, capsys, truncated, *args, match="truncated.parquet: not a readable Parquet")
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"y": y[:0], "s": s[:0]}), empty)
    _bad(tmp_path, capsys, good, empty, *args, match="empty.parquet: the file holds no rows")
    _bad(tmp_path, capsys, good, *args, "--metrics", "nope", match="unknown metrics ['nope']")
    _bad(tmp_path, capsys, good, "--y-true", "y", match="exactly one of")
    _bad(tmp_path, capsys, good, *args, "--metrics", "mse", match="does not apply")
    (tmp_path / "x.txt").write_text("y,s\n")
    _bad(tmp_path, capsys, tmp_path / "x.txt", *args, match="x.txt: unknown format")
    code, _, err = _run(capsys, good, *args, "--out", tmp_path / "no" / "r.json")
    assert code == 2 and "no folder" in err
    probabilities_only = tmp_path / "logits.parquet"
    pq.write_table(pa.table({"y": y, "s": 4 * s - 2}), probabilities_only)
    _bad(tmp_path, capsys, probabilities_only, *args, match="probabilities")


def test_bad_csv_and_npy_input(tmp_path, capsys):
    args = ("--y-true", "y", "--y-pred", "p")
    labels = tmp_path / "labels.csv"
    labels.write_text("y,p\n0,1\n1,7\n")
    _bad(tmp_path, capsys, labels, *args, match="labels.csv: rows 0-1: y_pred (column p) has "
         "labels outside [0, 2)")
    _bad(tmp_path, capsys, labels, "--y-true", "y", "--y-pred", "q",
         match="labels.csv: no column 'q'; the file has ['y', 'p']")
    words = tmp_path / "words.csv"
    words.write_text("y,s\n0,0.5\n1,high\n")
    _bad(tmp_path, capsys, words, "--y-true", "y", "--y-score", "s", match="words.csv: rows")
    nan = tmp_path / "nan.csv"
    nan.write_text("y,s\n0,0.5\n1,nan\n")  # CSV readers take NaN for a missing value
    _bad(tmp_path, capsys, nan, "--y-true", "y", "--y-score", "s",
         match="nan.csv: rows 0-1: column 's' has 1 missing values")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _bad(tmp_path, capsys, empty, *args, match="empty.csv: the file is empty")
    header = tmp_path / "header.csv"
    header.write_text("y,p\n")
    _bad(tmp_path, capsys, header, *args, match="header.csv: the file holds no rows")
    scores = np.zeros((10, 2))
    scores[7, 1] = np.inf
    np.save(tmp_path / "inf.npy", scores)
    _bad(tmp_path, capsys, tmp_path / "inf.npy", "--y-true", "0", "--y-score", "1",
         "--batch-size", 4, match="inf.npy: rows 4-7: y_pred (column 1) contains NaN or inf")
    _bad(tmp_path, capsys, tmp_path / "inf.npy", "--y-true", "0", "--y-score", "2",
         match="inf.npy: no column 2; the array has 2 columns")
    text = np.zeros(4, dtype=[("y", "i1"), ("p", "U3")])
    np.save(tmp_path / "text.npy", text)
    _bad(tmp_path, capsys, tmp_path / "text.npy", *args,
         match="text.npy: field 'p' has dtype <U3; numbers are expected")
    cut = tmp_path / "cut.npy"
    np.save(cut, scores)
    cut.write_bytes(cut.read_bytes()[:100])
    _bad(tmp_path, capsys, cut, "--y-true", "0", "--y-pred", "1",
         match="cut.npy: not a readable .npy file")


def test_corrupt_row_group_names_the_group(tmp_path, capsys):
    y, s = _binary(4000)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"y": y, "s": s}), path, row_group_size=1000,
                   compression="none", use_dictionary=False)
    column = pq.ParquetFile(path).metadata.row_group(2).column(1)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start:start + 16] = b"\xff" * 16  # the page header of row group 2's scores
    path.write_bytes(bytes(data))
    code, _, err = _run(capsys, path, "--y-true", "y", "--y-score", "s")
    assert code == 2
    assert "p.parquet: row group 2 (rows 2000-2999): " in err, err
    assert len(err.strip().splitlines()) == 1


def test_usage_errors_exit_2_and_other_commands_still_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score", "x.parquet", "--y-true", "y", "--y-pred", "p", "--batch-size", "0"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["score", "x.parquet", "--y-true", "y", "--y-pred", "p", "--y-score", "s"])
    assert exc.value.code == 2
    capsys.readouterr()
    y, s = _binary(100)
    np.save(tmp_path / "p.npy", np.column_stack([y, s]))
    run = [sys.executable, "-m", "gpumetrics.cli"]
    done = subprocess.run([*run, "score", str(tmp_path / "p.npy"), "--y-score", "1"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--y-true" in done.stderr and not done.stdout
    done = subprocess.run([*run, "score", str(tmp_path / "p.npy"), "--y-true", "0",
                           "--y-score", "7"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert main(["info"]) == 0
    assert main(["batched-demo", "--samples", "2000", "--checkpoints", "2", "--classes", "3"]) == 0
    assert "best checkpoint" in capsys.readouterr().out


def test_dask_scheduler(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    pytest.importorskip("gpumetrics.dask")
    from dask.distributed import LocalCluster

    y, s = _binary(6000, seed=3)
    paths = []
    for i, sl in enumerate((slice(0, 2500), slice(2500, 6000))):
        paths.append(tmp_path / f"part{i}.parquet")
        pq.write_table(pa.table({"y": y[sl], "s": s[sl]}), paths[-1])
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        result = _json(capsys, *paths, "--y-true", "y", "--y-score", "s", "--dask-scheduler",
                       cluster.scheduler_address)
        _bad(tmp_path, capsys, tmp_path / "p.npy", "--y-true", "0", "--y-score", "1",
             "--dask-scheduler", cluster.scheduler_address, match="no such file")
    assert result["rows"] == 6000
    _check(result, _expected_binary(y, s), rtol=1e-6)


def test_progress_counts_rows_and_estimates_a_csv_total(tmp_path):
    import gzip
    import io

    from gpumetrics import readers
    from gpumetrics.progress import Progress

    rng = np.random.default_rng(5)
    n = 200_000
    path = tmp_path / "big.csv"
    lines = [f"{a},{b:.6f}" for a, b in zip(rng.integers(0, 2, n), rng.random(n), strict=True)]
    path.write_text("y,s\n" + "\n".join(lines) + "\n")
    assert path.stat().st_size > 2 << 20  # past the sampled first MiB
    assert abs(readers._estimated_rows(path) - n) < 0.02 * n
    packed = tmp_path / "big.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert abs(readers._estimated_rows(packed) - n) < 0.1 * n  # scaled by compressed bytes
    small = tmp_path / "small.csv"
    small.write_text("y,s\n1,0.5\n0,0.25")  # exact, with or without a final newline
    assert readers._estimated_rows(small) == 2
    stream = io.StringIO()
    files = [readers.open_reader(path, ["y", "s"])]
    bar = Progress(files, True, stream=stream, delay=0)
    assert "~" in stream.getvalue()  # drawn at once, of an estimated total
    for _ in range(5):  # 250,000 rows: past the estimate, which gives way
        bar.advance(n // 4, 0, 1.0)
    bar.close(finished=True)
    final = stream.getvalue().split("\r")[-1]
    assert "250k/250k rows" in final and "~" not in final and final.endswith("\n")
    failed = io.StringIO()
    bar = Progress(files, True, stream=failed, delay=0)
    bar.advance(10, 0, 0.1)
    bar.close(finished=False)
    assert "rows" in failed.getvalue()  # it was drawn, then erased:
    assert failed.getvalue().split("\r")[-1].strip() == ""
    quick = io.StringIO()
    bar = Progress(files, True, stream=quick)  # a run shorter than its delay
    bar.advance(n, 0, 1.0)
    bar.close(finished=True)
    assert quick.getvalue() == ""
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(path.read_bytes())[:5000])
    assert readers._estimated_rows(broken) is None  # the reader reports it, not the bar


def test_parquet_page_checksums_are_verified_and_their_absence_said(tmp_path, capsys):
    """200 zeroed bytes in the middle of a file: an error where its pages carry checksums;
    where they carry none, the result comes with one warning saying so."""
    from gpumetrics import parquet_checksums

    y, s = _binary(50_000)
    table = pa.table({"y": y, "s": s})
    for checked in (True, False):
        path = tmp_path / f"{'crc' if checked else 'plain'}.parquet"
        pq.write_table(table, path, write_page_checksum=checked)
        assert parquet_checksums._has_page_checksums(path) is checked
        assert parquet_checksums.unchecked_parquet([path]) == ([] if checked else [path])
        data = bytearray(path.read_bytes())
        data[len(data) // 2:len(data) // 2 + 200] = bytes(200)
        path.write_bytes(bytes(data))
        code, text, err = _run(capsys, path, "--y-true", "y", "--y-score", "s")
        if checked:
            assert code == 2 and "CRC checksum verification failed" in err
            assert "row group 0" in err and text == ""
        else:
            assert code == 0
            (warning,) = [ln for ln in err.splitlines() if "warning" in ln]
            assert "pages carry no checksums" in warning and str(path) in warning


def test_page_headers_are_read_without_guessing():
    from gpumetrics.parquet_checksums import _thrift_has_field_4

    assert _thrift_has_field_4(bytes([0x15, 0x00, 0x15, 0x02, 0x15, 0x02, 0x15, 0x07]))
    assert _thrift_has_field_4(bytes([0x15, 0x00, 0x15, 0x02, 0x15, 0x02, 0x2C])) is False
    assert _thrift_has_field_4(bytes([0x19, 0x00])) is None  # field 1 not an i32
    assert _thrift_has_field_4(b"") is None
