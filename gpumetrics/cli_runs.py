"""``gpumetrics compare`` (rank the runs of a run store by a mixed score) and ``gpumetrics
report`` (write the HTML page comparing them): their flags and what each runs. The store
must exist; bad input is one line on stderr, exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

from gpumetrics._files import unwritable
from gpumetrics.cli_args import number


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
    p.add_argument("--weight", type=number(0, maximum=1), default=DEFAULT_WEIGHT,
                   help=f"weight of the accuracy, in [0, 1] (default {DEFAULT_WEIGHT:g})")


def add_parsers(sub) -> None:
    """The ``compare`` and ``report`` subcommands."""
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
