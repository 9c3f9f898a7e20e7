"""The device-order protocol of ``gpumetrics._streams`` without a GPU: a recording stand-in
for CuPy's stream and event objects shows which stream waits for which event. (On a device,
``tests/gpu/test_streams.py`` shows the same orders give the right counts.)"""

from __future__ import annotations

import contextlib
import types

import pytest

from gpumetrics import _arrays, _streams


class _Event:
    def __init__(self, log, **_):
        self.log, self.done, self.stream = log, False, None

    def record(self, stream):
        self.stream = stream.ptr
        self.log.append(("record", stream.ptr, id(self)))


class _Stream:
    def __init__(self, log, ptr):
        self.log, self.ptr = log, ptr

    def wait_event(self, event):
        self.log.append(("wait", self.ptr, id(event)))


class _Device:
    def __init__(self, index):
        self.id = index

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def device(monkeypatch):
    """A stand-in CuPy whose current stream the test chooses; returns (log, use_stream)."""
    log, current = [], {"ptr": 0}
    cuda = types.SimpleNamespace(
        Device=_Device,
        get_current_stream=lambda: _Stream(log, current["ptr"]),
        Event=lambda **kw: _Event(log, **kw),
        using_allocator=lambda allocator: contextlib.nullcontext(),
    )
    monkeypatch.setattr(_arrays, "_cupy", lambda: types.SimpleNamespace(cuda=cuda))

    def use_stream(ptr):
        current["ptr"] = ptr

    return log, use_stream


GPU = _arrays.ArrayContext("cupy", _Device(0))


def test_operations_on_one_stream_never_wait(device):
    log, use = device
    order = _streams.Order()
    use(7)
    for _ in range(3):
        with _streams.scope(GPU, order):
            pass
    assert [kind for kind, *_ in log] == ["record"] * 3
    assert order.stream == (0, 7)


def test_an_operation_on_another_stream_waits_for_the_last_one(device):
    log, use = device
    order = _streams.Order()
    use(7)
    with _streams.scope(GPU, order):  # update() in the training loop's side stream
        pass
    last = order.event
    log.clear()
    use(0)
    with _streams.scope(GPU, order):  # state_dict() on the default stream
        log.append(("work", 0, None))
    assert log[0] == ("wait", 0, id(last))  # before any of its work
    assert log[1][0] == "work" and log[2][:2] == ("record", 0)
    assert order.stream == (0, 0) and order.event is not last


def test_stream_zero_of_another_device_is_another_stream(device):
    """Every device has a stream 0: merging a metric of device 1 into one of device 0 on
    their default streams still waits for device 1's last operation."""
    log, use = device
    a, b = _streams.Order(), _streams.Order()
    use(0)
    with _streams.scope(_arrays.ArrayContext("cupy", _Device(1)), b):
        pass
    log.clear()
    with _streams.scope(GPU, a, b):
        pass
    assert log[0][:2] == ("wait", 0)
    assert a.stream == b.stream == (0, 0)


def test_an_operation_on_two_metrics_waits_for_both_and_orders_both(device):
    log, use = device
    a, b = _streams.Order(), _streams.Order()
    use(1)
    with _streams.scope(GPU, a):
        pass
    use(2)
    with _streams.scope(GPU, b):
        pass
    first_a, first_b = a.event, b.event
    log.clear()
    use(3)
    with _streams.scope(GPU, a, b):  # a.merge(b)
        pass
    assert ("wait", 3, id(first_a)) in log and ("wait", 3, id(first_b)) in log
    assert a.event is b.event and a.stream == b.stream == (0, 3)  # b's next update waits


def test_the_event_is_recorded_when_the_operation_fails(device):
    log, use = device
    order = _streams.Order()
    use(5)
    with pytest.raises(ValueError), _streams.scope(GPU, order):
        raise ValueError("bad input")
    assert order.stream == (0, 5) and log[-1][0] == "record"


def test_inputs_are_held_until_their_kernels_have_run(device):
    log, use = device
    use(4)
    before = _streams.held()
    with _streams.scope(GPU):
        _streams.hold(object())
        _streams.hold(object())
    assert _streams.held() == before + 2
    event = next(e for e, inputs in _streams._held if len(inputs) == 2)
    event.done = True  # the kernels ran
    assert _streams.held() == before
    _streams.hold(object())  # outside a scope nothing is queued: nothing to hold
    assert _streams.held() == before


def test_host_scopes_touch_no_device(monkeypatch):
    monkeypatch.setattr(_arrays, "_cupy", lambda: pytest.fail("CuPy used on the host"))
    order = _streams.Order()
    with _streams.scope(_arrays.HOST, order):
        pass
    assert order.event is None
    with _streams.scope_of([1, 2], None, 3.0):
        pass


def test_every_state_operation_runs_in_the_metrics_order(monkeypatch):
    """update, compute, reset, merge, state_dict and load_state_dict each run in a scope
    holding the metric's order (merge: both metrics' orders). (sync needs a process group:
    tests/gpu/test_streams.py runs it on a device.)"""
    import numpy as np

    from gpumetrics import metrics as M

    seen = []
    real = _streams.scope

    def spy(ctx, *orders):
        seen.append(orders)
        return real(ctx, *orders)

    monkeypatch.setattr(_streams, "scope", spy)
    a = M.MetricSet([M.Accuracy("multiclass", num_classes=3), M.MeanSquaredError()])
    b = M.MetricSet([M.Accuracy("multiclass", num_classes=3), M.MeanSquaredError()])
    assert a["accuracy"]._order is a._order  # members share their set's order
    calls = {
        "update": lambda: a.update(np.array([0, 1, 2]), np.array([0, 1, 1])),
        "compute": a.compute,
        "member compute": a["accuracy"].compute,
        "state_dict": a.state_dict,
        "load_state_dict": lambda: a.load_state_dict(b.state_dict()),
        "merge": lambda: a.merge(b),
        "reset": a.reset,
    }
    for name, call in calls.items():
        seen.clear()
        call()
        wanted = (a._order, b._order) if name == "merge" else (a._order,)
        assert seen and seen[-1] == wanted, name
