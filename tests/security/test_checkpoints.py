"""Checkpoints encrypted at rest; threads checkpointed before encryption still resume.

A small LangGraph graph stands in for the agent so that the test sees every kind of channel value the
PostgreSQL saver treats differently: strings (which it would store inline in JSONB), integers, lists
(blobs) and pending writes. The agent itself is checkpointed the same way (tests/security/test_server.py
greps its real checkpoints).
"""

from __future__ import annotations

import base64
import operator
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph

from agent.db import open_checkpoint_pool
from agent.security.checkpoints import KEY_FILE, EncryptedPostgresSaver, checkpoint_key, encrypted_serde
from agent.settings import Settings
from common.errors import RadassistError

pytestmark = pytest.mark.postgres
SECRET = "CANARY-Okonkwo-48213907"


class State(TypedDict, total=False):
    message: str
    note: str | None
    turns: int
    items: Annotated[list[str], operator.add]


def graph(saver: Any) -> Any:
    def answer(state: State) -> dict[str, Any]:
        return {"turns": state.get("turns", 0) + 1, "items": [f"answer to {state['message']}"]}

    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=saver)


@pytest.fixture
async def pool(fresh_db_url: str) -> AsyncIterator[Any]:
    pool = open_checkpoint_pool(fresh_db_url)
    await pool.open(wait=True)
    await AsyncPostgresSaver(pool).setup()
    yield pool
    await pool.close()


def stored_text(url: str) -> str:
    """Every checkpoint row as text, as someone reading the database files would see it."""
    with psycopg.connect(url) as conn:
        rows = [
            *conn.execute("SELECT checkpoint::text, metadata::text FROM checkpoints").fetchall(),
            *conn.execute("SELECT channel, type, encode(blob, 'escape') FROM checkpoint_blobs").fetchall(),
            *conn.execute("SELECT channel, type, encode(blob, 'escape') FROM checkpoint_writes").fetchall(),
        ]
    return "\n".join(str(v) for row in rows for v in row)


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return checkpoint_key(Settings(home=tmp_path))


async def test_no_value_is_stored_in_plain_text(pool: Any, fresh_db_url: str, key: bytes) -> None:
    app = graph(EncryptedPostgresSaver(pool, serde=encrypted_serde(key)))
    config = {"configurable": {"thread_id": "t1"}}
    await app.ainvoke({"message": f"6 mm nodule, {SECRET}", "note": SECRET, "items": [SECRET]}, config)
    state = (await app.aget_state(config)).values
    assert state["message"].endswith(SECRET) and state["items"][0] == SECRET and state["turns"] == 1
    text = stored_text(fresh_db_url)
    assert "48213907" not in text and "Okonkwo" not in text and "6 mm nodule" not in text
    with psycopg.connect(fresh_db_url) as conn:
        types = {
            t
            for (t,) in conn.execute(
                "SELECT type FROM checkpoint_blobs UNION SELECT type FROM checkpoint_writes"
            )
        }
    assert types and all(t.endswith("+aesgcm") for t in types), types


async def test_a_thread_checkpointed_without_encryption_resumes(
    pool: Any, fresh_db_url: str, key: bytes
) -> None:
    config = {"configurable": {"thread_id": "old"}}
    await graph(AsyncPostgresSaver(pool)).ainvoke(
        {"message": "first", "note": SECRET, "items": ["x"]}, config
    )
    assert SECRET in stored_text(fresh_db_url), (
        "the old saver stored it in plain text (the state before this change)"
    )

    app = graph(EncryptedPostgresSaver(pool, serde=encrypted_serde(key)))
    before = (await app.aget_state(config)).values
    assert before == {"message": "first", "note": SECRET, "turns": 1, "items": ["x", "answer to first"]}
    await app.ainvoke({"message": "second"}, config)  # `note` is not written again: it must carry over
    after = (await app.aget_state(config)).values
    assert after == {
        "message": "second",
        "note": SECRET,
        "turns": 2,
        "items": ["x", "answer to first", "answer to second"],
    }
    with psycopg.connect(fresh_db_url) as conn:
        newest = conn.execute(
            "SELECT checkpoint::text FROM checkpoints ORDER BY checkpoint_id DESC LIMIT 1"
        ).fetchone()
        note_blobs = conn.execute("SELECT type FROM checkpoint_blobs WHERE channel = 'note'").fetchall()
    assert SECRET not in newest[0] and note_blobs == [("msgpack+aesgcm",)]


async def test_a_wrong_key_fails_with_a_clear_error(pool: Any, key: bytes, tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "t2"}}
    await graph(EncryptedPostgresSaver(pool, serde=encrypted_serde(key))).ainvoke(
        {"message": "m", "items": []}, config
    )
    other = checkpoint_key(Settings(home=tmp_path / "other"))
    with pytest.raises(RadassistError, match="cannot be decrypted with the key"):
        await graph(EncryptedPostgresSaver(pool, serde=encrypted_serde(other))).aget_state(config)


def test_the_key_file_is_created_once_private_and_checked(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    key = checkpoint_key(settings)
    path = tmp_path / KEY_FILE
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert checkpoint_key(settings) == key, "the same key after a restart"
    path.chmod(0o644)
    with pytest.raises(RadassistError, match="readable by other users"):
        checkpoint_key(settings)
    path.chmod(0o600)
    path.write_text(base64.b64encode(b"short").decode())
    with pytest.raises(RadassistError, match="must be 32 bytes"):
        checkpoint_key(settings)
