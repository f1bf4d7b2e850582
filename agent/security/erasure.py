"""Deleting a conversation everywhere it is stored, and the retention purge.

A conversation lives in four places, all keyed by the chat thread id: the chat history (`threads`, and
by cascade its steps, elements and feedback), the answers' provenance (`answer_provenance`, which holds
the question and the answer), and the agent's memory (LangGraph's `checkpoints`, `checkpoint_blobs` and
`checkpoint_writes`). `erase_threads` deletes all of them in the caller's transaction, so a deletion is
complete or does not happen. LangGraph creates its tables on first use; before that there is nothing
of it to delete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from common.errors import RadassistError

CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


@dataclass
class Erased:
    """How many rows went, per kind (for the audit trail and the command line; no content)."""

    threads: int = 0
    provenance: int = 0
    checkpoints: int = 0

    def as_detail(self) -> dict[str, int]:
        return {
            "threads": self.threads,
            "provenance_rows": self.provenance,
            "checkpoint_rows": self.checkpoints,
        }


async def _checkpoint_tables(conn: psycopg.AsyncConnection) -> list[str]:
    cur = await conn.execute(
        "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL", (list(CHECKPOINT_TABLES),)
    )
    return [str(row[0]) for row in await cur.fetchall()]


async def erase_threads(conn: psycopg.AsyncConnection, thread_ids: list[str]) -> Erased:
    """Delete the threads' history, provenance and checkpoints; the caller holds the transaction."""
    erased = Erased()
    if not thread_ids:
        return erased
    cur = await conn.execute("DELETE FROM answer_provenance WHERE thread_id = ANY(%s)", (thread_ids,))
    erased.provenance = cur.rowcount
    for table in await _checkpoint_tables(conn):
        cur = await conn.execute(f"DELETE FROM {table} WHERE thread_id = ANY(%s)", (thread_ids,))
        erased.checkpoints += cur.rowcount
    cur = await conn.execute("DELETE FROM threads WHERE id = ANY(%s)", (thread_ids,))
    erased.threads = cur.rowcount
    return erased


_DURATION = re.compile(r"^\s*(\d+)\s*([dhmw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str, *, option: str = "--older-than") -> timedelta:
    """'90d', '12h', '30m' or '2w' as a timedelta; anything else is a clear error naming `option`."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise RadassistError(
            f"{option} {text!r}: give a positive number of days, hours, minutes or weeks, e.g. 90d, 12h, 2w"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


async def stale_threads(conn: psycopg.AsyncConnection, older_than: timedelta) -> list[str]:
    """Threads whose last activity (chat, answer or checkpoint) is older than `older_than`."""
    sources = [
        "SELECT id AS thread_id, updated_at AS at FROM threads",
        "SELECT thread_id, created_at FROM answer_provenance",
    ]
    if "checkpoints" in await _checkpoint_tables(conn):
        sources.append("SELECT thread_id, (checkpoint ->> 'ts')::timestamptz FROM checkpoints")
    cur = await conn.execute(
        f"SELECT thread_id FROM ({' UNION ALL '.join(sources)}) AS activity"
        " GROUP BY thread_id HAVING max(at) < now() - %s ORDER BY thread_id",
        (older_than,),
    )
    return [str(row[0]) for row in await cur.fetchall()]


async def purge(conn: psycopg.AsyncConnection, older_than: timedelta, *, dry_run: bool = False) -> Erased:
    """Erase every conversation idle for longer than `older_than`, and sessions that ended before then."""
    async with conn.transaction():
        stale = await stale_threads(conn, older_than)
        if dry_run:
            return Erased(threads=len(stale))
        erased = await erase_threads(conn, stale)
        erased.threads = len(stale)  # threads only known to the agent (radassist ask) count too
        await conn.execute(
            "DELETE FROM sessions WHERE COALESCE(revoked_at, last_seen_at) < now() - %s", (older_than,)
        )
    return erased
