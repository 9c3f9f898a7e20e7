"""Energy (kWh) and emissions (gCO2e) of a run, per component, with provenance.

    from gpumetrics.energy import EnergyProfiler

    with EnergyProfiler(country="FRA", pue=1.2) as profiler:
        for epoch in range(epochs):
            train_one_epoch()
            print(profiler.mark_epoch(epoch).gco2e)   # gCO2e up to this epoch
    print(profiler.report)

Every component says how its figure was obtained: ``measured:nvml-energy-counter``,
``measured:nvml-power-sampling``, ``measured:rapl`` or ``estimated:<model>``.
"""

from gpumetrics.energy.carbon import resolve as carbon_intensity
from gpumetrics.energy.profiler import EnergyProfiler
from gpumetrics.energy.report import ComponentEnergy, EnergyReport
from gpumetrics.energy.sources import Source, SourceUnavailable

__all__ = ["ComponentEnergy", "EnergyProfiler", "EnergyReport", "Source", "SourceUnavailable",
           "carbon_intensity"]
