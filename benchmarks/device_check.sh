#!/usr/bin/env bash
# The CUDA backend on a real GPU, in one offline command:
#
#     bash benchmarks/device_check.sh [OUT_DIR]      (default: benchmarks/results/device-check)
#
# Needs only a Python with numpy, numba, numba-cuda, CuPy, torch (CUDA), pytest and
# hypothesis (the kernel suite); JAX, torchmetrics and scikit-learn are used when present. Nothing is installed and
# nothing is downloaded: this checkout is imported as it is (``kernels/`` is mapped to
# ``gpumetrics.kernels`` through a directory of links), so it runs on a machine without a
# network. Stages, each time-boxed, each writing its results to OUT_DIR as soon as it ends
# (a crash in a later stage keeps the earlier ones):
#
#   1. environment   GPU, driver, package versions, the backends that can run (env.json)
#   2. streams       state operations across streams, restored states, JAX, memory pools
#   3. gpu           every kernel against the NumPy reference on the device, interop
#   4. kernels       the CUDA kernel tests and the kernel comparison suite (run under the
#                    simulator in CI) on the device
#   5. benchmark     benchmarks.run_gpu at N = 1e7 and 1e8 (gpu-benchmark.json and .md)
#
# STAGES="streams benchmark" runs only those stages (the environment always runs).
# summary.md gets one line per stage. Without a usable GPU it says why and exits 2; else
# it exits 1 if the environment or any stage failed or ran out of time, 0 when all passed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
OUT_DIR=${1:-$REPO/benchmarks/results/device-check}
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd) || { echo "device_check: cannot write to $OUT_DIR" >&2; exit 1; }
PYTHON=${PYTHON:-python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpumetrics-device-check.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
ALL_STAGES="streams gpu kernels benchmark"
STAGES=${STAGES:-$ALL_STAGES}
for name in $STAGES; do
    case " $ALL_STAGES " in *" $name "*) ;; *) echo "device_check: no stage '$name' (stages: $ALL_STAGES)" >&2; exit 1 ;; esac
    rm -f "$OUT_DIR/$name.log" "$OUT_DIR/$name.xml"  # no stale results of what runs now
done
[[ " $STAGES " == *" benchmark "* ]] && rm -f "$OUT_DIR"/gpu-benchmark.*
rm -f "$OUT_DIR/summary.md" "$OUT_DIR/env.json" "$OUT_DIR/environment.log"

export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX would take 75% of the GPU at import
export PYTHONDONTWRITEBYTECODE=1
export NUMBA_CACHE_DIR="$WORK/numba-cache"

# The package as an installed wheel would lay it out: gpumetrics/ with kernels/ inside.
mkdir -p "$WORK/src/gpumetrics"
for entry in "$REPO"/gpumetrics/*; do
    [ "$(basename "$entry")" = "__pycache__" ] || ln -sfn "$entry" "$WORK/src/gpumetrics/"
done
ln -sfn "$REPO/kernels" "$WORK/src/gpumetrics/kernels"
ln -sfn "$REPO/benchmarks" "$WORK/src/benchmarks"
cd "$WORK/src"  # first on sys.path for `python -m`: this checkout, not an installed copy

: > "$OUT_DIR/summary.md"
failed=0

stage() {  # stage NAME SECONDS COMMAND...: run, time-box, log, and record one line
    local name=$1 seconds=$2 start rc status
    shift 2
    case " $STAGES " in *" $name "*) ;; *) return 0 ;; esac
    start=$(date +%s)
    echo "== $name (at most ${seconds}s)"
    timeout -k 10 "$seconds" "$@" > "$OUT_DIR/$name.log" 2>&1
    rc=$?
    case $rc in
        0) status=passed ;;
        124|137) status="timed out after ${seconds}s"; failed=1 ;;
        5) status="no test ran (all skipped: see the log)"; failed=1 ;;
        *) status="failed (exit $rc)"; failed=1 ;;
    esac
    echo "| $name | $status | $(( $(date +%s) - start )) s | $name.log |" | tee -a "$OUT_DIR/summary.md"
    tail -n 3 "$OUT_DIR/$name.log"
    return 0
}

pytest_stage() {  # pytest_stage NAME SECONDS PYTEST-ARGS...
    local name=$1 seconds=$2
    shift 2
    stage "$name" "$seconds" "$PYTHON" -m pytest -p no:cacheprovider --rootdir "$REPO" \
        -c "$REPO/pyproject.toml" -o addopts=-ra --junitxml "$OUT_DIR/$name.xml" -q "$@"
}

timeout -k 10 60 "$PYTHON" - "$OUT_DIR/env.json" <<'EOF' > "$OUT_DIR/environment.log" 2>&1
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys

env = {"python": sys.version.split()[0], "platform": platform.platform(), "packages": {}}
for name in ("numpy", "numba", "numba-cuda", "cupy-cuda12x", "cupy-cuda13x", "torch",
             "jax", "jaxlib", "torchmetrics", "scikit-learn", "pytest", "hypothesis",
             "pyarrow", "psutil", "threadpoolctl", "ml_dtypes"):
    try:
        env["packages"][name] = md.version(name)
    except md.PackageNotFoundError:
        pass
try:
    env["nvidia_smi"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
         "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError) as exc:
    env["nvidia_smi"] = f"unavailable ({exc})"
from gpumetrics import dispatch

env["cuda_unavailable_reason"] = dispatch.cuda_unavailable_reason()
env["backends"] = list(dispatch.available())
if env["cuda_unavailable_reason"] is None:
    from numba import cuda

    device = cuda.get_current_device()
    name = getattr(device, "name", "simulated")  # the CUDA simulator's device has no name
    env["device"] = {"name": name.decode() if isinstance(name, bytes) else str(name),
                     "compute_capability": list(getattr(device, "compute_capability", ())),
                     "sm_count": getattr(device, "MULTIPROCESSOR_COUNT", None)}
    try:
        import torch

        env["torch_cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    except ImportError:
        env["torch_cuda"] = None
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(env, f, indent=2)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
print(json.dumps(env, indent=2))
sys.exit(0 if env["cuda_unavailable_reason"] is None else 3)
EOF
rc=$?
cat "$OUT_DIR/environment.log"
if [ $rc -eq 3 ]; then  # the environment stage ran and found no usable GPU
    reason=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['cuda_unavailable_reason'])" "$OUT_DIR/env.json")
    echo "| environment | no usable GPU: $reason | | environment.log |" >> "$OUT_DIR/summary.md"
    echo "device_check: no usable GPU here: $reason" >&2
    exit 2
elif [ $rc -ne 0 ]; then  # it crashed or hung: say so, never "no GPU"
    echo "| environment | failed (exit $rc) | | environment.log |" >> "$OUT_DIR/summary.md"
    echo "device_check: the environment stage failed (exit $rc): see $OUT_DIR/environment.log" >&2
    exit 1
fi
echo "| environment | passed | | env.json |" >> "$OUT_DIR/summary.md"

pytest_stage streams 75 "$REPO/tests/gpu/test_streams.py"
pytest_stage gpu 150 "$REPO/tests/gpu/test_gpu.py"
pytest_stage kernels 150 -m cudasim "$REPO/tests/cuda" "$REPO/tests/kernels"
stage benchmark 130 "$PYTHON" -m benchmarks.run_gpu --sizes 1e7,1e8 --batched-n 1e6 \
    --repeats 3 --torchmetrics-binned-max 1e7 --out "$OUT_DIR/gpu-benchmark.json"

echo "results in $OUT_DIR"
exit $failed
