"""State operations on a real device: ordered across streams, buffers where the metric's
context says, JAX inputs kept alive, and torch's memory pool for torch callers.

Each ordering test delays work on one stream with ``torch.cuda._sleep`` so that an
operation issued on another stream without a device-side wait would read or write the
buffers too early and give a wrong count. Run by ``benchmarks/device_check.sh``, or
``python -m pytest -m gpu tests/gpu``.
"""

from __future__ import annotations

import numpy as np
import pytest

import gpumetrics as gm
from gpumetrics import _streams, dispatch
from gpumetrics import metrics as M

pytestmark = pytest.mark.gpu
if dispatch.cuda_unavailable_reason() is not None:
    pytest.skip(f"no GPU: {dispatch.cuda_unavailable_reason()}", allow_module_level=True)
cupy = pytest.importorskip("cupy")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("this torch build has no CUDA", allow_module_level=True)

C, N = 7, 1_000_000
SLEEP = 200_000_000  # GPU cycles: ~0.1 s, far longer than a launch from the host


def batch(seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    t = torch.randint(0, C, (N,), device="cuda", generator=g)
    p = torch.randint(0, C, (N,), device="cuda", generator=g)
    return t, p


def expected(*batches):
    cm = np.zeros((C, C), np.int64)
    for t, p in batches:
        cm += gm.confusion_matrix(t.cpu().numpy(), p.cpu().numpy(), labels=np.arange(C))
    return cm


def counts(metric):
    return metric.compute().cpu().numpy()


def fresh():
    return M.ConfusionMatrix("multiclass", num_classes=C, validate=False)


def late_update(metric, stream, b):
    """``metric.update(*b)`` queued on ``stream`` behind a sleep."""
    with torch.cuda.stream(stream):
        torch.cuda._sleep(SLEEP)
        metric.update(*b)


def test_state_dict_on_another_stream_waits_for_updates():
    b = batch(1)
    torch.cuda.synchronize()
    m, side = fresh(), torch.cuda.Stream()
    m.update(*b)  # allocates the states on the default stream
    late_update(m, side, b)
    state = m.state_dict()  # on the default stream: must see both updates
    (value,) = state.values()
    np.testing.assert_array_equal(value["counts"][0, :C, :C], 2 * expected(b))


def test_reset_on_another_stream_lands_between_updates():
    b1, b2 = batch(2), batch(3)
    torch.cuda.synchronize()
    m, side = fresh(), torch.cuda.Stream()
    m.update(*b1)
    late_update(m, side, b1)
    m.reset()  # default stream: after the late update, not before it
    with torch.cuda.stream(side):
        m.update(*b2)
    torch.cuda.synchronize()
    np.testing.assert_array_equal(counts(m), expected(b2))


def test_merge_waits_for_both_metrics():
    b1, b2 = batch(4), batch(5)
    torch.cuda.synchronize()
    a, b, side = fresh(), fresh(), torch.cuda.Stream()
    a.update(*b1)
    b.update(*b2)
    late_update(b, side, b2)
    a.merge(b)
    np.testing.assert_array_equal(counts(a), expected(b1, b2, b2))
    late_update(a, side, b1)  # a's own later work stays ordered after the merge
    np.testing.assert_array_equal(counts(a), expected(b1, b1, b2, b2))


def test_load_state_dict_then_side_stream_updates():
    b1, b2 = batch(6), batch(7)
    donor = fresh()
    donor.update(*b1)
    state = donor.state_dict()
    m, side = fresh(), torch.cuda.Stream()
    m.update(*b2)
    late_update(m, side, b2)
    m.load_state_dict(state)  # overwrites the buffers after the late update
    with torch.cuda.stream(side):
        m.update(*b2)
    np.testing.assert_array_equal(counts(m), expected(b1, b2))


@pytest.mark.parametrize("how", ["load_state_dict", "merge"])
def test_a_restored_metric_keeps_its_buffers_on_the_device(how):
    """A fresh metric given a state (from a checkpoint, or merged from a GPU metric) counts
    its next GPU batches on the device: no host buffers, no host round trip per update."""
    metrics = M.MetricSet([M.Accuracy("multiclass", num_classes=C, validate=False),
                           M.AUROC("multiclass", num_classes=C, thresholds=256,
                                   validate=False)])
    t, _ = batch(8)
    s = torch.rand(N, C, device="cuda").softmax(dim=1)
    metrics.update(t, s)
    restored = M.MetricSet([M.Accuracy("multiclass", num_classes=C, validate=False),
                            M.AUROC("multiclass", num_classes=C, thresholds=256,
                                    validate=False)])
    if how == "load_state_dict":
        restored.load_state_dict(metrics.state_dict())
    else:
        restored.merge(metrics)
    restored.update(t, s)
    _assert_on_device(restored, t.device.index)
    torch.cuda.synchronize()
    done = torch.cuda.Event()
    torch.cuda._sleep(2_000_000_000)
    done.record()
    for _ in range(3):
        restored.update(t, s)
    assert not done.query(), "update() after a restore waited for the GPU"
    metrics.update(t, s)
    metrics.update(t, s)
    metrics.update(t, s)
    metrics.update(t, s)  # the restored set holds 5 batches as well
    got, want = restored.compute(), metrics.compute()
    assert float(got["accuracy"]) == pytest.approx(float(want["accuracy"]), rel=1e-12)
    value = lambda x: float(getattr(x, "value", x))  # noqa: E731 (a binned AUROC)
    assert value(got["auroc"]) == pytest.approx(value(want["auroc"]), rel=1e-12)


def _assert_on_device(metrics, index):
    for state in metrics.states.values():
        for name, buffer in state.arrays.items():
            chunks = buffer if isinstance(buffer, list) else [buffer]
            assert all(isinstance(c, cupy.ndarray) and c.device.id == index
                       for c in chunks), (state.key, name)


def test_sync_in_one_process_keeps_every_buffer_on_the_device(tmp_path):
    """``sync`` in a group of one (gloo): exact-mode rows gathered through the host, an
    empty buffer among them, land back on the metric's device."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)
    try:
        ms = M.MetricSet({"exact": M.AUROC("binary", validate=False), "cm": fresh()})
        t, p = batch(9)
        s = torch.rand(N, device="cuda")
        ms.update(t, p)  # the AUROC buffer sees labels 0..6 as scores: only its rows matter
        ms.reset()  # an empty exact-mode buffer, as on an empty shard
        ms["cm"].update(t, p)
        ms.sync()
        _assert_on_device(ms, t.device.index)
        ms.update((t > 3).long(), s)
        ms.sync()
        _assert_on_device(ms, t.device.index)
        want = gm.roc_auc_score((t > 3).long().cpu().numpy(), s.cpu().numpy())
        assert float(ms.compute()["exact"]) == pytest.approx(want, rel=1e-12)
    finally:
        dist.destroy_process_group()


def test_a_set_of_metrics_updated_on_a_side_stream_waits_for_them():
    b = batch(10)
    torch.cuda.synchronize()
    m, side = fresh(), torch.cuda.Stream()
    m.update(*b)
    late_update(m, side, b)
    ms = M.MetricSet({"cm": m})  # on the default stream, after the late update
    assert isinstance(ms.compute()["cm"], torch.Tensor)
    np.testing.assert_array_equal(ms.compute()["cm"].cpu().numpy(), expected(b, b))


# --- JAX -----------------------------------------------------------------------------------


def _jax_gpu():
    jax = pytest.importorskip("jax")
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("JAX has no GPU here")
    return jax


def test_jax_inputs_held_until_the_kernels_ran_and_results_stay_on_the_device():
    jax = _jax_gpu()
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    t, p = rng.integers(0, C, N), rng.integers(0, C, N)
    m = M.MetricSet([M.Accuracy("multiclass", num_classes=C, validate=False),
                     M.ConfusionMatrix("multiclass", num_classes=C, validate=False)])
    for _ in range(5):  # inputs made and dropped every step, as in a training loop
        m.update(jnp.asarray(t), jnp.asarray(p))
        junk = [jnp.full(N, 3) for _ in range(4)]  # reuses freed memory at once
        del junk
    got = m.compute()
    assert isinstance(got["accuracy"], jax.Array)
    assert got["accuracy"].devices() == {jax.devices("gpu")[0]}
    assert float(got["accuracy"]) == pytest.approx(float(np.mean(t == p)), rel=1e-12)
    cm = np.asarray(got["confusion_matrix"])
    np.testing.assert_array_equal(cm, 5 * gm.confusion_matrix(t, p, labels=np.arange(C)))
    cupy.cuda.Device().synchronize()
    assert _streams.held() == 0  # released once the kernels have run


def test_jax_bfloat16_scores():
    _jax_gpu()
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, N)
    s = rng.random(N).astype(np.float32)
    s16 = jnp.asarray(s, dtype=jnp.bfloat16)
    got = gm.roc_auc_score(jnp.asarray(y), s16)
    widened = np.asarray(s16.astype(jnp.float32))
    assert float(got) == pytest.approx(gm.roc_auc_score(y, widened), rel=1e-12)


# --- memory --------------------------------------------------------------------------------


def test_torch_callers_allocate_from_torchs_pool():
    """CuPy's pool stays empty for torch callers; what an exact AUROC borrowed goes back to
    torch's cache, where torch.cuda.memory_allocated() sees it and empty_cache() frees it."""
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    held_by_cupy = pool.total_bytes()  # arrays of earlier tests still alive
    y = torch.randint(0, 2, (10_000_000,), device="cuda")
    s = torch.rand(10_000_000, device="cuda")
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    auc = gm.roc_auc_score(y, s)
    torch.cuda.synchronize()
    assert float(auc) == pytest.approx(
        gm.roc_auc_score(y.cpu().numpy(), s.cpu().numpy()), rel=1e-9)
    del auc
    assert pool.total_bytes() == held_by_cupy, "CuPy's own pool was used"
    assert torch.cuda.max_memory_allocated() > before + 10_000_000 * 4  # the sort's buffers
    # all of it given back to torch (but small per-device constants kept for later calls)
    assert torch.cuda.memory_allocated() - before < 1 << 20
