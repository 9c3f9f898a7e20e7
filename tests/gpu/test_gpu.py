"""Tests on a real CUDA device: ``python -m pytest -m gpu tests/gpu``.

Every kernel against the NumPy reference on large random inputs, with CuPy inputs (the
results stay on the device) and with host inputs; the bitonic sort and block scan that
serve where CuPy cannot run; torch, CuPy and JAX interop; kernels ordered on the caller's
stream; and no host synchronisation in ``update()``. Skipped where no GPU can run.
"""

from __future__ import annotations

import numpy as np
import pytest

import gpumetrics as gm
from gpumetrics import dispatch
from gpumetrics import metrics as M

pytestmark = pytest.mark.gpu
if dispatch.cuda_unavailable_reason() is not None:
    pytest.skip(f"no GPU: {dispatch.cuda_unavailable_reason()}", allow_module_level=True)
cupy = pytest.importorskip("cupy")

kc = dispatch._load("cuda")
ref = dispatch._load("reference")
N = 2_000_000
rng = np.random.default_rng(20261123)


@pytest.fixture(params=["cupy", "host"])
def where(request):
    """Inputs as CuPy arrays (results stay on the device) or NumPy (copied both ways)."""
    return request.param


def put(where, *arrays):
    if where == "host":
        return arrays
    return tuple(None if a is None else cupy.asarray(a) for a in arrays)


def check(got, expected, rtol=0.0, atol=0.0):
    got = cupy.asnumpy(got) if isinstance(got, cupy.ndarray) else np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def labels(C, shape, dtype=np.int32):
    return rng.integers(0, C, shape).astype(dtype)


@pytest.mark.parametrize("C", [2, 10, 100])  # 100: (C + 1)^2 bins exceed shared memory
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion(where, C, weighted):
    t, p = labels(C, (1, N)), labels(C + 1, (4, N))  # label C lands in the overflow bin
    w = rng.random((1, N)) if weighted else None
    expected = ref.confusion(t, p, C, sample_weight=w)
    out = kc.confusion(*put(where, t, p), C, sample_weight=put(where, w)[0])
    check(out, expected, rtol=1e-12)
    assert isinstance(out, cupy.ndarray) == (where == "cupy")
    again = kc.confusion(*put(where, t, p), C, sample_weight=put(where, w)[0], out=out)
    assert again is out  # counted into out: in place on the device
    check(out, 2 * expected, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_label_counts_and_per_sample_counts(where, weighted):
    t, p = labels(2, (1, N // 4, 16), np.uint8), labels(2, (3, N // 4, 16), np.int8)
    w = rng.random((1, N // 4)) if weighted else None
    check(kc.label_counts(*put(where, t, p, w)), ref.label_counts(t, p, w), rtol=1e-12)
    check(kc.sample_label_counts(*put(where, t, p)), ref.sample_label_counts(t, p))


def test_topk_bincount_and_range(where):
    s = rng.normal(size=(2, N // 8, 20)).astype(np.float32)
    t = labels(20, (1, N // 8))
    check(kc.topk_outcomes(*put(where, t, s), 5), ref.topk_outcomes(t, s, 5))
    y = rng.integers(-300, 300, N)
    (yd,) = put(where, y)
    assert kc.label_range(yd) == ref.label_range(y)
    check(kc.bincount(yd, -100, 250), ref.bincount(y, -100, 250))


@pytest.mark.parametrize("edges", [None, np.linspace(0.0, 1.0, 1023)])
@pytest.mark.parametrize("weighted", [False, True])
def test_score_range_and_histogram(where, edges, weighted):
    s = rng.random((2, N, 3))
    t = labels(3, (1, N))
    w = rng.random((1, N)) if weighted else None
    check(kc.score_range(put(where, s)[0]), ref.score_range(s))
    lo, hi = np.zeros((2, 3)), np.ones((2, 3))
    B = 4096 if edges is None else edges.shape[0] + 1
    sd, td, wd, ed = put(where, s, t, w, edges)
    check(kc.score_histogram(td, sd, lo, hi, B, ed, wd),
          ref.score_histogram(t, s, lo, hi, B, edges, w), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_rank_auc(where, weighted):
    s = np.round(rng.random((2, N, 2)), 4).astype(np.float32)  # many ties
    t = labels(2, (1, N, 2), np.uint8)
    w = rng.random((1, N)) if weighted else None
    got = kc.rank_auc(*put(where, t, s, w))
    check(got, ref.rank_auc(t, s, w), rtol=0.0 if not weighted else 1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_clf_curve(where, weighted):
    s = np.round(rng.random(N), 3)
    t = labels(2, N)
    w = rng.integers(0, 3, N) * rng.random(N) if weighted else None  # zero weights too
    for got, expected in zip(kc.clf_curve(*put(where, t, s, w)), ref.clf_curve(t, s, w),
                             strict=True):
        check(got, expected, rtol=1e-9)


def test_bitonic_sort_and_block_scan(monkeypatch):
    """The sort and scan written here (used where CuPy cannot run), on the device."""
    monkeypatch.setattr(kc, "_usable_cupy", lambda: None)
    s = np.round(rng.random((1, 300_001, 1)), 3)
    t = labels(2, (1, 300_001))
    check(kc.rank_auc(t, s), ref.rank_auc(t, s))
    for got, expected in zip(kc.clf_curve(t[0], s[0, :, 0]), ref.clf_curve(t[0], s[0, :, 0]),
                             strict=True):
        check(got, expected)


def test_moments_and_losses(where):
    y = 1e6 + rng.normal(size=(1, N, 2))
    yhat = y + rng.normal(size=(3, N, 2))
    w = rng.random((1, N))
    out = ref.moments(y[:, :1000], yhat[:, :1000])
    got = kc.moments(*put(where, y, yhat, w), out=put(where, out.copy())[0])
    check(got, ref.moments(y, yhat, w, out.copy()), rtol=1e-9, atol=1e-6)
    logits = rng.normal(size=(2, N // 4, 10)) * 3
    t = labels(10, (1, N // 4))
    check(kc.loss_sums(*put(where, t, logits), "softmax"),
          ref.loss_sums(t, logits, "softmax"), rtol=1e-9)


# --- interop -------------------------------------------------------------------------------


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch build has no CUDA")
    return torch


def test_torch_tensors_in_torch_out():
    torch = _torch_cuda()
    t = torch.randint(0, 5, (N,), device="cuda")
    p = torch.where(torch.rand(N, device="cuda") < 0.7, t, torch.randint(0, 5, (N,),
                                                                        device="cuda"))
    s = torch.rand(N, device="cuda")
    f1 = gm.f1_score(t, p, average="macro")
    assert isinstance(f1, torch.Tensor) and f1.device == t.device
    th, ph, sh = t.cpu().numpy(), p.cpu().numpy(), s.cpu().numpy()
    assert float(f1) == pytest.approx(gm.f1_score(th, ph, average="macro"), rel=1e-12)
    auc = gm.roc_auc_score(t == 1, s)
    assert auc.device == t.device
    assert float(auc) == pytest.approx(gm.roc_auc_score(th == 1, sh), rel=1e-12)
    m = M.Accuracy("multiclass", num_classes=5)
    m.update(t, p)
    assert m.compute().device == t.device


def test_cupy_arrays_in_cupy_out():
    t = cupy.random.randint(0, 3, N)
    p = cupy.random.randint(0, 3, N)
    cm = gm.confusion_matrix(t, p)
    assert isinstance(cm, cupy.ndarray)
    check(cm, gm.confusion_matrix(t.get(), p.get()))


def test_jax_arrays():
    jax = pytest.importorskip("jax")
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("JAX has no GPU here")
    import jax.numpy as jnp

    t = jnp.asarray(labels(4, N))
    p = jnp.asarray(labels(4, N))
    acc = gm.accuracy_score(t, p)
    assert isinstance(acc, jax.Array)
    assert float(acc) == pytest.approx(gm.accuracy_score(np.asarray(t), np.asarray(p)))


# --- streams and host synchronisation ------------------------------------------------------


def test_kernels_run_on_the_torch_stream():
    """Inputs written late on a side stream: a kernel launched on any other stream would
    read them before they exist. The kernels are compiled first, so that the sleep outlasts
    the update's launches whatever ran before this test."""
    torch = _torch_cuda()
    src_t = torch.randint(0, 7, (N,), device="cuda", dtype=torch.int32)
    src_p = torch.randint(0, 7, (N,), device="cuda", dtype=torch.int32)

    def metrics():
        return M.MetricSet([M.Accuracy("multiclass", num_classes=7, validate=False),
                            M.ConfusionMatrix("multiclass", num_classes=7, validate=False)])

    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        warm = metrics()
        warm.update(src_t, src_p)
        warm.compute()
    torch.cuda.synchronize()
    with torch.cuda.stream(side):
        t, p = torch.zeros_like(src_t), torch.full_like(src_p, 3)
        ms = metrics()
        torch.cuda._sleep(500_000_000)
        t.copy_(src_t)
        p.copy_(src_p)
        ms.update(t, p)
        # the update's kernels wait behind the sleep on the side stream; had they gone to
        # the default stream (ordered after the side stream by DLPack's event), the
        # default stream would be busy now
        assert torch.cuda.default_stream().query()
        assert not side.query()
        got = ms.compute()
    torch.cuda.current_stream().wait_stream(side)
    th, ph = src_t.cpu().numpy(), src_p.cpu().numpy()
    assert float(got["accuracy"]) == pytest.approx(gm.accuracy_score(th, ph))
    np.testing.assert_array_equal(got["confusion_matrix"].cpu().numpy(),
                                  gm.confusion_matrix(th, ph, labels=np.arange(7)))


def test_update_never_waits_for_the_gpu():
    """A training-loop-like sequence of ``update()`` calls with ``validate=False`` while the
    GPU is held busy: the updates return before the GPU is free (the host never waited),
    and torch's sync debug mode raises on any synchronising torch call in between."""
    torch = _torch_cuda()
    C, B = 10, 65536
    metrics = M.MetricSet({
        "acc": M.Accuracy("multiclass", num_classes=C, validate=False),
        "f1": M.F1Score("multiclass", num_classes=C, validate=False),
        "mcc": M.MatthewsCorrCoef("multiclass", num_classes=C, validate=False),
        "auroc": M.AUROC("multiclass", num_classes=C, thresholds=1024, validate=False),
        "top5": M.TopKAccuracy(k=5, num_classes=C, validate=False),
        "ce": M.CrossEntropy(num_classes=C, validate=False),
    })
    regression = M.MetricSet([M.MeanSquaredError(validate=False), M.R2Score(validate=False)])
    model = torch.nn.Linear(32, C).cuda()
    batches = [(torch.randn(B, 32, device="cuda"), torch.randint(0, C, (B,), device="cuda"))
               for _ in range(8)]

    def step(x, y):
        logits = model(x)
        probs = logits.softmax(dim=1)
        metrics.update(y, probs)
        regression.update(probs[:, 0], logits[:, 0])

    step(*batches[0])  # compiles the kernels and allocates the states
    torch.cuda.synchronize()
    done = torch.cuda.Event()
    torch.cuda.set_sync_debug_mode("error")
    try:
        torch.cuda._sleep(3_000_000_000)  # about 2 s of GPU time
        done.record()
        for x, y in batches[1:]:
            step(x, y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert not done.query(), "update() waited for the GPU"
    result = metrics.compute()
    # the same steps on the host, batch by batch, give the same values
    with torch.no_grad():
        y = np.concatenate([b[1].cpu().numpy() for b in batches])
        probs = np.concatenate([model(b[0]).softmax(dim=1).cpu().numpy() for b in batches])
    assert float(result["acc"]) == pytest.approx(gm.accuracy_score(y, probs.argmax(1)),
                                                 rel=1e-12)
    assert float(result["f1"]) == pytest.approx(
        gm.f1_score(y, probs.argmax(1), average="macro"), rel=1e-9)
    # CrossEntropy takes logits: here the probabilities, softmaxed once more
    e = np.exp(probs - probs.max(axis=1, keepdims=True))
    assert float(result["ce"]) == pytest.approx(
        gm.log_loss(y, e / e.sum(axis=1, keepdims=True), labels=np.arange(C)), rel=1e-5)
