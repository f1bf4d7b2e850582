"""Server-side login sessions and account state, for every front end (the chat UI, an API).

A login creates a row in `sessions`; the login token carries only its id (claim `sid` in the token's user
metadata). Every HTTP request and socket event calls `use_session`, which accepts the session only while
the account is enabled, the session was not revoked, it is younger than the absolute lifetime and it
was used within the idle timeout, and then records the activity. Ending a session is one UPDATE, so
logout, a password change, disabling an account or `radassist sessions revoke` take effect on the next
request; open sockets are closed by the UI's periodic check (agent/ui/socket_guard.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from agent.settings import Settings

SESSION_CLAIM = "sid"  # the key of the session id in the login token's user metadata
AccountState = Literal["active", "disabled", "unknown"]


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: idle timeout and absolute lifetime, in seconds."""

    idle_timeout: int
    lifetime: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(idle_timeout=settings.session_idle_timeout, lifetime=settings.session_lifetime)


@dataclass(frozen=True)
class LiveSession:
    """A session that was just accepted, with its account."""

    id: str
    user_id: str
    identifier: str
    role: str


@dataclass(frozen=True)
class SessionInfo:
    """An open session as `radassist sessions list` shows it."""

    identifier: str
    client: str
    created_at: datetime
    last_seen_at: datetime


# The conditions for a session to be usable, applied at check time with the current policy.
_LIVE = (
    "s.revoked_at IS NULL AND NOT u.disabled"
    " AND s.created_at > now() - make_interval(secs => %(lifetime)s)"
    " AND s.last_seen_at > now() - make_interval(secs => %(idle)s)"
)


def _policy(policy: SessionPolicy) -> dict[str, Any]:
    return {"lifetime": policy.lifetime, "idle": policy.idle_timeout}


async def open_session(pool: AsyncConnectionPool, identifier: str, client: str) -> str | None:
    """Start a session for an enabled account; return its id (None when the account cannot log in)."""
    session_id = secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO sessions (id, user_id, client) SELECT %s, id, %s FROM users"
            " WHERE identifier = %s AND NOT disabled RETURNING id",
            (session_id, client[:200], identifier),
        )
        return session_id if await cur.fetchone() else None


async def use_session(
    pool: AsyncConnectionPool, session_id: str, policy: SessionPolicy
) -> LiveSession | None:
    """Accept a session and record activity on it, or return None when it has ended for any reason."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE sessions s SET last_seen_at = now() FROM users u"
            f" WHERE s.id = %(id)s AND u.id = s.user_id AND {_LIVE}"
            " RETURNING s.id, u.id AS user_id, u.identifier, u.role",
            {"id": session_id, **_policy(policy)},
        )
        row = await cur.fetchone()
    return LiveSession(row["id"], row["user_id"], row["identifier"], row["role"]) if row else None


async def live_sessions(pool: AsyncConnectionPool, session_ids: list[str], policy: SessionPolicy) -> set[str]:
    """Which of these sessions are still usable (without counting the check as activity)."""
    if not session_ids:
        return set()
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ANY(%(ids)s) AND {_LIVE}",
            {"ids": list(session_ids), **_policy(policy)},
        )
        return {str(row[0]) for row in await cur.fetchall()}


async def end_session(pool: AsyncConnectionPool, session_id: str, reason: str) -> bool:
    """Revoke one session (logout); True when it was still open."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = %s WHERE id = %s AND revoked_at IS NULL",
            (reason, session_id),
        )
        return cur.rowcount > 0


def revoke_user_sessions(conn: psycopg.Connection, identifier: str, reason: str) -> int:
    """Revoke every open session of an account, in the caller's transaction; return how many."""
    cur = conn.execute(
        "UPDATE sessions s SET revoked_at = now(), revoked_reason = %s FROM users u"
        " WHERE u.id = s.user_id AND u.identifier = %s AND s.revoked_at IS NULL",
        (reason, identifier),
    )
    return cur.rowcount


def list_sessions(
    conn: psycopg.Connection, policy: SessionPolicy, identifier: str | None = None
) -> list[SessionInfo]:
    """Usable sessions, most recently active first, optionally of one account."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT u.identifier, s.client, s.created_at, s.last_seen_at FROM sessions s"
            f" JOIN users u ON u.id = s.user_id WHERE {_LIVE}"
            " AND (%(who)s::text IS NULL OR u.identifier = %(who)s) ORDER BY s.last_seen_at DESC",
            {"who": identifier, **_policy(policy)},
        )
        rows = cur.fetchall()
    return [SessionInfo(r["identifier"], r["client"], r["created_at"], r["last_seen_at"]) for r in rows]


async def account_state(pool: AsyncConnectionPool, identifier: str) -> AccountState:
    """Whether an account exists and may act ("active"), is disabled, or is unknown."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT disabled FROM users WHERE identifier = %s", (identifier,))
        row = await cur.fetchone()
    if row is None:
        return "unknown"
    return "disabled" if row[0] else "active"
