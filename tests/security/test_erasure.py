"""Deleting a conversation deletes it everywhere, in one transaction; `radassist purge` applies retention."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.types.json import Jsonb

from agent.cli import main
from agent.db import open_checkpoint_pool
from agent.ui.auth import add_user
from agent.ui.data_layer import AccessDenied, PostgresDataLayer, acting_as
from tests.security.test_checkpoints import graph

pytestmark = pytest.mark.postgres
PASSWORD = "grey-lung-window-42"
CANARY = "CANARY-Varnokel"


@pytest.fixture
async def layer(fresh_db_url: str) -> AsyncIterator[PostgresDataLayer]:
    for name in ("alice", "bob"):
        add_user(fresh_db_url, name, PASSWORD)
    layer = PostgresDataLayer(fresh_db_url)
    yield layer
    await layer.close()


@pytest.fixture
async def checkpointer(fresh_db_url: str) -> AsyncIterator[Any]:
    pool = open_checkpoint_pool(fresh_db_url)
    await pool.open(wait=True)
    saver = AsyncPostgresSaver(pool)
    await saver.setup()
    yield saver
    await pool.close()


async def conversation(layer: PostgresDataLayer, saver: Any, url: str, thread_id: str, owner: str) -> None:
    """A thread as the chat UI leaves it: history rows, the answer's provenance, the agent's checkpoints."""
    with acting_as(owner):
        await layer.update_thread(thread_id, name=f"{CANARY} nodule")
        await layer.create_step(
            {"id": f"{thread_id}-q", "threadId": thread_id, "type": "user_message", "output": CANARY}
        )  # type: ignore[typeddict-item]
    await graph(saver).ainvoke({"message": CANARY, "items": []}, {"configurable": {"thread_id": thread_id}})
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO answer_provenance (thread_id, message_id, question, answer, verdict, provenance)"
            " VALUES (%s, %s, %s, 'answer', 'verified', %s)",
            (thread_id, f"{thread_id}-a", CANARY, Jsonb({})),
        )


def rows_of(url: str, thread_id: str) -> dict[str, int]:
    tables = ["threads", "steps", "answer_provenance", "checkpoints", "checkpoint_blobs", "checkpoint_writes"]
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(
                f"SELECT count(*) FROM {t} WHERE {'id' if t == 'threads' else 'thread_id'} = %s", (thread_id,)
            ).fetchone()[0]
            for t in tables
        }


async def test_deleting_a_thread_erases_history_provenance_and_checkpoints(  # type: ignore[no-untyped-def]
    layer, checkpointer, fresh_db_url: str
) -> None:
    await conversation(layer, checkpointer, fresh_db_url, "t-alice", "alice")
    await conversation(layer, checkpointer, fresh_db_url, "t-other", "alice")
    assert all(n > 0 for n in rows_of(fresh_db_url, "t-alice").values())
    with acting_as("bob"), pytest.raises(AccessDenied):
        await layer.delete_thread("t-alice")
    assert all(n > 0 for n in rows_of(fresh_db_url, "t-alice").values()), "a refused deletion erased nothing"
    with acting_as("alice"):
        await layer.delete_thread("t-alice")
    assert set(rows_of(fresh_db_url, "t-alice").values()) == {0}
    assert all(n > 0 for n in rows_of(fresh_db_url, "t-other").values()), "only that thread"


async def test_a_deletion_that_fails_half_way_leaves_everything(
    layer, checkpointer, fresh_db_url: str
) -> None:  # type: ignore[no-untyped-def]
    await conversation(layer, checkpointer, fresh_db_url, "t1", "alice")
    before = rows_of(fresh_db_url, "t1")
    with psycopg.connect(fresh_db_url) as conn:  # the last statement of the erasure will fail
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;"
            " CREATE TRIGGER refuse BEFORE DELETE ON threads FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    with acting_as("alice"), pytest.raises(psycopg.errors.RaiseException):
        await layer.delete_thread("t1")
    assert rows_of(fresh_db_url, "t1") == before, "provenance and checkpoints went although the thread stayed"


@pytest.fixture
async def aged(layer, checkpointer, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Two conversations 100 days old (one from the chat UI, one only the agent knows) and a recent one."""
    await conversation(layer, checkpointer, fresh_db_url, "old-ui", "alice")
    await conversation(layer, checkpointer, fresh_db_url, "recent-ui", "alice")
    await graph(checkpointer).ainvoke(
        {"message": CANARY, "items": []}, {"configurable": {"thread_id": "old-cli"}}
    )
    with psycopg.connect(fresh_db_url) as conn:  # make two conversations 100 days old
        conn.execute("UPDATE threads SET updated_at = now() - interval '100 days' WHERE id = 'old-ui'")
        conn.execute(
            "UPDATE answer_provenance SET created_at = now() - interval '100 days' WHERE thread_id = 'old-ui'"
        )
        conn.execute(
            "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}',"
            " to_jsonb((now() - interval '100 days')::text)) WHERE thread_id IN ('old-ui', 'old-cli')"
        )


def test_purge_erases_idle_conversations_only_and_is_audited(
    aged: None, fresh_db_url: str, set_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(DATABASE_URL=fresh_db_url)
    assert main(["purge", "--older-than", "90d", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == "would erase 2 conversation(s) idle for more than 90d"
    assert rows_of(fresh_db_url, "old-ui")["threads"] == 1
    assert main(["purge", "--older-than", "90d"]) == 0
    assert capsys.readouterr().out.startswith("erased 2 conversation(s) idle for more than 90d")
    assert set(rows_of(fresh_db_url, "old-ui").values()) == {0}
    assert set(rows_of(fresh_db_url, "old-cli").values()) == {0}
    assert all(n > 0 for n in rows_of(fresh_db_url, "recent-ui").values())
    with psycopg.connect(fresh_db_url) as conn:
        trail = conn.execute("SELECT action, detail FROM audit_log").fetchall()
    assert len(trail) == 1 and trail[0][0] == "purge" and trail[0][1]["older_than"] == "90d"
    assert trail[0][1]["threads"] == 2 and trail[0][1]["provenance_rows"] == 1 and CANARY not in str(trail)


@pytest.mark.parametrize("age", ["90", "ninety days", "0d", "1.5d", "3y"])
def test_a_bad_age_is_named_before_anything_happens(age: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--older-than", age]) == 2
    assert f"--older-than {age!r}: give a positive number" in capsys.readouterr().err
