"""`radassist db migrate`: apply pending SQL migrations."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    migrate = db_sub.add_parser("migrate", help="apply pending migrations from migrations/")
    migrate.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    from agent.db import database_url, migrate, redact
    from agent.settings import get_settings

    url = database_url(get_settings())
    applied = migrate(url)
    print(
        f"{redact(url)}: applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )
    return 0
