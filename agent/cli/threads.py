"""`radassist threads list | export`: conversations in the chat history, and one of them as a file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    threads = sub.add_parser("threads", help="conversations: list them, export one")
    threads_sub = threads.add_subparsers(dest="threads_command", required=True, metavar="ACTION")
    list_ = threads_sub.add_parser(
        "list", help="threads, most recently active first (id, user, messages, name)"
    )
    list_.add_argument("--user", metavar="NAME", help="only this account's threads")
    list_.set_defaults(func=cmd_list)
    export = threads_sub.add_parser(
        "export",
        help="write one thread as Markdown or JSON",
        description="Write a conversation (its messages; each answer with its verification verdict and "
        "provenance id). It holds chat content: with --out the file is readable by its owner only.",
    )
    export.add_argument("thread", metavar="ID")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")
    export.set_defaults(func=cmd_export)


def _url() -> str:
    from agent.db import database_url, migrate
    from agent.settings import get_settings

    url = database_url(get_settings())
    migrate(url)
    return url


def cmd_list(args: argparse.Namespace) -> int:
    from agent.history import list_threads
    from agent.security.audit import record_local

    url = _url()
    found = list_threads(url, args.user)
    record_local(url, action="thread.list", target=args.user or "", detail={"threads": len(found)})
    if not found:
        print("no threads" + (f" of {args.user}" if args.user else ""))
        return 0
    width = max(len(t.owner) for t in found)
    for t in found:
        print(
            f"{t.id}  {t.owner:<{width}}  {t.updated_at:%Y-%m-%d %H:%M}  {t.messages:>3} messages  {t.name}"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from agent.history import render
    from agent.security.audit import record_local
    from common.errors import RadassistError

    url = _url()
    export = asyncio.run(_load(url, args.thread))
    if export is None:
        record_local(url, action="thread.export", target=args.thread[:100], result="failure")
        raise RadassistError(f"no thread {args.thread!r} (see `radassist threads list`)")
    text = render(export, args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        _write_private(args.out, text)
    record_local(
        url,
        action="thread.export",
        target=export.id,
        detail={"owner": export.owner, "format": args.format, "messages": len(export.messages)},
    )
    if args.out is not None:
        print(f"exported thread {export.id} ({len(export.messages)} messages) to {args.out}")
    return 0


async def _load(url: str, thread_id: str):  # type: ignore[no-untyped-def]
    from agent.db import open_pool
    from agent.history import load_export

    pool = open_pool(url, max_size=1)
    try:
        await pool.open(wait=True)
        return await load_export(pool, thread_id)
    finally:
        await pool.close()


def _write_private(out: Path, text: str) -> None:
    """Mode 0600, through a temporary file renamed into place: all or nothing."""
    from common.files import private_output

    with private_output(out) as handle:
        handle.write(text)
