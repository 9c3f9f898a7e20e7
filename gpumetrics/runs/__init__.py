"""Training runs: epoch histories with vgap, early stopping and diagnosis, an embedded run
store, and mixed scores that weigh accuracy against gCO2e, FLOPs or vgap.

    from gpumetrics.runs import EarlyStopping, RunStore, diagnose

    store = RunStore("runs.db")
    stop = EarlyStopping("val_loss", patience=3)
    with store.start_run("mlp-small", experiment="sweep-1", dataset="fraud",
                         params={"lr": 1e-3}) as run:  # failed on an exception
        for epoch in range(run.next_epoch, 50):
            ...
            run.log_epoch(epoch, train_loss=tl, val_loss=vl, val_accuracy=va, gco2e=g)
            if stop.step(vl):
                break
        run.finish(energy=profiler.report, flops=flops)
    print(diagnose(run), store.compare(dataset="fraud", score="acc-gco2e"))
"""

from gpumetrics.runs.diagnosis import (
    EarlyStopping,
    Finding,
    diagnose,
    diagnose_predictions,
    optimal_epoch,
    run_findings,
)
from gpumetrics.runs.scores import SCORES, mixed_scores, rank_runs
from gpumetrics.runs.store import Epoch, Run, RunStore

__all__ = ["SCORES", "EarlyStopping", "Epoch", "Finding", "Run", "RunStore", "diagnose",
           "diagnose_predictions", "mixed_scores", "optimal_epoch", "rank_runs",
           "run_findings"]
