"""The interface of an energy source, and the error of one that cannot read its counter.

Figures come, best first, from hardware energy counters (NVML's total-energy counter,
RAPL), sampled power (NVML), and, where no counter can be read, an estimate from a power
rating times the measured utilisation. The GPUs' sources are in
``gpumetrics.energy.gpu_sources``, the CPU's and DRAM's in ``gpumetrics.energy.host_sources``.

Each source covers some components (``gpu:0``, ``gpu:1``, ``cpu``, ``dram``), names its
method (``measured:rapl``, ``estimated:...``), and reports the joules each component used
since ``start()``. A source that cannot read its counter raises ``SourceUnavailable`` when
it is built, so that a missing counter is never reported as 0 J.
"""

from __future__ import annotations


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
