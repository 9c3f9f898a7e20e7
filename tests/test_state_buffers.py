"""State buffers stay where they are: ``reset``, ``merge``, ``load_state_dict`` and ``sync``
write into them instead of replacing them (so a buffer that queued device work may still
use is never freed, and a GPU metric's buffers never turn into host arrays); narrow floats
(bfloat16, float8 from ``ml_dtypes``, JAX's) are read as float32; the device-order objects
copy and pickle as fresh orders."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import gpumetrics as gm
from gpumetrics import _arrays, _streams
from gpumetrics import metrics as M

C = 4


def _set():
    return M.MetricSet({
        "acc": M.Accuracy("multiclass", num_classes=C),
        "auroc": M.AUROC("multiclass", num_classes=C, thresholds=64),
        "exact": M.AUROC("binary"),
        "mse": M.MeanSquaredError(),
        "ce": M.CrossEntropy(num_classes=C),
        "top2": M.TopKAccuracy(k=2, num_classes=C),
    })


def _batch(seed, n=300):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, C, n)
    s = rng.random((n, C))
    return t, s / s.sum(axis=1, keepdims=True)


def _update(ms, seed):
    t, s = _batch(seed)
    for name in ("acc", "auroc", "ce", "top2"):
        ms[name].update(t, s)
    ms["exact"].update(t == 1, s[:, 1])
    ms["mse"].update(s[:, 0], s[:, 1])


def _buffers(ms):
    return {(key, name): buffer for key, state in ms.states.items()
            for name, buffer in state.arrays.items() if not isinstance(buffer, list)}


def test_reset_merge_and_load_write_into_the_same_buffers():
    ms, other = _set(), _set()
    _update(ms, 1)
    _update(other, 2)
    before = _buffers(ms)
    assert before  # every fixed-size field
    expected = {k: v.copy() for k, v in _buffers(copy.deepcopy(ms).merge(other)).items()}

    ms.merge(other)
    after = _buffers(ms)
    assert all(after[k] is before[k] for k in before)
    for k in before:
        np.testing.assert_array_equal(after[k], expected[k])

    saved = other.state_dict()
    ms.load_state_dict(saved)
    assert all(_buffers(ms)[k] is before[k] for k in before)
    for key, fields in ms.state_dict().items():
        for name, value in fields.items():
            np.testing.assert_array_equal(value, saved[key][name])

    ms.reset()
    assert all(_buffers(ms)[k] is before[k] for k in before)
    _update(ms, 2)
    assert _values(ms) == _values(other)


def _values(ms):
    return {k: np.asarray(getattr(v, "value", v)).tolist() for k, v in ms.compute().items()}


def test_a_bad_state_dict_changes_no_state():
    ms = _set()
    _update(ms, 3)
    good = ms.state_dict()
    bad = copy.deepcopy(good)
    last = list(bad)[-1]
    field = next(n for n, v in bad[last].items() if np.ndim(v) >= 1 and np.size(v) > 1)
    bad[last][field] = np.zeros(np.shape(bad[last][field])[:-1] + (99,))
    fresh = _set()
    with pytest.raises(ValueError, match=field):
        fresh.load_state_dict(bad)
    for fields in fresh.state_dict().values():  # the states before the bad one untouched
        for value in fields.values():
            assert not np.any(np.isfinite(value) & (value != 0)) or value.size == 0


def test_merge_into_a_fresh_metric_equals_the_updated_one():
    a, fresh = _set(), _set()
    _update(a, 4)
    fresh.merge(a)
    assert _values(fresh) == _values(a)
    _update(fresh, 5)
    _update(a, 5)
    assert _values(fresh) == _values(a)


def test_copies_continue_the_device_order_and_pickles_start_afresh():
    m = M.MetricSet([M.Accuracy("multiclass", num_classes=C), M.MeanSquaredError()])
    m._order.event, m._order.stream = object(), (0, 123)  # as a device leaves them
    clone = copy.deepcopy(m)  # its buffers were copied after m's last operation
    assert clone._order is not m._order and clone._order.event is m._order.event
    assert clone["accuracy"]._order is clone._order  # still one order for the set
    shared = {id(state) for state in clone.states.values()}  # and states shared as in m
    assert all(id(st) in shared for mm in clone.metrics.values() for st in mm._roles.values())
    restored = pickle.loads(pickle.dumps(m))  # events belong to the process that made them
    assert restored._order.event is None and restored._order.stream is None
    with _streams.scope(_arrays.HOST, m._order):  # on the host: nothing to order
        pass
    assert m._order.stream == (0, 123)


ml_dtypes = pytest.importorskip("ml_dtypes")


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn"])
def test_narrow_float_scores_are_read_as_float32(dtype):
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 500)
    narrow = rng.random(500).astype(getattr(ml_dtypes, dtype))
    wide = narrow.astype(np.float32)
    assert gm.roc_auc_score(y, narrow) == gm.roc_auc_score(y, wide)
    m = M.AUROC("binary")
    m.update(y, narrow)
    assert m.compute() == gm.roc_auc_score(y, wide)
    assert _arrays.to_kernel(narrow, "y_score").dtype == np.float32


def test_other_void_dtypes_are_still_rejected():
    y = np.zeros(3, np.int64)
    records = np.zeros(3, dtype=[("a", "f4")])
    with pytest.raises((ValueError, TypeError)):
        gm.roc_auc_score(y, records)


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_torch_narrow_float_scores_are_read_as_float32(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    narrow = torch.from_numpy(rng.random(400)).to(getattr(torch, dtype))
    auc = gm.roc_auc_score(torch.from_numpy(y), narrow)
    assert float(auc) == gm.roc_auc_score(y, narrow.float().numpy())


def test_a_set_of_updated_metrics_keeps_their_context():
    torch = pytest.importorskip("torch")
    acc = M.Accuracy("multiclass", num_classes=C)
    acc.update(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    ms = M.MetricSet({"acc": acc, "f1": M.F1Score("multiclass", num_classes=C)})
    assert isinstance(ms.compute()["acc"], torch.Tensor)  # torch in, torch out, as before
