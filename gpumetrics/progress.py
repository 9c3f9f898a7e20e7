"""The progress bar of ``gpumetrics score``: rows counted so far out of the files' total, with
rate and time left, on stderr. The total comes from the readers before anything is read:
exact where the files' metadata holds it (Parquet, ``.npy``), estimated for CSV files; a bar
of an estimated total says so (``~total``) and ends on the true count."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpumetrics.readers import Reader


class Progress:
    """A tqdm bar on stderr of the rows counted so far (not read ahead), of the ``readers``'
    total rows, with rate and time left. Where a reader knows only an estimate (a CSV file's,
    from the bytes per line of its first MiB) the total is shown as ``~total``, raised if the
    count passes it, and set to the true count at the end. Drawn once a run has lasted
    ``delay`` seconds; after a failure, erased."""

    def __init__(self, readers: list[Reader], enabled: bool, stream=None, delay: float = 0.5):
        self.bar, self.delay = None, delay
        if not enabled:
            return
        from tqdm import tqdm

        counts = [r.estimated_rows() for r in readers]
        self.estimated = any(r.total_rows is None for r in readers)
        total = None if None in counts else sum(counts)
        if total is None:  # no estimate: rows and rate only
            layout = "{n_fmt} rows [{elapsed}, {rate_fmt}]"
        else:
            of = "~{total_fmt}" if self.estimated else "{total_fmt}"
            layout = ("{percentage:3.0f}%|{bar}| {n_fmt}/" + of
                      + " rows [{elapsed}<{remaining}, {rate_fmt}]")
        self.bar = tqdm(total=total, unit=" rows", unit_scale=True, file=stream or sys.stderr,
                        delay=delay, mininterval=0.2, dynamic_ncols=True, bar_format=layout)

    def advance(self, rows: int, file_index: int, done: float) -> None:
        """``rows`` more rows counted (``file_index`` and its share ``done`` read are kept in
        the signature for readers that report bytes)."""
        bar = self.bar
        if bar is None:
            return
        if bar.total is not None and bar.n + rows > bar.total:  # past an estimate
            bar.total = bar.n + rows
        bar.update(rows)

    def close(self, finished: bool) -> None:
        """End the bar: its final count when it was drawn; erased after a failure."""
        bar = self.bar
        if bar is None:
            return
        drawn = bar._time() - bar.start_t >= self.delay  # tqdm draws once the delay is over
        if finished and drawn:
            if bar.total is not None:
                bar.total = bar.n  # an estimated total gives way to the count
                bar.bar_format = bar.bar_format.replace("~", "")
            bar.refresh()
        elif not finished:
            bar.leave = False
        bar.close()
