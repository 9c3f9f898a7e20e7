"""gpumetrics: machine-learning metrics where the data is, with the energy, FLOPs and
diagnosis around them. Commands: demo, batched-demo, score, profile, compare, report, info;
`gpumetrics COMMAND --help` describes each."""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from gpumetrics._files import unwritable, write_atomic


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

    problem = _carbon_flags(args, "demo")
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

    problem = _backend_problem(args.backend)
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
    from gpumetrics.energy import sources

    try:
        nvml = sources.load_nvml()
    except sources.SourceUnavailable as exc:
        return f"not usable: {exc}; GPU energy is estimated or absent"
    gpus = len(sources.visible_gpus(nvml))
    return f"usable: {gpus} GPU(s) measured"


def _rapl_probe() -> str:
    from gpumetrics.energy import sources

    try:
        rapl = sources.Rapl()
    except sources.SourceUnavailable as exc:
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


def _backend_problem(backend: str | None) -> str | None:
    """Why the backend of ``--backend`` (or of ``GPUMETRICS_BACKEND``) cannot run here, as
    one line naming where it came from, or None."""
    from gpumetrics import dispatch

    try:
        dispatch.resolve(backend)
    except (dispatch.BackendUnavailableError, ValueError) as exc:
        source = (f"--backend {backend}" if backend is not None
                  else f"{dispatch.ENV_VAR}={os.environ.get(dispatch.ENV_VAR, '')}")
        return f"{source}: {exc}"
    return None


def _fail(message: str) -> int:
    """Report bad input as one printable line on stderr; exit code 2."""
    text = " ".join(str(message).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    print(f"gpumetrics score: error: {text}", file=sys.stderr)
    return 2


def score(args) -> int:
    """Score prediction files; bad input is one line on stderr and exit code 2."""
    import json
    from pathlib import Path

    from gpumetrics import cli_score, scoring
    from gpumetrics.parquet_checksums import unchecked_parquet

    problem = _backend_problem(args.backend)  # before any file is read
    if problem:
        return _fail(problem)
    paths = [Path(p) for p in args.paths]
    out = Path(args.out) if args.out else None
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    start = time.perf_counter()
    with cli_score.one_line_warnings("gpumetrics score"):
        try:
            plan = cli_score.plan(
                y_true=args.y_true, y_pred=args.y_pred, y_score=args.y_score,
                sample_weight=args.sample_weight, task=args.task, num_classes=args.num_classes,
                metrics=args.metrics, average=args.average, thresholds=args.thresholds,
                exact=args.exact, k=args.k, threshold=args.threshold, backend=args.backend)
            metrics = cli_score.build_metrics(plan.metrics, plan.options, plan.scores)
            if out and (problem := unwritable(out)):
                return _fail(f"{out}: cannot write the result: {problem}")
            if args.exact and cli_score.RANKING & set(plan.metrics):
                print("gpumetrics score: warning: --exact keeps every score in memory: memory "
                      "grows with the data (the default binned mode does not)", file=sys.stderr)
            if args.dask_scheduler:
                results, rows = scoring.score_on_cluster(paths, metrics, plan.columns,
                                                         args.dask_scheduler)
            else:
                rows = scoring.score_files(paths, metrics, plan.columns,
                                           batch_size=args.batch_size, progress=progress,
                                           progress_delay=0.5 if args.progress is None else 0)
                results = metrics.compute()
        except scoring.ScoreError as exc:
            return _fail(str(exc))
        except (ValueError, ZeroDivisionError) as exc:  # raised by compute() from the states
            return _fail(f"{', '.join(map(str, paths))}: {exc}")
        except KeyboardInterrupt:
            _fail("interrupted")
            return 130
    if args.dask_scheduler and any(p.suffix.lower() == ".parquet" for p in paths):
        print("gpumetrics score: warning: --dask-scheduler: the cluster's workers do not "
              "verify Parquet page checksums", file=sys.stderr)
    for path in ([] if args.dask_scheduler else unchecked_parquet(paths)):
        print(f"gpumetrics score: warning: {path}: its pages carry no checksums, so "
              "corruption inside a page could not be detected (write it with pyarrow's "
              "write_page_checksum=True)", file=sys.stderr)
    result = cli_score.report(results, rows=rows, paths=paths, task=plan.options.task,
                              seconds=time.perf_counter() - start,
                              bins=None if args.exact else args.thresholds)
    text = json.dumps(result, indent=1)
    if out:
        try:
            write_atomic(out, text + "\n")
        except OSError as exc:
            return _fail(f"{out}: cannot write the result ({exc})")
    print(text if args.json else cli_score.table(result))
    return 0


def _number(minimum: float, inclusive: bool = True, maximum: float = float("inf")):
    """An argparse type: a finite number of at least (or above) ``minimum`` and at most
    ``maximum``; else a usage error naming the flag (exit 2)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        low = value >= minimum if inclusive else value > minimum
        if not (low and value <= maximum and math.isfinite(value)):
            bound = (f"at least {minimum:g}" if inclusive else f"above {minimum:g}") + (
                f" and at most {maximum:g}" if math.isfinite(maximum) else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}; got {text}")
        return value
    return parse


def _carbon_flags(args, command: str) -> str | None:
    """The error of ``--country`` / ``--region`` as one line naming the flag, or None."""
    from gpumetrics.energy import carbon

    for flag, value, look_up in (("--country", args.country, carbon.country),
                                 ("--region", getattr(args, "region", None), carbon.region)):
        if value is not None:
            try:
                look_up(value)
            except ValueError as exc:
                return f"gpumetrics {command}: {flag}: {exc}"
    return None


def _positive(minimum: int = 1):
    """An argparse type: an integer of at least ``minimum`` (else a usage error, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(float(text)) if "e" in text.lower() else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value
    return parse


def _add_score_parser(sub) -> None:
    from gpumetrics import cli_score, scoring
    from gpumetrics.dispatch import BACKENDS

    p = sub.add_parser(
        "score", help="score prediction files larger than memory",
        description="Score Parquet, CSV or .npy prediction files, streamed in bounded memory. "
        "Several files are scored as one dataset. Ranking metrics are binned (their error "
        "bound is printed) unless --exact.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".parquet/.pq, .csv/.csv.gz or .npy (2-D: columns 0, 1, ...)")
    p.add_argument("--y-true", required=True, metavar="COL",
                   help="column of true labels or targets (multilabel: one per label)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--y-pred", metavar="COL",
                       help="column of predicted labels (or one score column)")
    group.add_argument("--y-score", metavar="COL[,COL...]",
                       help="score column(s), e.g. one probability per class")
    p.add_argument("--sample-weight", metavar="COL", help="column of sample weights")
    p.add_argument("--task", default=None, choices=cli_score.TASKS,
                   help="default: from the columns (several --y-score columns for one "
                   "--y-true: multiclass; as many --y-true columns: multilabel; "
                   "--num-classes above 2: multiclass; else binary)")
    p.add_argument("--num-classes", type=_positive(2), metavar="C",
                   help="classes of a multiclass task")
    p.add_argument("--metrics", metavar="NAME[,NAME...]",
                   help="metrics to compute (default: per task); names: accuracy, f1, "
                   "precision, recall, specificity, jaccard, balanced_accuracy, mcc, kappa, "
                   "confusion_matrix, hamming_loss, top_k, auroc, average_precision, log_loss, "
                   "cross_entropy, mse, rmse, mae, mape, r2, explained_variance, pearson, "
                   "max_error")
    p.add_argument("--average",
                   choices=("binary", "micro", "macro", "weighted", "samples", "none"),
                   help="average of precision, recall, f1, jaccard, specificity, auroc, "
                   "average_precision (none: one value per class)")
    p.add_argument("--thresholds", type=_positive(2), default=cli_score.DEFAULT_BINS, metavar="B",
                   help="equal bins over [0, 1] of the ranking metrics (default 4096): "
                   "bounded memory; every value comes with its error bound")
    p.add_argument("--exact", action="store_true",
                   help="exact ranking metrics (keeps every score: memory grows with data)")
    p.add_argument("--threshold", type=float, default=0.5, metavar="T",
                   help="scores >= T are positive for the label metrics (default 0.5)")
    p.add_argument("--k", type=_positive(), default=2, help="k of top_k (default 2)")
    p.add_argument("--batch-size", type=_positive(), default=scoring.DEFAULT_BATCH, metavar="N",
                   help="rows per batch (default 2,000,000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", metavar="FILE",
                   help="also write the JSON result to FILE (atomically)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="compute on the Dask cluster at ADDRESS (Parquet or CSV files)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="kernel backend (default: the fastest that runs here)")
    p.set_defaults(func=score)


def profile(args) -> int:
    """Run a command under the energy profiler; print its report; exit with its code."""
    import subprocess

    from gpumetrics.energy import EnergyProfiler

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    problems = [_carbon_flags(args, "profile")] + [
        f"gpumetrics profile: {flag} {Path(path)}: {problem}"
        for flag, path in (("--csv", args.csv), ("--out", args.out))
        if path and (problem := unwritable(Path(path)))]
    if not command:
        problems.append("gpumetrics profile: give a command after --, e.g. "
                        "gpumetrics profile -- python train.py")
    problems = [p for p in problems if p]
    if problems:  # before the command runs: its work is never lost to a bad flag
        print(problems[0], file=sys.stderr)
        return 2
    try:
        profiler = EnergyProfiler(carbon_intensity=args.carbon_intensity, country=args.country,
                                  region=args.region, pue=args.pue, interval_s=args.interval,
                                  project=args.project, output_csv=args.csv,
                                  scope=args.scope)
        profiler.start()
    except (ValueError, RuntimeError) as exc:
        print(f"gpumetrics profile: {exc}", file=sys.stderr)
        return 2
    try:
        code = subprocess.call(command, env=_CALLER_ENV)
    except OSError as exc:
        profiler.stop()
        print(f"gpumetrics profile: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        code = 130
    try:
        report = profiler.stop()  # appends to --csv
    except (OSError, ValueError) as exc:  # the command ran: its code stands
        report = profiler.report
        print(f"gpumetrics profile: warning: --csv {args.csv}: not written ({exc})",
              file=sys.stderr)
    print(report.to_json(indent=1) if args.json else report, file=sys.stderr)
    if args.out:
        try:
            write_atomic(Path(args.out), report.to_json(indent=1) + "\n")
        except OSError as exc:
            print(f"gpumetrics profile: warning: --out {args.out}: not written ({exc})",
                  file=sys.stderr)
    return code


def _on_store(command: str, store_path: str, action) -> int:
    """``action(store)`` on an existing run store; bad input is one line, exit code 2."""
    from gpumetrics.runs import RunStore

    path = Path(store_path)
    if not path.exists():
        print(f"gpumetrics {command}: {path} does not exist", file=sys.stderr)
        return 2
    try:
        with RunStore(path) as store:
            return action(store)
    except BrokenPipeError:  # the reader of the output left: main() ends quietly
        raise
    except (ValueError, OSError, ImportError) as exc:
        print(f"gpumetrics {command}: {exc}", file=sys.stderr)
        return 2


def _check_dataset(store, args) -> None:
    """With several datasets in the store, ``--dataset`` must name one (as a flag)."""
    if args.dataset is None and len(names := store.datasets()) > 1:
        raise ValueError(f"{store.path} holds runs of several datasets ({', '.join(names)}); "
                         "give --dataset NAME")


def compare(args) -> int:
    """Rank the runs of one dataset of a run store by a mixed score."""
    import json

    from gpumetrics.runs.ranking_text import ranking_rows, ranking_table

    def ranked_rows(store):
        _check_dataset(store, args)
        ranked = store.compare(dataset=args.dataset, score=args.score,
                               accuracy=args.accuracy, weight=args.weight)
        if args.json:
            print(json.dumps(ranking_rows(ranked), indent=1))
        else:
            print(ranking_table(ranked))
        return 0

    return _on_store("compare", args.store, ranked_rows)


def report(args) -> int:
    """Write the HTML comparison report of a run store."""
    from gpumetrics.runs.report import write_report

    problem = unwritable(Path(args.output))
    if problem:
        print(f"gpumetrics report: -o/--output {Path(args.output)}: {problem}", file=sys.stderr)
        return 2

    def write(store):
        _check_dataset(store, args)
        print(write_report(store, args.output, dataset=args.dataset, score=args.score,
                           accuracy=args.accuracy, weight=args.weight))
        return 0

    return _on_store("report", args.store, write)


def _add_ranking_options(p) -> None:
    from gpumetrics.runs import SCORES
    from gpumetrics.runs.scores import DEFAULT_ACCURACY, DEFAULT_WEIGHT

    p.add_argument("store", metavar="STORE", help="run store (SQLite file)")
    p.add_argument("--dataset", help="dataset to rank (needed when the store holds several)")
    p.add_argument("--score", default="acc-gco2e", choices=sorted(SCORES),
                   help="mixed score to rank by (default acc-gco2e)")
    p.add_argument("--accuracy", default=DEFAULT_ACCURACY, metavar="METRIC",
                   help=f"logged accuracy to weigh (default {DEFAULT_ACCURACY}; "
                   "train_accuracy for the scores' original definition)")
    p.add_argument("--weight", type=_number(0, maximum=1), default=DEFAULT_WEIGHT,
                   help=f"weight of the accuracy, in [0, 1] (default {DEFAULT_WEIGHT:g})")


def _add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="rank the runs of a run store by a mixed score",
                       description="Rank the runs of one dataset: score = w x accuracy + "
                       "(1 - w) x (1 - minmax(cost)) over the runs, 1 best.")
    _add_ranking_options(p)
    p.add_argument("--json", action="store_true", help="print JSON rows")
    p.set_defaults(func=compare)

    p = sub.add_parser("report", help="write an HTML page comparing a run store's runs")
    _add_ranking_options(p)
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="the page to write (default report.html)")
    p.set_defaults(func=report)


def _add_profile_parser(sub) -> None:
    p = sub.add_parser(
        "profile", help="run a command and report its energy (kWh) and emissions (gCO2e)",
        description="Run CMD under the energy profiler: GPUs by NVML, CPU and DRAM by RAPL, "
        "else estimated from power ratings and utilisation (each figure says which), "
        "charged to CMD's process tree unless --scope machine. The report goes to stderr; "
        "the exit code is the command's.")
    p.add_argument("--country", help="country for the carbon intensity: ISO alpha-2 or "
                   "alpha-3 code, or name (FR, FRA, France)")
    p.add_argument("--region", help="cloud region, e.g. aws:eu-west-1 or europe-west4")
    p.add_argument("--carbon-intensity", type=_number(0), metavar="G_PER_KWH",
                   help="gCO2e per kWh (over --country and --region)")
    p.add_argument("--scope", choices=("process", "machine"), default="process",
                   help="whose energy: CMD's process tree (default; CPU time, memory and "
                   "GPU share) or the whole machine (every process)")
    p.add_argument("--pue", type=_number(1), default=1.0,
                   help="power usage effectiveness of the facility, >= 1 (default 1)")
    p.add_argument("--interval", type=_number(0, inclusive=False), default=0.1, metavar="S",
                   help="sampling interval in seconds (default 0.1)")
    p.add_argument("--project", help="project name for the emissions file")
    p.add_argument("--csv", metavar="FILE", help="append the run to this emissions CSV")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]",
                   help="the command to run and profile, after --")
    p.set_defaults(func=profile)


_CALLER_ENV = dict(os.environ)  # as the caller set it, for the commands `profile` runs


def _quiet_openmp() -> None:
    """Let idle OpenMP workers sleep (unless the caller chose a policy). With the default
    policy Numba's idle workers spin between kernel calls and take the cores that the file
    reader of ``score`` (or any other process) needs. Read when the OpenMP runtime loads,
    which the commands do later."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv=None) -> int:
    """Run one command; a closed output pipe (``gpumetrics demo | head``) ends it quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:
        if not _stdout_reader_left():  # another pipe (a socket, a child): a real error
            raise
        try:  # say nothing more; the interpreter's final flush of stdout goes nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1


def _stdout_reader_left() -> bool:
    """Whether stdout is a pipe whose reader has gone (the write end reports an error);
    True where that cannot be asked (no poll), the usual cause of a broken pipe here."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError):
        return True


def _main(argv=None) -> int:
    _quiet_openmp()
    args = build_parser().parse_args(argv)
    return args.func(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``gpumetrics`` parser and its subcommands."""
    import gpumetrics
    from gpumetrics.dispatch import BACKENDS

    parser = argparse.ArgumentParser(prog="gpumetrics", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"gpumetrics {gpumetrics.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("demo", help="train small models, evaluate every epoch, profile "
                       "their energy, rank them and write an HTML report")
    p.add_argument("--out", default="gpumetrics-demo", metavar="DIR",
                   help="where runs.db and report.html go (default gpumetrics-demo)")
    p.add_argument("--samples", type=_positive(100), default=40_000,
                   help="training samples (default 40,000)")
    p.add_argument("--epochs", type=_positive(), default=12,
                   help="epochs per model (default 12)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--country", help="country for the carbon intensity: ISO alpha-2 or "
                   "alpha-3 code, or name (default: world average)")
    p.add_argument("--scope", choices=("process", "machine"), default="process",
                   help="charge each run its own process tree (default) or the whole machine")
    p.set_defaults(func=demo)
    p = sub.add_parser("batched-demo",
                       help="score synthetic model checkpoints in one batched launch")
    p.add_argument("--samples", type=_positive(), default=1_000_000,
                   help="samples per checkpoint (default 1,000,000)")
    p.add_argument("--classes", type=_positive(2), default=10,
                   help="classes (default 10)")
    p.add_argument("--checkpoints", type=_positive(), default=8,
                   help="checkpoints, scored in one launch (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="kernel backend (default: from the data's device)")
    p.set_defaults(func=batched_demo)
    _add_score_parser(sub)
    _add_profile_parser(sub)
    _add_compare_parser(sub)
    p = sub.add_parser("info", help="show versions, the backends that can run here and "
                       "what each optional capability needs")
    p.set_defaults(func=info)
    return parser


if __name__ == "__main__":
    sys.exit(main())
