"""GPU benchmark: gpumetrics on CUDA tensors against torchmetrics on the same tensors and
against the hardware floor, in one process and one run.

For every N (default 1e7, 1e8, 1e9) it times, on torch CUDA tensors (int64 labels, C
classes, 80% agreement; float32 scores, 30% positives):

* the floors: a plain read of the labels (``torch.sum`` of each) and a device-to-device
  copy of the same bytes;
* confusion counts: the gpumetrics kernel on zero-copy views of the tensors, the streaming
  ``ConfusionMatrix.update`` (``validate=False``), the one-shot ``confusion_matrix``
  (which finds the labels first), and torchmetrics' ``multiclass_confusion_matrix``;
* binary AUROC, exact and over 4096 bins: gpumetrics ``roc_auc_score`` and torchmetrics
  ``binary_auroc`` (``thresholds=None`` and ``4096``);

and for K = 64 prediction sets of ``--batched-n`` samples each: the batched confusion
kernel in one launch against a loop of 64 torchmetrics calls.

Conventions: times are CUDA-event times on the current stream around each call (after one
warm-up call), best and median of n. Bandwidth is bytes read by the call (labels, or scores
and labels) over its time. The copy's bandwidth counts its reads and its writes, as
NVIDIA's bandwidthTest does, so a call that reads its bytes as fast as the copy moves them
scores 100% of copy bandwidth. Confusion counts are checked equal across contenders; the
exact AUROCs are compared and their difference recorded (torchmetrics accumulates its
curve in float32, so it drifts at large N). The binned AUROCs are not compared: gpumetrics
bins the observed score range, torchmetrics [0, 1].

    python -m benchmarks.run_gpu                       # results/gpu-<device>.json and .md
    python -m benchmarks.run_gpu --sizes 1e7 --quick   # a smoke run
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _harness  # noqa: E402

BINS = 4096
TARGETS = {  # what the GPU backend is built to reach on an H100
    "confusion_vs_copy_bandwidth_at_1e9": 0.75,
    "confusion_vs_torchmetrics": 5.0,
    "exact_auroc_vs_torchmetrics": 3.0,
    "batched_k64_vs_torchmetrics_loop": 10.0,
}


def _need_gpu():
    """(torch, cupy) when a CUDA device can run both, else exit with the reason."""
    from gpumetrics import dispatch

    reason = dispatch.cuda_unavailable_reason()
    if reason is None:
        try:
            import cupy
            import torch

            if not torch.cuda.is_available():
                reason = "this torch build has no CUDA"
        except ImportError as exc:
            reason = (f"{exc.name} is not installed (pip install -e '.[cuda12,bench]', or "
                      "'.[cuda13,bench]')")
    if reason is not None:
        print(f"run_gpu: needs a CUDA device: {reason}.", file=sys.stderr)
        raise SystemExit(2)
    return torch, cupy


def time_cuda(torch, fn, repeats: int) -> dict:
    """CUDA-event time of ``fn()`` after one warm-up call: best and median of ``repeats``;
    out-of-memory is reported as such."""
    try:
        result = fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(repeats):
            start.record()
            result = fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
    except Exception as exc:  # torch's and CuPy's out-of-memory errors
        text = str(exc).lower()
        if not ("out of memory" in text or "out_of_memory" in text
                or "OutOfMemory" in type(exc).__name__):
            raise
        return {"status": "oom", "reason": str(exc).splitlines()[0][:200]}
    finally:
        _free(torch)
    return {"status": "ok", "best_s": min(times), "median_s": statistics.median(times),
            "n": repeats, "result": result}


def _free(torch):
    import cupy

    torch.cuda.synchronize()
    cupy.get_default_memory_pool().free_all_blocks()
    torch.cuda.empty_cache()


def _value(x) -> float:
    return float(x.value if hasattr(x, "value") else x)


def label_cases(torch, cupy, n: int, C: int) -> tuple[dict, int]:
    import torchmetrics.functional.classification as TF

    import gpumetrics as gm
    from gpumetrics import dispatch, flops
    from gpumetrics import metrics as M

    kc = dispatch._load("cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    t = torch.randint(0, C, (n,), device="cuda", generator=g)
    p = torch.where(torch.rand(n, device="cuda", generator=g) < 0.8, t,
                    torch.randint(0, C, (n,), device="cuda", generator=g))
    nbytes = flops.kernel_cost("confusion", n=n, label_bytes=t.element_size(),
                               num_classes=C).bytes_read
    dst_t, dst_p = torch.empty_like(t), torch.empty_like(p)
    tc, pc = cupy.from_dlpack(t)[None], cupy.from_dlpack(p)[None]

    def kernel():
        return kc.confusion(tc, pc, C)[0, :C, :C]

    def streaming():
        m = M.ConfusionMatrix("multiclass", num_classes=C, validate=False)
        m.update(t, p)
        return m

    cases = {
        "read_floor": lambda: (t.sum(), p.sum()),
        "copy_floor": lambda: (dst_t.copy_(t), dst_p.copy_(p)),
        "gpumetrics_kernel": kernel,
        "gpumetrics_streaming_update": streaming,
        "gpumetrics_confusion_matrix": lambda: gm.confusion_matrix(t, p),
        "torchmetrics": lambda: TF.multiclass_confusion_matrix(p, t, num_classes=C,
                                                               validate_args=False),
    }
    return cases, nbytes


def score_cases(torch, n: int, torchmetrics_binned: bool = True) -> tuple[dict, int]:
    import torchmetrics.functional.classification as TF

    import gpumetrics as gm

    g = torch.Generator(device="cuda").manual_seed(1)
    y = (torch.rand(n, device="cuda", generator=g) < 0.3).to(torch.int64)
    s = torch.sigmoid(torch.randn(n, device="cuda", generator=g) + 1.5 * y)
    nbytes = y.numel() * y.element_size() + s.numel() * s.element_size()
    cases = {
        "read_floor": lambda: (y.sum(), s.sum()),
        "gpumetrics_exact": lambda: gm.roc_auc_score(y, s),
        "torchmetrics_exact": lambda: TF.binary_auroc(s, y, thresholds=None,
                                                      validate_args=False),
        "gpumetrics_binned": lambda: gm.roc_auc_score(y, s, thresholds=BINS),
    }
    if torchmetrics_binned:
        cases["torchmetrics_binned"] = lambda: TF.binary_auroc(s, y, thresholds=BINS,
                                                               validate_args=False)
    return cases, nbytes


def batched_cases(torch, cupy, n: int, K: int, C: int) -> dict:
    import torchmetrics.functional.classification as TF

    from gpumetrics import dispatch

    kc = dispatch._load("cuda")
    g = torch.Generator(device="cuda").manual_seed(2)
    t = torch.randint(0, C, (n,), device="cuda", generator=g)
    P = torch.where(torch.rand(K, n, device="cuda", generator=g) < 0.8, t,
                    torch.randint(0, C, (K, n), device="cuda", generator=g))
    tc, Pc = cupy.from_dlpack(t)[None], cupy.from_dlpack(P)
    return {
        "gpumetrics_batched": lambda: kc.confusion(tc, Pc, C)[:, :C, :C],
        "gpumetrics_loop": lambda: [kc.confusion(tc, Pc[k:k + 1], C)[0, :C, :C]
                                    for k in range(K)],
        "torchmetrics_loop": lambda: [TF.multiclass_confusion_matrix(P[k], t, num_classes=C,
                                                                     validate_args=False)
                                      for k in range(K)],
    }


def _check_confusion(cupy, results: dict, torchmetrics_key: str):
    """Every contender's counts equal torchmetrics'."""
    import numpy as np

    def host(x):
        if isinstance(x, list):
            return np.stack([host(v) for v in x])
        if hasattr(x, "compute"):
            x = x.compute()
        if isinstance(x, cupy.ndarray):
            return x.get()
        return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)

    if results.get(torchmetrics_key) is None:  # torchmetrics ran out of memory
        return
    expected = host(results[torchmetrics_key])
    for name, value in results.items():
        if name.endswith("floor") or value is None:
            continue
        if not np.array_equal(host(value), expected):
            raise AssertionError(f"{name}'s confusion counts differ from torchmetrics'")


def run_timed(torch, cases: dict, repeats: int, label: str) -> tuple[dict, dict]:
    timings, results = {}, {}
    for name, fn in cases.items():
        m = time_cuda(torch, fn, repeats)
        results[name] = m.pop("result", None)
        timings[name] = m
        shown = f"{m['best_s'] * 1e3:.2f} ms" if m["status"] == "ok" else m["status"]
        print(f"{label} {name}: {shown}", file=sys.stderr)
    return timings, results


def gpu_info(torch) -> dict:
    props = torch.cuda.get_device_properties(0)
    info = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
            "sm_count": props.multi_processor_count,
            "capability": f"{props.major}.{props.minor}",
            "torch_cuda": torch.version.cuda}
    try:
        import cupy

        info["driver"] = cupy.cuda.runtime.driverGetVersion()
        info["cupy"] = cupy.__version__
    except Exception:
        pass
    return info


def _ratio(num: dict, den: dict) -> float | None:
    if num.get("status") != "ok" or den.get("status") != "ok":
        return None
    return num["best_s"] / den["best_s"]


def summarise(report: dict) -> dict:
    """The figures the targets speak of, from the measured rows."""
    out = {}
    for row in report["labels"]:
        c = row["cases"]
        copy = c["copy_floor"]
        if copy.get("status") == "ok" and c["gpumetrics_kernel"].get("status") == "ok":
            gbps = row["bytes"] / c["gpumetrics_kernel"]["best_s"] / 1e9
            copy_gbps = 2 * row["bytes"] / copy["best_s"] / 1e9
            row["kernel_gbps"], row["copy_gbps"] = gbps, copy_gbps
            out[f"confusion_vs_copy_bandwidth_at_{row['n']:.0e}"] = gbps / copy_gbps
        speedup = _ratio(c["torchmetrics"], c["gpumetrics_kernel"])
        if speedup is not None:
            out[f"confusion_vs_torchmetrics_at_{row['n']:.0e}"] = speedup
    for row in report["scores"]:
        c = row["cases"]
        for kind in ("exact", "binned"):
            speedup = _ratio(c[f"torchmetrics_{kind}"], c[f"gpumetrics_{kind}"])
            if speedup is not None:
                out[f"{kind}_auroc_vs_torchmetrics_at_{row['n']:.0e}"] = speedup
    for row in report["batched"]:
        speedup = _ratio(row["cases"]["torchmetrics_loop"], row["cases"]["gpumetrics_batched"])
        if speedup is not None:
            out[f"batched_k{row['k']}_vs_torchmetrics_loop_at_{row['n']:.0e}"] = speedup
    return {key.replace("e+0", "e"): value for key, value in out.items()}


def render(report: dict) -> str:
    gpu = report["gpu"]
    lines = [f"# GPU: gpumetrics vs torchmetrics on the same CUDA tensors ({gpu['name']})", "",
             f"Labels int64, C = {report['classes']}; scores float32. CUDA-event times, best "
             "of n after a warm-up. Copy bandwidth counts reads and writes.", "",
             "| N | case | best ms | GB/s read | x read floor |", "|---|---|---|---|---|"]
    for section in ("labels", "scores"):
        for row in report[section]:
            floor = row["cases"]["read_floor"]
            for name, m in row["cases"].items():
                if m["status"] != "ok":
                    lines.append(f"| {row['n']:.0e} | {section}: {name} | {m['status']} | | |")
                    continue
                factor = m["best_s"] / floor["best_s"] if floor["status"] == "ok" else None
                lines.append(
                    f"| {row['n']:.0e} | {section}: {name} | {m['best_s'] * 1e3:.2f} | "
                    f"{row['bytes'] / m['best_s'] / 1e9:.0f} | "
                    f"{'' if factor is None else f'{factor:.2f}'} |")
    for row in report["batched"]:
        for name, m in row["cases"].items():
            shown = f"{m['best_s'] * 1e3:.2f}" if m["status"] == "ok" else m["status"]
            lines.append(f"| K={row['k']} x {row['n']:.0e} | batched: {name} | {shown} | | |")
    lines += ["", "| figure | measured | target |", "|---|---|---|"]
    for key, value in report["summary"].items():
        target = next((v for k, v in TARGETS.items() if key.startswith(k.split("_at_")[0])),
                      None)
        lines.append(f"| {key} | {value:.2f} | {'' if target is None else target} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e7,1e8,1e9")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batched-n", default="1e6,1e7")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one timed call per case")
    ap.add_argument("--torchmetrics-binned-max", type=float, default=1e8,
                    help="largest N for torchmetrics' binned AUROC, which makes one pass "
                         "per threshold above 50k samples (default 1e8)")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: benchmarks/results/gpu-<device>.json")
    args = ap.parse_args(argv)
    torch, cupy = _need_gpu()
    repeats = 1 if args.quick else args.repeats
    report = {"machine": _harness.machine_info(), "gpu": gpu_info(torch),
              "classes": args.classes, "labels": [], "scores": [], "batched": [],
              "targets": TARGETS}
    for n in (int(float(s)) for s in args.sizes.split(",")):
        cases, nbytes = label_cases(torch, cupy, n, args.classes)
        timings, results = run_timed(torch, cases, repeats, f"N={n:.0e} labels")
        _check_confusion(cupy, results, "torchmetrics")
        report["labels"].append({"n": n, "bytes": nbytes, "cases": timings})
        del cases, results
        binned = n <= args.torchmetrics_binned_max
        cases, nbytes = score_cases(torch, n, torchmetrics_binned=binned)
        timings, results = run_timed(torch, cases, repeats, f"N={n:.0e} scores")
        if not binned:
            timings["torchmetrics_binned"] = {
                "status": "skipped",
                "reason": f"N > --torchmetrics-binned-max ({args.torchmetrics_binned_max:.0e})"}
        exact = [_value(v) for k, v in results.items() if k.endswith("exact") and v is not None]
        if len(exact) == 2 and abs(exact[0] - exact[1]) > 1e-3:
            raise AssertionError(f"exact AUROC disagree: {exact}")
        report["scores"].append({
            "n": n, "bytes": nbytes, "cases": timings, "auroc": exact[0] if exact else None,
            "auroc_difference_vs_torchmetrics": exact[0] - exact[1] if len(exact) == 2
            else None})
        del cases, results
        _free(torch)
    for n in (int(float(s)) for s in args.batched_n.split(",")):
        cases = batched_cases(torch, cupy, n, args.k, args.classes)
        timings, results = run_timed(torch, cases, repeats, f"K={args.k} N={n:.0e}")
        _check_confusion(cupy, results, "torchmetrics_loop")
        report["batched"].append({"n": n, "k": args.k, "cases": timings})
        del cases, results
        _free(torch)
    report["summary"] = summarise(report)
    text = render(report)
    print(text)
    slug = re.sub(r"[^a-z0-9]+", "-", report["gpu"]["name"].lower()).strip("-")
    out = args.out or _harness.REPO / "benchmarks" / "results" / f"gpu-{slug}.json"
    _harness.save(report, text, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
