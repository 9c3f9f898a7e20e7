"""What a profile reports: ``ComponentEnergy``, the energy of one component with the method
and inputs behind it, and ``EnergyReport``, the run's components with its PUE, carbon
intensity and scope. A report of a window is the difference of two laps (``minus``) or the
sum of several windows (``total``); a report is written as text, JSON, or a row of an
emissions CSV in CodeCarbon's layout (``append_csv``)."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import platform
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from gpumetrics._units import co2e_unit

J_PER_KWH = 3.6e6
SHORT_WINDOW_NOTE = ("some components were measured over a window shorter than their "
                     "counter's update period: their figures are unreliable")


@dataclass(frozen=True)
class ComponentEnergy:
    """The energy of one component (``gpu:0``, ``cpu``, ``dram``) over a window."""

    name: str
    joules: float
    method: str  # measured:nvml-energy-counter | measured:nvml-power-sampling |
    # measured:rapl | estimated:<model>
    details: dict = field(default_factory=dict)
    short_window: bool = False  # the window is shorter than the source's update period
    period_s: float = 0.0  # the source's update period

    @property
    def kwh(self) -> float:
        return self.joules / J_PER_KWH

    def to_dict(self) -> dict:
        return {"name": self.name, "energy_kwh": self.kwh, "energy_j": self.joules,
                "method": self.method, "short_window": self.short_window,
                "details": self.details}


@dataclass(frozen=True)
class EnergyReport:
    """Energy and emissions of a run (or of a part of it, up to a lap).

    ``energy_kwh`` sums the components; ``facility_energy_kwh`` is that times the PUE;
    ``gco2e`` is the facility energy times the carbon intensity. Components without a
    readable counter or estimate are absent (and said so in ``notes``), never zero.
    ``scope`` says whose energy it is: ``process`` (the profiled process tree's share of
    each component; machine-wide counter readings are kept in the components' details) or
    ``machine`` (every process's). ``excluded`` holds CPU seconds spent in the tree that
    were not charged (kernel compilation, the profiler's own sampling and readings).
    """

    run_id: str
    started_at: str
    duration_s: float
    components: dict[str, ComponentEnergy]
    pue: float
    carbon_intensity: float  # gCO2e per kWh
    carbon_intensity_source: str
    notes: tuple[str, ...] = ()
    label: str | None = None
    project: str | None = None
    scope: str = "machine"  # process: the profiled process tree's share; machine: everything
    excluded: dict = field(default_factory=dict)  # CPU seconds not charged, by cause
    location: dict = field(default_factory=dict)  # country and cloud region (CodeCarbon's)

    @property
    def energy_kwh(self) -> float:
        return sum(c.kwh for c in self.components.values())

    @property
    def facility_energy_kwh(self) -> float:
        return self.energy_kwh * self.pue

    @property
    def gco2e(self) -> float:
        return self.facility_energy_kwh * self.carbon_intensity

    @property
    def method(self) -> str:
        """``measured``, ``estimated`` or ``mixed`` over the components."""
        kinds = {c.method.partition(":")[0] for c in self.components.values()}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "none")

    def component_kwh(self, prefix: str) -> float | None:
        """The energy of every component named ``prefix`` or ``prefix:*`` (None if none)."""
        hits = [c.kwh for n, c in self.components.items() if n.split(":")[0] == prefix]
        return sum(hits) if hits else None

    def minus(self, earlier: EnergyReport) -> EnergyReport:
        """The report of the window between ``earlier`` (a lap of the same run) and this."""
        if earlier.run_id != self.run_id:
            raise ValueError("minus needs a lap of the same run.")
        missing = set(self.components) - set(earlier.components)
        if missing:
            raise ValueError(f"the earlier report lacks {sorted(missing)}: no difference.")
        window = self.duration_s - earlier.duration_s
        components = {
            name: _window(c, [(c, 1.0), (earlier.components[name], -1.0)],
                          window < c.period_s)
            for name, c in self.components.items()
        }
        excluded = {k: v - earlier.excluded.get(k, 0.0) for k, v in self.excluded.items()}
        return replace(self, duration_s=window, components=components,
                       notes=_window_notes(self.notes, components), excluded=excluded)

    @classmethod
    def total(cls, parts: list[EnergyReport]) -> EnergyReport:
        """One report for several windows of one profile, e.g. a run's own turns when
        runs take turns under one profiler (``lap().minus(lap)`` around each turn):
        durations, energies and excluded seconds summed."""
        if not parts:
            raise ValueError("total needs at least one report.")
        first = parts[0]
        if any(p.run_id != first.run_id or set(p.components) != set(first.components)
               for p in parts):
            raise ValueError("total adds windows of one profile: the reports must share "
                             "their run and components.")
        components = {
            name: _window(c, [(p.components[name], 1.0) for p in parts],
                          any(p.components[name].short_window for p in parts))
            for name, c in parts[-1].components.items()
        }
        excluded: dict[str, float] = {}
        for p in parts:
            for k, v in p.excluded.items():
                excluded[k] = excluded.get(k, 0.0) + v
        return replace(parts[-1], duration_s=sum(p.duration_s for p in parts),
                       components=components, excluded=excluded, label=None,
                       notes=_window_notes(parts[-1].notes, components))

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id, "project": self.project, "label": self.label,
            "started_at": self.started_at, "duration_s": self.duration_s,
            "components": {n: c.to_dict() for n, c in self.components.items()},
            "energy_kwh": self.energy_kwh, "pue": self.pue,
            "facility_energy_kwh": self.facility_energy_kwh,
            "carbon_intensity_g_per_kwh": self.carbon_intensity,
            "carbon_intensity_source": self.carbon_intensity_source,
            "gco2e": self.gco2e, "method": self.method, "scope": self.scope,
            "excluded_cpu_s": dict(self.excluded), "notes": list(self.notes),
            "location": dict(self.location),
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        whose = ("this process tree's share" if self.scope == "process" else
                 "the whole machine (every process)")
        lines = [f"energy of run {self.run_id} over {self.duration_s:.2f} s, scope: {whose}"]
        for c in self.components.values():
            flag = "  (window shorter than the counter's update period)" if c.short_window else ""
            lines.append(f"  {c.name:<8} {c.kwh * 1e3:12.6f} Wh  {c.method}{flag}")
        lines.append(f"  {'total':<8} {self.energy_kwh * 1e3:12.6f} Wh  x PUE {self.pue:g} = "
                     f"{self.facility_energy_kwh * 1e3:.6f} Wh")
        lines.append(f"  {co2e_unit([self.gco2e]).format(self.gco2e)} at "
                     f"{self.carbon_intensity:g} gCO2e/kWh ({self.carbon_intensity_source})")
        spent = {k: v for k, v in self.excluded.items() if v > 0}
        if spent:
            lines.append("  not charged: " + ", ".join(
                f"{v:.3f} CPU-s of {k.replace('_', ' ')}" for k, v in spent.items()))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    # --- the emissions CSV ----------------------------------------------------------------

    # CodeCarbon's emissions.csv columns and units (kg CO2e, kWh, W, s), so that its tools
    # read this file, then what gpumetrics adds: scope, methods, the IT energy before the
    # PUE and where the intensity came from. As in CodeCarbon, every energy and power
    # column includes the PUE, so the components add up to energy_consumed. Columns
    # nothing here measures (water, coordinates) are left empty.
    CODECARBON_FIELDS = (
        "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
        "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
        "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code",
        "region", "cloud_provider", "cloud_region", "os", "python_version",
        "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude",
        "latitude", "ram_total_size", "tracking_mode", "cpu_utilization_percent",
        "gpu_utilization_percent", "ram_utilization_percent", "ram_used_gb", "on_cloud",
        "pue", "wue")
    CSV_FIELDS = (*CODECARBON_FIELDS, "label", "scope", "energy_method", "component_methods",
                  "it_energy_kwh", "carbon_intensity_g_per_kwh", "carbon_intensity_source")

    def csv_row(self) -> dict:
        """This report as a row of ``CSV_FIELDS`` (numbers as text, unknowns empty)."""
        def num(value):
            return "" if value is None else repr(float(value))

        def kwh(prefix):  # facility energy: the component's share of energy_consumed
            value = self.component_kwh(prefix)
            return num(None if value is None else value * self.pue)

        def watts(prefix):
            value = self.component_kwh(prefix)
            return num(None if value is None or not self.duration_s > 0
                       else value * self.pue * J_PER_KWH / self.duration_s)

        cpu = self.components.get("cpu")
        cpu_details = cpu.details if cpu is not None else {}
        gpus = [c for n, c in self.components.items() if n.startswith("gpu")]
        kg = self.gco2e / 1000
        place = {key: self.location.get(key, "") for key in (
            "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region")}
        return {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "project_name": self.project or "", "run_id": self.run_id, "experiment_id": "",
            "duration": num(self.duration_s), "emissions": num(kg),
            "emissions_rate": num(kg / self.duration_s if self.duration_s > 0 else None),
            "cpu_power": watts("cpu"), "gpu_power": watts("gpu"), "ram_power": watts("dram"),
            "cpu_energy": kwh("cpu"), "gpu_energy": kwh("gpu"), "ram_energy": kwh("dram"),
            "energy_consumed": num(self.facility_energy_kwh), "water_consumed": "",
            **place,
            "os": platform.platform(), "python_version": platform.python_version(),
            "codecarbon_version": "", "cpu_count": cpu_details.get("logical_cpus", ""),
            "cpu_model": cpu_details.get("cpu_model", ""), "gpu_count": len(gpus),
            "gpu_model": ", ".join(sorted({str(c.details.get("device", c.name))
                                           for c in gpus})),
            "longitude": "", "latitude": "",
            "ram_total_size": num(psutil.virtual_memory().total / 2**30),
            "tracking_mode": self.scope,
            "cpu_utilization_percent": num(100 * cpu_details["mean_utilisation"])
            if "mean_utilisation" in cpu_details else "",
            "gpu_utilization_percent": "", "ram_utilization_percent": "", "ram_used_gb": "",
            "on_cloud": "Y" if place["cloud_provider"] else "N", "pue": num(self.pue),
            "wue": "",
            "label": self.label or "", "scope": self.scope, "energy_method": self.method,
            "component_methods": "; ".join(f"{n}={c.method}"
                                           for n, c in self.components.items()),
            "it_energy_kwh": num(self.energy_kwh),
            "carbon_intensity_g_per_kwh": num(self.carbon_intensity),
            "carbon_intensity_source": self.carbon_intensity_source,
        }

    def append_csv(self, path: str | os.PathLike) -> Path:
        """Add this report as a row of ``path`` (created with a header if absent). The file
        is rewritten through a temporary file and a rename, never half written, under an
        exclusive lock on the file's folder, so that concurrent writers lose no row and no
        lock file is left behind."""
        path = Path(path)
        header = ",".join(self.CSV_FIELDS)
        with _locked(path.parent):
            existing = path.read_text() if path.exists() else ""
            if existing and existing.splitlines()[0] != header:
                raise ValueError(f"{path} has other columns than an emissions file: expected "
                                 f"the header {header!r}.")
            if existing and not existing.endswith("\n"):
                existing += "\n"
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=self.CSV_FIELDS, lineterminator="\n")
            if not existing:
                writer.writeheader()
            writer.writerow(self.csv_row())
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(existing + buffer.getvalue())
            tmp.replace(path)
        return path


# details that count from the start of a profile, as the energy does: a window's figure
# is the difference of two laps' (or the sum of several windows')
_CUMULATIVE_DETAILS = ("process_cpu_s", "machine_busy_cpu_s", "process_gb_s",
                       "machine_used_gb_s", "machine_wide_joules", "device_joules")


def _window(latest: ComponentEnergy, terms: list[tuple[ComponentEnergy, float]],
            short: bool) -> ComponentEnergy:
    """``latest`` with its energy and cumulative details replaced by the signed sum of
    ``terms``; a share is recomputed from the summed figures."""
    joules = sum(sign * c.joules for c, sign in terms)
    details = dict(latest.details)
    for key in _CUMULATIVE_DETAILS:
        if all(key in c.details for c, _ in terms):
            details[key] = sum(sign * c.details[key] for c, sign in terms)
    whole = details.get("machine_wide_joules", details.get("device_joules"))
    if "share" in details and whole is not None:
        details["share"] = joules / whole if whole > 0 else 0.0
    return replace(latest, joules=joules, details=details, short_window=short)


def _window_notes(notes: tuple[str, ...], components: dict) -> tuple[str, ...]:
    notes = tuple(n for n in notes if "shorter than" not in n)
    if any(c.short_window for c in components.values()):
        notes += (SHORT_WINDOW_NOTE,)
    return notes


class _locked:
    """An exclusive advisory lock on a folder (``fcntl.flock`` on its descriptor; none where
    unavailable): the file it guards is replaced by renames, so it cannot hold the lock."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        self.fd = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX (Windows): writers unlocked
            return self
        try:
            self.fd = os.open(self.folder, os.O_RDONLY)
        except OSError:  # a folder that cannot be opened for reading: writers unlocked
            return self
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
