"""Server-side sessions: every way a session ends, checked on the rows the server reads on each request."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from io import StringIO

import psycopg
import pytest

from agent.cli import main
from agent.db import open_pool
from agent.security.sessions import (
    SessionPolicy,
    account_state,
    end_session,
    live_sessions,
    open_session,
    use_session,
)
from agent.ui.auth import add_user, disable_user, set_password

pytestmark = pytest.mark.postgres
PASSWORD = "grey-lung-window-42"
POLICY = SessionPolicy(idle_timeout=1800, lifetime=43200)


@pytest.fixture
async def pool(fresh_db_url: str) -> AsyncIterator[object]:
    for name in ("alice", "bob"):
        add_user(fresh_db_url, name, PASSWORD)
    pool = open_pool(fresh_db_url, max_size=2)
    await pool.open(wait=True)
    yield pool
    await pool.close()


def age(url: str, session_id: str, column: str, seconds: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            f"UPDATE sessions SET {column} = {column} - make_interval(secs => %s) WHERE id = %s",
            (seconds, session_id),
        )


async def test_a_session_is_usable_and_records_activity(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    session_id = await open_session(pool, "alice", "10.0.0.7")
    assert session_id and len(session_id) >= 40
    age(fresh_db_url, session_id, "last_seen_at", 1700)
    live = await use_session(pool, session_id, POLICY)
    assert live is not None and (live.identifier, live.role) == ("alice", "clinician")
    age(fresh_db_url, session_id, "last_seen_at", 1700)  # 1700 s after the last use: still within 30 min
    assert await use_session(pool, session_id, POLICY) is not None, "using it reset the idle clock"
    with psycopg.connect(fresh_db_url) as conn:
        assert (
            conn.execute("SELECT client FROM sessions WHERE id = %s", (session_id,)).fetchone()[0]
            == "10.0.0.7"
        )


async def test_idle_timeout_ends_a_session_and_is_configurable(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    session_id = await open_session(pool, "alice", "")
    age(fresh_db_url, session_id, "last_seen_at", 1801)
    assert await use_session(pool, session_id, POLICY) is None, "31 minutes idle: over the 30 min default"
    assert await use_session(pool, session_id, SessionPolicy(idle_timeout=3600, lifetime=43200)) is not None


async def test_the_lifetime_ends_even_an_active_session(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    session_id = await open_session(pool, "alice", "")
    age(fresh_db_url, session_id, "created_at", 43201)
    assert await use_session(pool, session_id, POLICY) is None
    assert await use_session(pool, session_id, SessionPolicy(idle_timeout=1800, lifetime=86400)) is not None


async def test_checking_open_sockets_is_not_activity(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    session_id = await open_session(pool, "alice", "")
    age(fresh_db_url, session_id, "last_seen_at", 1000)
    assert await live_sessions(pool, [session_id, "unknown"], POLICY) == {session_id}
    age(fresh_db_url, session_id, "last_seen_at", 801)
    assert await live_sessions(pool, [session_id], POLICY) == set(), "the check above did not refresh it"


async def test_logout_password_change_and_disabling_end_sessions(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    first, second, bobs = [await open_session(pool, n, "") for n in ("alice", "alice", "bob")]
    assert await end_session(pool, first, "logout") and not await end_session(pool, first, "logout")
    assert await use_session(pool, first, POLICY) is None
    assert await use_session(pool, second, POLICY) is not None, "logout ends one session, not the others"
    set_password(fresh_db_url, "alice", PASSWORD + "-new")
    assert await use_session(pool, second, POLICY) is None
    assert await use_session(pool, bobs, POLICY) is not None
    disable_user(fresh_db_url, "bob")
    assert await use_session(pool, bobs, POLICY) is None
    assert await open_session(pool, "bob", "") is None, "a disabled account gets no session"
    assert (await account_state(pool, "bob"), await account_state(pool, "alice")) == ("disabled", "active")
    assert await account_state(pool, "mallory") == "unknown"
    with psycopg.connect(fresh_db_url) as conn:
        reasons = conn.execute("SELECT revoked_reason FROM sessions ORDER BY created_at").fetchall()
    assert sorted(r[0] for r in reasons) == ["account disabled", "logout", "password changed"]


async def test_sessions_list_and_revoke_from_the_command_line(  # type: ignore[no-untyped-def]
    pool,
    fresh_db_url: str,
    set_env: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(DATABASE_URL=fresh_db_url)
    ids = [await open_session(pool, "alice", "10.0.0.7"), await open_session(pool, "alice", "10.0.0.8")]
    bobs = await open_session(pool, "bob", "10.0.0.9")
    assert main(["sessions", "list", "alice"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and all(line.startswith("alice") for line in listed)
    assert main(["sessions", "revoke", "alice"]) == 0
    assert capsys.readouterr().out.strip() == "ended 2 session(s) of alice"
    assert [await use_session(pool, i, POLICY) for i in ids] == [None, None]
    assert await use_session(pool, bobs, POLICY) is not None
    assert main(["sessions", "revoke", "ghost"]) == 2
    assert "no user named 'ghost'" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", StringIO(PASSWORD + "-2\n"))
    assert main(["users", "passwd", "bob", "--password-stdin"]) == 0
    assert await use_session(pool, bobs, POLICY) is None
    with psycopg.connect(fresh_db_url) as conn:
        trail = conn.execute(
            "SELECT actor, action, target, result, detail FROM audit_log ORDER BY seq"
        ).fetchall()
    assert [(a.startswith("cli:"), act, t, r) for a, act, t, r, _ in trail] == [
        (True, "sessions.revoke", "alice", "success"),
        (True, "users.passwd", "bob", "success"),
    ]
    assert trail[0][4] == {"sessions": 2}
