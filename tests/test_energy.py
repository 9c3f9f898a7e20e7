"""The energy profiler's real logic against fakes of its sources (a temporary RAPL sysfs
tree, a fake NVML module with moving counters), and the estimate path on this machine for
real."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._load import BusyCore  # noqa: E402
from gpumetrics.energy import (  # noqa: E402
    EnergyProfiler,
    EnergyReport,
    SourceUnavailable,
    carbon,
    hardware,  # noqa: E402
)
from gpumetrics.energy import gpu_sources as G  # noqa: E402
from gpumetrics.energy import host_sources as H  # noqa: E402

# --- a RAPL tree --------------------------------------------------------------------------


def make_rapl(root: Path, domains: dict[str, tuple[str, int, int]]) -> Path:
    """domains: directory -> (name, energy_uj, max_energy_range_uj)."""
    for entry, (name, energy, max_range) in domains.items():
        d = root / entry
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{energy:<23}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return root


def set_energy(root: Path, entry: str, value: int) -> None:
    """Overwrite the counter in place, as sysfs does: a reader never sees an empty file."""
    fd = os.open(root / entry / "energy_uj", os.O_WRONLY)
    try:
        os.pwrite(fd, f"{value:<23}\n".encode(), 0)
    finally:
        os.close(fd)


@pytest.fixture
def rapl_tree(tmp_path):
    return make_rapl(tmp_path / "powercap", {
        "intel-rapl:0": ("package-0", 1_000_000, 10_000_000),
        "intel-rapl:0:0": ("core", 500_000, 10_000_000),
        "intel-rapl:0:1": ("dram", 200_000, 5_000_000),
        "intel-rapl:1": ("package-1", 9_000_000, 10_000_000),
        "intel-rapl:2": ("psys", 0, 10_000_000),
    })


def test_rapl_counts_packages_and_dram_once_and_survives_a_wrap(rapl_tree):
    rapl = H.Rapl(rapl_tree)
    assert rapl.components() == ("cpu", "dram")
    assert set(rapl.details("cpu")["left_out"]) == {"intel-rapl:0:0 (core)",
                                                     "intel-rapl:2 (psys)"}
    rapl.start(0.0)
    set_energy(rapl_tree, "intel-rapl:0", 3_000_000)      # +2 J
    set_energy(rapl_tree, "intel-rapl:1", 9_500_000)      # +0.5 J
    set_energy(rapl_tree, "intel-rapl:0:0", 9_000_000)    # core: inside the package
    set_energy(rapl_tree, "intel-rapl:0:1", 4_900_000)    # +4.7 J
    rapl.sample(1.0)
    set_energy(rapl_tree, "intel-rapl:1", 1_500_000)      # wrapped: +0.5 + 1.5 J
    set_energy(rapl_tree, "intel-rapl:0:1", 100_000)      # wrapped: +0.1 + 0.1 J
    energy = rapl.energy_j(2.0)
    assert energy["cpu"] == pytest.approx(2.0 + 0.5 + 2.0)
    assert energy["dram"] == pytest.approx(4.7 + 0.2)


def test_rapl_absent_or_unreadable_is_not_zero(tmp_path, monkeypatch, rapl_tree):
    with pytest.raises(SourceUnavailable, match="does not exist"):
        H.Rapl(tmp_path / "nothing")

    def denied(domain):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(H._Domain, "read", denied)
    sources, notes = H.host_sources(rapl_tree)
    assert [type(s).__name__ for s in sources] == ["CpuEstimate", "DramEstimate"]
    assert "not readable (permission denied)" in notes[0]


def test_profiler_over_rapl_reports_measured_energy(rapl_tree):
    profiler = EnergyProfiler(gpus=False, rapl_root=rapl_tree, carbon_intensity=100.0,
                              pue=1.5, interval_s=0.01, scope="machine")
    profiler.start()
    set_energy(rapl_tree, "intel-rapl:0", 4_600_000)  # +3.6 J = 1e-6 kWh
    report = profiler.stop()
    assert report.components["cpu"].method == "measured:rapl"
    assert report.components["cpu"].kwh == pytest.approx(1e-6)
    assert report.energy_kwh == pytest.approx(1e-6)
    assert report.facility_energy_kwh == pytest.approx(1.5e-6)
    assert report.gco2e == pytest.approx(1.5e-4)
    assert report.method == "measured"


def test_rapl_is_apportioned_by_the_process_trees_share_of_cpu_time(rapl_tree):
    profiler = EnergyProfiler(gpus=False, rapl_root=rapl_tree, carbon_intensity=100.0,
                              interval_s=0.01)
    profiler.start()
    _burn(0.3)
    set_energy(rapl_tree, "intel-rapl:0", 4_600_000)  # +3.6 J machine-wide
    report = profiler.stop()
    cpu = report.components["cpu"]
    assert report.scope == "process" and cpu.method == "measured:rapl"
    assert cpu.details["machine_wide_joules"] == pytest.approx(3.6)
    share = cpu.details["share"]
    assert 0 < share <= 1 and cpu.joules == pytest.approx(3.6 * share)
    assert share == pytest.approx(min(1.0, cpu.details["process_cpu_s"]
                                      / cpu.details["machine_busy_cpu_s"]))
    assert cpu.details["process_cpu_s"] > 0.2
    assert "dram" in report.components and report.components["dram"].details["share"] <= 1


# --- a fake NVML ----------------------------------------------------------------------------


class FakeNvml:
    """NVML's calls over devices whose counters move with the clock."""

    class NVMLError(Exception):
        pass

    def __init__(self, devices):
        self.devices = devices
        self.t0 = time.monotonic()

    def nvmlInit(self):
        self.inits = getattr(self, "inits", 0) + 1

    def nvmlShutdown(self):
        self.inits -= 1

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return self.devices[h]["name"].encode()

    def nvmlDeviceGetUUID(self, h):
        return self.devices[h]["uuid"]

    def _need(self, h, feature):
        if not self.devices[h].get(feature, True):
            raise self.NVMLError("Not Supported")

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._need(h, "energy")
        elapsed = time.monotonic() - self.t0
        return 5_000_000 + int(self.devices[h]["watts"] * elapsed * 1e3)  # mJ

    def nvmlDeviceGetPowerUsage(self, h):
        self._need(h, "power")
        return int(self.devices[h]["watts"] * 1e3)  # mW

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        self._need(h, "limit")
        return 300_000

    def nvmlDeviceGetUtilizationRates(self, h):
        return type("Utilization", (), {"gpu": self.devices[h]["util"]})()

    def nvmlDeviceGetProcessUtilization(self, h, last_seen):
        """One sample per process per call, as if the driver sampled in between: the
        device's ``processes`` maps pid -> SM utilisation."""
        self._need(h, "per_process")
        self.stamp = getattr(self, "stamp", 0) + 1
        samples = [type("Sample", (), {"pid": pid, "timeStamp": self.stamp, "smUtil": sm,
                                       "memUtil": 0})()
                   for pid, sm in self.devices[h].get("processes", {}).items()]
        if not samples:
            raise self.NVMLError("Not Found")
        return samples

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [type("Process", (), {"pid": pid})()
                for pid in self.devices[h].get("processes", {})]


def gpu(name, uuid, watts, **features):
    return {"name": name, "uuid": uuid, "watts": watts, "util": 50, **features}


def test_nvml_energy_counter_and_power_sampling(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml([gpu("NVIDIA H100 80GB HBM3", "GPU-aaa", 300.0),
                     gpu("Tesla T4", "GPU-bbb", 40.0, energy=False)])
    profiler = EnergyProfiler(host=False, nvml=nvml, interval_s=0.02, carbon_intensity=0,
                              scope="machine")
    with profiler:
        time.sleep(1.2)
    r = profiler.report
    assert r.components["gpu:0"].method == "measured:nvml-energy-counter"
    assert r.components["gpu:1"].method == "measured:nvml-power-sampling"
    assert r.components["gpu:0"].joules == pytest.approx(300.0 * r.duration_s, rel=0.05)
    assert r.components["gpu:1"].joules == pytest.approx(40.0 * r.duration_s, rel=0.05)
    assert r.components["gpu:1"].details["samples"] > 20  # >= 10 Hz
    assert r.components["gpu:0"].details["device"] == "NVIDIA H100 80GB HBM3"
    assert not any(c.short_window for c in r.components.values())
    assert nvml.inits == 0  # one shutdown for the initialisation


def test_gpu_estimate_when_nvml_reports_no_power(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml([gpu("NVIDIA L4", "GPU-a", 0, energy=False, power=False, limit=False),
                     gpu("Mystery GPU", "GPU-b", 0, energy=False, power=False, limit=False)])
    (estimate,), notes = G.gpu_sources(nvml)
    assert estimate.power["gpu:0"] == (72, "table:NVIDIA L4")
    assert estimate.components() == ("gpu:0",)  # the unknown GPU is left out, not 0 J
    assert "gpu:1 (Mystery GPU)" in notes[0] and "gpu_power_w" in notes[0]
    nvml.devices[1]["limit"] = True  # a power limit is enough
    (estimate,) = G.gpu_sources(nvml)[0]
    estimate.start(0.0)
    assert estimate.energy_j(10.0)["gpu:1"] == pytest.approx(300.0 * 0.5 * 10.0)
    assert estimate.details("gpu:1")["board_power_source"] == "nvml-enforced-power-limit"


def test_gpu_energy_is_shared_by_per_process_utilisation(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with BusyCore(lifetime_s=60) as other:
        nvml = FakeNvml([
            gpu("NVIDIA H100 80GB HBM3", "GPU-a", 300.0,
                processes={os.getpid(): 30, other.pid: 90}),       # a quarter is ours
            gpu("NVIDIA H100 80GB HBM3", "GPU-b", 300.0, per_process=False),
            gpu("NVIDIA H100 80GB HBM3", "GPU-c", 300.0, processes={4_000_000: 50}),
        ])
        with EnergyProfiler(host=False, nvml=nvml, interval_s=0.02,
                            carbon_intensity=0) as profiler:
            time.sleep(0.5)
    shared, unsupported, foreign = (profiler.report.components[f"gpu:{i}"] for i in range(3))
    assert shared.details["share"] == pytest.approx(0.25)
    assert shared.joules == pytest.approx(0.25 * shared.details["device_joules"])
    assert "per-process SM utilisation" in shared.details["attribution"]
    for device in (unsupported, foreign):  # the device's figure, and said so
        assert device.details["scope"] == "device"
        assert device.joules == device.details["device_joules"] > 0
    assert "per-process utilisation" in unsupported.details["attribution"]
    assert "PID namespace" in foreign.details["attribution"]
    assert any(n.startswith("gpu:2: the whole device") for n in profiler.report.notes)
    nvml.devices[0]["processes"] = {os.getpid(): 0}  # idle: split by the contexts held
    share = __import__("gpumetrics.energy.attribution", fromlist=["GpuShare"]).GpuShare(
        nvml, [("gpu:0", 0)])
    share.start()
    share.sample({os.getpid()})
    assert share.share("gpu:0") == (1.0, "no SM activity: split by the processes holding "
                                         "a context")


def test_cuda_visible_devices_is_respected(monkeypatch):
    nvml = FakeNvml([gpu(f"NVIDIA A100-SXM4-80GB #{i}", f"GPU-{i}{i}x", 100.0)
                     for i in range(4)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert [h for _, h in G.visible_gpus(nvml)] == [2, 0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-33,1,9,0")  # stops at the invalid 9
    assert [(c, h) for c, h in G.visible_gpus(nvml)] == [("gpu:0", 3), ("gpu:1", 1)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert G.visible_gpus(nvml) == []
    assert G.gpu_sources(nvml)[1] == ["no GPU is visible to this process"]


def test_a_window_shorter_than_the_counter_is_flagged(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml([gpu("Tesla T4", "GPU-b", 40.0, energy=False)])
    with EnergyProfiler(host=False, nvml=nvml, carbon_intensity=0) as profiler:
        pass
    assert profiler.report.components["gpu:0"].short_window
    assert any("shorter than" in n for n in profiler.report.notes)


# --- the estimate path on this machine, for real ---------------------------------------------


def _burn(seconds):
    """Spend ``seconds`` of this thread's CPU time (not of wall time, which a busy machine
    stretches), so that figures derived from CPU time do not depend on the machine's load."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


def test_estimates_on_this_machine(tmp_path):
    profiler = EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path / "none", country="FRA")
    with profiler:
        _burn(0.6)
    r = profiler.report
    cpu = r.components["cpu"]
    assert cpu.method == "estimated:tdp-x-utilisation"
    assert cpu.joules > 0 and cpu.details["mean_utilisation"] > 0.05
    assert cpu.details["full_load_w"] > 0 and cpu.details["full_load_basis"]
    assert r.components["dram"].method.startswith("estimated:dram")
    assert "gpu:0" not in r.components  # no GPU: absent, not 0 J
    assert any("no GPU is visible" in n for n in r.notes)
    assert r.carbon_intensity == carbon.country("FRA").g_per_kwh
    assert r.gco2e == pytest.approx(r.energy_kwh * r.carbon_intensity)
    assert r.method == "estimated"
    assert json.loads(r.to_json())["components"]["cpu"]["method"] == cpu.method


def test_process_scope_charges_the_run_not_the_machine(tmp_path):
    """A sleep costs the run (almost) nothing, and a busy loop its own CPU seconds, however
    busy the rest of the machine is; the machine scope charges every process."""
    kwargs = {"nvml": FakeNvml([]), "rapl_root": tmp_path, "carbon_intensity": 100}
    with BusyCore(lifetime_s=60):
        time.sleep(0.2)
        with EnergyProfiler(**kwargs) as asleep:
            time.sleep(1.0)
        with EnergyProfiler(**kwargs) as busy:
            _burn(1.0)
        with EnergyProfiler(scope="machine", **kwargs) as machine:
            time.sleep(1.0)
    sleep_cpu, busy_cpu = asleep.report.components["cpu"], busy.report.components["cpu"]
    w = busy_cpu.details["w_per_logical_cpu"]
    assert sleep_cpu.details["process_cpu_s"] < 0.05
    assert sleep_cpu.joules < 0.05 * w
    assert 1.0 <= busy_cpu.details["process_cpu_s"] < 1.1
    assert busy_cpu.joules == pytest.approx(w * busy_cpu.details["process_cpu_s"])
    # every process: the competitor's core is charged to the machine-wide sleep
    assert machine.report.scope == "machine"
    assert machine.report.components["cpu"].joules > 0.5 * w
    assert asleep.report.to_dict()["scope"] == "process"
    assert "scope: this process tree's share" in str(asleep.report)


def test_children_are_charged_and_compilation_is_not(tmp_path):
    kwargs = {"nvml": FakeNvml([]), "rapl_root": tmp_path, "carbon_intensity": 100}
    with EnergyProfiler(**kwargs) as profiler:  # a child that ends inside the window
        subprocess.run([sys.executable, "-c", "import time; t = time.process_time()\n"
                        "while time.process_time() - t < 0.5: pass"], check=True)
    assert profiler.report.components["cpu"].details["process_cpu_s"] >= 0.5

    import numba

    def fresh(n):  # a new function: Numba compiles it inside the window
        total = 0
        for i in range(n):
            total += i * i
        return total

    with EnergyProfiler(**kwargs) as profiler:
        assert numba.njit(fresh)(10) == 285
    report = profiler.report
    compiled = report.excluded["compilation"]
    assert compiled > 0.02  # compiling even a small function takes tens of ms
    assert report.components["cpu"].details["process_cpu_s"] < compiled
    assert "CPU-s of compilation" in str(report)
    assert report.to_dict()["excluded_cpu_s"]["compilation"] == compiled


def test_scope_arguments():
    with pytest.raises(ValueError, match="scope must be 'process'"):
        EnergyProfiler(scope="node")
    with pytest.raises(ValueError, match="needs scope='process'"):
        EnergyProfiler(scope="machine", pid=1)
    with pytest.raises(ValueError, match="not a running process"):
        EnergyProfiler(pid=4_000_000)


def test_laps_epochs_and_decorator(tmp_path):
    profiler = EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path, carbon_intensity=400)
    profiler.start()
    for epoch in range(3):
        _burn(0.1)
        profiler.mark_epoch(epoch)
    final = profiler.stop()
    cumulative = [e.gco2e for e in profiler.epochs]
    assert cumulative == sorted(cumulative) and cumulative[0] > 0
    assert [e.label for e in profiler.epochs] == ["epoch 0", "epoch 1", "epoch 2"]
    per = profiler.per_epoch()
    assert sum(e.energy_kwh for e in per) == pytest.approx(profiler.epochs[-1].energy_kwh)
    assert final.energy_kwh >= profiler.epochs[-1].energy_kwh

    @EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path, carbon_intensity=400)
    def work():
        return _burn(0.05)

    assert work() > 0
    assert work.profiler.report.duration_s >= 0.05


def test_turns_of_several_runs_under_one_profiler(tmp_path):
    """Runs taking turns under one profiler: each is charged the sum of its own turns,
    with the figures behind it (CPU seconds) summed alike."""
    profiler = EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path, carbon_intensity=400)
    turns = {"a": [], "b": []}
    with profiler:
        for _ in range(2):
            for name, seconds in (("a", 0.1), ("b", 0.3)):
                before = profiler.lap()
                _burn(seconds)
                turns[name].append(profiler.lap().minus(before))
        whole = profiler.lap()
    a, b = (EnergyReport.total(turns[n]) for n in "ab")
    for run, parts in ((a, turns["a"]), (b, turns["b"])):
        cpu = run.components["cpu"]
        assert cpu.joules == pytest.approx(sum(p.components["cpu"].joules for p in parts))
        assert cpu.details["process_cpu_s"] == pytest.approx(
            sum(p.components["cpu"].details["process_cpu_s"] for p in parts))
        assert cpu.joules == pytest.approx(cpu.details["w_per_logical_cpu"]
                                           * cpu.details["process_cpu_s"])
        assert run.duration_s == pytest.approx(sum(p.duration_s for p in parts))
    assert 1.5 < b.components["cpu"].joules / a.components["cpu"].joules < 4.5
    assert a.energy_kwh + b.energy_kwh <= whole.energy_kwh * 1.001  # the turns, no more
    with pytest.raises(ValueError, match="one profile"):
        EnergyReport.total([a, replace(a, run_id="other")])


def test_emissions_csv_is_appended_whole(tmp_path):
    out = tmp_path / "emissions.csv"
    for run in ("a", "b"):
        with EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path, run_id=run,
                            output_csv=out, carbon_intensity=50):
            _burn(0.02)
    rows = list(csv.DictReader(out.open()))
    assert [r["run_id"] for r in rows] == ["a", "b"]
    assert float(rows[0]["emissions"]) > 0
    assert rows[0]["gpu_energy"] == ""  # no GPU: empty, not 0
    assert "cpu=estimated:tdp-x-utilisation" in rows[0]["component_methods"]
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other columns"):
        profiler = EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path, output_csv=other)
        with profiler:
            pass
    assert other.read_text() == "a,b\n1,2\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_carbon_intensity_precedence_and_errors():
    assert carbon.resolve(12.5, "FRA", "aws:us-east-1") == (12.5, "given")
    fra = carbon.country("fra")
    assert carbon.resolve(None, "France")[0] == fra.g_per_kwh
    value, source = carbon.resolve(None, None, "eu-west-3")
    assert value == fra.g_per_kwh and source.startswith("aws:eu-west-3 in France")
    value, source = carbon.resolve()
    assert value == carbon.table()["WORLD"].g_per_kwh and "world average" in source
    with pytest.raises(ValueError, match="not in the carbon-intensity table"):
        carbon.resolve(None, "Atlantis")
    with pytest.raises(ValueError, match="not a known cloud region"):
        carbon.resolve(None, None, "aws:moon-1")
    with pytest.raises(ValueError, match="pue must be"):
        EnergyProfiler(pue=0.9)
    with pytest.raises(ValueError, match="carbon intensity must be"):
        EnergyProfiler(carbon_intensity=-1)


def test_profile_command_reports_and_keeps_the_exit_code(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "gpumetrics.cli", "profile", "--json", "--out", str(out),
         "--carbon-intensity", "300", "--", sys.executable, "-c",
         "import time, sys; t = time.time()\nwhile time.time() - t < 0.3: pass\nsys.exit(3)"],
        capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    report = json.loads(out.read_text())
    assert report["components"]["cpu"]["energy_kwh"] > 0
    assert report["carbon_intensity_g_per_kwh"] == 300
    assert report["label"] == "run"
    assert report["scope"] == "process"  # the command's process tree
    assert report["components"]["cpu"]["details"]["process_cpu_s"] >= 0.25


@pytest.mark.parametrize("name", ["FR", "fr", "FRA", "France", " france ", "French Republic"])
def test_countries_by_alpha_2_alpha_3_name_and_alias(name):
    assert carbon.country(name).iso3 == "FRA"


def test_common_names_and_the_world_row():
    assert carbon.country("Czech Republic") == carbon.country("CZ") == carbon.country("Czechia")
    assert carbon.country("UK").iso3 == carbon.country("GB").iso3 == "GBR"
    assert carbon.country("US").iso3 == "USA"
    for spelling in ("Türkiye", "TURKIYE", "turkiye", "Turkey", "TR"):
        assert carbon.country(spelling).iso3 == "TUR"
    assert len(carbon._index()) > 3 * len(carbon.table())  # built: no key names two rows
    with pytest.raises(ValueError, match="not in the carbon-intensity table"):
        carbon.country("ß")
    entries = carbon.table()
    assert len({e.iso2 for e in entries.values() if e.iso2}) == len(entries) - 1  # all but WORLD


def test_emissions_csv_follows_codecarbons_columns_and_units(tmp_path):
    """CodeCarbon's own columns first, in its order and units (kg CO2e, kWh, W, s), read by
    CodeCarbon's own data class; gpumetrics' provenance after them."""
    out = tmp_path / "emissions.csv"
    with EnergyProfiler(nvml=FakeNvml([]), rapl_root=tmp_path, run_id="r", project="p",
                        output_csv=out, country="FR", region="gcp:europe-west1",
                        pue=1.5) as profiler:
        _burn(0.05)
    report = profiler.report
    (row,) = list(csv.DictReader(out.open()))
    header = out.read_text().splitlines()[0].split(",")
    assert header[:len(EnergyReport.CODECARBON_FIELDS)] == list(EnergyReport.CODECARBON_FIELDS)
    assert float(row["emissions"]) == pytest.approx(report.gco2e / 1000)
    assert float(row["energy_consumed"]) == pytest.approx(report.facility_energy_kwh)
    # as CodeCarbon: each component with the PUE, so that they add up to energy_consumed
    assert float(row["cpu_energy"]) == pytest.approx(1.5 * report.component_kwh("cpu"))
    assert float(row["cpu_energy"]) + float(row["ram_energy"]) == pytest.approx(
        float(row["energy_consumed"]))
    assert float(row["it_energy_kwh"]) == pytest.approx(report.energy_kwh)
    assert float(row["cpu_power"]) == pytest.approx(
        1.5 * report.component_kwh("cpu") * 3.6e6 / report.duration_s)
    assert float(row["ram_total_size"]) > 0
    assert float(row["duration"]) == pytest.approx(report.duration_s)
    assert (row["country_iso_code"], row["country_name"]) == ("FRA", "France")
    assert (row["cloud_provider"], row["cloud_region"], row["on_cloud"]) == (
        "gcp", "europe-west1", "Y")
    assert row["tracking_mode"] == "process" and row["project_name"] == "p"
    assert row["carbon_intensity_source"] == report.carbon_intensity_source
    try:  # the bench extra's CodeCarbon, where installed
        from codecarbon.output_methods.emissions_data import EmissionsData
    except ImportError:
        return
    import dataclasses

    names = [f.name for f in dataclasses.fields(EmissionsData)]
    assert names == list(EnergyReport.CODECARBON_FIELDS)  # the layout CodeCarbon writes


@pytest.mark.parametrize("model, name, tdp", [
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Intel Xeon Platinum 8375C", 300),
    ("AMD EPYC 7R13 48-Core Processor", "AMD EPYC 7R13", 225),
    ("Intel(R) Core(TM) i9-13900K", "Intel Core i9-13900K", 125),
])
def test_cpu_tdp_from_codecarbons_data(model, name, tdp):
    assert hardware.cpu_tdp(model) == (name, tdp)


@pytest.mark.parametrize("model", ["Intel(R) Xeon(R) Platinum 8375 CPU", "AMD EPYC",
                                   "Intel(R) Xeon(R) CPU @ 2.20GHz"])
def test_no_tdp_for_a_model_that_is_not_there(model):
    assert hardware.cpu_tdp(model) is None  # a word short (8375 vs 8375C) is no match


def test_threads_sharing_a_socket():
    vm = "flags : fpu ht hypervisor\nsiblings : 4\n"
    metal = "flags : fpu ht\nsiblings : 64\n"
    assert hardware.threads_per_socket("AMD EPYC 7R13 48-Core Processor", vm)[0] == 96
    assert hardware.threads_per_socket("AMD EPYC 7R13 48-Core Processor",
                                       "flags : fpu hypervisor\n")[0] == 48  # SMT off
    assert hardware.threads_per_socket("Intel(R) Xeon(R) Platinum 8375C CPU", vm) is None
    assert hardware.threads_per_socket("Intel(R) Xeon(R) Platinum 8375C CPU", metal) == (
        64, "/proc/cpuinfo siblings (a physical machine)")
    assert hardware.threads_per_socket("AMD EPYC 7763 64-Core Processor", vm)[0] == 128


def test_cpu_estimate_uses_the_tdp_and_threads_it_knows(monkeypatch):
    monkeypatch.setattr(hardware, "threads_per_socket", lambda model: (96, "48-core name"))
    est = H.CpuEstimate(model="AMD EPYC 7R13 48-Core Processor")
    n = len(est.cpus)
    assert est.full_w == pytest.approx(225 * n / 96)
    assert est.basis.startswith("CodeCarbon CPU power data:AMD EPYC 7R13 TDP 225 W")
    monkeypatch.setattr(hardware, "threads_per_socket", lambda model: None)
    vm = H.CpuEstimate(model="Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz")
    assert vm.full_w == pytest.approx(hardware.DEFAULT_W_PER_LOGICAL_CPU * n)
    assert "TDP of 300 W, but the threads sharing it are unknown" in vm.basis
