"""Regression metrics and losses: parity with scikit-learn (and PyTorch for the losses it
names), numerical stability far from zero and for extreme logits, batched = loop."""

from __future__ import annotations

import numpy as np
import pytest
from _sklearn import check_parity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import batched

parity = settings(
    max_examples=50, deadline=None, derandomize=True,
    suppress_health_check=(HealthCheck.too_slow,),
)
REGRESSION = ("mean_squared_error", "root_mean_squared_error", "mean_absolute_error",
              "mean_absolute_percentage_error", "r2_score", "explained_variance_score")


@st.composite
def regression_case(draw):
    n = draw(st.integers(1, 50))
    L = draw(st.sampled_from([None, 1, 3]))
    shape = (n,) if L is None else (n, L)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "far", "constant", "ints", "zeros"]))
    y_true = {
        "normal": lambda: rng.normal(size=shape),
        "far": lambda: rng.normal(1e8, 1.0, size=shape),
        "constant": lambda: np.full(shape, 2.5),
        "ints": lambda: rng.integers(-3, 4, size=shape),
        "zeros": lambda: np.zeros(shape),
    }[kind]()
    y_pred = y_true + rng.normal(size=shape) * draw(st.sampled_from([0.0, 0.1, 1.0]))
    weight = rng.random(n) if draw(st.booleans()) else None
    if kind == "constant":
        weight = None  # see test_weighted_constant_target_is_exact
    return y_true, y_pred, weight


def test_weighted_constant_target_is_exact(backend):
    """scikit-learn takes the weighted mean of a constant y_true as sum(w * c) / sum(w),
    which can miss c by an ulp and turn a zero total variance into 1e-31 (R^2 of -4e28, or
    1.0 for a perfect fit with force_finite=False). The shifted two-pass moments here see an
    exactly zero variance, so force_finite's rules apply as documented."""
    w = np.random.default_rng(0).random(13)
    y = np.full(13, 2.5)
    assert gm.r2_score(y, y + 0.1, sample_weight=w, backend=backend) == 0.0
    assert gm.r2_score(y, y, sample_weight=w, backend=backend) == 1.0
    assert np.isnan(gm.r2_score(y, y, sample_weight=w, force_finite=False, backend=backend))


@parity
@given(case=regression_case(), name=st.sampled_from(REGRESSION),
       multioutput=st.sampled_from(["raw_values", "uniform_average", "variance_weighted",
                                    "weights"]),
       force_finite=st.booleans())
def test_regression_parity(backend, case, name, multioutput, force_finite):
    y_true, y_pred, weight = case
    if multioutput == "weights":
        n_outputs = 1 if y_true.ndim == 1 else y_true.shape[1]
        multioutput = np.linspace(1, 2, n_outputs)
        if name == "root_mean_squared_error" and n_outputs == 1:
            # scikit-learn 1.9 skips its own check here (its RMSE averages raw MSEs itself);
            # gpumetrics raises the error every other regression metric raises.
            with pytest.raises(ValueError, match="only in multi-output"):
                gm.root_mean_squared_error(y_true, y_pred, multioutput=multioutput)
            return
    kwargs = {"force_finite": force_finite} if name in ("r2_score",
                                                         "explained_variance_score") else {}
    check_parity(name, backend, y_true, y_pred, sample_weight=weight, multioutput=multioutput,
                 **kwargs)


@parity
@given(case=regression_case(), name=st.sampled_from(["mean_squared_log_error",
                                                      "root_mean_squared_log_error"]),
       multioutput=st.sampled_from(["raw_values", "uniform_average", "weights"]),
       shift=st.sampled_from([0.0, 3.0, 1e3]))
def test_log_error_parity(backend, case, name, multioutput, shift):
    # shift 0: targets at or below -1 occur, refused by both
    y_true, y_pred, weight = case
    if multioutput == "weights":
        multioutput = np.linspace(1, 2, 1 if y_true.ndim == 1 else y_true.shape[1])
    check_parity(name, backend, np.abs(y_true) + shift if shift == 1e3 else y_true + shift,
                 y_pred + shift, sample_weight=weight, multioutput=multioutput)


def test_log_error_dtype_follows_the_weights_too(backend):
    # float32 targets with float64 weights: scikit-learn takes float64
    y_true = np.array([0.5, 1.5, 2.0, 3.25], np.float32)
    y_pred = np.array([0.7, 1.1, 2.6, 3.0], np.float32)
    w = np.array([0.3, 1.7, 0.9, 1.1])
    check_parity("mean_squared_log_error", backend, y_true, y_pred, sample_weight=w)


@parity
@given(case=regression_case())
def test_max_error_parity(backend, case):
    y_true, y_pred, _ = case
    check_parity("max_error", backend, y_true, y_pred)


def test_r2_far_from_zero_matches_two_pass(backend):
    """Mean 1e8, std 1: raw-moment formulas lose every digit here; Chan's merge keeps them."""
    rng = np.random.default_rng(0)
    y_true = rng.normal(1e8, 1.0, 1_000_000)
    y_pred = y_true + rng.normal(0, 0.5, y_true.shape)
    mean = y_true.mean()
    two_pass = 1 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - mean) ** 2)
    assert abs(gm.r2_score(y_true, y_pred, backend=backend) - two_pass) < 1e-9
    r = np.sum((y_true - mean) * (y_pred - y_pred.mean())) / np.sqrt(
        np.sum((y_true - mean) ** 2) * np.sum((y_pred - y_pred.mean()) ** 2))
    assert abs(gm.pearson_corrcoef(y_true, y_pred, backend=backend) - r) < 1e-9


def test_pearson_constant_is_nan_with_warning(backend):
    with pytest.warns(gm.UndefinedMetricWarning, match="constant"):
        assert np.isnan(gm.pearson_corrcoef([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], backend=backend))


def test_regression_rejects_nan_and_mismatch(backend):
    with pytest.raises(ValueError, match="NaN or infinity"):
        gm.mean_squared_error([1.0, np.nan], [1.0, 2.0], backend=backend)
    with pytest.raises(ValueError, match="NaN or infinity"):
        gm.r2_score([1.0, 2.0], [np.inf, 2.0], backend=backend)
    with pytest.raises(ValueError, match="different number of output"):
        gm.r2_score(np.zeros((3, 2)), np.zeros((3, 3)), backend=backend)
    with pytest.raises(ValueError, match="same length"):
        gm.mean_absolute_error([1.0, 2.0], [1.0], backend=backend)


@st.composite
def proba_case(draw):
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = draw(st.sampled_from([[0, 1], [0, 1, 2], ["a", "b", "c", "d"], [3]]))
    y_true = np.asarray(pool)[rng.integers(0, len(pool), n)]
    C = draw(st.sampled_from([1, 2, 3, 4]))
    raw = rng.random((n, C)) ** 4
    if draw(st.booleans()):
        raw[rng.random((n, C)) < 0.3] = 0  # clipped to eps
        raw[:, 0] += 1e-3 * (raw.sum(axis=1) == 0)
    y_proba = raw / raw.sum(axis=1, keepdims=True) if C > 1 else raw[:, 0]
    if draw(st.booleans()):
        y_proba = y_proba * 1.01  # rows that do not sum to one (may exceed 1)
    weight = rng.random(n) if draw(st.booleans()) else None
    labels = None
    if draw(st.booleans()):
        labels = sorted(set(pool) | ({"e"} if isinstance(pool[0], str) else {7}))
    return y_true, y_proba, weight, labels


@parity
@given(case=proba_case(), normalize=st.booleans())
def test_log_loss_parity(backend, case, normalize):
    y_true, y_proba, weight, labels = case
    check_parity("log_loss", backend, y_true, y_proba, sample_weight=weight, labels=labels,
                 normalize=normalize)


@parity
@given(case=proba_case())
def test_d2_log_loss_parity(backend, case):
    y_true, y_proba, weight, labels = case
    check_parity("d2_log_loss_score", backend, y_true, y_proba, sample_weight=weight,
                 labels=labels)


@parity
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), L=st.integers(2, 4),
       weighted=st.booleans())
def test_d2_log_loss_multilabel_parity(backend, seed, n, L, weighted):
    # the null model predicts each label's frequency: the label weights over the samples'
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, (n, L))
    y_proba = rng.random((n, L))
    y_proba /= y_proba.sum(axis=1, keepdims=True)
    check_parity("d2_log_loss_score", backend, y_true, y_proba,
                 sample_weight=rng.random(n) if weighted else None)


@st.composite
def binary_proba_case(draw):
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = draw(st.sampled_from([[0, 1], [-1, 1], [2, 5], ["no", "yes"], [1], [0, 1, 2]]))
    y_true = np.asarray(pool)[rng.integers(0, len(pool), n)]
    y_proba = rng.random(n)
    if draw(st.booleans()):
        y_proba = y_proba[:, None]  # one column
    if draw(st.booleans()):
        y_proba = y_proba * 1.2 - 0.1  # values outside [0, 1]
    weight = rng.random(n) if draw(st.booleans()) else None
    return y_true, y_proba, weight, draw(st.sampled_from([None, 1, "yes", 5, -1]))


@parity
@given(case=binary_proba_case(), scale=st.sampled_from(["auto", True, False]))
def test_brier_binary_parity(backend, case, scale):
    y_true, y_proba, weight, pos_label = case
    check_parity("brier_score_loss", backend, y_true, y_proba, sample_weight=weight,
                 pos_label=pos_label, scale_by_half=scale)
    check_parity("d2_brier_score", backend, y_true, y_proba, sample_weight=weight,
                 pos_label=pos_label)


@parity
@given(case=proba_case(), scale=st.sampled_from(["auto", True, False]))
def test_brier_multiclass_parity(backend, case, scale):
    y_true, y_proba, weight, labels = case
    check_parity("brier_score_loss", backend, y_true, y_proba, sample_weight=weight,
                 labels=labels, scale_by_half=scale)
    check_parity("d2_brier_score", backend, y_true, y_proba, sample_weight=weight,
                 labels=labels)


@st.composite
def hinge_case(draw):
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = draw(st.sampled_from([[-1, 1], [0, 1], ["a", "b"], [3], [0, 1, 2], [2, 5, 7, 9]]))
    y_true = np.asarray(pool)[rng.integers(0, len(pool), n)]
    C = draw(st.sampled_from([None, 1, 2, 3, 4]))
    decision = rng.normal(size=n if C is None else (n, C))
    if draw(st.booleans()):
        decision = np.round(decision)  # ties among the other classes' decisions
    weight = None
    if draw(st.booleans()):
        weight = rng.random(n) * draw(st.sampled_from([1.0, 0.0]))
    labels = draw(st.sampled_from([None, "pool", "more", "two"]))
    labels = {None: None, "pool": pool, "more": [*pool, 99] if isinstance(pool[0], int | np.integer)
              else [*pool, "z"], "two": pool[:2]}[labels]
    return y_true, decision, weight, labels


@parity
@given(case=hinge_case())
def test_hinge_loss_parity(backend, case):
    y_true, decision, weight, labels = case
    check_parity("hinge_loss", backend, y_true, decision, labels=labels, sample_weight=weight)


def test_d2_log_loss_batched_equals_loop(backend):
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, 50)
    raw = rng.random((4, 50, 3))
    y_proba = raw / raw.sum(axis=2, keepdims=True)
    got = batched.d2_log_loss_score(y_true, y_proba, backend=backend)
    want = [gm.d2_log_loss_score(y_true, p, backend=backend) for p in y_proba]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_log_loss_float32_eps(backend):
    import sklearn.metrics as skm

    p = np.array([[1.0, 0.0], [0.2, 0.8]], np.float32)
    assert gm.log_loss([1, 0], p, backend=backend) == pytest.approx(
        skm.log_loss([1, 0], p), rel=1e-6)


torch = pytest.importorskip("torch")


@parity
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50), C=st.integers(1, 6),
       scale=st.sampled_from([1.0, 30.0, 1e4]), weighted=st.booleans())
def test_cross_entropy_matches_torch(backend, seed, n, C, scale, weighted):
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(0, scale, (n, C)))
    target = torch.from_numpy(rng.integers(0, C, n))
    got = gm.cross_entropy(target, logits, backend=backend)
    want = torch.nn.functional.cross_entropy(logits, target)
    assert torch.isfinite(got)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    if weighted:
        w = torch.from_numpy(rng.random(n))
        got = gm.cross_entropy(target, logits, sample_weight=w, backend=backend)
        per = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        torch.testing.assert_close(got, (per * w).sum() / w.sum(), rtol=1e-9, atol=1e-9)


def test_cross_entropy_ignore_index_and_bad_labels(backend):
    logits = torch.tensor([[2.0, 0.5], [0.1, 3.0], [1.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([0, -100, 1])
    want = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100)
    got = gm.cross_entropy(target, logits, ignore_index=-100, backend=backend)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="outside"):
        gm.cross_entropy([0, 2], [[1.0, 2.0], [0.0, 1.0]], backend=backend)


@parity
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50),
       scale=st.sampled_from([1.0, 50.0, 1e4]), soft=st.booleans())
def test_binary_cross_entropy_matches_torch(backend, seed, n, scale, soft):
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(0, scale, n))
    target = torch.from_numpy(rng.random(n) if soft else rng.integers(0, 2, n).astype(float))
    got = gm.binary_cross_entropy(target, logits, from_logits=True, backend=backend)
    want = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    proba = torch.sigmoid(logits)
    got = gm.binary_cross_entropy(target, proba, backend=backend)
    want = torch.nn.functional.binary_cross_entropy(proba, target)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_losses_reject_bad_input(backend):
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        gm.binary_cross_entropy([0, 1], [0.5, 1.5], backend=backend)
    with pytest.raises(ValueError, match="logits contains NaN"):
        gm.cross_entropy([0, 1], [[0.0, np.nan], [1.0, 0.0]], backend=backend)
    with pytest.raises(ValueError, match="reduction"):
        gm.cross_entropy([0], [[0.0, 1.0]], reduction="max", backend=backend)


def test_vgap():
    assert gm.vgap(0.5, 0.75) == 0.25
    assert gm.vgap([0.9, 0.4], [1.0, 0.7]).tolist() == pytest.approx([0.1, 0.3])
    gap = gm.vgap(torch.tensor([0.9, 0.4]), torch.tensor([1.0, 0.7]))
    assert isinstance(gap, torch.Tensor)
    with pytest.raises(ValueError, match="one shape"):
        gm.vgap([0.1, 0.2], [0.3])


@parity
@given(case=regression_case(), K=st.integers(1, 3))
def test_batched_regression_equals_loop(backend, case, K):
    y_true, y_pred, weight = case
    rng = np.random.default_rng(1)
    stack = np.stack([y_pred] + [y_pred + rng.normal(size=y_pred.shape) for _ in range(K - 1)])
    for name in ("mean_squared_error", "r2_score", "mean_absolute_error"):
        got = getattr(batched, name)(y_true, stack, sample_weight=weight, backend=backend)
        want = [getattr(gm, name)(y_true, p, sample_weight=weight, backend=backend)
                for p in stack]
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
