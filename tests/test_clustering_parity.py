"""Parity with scikit-learn: the clustering scores from labels, on every host backend.

For random labellings (integers, strings, floats with and without fractions, labels of
different kinds on the two sides, empty and single-group data) every score must give
scikit-learn's value, result type, warnings and errors; the batched twins must equal a
loop of single calls.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
import sklearn.metrics.cluster as skc
from _sklearn import assert_same, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import batched

parity = settings(max_examples=60, deadline=None, derandomize=True,
                  suppress_health_check=(HealthCheck.too_slow,))

POOLS = {
    "int": [0, 1, 2, 3, 4],
    "sparse": [-3, 5, 70, 100_000],
    "huge": [7, 2**40, -(2**35)],  # a span past the encoding table: sorted
    "uint8": np.arange(250, 256, dtype=np.uint8),
    "str": ["ant", "bee", "cat", "dog"],
    "float": [0.0, 1.0, 3.0],
    "fraction": [0.5, 1.25, 2.0],  # continuous: scikit-learn warns
}
SCORES = (
    "rand_score", "adjusted_rand_score", "mutual_info_score", "normalized_mutual_info_score",
    "adjusted_mutual_info_score", "homogeneity_score", "completeness_score",
    "v_measure_score", "homogeneity_completeness_v_measure", "fowlkes_mallows_score",
    "pair_confusion_matrix", "contingency_matrix",
)


def sklearn_fn(name):
    return getattr(skm, name, None) or getattr(skc, name)


def check(name, backend, *args, **kwargs):
    expected, sk_error, sk_warnings = run(sklearn_fn(name), *args, **kwargs)
    actual, gm_error, gm_warnings = run(getattr(gm, name), *args, **kwargs, backend=backend)
    if sk_error is not None:
        wanted = ValueError if isinstance(sk_error, ValueError) else type(sk_error)
        assert isinstance(gm_error, wanted), (name, sk_error, gm_error, actual)
        return
    assert gm_error is None, (name, gm_error)
    assert_same(expected, actual, name)
    assert gm_warnings == sk_warnings, (name, gm_warnings, sk_warnings)


@st.composite
def labellings(draw, max_n=60):
    n = draw(st.integers(0, max_n))
    pools = [draw(st.sampled_from(sorted(POOLS))) for _ in range(2)]
    sides = []
    for pool in pools:
        values = np.asarray(POOLS[pool])
        # a few groups, sometimes one: limit cases of every score
        used = values[: draw(st.integers(1, values.shape[0]))]
        sides.append(used[np.asarray(draw(st.lists(st.integers(0, used.shape[0] - 1),
                                                   min_size=n, max_size=n)), np.int64)]
                     if n else used[:0])
    return sides


@parity
@given(data=labellings())
def test_every_score_matches_sklearn(backend, data):
    labels_true, labels_pred = data
    for name in SCORES:
        check(name, backend, labels_true, labels_pred)


@parity
@given(data=labellings(), method=st.sampled_from(["min", "geometric", "arithmetic", "max"]),
       beta=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_options_match_sklearn(backend, data, method, beta):
    labels_true, labels_pred = data
    for name in ("normalized_mutual_info_score", "adjusted_mutual_info_score"):
        check(name, backend, labels_true, labels_pred, average_method=method)
    for name in ("v_measure_score", "homogeneity_completeness_v_measure"):
        check(name, backend, labels_true, labels_pred, beta=beta)
    check("contingency_matrix", backend, labels_true, labels_pred, eps=beta)
    check("contingency_matrix", backend, labels_true, labels_pred, dtype=np.float32)


@parity
@given(data=labellings())
def test_mutual_info_from_a_given_contingency(backend, data):
    labels_true, labels_pred = data
    table = skc.contingency_matrix(labels_true, labels_pred)
    sparse = skc.contingency_matrix(labels_true, labels_pred, sparse=True)
    for counts in (table, sparse):
        check("mutual_info_score", backend, None, None, contingency=counts)
    ours = gm.contingency_matrix(labels_true, labels_pred, sparse=True, backend=backend)
    np.testing.assert_array_equal(ours.toarray(), sparse.toarray())


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 3))
def test_batched_equals_single_calls(backend, seed, K):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    labels_true = rng.integers(0, 4, n)
    sets = rng.integers(-2, 3 + 2 * np.arange(K)[:, None], (K, n))  # different clusters
    for name in SCORES:
        got = getattr(batched, name)(labels_true, sets, backend=backend)
        singles = [getattr(gm, name)(labels_true, s, backend=backend) for s in sets]
        if name == "homogeneity_completeness_v_measure":
            for i in range(3):
                np.testing.assert_allclose(got[i], [s[i] for s in singles], rtol=1e-12)
        elif name == "contingency_matrix":  # over the union of the sets' clusters
            union = np.unique(sets)
            for k, s in enumerate(sets):
                cols = np.searchsorted(union, np.unique(s))
                np.testing.assert_array_equal(got[k][:, cols], singles[k])
                assert got[k].sum() == n
        else:
            np.testing.assert_allclose(got, np.stack(singles), rtol=1e-12)


def test_many_clusters_are_counted_sparse(backend):
    # 6,000 x 6,000 groups: past the dense table, the pairs are sorted instead
    rng = np.random.default_rng(0)
    labels_true = rng.integers(0, 6000, 30_000)
    labels_pred = np.where(rng.random(30_000) < 0.7, labels_true, rng.integers(0, 6000, 30_000))
    for name in ("adjusted_rand_score", "normalized_mutual_info_score", "v_measure_score",
                 "fowlkes_mallows_score", "pair_confusion_matrix"):
        check(name, backend, labels_true, labels_pred)


BAD = {
    "2-D labels_true": lambda f: f.rand_score([[0], [1]], [0, 1]),
    "2-D labels_pred": lambda f: f.rand_score([0, 1], [[0], [1]]),
    "lengths": lambda f: f.adjusted_rand_score([0, 1, 1], [0, 1]),
    "NaN": lambda f: f.mutual_info_score([0.0, np.nan], [0, 1]),
    "average_method": lambda f: f.normalized_mutual_info_score([0, 1], [0, 1],
                                                               average_method="median"),
    "beta": lambda f: f.v_measure_score([0, 1], [0, 1], beta=-1),
    "eps and sparse": lambda f: f.contingency_matrix([0, 1], [0, 1], eps=1.0, sparse=True),
    "eps": lambda f: f.contingency_matrix([0, 1], [0, 1], eps=-1.0),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_a_value_error_like_sklearn(case):
    with pytest.raises(ValueError):
        BAD[case](skc)
    with pytest.raises(ValueError) as info:
        BAD[case](gm)
    message = str(info.value)
    assert any(word in message for word in ("labels_", "average_method", "beta", "eps"))


# --- streaming ---------------------------------------------------------------------------

STREAMING = {
    "RandScore": "rand_score", "AdjustedRandScore": "adjusted_rand_score",
    "MutualInfoScore": "mutual_info_score",
    "NormalizedMutualInfoScore": "normalized_mutual_info_score",
    "AdjustedMutualInfoScore": "adjusted_mutual_info_score",
    "HomogeneityScore": "homogeneity_score", "CompletenessScore": "completeness_score",
    "VMeasureScore": "v_measure_score", "FowlkesMallowsScore": "fowlkes_mallows_score",
}


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), R=st.integers(1, 5), C=st.integers(1, 7),
       cuts=st.lists(st.floats(0, 1), max_size=3), validate=st.booleans())
def test_streaming_split_and_merged_equals_the_function(backend, seed, R, C, cuts, validate):
    from gpumetrics import metrics as M

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    labels_true, labels_pred = rng.integers(0, R, n), rng.integers(0, C, n)
    make = {name: getattr(M, name)(num_classes=R, num_clusters=C, validate=validate,
                                   backend=backend) for name in STREAMING}
    whole, parts = M.MetricSet(make), []
    assert len(whole.states) == 1  # every clustering score reads one contingency state
    bounds = [0, *sorted(int(c * n) for c in cuts), n]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        whole.update(labels_true[a:b], labels_pred[a:b])
        part = M.MetricSet({name: getattr(M, name)(num_classes=R, num_clusters=C)
                            for name in STREAMING})
        part.update(labels_true[a:b], labels_pred[a:b])
        parts.append(part)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    for result in (whole.compute(), merged.compute()):
        for name, function in STREAMING.items():
            expected = getattr(gm, function)(labels_true, labels_pred)
            assert result[name] == pytest.approx(expected, rel=1e-12, abs=1e-15), name


def test_streaming_refuses_weights_and_labels_out_of_range():
    from gpumetrics import metrics as M

    m = M.AdjustedRandScore(num_classes=3, num_clusters=2)
    with pytest.raises(ValueError, match=r"labels_pred has labels outside \[0, 2\)"):
        m.update(np.array([0, 1, 2]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"labels_true has labels outside \[0, 3\)"):
        m.update(np.array([0, 1, 3]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="1-D integer labels"):
        m.update(np.array([0.0, 1.0]), np.array([0, 1]))
    unchecked = M.AdjustedRandScore(num_classes=2, num_clusters=2, validate=False)
    unchecked.update(np.array([0, 1, 2]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"labels_true has labels outside \[0, 2\)"):
        unchecked.compute()
    weighted = M.MetricSet([M.Accuracy(task="multiclass", num_classes=3),
                            M.RandScore(num_classes=3, num_clusters=3)])
    weighted.update(np.array([0, 1, 2]), np.array([0, 1, 1]), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="without weights"):
        weighted.compute()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_clusters"):
            M.RandScore(num_classes=2, num_clusters=bad)
