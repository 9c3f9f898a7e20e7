"""gpumetrics: machine-learning metrics where the data is, with the energy, FLOPs and
diagnosis around them. Commands: demo, batched-demo, score, profile, compare, report, info;
`gpumetrics COMMAND --help` describes each."""

from __future__ import annotations

import argparse
import gc
import os
import sys

# at import, before main() changes os.environ: cli_profile keeps the caller's
from gpumetrics import cli_demo, cli_info, cli_profile, cli_runs, cli_score

GC_THRESHOLD = 50_000  # allocations between young-generation collections (Python's: 700)


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


def run() -> int:
    """The process entry point (``gpumetrics``, ``python -m gpumetrics``): ``main``, in a
    process that ends when it returns. Start-up allocates hundreds of thousands of
    long-lived objects (Numba's type registries above all), so the collector runs its
    youngest generation less often, and the objects left at the end are frozen: the
    interpreter need not walk them all again on its way out (a quarter of a second)."""
    threshold, *older = gc.get_threshold()
    gc.set_threshold(max(threshold, GC_THRESHOLD), *older)
    try:
        return main()
    finally:
        gc.freeze()


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

    parser = argparse.ArgumentParser(prog="gpumetrics", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"gpumetrics {gpumetrics.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (cli_demo, cli_score, cli_profile, cli_runs, cli_info):  # the help's order
        commands.add_parsers(sub)
    return parser


if __name__ == "__main__":
    sys.exit(run())
