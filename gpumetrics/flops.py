"""FLOP estimates: analytic formulas for common layers and whole transformers, counts of
PyTorch models, the cost of gpumetrics' own kernels, and model-FLOPs utilisation.

Convention: a FLOP is one floating-point multiply or add, and a multiply-accumulate (MAC)
is two FLOPs. Layer formulas count the multiply-accumulates of their matrix products and
convolutions (``FLOPs = 2 x MACs``), as PyTorch's ``FlopCounterMode`` does; bias additions,
normalisations, activations and softmax are counted only by the elementwise formulas
(``norm``, ``softmax``, ``elementwise``), with their per-element counts stated. Every
result is a ``Flops`` that carries this convention; ``.macs`` gives multiply-accumulates.

    >>> from gpumetrics import flops
    >>> f = flops.linear(1024, 4096, tokens=8)
    >>> f.flops, f.macs
    (67108864.0, 33554432.0)
    >>> flops.training_step(f).flops == 3 * f.flops
    True
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

CONVENTION = "FLOPs = 2 x multiply-accumulates"


@dataclass(frozen=True)
class Flops:
    """A FLOP count, with what it counts (``detail``: by part) and how (``convention``)."""

    flops: float
    detail: dict = field(default_factory=dict)
    note: str = ""
    convention: str = CONVENTION

    @property
    def macs(self) -> float:
        """Multiply-accumulates (FLOPs / 2)."""
        return self.flops / 2

    def __add__(self, other: Flops) -> Flops:
        if not isinstance(other, Flops):
            return NotImplemented
        detail = dict(self.detail)
        for key, value in other.detail.items():
            detail[key] = detail.get(key, 0.0) + value
        if other.convention != self.convention:
            raise ValueError(f"cannot add counts of two conventions: {self.convention!r} and "
                             f"{other.convention!r}.")
        note = "; ".join(n for n in dict.fromkeys((self.note, other.note)) if n)
        return Flops(self.flops + other.flops, detail, note, self.convention)

    def __radd__(self, other):
        return self if other == 0 else NotImplemented  # sum() starts from 0

    def __mul__(self, factor: float) -> Flops:
        return Flops(self.flops * factor, {k: v * factor for k, v in self.detail.items()},
                     self.note, self.convention)

    __rmul__ = __mul__

    def __float__(self) -> float:
        return float(self.flops)

    def __repr__(self) -> str:
        return f"Flops({self.flops:.4g}; {self.convention})"


def _macs(macs: float, part: str, note: str = "") -> Flops:
    return Flops(2.0 * macs, {part: 2.0 * macs}, note)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _tuple(value, n: int, name: str) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, Sequence) else (value,) * n
    if len(values) != n:
        raise ValueError(f"{name} must be an int or {n} ints; got {value!r}.")
    return tuple(int(v) for v in values)


# --- layers (forward) ------------------------------------------------------------------------


def linear(in_features: int, out_features: int, tokens: int = 1) -> Flops:
    """A linear layer applied to ``tokens`` rows: ``tokens x in x out`` MACs."""
    in_features = _positive_int(in_features, "in_features")
    out_features = _positive_int(out_features, "out_features")
    tokens = _positive_int(tokens, "tokens")
    return _macs(tokens * in_features * out_features, "linear")


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple:
    """The spatial output size of a convolution (PyTorch's formula; ``padding`` may be
    ``"same"`` or ``"valid"``)."""
    n = len(input_size)
    kernel = _tuple(kernel_size, n, "kernel_size")
    stride = _tuple(stride, n, "stride")
    dilation = _tuple(dilation, n, "dilation")
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' needs stride 1 (as PyTorch's convolutions).")
        return tuple(int(s) for s in input_size)
    padding = (0,) * n if padding == "valid" else _tuple(padding, n, "padding")
    out = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1
                for s, k, st, p, d in zip(input_size, kernel, stride, padding, dilation,
                                          strict=True))
    if min(out) < 1:
        raise ValueError(f"the convolution leaves no output for input size {input_size}.")
    return out


def conv(in_channels: int, out_channels: int, kernel_size, input_size, *, stride=1,
         padding=0, dilation=1, groups: int = 1, batch: int = 1) -> Flops:
    """An N-d convolution (N = ``len(input_size)``, the spatial size): each output element
    takes ``in_channels / groups x prod(kernel_size)`` MACs."""
    groups = _positive_int(groups, "groups")
    batch = _positive_int(batch, "batch")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups ({groups}) must divide in_channels ({in_channels}) and "
                         f"out_channels ({out_channels}).")
    input_size = tuple(input_size)
    out = conv_output_size(input_size, kernel_size, stride, padding, dilation)
    kernel = _tuple(kernel_size, len(input_size), "kernel_size")
    macs = (batch * math.prod(out) * out_channels * (in_channels // groups)
            * math.prod(kernel))
    return _macs(macs, "conv")


def attention(seq_len: int, d_model: int, n_heads: int, *, batch: int = 1,
              kv_len: int | None = None, causal: bool = False,
              projections: bool = True) -> Flops:
    """Multi-head attention: the Q, K, V and output projections (``d_model x d_model``
    each) and the two products with the attention matrix (scores ``QK^T`` and ``AV``).

    ``causal=True`` counts only the unmasked pairs (``T (T + 1) / 2`` of ``T^2``); note that
    ``FlopCounterMode`` counts the full square for causal attention.
    """
    seq_len = _positive_int(seq_len, "seq_len")
    d_model = _positive_int(d_model, "d_model")
    n_heads = _positive_int(n_heads, "n_heads")
    if d_model % n_heads:
        raise ValueError(f"n_heads ({n_heads}) must divide d_model ({d_model}).")
    kv_len = seq_len if kv_len is None else _positive_int(kv_len, "kv_len")
    if causal and kv_len != seq_len:
        raise ValueError("causal attention needs kv_len == seq_len.")
    pairs = seq_len * (seq_len + 1) / 2 if causal else seq_len * kv_len
    out = _macs(batch * 2 * pairs * d_model, "attention")
    if projections:
        proj = batch * d_model * d_model * (2 * seq_len + 2 * kv_len)
        out = out + _macs(proj, "projections")
    return out


def norm(n_elements: int, affine: bool = True) -> Flops:
    """Layer or batch normalisation: 5 FLOPs per element (mean, centre, square, variance,
    scale) plus 2 for the affine transform."""
    return Flops(float(n_elements) * (7 if affine else 5), {"norm": float(n_elements)
                                                           * (7 if affine else 5)},
                 "norm: 5 FLOPs per element, +2 affine")


def softmax(n_elements: int) -> Flops:
    """Softmax: 5 FLOPs per element (max, subtract, exp, sum, divide)."""
    return Flops(5.0 * n_elements, {"softmax": 5.0 * n_elements},
                 "softmax: 5 FLOPs per element")


def elementwise(n_elements: int, flops_per_element: float = 1.0, name: str = "elementwise"
                ) -> Flops:
    """An elementwise layer (activation, residual add, bias): ``flops_per_element`` each."""
    value = float(n_elements) * flops_per_element
    return Flops(value, {name: value}, f"{name}: {flops_per_element:g} FLOPs per element")


def transformer_block(seq_len: int, d_model: int, n_heads: int, d_ff: int, *, batch: int = 1,
                      causal: bool = False, elementwise_ops: bool = False) -> Flops:
    """One transformer block: attention and a two-layer feed-forward network; with
    ``elementwise_ops`` also two norms, the softmax, the activation and two residual adds."""
    tokens = batch * seq_len
    out = (attention(seq_len, d_model, n_heads, batch=batch, causal=causal)
           + linear(d_model, d_ff, tokens) + linear(d_ff, d_model, tokens))
    if elementwise_ops:
        out = (out + norm(2 * tokens * d_model)
               + softmax(batch * n_heads * seq_len * seq_len)
               + elementwise(tokens * d_ff, 1.0, "activation")
               + elementwise(2 * tokens * d_model, 1.0, "residual"))
    return out


# --- whole models and training ---------------------------------------------------------------


def backward(forward: Flops) -> Flops:
    """The backward pass: about twice the forward (gradients with respect to the
    activations and to the weights each cost about one forward)."""
    return Flops(2.0 * forward.flops, {"backward": 2.0 * forward.flops},
                 "backward = 2 x forward")


def training_step(forward: Flops) -> Flops:
    """Forward plus backward: about three times the forward."""
    return Flops(3.0 * forward.flops, {"forward": forward.flops,
                                       "backward": 2.0 * forward.flops},
                 "training step = forward + 2 x forward")


def transformer_training(n_params: float, n_tokens: float) -> Flops:
    """Training compute of a dense transformer: ``6 N D`` FLOPs for N parameters and D
    tokens (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", section 2.1),
    attention over the context left out."""
    value = 6.0 * float(n_params) * float(n_tokens)
    return Flops(value, {"6ND": value}, "6 N D (Kaplan et al. 2020)")


def transformer_per_token(n_params: float, n_layers: int, n_heads: int, head_dim: int,
                          seq_len: int, *, training: bool = True) -> Flops:
    """FLOPs per token with attention over the context: ``6 N + 12 L H Q T`` for training
    (Chowdhery et al. 2022, PaLM, appendix B), a third of it for a forward pass."""
    dense = 6.0 * float(n_params)
    attn = 12.0 * n_layers * n_heads * head_dim * seq_len
    scale = 1.0 if training else 1.0 / 3.0
    return Flops((dense + attn) * scale, {"6N": dense * scale, "12LHQT": attn * scale},
                 "6N + 12 L H Q T per token (Chowdhery et al. 2022)"
                 + ("" if training else ", forward = 1/3"))


def count_flops(module, *inputs, backward: bool = False, **kwargs) -> Flops:
    """FLOPs of ``module(*inputs, **kwargs)`` (and of its backward pass with
    ``backward=True``) counted by ``torch.utils.flop_counter.FlopCounterMode``, by module.

    It counts the operators it knows (matrix products, convolutions, attention); custom or
    fused kernels it does not know count nothing, and a warning says so when the total is
    zero or inference mode is on. PyTorch's fused CPU attention kernel is one it does not
    know, so on CPU inputs attention runs through its math path while counting (the same
    products, counted)."""
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if torch.is_inference_mode_enabled():
        warnings.warn("count_flops under torch.inference_mode(): operators may bypass the "
                      "counter and the count may be short or zero.", stacklevel=2)
    scope = contextlib.nullcontext()
    tensors = [t for t in (*inputs, *kwargs.values()) if isinstance(t, torch.Tensor)]
    if tensors and not any(t.is_cuda for t in tensors):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        scope = sdpa_kernel([SDPBackend.MATH])
    counter = FlopCounterMode(display=False)
    with scope, counter:
        out = module(*inputs, **kwargs)
        if backward:
            tensors = [t for t in (out if isinstance(out, tuple | list) else (out,))
                       if isinstance(t, torch.Tensor) and t.requires_grad]
            if not tensors:
                raise ValueError("backward=True needs an output that requires grad.")
            torch.autograd.backward([t.sum() for t in tensors])
    total = float(counter.get_total_flops())
    by_module = {name: float(sum(ops.values()))
                 for name, ops in counter.get_flop_counts().items() if name != "Global"}
    note = "counted by torch FlopCounterMode" + (" (forward + backward)" if backward else "")
    if total == 0:
        warnings.warn(f"count_flops counted no FLOPs for {type(module).__name__}: its "
                      "operators are unknown to FlopCounterMode (custom or fused kernels?).",
                      stacklevel=2)
    return Flops(total, by_module, note)


# --- gpumetrics' own kernels ----------------------------------------------------------------


@dataclass(frozen=True)
class KernelCost:
    """What one kernel call moves and computes: bytes read and written (the memory
    traffic a bandwidth figure divides), floating-point and integer operations."""

    bytes_read: int
    bytes_written: int
    flops: float
    int_ops: float
    note: str = ""

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


def kernel_cost(kernel: str, *, n: int, k: int = 1, label_bytes: int = 8,
                score_bytes: int = 4, weighted: bool = False, shared_true: bool = True,
                num_classes: int = 2, columns: int = 1, n_bins: int = 4096) -> KernelCost:
    """The cost of one call of a counting kernel over ``n`` samples and ``k`` prediction
    sets (``y_true`` read once when ``shared_true``). Kernels: ``confusion``,
    ``score_histogram``, ``moments``."""
    true_sets = 1 if shared_true else k
    weights = 8 * n * (1 if shared_true else k) if weighted else 0
    if kernel == "confusion":
        read = (true_sets + k) * n * label_bytes + weights
        written = k * (num_classes + 1) ** 2 * 8
        return KernelCost(read, written, float(k * n if weighted else 0), float(k * n),
                          "one count (or weight add) per sample and set")
    if kernel == "score_histogram":
        read = true_sets * n * label_bytes + k * n * columns * score_bytes + weights
        written = k * columns * n_bins * 2 * 8
        return KernelCost(read, written, 2.0 * k * n * columns, float(k * n * columns),
                          "2 FLOPs per score for its bin (subtract, scale)")
    if kernel == "moments":
        read = (true_sets + k) * n * columns * score_bytes + weights
        written = k * columns * 13 * 8
        return KernelCost(read, written, 30.0 * k * n * columns, 0.0,
                          "about 30 FLOPs per value for the weighted Welford update")
    raise ValueError(f"kernel must be one of confusion, score_histogram, moments; "
                     f"got {kernel!r}.")


# --- utilisation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Utilisation:
    """Achieved over peak throughput, with where the peak came from."""

    value: float
    achieved_flops_per_s: float
    peak_flops_per_s: float
    peak_source: str


# dtype spellings of torch, NumPy, JAX and plain words, to the peak table's keys
_DTYPE_KEYS = {"bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "half": "fp16",
               "fp16": "fp16", "float32": "fp32", "float": "fp32", "fp32": "fp32",
               "tf32": "tf32", "float64": "fp64", "double": "fp64", "fp64": "fp64",
               "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "fp8": "fp8"}


def _dtype_key(dtype) -> str:
    """The peak table's key for a dtype given as a word (``"bf16"``, ``"bfloat16"``) or a
    torch, NumPy or JAX dtype."""
    name = getattr(dtype, "name", None)
    if name is None and isinstance(dtype, type):  # np.float32, jnp.bfloat16
        import numpy as np

        try:
            name = np.dtype(dtype).name
        except TypeError:
            pass
    text = str(name or dtype).lower().removeprefix("torch.")
    return _DTYPE_KEYS.get(text, text)


def _device_name(device) -> str:
    """A device name for the peak table: a name as given, or the name of a CUDA device
    given as ``None`` (the current one), an index, ``"cuda"``, ``"cuda:1"`` or a torch
    device."""
    if isinstance(device, str) and not re.fullmatch(r"cuda(:\d+)?", device.strip()):
        return device
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"mfu: device={device!r} needs a CUDA device, and none is present; "
                         "give a device name (e.g. 'H100 SXM') or peak_flops=.")
    if device is not None and not isinstance(device, int):
        device = torch.device(device)
    return torch.cuda.get_device_name(device)


def mfu(flops: Flops | float, seconds: float, *, device=None, dtype="bf16",
        peak_flops: float | None = None) -> Utilisation:
    """Model-FLOPs utilisation: ``flops / seconds`` over the device's dense peak for
    ``dtype`` (from the datasheet table), or over ``peak_flops`` (FLOP/s) when given.
    ``device`` is a device name (``"H100 SXM"``, ``torch.cuda.get_device_name()``), a CUDA
    device (``"cuda"``, ``"cuda:1"``, an index, a torch device), or by default the current
    CUDA device; ``dtype`` a word (``"bf16"``, ``"tf32"``) or a torch, NumPy or JAX dtype
    (``torch.bfloat16``)."""
    from gpumetrics.energy import hardware

    if not seconds > 0:
        raise ValueError(f"seconds must be positive; got {seconds!r}.")
    achieved = float(flops) / seconds
    if peak_flops is not None:
        peak, source = float(peak_flops), "given"
    else:
        key = _dtype_key(dtype)
        name, tflops = hardware.peak_tflops(_device_name(device), key)
        peak, source = tflops * 1e12, f"{name} dense {key} peak, NVIDIA datasheet"
    return Utilisation(achieved / peak, achieved, peak, source)
