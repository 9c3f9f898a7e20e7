"""``gpumetrics demo`` (train small models, evaluate, profile their energy, rank them and
write an HTML report: ``gpumetrics.runs.demo``) and ``gpumetrics batched-demo`` (score
synthetic checkpoints in one batched launch): their flags and what each runs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from gpumetrics.cli_args import backend_problem, carbon_flags, positive


def _synthetic_checkpoints(n_samples: int, n_classes: int, n_checkpoints: int, seed: int):
    """Labels of an imbalanced task and the predictions of checkpoints that improve with
    training: checkpoint k is right with probability rising from chance to ~0.9, and its
    mistakes lean towards the majority class."""
    rng = np.random.default_rng(seed)
    prior = np.geomspace(1.0, 0.05, n_classes)
    prior /= prior.sum()
    y_true = rng.choice(n_classes, size=n_samples, p=prior).astype(np.int32)
    skill = np.linspace(1.0 / n_classes, 0.9, n_checkpoints)
    right = rng.random((n_checkpoints, n_samples)) < skill[:, None]
    guesses = rng.choice(n_classes, size=(n_checkpoints, n_samples), p=prior).astype(np.int32)
    return y_true, np.where(right, y_true, guesses)


def demo(args) -> int:
    """The main job: train, evaluate, profile, store, rank, report."""
    from gpumetrics.runs.demo import run_demo

    problem = carbon_flags(args, "demo")
    out = Path(args.out)
    if problem is None and out.exists() and not out.is_dir():
        problem = f"gpumetrics demo: --out {out}: is a file; give a folder"
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if problem is None and not os.access(existing, os.W_OK):  # made with its parents
        problem = f"gpumetrics demo: --out {out}: {existing} is not writable"
    if problem:  # before anything is printed or written
        print(problem, file=sys.stderr)
        return 2
    try:
        run_demo(args.out, samples=args.samples, epochs=args.epochs, seed=args.seed,
                 country=args.country, scope=args.scope)
    except (ValueError, ImportError) as exc:
        print(f"gpumetrics demo: {exc}", file=sys.stderr)
        return 2
    return 0


def batched_demo(args) -> int:
    import gpumetrics
    from gpumetrics import batched, dispatch

    problem = backend_problem(args.backend)
    if problem:
        print(f"gpumetrics batched-demo: {problem}", file=sys.stderr)
        return 2
    backend = dispatch.resolve(args.backend)
    y_true, y_pred = _synthetic_checkpoints(args.samples, args.classes, args.checkpoints,
                                            args.seed)
    print(f"gpumetrics {gpumetrics.__version__} demo: {args.checkpoints} checkpoints x "
          f"{args.samples:,} samples, {args.classes} classes, backend={backend}\n")
    C = args.classes
    start = time.perf_counter()
    columns = {
        "accuracy": batched.accuracy_score(y_true, y_pred, num_classes=C, backend=backend),
        "balanced": batched.balanced_accuracy_score(y_true, y_pred, num_classes=C,
                                                    backend=backend),
        "macro F1": batched.f1_score(y_true, y_pred, average="macro", num_classes=C,
                                     backend=backend),
        "MCC": batched.matthews_corrcoef(y_true, y_pred, num_classes=C, backend=backend),
        "kappa": batched.cohen_kappa_score(y_true, y_pred, num_classes=C, backend=backend),
    }
    seconds = time.perf_counter() - start
    header = f"{'checkpoint':>10} " + " ".join(f"{name:>9}" for name in columns)
    print(header)
    print("-" * len(header))
    for k in range(args.checkpoints):
        print(f"{k:>10} " + " ".join(f"{values[k]:>9.4f}" for values in columns.values()))
    best = int(np.argmax(columns["macro F1"]))
    majority = np.bincount(y_true).max() / y_true.shape[0]
    print(f"\nmajority-class baseline accuracy: {majority:.4f}")
    print(f"best checkpoint by macro F1: {best}\n")
    print(gpumetrics.classification_report(y_true, y_pred[best], digits=3))
    print(f"{len(columns)} batched metrics over {args.checkpoints} checkpoints in "
          f"{seconds * 1e3:.1f} ms ({y_pred.size / seconds / 1e6:.0f} M predictions/s, "
          "first call includes kernel compilation)")
    return 0


def add_parsers(sub) -> None:
    """The ``demo`` and ``batched-demo`` subcommands."""
    from gpumetrics.dispatch import BACKENDS

    p = sub.add_parser("demo", help="train small models, evaluate every epoch, profile "
                       "their energy, rank them and write an HTML report")
    p.add_argument("--out", default="gpumetrics-demo", metavar="DIR",
                   help="where runs.db and report.html go (default gpumetrics-demo)")
    p.add_argument("--samples", type=positive(100), default=40_000,
                   help="training samples (default 40,000)")
    p.add_argument("--epochs", type=positive(), default=12,
                   help="epochs per model (default 12)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--country", help="country for the carbon intensity: ISO alpha-2 or "
                   "alpha-3 code, or name (default: world average)")
    p.add_argument("--scope", choices=("process", "machine"), default="process",
                   help="charge each run its own process tree (default) or the whole machine")
    p.set_defaults(func=demo)
    p = sub.add_parser("batched-demo",
                       help="score synthetic model checkpoints in one batched launch")
    p.add_argument("--samples", type=positive(), default=1_000_000,
                   help="samples per checkpoint (default 1,000,000)")
    p.add_argument("--classes", type=positive(2), default=10,
                   help="classes (default 10)")
    p.add_argument("--checkpoints", type=positive(), default=8,
                   help="checkpoints, scored in one launch (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="kernel backend (default: from the data's device)")
    p.set_defaults(func=batched_demo)
