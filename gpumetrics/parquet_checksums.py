"""Whether the pages of Parquet files carry checksums. ``ParquetReader`` verifies every page
checksum a file holds, so a corrupt page is an error, never a value; but writers may store
none (pyarrow's ``write_page_checksum`` is off by default), and then corruption inside a
page goes unseen. ``unchecked_parquet`` finds such files, for the command line to say so.
The answer is read from the Thrift page header of the first data page: pyarrow reports
no checksum in its metadata."""

from __future__ import annotations

from pathlib import Path

from gpumetrics.readers import ParquetReader, _pyarrow, reader_class


def unchecked_parquet(paths: list[Path]) -> list[Path]:
    """The Parquet files among ``paths`` whose pages carry no checksum (CRC): corruption
    inside their pages cannot be detected while reading them."""
    return [p for p in map(Path, paths) if reader_class(p) is ParquetReader
            and _has_page_checksums(p) is False]


def _has_page_checksums(path: Path) -> bool | None:
    """Whether the first data page of the file carries a CRC (writers set it for every data
    page or for none), read from its Thrift page header; None when that cannot be told."""
    try:
        meta = _pyarrow().parquet.ParquetFile(path).metadata
        if meta.num_row_groups == 0 or meta.num_columns == 0:
            return None
        chunk = meta.row_group(0).column(0)
        with path.open("rb") as f:  # a data page: some writers leave dictionaries unchecked
            f.seek(chunk.data_page_offset)
            header = f.read(64)
    except (OSError, ValueError, _pyarrow().ArrowException):
        return None
    return _thrift_has_field_4(header)


def _thrift_has_field_4(header: bytes) -> bool | None:
    """Whether a Thrift compact-protocol PageHeader sets field 4 (``crc``): fields 1-3 are
    i32 (type, uncompressed and compressed sizes) and fields come in increasing order."""
    pos, field = 0, 0
    while pos < len(header):
        byte = header[pos]
        pos += 1
        kind, delta = byte & 0x0F, byte >> 4
        if byte == 0 or delta == 0:  # end of struct, or a long-form field id: not a writer's
            return None if byte else False
        field += delta
        if field >= 4:
            return field == 4 and kind == 5
        if kind != 5:  # fields 1-3 are i32
            return None
        while pos < len(header) and header[pos] & 0x80:  # skip the varint
            pos += 1
        pos += 1
    return None
