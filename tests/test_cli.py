"""The package and its command line as users of torchmetrics, scikit-learn and other CLIs
expect them: subpackages as attributes (imported on first use), ``python -m gpumetrics``,
``--version``, a quiet end when the reader of the output leaves, and one line naming the
flag (exit 2) for a backend that cannot run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gpumetrics import dispatch
from gpumetrics.cli import main


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def test_subpackages_are_attributes_imported_on_first_use():
    out = _python(
        "import sys, gpumetrics\n"
        "heavy = ('gpumetrics.metrics', 'gpumetrics.energy', 'numba', 'torch', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "acc = gpumetrics.metrics.Accuracy('multiclass', num_classes=3)\n"
        "print(type(acc).__name__, gpumetrics.batched.__name__, gpumetrics.energy.__name__,\n"
        "      gpumetrics.runs.__name__, gpumetrics.flops.__name__)\n"
        "print('metrics' in dir(gpumetrics))\n")
    lines = out.splitlines()
    assert lines[0] == "[]"
    assert lines[1] == ("Accuracy gpumetrics.batched gpumetrics.energy gpumetrics.runs "
                        "gpumetrics.flops")
    assert lines[2] == "True"
    import gpumetrics

    with pytest.raises(AttributeError, match="no attribute 'metrix'"):
        gpumetrics.metrix  # noqa: B018


def test_python_dash_m_and_version():
    import gpumetrics

    run = subprocess.run([sys.executable, "-m", "gpumetrics", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"gpumetrics {gpumetrics.__version__}"
    helped = subprocess.run([sys.executable, "-m", "gpumetrics", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert "batched-demo" in helped.stdout and "``" not in helped.stdout


def test_a_closed_pipe_ends_quietly():
    """``gpumetrics batched-demo | head -1``: no traceback when head stops reading."""
    demo = subprocess.Popen([sys.executable, "-m", "gpumetrics", "batched-demo", "--samples",
                             "2000", "--checkpoints", "64"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    demo.stdout.readline()  # the header, written before the checkpoints are scored
    demo.stdout.close()  # the reader leaves
    stderr = demo.stderr.read().decode()
    assert demo.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.mark.parametrize("command", [["batched-demo"],
                                     ["score", "{file}", "--y-true", "a", "--y-pred", "b"]])
def test_a_backend_that_cannot_run_is_one_line_naming_the_flag(command, tmp_path, capsys):
    if dispatch.cuda_unavailable_reason() is None:
        pytest.skip("the cuda backend runs here")
    data = tmp_path / "p.csv"
    data.write_text("a,b\n0,1\n1,1\n")
    argv = [a.format(file=data) for a in command] + ["--backend", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--backend cuda" in err and "cannot run" in err
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-1], "gpu"])  # not a backend: argparse names the flag and the choices
    assert exc.value.code == 2
    assert "--backend: invalid choice: 'gpu'" in capsys.readouterr().err


def test_info_reports_every_optional_capability(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("torch", "CuPy", "pyarrow", "Dask", "matplotlib", "NVML", "RAPL"):
        line = next((ln for ln in out.splitlines() if ln.startswith(name + " ")), None)
        assert line is not None, (name, out)
        assert ":" in line  # a version and what it gives, or why not and how to get it


def test_packaging_metadata():
    """The build declares what its license fields need, ships the license and the typing
    marker, and has an extra for every capability that runs on any machine."""
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "setuptools>=77" in project["build-system"]["requires"][0]  # PEP 639 fields
    assert project["project"]["license-files"] == ["LICENSE"]
    assert "Apache License" in (root / "LICENSE").read_text()
    assert (root / "gpumetrics" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["gpumetrics"]
    extras = project["project"]["optional-dependencies"]
    assert {"cuda12", "cuda13", "all"} <= set(extras)
    (everything,) = extras["all"]
    assert set(everything.removeprefix("gpumetrics[").removesuffix("]").split(",")) == {
        "dask", "io", "energy", "report", "mlflow"}
