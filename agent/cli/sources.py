"""`radassist sources list | remove`: the documents in the guideline knowledge base."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sources = sub.add_parser("sources", help="list or remove the documents of the guideline knowledge base")
    sources_sub = sources.add_subparsers(dest="sources_command", required=True, metavar="ACTION")
    listing = sources_sub.add_parser(
        "list", help="each document: title, version or year, passages, embedding model, when ingested"
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(func=cmd_list)
    remove = sources_sub.add_parser(
        "remove", help="remove one document and its passages (atomically)", description="Remove one document."
    )
    remove.add_argument(
        "source", metavar="SOURCE", help="the document's name (see `sources list`) or file path"
    )
    remove.set_defaults(func=cmd_remove)


async def _with_pool(action: Any) -> Any:
    """Run `action(pool)` on the migrated database; no models are loaded (nothing is embedded here)."""
    from agent.db import open_pool
    from agent.runtime import prepare_database
    from agent.settings import get_settings

    pool = open_pool(prepare_database(get_settings()), max_size=2)
    await pool.open(wait=True)
    try:
        return await action(pool)
    finally:
        await pool.close()


def cmd_list(args: argparse.Namespace) -> int:
    from tools.knowledge.sources import list_sources

    sources = asyncio.run(_with_pool(list_sources))
    if args.json:
        print(json.dumps([s.as_json() for s in sources], ensure_ascii=False))
        return 0
    if not sources:
        print("the knowledge base has no documents (see `radassist ingest`)")
    for s in sources:
        edition = s.version or (str(s.year) if s.year else "no version")
        model = (
            f"{s.embedding_model} ({s.embedding_dimension} dimensions)" if s.embedding_model else "no model"
        )
        print(f"{s.source}: {s.title}")
        print(f"    {edition}; {s.chunks} passages; {model}; ingested {s.ingested_at:%Y-%m-%d %H:%M %Z}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from tools.knowledge.sources import remove_source

    removed = asyncio.run(_with_pool(lambda pool: remove_source(pool, args.source)))
    print(f"removed {removed.source}: {removed.title} ({removed.chunks} passages)")
    return 0
