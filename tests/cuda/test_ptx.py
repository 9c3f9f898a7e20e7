"""The counting, score and regression kernels compile to PTX for the GPUs they target, and
ptxas assembles it (exact ranking, bincount and edges: test_ptx_ranking.py). The simulator
runs kernels as Python and never types them; compiling (NVVM, no GPU needed) catches what
it cannot, and assembling shows the machine code's registers and spills (printed:
``pytest -s``). Signatures are those of the launches: the arrays ``_Call`` hands a kernel
are C-contiguous (``[:, ::1]``), and Numba compiles one variant per layout."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest
from numba import config

if config.ENABLE_CUDASIM:
    pytest.skip("the simulator does not compile kernels", allow_module_level=True)

from numba import boolean, cuda, float32, float64, int8, int32, int64, uint8  # noqa: E402

from gpumetrics import dispatch  # noqa: E402

kc = dispatch._load("cuda")
from gpumetrics.kernels import _cuda_counts as kcc  # noqa: E402
from gpumetrics.kernels import _cuda_scores as ks  # noqa: E402


def _find_ptxas() -> str | None:
    """ptxas on PATH, else the newest under /usr/local/cuda*/bin."""
    found = shutil.which("ptxas")
    if found:
        return found
    for path in sorted(glob.glob("/usr/local/cuda*/bin/ptxas"), reverse=True):
        if os.access(path, os.X_OK):
            return path
    return None


PTXAS = _find_ptxas()


def _assemble(ptx: str, cc) -> dict | None:
    """ptxas's resource use of the PTX's kernel (``registers``, ``spill_stores``,
    ``spill_loads``, bytes of ``stack``), or None without ptxas; fails on an error."""
    if PTXAS is None:
        return None
    arch = f"sm_{cc[0]}{cc[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "kernel.ptx")
        with open(source, "w") as f:
            f.write(ptx)
        done = subprocess.run([PTXAS, "-v", f"-arch={arch}", source, "-o",
                               os.path.join(tmp, "kernel.cubin")],
                              capture_output=True, text=True, timeout=300)
    if done.returncode and "Unsupported .version" in done.stderr:
        pytest.skip(f"{PTXAS} is older than the PTX NVVM writes: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    info = done.stderr

    def total(pattern):
        return sum(int(v) for v in re.findall(pattern, info))

    registers = [int(v) for v in re.findall(r"Used (\d+) registers", info)]
    assert registers, info
    return {"registers": max(registers), "spill_stores": total(r"(\d+) bytes spill stores"),
            "spill_loads": total(r"(\d+) bytes spill loads"),
            "stack": total(r"(\d+) bytes stack frame")}


def _compile(dispatcher, signature, cc) -> dict | None:
    """Compile ``dispatcher``'s kernel for ``signature`` and compute capability ``cc``, and
    assemble it; returns ``_assemble``'s resources (printed)."""
    try:
        ptx, _ = cuda.compile_ptx(dispatcher.py_func, signature, cc=cc)
    except Exception as exc:  # NVVM missing: nothing to check against here
        if "nvrtc" in str(exc).lower() or "nvvm" in str(exc).lower():
            pytest.skip(f"the CUDA compiler libraries are not installed: {exc}")
        raise
    assert ".entry" in ptx
    used = _assemble(ptx, cc)
    if used is not None:
        name = getattr(dispatcher.py_func, "__qualname__", "kernel")
        print(f"ptxas sm_{cc[0]}{cc[1]} {name}: {used}")
    return used


def _no_spills(used: dict | None) -> None:
    """A counting kernel keeps its state in registers: local memory would be a round trip
    per sample."""
    if used is None:
        pytest.skip("ptxas was not found (PATH, /usr/local/cuda*/bin): no register report")
    assert used["spill_stores"] == 0 and used["spill_loads"] == 0, used


def test_ptxas_found():
    """Makes a missing ptxas show in the report: without it the tests check PTX only."""
    if PTXAS is None:
        pytest.skip("ptxas was not found (PATH, /usr/local/cuda*/bin): PTX is not assembled")
    assert os.access(PTXAS, os.X_OK)


CCS = [(8, 0), (9, 0)]


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted, mode", [  # weight sums are not warp-aggregated
    (w, m) for w in (False, True) for m in kcc.CONFUSION_MODES if not (w and m == "warp")])
@pytest.mark.parametrize("label", [int8, uint8, int32, int64])
def test_confusion_compiles(cc, weighted, mode, label):
    out = float64 if weighted else int64
    signature = (label[:, ::1], label[:, ::1], int64[::1], int64, int64, int64, boolean,
                 float64[:, ::1], out[:, ::1])
    _no_spills(_compile(kcc._confusion_kernel(weighted, mode), signature, cc))


@pytest.mark.parametrize("cc", CCS)
def test_warp_path_uses_match_any_and_shared_uint32(cc):
    """The path the simulator cannot run: one match.any per round, uint32 cells in shared
    memory, int64 adds to the result; and few registers, so that 8 blocks of 256 threads
    fit an SM (at most 32)."""
    signature = (int32[:, ::1], int32[:, ::1], int64[::1], int64, int64, int64, boolean,
                 float64[:, ::1], int64[:, ::1])
    ptx, _ = cuda.compile_ptx(kcc._confusion_kernel(False, "warp").py_func, signature, cc=cc)
    assert "match.any.sync" in ptx and "popc" in ptx
    assert "atom.shared.add.u32" in ptx and "atom.shared.add.u64" not in ptx
    assert "atom.global.add.u64" in ptx
    used = _assemble(ptx, cc)
    _no_spills(used)
    assert used["registers"] <= 32, used


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_label_counts_compile(cc, weighted, shared):
    out = float64 if weighted else int64
    signature = (uint8[:, :, ::1], int64[:, :, ::1], float64[:, ::1], out[:, ::1])
    _no_spills(_compile(kcc._LABEL_KERNELS[weighted, shared], signature, cc))


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("label", [int8, int32, int64])
def test_label_range_compiles(cc, label):
    _compile(kcc._range_kernel, (label[::1], int64[::1]), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("indicator", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_score_histogram_compiles(cc, weighted, indicator, shared):
    """Equal-width bins; with edges, see test_ptx_ranking.py."""
    y_true = uint8[:, :, ::1] if indicator else int64[:, ::1]
    out = float64 if weighted else int64
    signature = (y_true, float32[:, :, ::1], float64[:, ::1], float64[:, ::1], int64,
                 float64[::1], float64[:, ::1], out[:, ::1])
    _compile(ks._histogram_kernel(weighted, indicator, False, shared), signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("score", [float32, float64])
def test_score_range_compiles(cc, score):
    _compile(ks._score_range_kernel, (score[:, :, ::1], float64[:, :, ::1]), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("value", [float32, float64])
def test_moments_compile(cc, weighted, value):
    signature = (value[:, :, ::1], value[:, :, ::1], float64[:, ::1], float64[:, :, ::1])
    moments = _compile(ks._MOMENT_KERNELS[weighted], signature, cc)
    merge = _compile(ks._merge_blocks_kernel, (float64[:, :, ::1], float64[:, ::1]), cc)
    _no_spills(moments)
    _no_spills(merge)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("classes", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_sums_compile(cc, classes, weighted):
    y_true = int64[:, ::1] if classes else float64[:, :, ::1]
    signature = (y_true, float32[:, :, ::1], boolean, float64[:, ::1], int64, float64,
                 float64[:, ::1])
    _compile(ks._LOSS_KERNELS[classes, weighted], signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("score", [float32, float64])
def test_topk_compiles(cc, weighted, score):
    signature = (int64[:, ::1], score[:, :, ::1], int64, float64[:, ::1],
                 (float64 if weighted else int64)[:, ::1])
    _compile(kcc._TOPK_KERNELS[weighted], signature, cc)


@pytest.mark.parametrize("cc", CCS)
def test_sample_label_counts_compile(cc):
    _compile(kcc._sample_label_kernel, (int8[:, :, ::1], uint8[:, :, ::1], int64[:, :, ::1]),
             cc)
