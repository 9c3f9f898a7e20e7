"""Markdown tables of a classification benchmark report (the dict the runner writes as JSON)."""

from __future__ import annotations

BUSY = 0.1  # other processes took more than this share of the CPUs: mark the time with *


def _ms(m: dict | None) -> str:
    if m is None:
        return "-"
    if m["status"] != "ok":
        return f"skipped ({m['warmup_s']:.0f} s/call)"
    ms = 1e3 * m["best_s"]
    text = f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"
    if (m.get("foreign_load") or 0) > BUSY:
        text += "*"
    return text + ("" if m.get("agrees", True) else " (WRONG)")


def _ratio(num: dict | None, den: dict | None) -> str | None:
    if not num or not den or num["status"] != "ok" or den["status"] != "ok":
        return None
    return f"{num['best_s'] / den['best_s']:.1f}x"


def _cell(m: dict | None, ratio: str | None = None) -> str:
    text = _ms(m)
    return f"{text} ({ratio})" if ratio else text


def _size(n: int) -> str:
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _confusion(rows, dtype):
    out = []
    for row in rows:
        if row["section"] != "confusion" or row["dtype"] != dtype:
            continue
        r = row["results"]
        floor = r["floor"]
        cells = [
            _size(row["n"]),
            str(row["classes"]),
            _ms(floor),
            _cell(r["gm_kernel"], _ratio(r["gm_kernel"], floor)),
            _cell(r["gm_public_C"], _ratio(r["gm_public_C"], floor)),
        ]
        if dtype == "int64":
            gm, gm_c = r["gm_public"], r["gm_public_C"]
            cells += [
                _cell(gm, _ratio(gm, floor)),
                _ms(r["np_bincount"]),
                _cell(r.get("sklearn"), _ratio(r.get("sklearn"), gm)),
                _cell(r.get("tm_default"), _ratio(r.get("tm_default"), gm_c)),
                _cell(r.get("tm_novalidate"), _ratio(r.get("tm_novalidate"), gm_c)),
            ]
        out.append(cells)
    return out


def _headline(rows):
    out = []
    for row in rows:
        if row["section"] not in ("accuracy", "f1_macro"):
            continue
        r = row["results"]
        gm, gm_c = r["gm_public"], r["gm_public_C"]
        out.append(
            [
                row["section"],
                _size(row["n"]),
                str(row["classes"]),
                _ms(gm_c),
                _ms(gm),
                _cell(r.get("sklearn"), _ratio(r.get("sklearn"), gm)),
                _cell(r.get("tm_default"), _ratio(r.get("tm_default"), gm_c)),
                _cell(r.get("tm_novalidate"), _ratio(r.get("tm_novalidate"), gm_c)),
            ]
        )
    return out


def _batched(rows):
    out = []
    for row in rows:
        if row["section"] != "batched_accuracy":
            continue
        r = row["results"]
        out.append(
            [
                _size(row["n"]),
                str(row["classes"]),
                str(row["sets"]),
                _ms(r["floor"]),
                _cell(r["gm_batched_C"], _ratio(r["gm_batched_C"], r["floor"])),
                _cell(r["gm_loop_C"], _ratio(r["gm_loop_C"], r["gm_batched_C"])),
                _cell(r["gm_batched"], _ratio(r["gm_batched"], r["floor"])),
                _cell(r["gm_loop"], _ratio(r["gm_loop"], r["gm_batched"])),
            ]
        )
    return out


def render(report: dict) -> str:
    m = report["machine"]
    v = m["versions"]
    modified = ""
    if m["git_dirty"]:
        modified = f", modified: CPU kernels sha256 {str(m.get('kernels_cpu_sha256'))[:12]}"
    lines = [
        "# Classification benchmark, CPU",
        "",
        f"{m['date']} - {m['cpu_model']}, {m['cpus_usable']} usable CPUs "
        f"({m['numba_threads']} Numba threads, {m.get('torch_threads', '-')} torch threads), "
        f"{m['mem_total_gib']} GiB RAM. numpy {v['numpy']}, numba {v['numba']}, "
        f"scikit-learn {v['sklearn']}, torch {v['torch']}, torchmetrics {v['torchmetrics']}, "
        f"gpumetrics {v['gpumetrics']} (commit {str(m['git_commit'])[:10]}"
        f"{modified}). Numba threading layer "
        f"{m.get('numba_threading_layer')}, OMP_WAIT_POLICY={m.get('omp_wait_policy')}.",
        "",
        "Times in ms, best of several calls after a warm-up. Labels uniform over 0..C-1, "
        f"predictions equal to the label {100 * report['config']['agreement']:.0f}% of the "
        "time. `x floor`: time / read floor (a Numba prange pass that reads y_true and "
        "y_pred once). Peer ratios are peer time / gpumetrics time (>1: gpumetrics faster); "
        "scikit-learn is compared with gpumetrics discovering the labels as it does, "
        "torchmetrics (which needs num_classes) with gpumetrics given `num_classes=C`. "
        f"`*`: other processes used more than {100 * BUSY:.0f}% of the CPUs while it ran.",
        "",
        "## Confusion counts, int64 labels",
        "",
    ]
    lines += _table(
        [
            "N",
            "C",
            "read floor",
            "gm kernel (x floor)",
            "gm cm num_classes (x floor)",
            "gm cm discover (x floor)",
            "np.bincount",
            "sklearn (/ gm discover)",
            "torchmetrics (/ gm C)",
            "tm validate_args=False (/ gm C)",
        ],
        _confusion(report["rows"], "int64"),
    )
    int32 = _confusion(report["rows"], "int32")
    if int32:
        lines += ["", "## Confusion counts, int32 labels", ""]
        lines += _table(
            ["N", "C", "read floor", "gm kernel (x floor)", "gm cm num_classes (x floor)"], int32
        )
    lines += ["", "## accuracy_score and f1_score(average='macro'), int64 labels", ""]
    lines += _table(
        [
            "metric",
            "N",
            "C",
            "gm num_classes",
            "gm discover",
            "sklearn (/ gm discover)",
            "torchmetrics (/ gm C)",
            "tm validate_args=False (/ gm C)",
        ],
        _headline(report["rows"]),
    )
    batched = _batched(report["rows"])
    if batched:
        lines += ["", "## Batched accuracy_score: K prediction sets in one call vs K calls", ""]
        lines += _table(
            [
                "N",
                "C",
                "K",
                "read floor (y_true + K sets)",
                "batched num_classes (x floor)",
                "K calls num_classes (/ batched)",
                "batched discover (x floor)",
                "K calls discover (/ batched)",
            ],
            batched,
        )
    wrong = [
        (row["section"], row["n"], row["classes"], name)
        for row in report["rows"]
        for name, res in row["results"].items()
        if not res.get("agrees", True)
    ]
    if wrong:
        lines += ["", f"WRONG answers (excluded from conclusions): {wrong}"]
    return "\n".join(lines)
