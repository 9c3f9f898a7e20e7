"""Readers of prediction files larger than memory, one class per format behind one protocol:
Parquet (row group by row group), CSV or TSV, gzipped or not (block by block), and ``.npy``
(memory-mapped, slice by slice). ``open_reader`` picks the class by the file's suffix; the
reader reads the file's metadata or header once, checks the requested columns against it,
and then offers

* ``total_rows``: the exact row count where the metadata holds it, else None (CSV);
* ``estimated_rows()``: that count, or an estimate, for a progress bar;
* ``batches(batch_size)``: the requested columns of consecutive rows, each a ``Batch``.

A reader holds no open file between ``open_reader`` and ``batches``, so that all the shards
of a dataset can be checked before any is read without holding them all open. ``prefetch``
reads the next batches in a thread while the current one is counted (the Parquet reader
decodes row groups in threads of its own: ``reads_ahead``).

    >>> import numpy as np, os, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "p.npy")
    >>> np.save(path, np.array([[0, 0.1], [1, 0.8], [1, 0.4]]))
    >>> reader = open_reader(Path(path), ["0", "1"])
    >>> reader.total_rows, [(b.where, b.rows) for b in reader.batches(2)]
    (3, [('rows 0-1', 2), ('rows 2-2', 1)])
    >>> folder.cleanup()

Bad input raises ``ScoreError`` with one line naming the file and where in it::

    <file>: row group <i> (rows <a>-<b>): <what is wrong>
"""

from __future__ import annotations

import contextlib
import gzip
import mmap
import queue
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CSV_BLOCK = 4 << 20  # bytes of CSV text per batch: pyarrow's reader holds ~32 blocks ahead
PARQUET_READERS = 2  # threads decoding row groups at once


class ScoreError(Exception):
    """Bad input, reported as one line naming the file and where in it. Defined here, in the
    lowest module that raises it; ``gpumetrics.scoring`` and ``gpumetrics.cli_score`` raise
    it too."""


@dataclass
class Batch:
    """Columns of consecutive rows of one file, and where they come from."""

    where: str  # "row group 3 (rows 3000000-3999999)" or "rows 0-999999"
    columns: dict[str, np.ndarray]
    rows: int
    done: float  # share of the file read so far, for the progress bar


class Reader:
    """One file, its columns checked: ``total_rows``, ``estimated_rows()`` and
    ``batches(batch_size)`` (see the module's docstring). ``columns`` are the names to read;
    ``floats`` those of them read as float64 where the format does not say (CSV)."""

    total_rows: int | None = None
    reads_ahead = False  # whether ``batches`` already reads in threads of its own

    def __init__(self, path: Path, columns: list[str], floats: Iterable[str] = ()):
        self.path, self.columns, self.floats = Path(path), list(columns), list(floats)

    def estimated_rows(self) -> int | None:
        """Rows for a progress bar: the exact count where known, else an estimate or None."""
        return self.total_rows

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """The requested columns, ``batch_size`` rows at a time (or as the format cuts them)."""
        raise NotImplementedError


def _pyarrow():
    """pyarrow with its CSV and Parquet modules, imported on first use."""
    try:
        import pyarrow
        import pyarrow.csv
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ScoreError("reading Parquet and CSV files needs pyarrow: pip install "
                         "'gpumetrics[io]'") from None
    return pyarrow


def _check_names(path: Path, columns: list[str], names: list[str]) -> None:
    """Every requested column is among the file's ``names``, once."""
    missing = [c for c in columns if c not in names]
    if missing:
        raise ScoreError(f"{path}: no column {missing[0]!r}; the file has {names}")
    repeated = [c for c in columns if names.count(c) > 1]
    if repeated:
        raise ScoreError(f"{path}: the file has {names.count(repeated[0])} columns named "
                         f"{repeated[0]!r}; a column to read must have a name of its own")


_ARROW_NUMPY = {
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "halffloat": np.float16, "float": np.float32, "double": np.float64,
}


def _to_numpy(array, name: str) -> np.ndarray:
    """A numeric Arrow array as NumPy, without a copy (and without importing pandas,
    which pyarrow's own ``to_numpy`` does)."""
    if array.null_count:
        raise ValueError(f"column {name!r} has {array.null_count} missing values")
    kind = str(array.type)
    n, offset = len(array), array.offset
    if kind == "bool":
        bits = np.frombuffer(array.buffers()[1], np.uint8)
        return np.unpackbits(bits, bitorder="little")[offset:offset + n].view(np.bool_)
    dtype = _ARROW_NUMPY.get(kind)
    if dtype is None:
        raise ValueError(f"column {name!r} has type {kind}; numbers are expected")
    return np.frombuffer(array.buffers()[1], dtype, count=n, offset=offset * dtype().itemsize)


# --- Parquet -------------------------------------------------------------------------------


class ParquetReader(Reader):
    """A Parquet file, row group by row group (only the requested columns); a page whose
    checksum does not match its bytes is an error, never a value."""

    reads_ahead = True

    def __init__(self, path: Path, columns: list[str], floats: Iterable[str] = ()):
        super().__init__(path, columns, floats)
        pa = _pyarrow()
        try:
            self._metadata = pa.parquet.read_metadata(self.path)
            names = self._metadata.schema.to_arrow_schema().names
        except (pa.ArrowException, OSError) as exc:
            raise ScoreError(f"{self.path}: not a readable Parquet file ({exc})") from None
        _check_names(self.path, self.columns, names)
        self.total_rows = self._metadata.num_rows

    def _open(self):
        """A handle that verifies page checksums (the footer read once is handed over)."""
        pa = _pyarrow()
        try:
            return pa.parquet.ParquetFile(self.path, metadata=self._metadata,
                                          page_checksum_verification=True)
        except (pa.ArrowException, OSError) as exc:
            raise ScoreError(f"{self.path}: not a readable Parquet file ({exc})") from None

    def _where(self, first: int, stop: int, start: int, rows: int) -> str:
        groups = f"row group {first}" if stop - first == 1 else f"row groups {first}-{stop - 1}"
        return f"{groups} (rows {start}-{start + rows - 1})"

    def _pieces(self, batch_size: int) -> list[tuple[int, int, int, int]]:
        """``(first group, stop group, first row, rows)``: row groups joined up to
        ``batch_size / PARQUET_READERS`` rows (``PARQUET_READERS + 1`` pieces are held at
        most); a group above ``batch_size`` rows is a piece read in batches."""
        most = max(batch_size // PARQUET_READERS, 1)
        groups = self._metadata.num_row_groups
        pieces, first, start, rows = [], 0, 0, 0
        for group in range(groups):
            n = self._metadata.row_group(group).num_rows
            if rows == 0:  # a piece starts at a group that has rows
                first = group
            elif rows + n > most:
                pieces.append((first, group, start, rows))
                first, start, rows = group, start + rows, 0
            rows += n
        if rows:
            pieces.append((first, groups, start, rows))
        return pieces

    def _read(self, file, piece) -> Batch:
        """A piece of whole row groups in one call; an error is located group by group."""
        pa = _pyarrow()
        first, stop, start, rows = piece
        try:
            table = file.read_row_groups(range(first, stop), columns=self.columns,
                                         use_threads=False)
            values = {c: _to_numpy(table.column(c).combine_chunks(), c) for c in self.columns}
        except (pa.ArrowException, OSError, ValueError) as exc:
            if stop - first == 1:
                raise ScoreError(f"{self.path}: {self._where(*piece)}: {exc}") from None
            for group in range(first, stop):
                n = self._metadata.row_group(group).num_rows
                self._read(file, (group, group + 1, start, n))
                start += n
            raise ScoreError(f"{self.path}: {self._where(*piece)}: {exc}") from None
        return Batch(self._where(*piece), values, rows, (start + rows) / max(self.total_rows, 1))

    def _read_large(self, file, piece, batch_size: int) -> Iterator[Batch]:
        """One row group larger than ``batch_size``, a batch at a time."""
        pa = _pyarrow()
        group, _, start, rows = piece
        where, read = self._where(*piece), start
        try:
            for record in file.iter_batches(batch_size=batch_size, row_groups=[group],
                                            columns=self.columns, use_threads=True):
                values = {c: _to_numpy(record.column(c), c) for c in self.columns}
                read += record.num_rows
                yield Batch(where, values, record.num_rows, read / max(self.total_rows, 1))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ScoreError(f"{self.path}: {where}: {exc}") from None

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Pieces decoded by ``PARQUET_READERS`` threads (a handle on the file each), in
        the file's order; a large group in batches, the next one read ahead."""
        handles, lock, local = [], threading.Lock(), threading.local()

        def read(piece) -> Batch:
            if not hasattr(local, "file"):
                local.file = self._open()
                with lock:
                    handles.append(local.file)
            return self._read(local.file, piece)

        pool = ThreadPoolExecutor(PARQUET_READERS, thread_name_prefix="gpumetrics-parquet")
        pending: deque = deque()
        try:
            for piece in self._pieces(batch_size):
                if piece[1] - piece[0] == 1 and piece[3] > batch_size:
                    while pending:
                        yield pending.popleft().result()
                    file = self._open()
                    ahead = prefetch(self._read_large(file, piece, batch_size))
                    with contextlib.closing(file), contextlib.closing(ahead):
                        yield from ahead  # the next batch decoded while this one counts
                    continue
                pending.append(pool.submit(read, piece))
                if len(pending) > PARQUET_READERS:  # every thread busy while one is counted
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for file in handles:
                file.close()


# --- CSV -----------------------------------------------------------------------------------


class CsvReader(Reader):
    """A CSV file (``.csv``, ``.tsv``, optionally gzipped), block by block: a batch is
    ``CSV_BLOCK`` bytes of text, which bounds memory (``batch_size`` does not apply). The
    row count is known only once read: ``estimated_rows()`` estimates it."""

    def __init__(self, path: Path, columns: list[str], floats: Iterable[str] = ()):
        super().__init__(path, columns, floats)
        _check_names(self.path, self.columns, self._header())

    def _options(self):
        """Read, parse and convert options of the file."""
        pa = _pyarrow()
        tab = self.path.name.lower().endswith((".tsv", ".tsv.gz"))
        parse = pa.csv.ParseOptions(delimiter="\t" if tab else ",")
        read = pa.csv.ReadOptions(block_size=CSV_BLOCK)
        convert = pa.csv.ConvertOptions(
            include_columns=self.columns,
            column_types={c: pa.float64() for c in self.floats},
        )
        return read, parse, convert

    def _open(self):
        """``(raw file, stream to parse)``: the stream decompresses ``.gz`` files, and the
        raw file's position says how much of the file was read."""
        pa = _pyarrow()
        raw = pa.OSFile(str(self.path))
        if self.path.name.lower().endswith(".gz"):
            return raw, pa.CompressedInputStream(raw, "gzip")
        return raw, raw

    def _header(self) -> list[str]:
        """Column names of the file (read from its first block)."""
        pa, path = _pyarrow(), self.path
        read, parse, _ = self._options()
        raw, stream = self._open()
        try:
            return pa.csv.open_csv(stream, read_options=read, parse_options=parse).schema.names
        except (pa.ArrowException, OSError) as exc:
            if "Empty CSV" in str(exc):
                raise ScoreError(f"{path}: the file is empty") from None
            raise ScoreError(f"{path}: not a readable CSV file ({exc})") from None
        finally:
            raw.close()

    def estimated_rows(self) -> int | None:
        return _estimated_rows(self.path)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        pa, path = _pyarrow(), self.path
        read, parse, convert = self._options()
        size = max(path.stat().st_size, 1)
        raw, stream = self._open()
        try:
            try:  # the reader converts its first block here
                reader = pa.csv.open_csv(stream, read_options=read, parse_options=parse,
                                         convert_options=convert)
            except (pa.ArrowException, OSError) as exc:
                raise ScoreError(f"{path}: rows from 0: {exc}") from None
            start = 0
            while True:
                try:
                    record = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowException, OSError) as exc:
                    raise ScoreError(f"{path}: rows from {start}: {exc}") from None
                if record.num_rows == 0:
                    continue
                where = f"rows {start}-{start + record.num_rows - 1}"
                try:
                    values = {c: _to_numpy(record.column(c), c) for c in self.columns}
                except ValueError as exc:
                    raise ScoreError(f"{path}: {where}: {exc}") from None
                start += record.num_rows
                yield Batch(where, values, record.num_rows, min(raw.tell() / size, 1.0))
        finally:
            raw.close()


def _estimated_rows(path: Path) -> int | None:
    """A CSV file's data rows, estimated from the lines of its first MiB of text (exact when
    the whole file fits in it); for a gzip file, scaled by the compressed bytes read."""
    size = path.stat().st_size
    try:
        with path.open("rb") as raw:
            text = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
            head = text.read(1 << 20)
            whole = not text.read(1)
            consumed = max(raw.tell(), 1)  # the file's bytes behind ``head`` (and a few more)
    except (OSError, EOFError, zlib.error):  # unreadable: the reader says so, not the bar
        return None
    lines = head.count(b"\n") + (0 if head.endswith(b"\n") or not head else 1)
    if whole or lines < 2:
        return max(lines - 1, 0)
    return max(round(size * lines / consumed) - 1, 0)


# --- .npy ----------------------------------------------------------------------------------


class NpyReader(Reader):
    """A memory-mapped ``.npy`` file, ``batch_size`` rows at a time: a 1-D structured array
    (columns are its fields) or a 2-D array (columns are numbers 0, 1, ...). The pages of a
    batch are released once it is copied out."""

    def __init__(self, path: Path, columns: list[str], floats: Iterable[str] = ()):
        super().__init__(path, columns, floats)
        array = self._map()
        self._take = _npy_columns(self.path, array, self.columns)
        self.total_rows = int(array.shape[0])

    def _map(self) -> np.ndarray:
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ScoreError(f"{self.path}: not a readable .npy file ({exc})") from None

    def batches(self, batch_size: int) -> Iterator[Batch]:
        array, take = self._map(), self._take
        n = array.shape[0]
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            where = f"rows {start}-{stop - 1}"
            try:
                values = {c: take(array[start:stop], c) for c in self.columns}
            except OSError as exc:  # a truncated file fails when its pages are read
                raise ScoreError(f"{self.path}: {where}: {exc}") from None
            _release(array, start, stop)
            yield Batch(where, values, stop - start, stop / n)


def _npy_columns(path: Path, array: np.ndarray, columns: list[str]) -> Callable:
    """``take(part, name)``: one column of a slice of a structured or 2-D array."""
    if array.dtype.names:
        missing = [c for c in columns if c not in array.dtype.names]
        if missing:
            raise ScoreError(f"{path}: no field {missing[0]!r}; the array has "
                             f"{list(array.dtype.names)}")
        for c in columns:
            if array.dtype[c].kind not in "biuf" or array.dtype[c].shape:
                raise ScoreError(f"{path}: field {c!r} has dtype {array.dtype[c]}; numbers "
                                 "are expected")
        return lambda part, c: np.ascontiguousarray(part[c])
    if array.ndim != 2:
        raise ScoreError(f"{path}: expected a 2-D array or a 1-D structured array; got shape "
                         f"{array.shape}")
    if array.dtype.kind not in "biuf":
        raise ScoreError(f"{path}: dtype {array.dtype}; numbers are expected")
    try:
        index = {c: int(c) for c in columns}
    except ValueError:
        raise ScoreError(f"{path}: the columns of a 2-D array are numbers 0..{array.shape[1] - 1}"
                         f"; got {columns}") from None
    bad = [c for c, i in index.items() if not 0 <= i < array.shape[1]]
    if bad:
        raise ScoreError(f"{path}: no column {bad[0]}; the array has {array.shape[1]} columns "
                         f"(0..{array.shape[1] - 1})")
    return lambda part, c: np.ascontiguousarray(part[:, index[c]])


def _release(array: np.ndarray, start: int, stop: int) -> None:
    """Drop the pages of rows ``start:stop`` of a memory-mapped array from this process
    (they stay in the page cache): without it the resident size grows to the file's."""
    mm = getattr(array, "_mmap", None)  # the mapping of an np.memmap
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    head = array.offset % mmap.ALLOCATIONGRANULARITY  # np.memmap maps from an aligned offset
    if array.flags.c_contiguous:
        spans = [(start * array.strides[0], stop * array.strides[0])]
    elif array.flags.f_contiguous and array.ndim == 2:
        column = array.shape[0] * array.itemsize
        spans = [(j * column + start * array.itemsize, j * column + stop * array.itemsize)
                 for j in range(array.shape[1])]
    else:
        return
    for lo, hi in spans:
        lo, hi = head + lo, head + hi
        aligned = lo - lo % mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_DONTNEED, aligned, hi - aligned)


# --- choosing and driving a reader ---------------------------------------------------------


def reader_class(path: Path) -> type[Reader]:
    """The reader of a file, chosen by its suffix."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return ParquetReader
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        return CsvReader
    if name.endswith(".npy"):
        return NpyReader
    raise ScoreError(f"{path}: unknown format; expected .parquet, .pq, .csv, .csv.gz or .npy")


def open_reader(path: Path, columns: list[str], floats: Iterable[str] = ()) -> Reader:
    """The reader of ``path`` for ``columns`` (``floats``: those read as float64 from CSV),
    its metadata or header read and the columns checked."""
    return reader_class(Path(path))(Path(path), columns, floats)


def check_paths(paths: list[Path]) -> None:
    """Every path exists and has a known format (before anything is read)."""
    for path in paths:
        if not path.exists():
            raise ScoreError(f"{path}: no such file")
        if path.is_dir():
            raise ScoreError(f"{path}: is a directory; pass the files in it")
        reader_class(path)


def prefetch(batches: Iterator, depth: int = 2) -> Iterator:
    """Read the next batches in a thread while the current one is counted (pyarrow and
    NumPy release the GIL); at most ``depth`` batches wait, so memory stays bounded."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in batches:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=work, name="gpumetrics-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
