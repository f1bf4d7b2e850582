"""Conversations outside the chat UI, in the chat history, and conversations leaving the app as files.

Turns asked through `radassist ask`/`chat` and the API are written to the same `threads` and `steps`
tables as the chat UI's, through the UI's own data layer (agent/ui/data_layer.py), acting as the turn's
user: the thread is owned by that account, appears in its sidebar, can be resumed in the browser (the
agent's memory is keyed by the same thread id), is erased with it and counts for retention.

A thread id names one conversation of one account. `check_thread` refuses an id that belongs to
another account, or that exists anywhere (the agent's checkpoints, provenance) without an owner: naming
someone else's id never reads or extends their conversation.

Exports (`radassist threads export`, the UI's export button) hold what the user saw: the messages in
order, and for each answer its verification verdict and provenance id.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.errors import RadassistError

Format = Literal["md", "json"]
FORMATS: tuple[Format, ...] = ("md", "json")
ASSISTANT_NAME = "radassist"
_NAME_CHARS = 80


class ThreadRefused(RadassistError):
    """The thread id belongs to another account (or to no account): it cannot be used or read."""


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def thread_name(question: str) -> str:
    """The sidebar's name for a new thread: the first question's first words, as the chat UI does."""
    text = " ".join(question.split())
    return text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 1] + "…"


async def check_thread(pool: AsyncConnectionPool, thread_id: str, identifier: str) -> bool:
    """True when `identifier` owns the thread, False when it is new; ThreadRefused otherwise."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT u.identifier FROM threads t JOIN users u ON u.id = t.user_id WHERE t.id = %s",
            (thread_id,),
        )
        row = await cur.fetchone()
        if row is not None:
            if row[0] != identifier:
                raise ThreadRefused(f"thread {thread_id} belongs to another user")
            return True
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM answer_provenance WHERE thread_id = %(t)s)"
            " OR (to_regclass('checkpoints') IS NOT NULL"
            "     AND EXISTS (SELECT 1 FROM checkpoints WHERE thread_id = %(t)s))",
            {"t": thread_id},
        )
        known = await cur.fetchone()
    if known is not None and known[0]:
        raise ThreadRefused(f"thread {thread_id} belongs to another user")
    return False


@dataclass
class Message:
    """One message of a conversation: the user's question or the assistant's answer."""

    role: Literal["user", "assistant"]
    content: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class History:
    """Writes turns into the chat history through the chat UI's data layer, on the given pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        from agent.ui.data_layer import PostgresDataLayer

        self.layer = PostgresDataLayer(pool=pool)

    async def record(self, thread_id: str, identifier: str, messages: list[Message], *, new: bool) -> None:
        """Append messages to a thread owned by `identifier` (created, and named, when `new`)."""
        from agent.ui.data_layer import AccessDenied, acting_as

        first_question = next((m.content for m in messages if m.role == "user"), "")
        parent: str | None = None
        try:
            with acting_as(identifier):  # the data layer refuses a thread another account owns
                await self.layer.update_thread(thread_id, name=thread_name(first_question) if new else None)
                for message in messages:
                    await self.layer.create_step(_step(thread_id, message, identifier, parent))  # type: ignore[arg-type]
                    parent = message.id if message.role == "user" else None
        except AccessDenied as exc:
            raise ThreadRefused(str(exc)) from None


def _step(thread_id: str, message: Message, identifier: str, parent: str | None) -> dict[str, Any]:
    at = _iso(message.at)
    return {
        "id": message.id,
        "threadId": thread_id,
        "parentId": parent,
        "name": identifier if message.role == "user" else ASSISTANT_NAME,
        "type": "user_message" if message.role == "user" else "assistant_message",
        "output": message.content,
        "createdAt": at,
        "start": at,
        "end": at,
    }


# -- listing and export -------------------------------------------------------------------------------


@dataclass
class ThreadSummary:
    id: str
    owner: str
    name: str
    created_at: datetime
    updated_at: datetime
    messages: int


def list_threads(url: str, identifier: str | None = None) -> list[ThreadSummary]:
    """Threads of one account (or all), most recently active first."""
    from agent.db import connect

    with connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT t.id, u.identifier AS owner, COALESCE(t.name, '') AS name, t.created_at, t.updated_at,"
            " (SELECT count(*) FROM steps s WHERE s.thread_id = t.id"
            "   AND s.type IN ('user_message', 'assistant_message')) AS messages"
            " FROM threads t JOIN users u ON u.id = t.user_id"
            " WHERE %(who)s::text IS NULL OR u.identifier = %(who)s ORDER BY t.updated_at DESC, t.id",
            {"who": identifier},
        ).fetchall()
    return [ThreadSummary(**row) for row in rows]


@dataclass
class ThreadExport:
    id: str
    owner: str
    name: str
    created_at: str
    updated_at: str
    exported_at: str
    messages: list[dict[str, Any]]


async def load_export(pool: AsyncConnectionPool, thread_id: str) -> ThreadExport | None:
    """The thread's messages in order, each answer with its verdict and provenance id; None if unknown."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT t.id, u.identifier AS owner, COALESCE(t.name, '') AS name, t.created_at, t.updated_at"
            " FROM threads t JOIN users u ON u.id = t.user_id WHERE t.id = %s",
            (thread_id,),
        )
        thread = await cur.fetchone()
        if thread is None:
            return None
        await cur.execute(
            "SELECT s.id, s.type, s.output, s.created_at, p.id AS provenance_id, p.verdict"
            " FROM steps s LEFT JOIN answer_provenance p ON p.message_id = s.id"
            " WHERE s.thread_id = %s AND s.type IN ('user_message', 'assistant_message') AND s.output <> ''"
            " ORDER BY s.created_at, s.seq",
            (thread_id,),
        )
        steps = await cur.fetchall()
    messages = []
    for step in steps:
        message: dict[str, Any] = {
            "id": step["id"],
            "role": "user" if step["type"] == "user_message" else "assistant",
            "content": step["output"],
            "at": _iso(step["created_at"]),
        }
        if message["role"] == "assistant":
            message.update(verdict=step["verdict"], provenance_id=step["provenance_id"])
        messages.append(message)
    return ThreadExport(
        id=thread["id"],
        owner=thread["owner"],
        name=thread["name"],
        created_at=_iso(thread["created_at"]),
        updated_at=_iso(thread["updated_at"]),
        exported_at=_iso(datetime.now(UTC)),
        messages=messages,
    )


def render(export: ThreadExport, fmt: Format) -> str:
    """The export as Markdown (for people) or JSON (for programs)."""
    if fmt == "json":
        return json.dumps(asdict(export), ensure_ascii=False, indent=2) + "\n"
    lines = [
        f"# {export.name or 'Conversation'}",
        "",
        f"Thread `{export.id}` of {export.owner}; started {export.created_at}, exported {export.exported_at}.",
        "Exported from radassist: decision support, to be checked by a radiologist.",
        "",
    ]
    for m in export.messages:
        who = export.owner if m["role"] == "user" else ASSISTANT_NAME
        extra = ""
        if m["role"] == "assistant" and m.get("verdict"):
            extra = f" · verification: {m['verdict'].replace('_', ' ')} · provenance {m['provenance_id']}"
        lines += [f"## {who} · {m['at']}{extra}", "", m["content"].strip(), ""]
    return "\n".join(lines)
