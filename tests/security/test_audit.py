"""The audit trail: append-only in the database, hash-chained, verified and exported from the command line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import stat
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from agent.cli import main
from agent.db import open_pool
from agent.security import audit

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pool(fresh_db_url: str) -> AsyncIterator[object]:
    pool = open_pool(fresh_db_url, max_size=4)
    await pool.open(wait=True)
    yield pool
    await pool.close()


@pytest.fixture
def db(fresh_db_url: str, set_env: Callable[..., None]) -> str:
    set_env(DATABASE_URL=fresh_db_url)
    return fresh_db_url


async def test_concurrent_writers_extend_one_unbroken_chain(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    await asyncio.gather(
        *(
            audit.record(pool, actor=f"user{i}", client="10.0.0.1", action="thread.read", target=f"t{i}")
            for i in range(20)
        )
    )
    with psycopg.connect(fresh_db_url) as conn:
        audit.record_sync(
            conn, actor="cli:root", client="local", action="users.disable", target="carol", result="success"
        )
        rows = conn.execute("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
        result = audit.verify(conn)
    assert [r[0] for r in rows] == list(range(1, 22))
    assert rows[0][1] == audit.GENESIS and all(rows[i][1] == rows[i - 1][2] for i in range(1, 21))
    assert result.intact and result.records == 21 and result.last_hash == rows[-1][2]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET result = 'success'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
)
async def test_the_database_refuses_to_change_or_remove_records(
    pool, fresh_db_url: str, statement: str
) -> None:  # type: ignore[no-untyped-def]
    await audit.record(pool, actor="alice", client="10.0.0.1", action="login", result="failure")
    with (
        psycopg.connect(fresh_db_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)


def _tamper(url: str, statement: str) -> None:
    """What only someone able to bypass triggers (a superuser) can do."""
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement)


async def test_verify_finds_a_changed_and_a_removed_record(
    pool, db: str, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    for action in ("login", "thread.read", "thread.delete", "logout", "login"):
        await audit.record(pool, actor="alice", client="10.0.0.7", action=action)
    assert main(["audit", "verify"]) == 0
    assert "audit trail intact: 5 record(s)" in capsys.readouterr().out

    _tamper(db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "record 3: its content does not match its hash" in out

    _tamper(db, "UPDATE audit_log SET actor = 'alice' WHERE seq = 3")  # put it back...
    _tamper(db, "DELETE FROM audit_log WHERE seq = 4")  # ...and remove another one
    assert main(["audit", "verify"]) == 1
    assert "record 4 is missing (record 5 follows record 3)" in capsys.readouterr().out


async def test_recomputing_the_hash_of_a_changed_record_breaks_the_next_link(pool, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        await audit.record(pool, actor="alice", client="10.0.0.7", action="thread.read", target=f"t{i}")
    with psycopg.connect(fresh_db_url) as conn:
        row = conn.execute("SELECT * FROM audit_log WHERE seq = 2").fetchone()
    forged = dataclasses.replace(audit.AuditRecord(*row), target="other")  # the forger recomputes its hash
    _tamper(fresh_db_url, f"UPDATE audit_log SET target = 'other', hash = '{forged.digest()}' WHERE seq = 2")
    with psycopg.connect(fresh_db_url) as conn:
        problems = audit.verify(conn).problems
    assert problems == ["record 3: does not continue the chain from record 2"]


@pytest.mark.parametrize(
    "detail",
    [{"message": "Mr. Smith, 6 mm nodule, what follow-up? " * 10}, {"score": 0.5}, {"x": object()}],
)
async def test_details_hold_counts_and_names_never_content(pool, detail: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    with pytest.raises(ValueError, match="audit detail"):
        await audit.record(pool, actor="alice", client="10.0.0.7", action="thread.read", detail=detail)


async def test_export_since_writes_private_json_lines_and_is_itself_audited(  # type: ignore[no-untyped-def]
    pool, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await audit.record(pool, actor="alice", client="10.0.0.7", action="login")
    with psycopg.connect(db) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE audit_log SET at = at - interval '10 days'"
        )  # an old record (hash no longer matters here)
    await audit.record(
        pool, actor="bob", client="10.0.0.8", action="thread.delete", target="t1", result="denied"
    )
    out = tmp_path / "audit.jsonl"
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert main(["audit", "export", "--since", since, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"exported 1 audit record(s) to {out}"
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["actor"], r["action"], r["result"], r["client"]) for r in records] == [
        ("bob", "thread.delete", "denied", "10.0.0.8")
    ]
    assert set(records[0]) == {
        "seq",
        "at",
        "actor",
        "client",
        "action",
        "target",
        "result",
        "detail",
        "prev_hash",
        "hash",
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert main(["audit", "export", "--since", "7d", "--out", str(out)]) == 0
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["action"] == "audit.export" and last["actor"].startswith("cli:") and last["client"] == "local"


def test_export_mistakes_are_named(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "export", "--since", "last week", "--out", str(tmp_path / "a.jsonl")]) == 2
    assert "--since 'last week': give an ISO date" in capsys.readouterr().err
    assert main(["audit", "export", "--out", str(tmp_path / "missing" / "a.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
