"""Private key files in RADASSIST_HOME: created once with random content, mode 0600, refused if readable by others."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from common.errors import RadassistError


def private_file(path: Path, make: bytes) -> bytes:
    """Return the content of a private file, creating it with `make` if it does not exist yet.

    The file is written to a private temporary file and then linked into place, so two processes
    starting at once agree on one content and nobody ever reads a half-written file. An existing
    file that other users can read is refused rather than used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                pass
        finally:
            temp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise RadassistError(
            f"{path}: readable by other users (mode {mode:o}); run `chmod 600 {path}` or delete it"
        )
    return path.read_bytes()
