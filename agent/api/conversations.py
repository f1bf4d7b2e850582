"""Which thread an API request continues: the `X-Radassist-Thread` header, or the conversation it sends.

OpenAI-style clients (Open WebUI, LibreChat) keep no server-side conversation id: every request carries
the whole conversation. The agent's memory, though, lives in a thread (its LangGraph checkpoints). After
each answered turn the API stores a keyed hash of the conversation so far (user and assistant messages,
whitespace-normalised, with the account and the request's `user` field) beside the thread and the
checkpoint the turn ended on (table `api_turns`). A request whose messages before its last one hash to a
stored value continues that thread:

- when the thread is still at that checkpoint, the turn simply continues it;
- when the thread has moved on (the client regenerated an answer, edited an earlier question, or the
  conversation went on in the chat UI), a new thread is forked from that checkpoint, so the memory is
  the one of the conversation the client shows, never of a branch it left;
- a first message, or a conversation the API never answered, starts a new thread.

The hash is keyed with the API key secret, so the table reveals nothing about the messages. Threads are
erased with their conversation (the rows cascade).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from agent.history import Message, check_thread

HEADER = "X-Radassist-Thread"
THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _normal(text: str) -> str:
    return " ".join(text.split())


def conversation_hash(
    secret: bytes, identifier: str, end_user: str | None, turns: list[tuple[str, str]]
) -> str:
    """HMAC-SHA256 of the account, the client's end user and the (role, text) turns, whitespace-normalised."""
    canonical = json.dumps(
        [identifier, end_user or "", [[r, _normal(t)] for r, t in turns]], ensure_ascii=False
    )
    return hmac.new(secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Thread:
    """The thread a request continues; `record` holds earlier messages to copy into a forked thread's history."""

    id: str
    new: bool
    forked_from: str | None = None
    record: list[Message] = field(default_factory=list)


async def _latest_checkpoint(checkpointer: Any, thread_id: str) -> str | None:
    found = await checkpointer.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    return None if found is None else str(found.checkpoint["id"])


async def _fork(checkpointer: Any, thread_id: str, checkpoint_id: str) -> str:
    """A new thread whose memory is a copy of `thread_id` at `checkpoint_id`."""
    source = await checkpointer.aget_tuple(
        {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}}
    )
    new_id = str(uuid.uuid4())
    if source is not None:
        checkpoint = source.checkpoint
        await checkpointer.aput(
            {"configurable": {"thread_id": new_id, "checkpoint_ns": ""}},
            checkpoint,
            source.metadata,
            dict(checkpoint["channel_versions"]),
        )
    return new_id


async def resolve(
    pool: AsyncConnectionPool,
    checkpointer: Any,
    secret: bytes,
    identifier: str,
    end_user: str | None,
    prior: list[tuple[str, str]],
    header: str | None,
) -> Thread:
    """The thread for a request whose earlier messages are `prior` (see the module docstring).

    An explicit thread id must be the caller's or new (`ThreadRefused` otherwise).
    """
    if header is not None:
        return Thread(header, new=not await check_thread(pool, header, identifier))
    if not prior:
        return Thread(str(uuid.uuid4()), new=True)
    key = conversation_hash(secret, identifier, end_user, prior)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT a.thread_id, a.checkpoint_id FROM api_turns a JOIN users u ON u.id = a.user_id"
            " WHERE u.identifier = %s AND a.conversation_hash = %s ORDER BY a.created_at DESC",
            (identifier, key),
        )
        rows = await cur.fetchall()
    for thread_id, checkpoint_id in rows:
        if await _latest_checkpoint(checkpointer, thread_id) == checkpoint_id:
            return Thread(thread_id, new=False)
    if not rows:
        return Thread(str(uuid.uuid4()), new=True)
    thread_id, checkpoint_id = rows[0]
    forked = await _fork(checkpointer, thread_id, checkpoint_id)
    earlier = [Message("user" if role == "user" else "assistant", text) for role, text in prior]
    return Thread(forked, new=True, forked_from=thread_id, record=earlier)


async def remember(
    pool: AsyncConnectionPool,
    checkpointer: Any,
    secret: bytes,
    identifier: str,
    end_user: str | None,
    conversation: list[tuple[str, str]],
    thread_id: str,
) -> None:
    """Store the conversation up to this turn's answer against the thread and the checkpoint it ended on."""
    checkpoint_id = await _latest_checkpoint(checkpointer, thread_id)
    if checkpoint_id is None:
        return
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO api_turns (user_id, conversation_hash, thread_id, checkpoint_id)"
            " SELECT id, %s, %s, %s FROM users WHERE identifier = %s"
            " ON CONFLICT (user_id, conversation_hash, thread_id) DO UPDATE"
            " SET checkpoint_id = EXCLUDED.checkpoint_id, created_at = now()",
            (
                conversation_hash(secret, identifier, end_user, conversation),
                thread_id,
                checkpoint_id,
                identifier,
            ),
        )
