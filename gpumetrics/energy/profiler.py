"""``EnergyProfiler``: the energy (kWh) and emissions (gCO2e) of a run, per component, with
where each number came from."""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import os
import platform
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from gpumetrics._units import co2e_unit
from gpumetrics.energy import carbon
from gpumetrics.energy import sources as S
from gpumetrics.energy.attribution import RSS_PERIOD_S, Usage

J_PER_KWH = 3.6e6
SHORT_WINDOW_NOTE = ("some components were measured over a window shorter than their "
                     "counter's update period: their figures are unreliable")
SCOPES = ("process", "machine")


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


class EnergyProfiler:
    """Measure the energy of a block, a function or a whole run, per component.

    Use it as a context manager (``with EnergyProfiler() as p: ...; p.report``), a
    decorator (``@EnergyProfiler(country="FRA")``) or with ``start()``/``stop()``.
    ``lap()`` returns the energy and gCO2e up to now without stopping, and
    ``mark_epoch()`` also keeps it, so a training loop can log "gCO2e up to this epoch";
    ``per_epoch()`` gives each epoch's own share.

    Sources, best first: NVML's energy counter per GPU, else NVML power sampling, else an
    estimate from board power x utilisation; RAPL for CPU packages and DRAM, else an
    estimate from TDP x utilisation (and 0.375 W per GB of DRAM). Every component says
    which it used.

    ``scope="process"`` (the default) charges the run, not the machine: the CPU figure is
    the CPU time of the profiled process and its descendants (threads included, from the
    kernel's accounting; ``pid`` names another process to follow) x the power per logical
    CPU, or, where RAPL is read, RAPL's machine-wide figure x the tree's share of busy CPU
    time; DRAM follows the tree's resident memory; each GPU's energy is multiplied by the
    tree's share of its work where NVML reports per-process utilisation, and is the
    device's own figure (said so in its details) where it does not. Machine-wide readings
    stay in each component's details. Seconds spent compiling kernels (Numba) and in the
    profiler's own sampling and readings are not charged and are reported in ``excluded``.
    ``scope="machine"`` reports every process's energy, as the counters see it.

    Carbon intensity: ``carbon_intensity=`` (gCO2e/kWh) over ``country=`` or a cloud
    ``region=`` from the shipped table, over the world average.

    Arguments: ``scope`` and ``pid`` as above; ``pue`` (>= 1) scales the IT energy to the
    facility's; ``interval_s`` is the sampling period of sources that need one (power
    integration, RAPL wraparound, GPU utilisation; resident memory is read at most once a
    second); ``gpus``/``host`` turn the GPU or CPU/DRAM sources off; ``cpu_power_w`` is the
    full-load power of the CPUs this process may use, ``gpu_power_w`` a GPU's board power
    and ``dram_gb`` the memory size, each overriding what the estimates would look up;
    ``output_csv`` appends the run's report to an
    emissions file at ``stop()``; ``sources`` replaces discovery with the given sources.
    """

    def __init__(self, *, carbon_intensity: float | None = None, country: str | None = None,
                 region: str | None = None, pue: float = 1.0, interval_s: float = 0.1,
                 gpus: bool = True, host: bool = True, cpu_power_w: float | None = None,
                 gpu_power_w: float | None = None, dram_gb: float | None = None,
                 run_id: str | None = None, project: str | None = None,
                 output_csv: str | os.PathLike | None = None, rapl_root=S.RAPL_ROOT,
                 nvml=None, sources: list[S.Source] | None = None,
                 clock=time.monotonic, scope: str = "process", pid: int | None = None):
        if scope not in SCOPES:
            raise ValueError(f"scope must be 'process' (the profiled process tree) or "
                             f"'machine' (every process); got {scope!r}.")
        if pid is not None and scope != "process":
            raise ValueError("pid= names the process tree to charge: it needs "
                             "scope='process'.")
        if pid is not None and not psutil.pid_exists(pid):
            raise ValueError(f"pid {pid!r} is not a running process.")
        if not pue >= 1.0:
            raise ValueError(f"pue must be a number >= 1 (facility energy / IT energy); "
                             f"got {pue!r}.")
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive; got {interval_s!r}.")
        self.intensity, self.intensity_source = carbon.resolve(carbon_intensity, country,
                                                               region)
        self.location = carbon.location(country, region)
        self.pue = float(pue)
        self.interval_s = float(interval_s)
        self.options = {"gpus": gpus, "host": host, "cpu_power_w": cpu_power_w,
                        "gpu_power_w": gpu_power_w, "dram_gb": dram_gb,
                        "rapl_root": rapl_root, "nvml": nvml}
        self.given_sources = sources
        self.run_id = run_id
        self.project = project
        self.output_csv = output_csv
        self.clock = clock
        self.scope = scope
        self.pid = pid
        self.usage: Usage | None = None
        self.report: EnergyReport | None = None
        self.epochs: list[EnergyReport] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running = False

    # --- life cycle -------------------------------------------------------------------------

    def _discover(self) -> tuple[list[S.Source], list[str]]:
        if self.given_sources is not None:
            return list(self.given_sources), []
        o = self.options
        found: list[S.Source] = []
        notes: list[str] = []
        if o["gpus"]:
            gpu, gpu_notes = S.gpu_sources(o["nvml"], o["gpu_power_w"])
            found += gpu
            notes += gpu_notes
        if o["host"]:
            host, host_notes = S.host_sources(o["rapl_root"], o["cpu_power_w"], o["dram_gb"])
            found += host
            notes += host_notes
        return found, notes

    def start(self) -> EnergyProfiler:
        if self._running:
            raise RuntimeError("this profiler is already running; stop() it first.")
        self.sources, self.notes = self._discover()
        if not self.sources:
            raise RuntimeError("no energy source could be read or estimated: "
                               + "; ".join(self.notes))
        self._run = self.run_id or uuid.uuid4().hex[:12]
        self._started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        self.epochs = []
        self.report = None
        self.sampler_cpu_s = 0.0  # the sampling thread's CPU time
        self.reading_cpu_s = 0.0  # the CPU time laps spent reading the sources
        self._reading_since: float | None = None
        self.usage = None
        if self.scope == "process":
            self.usage = Usage(self.pid, profiler_cpu_s=self._profiler_cpu_s)
            gpus = [d for s in self.sources if isinstance(s, S._Nvml) for d in s.devices]
            nvml = next((s.nvml for s in self.sources if isinstance(s, S._Nvml)), None)
            if gpus:
                self.usage.track_gpus(nvml, gpus)
            self.usage.prepare()
        self._t0 = self.clock()
        for source in self.sources:
            source.start(self._t0)
        if self.usage is not None:
            self.usage.start(self._t0)
        self._running = True
        self._stop = threading.Event()
        sampled = [s for s in self.sources if s.sampled]
        if sampled or self.usage is not None:
            self._thread = threading.Thread(target=self._sample_loop, args=(sampled,),
                                            name="gpumetrics-energy", daemon=True)
            self._thread.start()
        return self

    def _sample_loop(self, sampled: list[S.Source]) -> None:
        # with nothing to integrate but the tree's memory, once a second is enough
        quiet = not sampled and (self.usage is None or self.usage.gpus is None)
        period = max(self.interval_s, RSS_PERIOD_S) if quiet else self.interval_s
        while not self._stop.wait(period):
            with self._lock:  # the time is counted as the tree's and excluded at once
                t = time.thread_time()
                now = self.clock()
                for source in sampled:
                    source.sample(now)
                if self.usage is not None:
                    self.usage.sample(now)
                self.sampler_cpu_s += time.thread_time() - t

    def _profiler_cpu_s(self) -> float:
        """The profiler's own CPU time so far: sampling, and reading laps (the one in
        progress included, so that what the tree's clock already holds is excluded)."""
        reading = self.reading_cpu_s
        if self._reading_since is not None:
            reading += time.thread_time() - self._reading_since
        return self.sampler_cpu_s + reading

    def lap(self, label: str | None = None) -> EnergyReport:
        """The energy and gCO2e from ``start()`` up to now (the profiler keeps running)."""
        if not self._running:
            raise RuntimeError("lap() needs a running profiler: call start() first.")
        with self._lock:
            self._reading_since = time.thread_time()
            now = self.clock()
            window = now - self._t0
            components: dict[str, ComponentEnergy] = {}
            for source in self.sources:
                machine = source.energy_j(now)
                charged = ({n: (j, {}) for n, j in machine.items()} if self.usage is None
                           else source.attribute(machine, now, self.usage))
                for name, (joules, how) in charged.items():
                    components[name] = ComponentEnergy(
                        name, joules, source.method, {**source.details(name), **how},
                        short_window=window < source.period_s, period_s=source.period_s)
            excluded = {} if self.usage is None else self.usage.excluded_cpu_s()
            self.reading_cpu_s += time.thread_time() - self._reading_since
            self._reading_since = None
        notes = list(self.notes) + self._scope_notes(components)
        if any(c.short_window for c in components.values()):
            notes.append(SHORT_WINDOW_NOTE)
        return EnergyReport(self._run, self._started_at, window, components, self.pue,
                            self.intensity, self.intensity_source, tuple(notes), label,
                            self.project, self.scope, excluded, self.location)

    def _scope_notes(self, components: dict[str, ComponentEnergy]) -> list[str]:
        if self.usage is None:
            return ["scope: the whole machine (every process on the CPUs, DRAM and GPUs "
                    "measured)"]
        notes = [f"scope: the process tree of pid {self.usage.tree.pid} (CPU time, "
                 "resident memory and GPU share of that process and its descendants)"]
        notes += [f"{c.name}: {c.details['attribution']}" for c in components.values()
                  if c.details.get("scope") == "device"]
        return notes

    def mark_epoch(self, epoch: int | str | None = None) -> EnergyReport:
        """``lap()``, kept in ``epochs``: the cumulative figures at the end of an epoch."""
        label = f"epoch {epoch if epoch is not None else len(self.epochs) + 1}"
        report = self.lap(label)
        self.epochs.append(report)
        return report

    def per_epoch(self) -> list[EnergyReport]:
        """Each marked epoch's own energy and gCO2e (differences of the cumulative laps)."""
        out, previous = [], None
        for report in self.epochs:
            out.append(report if previous is None else report.minus(previous))
            previous = report
        return out

    def stop(self) -> EnergyReport:
        """Stop sampling; the report of the whole run (also kept as ``report`` and, with
        ``output_csv``, appended to that file)."""
        report = self.lap("run")
        self._running = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for source in self.sources:
            source.stop()
        if self.usage is not None:
            self.usage.stop()
        for nvml in {id(s.nvml): s.nvml for s in self.sources if hasattr(s, "nvml")}.values():
            try:  # NVML counts its initialisations: one shutdown for each
                nvml.nvmlShutdown()
            except Exception:
                pass
        self.report = report
        if self.output_csv is not None:
            report.append_csv(self.output_csv)
        return report

    def __enter__(self) -> EnergyProfiler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __call__(self, fn):
        @functools.wraps(fn)
        def profiled(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        profiled.profiler = self
        return profiled
