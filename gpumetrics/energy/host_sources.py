"""The CPU's and DRAM's energy sources: RAPL's counters where they can be read, else
estimates from ratings: the CPUs' full-load power (TDP) times their utilisation, and
0.375 W per GB of memory.

``host_sources()`` picks them: RAPL for the CPU packages (and DRAM where it has a domain),
an estimate for whatever RAPL does not cover.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gpumetrics.energy import hardware
from gpumetrics.energy.attribution import cpu_seconds
from gpumetrics.energy.sources import Source, SourceUnavailable

RAPL_ROOT = "/sys/class/powercap"
DRAM_W_PER_GB = 0.375  # 3 W per 8 GB of installed DRAM


# --- RAPL (CPU packages and DRAM) --------------------------------------------------------------


class _Domain:
    def __init__(self, path: Path, name: str, component: str):
        self.path = path
        self.name = name
        self.component = component
        self.max_range = int((path / "max_energy_range_uj").read_text())
        self.last = 0
        self.total_uj = 0
        self.fd: int | None = None  # kept open while profiling: a sample is one pread

    def read(self) -> int:
        if self.fd is None:
            return int((self.path / "energy_uj").read_text())
        return int(os.pread(self.fd, 32, 0))

    def open(self) -> None:
        if self.fd is None:
            self.fd = os.open(self.path / "energy_uj", os.O_RDONLY)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Rapl(Source):
    """RAPL energy counters from the powercap tree: every package domain for ``cpu`` and
    every DRAM domain for ``dram``. Subdomains inside a package (core, uncore) and the
    platform domain (psys, which contains the packages) are left out, so nothing is counted
    twice. Counters wrap at ``max_energy_range_uj``; sampling every interval (far shorter
    than the wrap period, minutes at full power) keeps every wrap visible."""

    method = "measured:rapl"
    period_s = 0.001
    sampled = True

    def __init__(self, root: str | os.PathLike = RAPL_ROOT):
        root = Path(root)
        self.skipped: list[str] = []
        self.domains: list[_Domain] = []
        if not root.is_dir():
            raise SourceUnavailable(f"no RAPL: {root} does not exist")
        for entry in sorted(root.iterdir()):
            if not re.fullmatch(r"intel-rapl:\d+(:\d+)*", entry.name):
                continue
            try:
                name = (entry / "name").read_text().strip()
            except OSError:
                continue
            top = entry.name.count(":") == 1
            if top and name.startswith("package"):
                component = "cpu"
            elif name == "dram":
                component = "dram"
            else:
                self.skipped.append(f"{entry.name} ({name})")
                continue
            self.domains.append(_Domain(entry, name, component))
        if not any(d.component == "cpu" for d in self.domains):
            raise SourceUnavailable(f"no RAPL package domain under {root}")
        for d in self.domains:
            try:
                d.read()
            except PermissionError:
                raise SourceUnavailable(
                    f"RAPL counters under {root} are not readable (permission denied); "
                    "reading them needs root or a read permission on energy_uj"
                ) from None

    def components(self):
        return tuple(dict.fromkeys(d.component for d in self.domains))

    def start(self, now):
        for d in self.domains:
            d.open()
            d.last = d.read()
            d.total_uj = 0

    def stop(self):
        for d in self.domains:
            d.close()

    def sample(self, now):
        for d in self.domains:
            value = d.read()
            if value >= d.last:
                d.total_uj += value - d.last
            else:  # wrapped past max_energy_range_uj
                d.total_uj += d.max_range - d.last + value
            d.last = value

    def energy_j(self, now):
        self.sample(now)
        out: dict[str, float] = {}
        for d in self.domains:
            out[d.component] = out.get(d.component, 0.0) + d.total_uj / 1e6
        return out

    def details(self, component):
        names = [d.name for d in self.domains if d.component == component]
        return {"domains": names, "left_out": list(self.skipped)}

    def attribute(self, machine, now, usage):
        # RAPL measures whole packages and DRAM channels: the tree's share of the busy CPU
        # time and of the used memory apportions them
        out = {}
        if "cpu" in machine:
            ours, busy = usage.cpu_s(), usage.machine_busy_cpu_s()
            share = min(ours / busy, 1.0) if busy > 0 else 0.0
            out["cpu"] = (machine["cpu"] * share, {
                "attribution": "machine-wide RAPL x the process tree's share of busy CPU "
                               "time", "machine_wide_joules": machine["cpu"],
                "process_cpu_s": ours, "machine_busy_cpu_s": busy, "share": share})
        if "dram" in machine:
            ours, used = usage.memory_gb_s(now)
            share = min(ours / used, 1.0) if used > 0 else 0.0
            out["dram"] = (machine["dram"] * share, {
                "attribution": "machine-wide RAPL DRAM x the process tree's share of used "
                               "memory (GB x s)", "machine_wide_joules": machine["dram"],
                "process_gb_s": ours, "machine_used_gb_s": used, "share": share})
        return out


# --- estimates for the CPU and DRAM ------------------------------------------------------------


class CpuEstimate(Source):
    """No readable counter: the CPUs' full-load power x their utilisation x time.

    Full-load power is given (``power_w``), or the table's TDP scaled to the logical CPUs
    this process may use (TDP x logical CPUs / threads per socket: a VM with 2 of a
    128-thread part's threads gets 2/128 of its TDP), or a default per logical CPU.
    Machine-wide, utilisation is the busy share of those CPUs' time over the window (all
    processes on them, as a counter would measure), from the kernel's CPU time accounting;
    attributed to a process tree, it is the tree's own CPU seconds: power per logical CPU
    x CPU seconds."""

    method = "estimated:tdp-x-utilisation"
    period_s = 0.01  # the kernel's CPU time accounting tick

    def __init__(self, power_w: float | None = None, model: str | None = None):
        try:
            self.cpus = sorted(os.sched_getaffinity(0))
        except AttributeError:
            self.cpus = list(range(os.cpu_count() or 1))
        self.model = hardware.cpu_model() if model is None else model
        n = len(self.cpus)
        spec = hardware.cpu_spec(self.model)
        tdp = (spec.name, spec.tdp_w) if spec is not None else hardware.cpu_tdp(self.model)
        threads = hardware.threads_per_socket(self.model) if tdp is not None else None
        default = (f"default {hardware.DEFAULT_W_PER_LOGICAL_CPU:g} W per logical CPU x "
                   f"{n}")
        if power_w is not None:
            self.full_w, self.basis = float(power_w), "given"
        elif tdp is not None and threads is not None:
            self.full_w = tdp[1] * n / threads[0]
            source = "table" if spec is not None else "CodeCarbon CPU power data"
            self.basis = (f"{source}:{tdp[0]} TDP {tdp[1]:g} W x {n} of {threads[0]} "
                          f"threads ({threads[1]})")
        elif tdp is not None:
            self.full_w = hardware.DEFAULT_W_PER_LOGICAL_CPU * n
            self.basis = (f"{default} ({tdp[0]} has a TDP of {tdp[1]:g} W, but the threads "
                          "sharing it are unknown on this virtual machine)")
        else:
            self.full_w = hardware.DEFAULT_W_PER_LOGICAL_CPU * n
            self.basis = f"{default} (model {self.model!r} not in the CPU power tables)"

    def components(self):
        return ("cpu",)

    def start(self, now):
        self.t0 = now
        self.busy0, self.total0, _ = cpu_seconds(self.cpus)
        self.utilisation = 0.0

    def energy_j(self, now):
        # full-load power x busy CPU-seconds per CPU: utilisation x time, and never less
        # than at an earlier lap (busy time only grows)
        busy, total, counted = cpu_seconds(self.cpus)
        busy_per_cpu = (busy - self.busy0) / max(counted, 1)
        elapsed_cpu = total - self.total0
        self.utilisation = (busy - self.busy0) / elapsed_cpu if elapsed_cpu > 0 else 0.0
        return {"cpu": self.full_w * busy_per_cpu}

    def details(self, component):
        return {"cpu_model": self.model, "logical_cpus": len(self.cpus),
                "full_load_w": self.full_w, "full_load_basis": self.basis,
                "mean_utilisation": self.utilisation}

    @property
    def w_per_cpu(self) -> float:
        return self.full_w / max(len(self.cpus), 1)

    def attribute(self, machine, now, usage):
        ours = usage.cpu_s()
        return {"cpu": (self.w_per_cpu * ours, {
            "attribution": "the process tree's CPU seconds x full-load power per logical CPU",
            "process_cpu_s": ours, "w_per_logical_cpu": self.w_per_cpu,
            "machine_wide_joules": machine["cpu"]})}


def _memory_gb() -> tuple[float, str]:
    import psutil

    total = psutil.virtual_memory().total
    basis = "installed memory"
    try:  # a cgroup limit below the machine's memory is this process's share
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit() and int(limit) < total:
            total, basis = int(limit), "cgroup memory limit"
    except OSError:
        pass
    return total / 1e9, basis


class DramEstimate(Source):
    """No DRAM counter: 0.375 W per GB of memory (3 W per 8 GB) x time: the installed (or
    cgroup-limited) memory machine-wide, the process tree's resident memory attributed."""

    method = "estimated:dram-0.375W-per-GB"
    period_s = 0.0

    def __init__(self, gb: float | None = None):
        self.gb, self.basis = (float(gb), "given") if gb is not None else _memory_gb()

    def components(self):
        return ("dram",)

    def start(self, now):
        self.t0 = now

    def energy_j(self, now):
        return {"dram": DRAM_W_PER_GB * self.gb * (now - self.t0)}

    def details(self, component):
        return {"memory_gb": self.gb, "memory_basis": self.basis, "w_per_gb": DRAM_W_PER_GB}

    def attribute(self, machine, now, usage):
        ours, _ = usage.memory_gb_s(now)
        return {"dram": (DRAM_W_PER_GB * ours, {
            "attribution": "the process tree's resident memory (GB x s) x 0.375 W per GB",
            "process_gb_s": ours, "peak_process_gb": usage.peak_rss_gb,
            "machine_wide_joules": machine["dram"]})}


def host_sources(rapl_root=RAPL_ROOT, cpu_power_w: float | None = None,
                 dram_gb: float | None = None) -> tuple[list[Source], list[str]]:
    """RAPL for the CPU (and DRAM where it has a domain), else estimates."""
    notes: list[str] = []
    try:
        rapl = Rapl(rapl_root)
    except SourceUnavailable as exc:
        notes.append(f"CPU and DRAM estimated: {exc}")
        return [CpuEstimate(cpu_power_w), DramEstimate(dram_gb)], notes
    sources: list[Source] = [rapl]
    if "dram" not in rapl.components():
        notes.append("DRAM estimated: RAPL has no DRAM domain here")
        sources.append(DramEstimate(dram_gb))
    return sources, notes
