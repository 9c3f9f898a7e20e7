"""The demo: train a few small NumPy models on a generated, imbalanced binary task, in
turns, one epoch each; evaluate every epoch with a ``MetricSet``; charge each run the
energy of its own turns; keep the runs in a store; rank them with the mixed scores;
write the HTML report."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import gpumetrics as gm
from gpumetrics import flops as F
from gpumetrics import metrics as M
from gpumetrics._units import co2e_unit, flops_unit
from gpumetrics.energy import EnergyProfiler, EnergyReport
from gpumetrics.runs.charts import require_matplotlib
from gpumetrics.runs.diagnosis import diagnose_predictions, run_findings
from gpumetrics.runs.ranking_text import ranking_table
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


def evaluate(model: Model, x, y) -> tuple[dict, float]:
    """The epoch's evaluation: accuracy, F1 and binned AUROC from one ``MetricSet`` fed in
    batches, as an evaluation loop would, and the binary cross-entropy."""
    _, z = model.forward(x)
    metrics = M.MetricSet({"accuracy": M.Accuracy(), "f1": M.F1Score(),
                           "auroc": M.AUROC(thresholds=1024)})
    for i in range(0, len(y), 4096):
        metrics.update(y[i:i + 4096], 1 / (1 + np.exp(-z[i:i + 4096])))
    return metrics.compute(), gm.binary_cross_entropy(y, z, from_logits=True)


def _thin(*curve, points: int = 400):
    """At most ``points`` points of a curve, its first and last always among them."""
    n = len(curve[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(np.int64))
    return [np.asarray(c)[keep] for c in curve]


@dataclass
class Candidate:
    """One model of the comparison, its data and its run; its energy is the sum of its
    own turns under the profiler they all share."""

    name: str
    model: Model
    x: np.ndarray
    y: np.ndarray
    run: object = None
    flops: F.Flops = field(default_factory=lambda: F.Flops(0.0))
    turns: list = field(default_factory=list)

    def start(self, store, epochs: int, batch: int) -> None:
        self.run = store.start_run(
            self.name, experiment="demo", dataset=DATASET,
            params={"hidden": self.model.hidden, "lr": self.model.lr, "epochs": epochs,
                    "train_samples": len(self.y), "batch": batch})
        self.rng = np.random.default_rng(self.model.seed)

    def epoch(self, epoch: int, xv, yv, batch: int, profiler) -> dict:
        """Train one epoch and evaluate it, in a turn of its own under ``profiler``."""
        before = profiler.lap()
        order = self.rng.permutation(len(self.y))
        for i in range(0, len(self.y), batch):
            idx = order[i:i + batch]
            self.model.step(self.x[idx], self.y[idx])
        train, train_loss = evaluate(self.model, self.x, self.y)
        val, val_loss = evaluate(self.model, xv, yv)
        self.turns.append(profiler.lap().minus(before))
        forward = self.model.forward_flops
        self.flops = (self.flops + F.training_step(forward(len(self.y)))
                      + forward(len(self.y)) + forward(len(yv)))
        energy = EnergyReport.total(self.turns)
        self.run.log_epoch(epoch, train_loss=train_loss, val_loss=val_loss,
                           train_accuracy=train["accuracy"], val_accuracy=val["accuracy"],
                           val_f1=val["f1"], val_auroc=val["auroc"].value, flops=self.flops,
                           energy=energy, wall_s=energy.duration_s)
        return val

    def finish(self, xv, yv) -> EnergyReport:
        _, z = self.model.forward(xv)
        pred = (z >= 0).astype(np.int64)
        fpr, tpr = _thin(*gm.roc_curve(yv, z)[:2])
        precision, recall = _thin(*gm.precision_recall_curve(yv, z)[:2])
        energy = EnergyReport.total(self.turns)
        self.run.finish(energy=energy, flops=self.flops,
                        confusion_matrix=gm.confusion_matrix(yv, pred, labels=[0, 1]),
                        labels=["legit", "fraud"], roc={"fpr": fpr, "tpr": tpr},
                        pr={"recall": recall, "precision": precision},
                        roc_auc=gm.roc_auc_score(yv, z),
                        average_precision=gm.average_precision_score(yv, z),
                        findings=diagnose_predictions(yv, pred))
        return energy


def train(store, candidates: list[Candidate], xv, yv, epochs: int, batch: int,
          profiler_kwargs: dict, log) -> None:
    """Train the candidates in turns, one epoch each, under one profiler: a spell in which
    the machine runs slower (another tenant, a lower clock) falls on all of them alike
    instead of on whichever ran then, and their comparison stays the same from one
    launch to the next. Each is charged its own turns only."""
    for c in candidates:
        c.start(store, epochs, batch)
    with EnergyProfiler(**profiler_kwargs) as profiler:
        for epoch in range(epochs):
            last = {c.name: c.epoch(epoch, xv, yv, batch, profiler) for c in candidates}
    for c in candidates:
        energy = c.finish(xv, yv)
        val = last[c.name]
        log(f"  {c.name:<14} val accuracy {val['accuracy']:.4f}  F1 {val['f1']:.3f}  "
            f"AUROC {val['auroc'].value:.3f}  {flops_unit([c.flops.flops]).format(c.flops.flops)}"
            f"  {co2e_unit([energy.gco2e]).format(energy.gco2e)} ({energy.method}, "
            f"{energy.scope})")


def _warm_up(x, y, xv, yv, profiler_kwargs) -> None:
    """One epoch of a small model through the whole pipeline, on the real data, into a
    scratch store, before any real run: every kernel is compiled (or loaded from Numba's
    cache) for the dtypes the runs use (float32 scores, int64 labels), and every
    first-call cost (imports, the first profile and store write, the allocator learning
    the arrays' sizes) is paid here, so that no run is charged for it."""
    with tempfile.TemporaryDirectory() as scratch, RunStore(Path(scratch) / "w.db") as store:
        train(store, [Candidate("warm-up", Model(x.shape[1], 4, lr=0.1), x, y)], xv, yv, 1,
              64, profiler_kwargs, log=lambda *a: None)


def run_demo(out_dir: str | os.PathLike = "gpumetrics-demo", *, samples: int = 40_000,
             epochs: int = 12, seed: int = 0, country: str | None = None,
             scope: str = "process", log=print) -> tuple[Path, Path]:
    """Train, evaluate, profile, store, rank and report; returns (store, report) paths.
    ``scope`` is the profiler's: each run's own process tree, or the whole machine."""
    out = Path(out_dir)
    x, y = make_data(samples + samples // 4, seed=seed)
    xt, yt, xv, yv = x[:samples], y[:samples], x[samples:], y[samples:]
    profiler_kwargs = {"scope": scope, **({"country": country} if country else {})}
    EnergyProfiler(**profiler_kwargs)  # a bad --country fails here, before any output
    require_matplotlib()  # and a missing plotting library, before any training
    out.mkdir(parents=True, exist_ok=True)
    log(f"gpumetrics {gm.__version__} demo: {samples:,} training samples "
        f"({yt.mean():.1%} positive), {len(yv):,} validation, {epochs} epochs per model\n")
    tmp = out / f".runs.{os.getpid()}.db"
    store = RunStore(tmp)
    try:
        candidates = [
            Candidate("logistic", Model(x.shape[1], 0, lr=0.5, seed=seed), xt, yt),
            Candidate("mlp-16", Model(x.shape[1], 16, lr=0.5, seed=seed), xt, yt),
            Candidate("mlp-128", Model(x.shape[1], 128, lr=0.5, seed=seed), xt, yt),
            # a wide network on 3% of the data: it learns the training set by heart
            Candidate("mlp-256-small", Model(x.shape[1], 256, lr=0.5, seed=seed),
                      xt[:1200], yt[:1200]),
        ]
        # matrices of at most 64 x 256: BLAS threads would only spin between calls, adding
        # CPU time that changes from one run to the next
        with threadpool_limits(limits=1, user_api="blas"):
            _warm_up(xt, yt, xv, yv, profiler_kwargs)
            train(store, candidates, xv, yv, epochs, 64, profiler_kwargs, log)
        ranked = store.compare(dataset=DATASET, score="acc-gco2e")
        log("\nranked by " + ranking_table(ranked))
        energy = ranked[0].run.summary["energy"]
        whose = ("this process tree (its CPU time and resident memory)"
                 if energy["scope"] == "process" else "the whole machine")
        log(f"\nenergy: {energy['method']}, scope: {whose}; carbon intensity "
            f"{energy['carbon_intensity_g_per_kwh']:.4g} gCO2e/kWh "
            f"({energy['carbon_intensity_source']})")
        log("\ndiagnosis:")
        for r in ranked:
            findings = run_findings(r.run)
            log(f"  {r.run.name}: " + ("no finding" if not findings else ""))
            for f in findings:
                log(f"    {f}")
        final = out / "runs.db"
        report = write_report(store, out / "report.html", dataset=DATASET, score="acc-gco2e",
                              source=str(final))
    except BaseException:
        store.close()
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    store.close()
    tmp.replace(final)
    log(f"\nruns: {final}\nreport: {report}")
    return final, report
