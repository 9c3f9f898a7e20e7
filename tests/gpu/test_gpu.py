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
from gpumetrics.kernels import _cuda_counts as kcc  # noqa: E402
from gpumetrics.kernels import _cuda_launch as kl  # noqa: E402
from gpumetrics.kernels import _cuda_ranking as kr  # noqa: E402
from gpumetrics.kernels import _cuda_scores as ks  # noqa: E402

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


@pytest.mark.parametrize("C", [2, 10, 100])  # counts: 2, 10 warp, 100 shared; weighted 100: global
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
    monkeypatch.setattr(kl, "_usable_cupy", lambda: None)
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


# --- exact ranking by tie runs, narrow scores, staged edges, privatised bincount ----------


def _heavy_ties(n, dtype):
    """Scores in long runs of ties (multiples of 1/8, exact in float16), -0.0 beside 0.0."""
    s = rng.integers(0, 50, n) / 8
    s[rng.random(n) < 0.01] = -0.0
    return s.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_tie_runs_with_heavy_ties(monkeypatch, where, dtype, weighted):
    sorted_dtypes = []
    sort = kr._sorted_columns
    monkeypatch.setattr(kr, "_sorted_columns",
                        lambda call, y: sorted_dtypes.append(y.dtype) or sort(call, y))
    s = _heavy_ties(N, dtype)
    t = labels(3, (1, N))
    w = None
    if weighted:  # zero weights too: the run at 1.0 weighs nothing and gives no point
        w = rng.integers(0, 3, (1, N)) * rng.random((1, N))
        w[0, s == 1.0] = 0
    s2 = np.stack([s, s[::-1]], axis=1)[None]
    check(kc.rank_auc(*put(where, t, s2, w)), ref.rank_auc(t, s2, w),
          rtol=1e-9 if weighted else 0.0)
    y = labels(2, N)
    wc = None if w is None else w[0]
    for got, expected in zip(kc.clf_curve(*put(where, y, s, wc)), ref.clf_curve(y, s, wc),
                             strict=True):
        check(got, expected, rtol=1e-9)
    keys = np.float64 if dtype == np.float64 else np.float32  # float16 sorts as float32
    assert sorted_dtypes == [np.dtype(keys)] * 2


@pytest.mark.parametrize("weighted", [False, True])
def test_bitonic_tie_runs_with_float16(monkeypatch, weighted):
    """Tie runs over the sort and scan written here, on the device, float16 scores."""
    monkeypatch.setattr(kl, "_usable_cupy", lambda: None)
    n = 300_001
    s = _heavy_ties(n, np.float16)
    t = labels(2, (1, n))
    w = rng.integers(0, 3, (1, n)) * rng.random((1, n)) if weighted else None
    check(kc.rank_auc(t, s[None, :, None], w), ref.rank_auc(t, s[None, :, None], w),
          rtol=1e-9 if weighted else 0.0)
    wc = None if w is None else w[0]
    for got, expected in zip(kc.clf_curve(t[0], s, wc), ref.clf_curve(t[0], s, wc),
                             strict=True):
        check(got, expected, rtol=1e-9)


@pytest.mark.parametrize("n_edges", [1, 2047, 2048, 5000, 7000])  # staged up to 2048
@pytest.mark.parametrize("weighted", [False, True])
def test_edges_histogram_staged_or_global(where, n_edges, weighted):
    edges = np.sort(rng.random(n_edges))  # uneven: only a search over the edges bins these
    s = rng.random((1, N, 2))
    s[0, : N // 4, 0] = edges[rng.integers(0, n_edges, N // 4)]  # on an edge: the bin above
    t = labels(2, (1, N))
    w = rng.random((1, N)) if weighted else None
    sd, td, wd, ed = put(where, s, t, w, edges)
    check(kc.score_histogram(td, sd, None, None, n_edges + 1, ed, wd),
          ref.score_histogram(t, s, None, None, n_edges + 1, edges, w), rtol=1e-9)


@pytest.mark.parametrize("size", [3, 12288, 50_000])  # shared counts up to 12288
def test_bincount_privatised_or_global(where, size):
    y = rng.integers(-5, size + 5, N).astype(np.int32)
    (yd,) = put(where, y)
    check(kc.bincount(yd, -2, size), ref.bincount(y, -2, size))


# --- uint32 block cells, warp aggregation, flushes, launch shapes, moments tree, streams ----


def _device() -> int:
    return cupy.cuda.runtime.getDevice()


@pytest.mark.parametrize("C", [2, 10, 32, 33, 100, 109, 110])
@pytest.mark.parametrize("skew", [False, True])
def test_confusion_warp_shared_and_global_paths(C, skew):
    """Each path against the reference at N = 2e6: warp-aggregated up to WARP_CLASSES
    classes (what the simulator cannot run), uint32 shared cells up to (C + 1)^2 = 12288,
    global atomics past that; skewed labels put whole warps on one cell."""
    if (C + 1) ** 2 > kl.SHARED_CELLS_U32:
        mode = "global"
    else:
        mode = "warp" if C <= kl.WARP_CLASSES and kcc._has_match_any(_device()) else "shared"
    assert kcc._confusion_mode(C, False, _device()) == mode
    t, p = labels(C, (1, N)), labels(C + 1, (3, N))
    if skew:
        t[:, : N * 9 // 10] = 0
        p[:, : N * 9 // 10] = 0
    expected = ref.confusion(t, p, C, ignore_index=1)
    out = kc.confusion(cupy.asarray(t), cupy.asarray(p), C, ignore_index=1)
    check(out, expected)
    kc.confusion(cupy.asarray(t), cupy.asarray(p), C, ignore_index=1, out=out)
    check(out, 2 * expected)


@pytest.mark.parametrize("mode", ["shared", "warp"])
def test_confusion_flushes_every_window(monkeypatch, mode):
    """Built with one grid-stride round per window, a kernel flushes its cells every round:
    what each block does, every 2^32 / THREADS rounds, before a uint32 cell could wrap."""
    monkeypatch.setattr(kcc, "FLUSH_ROUNDS", 1)
    # a new kernel (not the cached one), compiled at its first launch, with 1
    kernel = kcc._confusion_kernel.__wrapped__(False, mode)
    C = 10
    t, p = labels(C, (1, N)), labels(C + 1, (2, N))
    out = cupy.zeros((2, (C + 1) ** 2), cupy.int64)
    call = kl.Call(out)
    grid, block = kl.launch_shape(N, 2)
    call.launch(kernel, grid, block, cupy.asarray(t), cupy.asarray(p),
                call.constant("arange", C), 0, C, 0, False, call.weights(None), out,
                shared_bytes=4 * (C + 1) ** 2)
    check(out.reshape(2, C + 1, C + 1), ref.confusion(t, p, C))


def test_sixty_four_rows_share_the_grid():
    n = 1_000_000
    assert kl.launch_shape(n, 64) == ((64, 64), 256)  # 4096 blocks in all, not 65,536
    t, p = labels(10, (1, n)), labels(11, (64, n))
    check(kc.confusion(cupy.asarray(t), cupy.asarray(p), 10), ref.confusion(t, p, 10))
    y = 1e8 + rng.normal(size=(1, n // 4, 4))
    yhat = y + rng.normal(size=(16, n // 4, 4))  # K * L = 64 rows
    w = rng.random((1, n // 4))
    check(kc.moments(cupy.asarray(y), cupy.asarray(yhat), cupy.asarray(w)),
          ref.moments(y, yhat, w), rtol=1e-9, atol=1e-6)


def test_moments_tree_merges_a_thousand_blocks():
    y = 1e8 + rng.normal(size=(1, N, 1))
    yhat = y + rng.normal(size=(1, N, 1))
    assert kl.launch_shape(N, 1)[0][0] == kl.MAX_BLOCKS  # 1024 block states to merge
    check(kc.moments(cupy.asarray(y), cupy.asarray(yhat)), ref.moments(y, yhat), rtol=1e-9,
          atol=1e-6)


def test_launches_pass_c_contiguous_arrays():
    """tests/cuda/test_ptx.py compiles C-layout signatures: the layouts launches pass."""
    from numba import types

    t, p = labels(5, (1, 10_000)), labels(5, (2, 10_000))
    kc.confusion(cupy.asarray(t), cupy.asarray(p), 5)
    kc.confusion(t, p, 5, sample_weight=rng.random((1, 10_000)))  # host inputs
    y = rng.normal(size=(1, 10_000, 2))
    kc.moments(cupy.asarray(y), cupy.asarray(y[:, ::-1].copy()))
    kernels = [kcc._confusion_kernel(False, kcc._confusion_mode(5, False, _device())),
               kcc._confusion_kernel(True, kcc._confusion_mode(5, True, _device())),
               ks._MOMENT_KERNELS[False], ks._merge_blocks_kernel]
    for kernel in kernels:
        arrays = [a for sig in kernel.overloads for a in sig if isinstance(a, types.Array)]
        assert arrays and {a.layout for a in arrays} == {"C"}, kernel


def test_null_stream_is_the_legacy_default_stream():
    assert int(kl._stream(_device(), 0)) == 1  # CU_STREAM_LEGACY, whatever Numba's default
