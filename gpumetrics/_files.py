"""Output files of the commands (``score --out``, ``profile --csv/--out``, ``report -o``):
``unwritable`` says why a path cannot be written, asked before any work so that a long
command never ends in a failed write; ``write_atomic`` writes one whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written as a file, or None: ``is a directory; give a file
    name``, ``no folder <folder>`` or ``not writable``."""
    path = Path(path)
    if path.is_dir():
        return "is a directory; give a file name"
    folder = path.parent
    if not folder.is_dir():
        return f"no folder {folder}"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "not writable"
    return None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename:
    readers see the old file or the whole new one, never half of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
