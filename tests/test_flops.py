"""The FLOP formulas against PyTorch's FlopCounterMode on real modules, and a published
figure: torchvision's ResNet-50 (v1.5) forward at 224 x 224 is 4.09 GFLOPS in its model
table, counted there as multiply-accumulates
(https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet50.html)."""

from __future__ import annotations

import warnings

import pytest

from gpumetrics import flops

torch = pytest.importorskip("torch")
nn = torch.nn


def test_linear_equals_flop_counter():
    m = nn.Linear(24, 40)
    x = torch.randn(3, 7, 24)
    counted = flops.count_flops(m, x)
    assert counted.flops == flops.linear(24, 40, tokens=21).flops
    assert counted.macs == 21 * 24 * 40
    assert counted.convention == flops.CONVENTION


@pytest.mark.parametrize(("dims", "kw"), [
    (1, {"stride": 2, "padding": 1}),
    (2, {"stride": (2, 1), "padding": 1, "dilation": 2, "groups": 4}),
    (2, {"padding": "same", "groups": 2}),
    (3, {"stride": 2, "dilation": (1, 2, 1)}),
])
def test_conv_equals_flop_counter(dims, kw):
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims](8, 16, 3, **kw)
    size = (13, 17, 11)[:dims]
    x = torch.randn(2, 8, *size)
    expected = flops.conv(8, 16, 3, size, batch=2, **kw).flops
    assert flops.count_flops(conv, x).flops == expected
    assert conv(x).shape[2:] == flops.conv_output_size(size, 3, kw.get("stride", 1),
                                                       kw.get("padding", 0),
                                                       kw.get("dilation", 1))


def test_two_layer_transformer_equals_flop_counter():
    d, heads, ff, T, B = 32, 4, 64, 10, 3
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    model.train()
    x = torch.randn(B, T, d)
    expected = 2 * flops.transformer_block(T, d, heads, ff, batch=B).flops
    assert flops.count_flops(model, x).flops == expected


def test_backward_is_twice_forward_when_inputs_need_grad():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    x = torch.randn(5, 16, requires_grad=True)
    forward = flops.count_flops(model, x)
    both = flops.count_flops(model, x, backward=True)
    assert both.flops == flops.training_step(forward).flops == 3 * forward.flops


def test_resnet50_reproduces_the_published_figure():
    """ResNet-50 v1.5 at 224 x 224 from the layer formulas: 4.09 GMACs (torchvision)."""
    total = flops.conv(3, 64, 7, (224, 224), stride=2, padding=3)
    size, channels = 56, 64  # after the 3x3 stride-2 max pool
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            s = stride if b == 0 else 1
            out = size // s
            total += flops.conv(channels, width, 1, (size, size))
            total += flops.conv(width, width, 3, (size, size), stride=s, padding=1)
            total += flops.conv(width, 4 * width, 1, (out, out))
            if b == 0:
                total += flops.conv(channels, 4 * width, 1, (size, size), stride=s)
            channels, size = 4 * width, out
    total += flops.linear(2048, 1000)
    assert total.macs / 1e9 == pytest.approx(4.09, abs=0.005)


def test_transformer_rules():
    assert flops.transformer_training(7e9, 1e12).flops == 6 * 7e9 * 1e12
    per_token = flops.transformer_per_token(8e9, 32, 32, 128, 2048)
    assert per_token.flops == 6 * 8e9 + 12 * 32 * 32 * 128 * 2048
    forward = flops.transformer_per_token(8e9, 32, 32, 128, 2048, training=False)
    assert forward.flops == pytest.approx(per_token.flops / 3)
    causal = flops.attention(8, 16, 2, causal=True, projections=False)
    assert causal.macs == 2 * (8 * 9 / 2) * 16


def test_sums_keep_the_breakdown_and_convention():
    block = flops.transformer_block(16, 64, 4, 256, elementwise_ops=True)
    assert set(block.detail) >= {"attention", "projections", "linear", "norm", "softmax"}
    assert block.flops == pytest.approx(sum(block.detail.values()))
    assert "FLOPs = 2 x multiply-accumulates" in repr(block)


def test_count_flops_warns_when_it_counts_nothing():
    with pytest.warns(UserWarning, match="counted no FLOPs"):
        assert flops.count_flops(nn.ReLU(), torch.randn(4)).flops == 0


def test_kernel_cost_and_mfu():
    cost = flops.kernel_cost("confusion", n=10**6, k=4, label_bytes=4, num_classes=10)
    assert cost.bytes_read == 5 * 10**6 * 4
    assert cost.bytes_written == 4 * 11 * 11 * 8
    u = flops.mfu(flops.Flops(989.4e12 * 0.5), 1.0, device="NVIDIA H100 80GB HBM3")
    assert u.value == pytest.approx(0.5)
    assert "H100 SXM" in u.peak_source
    assert flops.mfu(1e12, 2.0, peak_flops=1e12).value == 0.5
    with pytest.raises(ValueError, match="dtype must be one of"):
        flops.mfu(1e12, 1.0, device="NVIDIA T4", dtype="bf16")
    with pytest.raises(ValueError, match="not in the peak-throughput table"):
        flops.mfu(1e12, 1.0, device="Imaginary GPU")


def test_mfu_takes_dtypes_and_devices_as_users_write_them():
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    bf16 = flops.mfu(1e12, 1.0, device="H100 SXM", dtype="bf16").value
    for dtype in (torch.bfloat16, "bfloat16", "BF16"):
        assert flops.mfu(1e12, 1.0, device="H100 SXM", dtype=dtype).value == bf16
    fp32 = flops.mfu(1e12, 1.0, device="H100 SXM", dtype=np.float32)
    assert "fp32" in fp32.peak_source
    assert flops.mfu(1e12, 1.0, device="H100 SXM", dtype=torch.float8_e4m3fn).value > 0
    if not torch.cuda.is_available():
        for device in ("cuda", "cuda:0", torch.device("cuda"), 0):
            with pytest.raises(ValueError, match="needs a CUDA device"):
                flops.mfu(1e12, 1.0, device=device)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="groups"):
        flops.conv(6, 8, 3, (10, 10), groups=4)
    with pytest.raises(ValueError, match="in_features"):
        flops.linear(0, 4)
    with pytest.raises(ValueError, match="n_heads"):
        flops.attention(4, 10, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flops.linear(4, 4)
