"""Chainlit's persisted chat history (threads, steps, elements, feedback) on psycopg 3.

Why a custom `BaseDataLayer` and not Chainlit's official `ChainlitDataLayer`: the official layer needs
asyncpg (a second PostgreSQL driver next to the project's psycopg 3) and a schema maintained with
Prisma migrations, whose engines are downloaded at run time and cannot be fetched on an offline
machine. Its schema has also lagged behind Chainlit (the `command`, `defaultOpen` and `modes` columns).
Here the schema is plain SQL in migrations/0004_chat_history.sql, applied by the project's own runner,
and the queries go through the same psycopg pool type as the rest of radassist.

Isolation. Every write checks that the acting user owns the thread it touches:
- the acting user is the Chainlit session's user (socket handlers), or the user the HTTP guard in
  agent/ui/security.py decoded from the request's login token, or nobody when there is no Chainlit
  context at all (trusted server code and tests, which may pass an explicit owner);
- a thread's owner is set when it is created and never changes;
- a step, element or feedback id that already belongs to another thread is refused, never moved.
Reads that take no owner (`get_thread`, `get_element`, `get_thread_author`) are unscoped on purpose:
Chainlit checks authorship with them before it answers (HTTP `is_thread_author`, the socket's
thread check), so they must report the real owner.

Persistence races. Chainlit writes steps from fire-and-forget tasks, so a step's `create` can land after
its `update` (chainlit#2789: a late create with empty output wiped the final answer). Here a create only
fills fields that are still empty, and an update never replaces content with an empty value.

Elements keep only inline content and props: a client-supplied `path` is never read and a `url` is
never fetched or stored (CVE-2026-22218, CVE-2026-22219).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import psycopg
from chainlit.context import context_var
from chainlit.data.base import BaseDataLayer
from chainlit.data.utils import queue_until_user_message
from chainlit.element import mime_types
from chainlit.types import (
    Feedback,
    FeedbackDict,
    PageInfo,
    PaginatedResponse,
    Pagination,
    ThreadDict,
    ThreadFilter,
)
from chainlit.user import PersistedUser, User
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from agent.security.erasure import erase_threads

if TYPE_CHECKING:
    from chainlit.element import Element, ElementDict
    from chainlit.step import StepDict

log = logging.getLogger(__name__)

MAX_INLINE_BYTES = 1_000_000  # larger element content is not kept (the thread still records the element)
MAX_PAGE = 100
_SHARING_KEYS = ("is_shared", "shared_at")  # thread sharing is off: never store the flag
_MESSAGE_TYPES = ("user_message", "assistant_message")

ANONYMOUS = ""  # an acting user that owns nothing
_request_actor: ContextVar[str | None] = ContextVar("radassist_request_actor", default=None)


class AccessDenied(PermissionError):
    """The acting user may not write this thread, step, element or feedback (message names ids only)."""


@contextmanager
def acting_as(identifier: str) -> Iterator[None]:
    """Run data-layer calls on behalf of a user (the HTTP guard uses it; "" means anonymous)."""
    token = _request_actor.set(identifier)
    try:
        yield
    finally:
        _request_actor.reset(token)


def current_actor() -> str | None:
    """The identifier of the user the current call acts for; "" for anonymous; None for trusted code."""
    actor = _request_actor.get()
    if actor is not None:
        return actor
    ctx = context_var.get(None)
    if ctx is None:
        return None
    user = getattr(ctx.session, "user", None)
    return user.identifier if user else ANONYMOUS


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _queued(method: F) -> F:
    """Chainlit's `queue_until_user_message`, usable outside a Chainlit context (server code, tests)."""
    queued = queue_until_user_message()(method)

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if context_var.get(None) is None:
            return await method(self, *args, **kwargs)
        return await queued(self, *args, **kwargs)

    return cast(F, wrapper)


# -- conversions --------------------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    """Chainlit's own format: UTC with a trailing Z."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _show_input_to_db(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _show_input_from_db(value: str | None) -> bool | str | None:
    return {"true": True, "false": False}.get(value, value) if value is not None else None


def _like_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _step_params(step: StepDict) -> dict[str, Any]:
    metadata = dict(step.get("metadata") or {})
    generation = step.get("generation")
    modes = step.get("modes")
    tags = step.get("tags")
    return {
        "id": step["id"],
        "thread_id": step.get("threadId"),
        "parent_id": step.get("parentId"),
        "name": step.get("name") or "",
        "type": step.get("type") or "undefined",
        "input": _text(step.get("input")),
        "output": _text(step.get("output")),
        "metadata": Jsonb(metadata),
        "tags": list(tags) if tags else None,
        "command": step.get("command"),
        "modes": Jsonb(modes) if modes else None,
        "streaming": bool(step.get("streaming")),
        "wait_for_answer": step.get("waitForAnswer"),
        "is_error": bool(step.get("isError")),
        "show_input": _show_input_to_db(step.get("showInput")),
        "default_open": step.get("defaultOpen"),
        "auto_collapse": step.get("autoCollapse"),
        "language": step.get("language"),
        "icon": step.get("icon") or metadata.get("icon"),
        "generation": Jsonb(generation) if generation else None,
        "created_at": _parse_time(step.get("createdAt")) or datetime.now(UTC),
        "start_time": _parse_time(step.get("start")),
        "end_time": _parse_time(step.get("end")),
    }


def _step_dict(row: dict[str, Any]) -> StepDict:
    feedback: FeedbackDict | None = None
    if row.get("feedback_id") is not None:
        feedback = {
            "forId": row["id"],
            "id": row["feedback_id"],
            "value": row["feedback_value"],
            "comment": row["feedback_comment"],
        }
    return {
        "id": row["id"],
        "threadId": row["thread_id"],
        "parentId": row["parent_id"],
        "name": row["name"],
        "type": row["type"],
        "input": row["input"],
        "output": row["output"],
        "metadata": row["metadata"] or {},
        "tags": row["tags"],
        "command": row["command"],
        "modes": row["modes"],
        "streaming": False,  # a persisted step is never still streaming
        "waitForAnswer": row["wait_for_answer"],
        "isError": row["is_error"],
        "showInput": _show_input_from_db(row["show_input"]),
        "defaultOpen": row["default_open"],
        "autoCollapse": row["auto_collapse"],
        "language": row["language"],
        "icon": row["icon"],
        "generation": row["generation"],
        "createdAt": _iso(row["created_at"]),
        "start": _iso(row["start_time"]),
        "end": _iso(row["end_time"]),
        "feedback": feedback,
    }


def _element_dict(row: dict[str, Any]) -> ElementDict:
    url = None
    if row["content"] is not None:
        # The stored bytes go back as a data: URL, so the browser shows them without any server fetch.
        mime = row["mime"] or "application/octet-stream"
        url = f"data:{mime};base64,{base64.b64encode(bytes(row['content'])).decode('ascii')}"
    return {
        "id": row["id"],
        "threadId": row["thread_id"],
        "forId": row["step_id"],
        "type": row["type"],
        "name": row["name"],
        "display": row["display"],
        "mime": row["mime"],
        "size": row["size"],
        "language": row["language"],
        "page": row["page"],
        "autoPlay": row["auto_play"],
        "playerConfig": row["player_config"],
        "props": row["props"] or {},
        "url": url,
        "chainlitKey": None,
        "objectKey": None,
    }


def _inline_content(element: Element) -> bytes | None:
    if element.type == "custom":
        return None  # its content is its props, stored as such
    content = element.content
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes | bytearray):
        return None  # path- or url-only elements keep no content: never read or fetch them
    if len(content) > MAX_INLINE_BYTES:
        log.warning("element content over %d bytes not kept inline", MAX_INLINE_BYTES)
        return None
    return bytes(content)


# -- SQL ----------------------------------------------------------------------------------------------

_STEP_COLUMNS = (
    "id, thread_id, parent_id, name, type, input, output, metadata, tags, command, modes, streaming,"
    " wait_for_answer, is_error, show_input, default_open, auto_collapse, language, icon, generation,"
    " created_at, start_time, end_time"
)
_STEP_INSERT = f"""
INSERT INTO steps ({_STEP_COLUMNS}) VALUES (
    %(id)s, %(thread_id)s, %(parent_id)s, %(name)s, %(type)s, %(input)s, %(output)s, %(metadata)s,
    %(tags)s, %(command)s, %(modes)s, %(streaming)s, %(wait_for_answer)s, %(is_error)s, %(show_input)s,
    %(default_open)s, %(auto_collapse)s, %(language)s, %(icon)s, %(generation)s, %(created_at)s,
    %(start_time)s, %(end_time)s)
ON CONFLICT (id) DO UPDATE SET {{assignments}}
WHERE steps.thread_id = EXCLUDED.thread_id
RETURNING id
"""
_NULLABLE_STEP_FIELDS = (
    "tags",
    "command",
    "modes",
    "wait_for_answer",
    "show_input",
    "default_open",
    "auto_collapse",
    "language",
    "icon",
    "generation",
)
# A create only fills what is still empty: it may arrive after the update that holds the final content.
_CREATE_ASSIGNMENTS = ", ".join(
    [
        "parent_id = COALESCE(steps.parent_id, EXCLUDED.parent_id)",
        "name = CASE WHEN steps.name = '' THEN EXCLUDED.name ELSE steps.name END",
        "type = CASE WHEN steps.type = 'undefined' THEN EXCLUDED.type ELSE steps.type END",
        "input = CASE WHEN steps.input = '' THEN EXCLUDED.input ELSE steps.input END",
        "output = CASE WHEN steps.output = '' THEN EXCLUDED.output ELSE steps.output END",
        "metadata = CASE WHEN steps.metadata = '{}' THEN EXCLUDED.metadata ELSE steps.metadata END",
        "is_error = steps.is_error OR EXCLUDED.is_error",
        "created_at = LEAST(steps.created_at, EXCLUDED.created_at)",
        "start_time = LEAST(steps.start_time, EXCLUDED.start_time)",
        "end_time = COALESCE(steps.end_time, EXCLUDED.end_time)",
        *(f"{field} = COALESCE(steps.{field}, EXCLUDED.{field})" for field in _NULLABLE_STEP_FIELDS),
    ]
)
# An update carries the newest state, but never replaces content with an empty value.
_UPDATE_ASSIGNMENTS = ", ".join(
    [
        "parent_id = COALESCE(EXCLUDED.parent_id, steps.parent_id)",
        "name = CASE WHEN EXCLUDED.name = '' THEN steps.name ELSE EXCLUDED.name END",
        "type = CASE WHEN EXCLUDED.type = 'undefined' THEN steps.type ELSE EXCLUDED.type END",
        "input = CASE WHEN EXCLUDED.input = '' THEN steps.input ELSE EXCLUDED.input END",
        "output = CASE WHEN EXCLUDED.output = '' THEN steps.output ELSE EXCLUDED.output END",
        "metadata = CASE WHEN EXCLUDED.metadata = '{}' THEN steps.metadata ELSE EXCLUDED.metadata END",
        "is_error = steps.is_error OR EXCLUDED.is_error",
        "created_at = LEAST(steps.created_at, EXCLUDED.created_at)",
        "start_time = LEAST(steps.start_time, EXCLUDED.start_time)",
        "end_time = COALESCE(EXCLUDED.end_time, steps.end_time)",
        *(f"{field} = COALESCE(EXCLUDED.{field}, steps.{field})" for field in _NULLABLE_STEP_FIELDS),
    ]
)
_STEPS_WITH_FEEDBACK = """
SELECT s.*, f.id AS feedback_id, f.value AS feedback_value, f.comment AS feedback_comment
FROM steps s
LEFT JOIN feedback f ON f.step_id = s.id AND f.user_id = %(owner)s
"""


class PostgresDataLayer(BaseDataLayer):
    """Chainlit's data layer on a psycopg 3 pool: the runtime's pool, or one opened on first use.

    The chat UI hands it the runtime's pool at start-up (`use_pool`), so the server has one pool;
    a layer built without one (tests, tools) opens its own on first use.
    """

    def __init__(self, url: str | None = None, *, pool: AsyncConnectionPool | None = None) -> None:
        self._url = url
        self._pool = pool
        self._owns_pool = pool is None
        self._opening: asyncio.Lock | None = None

    def use_pool(self, pool: AsyncConnectionPool) -> None:
        """Work on this (already open) pool from now on; closing the layer leaves it open."""
        if self._pool is not None and self._owns_pool:
            raise RuntimeError("the data layer already opened its own pool")
        self._pool, self._owns_pool = pool, False

    async def pool(self) -> AsyncConnectionPool:
        """The open pool; without one from `use_pool`, the first call opens one (DATABASE_URL or embedded)."""
        if self._pool is None:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                if self._pool is None:
                    from agent.db import open_pool

                    url = self._url if self._url else await asyncio.to_thread(_configured_url)
                    pool = open_pool(url, min_size=1, max_size=4)
                    await pool.open(wait=True)
                    self._pool = pool
        return self._pool

    # -- ownership helpers ------------------------------------------------------------------------

    @staticmethod
    async def _actor_id(conn: psycopg.AsyncConnection) -> str | None:
        """The acting user's id; None for trusted code. An unknown or disabled user is refused."""
        actor = current_actor()
        if actor is None:
            return None
        cur = await conn.execute("SELECT id FROM users WHERE identifier = %s AND NOT disabled", (actor,))
        row = await cur.fetchone()
        if row is None:
            raise AccessDenied("the session's user has no enabled account")
        return str(row[0])

    @staticmethod
    async def _writable_thread(conn: psycopg.AsyncConnection, thread_id: str, actor_id: str | None) -> str:
        """Create the thread for the acting user if it is new; return its owner, refusing anyone else."""
        if not thread_id:
            raise AccessDenied("a step or element without a thread")
        if actor_id is not None:
            await conn.execute(
                "INSERT INTO threads (id, user_id) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                (thread_id, actor_id),
            )
        cur = await conn.execute("SELECT user_id FROM threads WHERE id = %s", (thread_id,))
        row = await cur.fetchone()
        if row is None:
            raise AccessDenied(f"thread {thread_id} does not exist and has no owner to create it for")
        if actor_id is not None and row[0] != actor_id:
            raise AccessDenied(f"thread {thread_id} belongs to another user")
        return str(row[0])

    # -- users --------------------------------------------------------------------------------------

    async def get_user(self, identifier: str) -> PersistedUser | None:
        """An enabled account; None for unknown or disabled ones."""
        async with (await self.pool()).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, identifier, role, metadata, created_at FROM users"
                " WHERE identifier = %s AND NOT disabled",
                (identifier,),
            )
            row = await cur.fetchone()
        return _persisted_user(row) if row else None

    async def create_user(self, user: User) -> PersistedUser | None:
        """Record an already-authenticated user's identifier and metadata; never a password or role.

        Chainlit calls this after every login. A disabled account is left untouched and not returned.
        """
        metadata = {k: v for k, v in (user.metadata or {}).items() if k != "role"}
        async with (await self.pool()).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO users (identifier, metadata) VALUES (%s, %s)"
                " ON CONFLICT (identifier) DO UPDATE SET metadata = EXCLUDED.metadata"
                " WHERE NOT users.disabled"
                " RETURNING id, identifier, role, metadata, created_at",
                (user.identifier, Jsonb(metadata)),
            )
            row = await cur.fetchone()
        return _persisted_user(row) if row else None

    async def is_active(self, identifier: str) -> bool:
        """True when the identifier names an enabled account (the HTTP guard checks every request)."""
        async with (await self.pool()).connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM users WHERE identifier = %s AND NOT disabled", (identifier,)
            )
            return await cur.fetchone() is not None

    # -- threads ------------------------------------------------------------------------------------

    async def get_thread_author(self, thread_id: str) -> str:
        """The owner's identifier, or "" when the thread does not exist (Chainlit then answers 404)."""
        async with (await self.pool()).connection() as conn:
            cur = await conn.execute(
                "SELECT u.identifier FROM threads t JOIN users u ON u.id = t.user_id WHERE t.id = %s",
                (thread_id,),
            )
            row = await cur.fetchone()
        return str(row[0]) if row else ""

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        async with (await self.pool()).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT t.*, u.identifier AS user_identifier FROM threads t"
                " JOIN users u ON u.id = t.user_id WHERE t.id = %s",
                (thread_id,),
            )
            thread = await cur.fetchone()
            if thread is None:
                return None
            await cur.execute(
                _STEPS_WITH_FEEDBACK + " WHERE s.thread_id = %(thread)s ORDER BY s.created_at, s.seq",
                {"owner": thread["user_id"], "thread": thread_id},
            )
            steps = await cur.fetchall()
            await cur.execute(
                "SELECT * FROM elements WHERE thread_id = %s ORDER BY created_at, id", (thread_id,)
            )
            elements = await cur.fetchall()
        return ThreadDict(
            id=thread["id"],
            createdAt=_iso(thread["created_at"]) or "",
            name=thread["name"],
            userId=thread["user_id"],
            userIdentifier=thread["user_identifier"],
            tags=thread["tags"],
            metadata=thread["metadata"],
            steps=[_step_dict(row) for row in steps],
            elements=[_element_dict(row) for row in elements],
        )

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[ThreadDict]:
        """One user's threads, most recently active first; no user id means no threads."""
        empty: PaginatedResponse[ThreadDict] = PaginatedResponse(
            pageInfo=PageInfo(hasNextPage=False, startCursor=None, endCursor=None), data=[]
        )
        if not filters.userId:
            return empty
        limit = max(1, min(pagination.first, MAX_PAGE))
        params: dict[str, Any] = {"user_id": filters.userId, "limit": limit + 1}
        conditions = ["t.user_id = %(user_id)s"]
        actor = current_actor()
        if actor is not None:
            params["actor"] = actor
            conditions.append("u.identifier = %(actor)s AND NOT u.disabled")
        if filters.search:
            params["pattern"] = _like_pattern(filters.search)
            conditions.append(
                "(t.name ILIKE %(pattern)s OR EXISTS (SELECT 1 FROM steps s WHERE s.thread_id = t.id"
                " AND s.type IN ('user_message', 'assistant_message') AND s.output ILIKE %(pattern)s))"
            )
        if filters.feedback is not None:
            params["feedback"] = int(filters.feedback)
            conditions.append(
                "EXISTS (SELECT 1 FROM feedback f WHERE f.thread_id = t.id AND f.user_id = t.user_id"
                " AND f.value = %(feedback)s)"
            )
        if pagination.cursor:
            params["cursor"] = pagination.cursor
            conditions.append(
                "(t.updated_at, t.id) < (SELECT c.updated_at, c.id FROM threads c"
                " WHERE c.id = %(cursor)s AND c.user_id = %(user_id)s)"
            )
        query = (
            "SELECT t.id, t.name, t.user_id, t.tags, t.metadata, t.updated_at, u.identifier"
            " FROM threads t JOIN users u ON u.id = t.user_id"
            f" WHERE {' AND '.join(conditions)}"
            " ORDER BY t.updated_at DESC, t.id DESC LIMIT %(limit)s"
        )
        async with (await self.pool()).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall()
        has_next = len(rows) > limit
        threads = [
            ThreadDict(
                id=row["id"],
                createdAt=_iso(row["updated_at"]) or "",  # the sidebar groups by last activity
                name=row["name"],
                userId=row["user_id"],
                userIdentifier=row["identifier"],
                tags=row["tags"],
                metadata=row["metadata"],
                steps=[],
                elements=[],
            )
            for row in rows[:limit]
        ]
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=has_next,
                startCursor=threads[0]["id"] if threads else None,
                endCursor=threads[-1]["id"] if threads else None,
            ),
            data=threads,
        )

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Create or update a thread. Its owner is fixed at creation; metadata keys set to None are removed."""
        metadata = {k: v for k, v in (metadata or {}).items() if k not in _SHARING_KEYS}
        params = {
            "id": thread_id,
            "name": name[:255] if name is not None else None,
            "tags": list(tags) if tags is not None else None,
            "metadata": Jsonb({k: v for k, v in metadata.items() if v is not None}),
            "drop": [k for k, v in metadata.items() if v is None],
        }
        assignments = (
            "name = COALESCE(%(name)s::text, threads.name), tags = COALESCE(%(tags)s::text[], threads.tags),"
            " metadata = (threads.metadata - %(drop)s::text[]) || %(metadata)s, updated_at = now()"
        )
        async with (await self.pool()).connection() as conn:
            actor_id = await self._actor_id(conn)
            if user_id is not None and actor_id is not None and user_id != actor_id:
                raise AccessDenied(f"thread {thread_id}: cannot assign it to another user")
            owner = user_id or actor_id
            if owner is None:  # trusted code without an owner can only update an existing thread
                await conn.execute(f"UPDATE threads SET {assignments} WHERE id = %(id)s", params)
                return
            cur = await conn.execute(
                "INSERT INTO threads (id, user_id, name, tags, metadata)"
                " VALUES (%(id)s, %(owner)s, %(name)s, COALESCE(%(tags)s::text[], '{}'), %(metadata)s)"
                f" ON CONFLICT (id) DO UPDATE SET {assignments}"
                " WHERE threads.user_id = EXCLUDED.user_id RETURNING id",
                {**params, "owner": owner},
            )
            if await cur.fetchone() is None:
                raise AccessDenied(f"thread {thread_id} belongs to another user")

    async def delete_thread(self, thread_id: str) -> None:
        """Erase a thread everywhere, in one transaction: its steps, elements and feedback (by cascade),
        the answers' provenance and the agent's checkpoints (agent/security/erasure.py)."""
        async with (await self.pool()).connection() as conn, conn.transaction():
            actor_id = await self._actor_id(conn)
            cur = await conn.execute("SELECT user_id FROM threads WHERE id = %s FOR UPDATE", (thread_id,))
            row = await cur.fetchone()
            if row is None:
                return
            if actor_id is not None and row[0] != actor_id:
                raise AccessDenied(f"thread {thread_id} belongs to another user")
            await erase_threads(conn, [thread_id])

    # -- steps --------------------------------------------------------------------------------------

    @_queued
    async def create_step(self, step_dict: StepDict) -> None:
        await self._write_step(step_dict, _CREATE_ASSIGNMENTS)

    @_queued
    async def update_step(self, step_dict: StepDict) -> None:
        await self._write_step(step_dict, _UPDATE_ASSIGNMENTS)

    async def _write_step(self, step_dict: StepDict, assignments: str) -> None:
        # Chainlit may write the same step twice at once; the loser of that race can hit the
        # (id, thread_id) unique index, which ON CONFLICT (id) does not arbitrate. Once the winner
        # has committed, the retry sees its row and updates it.
        for attempt in (1, 2):
            try:
                await self._write_step_once(step_dict, assignments)
                return
            except psycopg.errors.UniqueViolation:
                if attempt == 2:
                    raise

    async def _write_step_once(self, step_dict: StepDict, assignments: str) -> None:
        params = _step_params(step_dict)
        async with (await self.pool()).connection() as conn, conn.transaction():
            actor_id = await self._actor_id(conn)
            await self._writable_thread(conn, params["thread_id"], actor_id)
            cur = await conn.execute(_STEP_INSERT.format(assignments=assignments), params)
            if await cur.fetchone() is None:
                raise AccessDenied(f"step {params['id']} belongs to another thread")
            if params["type"] in _MESSAGE_TYPES:
                await conn.execute(
                    "UPDATE threads SET updated_at = now() WHERE id = %s", (params["thread_id"],)
                )

    @_queued
    async def delete_step(self, step_id: str) -> None:
        """Delete a step with its elements and feedback (by cascade)."""
        async with (await self.pool()).connection() as conn:
            actor_id = await self._actor_id(conn)
            cur = await conn.execute(
                "DELETE FROM steps s USING threads t WHERE s.id = %(id)s AND t.id = s.thread_id"
                " AND (%(actor)s::text IS NULL OR t.user_id = %(actor)s)",
                {"id": step_id, "actor": actor_id},
            )
            if cur.rowcount == 0 and await _exists(conn, "steps", step_id):
                raise AccessDenied(f"step {step_id} belongs to another user")

    async def get_favorite_steps(self, user_id: str) -> list[StepDict]:
        async with (await self.pool()).connection() as conn:
            actor_id = await self._actor_id(conn)
            if actor_id is not None and actor_id != user_id:
                return []
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    _STEPS_WITH_FEEDBACK + " JOIN threads t ON t.id = s.thread_id"
                    " WHERE t.user_id = %(owner)s AND s.metadata->>'favorite' = 'true'"
                    " ORDER BY s.created_at DESC",
                    {"owner": user_id},
                )
                rows = await cur.fetchall()
        return [_step_dict(row) for row in rows]

    # -- elements -----------------------------------------------------------------------------------

    @_queued
    async def create_element(self, element: Element) -> None:
        """Store an element's metadata, props and inline content; never its path or URL."""
        if not element.for_id:
            return
        params: dict[str, Any] = {
            "id": element.id,
            "thread_id": element.thread_id,
            "step_id": element.for_id,
            "type": element.type,
            "name": element.name or "",
            "display": element.display or "inline",
            "mime": element.mime or mime_types.get(element.type),
            "size": getattr(element, "size", None),
            "language": element.language,
            "page": getattr(element, "page", None),
            "auto_play": getattr(element, "auto_play", None),
            "player_config": Jsonb(cfg) if (cfg := getattr(element, "player_config", None)) else None,
            "props": Jsonb(getattr(element, "props", None) or {}),
            "content": _inline_content(element),
        }
        async with (await self.pool()).connection() as conn:
            try:
                async with conn.transaction():
                    actor_id = await self._actor_id(conn)
                    await self._writable_thread(conn, params["thread_id"], actor_id)
                    # The element may be persisted before its step: hold the step's place in this thread.
                    await conn.execute(
                        "INSERT INTO steps (id, thread_id, type) VALUES (%s, %s, 'undefined')"
                        " ON CONFLICT (id) DO NOTHING",
                        (params["step_id"], params["thread_id"]),
                    )
                    cur = await conn.execute(
                        "INSERT INTO elements (id, thread_id, step_id, type, name, display, mime, size,"
                        " language, page, auto_play, player_config, props, content) VALUES (%(id)s,"
                        " %(thread_id)s, %(step_id)s, %(type)s, %(name)s, %(display)s, %(mime)s, %(size)s,"
                        " %(language)s, %(page)s, %(auto_play)s, %(player_config)s, %(props)s, %(content)s)"
                        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, display = EXCLUDED.display,"
                        " props = EXCLUDED.props, content = COALESCE(EXCLUDED.content, elements.content)"
                        " WHERE elements.thread_id = EXCLUDED.thread_id"
                        " AND elements.step_id = EXCLUDED.step_id RETURNING id",
                        params,
                    )
                    if await cur.fetchone() is None:
                        raise AccessDenied(f"element {element.id} belongs to another thread")
            except psycopg.errors.ForeignKeyViolation:
                raise AccessDenied(
                    f"element {element.id}: step {element.for_id} is in another thread"
                ) from None

    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        async with (await self.pool()).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT * FROM elements WHERE id = %s AND thread_id = %s", (element_id, thread_id)
            )
            row = await cur.fetchone()
        return _element_dict(row) if row else None

    @_queued
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        async with (await self.pool()).connection() as conn:
            actor_id = await self._actor_id(conn)
            cur = await conn.execute(
                "DELETE FROM elements e USING threads t WHERE e.id = %(id)s AND t.id = e.thread_id"
                " AND (%(thread)s::text IS NULL OR e.thread_id = %(thread)s)"
                " AND (%(actor)s::text IS NULL OR t.user_id = %(actor)s)",
                {"id": element_id, "thread": thread_id, "actor": actor_id},
            )
            if cur.rowcount == 0 and await _exists(conn, "elements", element_id):
                raise AccessDenied(f"element {element_id} belongs to another thread or user")

    # -- feedback -----------------------------------------------------------------------------------

    async def upsert_feedback(self, feedback: Feedback) -> str:
        """One rating per user and step, given by the thread's owner; the client's feedback id is not trusted."""
        async with (await self.pool()).connection() as conn:
            actor_id = await self._actor_id(conn)
            cur = await conn.execute(
                "INSERT INTO feedback (step_id, thread_id, user_id, value, comment)"
                " SELECT s.id, s.thread_id, t.user_id, %(value)s, %(comment)s"
                " FROM steps s JOIN threads t ON t.id = s.thread_id"
                " WHERE s.id = %(for_id)s AND (%(actor)s::text IS NULL OR t.user_id = %(actor)s)"
                " ON CONFLICT (step_id, user_id) DO UPDATE"
                " SET value = EXCLUDED.value, comment = EXCLUDED.comment, updated_at = now()"
                " RETURNING id",
                {
                    "for_id": feedback.forId,
                    "value": int(feedback.value),
                    "comment": feedback.comment,
                    "actor": actor_id,
                },
            )
            row = await cur.fetchone()
        if row is None:
            raise AccessDenied(f"step {feedback.forId} does not exist or belongs to another user")
        return str(row[0])

    async def delete_feedback(self, feedback_id: str) -> bool:
        async with (await self.pool()).connection() as conn:
            actor_id = await self._actor_id(conn)
            cur = await conn.execute(
                "DELETE FROM feedback WHERE id = %(id)s AND (%(actor)s::text IS NULL OR user_id = %(actor)s)",
                {"id": feedback_id, "actor": actor_id},
            )
            if cur.rowcount == 0 and await _exists(conn, "feedback", feedback_id):
                raise AccessDenied(f"feedback {feedback_id} belongs to another user")
        return cur.rowcount > 0

    # -- ownership lookups for the HTTP guard -------------------------------------------------------

    async def step_owner(self, step_id: str) -> str | None:
        """The identifier of the user owning the step's thread, or None."""
        return await self._owner(
            "SELECT u.identifier FROM steps s JOIN threads t ON t.id = s.thread_id"
            " JOIN users u ON u.id = t.user_id WHERE s.id = %s",
            step_id,
        )

    async def feedback_owner(self, feedback_id: str) -> str | None:
        return await self._owner(
            "SELECT u.identifier FROM feedback f JOIN users u ON u.id = f.user_id WHERE f.id = %s",
            feedback_id,
        )

    async def thread_of(self, kind: str, key: str) -> str | None:
        """The thread an existing element or step belongs to, or None."""
        table = {"element": "elements", "step": "steps"}[kind]
        return await self._owner(f"SELECT thread_id FROM {table} WHERE id = %s", key)

    async def _owner(self, query: str, key: str) -> str | None:
        async with (await self.pool()).connection() as conn:
            cur = await conn.execute(query, (key,))
            row = await cur.fetchone()
        return str(row[0]) if row else None

    # -- misc ---------------------------------------------------------------------------------------

    async def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        if self._owns_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def _configured_url() -> str:
    from agent.db import database_url
    from agent.settings import get_settings

    return database_url(get_settings())


def _persisted_user(row: dict[str, Any]) -> PersistedUser:
    return PersistedUser(
        id=row["id"],
        identifier=row["identifier"],
        createdAt=_iso(row["created_at"]) or "",
        metadata={**(row["metadata"] or {}), "role": row["role"]},
    )


async def _exists(conn: psycopg.AsyncConnection, table: str, key: str) -> bool:
    assert table in ("threads", "steps", "elements", "feedback")
    cur = await conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (key,))
    return await cur.fetchone() is not None
