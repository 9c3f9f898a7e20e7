"""Every kernel implementation against the NumPy reference: same dtype, values and errors."""

import types

import numpy as np
import pytest
from _suite import assert_same, draw_sizes, examples, reference, scaled
from gpumetrics.kernels import _protocol
from hypothesis import given
from hypothesis import strategies as st

LABEL_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                np.bool_]


def same_error(call_a, call_b):
    errors = []
    for call in (call_a, call_b):
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the point is to compare them
            errors.append((type(exc), str(exc)))
        else:
            errors.append(None)
    assert errors[0] == errors[1]
    return errors[0]


@st.composite
def confusion_case(draw):
    K = draw(st.integers(1, 3))
    # past 2048 samples too: the CPU's narrow-label loop codes blocks of that many
    N = draw(st.one_of(st.integers(0, 300), st.just(scaled(4500))))
    C = draw(st.one_of(st.integers(1, 12), st.just(100)))  # small, and past L1 at 100
    dtype = draw(st.sampled_from(LABEL_DTYPES))
    hi = 1 if dtype == np.bool_ else C + 2
    lo = 0 if dtype in (np.uint8, np.uint16, np.uint32, np.uint64, np.bool_) else -2
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shared = draw(st.booleans())
    y_true = rng.integers(lo, hi + 1, size=(1 if shared else K, N)).astype(dtype)
    y_pred = rng.integers(lo, hi + 1, size=(K, N)).astype(dtype)
    weight = None
    if draw(st.booleans()):
        weight = rng.random((draw(st.sampled_from([1, K])), N))
    ignore = draw(st.sampled_from([None, 0, 1, -1])) if lo < 0 else None
    table = None
    kind = draw(st.sampled_from(["none", "table", "shift"]))
    if kind == "shift":  # the identity table with an offset: labels counted from offset
        table = (np.arange(C, dtype=np.int64), draw(st.integers(-3, 3)))
    elif kind == "table":
        values = rng.choice(np.arange(-2, C + 3), size=min(C, 5), replace=False)
        offset = int(values.min())
        table = np.full(int(values.max()) - offset + 1, C, np.int64)
        table[values - offset] = rng.permutation(C)[: values.shape[0]]
        table = (table, offset)
    return y_true, y_pred, C, weight, ignore, table


@examples(60)
@given(case=confusion_case())
def test_confusion_matches_reference(impl, case):
    y_true, y_pred, C, weight, ignore, table = case
    kwargs = dict(sample_weight=weight, ignore_index=ignore)
    if table is not None:
        kwargs.update(lut=table[0], offset=table[1])
    expected = reference.confusion(y_true, y_pred, C, **kwargs)
    assert_same(impl.confusion(y_true, y_pred, C, **kwargs), expected)
    # accumulation: a second call adds into out
    out = expected.copy()
    reference.confusion(y_true, y_pred, C, out=out, **kwargs)
    acc = impl.confusion(y_true, y_pred, C, **kwargs)
    impl.confusion(y_true, y_pred, C, out=acc, **kwargs)
    assert_same(acc, out)


@st.composite
def contingency_case(draw):
    K = draw(st.integers(1, 3))
    N = draw(st.one_of(st.integers(0, 300), st.just(scaled(3000))))
    # 13 x 1001 cells: more than a CUDA block holds in shared memory (global atomics)
    R, C = draw(st.integers(1, 12)), draw(st.one_of(st.integers(1, 12), st.just(1000)))
    dtype = draw(st.sampled_from(LABEL_DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo = 0 if dtype in (np.uint8, np.uint16, np.uint32, np.uint64, np.bool_) else -2
    hi_t, hi_p = (1, 1) if dtype == np.bool_ else (R + 2, C + 2)
    y_true = rng.integers(lo, hi_t + 1, size=(draw(st.sampled_from([1, K])), N)).astype(dtype)
    y_pred = rng.integers(lo, hi_p + 1, size=(K, N)).astype(dtype)
    tables = {}
    for side, size in (("true", R), ("pred", C)):
        kind = draw(st.sampled_from(["none", "table", "shift"]))
        offset = draw(st.integers(-2, 2))
        if kind == "table":  # a table of its own: some labels mapped, others not
            lut = rng.integers(0, size + 1, size=draw(st.integers(1, size + 3)))
        elif kind == "shift":  # the identity from an offset (the CPU reads it without a table)
            lut = np.arange(size)
        if kind != "none":
            tables.update({f"lut_{side}": lut.astype(np.int64), f"offset_{side}": offset})
    return y_true, y_pred, R, C, tables


@examples(60)
@given(case=contingency_case())
def test_contingency_matches_reference(impl, case):
    y_true, y_pred, R, C, tables = case
    expected = reference.contingency(y_true, y_pred, R, C, **tables)
    assert_same(impl.contingency(y_true, y_pred, R, C, **tables), expected)
    assert expected.sum() == y_pred.size
    out = expected.copy()  # accumulation: a second call adds into out
    assert_same(impl.contingency(y_true, y_pred, R, C, out=out, **tables), 2 * expected)


def test_cpu_tasks_hold_fewer_than_2_32_samples():
    from gpumetrics.kernels._cpu_chunks import MAX_CHUNK, chunk_count

    for n, bins in ((2**34, 1), (2**34, 10**7), (10**6, 10**9)):
        assert -(-n // chunk_count(n, bins)) <= MAX_CHUNK < 2**32


def test_confusion_counts_out_of_range_in_overflow_bin(impl):
    y_true = np.array([[0, 1, 5, -1, 2]])
    y_pred = np.array([[0, 1, 1, 0, 9]])
    cm = impl.confusion(y_true, y_pred, 3)
    assert cm.dtype == np.int64 and cm.shape == (1, 4, 4)
    assert cm[0, 0, 0] == 1 and cm[0, 1, 1] == 1
    assert cm[0, 3, 1] == 1 and cm[0, 3, 0] == 1 and cm[0, 2, 3] == 1


@st.composite
def multilabel_case(draw):
    K, N, L, rng = draw_sizes(draw, 200, 9)
    dtype = draw(st.sampled_from([np.int8, np.int64, np.bool_, np.uint8]))
    y_true = rng.integers(0, 2, size=(draw(st.sampled_from([1, K])), N, L)).astype(dtype)
    y_pred = rng.integers(0, 2, size=(K, N, L)).astype(dtype)
    weight = rng.random((1, N)) if draw(st.booleans()) else None
    return y_true, y_pred, weight


@examples(40)
@given(case=multilabel_case())
def test_label_counts_match_reference(impl, case):
    y_true, y_pred, weight = case
    assert_same(
        impl.label_counts(y_true, y_pred, sample_weight=weight),
        reference.label_counts(y_true, y_pred, sample_weight=weight),
    )
    assert_same(
        impl.sample_label_counts(y_true, y_pred), reference.sample_label_counts(y_true, y_pred)
    )


@st.composite
def topk_case(draw):
    K, N, C, rng = draw_sizes(draw, 200, 8)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    # few distinct values, so that ties are common
    y_score = rng.integers(0, 4, size=(K, N, C)).astype(dtype)
    if N and draw(st.booleans()):
        y_score[0, 0, 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    y_true = rng.integers(-1, C + 1, size=(1, N))
    weight = rng.random((1, N)) if draw(st.booleans()) else None
    k = draw(st.integers(1, C + 1))
    return y_true, y_score, k, weight


@examples(60)
@given(case=topk_case())
def test_topk_outcomes_match_reference(impl, case):
    y_true, y_score, k, weight = case
    assert_same(
        impl.topk_outcomes(y_true, y_score, k, sample_weight=weight),
        reference.topk_outcomes(y_true, y_score, k, sample_weight=weight),
    )


def test_topk_ties_rank_larger_index_first(impl):
    scores = np.array([[[0.5, 0.5, 0.5]]])
    # class 2 ranks first, then 1, then 0
    for label, k, hit in [(2, 1, 1), (1, 1, 0), (1, 2, 1), (0, 2, 0), (0, 3, 1)]:
        out = impl.topk_outcomes(np.array([[label]]), scores, k)
        assert out[0, 1] == hit


@examples(40)
@given(
    values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=300),
    dtype=st.sampled_from([np.int64]),
)
def test_label_range_and_bincount(impl, values, dtype):
    y = np.array(values, dtype=dtype)
    assert impl.label_range(y) == reference.label_range(y)
    small = (y % 50).astype(np.int32)
    assert_same(impl.bincount(small, -3, 40), reference.bincount(small, -3, 40))


BAD_CALLS = {
    "float labels": lambda k: k.confusion(np.zeros((1, 3)), np.zeros((1, 3), int), 2),
    "1-D y_pred": lambda k: k.confusion(np.zeros((1, 3), int), np.zeros(3, int), 2),
    "length mismatch": lambda k: k.confusion(np.zeros((1, 3), int), np.zeros((1, 4), int), 2),
    "batch mismatch": lambda k: k.confusion(np.zeros((2, 3), int), np.zeros((3, 3), int), 2),
    "num_classes 0": lambda k: k.confusion(np.zeros((1, 3), int), np.zeros((1, 3), int), 0),
    "bad out shape": lambda k: k.confusion(
        np.zeros((1, 3), int), np.zeros((1, 3), int), 2, out=np.zeros((1, 2, 2), np.int64)
    ),
    "bad out dtype": lambda k: k.confusion(
        np.zeros((1, 3), int), np.zeros((1, 3), int), 2, out=np.zeros((1, 3, 3))
    ),
    "bad weight shape": lambda k: k.confusion(
        np.zeros((1, 3), int), np.zeros((1, 3), int), 2, sample_weight=np.ones((1, 2))
    ),
    "empty range": lambda k: k.label_range(np.zeros(0, int)),
    "top-k int scores": lambda k: k.topk_outcomes(
        np.zeros((1, 2), int), np.zeros((1, 2, 3), int), 1
    ),
    "top-k k=0": lambda k: k.topk_outcomes(np.zeros((1, 2), int), np.zeros((1, 2, 3)), 0),
    "multilabel 2-D": lambda k: k.label_counts(np.zeros((1, 3), int), np.zeros((1, 3), int)),
    "contingency n_cols 0": lambda k: k.contingency(np.zeros((1, 3), int),
                                                    np.zeros((1, 3), int), 2, 0),
    "contingency float table": lambda k: k.contingency(
        np.zeros((1, 3), int), np.zeros((1, 3), int), 2, 2, lut_pred=np.zeros(2)),
    "contingency bad out shape": lambda k: k.contingency(
        np.zeros((1, 3), int), np.zeros((1, 3), int), 2, 3, out=np.zeros((1, 3, 3), np.int64)),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_same_errors(impl, case):
    error = same_error(lambda: BAD_CALLS[case](impl), lambda: BAD_CALLS[case](reference))
    assert error is not None and error[0] is ValueError


def test_counts_do_not_overflow_int32(impl):
    y = np.zeros((1, 10), np.int8)
    out = np.zeros((1, 2, 2), np.int64)
    out[0, 0, 0] = 2**32 - 5
    impl.confusion(y, y, 1, out=out)
    assert out[0, 0, 0] == 2**32 + 5


@pytest.mark.parametrize("offset", [0, 5])
def test_two_class_path_across_blocks(impl, offset):
    # Long enough for many blocks of the two-class path; a few labels outside {0, 1} in
    # some blocks send those blocks (only) through the per-sample count.
    rng = np.random.default_rng(offset)
    n = scaled(50_000)
    y_true = rng.integers(0, 2, size=(2, n)) + offset
    y_pred = rng.integers(0, 2, size=(2, n)) + offset
    y_true[0, n * 7 // 50] = offset + 2
    y_pred[1, n * 31 // 50] = offset - 1
    lut, off = np.arange(2, dtype=np.int64), offset
    assert_same(
        impl.confusion(y_true, y_pred, 2, lut=lut, offset=off),
        reference.confusion(y_true, y_pred, 2, lut=lut, offset=off),
    )


@pytest.mark.parametrize("name", ["reference", "cpu", "cuda"])
def test_every_backend_implements_the_kernel_protocol(name):
    module = pytest.importorskip(f"gpumetrics.kernels.{name}")
    assert _protocol.missing(module) == []


def test_the_protocol_check_names_what_differs():
    module = types.SimpleNamespace(**{name: getattr(reference, name) for name in dir(reference)})
    del module.bincount
    module.moments = lambda y_true, y_pred, weights=None, out=None: None
    problems = _protocol.missing(module)
    assert problems[0] == "bincount: missing"
    assert problems[1].startswith("moments(y_true, y_pred, weights=None, out=None): expected "
                                  "moments(y_true, y_pred, sample_weight=None, out=None)")
    assert len(problems) == 2
