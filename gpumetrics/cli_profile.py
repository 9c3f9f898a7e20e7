"""``gpumetrics profile -- CMD``: run a command under the energy profiler
(``gpumetrics.energy.EnergyProfiler``), print its report, and exit with the command's code.
Bad flags are reported before the command runs, so its work is never lost to them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gpumetrics._files import unwritable, write_atomic
from gpumetrics.cli_args import carbon_flags, number

# The environment as the caller set it, for the commands `profile` runs: taken when
# gpumetrics.cli imports this module, before main() sets OMP_WAIT_POLICY for itself.
CALLER_ENV = dict(os.environ)


def profile(args) -> int:
    """Run a command under the energy profiler; print its report; exit with its code."""
    import subprocess

    from gpumetrics.energy import EnergyProfiler

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    problems = [carbon_flags(args, "profile")] + [
        f"gpumetrics profile: {flag} {Path(path)}: {problem}"
        for flag, path in (("--csv", args.csv), ("--out", args.out))
        if path and (problem := unwritable(Path(path)))]
    if not command:
        problems.append("gpumetrics profile: give a command after --, e.g. "
                        "gpumetrics profile -- python train.py")
    problems = [p for p in problems if p]
    if problems:  # before the command runs: its work is never lost to a bad flag
        print(problems[0], file=sys.stderr)
        return 2
    try:
        profiler = EnergyProfiler(carbon_intensity=args.carbon_intensity, country=args.country,
                                  region=args.region, pue=args.pue, interval_s=args.interval,
                                  project=args.project, output_csv=args.csv,
                                  scope=args.scope)
        profiler.start()
    except (ValueError, RuntimeError) as exc:
        print(f"gpumetrics profile: {exc}", file=sys.stderr)
        return 2
    try:
        code = subprocess.call(command, env=CALLER_ENV)
    except OSError as exc:
        profiler.stop()
        print(f"gpumetrics profile: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        code = 130
    try:
        report = profiler.stop()  # appends to --csv
    except (OSError, ValueError) as exc:  # the command ran: its code stands
        report = profiler.report
        print(f"gpumetrics profile: warning: --csv {args.csv}: not written ({exc})",
              file=sys.stderr)
    print(report.to_json(indent=1) if args.json else report, file=sys.stderr)
    if args.out:
        try:
            write_atomic(Path(args.out), report.to_json(indent=1) + "\n")
        except OSError as exc:
            print(f"gpumetrics profile: warning: --out {args.out}: not written ({exc})",
                  file=sys.stderr)
    return code


def add_parsers(sub) -> None:
    """The ``profile`` subcommand."""
    p = sub.add_parser(
        "profile", help="run a command and report its energy (kWh) and emissions (gCO2e)",
        description="Run CMD under the energy profiler: GPUs by NVML, CPU and DRAM by RAPL, "
        "else estimated from power ratings and utilisation (each figure says which), "
        "charged to CMD's process tree unless --scope machine. The report goes to stderr; "
        "the exit code is the command's.")
    p.add_argument("--country", help="country for the carbon intensity: ISO alpha-2 or "
                   "alpha-3 code, or name (FR, FRA, France)")
    p.add_argument("--region", help="cloud region, e.g. aws:eu-west-1 or europe-west4")
    p.add_argument("--carbon-intensity", type=number(0), metavar="G_PER_KWH",
                   help="gCO2e per kWh (over --country and --region)")
    p.add_argument("--scope", choices=("process", "machine"), default="process",
                   help="whose energy: CMD's process tree (default; CPU time, memory and "
                   "GPU share) or the whole machine (every process)")
    p.add_argument("--pue", type=number(1), default=1.0,
                   help="power usage effectiveness of the facility, >= 1 (default 1)")
    p.add_argument("--interval", type=number(0, inclusive=False), default=0.1, metavar="S",
                   help="sampling interval in seconds (default 0.1)")
    p.add_argument("--project", help="project name for the emissions file")
    p.add_argument("--csv", metavar="FILE", help="append the run to this emissions CSV")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]",
                   help="the command to run and profile, after --")
    p.set_defaults(func=profile)
