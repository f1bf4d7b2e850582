"""`radassist purge --older-than 90d`: the retention policy, applied on demand (e.g. from cron)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.security.erasure import Erased


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    purge = sub.add_parser(
        "purge",
        help="erase conversations idle for longer than an age (history, provenance, agent memory)",
        description="A conversation's age is its last activity: a message, an answer or a checkpoint. "
        "Each erased conversation goes from the chat history, the answers' provenance and the agent's "
        "checkpoints, in one transaction; ended login sessions older than the age go too. The audit "
        "trail records the purge (counts only) and is itself never purged.",
    )
    purge.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 90d, 12w, 36h")
    purge.add_argument("--dry-run", action="store_true", help="count what would be erased, erase nothing")
    purge.set_defaults(func=cmd_purge)


async def _purge(url: str, age: timedelta, dry_run: bool) -> Erased:
    import psycopg

    from agent.security.erasure import purge

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await purge(conn, age, dry_run=dry_run)


def cmd_purge(args: argparse.Namespace) -> int:
    from agent.db import database_url, migrate
    from agent.security.audit import record_local
    from agent.security.erasure import parse_age
    from agent.settings import get_settings

    age = parse_age(args.older_than)  # a bad age fails before the database is touched
    url = database_url(get_settings())
    migrate(url)
    erased = asyncio.run(_purge(url, age, args.dry_run))
    if args.dry_run:
        print(f"would erase {erased.threads} conversation(s) idle for more than {args.older_than}")
        return 0
    record_local(url, action="purge", detail={"older_than": args.older_than, **erased.as_detail()})
    print(
        f"erased {erased.threads} conversation(s) idle for more than {args.older_than} "
        f"({erased.provenance} answer record(s), {erased.checkpoints} checkpoint row(s))"
    )
    return 0
