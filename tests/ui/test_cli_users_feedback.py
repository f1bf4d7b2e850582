"""`radassist users ...` and `radassist feedback export`, run through the real command entry point."""

from __future__ import annotations

import io
import json
import stat
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from chainlit.types import Feedback
from psycopg.types.json import Jsonb

from agent.cli import main
from agent.ui.data_layer import PostgresDataLayer, acting_as

pytestmark = pytest.mark.postgres

PASSWORD = "grey-lung-window-42"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(fresh_db_url: str, set_env: Callable[..., None]) -> str:
    set_env(DATABASE_URL=fresh_db_url)
    return fresh_db_url


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


# -- users ------------------------------------------------------------------------------------------------


def test_users_add_list_disable(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["users", "add", "dr.ada", "--role", "admin", "--password-stdin"], monkeypatch, PASSWORD + "\n")
        == 0
    )
    assert run(["users", "add", "dr.bo", "--password-stdin"], monkeypatch, PASSWORD + "\n") == 0
    assert capsys.readouterr().out.splitlines() == ["added dr.ada (admin)", "added dr.bo (clinician)"]

    assert run(["users", "list"], monkeypatch) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [line[:3] for line in lines] == [["dr.ada", "admin", "active"], ["dr.bo", "clinician", "active"]]

    assert run(["users", "disable", "dr.bo"], monkeypatch) == 0
    assert capsys.readouterr().out.strip() == "disabled dr.bo"
    run(["users", "list"], monkeypatch)
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["dr.bo", "clinician", "disabled"]
    with psycopg.connect(db) as conn:
        hashes = [r[0] for r in conn.execute("SELECT password_hash FROM users ORDER BY identifier")]
    assert all(h.startswith("scrypt$") and PASSWORD not in h for h in hashes)


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["users", "add", "dr.cy", "--password-stdin"], "\n", "password: must not be empty"),
        (
            ["users", "add", "dr.cy", "--password-stdin"],
            "short\n",
            "password: must be at least 12 characters",
        ),
        (
            ["users", "add", "dr.cy", "--password-stdin"],
            "dr.cy-is-my-password\n",
            "must not contain the user name",
        ),
        (["users", "add", "dr cy", "--password-stdin"], PASSWORD + "\n", "user name 'dr cy'"),
        (["users", "add", "dr.cy"], "", "no terminal to prompt for a password"),
        (["users", "disable", "nobody"], "", "no user named 'nobody'"),
    ],
)
def test_users_errors_are_one_clear_line(
    db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    assert run(argv, monkeypatch, stdin) == 2
    err = capsys.readouterr().err
    assert err.startswith("radassist: error: ") and message in err and err.count("\n") == 1
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_users_add_twice_is_refused(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["users", "add", "dr.ada", "--password-stdin"], monkeypatch, PASSWORD + "\n") == 0
    assert run(["users", "add", "dr.ada", "--password-stdin"], monkeypatch, PASSWORD + "\n") == 2
    assert "user 'dr.ada' already exists" in capsys.readouterr().err


def test_users_add_rejects_an_unknown_role(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(
            ["users", "add", "dr.ada", "--role", "superuser", "--password-stdin"],
            monkeypatch,
            PASSWORD + "\n",
        )
    assert exit_info.value.code == 2


def test_users_add_prompts_twice_on_a_terminal(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([PASSWORD, PASSWORD + "typo"])
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert main(["users", "add", "dr.ada"]) == 2
    assert "the two entries differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert main(["users", "add", "dr.ada"]) == 0


# -- feedback export --------------------------------------------------------------------------------------


def stamp(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat() + "Z"


def step(
    thread_id: str, step_id: str, type: str, output: str, at: datetime, parent: str | None = None
) -> dict:
    return {
        "id": step_id,
        "threadId": thread_id,
        "parentId": parent,
        "type": type,
        "name": type,
        "output": output,
        "createdAt": stamp(at),
        "start": stamp(at),
        "end": stamp(at),
    }


async def seed_feedback(url: str) -> None:
    """Two threads as Chainlit stores them, rated by two users; one answer has provenance."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (identifier) VALUES ('dr.ada'), ('dr.bo')")
        conn.execute(
            "INSERT INTO answer_provenance (thread_id, message_id, question, answer, verdict, provenance)"
            " VALUES ('t-ada', 'a-ada', 'Solid 7 mm nodule, low risk?', 'Follow-up CT at 6-12 months.',"
            " 'verified', %s)",
            (Jsonb({"tools": [{"name": "fleischner", "output": {"recommendation": "CT at 6-12 months"}}]}),),
        )
    layer = PostgresDataLayer(url)
    try:
        with acting_as("dr.ada"):
            await layer.update_thread("t-ada", name="nodule")
            await layer.create_step(
                step("t-ada", "u-ada", "user_message", "Solid 7 mm nodule, low risk?", T0)
            )
            await layer.create_step(
                step("t-ada", "r-ada", "run", "", T0 + timedelta(seconds=1), parent="u-ada")
            )
            await layer.create_step(
                step(
                    "t-ada",
                    "a-ada",
                    "assistant_message",
                    "Follow-up CT at 6-12 months.",
                    T0 + timedelta(seconds=2),
                    "r-ada",
                )
            )
            await layer.upsert_feedback(Feedback(forId="a-ada", value=1, comment="clear and cited"))
        with acting_as("dr.bo"):
            await layer.update_thread("t-bo", name="thyroid")
            await layer.create_step(step("t-bo", "u1-bo", "user_message", "First question", T0))
            await layer.create_step(
                step("t-bo", "a1-bo", "assistant_message", "First answer", T0 + timedelta(seconds=1))
            )
            await layer.create_step(
                step("t-bo", "u2-bo", "user_message", "TI-RADS 4, 12 mm?", T0 + timedelta(seconds=5))
            )
            await layer.create_step(
                step(
                    "t-bo", "a2-bo", "assistant_message", "FNA threshold is 15 mm.", T0 + timedelta(seconds=6)
                )
            )
            await layer.upsert_feedback(Feedback(forId="a2-bo", value=0))
    finally:
        await layer.close()


async def test_feedback_export_writes_one_record_per_rating(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_feedback(db)
    out = tmp_path / "feedback.jsonl"
    assert run(["feedback", "export", "--out", str(out)], monkeypatch) == 0
    assert capsys.readouterr().out.strip() == f"exported 2 rating(s) to {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "the export holds chat content"
    records = [json.loads(line) for line in out.read_text().splitlines()]
    ada, bo = records
    assert {k: ada[k] for k in ("rating", "value", "comment", "user", "thread_id", "message_id")} == {
        "rating": "up",
        "value": 1,
        "comment": "clear and cited",
        "user": "dr.ada",
        "thread_id": "t-ada",
        "message_id": "a-ada",
    }
    assert ada["question"] == "Solid 7 mm nodule, low risk?", "found through the parent chain"
    assert ada["answer"] == "Follow-up CT at 6-12 months."
    assert ada["verdict"] == "verified"
    assert ada["provenance"]["tools"][0]["name"] == "fleischner"
    assert ada["answered_at"].startswith("2026-03-01T09:00:02")
    assert ada["rated_at"] and ada["provenance_at"]
    assert (bo["rating"], bo["value"], bo["comment"], bo["user"]) == ("down", 0, None, "dr.bo")
    assert bo["question"] == "TI-RADS 4, 12 mm?", "the user message just before the rated answer"
    assert bo["answer"] == "FNA threshold is 15 mm."
    assert (bo["verdict"], bo["provenance"], bo["provenance_at"]) == (None, None, None)


async def test_feedback_export_failure_leaves_the_previous_file_untouched(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import feedback as feedback_cli

    await seed_feedback(db)
    out = tmp_path / "feedback.jsonl"
    out.write_text("previous export\n")
    real_record = feedback_cli._record
    written: list[dict] = []

    def failing_record(row: dict) -> dict:
        if written:
            raise RuntimeError("database connection lost")
        written.append(real_record(row))
        return written[-1]

    monkeypatch.setattr(feedback_cli, "_record", failing_record)
    with pytest.raises(RuntimeError, match="connection lost"):
        run(["feedback", "export", "--out", str(out)], monkeypatch)
    assert written, "the failure happened after a record had been written"
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback.jsonl"], "no temporary file left behind"


def test_feedback_export_into_a_missing_directory_is_one_line(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["feedback", "export", "--out", str(tmp_path / "nope" / "f.jsonl")], monkeypatch) == 2
    assert "does not exist" in capsys.readouterr().err


def test_feedback_export_of_an_empty_database(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "empty.jsonl"
    assert run(["feedback", "export", "--out", str(out)], monkeypatch) == 0
    assert out.read_text() == ""
