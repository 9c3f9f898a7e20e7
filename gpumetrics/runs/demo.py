"""The demo: train a few small NumPy models on a generated, imbalanced binary task;
evaluate every epoch with a ``MetricSet``; profile the energy of each run; keep the runs
in a store; rank them with the mixed scores; write the HTML report."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gpumetrics as gm
from gpumetrics import flops as F
from gpumetrics import metrics as M
from gpumetrics.energy import EnergyProfiler
from gpumetrics.runs.diagnosis import diagnose, diagnose_predictions
from gpumetrics.runs.report import write_report
from gpumetrics.runs.store import RunStore

DATASET = "synthetic-fraud"


def make_data(n: int, d: int = 20, seed: int = 0):
    """An imbalanced binary task (about 8% positives) with a non-linear boundary."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    logit = x @ w * 0.6 + 1.5 * np.sin(2 * x[:, 0]) * x[:, 1] + x[:, 2] ** 2 - 4.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


@dataclass
class Model:
    """A one-hidden-layer network (or logistic regression, ``hidden=0``) trained with
    mini-batch SGD on the binary cross-entropy."""

    d: int
    hidden: int
    lr: float
    seed: int = 0

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        width = self.hidden or self.d
        if self.hidden:
            self.w1 = (rng.normal(size=(self.d, self.hidden)) / np.sqrt(self.d)).astype(
                np.float32)
            self.b1 = np.zeros(self.hidden, np.float32)
        self.w2 = (rng.normal(size=(width, 1)) / np.sqrt(width)).astype(np.float32)
        self.b2 = np.zeros(1, np.float32)

    def forward(self, x):
        h = np.maximum(x @ self.w1 + self.b1, 0) if self.hidden else x
        return h, (h @ self.w2 + self.b2)[:, 0]

    def step(self, x, y):
        h, z = self.forward(x)
        p = 1 / (1 + np.exp(-z))
        g = ((p - y) / len(y)).astype(np.float32)[:, None]
        if self.hidden:
            gh = (g @ self.w2.T) * (h > 0)
            self.w1 -= self.lr * (x.T @ gh)
            self.b1 -= self.lr * gh.sum(axis=0)
        self.w2 -= self.lr * (h.T @ g)
        self.b2 -= self.lr * g.sum(axis=0)
        return z

    def forward_flops(self, n: int) -> F.Flops:
        if self.hidden:
            return F.linear(self.d, self.hidden, n) + F.linear(self.hidden, 1, n)
        return F.linear(self.d, 1, n)


def train_run(store, name, model, x, y, xv, yv, epochs, batch, profiler_kwargs, log):
    run = store.start_run(name, experiment="demo", dataset=DATASET,
                          params={"hidden": model.hidden, "lr": model.lr, "epochs": epochs,
                                  "train_samples": len(y), "batch": batch})
    rng = np.random.default_rng(model.seed)
    total = F.Flops(0.0)
    start = time.perf_counter()
    with EnergyProfiler(**profiler_kwargs) as profiler:
        for epoch in range(epochs):
            order = rng.permutation(len(y))
            for i in range(0, len(y), batch):
                idx = order[i:i + batch]
                model.step(x[idx], y[idx])
            total = total + F.training_step(model.forward_flops(len(y)))
            evaluated = {}
            for split, (xs, ys) in {"train": (x, y), "val": (xv, yv)}.items():
                _, z = model.forward(xs)
                total = total + model.forward_flops(len(ys))
                metrics = M.MetricSet({"accuracy": M.Accuracy(), "f1": M.F1Score(),
                                       "auroc": M.AUROC(thresholds=1024)})
                for i in range(0, len(ys), 4096):  # batches, as an evaluation loop would
                    metrics.update(ys[i:i + 4096], 1 / (1 + np.exp(-z[i:i + 4096])))
                values = metrics.compute()
                evaluated[split] = (values, gm.binary_cross_entropy(ys, z, from_logits=True))
            lap = profiler.mark_epoch(epoch)
            (tr, tr_loss), (va, va_loss) = evaluated["train"], evaluated["val"]
            run.log_epoch(epoch, train_loss=tr_loss, val_loss=va_loss,
                          train_accuracy=tr["accuracy"], val_accuracy=va["accuracy"],
                          val_f1=va["f1"], val_auroc=va["auroc"].value,
                          flops=total.flops, gco2e=lap.gco2e,
                          wall_s=time.perf_counter() - start)
    _, z = model.forward(xv)
    pred = (z >= 0).astype(np.int64)
    fpr, tpr, _ = gm.roc_curve(yv, z)
    precision, recall, _ = gm.precision_recall_curve(yv, z)
    keep = max(1, len(fpr) // 200)  # a light curve for the page
    run.finish(energy=profiler.report, flops=total,
               confusion_matrix=gm.confusion_matrix(yv, pred, labels=[0, 1]),
               labels=["legit", "fraud"],
               roc={"fpr": fpr[::keep], "tpr": tpr[::keep]},
               pr={"recall": recall[::keep], "precision": precision[::keep]},
               findings=[str(f) for f in diagnose_predictions(yv, pred)])
    log(f"  {name:<12} val accuracy {va['accuracy']:.4f}  F1 {va['f1']:.3f}  "
        f"AUROC {va['auroc'].value:.3f}  {total.flops / 1e9:6.2f} GFLOPs  "
        f"{profiler.report.gco2e * 1e3:.3f} mgCO2e ({profiler.report.method})")
    return run


def _warm_up() -> None:
    metrics = M.MetricSet({"accuracy": M.Accuracy(), "f1": M.F1Score(),
                           "auroc": M.AUROC(thresholds=1024)})
    metrics.update(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]))
    metrics.compute()
    gm.binary_cross_entropy(np.array([0, 1]), np.array([-1.0, 1.0]), from_logits=True)


def run_demo(out_dir: str | os.PathLike = "gpumetrics-demo", *, samples: int = 40_000,
             epochs: int = 12, seed: int = 0, country: str | None = None,
             log=print) -> tuple[Path, Path]:
    """Train, evaluate, profile, store, rank and report; returns (store, report) paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, y = make_data(samples + samples // 4, seed=seed)
    xt, yt, xv, yv = x[:samples], y[:samples], x[samples:], y[samples:]
    log(f"gpumetrics {gm.__version__} demo: {samples:,} training samples "
        f"({yt.mean():.1%} positive), {len(yv):,} validation, {epochs} epochs per model\n")
    tmp = out / f".runs.{os.getpid()}.db"
    store = RunStore(tmp)
    profiler_kwargs = {"country": country} if country else {}
    models = {
        "logistic": (Model(x.shape[1], 0, lr=0.5, seed=seed), xt, yt),
        "mlp-16": (Model(x.shape[1], 16, lr=0.5, seed=seed), xt, yt),
        "mlp-128": (Model(x.shape[1], 128, lr=0.5, seed=seed), xt, yt),
        # a wide network on 3% of the data: it learns the training set by heart
        "mlp-256-small": (Model(x.shape[1], 256, lr=0.5, seed=seed), xt[:1200], yt[:1200]),
    }
    _warm_up()  # compile the kernels now, not inside the first run's energy window
    for name, (model, xs, ys) in models.items():
        train_run(store, name, model, xs, ys, xv, yv, epochs, 64, profiler_kwargs, log)
    ranked = store.compare(dataset=DATASET, score="acc-gco2e", accuracy="val_accuracy")
    log("\nranked by acc-gCO2e = 0.8 x val accuracy + 0.2 x (1 - minmax(gCO2e)):")
    for r in ranked:
        log(f"  {r.rank}. {r.run.name:<14} score {r.score:.4f}  val accuracy "
            f"{r.accuracy:.4f}  {r.cost * 1e3:.3f} mgCO2e")
    log("\ndiagnosis:")
    for r in ranked:
        lines = [str(f) for f in diagnose(r.run)] + r.run.summary.get("findings", [])
        log(f"  {r.run.name}: " + ("; ".join(lines) or "no finding"))
    final = out / "runs.db"
    report = write_report(store, out / "report.html", dataset=DATASET, score="acc-gco2e",
                          accuracy="val_accuracy", source=str(final))
    store.close()
    tmp.replace(final)
    log(f"\nruns: {final}\nreport: {report}")
    return final, report
