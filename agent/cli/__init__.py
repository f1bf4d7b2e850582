"""The `radassist` command. Each module in this package adds one group of subcommands.

A module defines `register(subparsers)`; it is discovered automatically, so adding a command
group means adding a module. Heavy imports stay inside the command functions to keep `--help` fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from common import offline
from common.errors import RadassistError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radassist", description="Local-first radiology assistant.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (never message content)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


class _PipeAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """Logs to stderr; once the reader has gone (`radassist -v ask ... | head`), goes quiet.

    Python ignores SIGPIPE, so every later write would fail again (and a tqdm bar once deadlocked
    there, hanging the command). Silencing the output lets the command finish normally, close its
    pools and release the embedded database, then exit 141 as a command stopped by a closed pipe.
    """

    reader_gone = False

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            _PipeAwareHandler.reader_gone = True
            _silence_output()
            return
        super().handleError(record)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; configuration and input problems print one line and exit 2."""
    offline.apply()  # before any command imports litellm or a Hugging Face library
    args = build_parser().parse_args(argv)
    handler = _PipeAwareHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        status = int(args.func(args) or 0)
        return 141 if _PipeAwareHandler.reader_gone else status
    except RadassistError as exc:
        print(f"radassist: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _silence_output()
        return 141  # 128 + SIGPIPE: what a shell reports for a command stopped by a closed pipe
    except KeyboardInterrupt:
        return 130


def _silence_output() -> None:
    """Point stdout and stderr at /dev/null, so nothing raises BrokenPipeError again (at exit either)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())


if __name__ == "__main__":
    sys.exit(main())
