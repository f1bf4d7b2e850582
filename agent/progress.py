"""Progress lines on stderr for the slow steps of a first run (database, migrations, model, corpus).

A new data directory costs about 40 s before the first answer; each step says what it is doing
while it does it, and how long it took. Steps that have nothing to do print nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def step(what: str) -> Iterator[None]:
    """Announce `what` on stderr, run the block, then report the time it took (or that it failed)."""
    start = time.perf_counter()
    _say(f"{what} ...")
    try:
        yield
    except BaseException:
        _say(f"{what}: failed after {time.perf_counter() - start:.1f} s")
        raise
    _say(f"{what}: done in {time.perf_counter() - start:.1f} s")


def _say(line: str) -> None:
    try:
        sys.stderr.write(f"radassist: {line}\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a closed stderr must not stop the work it reports on
        pass


def ready() -> None:
    """Mark where a command's own work starts (for bench/cli.py, when RADASSIST_TRACE_STARTUP is set).

    Everything before it (interpreter, imports, database, models, gate) is start-up cost.
    """
    if os.environ.get("RADASSIST_TRACE_STARTUP"):
        sys.stderr.write(f"radassist-startup: ready at {time.time():.6f}\n")
        sys.stderr.flush()
