"""Files a command writes for the user (`--out`): private and all or nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from common.errors import RadassistError


@contextmanager
def private_output(out: Path) -> Iterator[TextIO]:
    """Write `out` with mode 0600 through a temporary file renamed into place when the block ends.

    Exports carry patient data, so the file is private from its first byte (mkstemp), and an error or an
    interrupt leaves the old file, if any, and no partial one.
    """
    out = out.expanduser()
    directory = out.resolve().parent
    if not directory.is_dir():
        raise RadassistError(f"--out {out}: directory {directory} does not exist")
    fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
