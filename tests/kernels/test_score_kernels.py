"""The score kernels (ranges, histograms, exact ranking, curves, moments, losses) of every
implementation against the NumPy reference."""

import numpy as np
import pytest
from _suite import BACKENDS, SIMULATED, assert_same, draw_sizes, examples, reference, scaled
from gpumetrics.kernels import _common
from hypothesis import given
from hypothesis import strategies as st

from gpumetrics import dispatch

SCORE_DTYPES = [np.float32, np.float64]


def close(actual, expected, rtol=1e-12):
    assert_same(actual, expected, rtol=rtol, atol=1e-9)


@st.composite
def score_case(draw):
    """(y_true, y_score, weight): indicators or class codes, tied or continuous scores."""
    # (under the simulator at most two columns: it sorts every column in Python threads)
    K, N, L, rng = draw_sizes(draw, 400, 2 if SIMULATED else 4, min_n=1)
    dtype = draw(st.sampled_from(SCORE_DTYPES))
    levels = draw(st.sampled_from([None, 2, 10]))  # None: continuous; else many ties
    scores = rng.normal(scale=draw(st.sampled_from([1.0, 1e3])), size=(K, N, L))
    if levels is not None:
        scores = rng.integers(0, levels, size=(K, N, L)).astype(float)
    scores = scores.astype(dtype)
    if N and draw(st.booleans()):
        scores[0, 0, 0] = -0.0  # equal to 0.0: ranks and bins with it
    if draw(st.booleans()):
        y_true = (rng.random((draw(st.sampled_from([1, K])), N, L)) < 0.4).astype(np.uint8)
    else:
        y_true = rng.integers(-1, L + 1, size=(draw(st.sampled_from([1, K])), N))
    weight = None
    if draw(st.booleans()):
        weight = rng.random((draw(st.sampled_from([1, K])), N))
        weight[:, ::3] = 0
    return y_true, scores, weight


# 3000 bins: more cells than a CUDA block holds in shared memory (counted in global memory)
@examples(40, simulated=5)  # (the simulator sorts for two minutes per ten examples)
@given(case=score_case(), n_bins=st.sampled_from([1, 3, 64, 3000]), use_edges=st.booleans())
def test_histogram_and_refinement_match_reference(impl, case, n_bins, use_edges):
    y_true, scores, weight = case
    rng_ = reference.score_range(scores)
    close(impl.score_range(scores), rng_)
    lo, hi = rng_[..., 0], rng_[..., 1]
    edges = np.linspace(-1.0, 1.0, n_bins) if use_edges else None
    expected = reference.score_histogram(y_true, scores, lo, hi, n_bins, edges, weight)
    actual = impl.score_histogram(y_true, scores, lo, hi, n_bins, edges, weight)
    close(actual, expected)
    # every sample lands in exactly one bin
    total = expected.sum(axis=(2, 3))
    if weight is None:
        assert (total == scores.shape[1]).all()
    exact = reference.rank_auc(y_true, scores, weight)
    close(impl.rank_auc(y_true, scores, weight), exact)
    close(impl.refine_auc(y_true, scores, lo, hi, n_bins, edges, weight), exact)


@examples(20, simulated=4)
@given(seed=st.integers(0, 2**32 - 1), n_bins=st.sampled_from([1, 7, 4096]),
       dtype=st.sampled_from(SCORE_DTYPES), spacing=st.sampled_from([None, "even", "uneven"]),
       given_range=st.booleans())
def test_histogram_of_non_finite_scores_across_blocks(impl, seed, n_bins, dtype, spacing,
                                                       given_range):
    # One column of indicators without weights: the CPU's SIMD-coded loops, over more than
    # one block of 2048 samples, with NaN, infinities, -0.0 and scores on the bin edges.
    rng = np.random.default_rng(seed)
    N = scaled(5000)
    scores = rng.normal(size=N)
    special = rng.choice(N, size=min(N, 60), replace=False)
    scores[special] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.5, -1.0, 1.0], size=60)
    scores = scores.astype(dtype)[None, :, None]
    y_true = (rng.random((1, N, 1)) < 0.3).astype(np.uint8)
    lo, hi = (np.full((1, 1), -1.0), np.full((1, 1), 1.0)) if given_range else (
        np.full((1, 1), float(np.nanmin(scores))), np.full((1, 1), 2.5))
    edges = {None: None, "even": np.linspace(-1.0, 1.0, n_bins),
             "uneven": np.sort(rng.normal(size=n_bins))}[spacing]
    expected = reference.score_histogram(y_true, scores, lo, hi, n_bins, edges)
    assert_same(impl.score_histogram(y_true, scores, lo, hi, n_bins, edges), expected)
    assert expected.sum() == N


@examples(40)
@given(case=score_case(), nan=st.booleans())
def test_curve_matches_reference(impl, case, nan):
    y_true, scores, weight = case
    t = (y_true[0, :, 0] if y_true.ndim == 3 else y_true[0] == 0).astype(np.uint8)
    s = scores[0, :, 0].copy()
    if nan and s.shape[0] > 4:
        s[[1, 4]] = np.nan  # first in the decreasing order (NumPy sorts NaN last)
    w = None if weight is None else weight[0]
    for a, b in zip(impl.clf_curve(t, s, w), reference.clf_curve(t, s, w), strict=True):
        close(a, b)


def test_rank_auc_counts_ties_as_one_half(impl):
    y = np.array([0, 1, 0, 1], np.uint8)[None, :, None]
    s = np.array([0.5, 0.5, 0.2, 0.9])[None, :, None]
    neg, pos, u = impl.rank_auc(y, s)[0, 0]
    assert (neg, pos, u) == (2.0, 2.0, 3.5)  # AUC 0.875


def test_rank_auc_is_exact_beyond_float_counts(impl):
    # 2U is counted in int64: no rounding for counts far past float32's 2^24
    if SIMULATED:
        pytest.skip("sorting 16,384 scores takes the simulator minutes; runs on a GPU")
    n = 1 << 13
    y = np.r_[np.zeros(n, np.uint8), np.ones(n, np.uint8)][None, :, None]
    s = np.r_[np.arange(n), np.arange(n) + 0.5][None, :, None]
    neg, pos, u = impl.rank_auc(y, s)[0, 0]
    assert u == n * (n + 1) / 2


def test_moments_largest_error_is_nan_with_a_nan_error(impl):
    # every loop (one unweighted column, weights, several columns) as the reference
    t = np.array([[1.0, np.nan], [3.0, 4.0], [2.0, 2.0]])[None]
    p = np.array([[1.0, 2.0], [5.0, 4.0], [2.5, 1.0]])[None]
    for args in ((t, p), (t, p, np.ones((1, 3))), (t[:, :, 1:], p[:, :, 1:])):
        np.testing.assert_array_equal(impl.moments(*args)[..., 10],
                                      reference.moments(*args)[..., 10])


def absolute(state):
    """A moments state without its shifts (means from zero): comparable across frames."""
    state = np.array(state, np.float64)
    state[..., 1] += state[..., 11]
    state[..., 3] += state[..., 12]
    return state[..., :11]


@examples(30)
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 3), N=st.integers(1, scaled(3000)),
       L=st.integers(1, 3), offset=st.sampled_from([0.0, 1e8]), weighted=st.booleans())
def test_moments_match_two_pass(impl, seed, K, N, L, offset, weighted):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(offset, 1.0, (1, N, L))
    y_pred = y_true + rng.normal(0, 0.5, (K, N, L))
    w = rng.random((1, N)) if weighted else None
    expected = reference.moments(y_true, y_pred, w)
    np.testing.assert_allclose(absolute(impl.moments(y_true, y_pred, w)), absolute(expected),
                               rtol=1e-12, atol=1e-12)


@examples(30)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(2, scaled(2000)), cuts=st.integers(1, 5))
def test_moments_merge_any_split(impl, seed, N, cuts):
    """Streaming: states of any split, merged in any order, equal the one-shot state."""
    rng = np.random.default_rng(seed)
    y_true = rng.normal(1e8, 1.0, (1, N, 1))
    y_pred = y_true + rng.normal(0, 1.0, (1, N, 1))
    whole = impl.moments(y_true, y_pred)
    bounds = np.unique(np.r_[0, np.sort(rng.integers(0, N, cuts)), N])
    pieces = list(zip(bounds[:-1], bounds[1:], strict=True))
    states = [impl.moments(y_true[:, a:b], y_pred[:, a:b]) for a, b in pieces]
    rng.shuffle(states)
    merged = states[0]
    for state in states[1:]:
        merged = _common.merge_moments(merged, state)
    np.testing.assert_allclose(absolute(merged), absolute(whole), rtol=1e-12, atol=1e-12)
    streamed = np.zeros_like(whole)
    for a, b in pieces:
        impl.moments(y_true[:, a:b], y_pred[:, a:b], out=streamed)
    np.testing.assert_allclose(absolute(streamed), absolute(whole), rtol=1e-12, atol=1e-12)


@examples(40)
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 3), N=st.integers(1, 300),
       C=st.integers(1, 6), kind=st.sampled_from(_common.LOSSES), weighted=st.booleans(),
       scale=st.sampled_from([1.0, 1e4]))
def test_loss_sums_match_reference(impl, seed, K, N, C, kind, weighted, scale):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, scale, (K, N, C))
    w = rng.random((1, N)) if weighted else None
    if kind in ("softmax", "proba"):
        y_true = rng.integers(-1, C + 1, (1, N))
        scores = logits
        if kind == "proba":
            e = np.exp(logits / scale - (logits / scale).max(axis=2, keepdims=True))
            scores = e / e.sum(axis=2, keepdims=True) if C > 1 else rng.random((K, N, 1))
        expected = reference.loss_sums(y_true, scores, kind, w, ignore_index=-1, eps=1e-15)
        actual = impl.loss_sums(y_true, scores, kind, w, ignore_index=-1, eps=1e-15)
    else:
        y_true = rng.random((1, N, C))
        scores = logits if kind == "sigmoid" else 1 / (1 + np.exp(-logits))
        expected = reference.loss_sums(y_true, scores, kind, w)
        actual = impl.loss_sums(y_true, scores, kind, w)
    assert np.isfinite(actual).all()
    close(actual, expected, rtol=1e-10)


@pytest.mark.parametrize("name", ["reference", *BACKENDS])
def test_score_kernels_reject_bad_shapes(name):
    k = dispatch._load(name)
    with pytest.raises(ValueError, match="y_score must be 3-D"):
        k.rank_auc(np.zeros((1, 3), np.int64), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="does not match"):
        k.score_histogram(np.zeros((1, 4, 2), np.uint8), np.zeros((1, 3, 2)), 0.0, 1.0, 4)
    with pytest.raises(ValueError, match="n_bins must be >= 1"):
        k.score_histogram(np.zeros((1, 3), np.int64), np.zeros((1, 3, 1)), 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="kind must be one of"):
        k.loss_sums(np.zeros((1, 3), np.int64), np.zeros((1, 3, 2)), "hinge")
    with pytest.raises(ValueError, match="y_score must hold numeric"):
        k.clf_curve(np.zeros(2, np.uint8), np.array(["a", "b"]))


@examples(40)
@given(seed=st.integers(0, 2**32 - 1), n_edges=st.integers(1, 300),
       spacing=st.sampled_from(["uniform", "jittered", "geometric"]),
       dtype=st.sampled_from(SCORE_DTYPES))
def test_histogram_edges_match_searchsorted(impl, seed, n_edges, spacing, dtype):
    """Scores on the edges, between them, outside them and NaN land in the reference's
    bin, whether the edges are equally spaced (guessed bin) or not (binary search)."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(0.0, 1.0, n_edges + 2)[1:-1]
    if spacing == "jittered":
        edges = np.sort(edges + rng.uniform(-1e-4, 1e-4, n_edges) / max(n_edges, 1))
        edges = np.unique(edges)
    elif spacing == "geometric":
        edges = np.geomspace(1e-3, 1.0, n_edges)
    scores = np.concatenate([edges, np.nextafter(edges, -np.inf), rng.random(200) * 1.2 - 0.1,
                             [np.nan, np.inf, -np.inf, 0.0, 1.0]]).astype(dtype)
    scores = scores[None, :, None]
    y_true = (rng.random((1, scores.shape[1], 1)) < 0.5).astype(np.uint8)
    zeros = np.zeros((1, 1))
    B = edges.shape[0] + 1
    expected = reference.score_histogram(y_true, scores, zeros, zeros, B, edges)
    close(impl.score_histogram(y_true, scores, zeros, zeros, B, edges), expected)
