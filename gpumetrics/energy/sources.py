"""Where energy figures come from, best first: hardware energy counters (NVML's total-energy
counter, RAPL), sampled power (NVML), and, where no counter can be read, an estimate from a
power rating times the measured utilisation.

Each source covers some components (``gpu:0``, ``gpu:1``, ``cpu``, ``dram``), names its
method (``measured:rapl``, ``estimated:...``), and reports the joules each component used
since ``start()``. A source that cannot read its counter raises ``SourceUnavailable`` when
it is built, so that a missing counter is never reported as 0 J.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gpumetrics.energy import hardware
from gpumetrics.energy.attribution import cpu_seconds

RAPL_ROOT = "/sys/class/powercap"
DRAM_W_PER_GB = 0.375  # 3 W per 8 GB of installed DRAM


class SourceUnavailable(RuntimeError):
    """A source's counter cannot be read here (the reason says why)."""


class Source:
    """One way of knowing the energy of some components."""

    method = ""
    period_s = 0.0  # how often the figure updates: a shorter window is flagged
    sampled = False  # sample() must run in the background (integration, wraparound)

    def components(self) -> tuple[str, ...]:
        raise NotImplementedError

    def start(self, now: float) -> None:
        raise NotImplementedError

    def sample(self, now: float) -> None:
        """Read the counters (called every sampling interval when ``sampled``)."""

    def energy_j(self, now: float) -> dict[str, float]:
        """Joules per component since ``start()``."""
        raise NotImplementedError

    def details(self, component: str) -> dict:
        """The inputs behind a component's figure (device names, ratings, utilisation)."""
        return {}

    def attribute(self, machine: dict[str, float], now: float,
                  usage) -> dict[str, tuple[float, dict]]:
        """The profiled process tree's part of ``machine`` (this source's joules per
        component, from ``energy_j``), with how it was attributed, given the tree's
        ``usage`` (``attribution.Usage``)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Release what ``start()`` opened."""


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


# --- NVML (GPUs) ---------------------------------------------------------------------------------


def load_nvml(nvml=None):
    """The initialised NVML module (``pynvml`` from nvidia-ml-py unless given)."""
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            raise SourceUnavailable(
                "NVML is not installed (pip install 'gpumetrics[energy]')") from None
    try:
        nvml.nvmlInit()
    except Exception as exc:
        raise SourceUnavailable(f"NVML could not start ({exc})") from None
    return nvml


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_gpus(nvml) -> list[tuple[str, object]]:
    """``(component, handle)`` of each GPU this process sees: ``CUDA_VISIBLE_DEVICES``
    (indices or UUID prefixes) is respected. Indices are NVML's (PCI bus order), which
    is CUDA's order with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or when every GPU is alike."""
    count = nvml.nvmlDeviceGetCount()
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        chosen = handles
    else:
        chosen = []
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                break
            if item.lstrip("-").isdigit():
                index = int(item)
                if index < 0 or index >= count:
                    break  # CUDA stops at the first invalid entry
                handle = handles[index]
            else:
                matches = [h for h in handles
                           if _text(nvml.nvmlDeviceGetUUID(h)).startswith(item)]
                if len(matches) != 1:
                    break  # MIG instances and unknown UUIDs: no whole-GPU counter here
                handle = matches[0]
            if handle in chosen:
                return []  # CUDA sees no device when one is named twice
            chosen.append(handle)
    return [(f"gpu:{i}", h) for i, h in enumerate(chosen)]


def _answers(query, handle) -> bool:
    """Whether an NVML query works for a device (unsupported ones raise)."""
    try:
        query(handle)
        return True
    except Exception:
        return False


class _Nvml(Source):
    def __init__(self, nvml, devices: list[tuple[str, object]]):
        self.nvml = nvml
        self.devices = devices
        self.names = {c: _text(nvml.nvmlDeviceGetName(h)) for c, h in devices}

    def components(self):
        return tuple(c for c, _ in self.devices)

    def details(self, component):
        return {"device": self.names[component]}

    def attribute(self, machine, now, usage):
        if usage.gpus is not None:  # the samples up to now, however short the window
            usage.gpus.sample(usage.tree.pids())
        out = {}
        for component, joules in machine.items():
            share, basis = (None, "no per-process tracking") if usage.gpus is None else \
                usage.gpus.share(component)
            if share is None:  # the device's figure, said to be so
                out[component] = (joules, {"attribution": f"the whole device: {basis}",
                                           "scope": "device", "device_joules": joules})
            else:
                out[component] = (joules * share, {
                    "attribution": f"the device's energy x the process tree's share ({basis})",
                    "device_joules": joules, "share": share})
        return out


class NvmlEnergyCounter(_Nvml):
    """Differences of NVML's total-energy counter (millijoules since the driver loaded;
    Volta and newer)."""

    method = "measured:nvml-energy-counter"
    period_s = 0.1

    @staticmethod
    def supported(nvml, handle) -> bool:
        return _answers(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)

    def start(self, now):
        self.base = {c: self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                     for c, h in self.devices}

    def energy_j(self, now):
        return {c: (self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) - self.base[c]) / 1e3
                for c, h in self.devices}


class NvmlPowerSampler(_Nvml):
    """NVML power readings integrated over time (trapezoids) by the sampling thread. The
    reading is the board's average power over about a second on many GPUs, so windows
    shorter than that are flagged."""

    method = "measured:nvml-power-sampling"
    period_s = 1.0
    sampled = True

    @staticmethod
    def supported(nvml, handle) -> bool:
        return _answers(nvml.nvmlDeviceGetPowerUsage, handle)

    def _watts(self, handle) -> float:
        return self.nvml.nvmlDeviceGetPowerUsage(handle) / 1e3

    def start(self, now):
        self.last = {c: (now, self._watts(h)) for c, h in self.devices}
        self.joules = {c: 0.0 for c, _ in self.devices}
        self.samples = 1

    def sample(self, now):
        for c, h in self.devices:
            t0, w0 = self.last[c]
            w = self._watts(h)
            self.joules[c] += (w0 + w) / 2 * (now - t0)
            self.last[c] = (now, w)
        self.samples += 1

    def energy_j(self, now):
        self.sample(now)
        return dict(self.joules)

    def details(self, component):
        return {**super().details(component), "samples": self.samples}


class GpuUtilisationEstimate(_Nvml):
    """A GPU without power readings: board power x utilisation x time, utilisation sampled
    from NVML. Board power is the one given, else NVML's enforced power limit, else the
    table's rating for the device."""

    method = "estimated:board-power-x-utilisation"
    sampled = True

    def __init__(self, nvml, devices, power_w: float | None = None):
        super().__init__(nvml, devices)
        self.power: dict[str, tuple[float, str]] = {}
        self.unrated: list[str] = []  # no figure at all: left out, never counted as 0 J
        for c, h in devices:
            if power_w is not None:
                self.power[c] = (float(power_w), "given")
                continue
            try:
                self.power[c] = (nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3,
                                 "nvml-enforced-power-limit")
                continue
            except Exception:
                pass
            rated = hardware.gpu_board_power(self.names[c])
            if rated is None:
                self.unrated.append(f"{c} ({self.names[c]}) reports no power and no power "
                                    "limit and is not in the board-power table; give "
                                    "gpu_power_w=")
            else:
                self.power[c] = (rated[1], f"table:{rated[0]}")
        self.devices = [(c, h) for c, h in devices if c in self.power]
        if not self.devices:
            raise SourceUnavailable("; ".join(self.unrated))

    def start(self, now):
        self.last_t = now
        self.joules = {c: 0.0 for c, _ in self.devices}
        self.busy_s = {c: 0.0 for c, _ in self.devices}
        self.elapsed = 0.0

    def sample(self, now):
        dt = now - self.last_t
        for c, h in self.devices:
            utilisation = self.nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0
            self.joules[c] += self.power[c][0] * utilisation * dt
            self.busy_s[c] += utilisation * dt
        self.elapsed += dt
        self.last_t = now

    def energy_j(self, now):
        self.sample(now)
        return dict(self.joules)

    def details(self, component):
        watts, source = self.power[component]
        mean = self.busy_s[component] / self.elapsed if self.elapsed else None
        return {**super().details(component), "board_power_w": watts,
                "board_power_source": source, "mean_utilisation": mean}


def gpu_sources(nvml=None, power_w: float | None = None) -> tuple[list[Source], list[str]]:
    """The best source for every visible GPU, and notes on what was not found."""
    try:
        nvml = load_nvml(nvml)
    except SourceUnavailable as exc:
        return [], [f"no GPU energy: {exc}"]
    devices = visible_gpus(nvml)
    if not devices:
        nvml.nvmlShutdown()
        return [], ["no GPU is visible to this process"]
    groups: dict[type, list] = {NvmlEnergyCounter: [], NvmlPowerSampler: [],
                                GpuUtilisationEstimate: []}
    for device in devices:
        if NvmlEnergyCounter.supported(nvml, device[1]):
            groups[NvmlEnergyCounter].append(device)
        elif NvmlPowerSampler.supported(nvml, device[1]):
            groups[NvmlPowerSampler].append(device)
        else:
            groups[GpuUtilisationEstimate].append(device)
    sources: list[Source] = []
    notes: list[str] = []
    for cls, group in groups.items():
        if not group:
            continue
        try:
            source = (cls(nvml, group, power_w) if cls is GpuUtilisationEstimate
                      else cls(nvml, group))
        except SourceUnavailable as exc:
            notes.append(f"no energy for {', '.join(c for c, _ in group)}: {exc}")
            continue
        sources.append(source)
        notes += [f"no energy for {reason}" for reason in getattr(source, "unrated", [])]
    return sources, notes


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
