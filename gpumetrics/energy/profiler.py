"""``EnergyProfiler``: the energy (kWh) and emissions (gCO2e) of a run, per component, with
where each number came from."""

from __future__ import annotations

import datetime
import functools
import os
import threading
import time
import uuid

import psutil

from gpumetrics.energy import carbon
from gpumetrics.energy.attribution import RSS_PERIOD_S, Usage
from gpumetrics.energy.gpu_sources import NvmlSource, gpu_sources
from gpumetrics.energy.host_sources import RAPL_ROOT, host_sources
from gpumetrics.energy.report import SHORT_WINDOW_NOTE, ComponentEnergy, EnergyReport
from gpumetrics.energy.sources import Source

SCOPES = ("process", "machine")


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
                 output_csv: str | os.PathLike | None = None, rapl_root=RAPL_ROOT,
                 nvml=None, sources: list[Source] | None = None,
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

    def _discover(self) -> tuple[list[Source], list[str]]:
        if self.given_sources is not None:
            return list(self.given_sources), []
        o = self.options
        found: list[Source] = []
        notes: list[str] = []
        if o["gpus"]:
            gpu, gpu_notes = gpu_sources(o["nvml"], o["gpu_power_w"])
            found += gpu
            notes += gpu_notes
        if o["host"]:
            host, host_notes = host_sources(o["rapl_root"], o["cpu_power_w"], o["dram_gb"])
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
            gpus = [d for s in self.sources if isinstance(s, NvmlSource) for d in s.devices]
            nvml = next((s.nvml for s in self.sources if isinstance(s, NvmlSource)), None)
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

    def _sample_loop(self, sampled: list[Source]) -> None:
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
