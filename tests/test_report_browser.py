"""The HTML report in headless Chromium: the page loads with no console error and its charts
render (their colours are on the screenshot). Skipped where no Chromium is installed (the
CI installs Debian's chromium package)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from gpumetrics.runs import RunStore, svg
from gpumetrics.runs.report import write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here "
                                "(Debian: apt-get install chromium)")
Image = pytest.importorskip("PIL.Image")


def screenshot(page, png, height=2600):
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", f"--window-size=1200,{height}",
         f"--screenshot={png}", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Image.open(png).convert("RGB"), console


def pixels_of(image, hex_colour, tolerance=40):
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    data = np.asarray(image).reshape(-1, 3).astype(int)
    return int((np.abs(data - target).sum(axis=1) < tolerance).sum())


def test_console_errors_are_seen(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    _, console = screenshot(page, tmp_path / "bad.png", height=200)
    assert any("boom" in line for line in console)


def test_report_loads_cleanly_and_its_charts_render(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        for name, slope, g in (("a", 0.1, 1.0), ("b", 0.2, 2.0), ("c", 0.05, 0.5)):
            run = store.start_run(name, dataset="d")
            for e in range(6):
                run.log_epoch(e, train_loss=1 - slope * e, val_loss=1 - slope * e / 2,
                              train_accuracy=0.5 + slope * e / 2, gco2e=g * (e + 1))
            run.finish(confusion_matrix=np.array([[50, 3], [7, 40]]), labels=[0, 1],
                       roc={"fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1]},
                       pr={"recall": [0, 0.5, 1], "precision": [1, 0.9, 0.5]})
        page = write_report(store, tmp_path / "report.html")
    image, console = screenshot(page, tmp_path / "report.png")
    assert console == []
    for colour in svg.COLOURS[:3]:  # one line colour per run, drawn
        assert pixels_of(image, colour) > 300, colour
    assert pixels_of(image, "#3737ff") > 500  # the darkest heatmap cell (rgb(55,55,255))
