"""Device work in order: which stream a call runs on, how the operations on a metric's
buffers are ordered when they run on different streams, which memory pool they use, and how
long inputs must live.

* **The caller's stream.** Kernels launch on CuPy's current stream. For torch tensors that
  is made ``torch.cuda.current_stream()`` of their device for the call; for CuPy arrays it
  already is the caller's; for JAX arrays it is CuPy's current stream, which DLPack makes
  wait for JAX's work on the inputs when they are exported (JAX has no public stream).
* **One order per metric.** ``update()`` may run in a training loop on a side stream while
  ``state_dict()``, ``reset()``, ``merge()``, ``sync()`` or ``compute()`` run on another.
  An ``Order`` records a CUDA event after every operation on a metric's buffers, and the
  next operation's stream waits for it when it is another stream: a wait on the device,
  never on the host.
* **torch's memory pool for torch callers.** CuPy's own pool is separate from torch's
  caching allocator and never gives memory back; inside a torch caller's scope CuPy
  allocates through ``torch.cuda.caching_allocator_alloc`` on the caller's stream, so what
  gpumetrics uses shows in ``torch.cuda.memory_allocated()`` and returns to torch's cache.
* **Inputs outlive the kernels that read them.** torch inputs are marked used on the
  kernels' stream (``record_stream``) so that torch does not hand their memory out while
  the kernels are queued. JAX frees an array when its last reference goes, whatever another
  stream still has queued: JAX inputs are held until an event after the kernels has passed
  (checked without waiting, at the next device call).

On the host every scope is a no-op.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import threading

from gpumetrics import _arrays

_held: list = []  # (event, inputs): JAX inputs that queued kernels still read
_held_lock = threading.Lock()
_collecting: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "gpumetrics_inputs_to_hold", default=None)


class Order:
    """The device order of one metric's buffer operations: the event recorded after the
    last one, and where it ran: ``(device index, stream pointer)`` (every device has a
    stream 0)."""

    __slots__ = ("event", "stream")

    def __init__(self):
        self.event = None
        self.stream = None

    def __reduce__(self):  # events belong to this process: a copy starts a fresh order
        return (Order, ())

    def __deepcopy__(self, memo):
        return Order()


@contextlib.contextmanager
def scope(ctx: _arrays.ArrayContext, *orders: Order):
    """Run the device work of one call on the caller's stream; for an operation on metric
    buffers, after the previous operation of each of their ``orders``, and recorded in them
    as their last."""
    if not ctx.on_gpu:
        yield
        return
    cupy = _arrays._cupy()
    with contextlib.ExitStack() as stack:
        stack.enter_context(cupy.cuda.Device(ctx.device_index))
        if ctx.library == "torch":
            stack.enter_context(_torch_stream(cupy, ctx.device_index))
            stack.enter_context(cupy.cuda.using_allocator(_torch_allocator()))
        stream = cupy.cuda.get_current_stream()
        where = (ctx.device_index, stream.ptr)
        for order in orders:
            if order.event is not None and order.stream != where:
                stream.wait_event(order.event)
        inputs: list = []
        token = _collecting.set(inputs)
        try:
            yield
        finally:
            _collecting.reset(token)
            event = cupy.cuda.Event(block=False, disable_timing=True)
            event.record(stream)
            for order in orders:
                order.event, order.stream = event, where
            _hold(event, inputs)


def scope_of(*values):
    """``scope`` for the first GPU array among ``values`` (none: no scope)."""
    for x in values:
        library = _arrays._library_of(x)
        if library in ("torch", "cupy", "jax"):
            device = _arrays._device_of(x, library)
            if device != "cpu":
                return scope(_arrays.ArrayContext(library, device))
    return contextlib.nullcontext()


def hold(x) -> None:
    """Keep ``x`` alive until the kernels of the current scope have run."""
    inputs = _collecting.get()
    if inputs is not None:
        inputs.append(x)


def mark_used(tensor) -> None:
    """Tell torch's allocator that the current stream uses ``tensor``'s memory, so that it
    is not reused before the kernels queued there have run."""
    torch = sys.modules["torch"]
    tensor.record_stream(torch.cuda.current_stream(tensor.device))


def held() -> int:
    """How many inputs are held for kernels that may still be queued."""
    _release_passed()
    with _held_lock:
        return sum(len(inputs) for _, inputs in _held)


def _hold(event, inputs: list) -> None:
    with _held_lock:
        if inputs:
            _held.append((event, inputs))
    _release_passed()


def _release_passed() -> None:
    with _held_lock:
        _held[:] = [(event, inputs) for event, inputs in _held if not event.done]


def _torch_stream(cupy, index: int):
    """torch's current stream on device ``index``, as CuPy's current stream."""
    torch = sys.modules["torch"]
    stream = torch.cuda.current_stream(index)
    from_external = getattr(cupy.cuda.Stream, "from_external", None)
    if from_external is not None and hasattr(stream, "__cuda_stream__"):  # CuPy >= 14
        return from_external(stream)
    return cupy.cuda.ExternalStream(stream.cuda_stream, index)


@functools.cache
def _torch_allocator():
    """A CuPy allocator over torch's caching allocator, on CuPy's current stream (torch's
    current stream inside a torch scope)."""
    torch = sys.modules["torch"]
    cupy = _arrays._cupy()

    def malloc(size: int, device: int) -> int:
        return torch.cuda.caching_allocator_alloc(
            size, device, cupy.cuda.get_current_stream().ptr)

    def free(ptr: int, device: int) -> None:
        if ptr:  # empty arrays own no memory
            torch.cuda.caching_allocator_delete(ptr)

    return cupy.cuda.memory.PythonFunctionAllocator(malloc, free).malloc
