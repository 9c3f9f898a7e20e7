"""``gpumetrics info``: the versions, the backends that run here, and for each optional
capability (torch, CuPy, pyarrow, Dask, matplotlib, NVML, RAPL) whether it is usable and
what it gives, or how to install it."""

from __future__ import annotations

import platform


def info(args) -> int:
    """Versions, the backends that run here, and what each optional capability needs."""
    import numpy

    import gpumetrics
    from gpumetrics import dispatch

    print(f"gpumetrics {gpumetrics.__version__}, Python {platform.python_version()}, "
          f"NumPy {numpy.__version__}")
    print(f"backends available: {', '.join(dispatch.available())}")
    reason = dispatch.cuda_unavailable_reason()
    if reason:
        print(f"cuda: {reason}")
    width = max(len(name) for name, _ in _CAPABILITIES)
    for name, probe in _CAPABILITIES:
        print(f"{name:<{width}}  {probe()}")
    return 0


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _installed(distribution: str, extra: str, what: str):
    """A probe: ``<version>: <what>`` when installed, else how to install it."""
    def probe() -> str:
        version = _version(distribution)
        if version is None:
            return f"not installed (pip install 'gpumetrics[{extra}]'): no {what}"
        return f"{version}: {what}"
    return probe


def _torch_probe() -> str:
    version = _version("torch")
    if version is None:
        return "not installed: no torch tensors in, torch tensors out"
    try:
        import torch
    except Exception as exc:  # installed but broken
        return f"{version}: not usable ({type(exc).__name__}: {exc})"

    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
    return f"{version} ({cuda}): torch tensors in, torch tensors out"


def _cupy_probe() -> str:
    versions = [f"{d} {v}" for d in ("cupy-cuda12x", "cupy-cuda13x", "cupy")
                if (v := _version(d))]
    if not versions:
        return "not installed (pip install 'gpumetrics[cuda12]' or [cuda13]): no GPU arrays"
    from gpumetrics import dispatch

    reason = dispatch.cuda_unavailable_reason()
    return f"{', '.join(versions)}: " + ("GPU arrays usable" if reason is None
                                         else f"installed, not usable ({reason})")


def _nvml_probe() -> str:
    from gpumetrics.energy import SourceUnavailable
    from gpumetrics.energy.gpu_sources import load_nvml, visible_gpus

    try:
        nvml = load_nvml()
    except SourceUnavailable as exc:
        return f"not usable: {exc}; GPU energy is estimated or absent"
    gpus = len(visible_gpus(nvml))
    return f"usable: {gpus} GPU(s) measured"


def _rapl_probe() -> str:
    from gpumetrics.energy import SourceUnavailable
    from gpumetrics.energy.host_sources import Rapl

    try:
        rapl = Rapl()
    except SourceUnavailable as exc:
        return f"not usable ({exc}): CPU energy is estimated from TDP and CPU time"
    return f"usable: {', '.join(rapl.components())} energy measured"


_CAPABILITIES = (
    ("torch", _torch_probe),
    ("CuPy", _cupy_probe),
    ("pyarrow", _installed("pyarrow", "io", "Parquet files for `gpumetrics score`")),
    ("Dask", _installed("dask", "dask", "scoring on a Dask cluster")),
    ("matplotlib", _installed("matplotlib", "report", "charts in `gpumetrics report`")),
    ("NVML", _nvml_probe),
    ("RAPL", _rapl_probe),
)


def add_parsers(sub) -> None:
    """The ``info`` subcommand."""
    p = sub.add_parser("info", help="show versions, the backends that can run here and "
                       "what each optional capability needs")
    p.set_defaults(func=info)
