"""Atomic file writes, so a reader (or a batch killed mid-write) never sees a partial report."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# mkstemp creates 0600 files; give reports the mode any new file would get. Reading the umask
# means setting it, so do it once, at import, before threads that could race it exist.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def under(path: str, parent: str) -> bool:
    """Whether `path` is `parent` or lies inside it, compared as given (resolve both first where links matter)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write to a temporary file beside `path`, then os.replace it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
