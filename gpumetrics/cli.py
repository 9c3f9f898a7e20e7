"""Command line: ``gpumetrics demo`` and ``gpumetrics info``."""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np


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
    import gpumetrics
    from gpumetrics import batched, dispatch

    y_true, y_pred = _synthetic_checkpoints(args.samples, args.classes, args.checkpoints,
                                            args.seed)
    backend = dispatch.resolve(args.backend)
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


def info(args) -> int:
    import numpy

    import gpumetrics
    from gpumetrics import dispatch

    print(f"gpumetrics {gpumetrics.__version__}, Python {platform.python_version()}, "
          f"NumPy {numpy.__version__}")
    print(f"backends available: {', '.join(dispatch.available())}")
    reason = dispatch.cuda_unavailable_reason()
    if reason:
        print(f"cuda: {reason}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gpumetrics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="score synthetic model checkpoints in one batched launch")
    p.add_argument("--samples", type=int, default=1_000_000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--checkpoints", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, help="reference, cpu or cuda (default: auto)")
    p.set_defaults(func=demo)
    p = sub.add_parser("info", help="show versions and the backends that can run here")
    p.set_defaults(func=info)
    args = parser.parse_args(argv)
    for name in ("samples", "classes", "checkpoints"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} must be a positive integer")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
