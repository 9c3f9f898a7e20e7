"""The HTML report in headless Chromium, at 4 and at 20 runs: the page loads with no console
error, its colours are drawn, and, measured in the browser's own layout, every legend
entry shows its full text inside its chart, legends sit right of their axes, and the best
run's ROC and PR curves are drawn end to end from every stored point. Skipped where no
Chromium is installed (the CI installs Debian's chromium package)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from gpumetrics.runs import RunStore
from gpumetrics.runs.charts import CURVE_LIMITS, OTHER, PALETTE
from gpumetrics.runs.report import write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here "
                                "(Debian: apt-get install chromium)")
Image = pytest.importorskip("PIL.Image")

LONG = "resnet18-lr0.01-bs128-cosine-warmup5-seed1234"  # 45 characters
NAMES = ["best-run", LONG, "b", "mlp-16-dropout", "x"]
ROC_FPR = np.linspace(0, 1, 401)  # past 128 points, collinear: a simplified path drops most
ROC_TPR = np.minimum(1.0, 2 * ROC_FPR)
PR_RECALL = np.linspace(1, 0, 301)
PR_PRECISION = 0.5 + 0.5 * (1 - PR_RECALL)

# Measures the laid-out page and leaves the results as JSON in the DOM, where
# --dump-dom reads them back. With svg.fonttype "path" a text is glyph outlines, and
# matplotlib writes the text itself as an XML comment first in its group; with "none" it is
# a <text> element.
MEASURE = """<script>
(function () {
  const [lo, hi] = [LIMITS];
  const within = (b, box) => b.left >= box.left - 0.5 && b.right <= box.right + 0.5 &&
                             b.top >= box.top - 0.5 && b.bottom <= box.bottom + 0.5;
  const out = {};
  for (const svg of document.querySelectorAll("svg.chart")) {
    const box = svg.getBoundingClientRect();
    const part = name => svg.querySelector(`[id="${svg.id}-${name}"]`);
    const chart = {width: box.width, entries: []};
    const axes = part("axes");
    if (axes) chart.axesRight = axes.getBoundingClientRect().right;
    const legend = part("legend");
    if (legend) {
      const b = legend.getBoundingClientRect();
      chart.legendLeft = b.left;
      chart.legendInside = within(b, box);
      for (const g of legend.querySelectorAll('g[id*="-text_"]')) {
        const note = [...g.childNodes].find(n => n.nodeType === Node.COMMENT_NODE);
        const t = g.getBoundingClientRect();
        const text = note ? note.data.trim() : g.textContent.trim();  // "path" : "none"
        chart.entries.push({text: text, inside: within(t, box),
                            width: t.width});
      }
    }
    const curve = part("curve");
    if (curve && axes) {
      const path = curve.querySelector("path");
      const frame = axes.querySelector("path").getBBox();
      const data = p => [lo + (p.x - frame.x) / frame.width * (hi - lo),
                         lo + (frame.y + frame.height - p.y) / frame.height * (hi - lo)];
      chart.first = data(path.getPointAtLength(0));
      chart.last = data(path.getPointAtLength(path.getTotalLength()));
      chart.vertices = (path.getAttribute("d").match(/[ML]/g) || []).length;
    }
    out[svg.id] = chart;
  }
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>""".replace("LIMITS", ", ".join(map(str, CURVE_LIMITS)))


def chromium(*args, profile):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180)


def screenshot(page, png, profile, height=2600):
    done = chromium("--enable-logging=stderr", "--v=0", f"--window-size=1300,{height}",
                    f"--screenshot={png}", page.as_uri(), profile=profile)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Image.open(png).convert("RGB"), console


def measure(page, tmp_path):
    """The report's layout as the browser draws it (a copy of the page with a script)."""
    probe = tmp_path / "measure.html"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    done = chromium("--window-size=1300,2000", "--dump-dom", probe.as_uri(),
                    profile=tmp_path / "profile-measure")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


def pixels_of(image, hex_colour, tolerance=40):
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    data = np.asarray(image).reshape(-1, 3).astype(int)
    return int((np.abs(data - target).sum(axis=1) < tolerance).sum())


def build_store(path, n):
    """n runs ranked in the order made (accuracy falls, gCO2e grows); the best one
    finished with its confusion matrix and ROC / PR curves, one with no energy report."""
    names = [NAMES[i] if i < len(NAMES) else f"sweep-{i:02d}" for i in range(n)]
    with RunStore(path) as store:
        for i, name in enumerate(names):
            run = store.start_run(name, dataset="fraud", params={"lr": 0.1 / (i + 1)})
            for e in range(6):
                run.log_epoch(e, train_loss=1 / (e + 1 + i / 10), val_loss=1.1 / (e + 1),
                              train_accuracy=0.9 - 0.01 * i, val_accuracy=0.88 - 0.01 * i,
                              gco2e=0.002 * (1 + i / 4) * (e + 1))
            extra = {}
            if i == 0:
                extra = dict(confusion_matrix=np.array([[90, 2], [5, 3]]),
                             labels=["legit", "fraud"],
                             roc={"fpr": ROC_FPR, "tpr": ROC_TPR}, roc_auc=0.75,
                             pr={"recall": PR_RECALL, "precision": PR_PRECISION})
            if i != 2:
                extra["energy"] = {
                    "method": "estimated", "scope": "process", "energy_kwh": 2.5e-5,
                    "carbon_intensity_g_per_kwh": 480.6, "pue": 1.0,
                    "carbon_intensity_source": "world average", "gco2e": 0.012 * (1 + i / 4),
                    "components": {"cpu": {"method": "estimated:tdp-x-utilisation",
                                           "energy_kwh": 2.5e-5, "details": {}}},
                    "notes": []}
            run.finish(**extra)
    return names


def test_console_errors_are_seen(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    _, console = screenshot(page, tmp_path / "bad.png", tmp_path / "profile", height=200)
    assert any("boom" in line for line in console)


@pytest.mark.parametrize("n", [4, 20])
def test_report_legends_and_curves_as_drawn(tmp_path, n):
    names = build_store(tmp_path / "runs.db", n)
    with RunStore(tmp_path / "runs.db") as store:
        page = write_report(store, tmp_path / "report.html")
    charts = measure(page, tmp_path)
    assert set(charts) == {"loss", "vgap", "co2e", "pareto", "confusion", "roc", "pr"}
    top = [f"#{i + 1} {name}" for i, name in enumerate(names[:len(PALETTE)])]
    others = [f"other runs ({n - len(PALETTE)})"] if n > len(PALETTE) else []
    for slug in ("loss", "vgap", "co2e", "pareto"):
        chart = charts[slug]
        texts = [e["text"] for e in chart["entries"]]
        assert texts[:len(top) + len(others)] == top + others, (slug, texts)
        assert LONG in " ".join(texts)  # in full, not cut short
        for entry in chart["entries"]:  # every entry drawn wholly inside its SVG
            assert entry["inside"] and entry["width"] > 0, (slug, entry)
        assert chart["legendInside"] and chart["legendLeft"] >= chart["axesRight"], slug
    assert charts["loss"]["entries"][-1]["text"] == "validation loss (dashed)"
    roc, pr = charts["roc"], charts["pr"]
    assert roc["entries"][0]["text"] == "ROC curve, AUC = 0.7500"
    assert pr["entries"][0]["text"].endswith("(from the stored curve)")
    assert all(e["inside"] for e in roc["entries"] + pr["entries"])
    # every stored point drawn (PR as steps: two vertices per point but the last)
    assert roc["vertices"] == len(ROC_FPR) and pr["vertices"] == 2 * len(PR_RECALL) - 1
    np.testing.assert_allclose(roc["first"], [0, 0], atol=0.01)
    np.testing.assert_allclose(roc["last"], [1, 1], atol=0.01)
    np.testing.assert_allclose(pr["first"], [1, 0.5], atol=0.01)
    np.testing.assert_allclose(pr["last"], [0, 1], atol=0.01)

    image, console = screenshot(page, tmp_path / "report.png", tmp_path / "profile",
                                height=4200 if n > 4 else 3600)
    assert console == []
    for colour in PALETTE[:min(n, len(PALETTE))]:  # one colour per top run, drawn
        assert pixels_of(image, colour) > 300, colour
    if n > len(PALETTE):
        assert pixels_of(image, OTHER) > 300
    assert pixels_of(image, "#08306b") > 500  # the darkest heatmap cell (Blues' top)
