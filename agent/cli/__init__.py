"""The `radassist` command. Each module in this package adds one group of subcommands.

A module defines `register(subparsers)`; it is discovered automatically, so adding a command
group means adding a module. Heavy imports stay inside the command functions to keep `--help` fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; configuration and input problems print one line and exit 2."""
    offline.apply()  # before any command imports litellm or a Hugging Face library
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except RadassistError as exc:
        print(f"radassist: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
