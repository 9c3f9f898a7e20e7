"""gpumetrics' ``EnergyProfiler`` against CodeCarbon, both watching the same execution.

Each case starts both tools before the workload and stops them after it (which one starts
first alternates from run to run, and the first started is the first stopped), so both see
the same host conditions. Workloads, each ``--seconds`` long: ``busy`` (a pure-Python loop
in this process), ``sleep`` and, in process scope, ``child-busy`` (the same loop in a child
process that exits inside the window), each alone and while a competing process keeps one
core busy. The competitor is not ours: a short-lived intermediate process starts it and
exits, so it is re-parented away from this process and neither tool may count it in
process scope. Process scope: ``EnergyProfiler(scope="process")`` against
``tracking_mode="process"``; machine scope: ``scope="machine"`` against
``tracking_mode="machine"``.

The power assumptions are made equal, so that the rows compare attribution, not power
tables: both use their CPU-load estimates, never RAPL, and the full-load power ``W`` of the
CPUs this process may use (``--cpu-power-w``, default gpumetrics' 4 W per logical CPU of
``os.sched_getaffinity(0)``) is gpumetrics' ``CpuEstimate(W)`` (what ``cpu_power_w=W``
gives where RAPL is not readable); CodeCarbon gets the same power per logical CPU as its
``force_cpu_power`` (W x psutil.cpu_count() / usable CPUs: it divides by every logical CPU
of the machine). RAM models are left as each tool has them (see below). The
carbon intensity given to gpumetrics is CodeCarbon's own for ``--country``, so gCO2e (in
the JSON) is comparable; energy is the figure compared.

What CodeCarbon 3.3.2 computes (read in its source):

* Set-up: ``force_cpu_power`` skips RAPL and the other counters
  (``core/resource_tracker.py``, ``ResourceTracker.set_CPU_tracking``) and lands in
  ``_setup_fallback_tracking``: ``CPU(mode="cpu_load", tdp=force_cpu_power)``.
  ``OfflineEmissionsTracker(country_iso_code=...)`` is used because ``EmissionsTracker``
  asks geojs and the cloud metadata endpoints over the network at its first emissions
  update (``external/geography.py``: ``GeoMetadata.from_geo_js``,
  ``CloudMetadata.from_utils``). ``output_methods=[]`` writes nothing (the ``save_to_*``
  flags are deprecated in 3.3 and warn); ``allow_multiple_runs=True`` takes no lock file.
* CPU, process mode (``external/hardware.py``, ``CPU._get_power_from_cpu_load`` and
  ``_get_process_cpu_times``): at each sample, the sum over the live members of
  ``[process] + children(recursive=True)`` of ``cpu_times().user + .system`` minus that
  pid's value at the previous sample (a pid seen for the first time counts 0), over the
  wall time since then, / ``count_cpus()`` (``psutil.cpu_count()``) x TDP; no floor.
  ``user + system`` leaves out ``children_user/children_system``: a child's CPU time before
  its first sample and after its last one is lost, and a child that lives between two
  samples is not seen at all. Samples are taken every second (``_monitor_power``) and at
  every measurement (every ``measure_power_secs``, ``_measure_power_and_energy``);
  ``CPU.total_power`` averages them weighted by the time each covers and
  ``BaseHardware.measure_power_and_energy`` multiplies by the time since the previous
  measurement: CPU energy ~ TDP / cpu_count x the sampled CPU-seconds of the live tree,
  the tracker's own threads and gpumetrics' sampler included.
* CPU, machine mode: ``SystemCPULoadMeter`` (busy share of all CPUs since its previous
  reading) and ``TDP x (0.1 + 0.9 x load**3)``: a 10% floor and a cubic curve, where
  gpumetrics is linear (W x busy share of the usable CPUs, no floor).
* RAM (``external/ram.py``, ``RAM.total_power``), read at measurements only: process mode
  takes the RSS of the process and its live descendants (GiB), machine mode the installed
  memory, and turns that size into a DIMM count (``_estimate_dimm_count``: up to 16 GB, 2
  DIMMs) x 5 W with a floor of 2 DIMMs on x86: any process under 16 GB is charged 10 W.
  gpumetrics: 0.375 W per GB of the tree's RSS integrated over time (process scope), of the
  installed or cgroup-limited memory (machine scope).
* Window (``emissions_tracker.py``): ``start()`` probes the hardware
  (``_ensure_hardware_ready``: seconds and most of a CPU-second for the first tracker of a
  process, cached after) before its clock starts, then measures at once (an empty first
  interval); ``stop()`` measures only if the last measurement is 50 ms old or more
  (``_measure_power_and_energy_if_stale``), and its first call in a process loads
  CodeCarbon's data files (0.1 CPU-s). Here the hardware is probed before each window
  (``get_detected_hardware()``) and one unrecorded warm-up case runs per scope, so neither
  tool's window holds the other's one-off costs.
* Two effects seen while writing this (``BaseEmissionsTracker._do_measurements``): each
  component's interval is read when its turn comes and the next interval starts when the
  whole measurement ends, so the time a measurement takes is charged to no interval; with
  a pure-Python loop holding the GIL, one measurement (a psutil scan of every process for
  the tree) took 0.1-0.3 s of a 1 s window (more on a loaded host), lost to RAM and
  partly to CPU. And
  ``PeriodicScheduler.stop`` cancels only a timer that has not fired: when the window ends
  as a measurement fires, ``stop()`` and the timer thread measure the same interval and
  both add it (a 1 s ``sleep`` at ``measure_power_secs=0.5`` reported 15 J of RAM at 10 W).
  Hence the default 0.45 s, not a divisor of the default windows. Each run's JSON has
  CodeCarbon's number of measurements and ``ram_coverage``, its RAM energy over its mean
  RAM power x its window (below 1: time lost; above 1: an interval counted twice).

The ideal CPU figure: in process scope, W / n x the workload's own CPU seconds (this
thread's clock, plus the waited-for children's; about W / n x seconds for ``busy``, 0 for
``sleep``); in machine scope, W / n x seconds x the cores known to be busy (workload and
competitor; other processes of the host not counted). Every figure is the median (min-max)
over ``--repeats`` runs: this VM's CPU time for identical work varies from second to second.

    python -m benchmarks.run_energy_vs_codecarbon \\
        --out benchmarks/results/energy-vs-codecarbon-cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from benchmarks import _harness  # noqa: E402
from benchmarks._load import SETTLE_S, BusyCore  # noqa: E402
from gpumetrics.energy import EnergyProfiler, carbon_intensity  # noqa: E402
from gpumetrics.energy.host_sources import CpuEstimate, DramEstimate  # noqa: E402

J_PER_KWH = 3.6e6
QUIET_WAIT_S = 3.0  # at most this long waiting for other processes to calm down per case
PROCESS_CASES = [("process", w, load) for w in ("busy", "sleep", "child-busy")
                 for load in ("alone", "competitor")]
MACHINE_CASES = [("machine", w, load) for w in ("busy", "sleep")
                 for load in ("alone", "competitor")]
FIGURES = ("wall_s", "work_cpu_s", "ideal_cpu_j", "gm_cpu_j", "cc_cpu_j", "gm_dram_j",
           "cc_ram_j", "gm_total_j", "cc_total_j")
COLUMNS = ("s", "work CPU-s", "ideal CPU J", "gpumetrics CPU J", "CodeCarbon CPU J",
           "gpumetrics DRAM J", "CodeCarbon RAM J", "gpumetrics total J",
           "CodeCarbon total J")

BUSY_CHILD = (  # the same loop as busy(), in a child process: argv[1] seconds
    "import sys, time\n"
    "deadline = time.perf_counter() + float(sys.argv[1])\n"
    "x = 0\n"
    "while time.perf_counter() < deadline:\n"
    "    for i in range(10_000):\n"
    "        x = (x * 1103515245 + i) & 0xFFFFFFFF\n"
)
# Starts the competitor and exits at once: the competitor is re-parented away from us. It
# spins until a deadline (argv[1] seconds) rather than forever, so that it cannot outlive a
# benchmark killed before its ``finally``.
def busy(seconds: float) -> None:
    """Pure-Python integer work in this thread for ``seconds`` of wall time."""
    deadline = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < deadline:
        for i in range(10_000):
            x = (x * 1103515245 + i) & 0xFFFFFFFF


def _children_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_workload(name: str, seconds: float) -> dict:
    """Run one workload; its wall time and its own CPU seconds (this thread's and those of
    the children it waited for), and what the process's other threads spent meanwhile."""
    wall0, own0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    kids0 = _children_cpu_s()
    if name == "busy":
        busy(seconds)
    elif name == "sleep":
        time.sleep(seconds)
    elif name == "child-busy":
        subprocess.run([sys.executable, "-c", BUSY_CHILD, repr(seconds)], check=True)
    else:
        raise ValueError(f"unknown workload {name!r}: expected busy, sleep or child-busy.")
    own = time.thread_time() - own0
    kids = _children_cpu_s() - kids0
    return {"wall_s": time.perf_counter() - wall0, "work_cpu_s": own + kids,
            "children_cpu_s": kids, "other_threads_cpu_s": time.process_time() - proc0 - own}


def codecarbon_cpu_power_w(cpu_power_w: float, usable: int, cpu_count: int) -> float:
    """CodeCarbon's ``force_cpu_power`` for the same power per logical CPU as gpumetrics'
    ``cpu_power_w`` over ``usable`` CPUs: CodeCarbon divides by all ``cpu_count``.

    >>> codecarbon_cpu_power_w(8.0, 2, 4)
    16.0
    """
    return cpu_power_w / usable * cpu_count


def codecarbon_intensity(country: str) -> float:
    """CodeCarbon's carbon intensity (gCO2e/kWh) for a country, else gpumetrics' own."""
    from codecarbon.input import DataSource

    mix = DataSource().get_global_energy_mix_data().get(country, {})
    if mix.get("carbon_intensity") is not None:
        return float(mix["carbon_intensity"])
    return carbon_intensity(None, country, None)[0]


def codecarbon_tracker(scope: str, cpu_power_w: float, country: str, measure_power_secs: float):
    import logging

    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)  # before its own setting
    tracker = OfflineEmissionsTracker(
        country_iso_code=country, tracking_mode=scope, measure_power_secs=measure_power_secs,
        output_methods=[], log_level="error", force_cpu_power=cpu_power_w,
        allow_multiple_runs=True, pue=1.0)
    tracker.get_detected_hardware()  # probing the hardware is not part of the window
    return tracker


def gpumetrics_figures(report) -> dict:
    cpu, dram = report.components.get("cpu"), report.components.get("dram")
    return {"cpu_j": cpu.joules if cpu else None, "dram_j": dram.joules if dram else None,
            "total_j": (cpu.joules if cpu else 0.0) + (dram.joules if dram else 0.0),
            "duration_s": report.duration_s, "scope": report.scope, "gco2e": report.gco2e,
            "excluded_cpu_s": dict(report.excluded),
            "cpu_method": cpu.method if cpu else None,
            "cpu_details": cpu.details if cpu else {},
            "dram_details": dram.details if dram else {}, "notes": list(report.notes)}


def codecarbon_figures(data) -> dict:
    cpu, ram = data.cpu_energy * J_PER_KWH, data.ram_energy * J_PER_KWH
    # RAM energy over mean RAM power x window, exact where that power is constant (the
    # 10 W floor): below 1, time no interval covered; above 1, an interval counted twice
    covered = data.ram_power * data.duration
    return {"cpu_j": cpu, "ram_j": ram, "total_j": cpu + ram,
            "ram_coverage": ram / covered if covered > 0 else None,
            "gpu_j": data.gpu_energy * J_PER_KWH,
            "energy_consumed_j": data.energy_consumed * J_PER_KWH,
            "duration_s": data.duration, "cpu_power_w": data.cpu_power,
            "ram_power_w": data.ram_power, "gco2e": data.emissions * 1e3,
            "cpu_count": data.cpu_count, "tracking_mode": data.tracking_mode}


def codecarbon_run(tracker) -> dict:
    """CodeCarbon's figures after ``stop()``, with how many measurements it made."""
    data = getattr(tracker, "final_emissions_data", None)
    if data is None:
        raise RuntimeError("CodeCarbon's stop() failed (it logs and swallows errors).")
    # a private counter, read only to explain a figure: measurements made in the window
    return {**codecarbon_figures(data),
            "measurements": getattr(tracker, "_power_measurement_count", None)}


def ideal_cpu_j(scope: str, workload: str, load: str, wall_s: float, work_cpu_s: float,
                w_per_cpu: float, n_cpus: int) -> float:
    """The CPU energy a perfect attribution would report (see the module docstring).

    >>> ideal_cpu_j("process", "busy", "competitor", 3.0, 2.9, 4.0, 2)
    11.6
    >>> ideal_cpu_j("machine", "busy", "competitor", 3.0, 2.9, 4.0, 2)
    24.0
    """
    if scope == "process":
        return w_per_cpu * work_cpu_s
    cores = (workload != "sleep") + (load == "competitor")
    return w_per_cpu * min(cores, n_cpus) * wall_s


def run_case(case: tuple[str, str, str], args, gm_first: bool) -> dict:
    scope, workload, load = case
    quiet = _harness.wait_for_quiet(max_wait_s=QUIET_WAIT_S)
    with contextlib.ExitStack() as stack:
        if load == "competitor":
            stack.enter_context(BusyCore(lifetime_s=args.seconds + 60))
        # the estimates, never RAPL: CodeCarbon's force_cpu_power skips RAPL too
        profiler = EnergyProfiler(scope=scope, carbon_intensity=args.intensity,
                                  sources=[CpuEstimate(args.cpu_power_w), DramEstimate()])
        tracker = codecarbon_tracker(scope, args.cc_cpu_power_w, args.country,
                                     args.measure_power_secs)
        started = []
        try:
            for tool in [profiler, tracker] if gm_first else [tracker, profiler]:
                tool.start()
                started.append(tool)
            work = run_workload(workload, args.seconds)
        finally:
            for tool in started:  # the first started is the first stopped
                tool.stop()
    return {"first": "gpumetrics" if gm_first else "codecarbon", "others_busy_before": quiet,
            **work, "sampler_cpu_s": profiler.sampler_cpu_s,
            "gpumetrics": gpumetrics_figures(profiler.report),
            "codecarbon": codecarbon_run(tracker)}


def figures(run: dict, case: tuple[str, str, str], w_per_cpu: float, n_cpus: int) -> dict:
    """The table's figures of one run."""
    gm, cc = run["gpumetrics"], run["codecarbon"]
    return {"wall_s": run["wall_s"], "work_cpu_s": run["work_cpu_s"],
            "ideal_cpu_j": ideal_cpu_j(*case, run["wall_s"], run["work_cpu_s"], w_per_cpu,
                                       n_cpus),
            "gm_cpu_j": gm["cpu_j"], "cc_cpu_j": cc["cpu_j"], "gm_dram_j": gm["dram_j"],
            "cc_ram_j": cc["ram_j"], "gm_total_j": gm["total_j"], "cc_total_j": cc["total_j"]}


def spread(values: list[float]) -> dict:
    """Median, min and max of a figure over the repeats.

    >>> spread([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0}
    """
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def number(x: float) -> str:
    """A few significant figures, never in exponent form.

    >>> [number(v) for v in (0.000412, 0.0412, 4.123, 41.23, 4123.4)]
    ['0.0004', '0.041', '4.12', '41.2', '4123']
    """
    for floor, fmt in ((100, ".0f"), (10, ".1f"), (1, ".2f"), (0.01, ".3f")):
        if abs(x) >= floor:
            return format(x, fmt)
    return format(x, ".4f")


def cell(stat: dict) -> str:
    """``median (min-max)``, or the median alone when the repeats agree.

    >>> cell({"median": 2.0, "min": 1.5, "max": 2.25})
    '2.00 (1.50–2.25)'
    >>> cell({"median": 2.0, "min": 2.0, "max": 2.0})
    '2.00'
    """
    text = number(stat["median"])
    if number(stat["min"]) == number(stat["max"]) == text:
        return text
    return f"{text} ({number(stat['min'])}–{number(stat['max'])})"


def ratio_line(case: dict, negligible_j: float) -> str:
    """gpumetrics' and CodeCarbon's median CPU figures over the ideal one (in joules where
    the ideal is below ``negligible_j``: a ratio to nearly nothing says nothing)."""
    s = case["summary"]
    ideal, gm, cc = (s[f]["median"] for f in ("ideal_cpu_j", "gm_cpu_j", "cc_cpu_j"))
    name = f"{case['workload']}/{case['load']}"
    if ideal < negligible_j:
        return f"{name}: ideal ~0, gpumetrics {number(gm)} J, CodeCarbon {number(cc)} J"
    return f"{name}: gpumetrics {gm / ideal:.0%}, CodeCarbon {cc / ideal:.0%}"


def markdown(report: dict) -> str:
    p, m = report["parameters"], report["machine"]
    lines = [f"# gpumetrics vs CodeCarbon {report['codecarbon_version']}: the same execution, "
             f"both tools at once ({m.get('cpu_model', 'CPU')})", "",
             "| scope | workload | load | " + " | ".join(COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    for case in report["cases"]:
        cells = [cell(case["summary"][f]) for f in FIGURES]
        lines.append(f"| {case['scope']} | {case['workload']} | {case['load']} | "
                     + " | ".join(cells) + " |")
    process = [c for c in report["cases"] if c["scope"] == "process"]
    negligible_j = 0.01 * p["w_per_cpu"] * p["seconds"]
    others = [r["other_threads_cpu_s"] for c in process for r in c["runs"]]
    coverage = [r["codecarbon"]["ram_coverage"] for c in report["cases"] for r in c["runs"]
                if r["codecarbon"].get("ram_coverage") is not None]
    lines += ["", (
        f"{m.get('cpu_model', 'CPU')}, {p['cpus_usable']} usable of {p['cpu_count']} logical "
        f"CPUs; both tools assume {p['w_per_cpu']:g} W per busy logical CPU (gpumetrics "
        f"CpuEstimate({p['cpu_power_w']:g} W), CodeCarbon force_cpu_power="
        f"{p['cc_cpu_power_w']:g} in cpu_load mode, measure_power_secs="
        f"{p['measure_power_secs']:g}); median (min–max) of {p['repeats']} runs of "
        f"{p['seconds']:g} s each, the tools started in alternating order. Ideal CPU J: "
        "process scope, W/n x the workload's own CPU seconds (thread clock plus waited-for "
        "children); machine scope, W/n x seconds x the cores known busy. Process-scope CPU "
        "over ideal (medians): " + "; ".join(ratio_line(c, negligible_j) for c in process)
        + f". The two tools' own threads used {number(min(others))}–{number(max(others))} "
        "CPU-s per window (other_threads_cpu_s in the JSON). "
        "In process scope gpumetrics charges the tree's CPU seconds, its own sampling "
        "excluded and CodeCarbon's threads included; CodeCarbon sums CPU-time deltas of the "
        "live tree between its samples, so a child's CPU time before CodeCarbon first sees "
        "it and after its last sample is missing (child-busy rows), and it includes "
        "gpumetrics' sampler. RAM differs by model, not attribution: CodeCarbon charges "
        "10 W (two 5 W DIMMs) to any process under 16 GB, gpumetrics 0.375 W per GB of the "
        "tree's resident memory; CodeCarbon's RAM column also carries its measurement "
        "artefacts (see the module docstring): its RAM energy was "
        f"{number(min(coverage, default=0))}–{number(max(coverage, default=0))} x its mean "
        "RAM power x its window (ram_coverage; below 1, time no interval covered, above 1, "
        "an interval counted twice). In machine scope CodeCarbon's CPU power is "
        "TDP x (0.1 + 0.9 x load^3), gpumetrics' W x load. gCO2e (in the JSON) is energy x "
        f"{p['intensity_g_per_kwh']:g} g/kWh ({p['country']}) for both.")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="each workload's length")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu-power-w", type=float, default=None,
                    help="full-load power of the usable CPUs (default 4 W each)")
    ap.add_argument("--country", default="FRA", help="ISO 3166 alpha-3, for gCO2e")
    ap.add_argument("--measure-power-secs", type=float, default=0.45,
                    help="CodeCarbon's measurement interval (best not a divisor of --seconds)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1:
        ap.error("--seconds must be positive and --repeats at least 1.")
    import codecarbon

    machine = _harness.machine_info()  # before any window: it loads a Numba kernel
    usable, cpu_count = machine["cpus_usable"], psutil.cpu_count()
    if args.cpu_power_w is None:
        args.cpu_power_w = 4.0 * usable
    args.cc_cpu_power_w = codecarbon_cpu_power_w(args.cpu_power_w, usable, cpu_count)
    args.intensity = codecarbon_intensity(args.country)
    w_per_cpu = args.cpu_power_w / usable
    cases = PROCESS_CASES + MACHINE_CASES
    warm_up = argparse.Namespace(**vars(args))
    warm_up.seconds = 0.2
    for scope in ("process", "machine"):  # one-off costs of both tools, unrecorded
        run_case((scope, "sleep", "alone"), warm_up, gm_first=True)
    runs: dict[tuple, list] = {case: [] for case in cases}
    for repeat in range(args.repeats):
        for i, case in enumerate(cases):
            runs[case].append(run_case(case, args, gm_first=(repeat + i) % 2 == 0))
            print(f"repeat {repeat + 1}/{args.repeats}: {' '.join(case)}", file=sys.stderr)
    out_cases = []
    for case, case_runs in runs.items():
        table = [figures(r, case, w_per_cpu, usable) for r in case_runs]
        out_cases.append({"scope": case[0], "workload": case[1], "load": case[2],
                          "summary": {f: spread([t[f] for t in table]) for f in FIGURES},
                          "runs": case_runs})
    report = {"machine": machine, "codecarbon_version": codecarbon.__version__,
              "parameters": {"seconds": args.seconds, "repeats": args.repeats,
                             "cpus_usable": usable, "cpu_count": cpu_count,
                             "cpu_power_w": args.cpu_power_w, "w_per_cpu": w_per_cpu,
                             "cc_cpu_power_w": args.cc_cpu_power_w,
                             "measure_power_secs": args.measure_power_secs,
                             "country": args.country,
                             "intensity_g_per_kwh": args.intensity,
                             "competitor_settle_s": SETTLE_S},
              "cases": out_cases}
    text = markdown(report)
    return _harness.publish(report, text, args.out)


if __name__ == "__main__":
    sys.exit(main())
