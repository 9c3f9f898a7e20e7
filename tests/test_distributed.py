"""``sync()`` over a real two-process ``gloo`` group: one all-reduce for every state, one
all-gather for exact-mode buffers, and every rank ends with the metrics of all the data."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import gpumetrics as gm

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

DATA = """
rng = np.random.default_rng(0)
n = 1000
t = rng.integers(0, 3, n)
logits = rng.normal(size=(n, 3)) * 2
proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
w = rng.random(n)
y = 1e8 + rng.normal(size=n)
yp = y + rng.normal(size=n)
"""
"""The data both ranks share (each takes its rows) and the one-process check recomputes."""

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch.distributed as dist
    from gpumetrics.metrics import (AUROC, Accuracy, AveragePrecision, CrossEntropy, F1Score,
                                    MatthewsCorrCoef, MetricSet, R2Score, ROCCurve)

    rank, port, out, split, exact = int(sys.argv[1]), sys.argv[2], sys.argv[3], \\
        int(sys.argv[4]), sys.argv[5] == "1"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    calls = {"all_reduce": 0, "all_gather": 0}
    for name in calls:
        real = getattr(dist, name)
        def counted(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)
        setattr(dist, name, counted)

    DATA_BLOCK
    sl = slice(0, split) if rank == 0 else slice(split, n)
    C = 3
    labels = MetricSet({"acc": Accuracy("multiclass", num_classes=C),
                        "f1": F1Score("multiclass", num_classes=C),
                        "mcc": MatthewsCorrCoef("multiclass", num_classes=C),
                        "ce": CrossEntropy(num_classes=C),
                        "auc": AUROC("multiclass", num_classes=C, thresholds=64)})
    labels.update(t[sl], proba[sl], sample_weight=w[sl])
    binary = MetricSet({"auc": AUROC(thresholds=None if exact else 50),
                        "ap": AveragePrecision(thresholds=None if exact else 50)})
    binary.update((t[sl] == 1).astype(np.int64), proba[sl, 1])
    r2 = R2Score()
    r2.update(y[sl], yp[sl], sample_weight=w[sl])
    before = dict(calls)
    labels.sync()
    per_set = {"labels": dict(calls)}
    binary.sync()
    per_set["binary"] = {k: calls[k] - per_set["labels"][k] for k in calls}
    r2.sync()
    res = {k: float(v) for k, v in labels.compute().items()}
    res.update({"b_" + k: float(v) for k, v in binary.compute().items()})
    res["r2"] = float(r2.compute())
    json.dump({"results": res, "calls": per_set, "before": before}, open(out, "w"))
    dist.destroy_process_group()
""").replace("DATA_BLOCK", DATA)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, split: int, exact: bool):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    outs = [tmp_path / f"rank{r}.json" for r in range(2)]
    procs = [subprocess.Popen([sys.executable, str(script), str(r), port, str(outs[r]),
                               str(split), "1" if exact else "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    for p in procs:
        try:
            _, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # pragma: no cover
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, err[-3000:]
    return [json.loads(o.read_text()) for o in outs]


def _expected(exact: bool):
    data = {"np": np}
    exec(DATA, data)
    t, proba, w, y, yp = (data[k] for k in ("t", "proba", "w", "y", "yp"))
    edges64 = np.linspace(0, 1, 65)[1:-1]
    edges50 = None if exact else np.linspace(0, 1, 51)[1:-1]
    b = (t == 1).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "acc": gm.accuracy_score(t, proba.argmax(1), sample_weight=w),
            "f1": gm.f1_score(t, proba.argmax(1), average="macro", sample_weight=w),
            "mcc": gm.matthews_corrcoef(t, proba.argmax(1), sample_weight=w),
            "ce": gm.cross_entropy(t, proba, sample_weight=w),  # the set feeds proba as logits
            "auc": float(gm.roc_auc_score(t, proba, multi_class="ovr", sample_weight=w,
                                          thresholds=edges64).value),
            "b_auc": float(gm.roc_auc_score(b, proba[:, 1], thresholds=edges50)),
            "b_ap": float(gm.average_precision_score(b, proba[:, 1], thresholds=edges50)),
            "r2": gm.r2_score(y, yp, sample_weight=w),
        }


@pytest.mark.parametrize(("split", "exact"), [(700, True), (0, True), (1000, False),
                                              (333, False)],
                         ids=["uneven-exact", "empty-rank0-exact", "empty-rank1-binned",
                              "uneven-binned"])
def test_sync_over_gloo_equals_one_process(tmp_path, split, exact):
    ranks = _run(tmp_path, split, exact)
    expected = _expected(exact)
    for rank in ranks:
        for name, value in expected.items():
            assert rank["results"][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert rank["before"] == {"all_reduce": 0, "all_gather": 0}
        # one all-reduce per set; the buffered (exact) set adds one all-gather
        assert rank["calls"]["labels"] == {"all_reduce": 1, "all_gather": 0}
        assert rank["calls"]["binary"] == {"all_reduce": 1, "all_gather": 1 if exact else 0}
    # every rank holds the same merged state, bit for bit
    assert ranks[0]["results"] == ranks[1]["results"]


def test_sync_without_a_process_group_is_a_no_op():
    """As torchmetrics: one process already holds every state."""
    import numpy as np

    from gpumetrics.metrics import Accuracy, MetricSet

    acc = Accuracy()
    acc.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
    assert acc.sync() is acc
    assert acc.compute() == pytest.approx(2 / 3)
    ms = MetricSet([Accuracy()])
    ms.update(np.array([1]), np.array([1]))
    assert ms.sync().compute() == {"accuracy": 1.0}
