"""What the machine is, and the published power and throughput figures of common parts.

The tables are matched against the names the system reports (``/proc/cpuinfo``'s model
name, NVML's device name), most specific pattern first. Every figure comes from its
vendor's specification sheet: CPU TDP (Intel's "processor base power"), GPU board power,
and GPU dense peak throughput without sparsity.

Beyond the CPUs listed here (with their threads per socket), ``cpu_power.csv`` gives the
TDP of 4,913 CPU models: CodeCarbon's CPU power data (``codecarbon/data/hardware/
cpu_power.csv``, MIT licence, (c) 2019 Mila, BCG Gamma, CometML, Haverford College),
rows without a usable TDP left out. A TDP is a socket's; the threads it is shared by come
from this module's table, from the model name (AMD's "64-Core"), or on a physical machine
from ``/proc/cpuinfo``'s ``siblings``.
"""

from __future__ import annotations

import csv
import functools
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuSpec:
    name: str
    tdp_w: float
    cores: int
    threads: int


# (pattern, spec): TDP per socket and the socket's cores and hardware threads
CPUS: tuple[tuple[str, CpuSpec], ...] = tuple(
    (pattern, CpuSpec(name, tdp, cores, threads))
    for pattern, name, tdp, cores, threads in (
        (r"EPYC 9654\b", "AMD EPYC 9654", 360, 96, 192),
        (r"EPYC 9554\b", "AMD EPYC 9554", 360, 64, 128),
        (r"EPYC 9354\b", "AMD EPYC 9354", 280, 32, 64),
        (r"EPYC 7763\b", "AMD EPYC 7763", 280, 64, 128),
        (r"EPYC 7742\b", "AMD EPYC 7742", 225, 64, 128),
        (r"EPYC 7702\b", "AMD EPYC 7702", 200, 64, 128),
        (r"EPYC 7543\b", "AMD EPYC 7543", 225, 32, 64),
        (r"EPYC 7313\b", "AMD EPYC 7313", 155, 16, 32),
        (r"Platinum 8480\+", "Intel Xeon Platinum 8480+", 350, 56, 112),
        (r"Platinum 8470\b", "Intel Xeon Platinum 8470", 350, 52, 104),
        (r"Platinum 8380\b", "Intel Xeon Platinum 8380", 270, 40, 80),
        (r"Platinum 8168\b", "Intel Xeon Platinum 8168", 205, 24, 48),
        (r"Gold 6338\b", "Intel Xeon Gold 6338", 205, 32, 64),
        (r"Gold 6248\b", "Intel Xeon Gold 6248", 150, 20, 40),
        (r"Gold 6230\b", "Intel Xeon Gold 6230", 125, 20, 40),
        (r"Gold 6148\b", "Intel Xeon Gold 6148", 150, 20, 40),
        (r"Silver 4214\b", "Intel Xeon Silver 4214", 85, 12, 24),
        (r"E5-2698 v4\b", "Intel Xeon E5-2698 v4", 135, 20, 40),
        (r"i9-13900K\b", "Intel Core i9-13900K", 125, 24, 32),
        (r"i9-12900K\b", "Intel Core i9-12900K", 125, 16, 24),
        (r"i7-12700K\b", "Intel Core i7-12700K", 125, 12, 20),
        (r"Ryzen 9 7950X\b", "AMD Ryzen 9 7950X", 170, 16, 32),
        (r"Ryzen 9 5950X\b", "AMD Ryzen 9 5950X", 105, 16, 32),
    )
)

# A CPU the table does not know: this many watts per logical CPU at full load (a 256 W,
# 64-thread server part), stated in the provenance; give cpu_power_w= for a better figure.
DEFAULT_W_PER_LOGICAL_CPU = 4.0

# (pattern, name, board power W), matched against NVML's device name
GPUS: tuple[tuple[str, str, float], ...] = (
    (r"(?<!G)H200", "NVIDIA H200 SXM", 700),
    (r"H100.*PCIe", "NVIDIA H100 PCIe", 350),
    (r"H100.*NVL", "NVIDIA H100 NVL", 400),
    (r"H100", "NVIDIA H100 SXM", 700),
    (r"A100.*PCIE.*40GB|A100-PCIE-40GB", "NVIDIA A100 PCIe 40GB", 250),
    (r"A100.*PCIE", "NVIDIA A100 PCIe 80GB", 300),
    (r"A100", "NVIDIA A100 SXM", 400),
    (r"L40S", "NVIDIA L40S", 350),
    (r"L40\b", "NVIDIA L40", 300),
    (r"\bL4\b", "NVIDIA L4", 72),
    (r"\bA10\b", "NVIDIA A10", 150),
    (r"\bT4\b", "NVIDIA T4", 70),
    (r"V100.*PCIE", "NVIDIA V100 PCIe", 250),
    (r"V100", "NVIDIA V100 SXM2", 300),
    (r"RTX 4090", "NVIDIA GeForce RTX 4090", 450),
    (r"RTX 3090", "NVIDIA GeForce RTX 3090", 350),
    (r"RTX 6000 Ada", "NVIDIA RTX 6000 Ada", 300),
    (r"RTX A6000", "NVIDIA RTX A6000", 300),
)

# Dense peak throughput in TFLOP/s by dtype (no structured sparsity), from the datasheets.
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "NVIDIA H200 SXM": {"fp8": 1979, "bf16": 989.4, "fp16": 989.4, "tf32": 494.7,
                        "fp32": 66.9, "fp64": 66.9},
    "NVIDIA H100 SXM": {"fp8": 1979, "bf16": 989.4, "fp16": 989.4, "tf32": 494.7,
                        "fp32": 66.9, "fp64": 66.9},
    "NVIDIA H100 PCIe": {"fp8": 1513, "bf16": 756.5, "fp16": 756.5, "tf32": 378,
                         "fp32": 51.2, "fp64": 51.2},
    "NVIDIA A100 SXM": {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5, "fp64": 19.5},
    "NVIDIA A100 PCIe 80GB": {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5,
                              "fp64": 19.5},
    "NVIDIA A100 PCIe 40GB": {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5,
                              "fp64": 19.5},
    "NVIDIA L40S": {"fp8": 733, "bf16": 362.05, "fp16": 362.05, "tf32": 183, "fp32": 91.6},
    "NVIDIA L4": {"fp8": 242, "bf16": 121, "fp16": 121, "tf32": 60, "fp32": 30.3},
    "NVIDIA A10": {"bf16": 125, "fp16": 125, "tf32": 62.5, "fp32": 31.2},
    "NVIDIA T4": {"fp16": 65, "fp32": 8.1},
    "NVIDIA V100 SXM2": {"fp16": 125, "fp32": 15.7, "fp64": 7.8},
    "NVIDIA V100 PCIe": {"fp16": 112, "fp32": 14, "fp64": 7},
}


def cpu_model() -> str:
    """The CPU's model name as the system reports it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_spec(model: str | None = None) -> CpuSpec | None:
    """The table entry for a CPU model name, or None."""
    model = cpu_model() if model is None else model
    for pattern, spec in CPUS:
        if re.search(pattern, model):
            return spec
    return None


CPU_POWER_TABLE = Path(__file__).with_name("cpu_power.csv")
_NOISE = re.compile(r"\(r\)|\(tm\)|\bcpu\b|\bprocessor\b|@\s*[\d.]+\s*ghz|\b\d+-core\b|,")


def _tokens(name: str) -> frozenset:
    """The words of a CPU name that identify it: no trademarks, clock or "Processor"."""
    return frozenset(_NOISE.sub(" ", name.lower()).split())


@functools.cache
def _tdp_table() -> tuple[tuple[frozenset, str, float], ...]:
    with CPU_POWER_TABLE.open(newline="", encoding="utf-8") as f:
        return tuple((_tokens(row["name"]), row["name"], float(row["tdp_w"]))
                     for row in csv.DictReader(f))


def cpu_tdp(model: str) -> tuple[str, float] | None:
    """``(name, TDP W)`` of the CodeCarbon entry whose every word is in ``model`` (the most
    specific such entry: the one with the most words), or None."""
    words = _tokens(model)
    best = None
    for tokens, name, tdp in _tdp_table():
        if tokens <= words and len(tokens) >= 2 and (best is None or len(tokens) > best[0]):
            best = (len(tokens), name, tdp)
    return None if best is None else best[1:]


def threads_per_socket(model: str, cpuinfo: str | None = None) -> tuple[int, str] | None:
    """``(hardware threads of one socket, how that is known)`` for a CPU, or None: from the
    table above, from an "N-Core" model name (twice N with SMT on), or, on a physical
    machine (no ``hypervisor`` flag), from ``/proc/cpuinfo``'s ``siblings``."""
    spec = cpu_spec(model)
    if spec is not None:
        return spec.threads, f"table:{spec.name}"
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    listed = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M)
    flags = set(listed.group(1).split()) if listed else set()
    cores = re.search(r"\b(\d+)-Core\b", model, re.I)
    if cores:
        smt = 2 if "ht" in flags else 1
        return int(cores.group(1)) * smt, f"{cores.group(1)}-core model name x {smt} threads"
    siblings = re.search(r"^siblings\s*:\s*(\d+)", cpuinfo, re.M)
    if siblings and "hypervisor" not in flags:
        return int(siblings.group(1)), "/proc/cpuinfo siblings (a physical machine)"
    return None


def logical_cpus() -> int:
    """Logical CPUs this process may run on (a container's or VM's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpu_board_power(name: str) -> tuple[str, float] | None:
    """``(canonical name, board power W)`` for an NVML device name, or None."""
    for pattern, canonical, watts in GPUS:
        if re.search(pattern, name, re.IGNORECASE):
            return canonical, watts
    return None


def peak_tflops(device: str, dtype: str) -> tuple[str, float]:
    """``(canonical device name, dense peak TFLOP/s)`` for a device name and dtype."""
    match = gpu_board_power(device)
    known = ", ".join(sorted(PEAK_TFLOPS))
    if match is None or match[0] not in PEAK_TFLOPS:
        raise ValueError(f"device {device!r} is not in the peak-throughput table ({known}); "
                         "give peak_flops= instead.")
    name = match[0]
    table = PEAK_TFLOPS[name]
    if dtype not in table:
        raise ValueError(f"dtype must be one of {', '.join(table)} for {name}; got {dtype!r}.")
    return name, table[dtype]
