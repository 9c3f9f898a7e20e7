"""The GPUs' energy sources, all read through NVML, best first: the total-energy counter
(Volta and newer), power readings integrated over time, and, for a GPU with neither, an
estimate from its board power times the utilisation NVML reports.

``gpu_sources()`` picks the best source for every GPU this process sees (``visible_gpus``:
``CUDA_VISIBLE_DEVICES`` is respected) and says which GPUs have none.
"""

from __future__ import annotations

import os

from gpumetrics.energy import hardware
from gpumetrics.energy.sources import Source, SourceUnavailable


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


class NvmlSource(Source):
    """GPUs read through one NVML module; each GPU's joules are charged to the profiled
    process tree by its share of the device's work (``attribution.GpuShare``)."""

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


class NvmlEnergyCounter(NvmlSource):
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


class NvmlPowerSampler(NvmlSource):
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


class GpuUtilisationEstimate(NvmlSource):
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

