"""`radassist keys`, `threads`, `ask --user` and `feedback export --format sft|dpo`, through the real entry point."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from chainlit.types import Feedback
from psycopg.types.json import Jsonb

from agent.cli import main
from agent.ui.data_layer import PostgresDataLayer, acting_as
from tests.api.helpers import FIRST, OVER_EIGHT

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def cli(api_db: str, set_env: Callable[..., None]) -> str:
    set_env(DATABASE_URL=api_db, RADASSIST_MODELS_FILE=None)
    return api_db


def rows(url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def one_line_error(capsys: pytest.CaptureFixture[str], status: int, message: str) -> None:
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("radassist: error: ") and message in err and err.count("\n") == 1, (
        err
    )


# -- keys ------------------------------------------------------------------------------------------------


def test_keys_create_list_revoke(
    cli: str, account: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    name = account("cli.keys")
    assert main(["keys", "create", name]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0]
    assert key.startswith("rak_") and len(key) == 47 and "cannot be shown again" in out[2]
    assert main(["keys", "create", name, "--expires", "never"]) == 0
    forever = capsys.readouterr().out.splitlines()[0]
    expiry = dict(rows(cli, "SELECT prefix, expires_at - now() FROM api_keys"))
    assert timedelta(days=89) < expiry[key[:12]] <= timedelta(days=90), "90 days unless told otherwise"  # type: ignore[operator]
    assert expiry[forever[:12]] is None
    assert all(key not in str(r) for r in rows(cli, "SELECT * FROM api_keys")), (
        "the key itself is never stored"
    )

    assert main(["keys", "list", name]) == 0
    listed = capsys.readouterr().out
    assert key not in listed and key[:12] in listed and listed.count(" active ") == 2
    assert main(["keys", "revoke", key[:12]]) == 0
    assert f"revoked API key {key[:12]}... of {name}" in capsys.readouterr().out
    main(["keys", "list", name])
    assert capsys.readouterr().out.count(" revoked ") == 1
    trail = rows(cli, "SELECT action, target, detail->>'key' FROM audit_log WHERE action LIKE 'keys.%%'")
    assert ("keys.create", name, key[:12]) in trail and ("keys.revoke", name, key[:12]) in trail


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "nobody-here"], "no user named 'nobody-here'"),
        (["keys", "create", "cli.keys2", "--expires", "soon"], "--expires 'soon': give a positive number"),
        (["keys", "revoke", "rak_nothing"], "no API key 'rak_nothing'"),
    ],
)
def test_key_mistakes_are_one_line(
    cli: str, account: Callable[..., str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    account("cli.keys2")
    one_line_error(capsys, main(argv), message)


def test_a_disabled_account_gets_no_key(
    cli: str, account: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.ui.auth import disable_user

    disable_user(cli, account("cli.gone"))
    one_line_error(capsys, main(["keys", "create", "cli.gone"]), "is disabled")


# -- ask / chat belong to an account; threads list and export ------------------------------------------


def test_ask_writes_the_conversation_into_the_accounts_history(
    cli: str, account: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    owner, other = account("cli.ada"), account("cli.bo")
    assert main(["ask", "--user", owner, "--json", FIRST]) == 0
    thread = json.loads(capsys.readouterr().out)["thread_id"]
    assert main(["ask", "--user", owner, "--thread", thread, "--json", "and if it were 10 mm?"]) == 0
    follow = json.loads(capsys.readouterr().out)
    assert (
        next(c for c in follow["tool_calls"] if c["tool"] == "fleischner")["output"]["category"] == OVER_EIGHT
    )
    steps = rows(cli, "SELECT type, output FROM steps WHERE thread_id = %s ORDER BY created_at, seq", thread)
    assert [s[0] for s in steps] == ["user_message", "assistant_message"] * 2 and steps[2][
        1
    ] == "and if it were 10 mm?"
    assert rows(
        cli, "SELECT u.identifier FROM threads t JOIN users u ON u.id = t.user_id WHERE t.id = %s", thread
    ) == [(owner,)]
    linked = rows(
        cli,
        "SELECT count(*) FROM answer_provenance p JOIN steps s ON s.id = p.message_id WHERE s.thread_id = %s",
        thread,
    )
    assert linked == [(2,)], "each answer's provenance is linked to its message (feedback export finds it)"

    status = main(["ask", "--user", other, "--thread", thread, "what did they ask?"])
    one_line_error(capsys, status, f"thread {thread} belongs to another user")
    assert len(rows(cli, "SELECT 1 FROM steps WHERE thread_id = %s", thread)) == 4

    assert main(["threads", "list", "--user", owner]) == 0
    listed = capsys.readouterr().out
    assert thread in listed and "4 messages" in listed and FIRST in listed
    out = tmp_path / "thread.json"
    assert main(["threads", "export", thread, "--format", "json", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    export = json.loads(out.read_text())
    assert export["owner"] == owner and [m["role"] for m in export["messages"]] == ["user", "assistant"] * 2
    assert all(m["verdict"] for m in export["messages"] if m["role"] == "assistant")
    capsys.readouterr()
    assert main(["threads", "export", thread]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith(f"# {FIRST}") and "## cli.ada" in markdown and OVER_EIGHT in markdown
    trail = rows(
        cli, "SELECT detail->>'format' FROM audit_log WHERE action = 'thread.export' AND target = %s", thread
    )
    assert sorted(t[0] for t in trail) == ["json", "md"]  # type: ignore[type-var]
    one_line_error(capsys, main(["threads", "export", "no-such-thread"]), "no thread 'no-such-thread'")


def test_ask_without_an_account_says_how_to_get_one(
    cli: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "os-user-without-account")
    status = main(["ask", FIRST])
    one_line_error(capsys, status, "no account named 'os-user-without-account' (the operating-system user)")
    one_line_error(capsys, main(["ask", "--user", "nobody-else", FIRST]), "radassist users add nobody-else")


def test_ask_defaults_to_the_operating_system_users_account(
    cli: str, account: Callable[..., str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "CLI.Os")  # account names are case-insensitive
    account("cli.os")
    assert main(["ask", "--json", FIRST]) == 0
    thread = json.loads(capsys.readouterr().out)["thread_id"]
    owner = rows(
        cli, "SELECT u.identifier FROM threads t JOIN users u ON u.id = t.user_id WHERE t.id = %s", thread
    )
    assert owner == [("cli.os",)]


# -- fine-tuning datasets from feedback ------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VERIFIED_REVISION = "Fleischner 2017: CT at 6-12 months, then CT at 18-24 months [1]."


async def seed(url: str, user: str) -> None:
    """One thread: an answer rated down, the same question asked again and its verified answer rated up;
    another thread: an answer rated down with no revision; one more answer rated up, and after it one not rated."""

    def answer(thread: str, message: str, question: str, text: str, verdict: str, inputs: dict) -> None:
        provenance = {"tool_calls": [{"tool": "fleischner", "input": inputs, "output": {"category": "x"}}]}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO answer_provenance (thread_id, message_id, question, answer, verdict, provenance)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (thread, message, question, text, verdict, Jsonb(provenance)),
            )

    def step(thread: str, step_id: str, kind: str, text: str, seconds: int) -> dict:
        at = (T0 + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat() + "Z"
        return {
            "id": step_id,
            "threadId": thread,
            "type": kind,
            "name": kind,
            "output": text,
            "createdAt": at,
        }

    nodule = {"nodule_type": "solid", "diameter_mm": 7.0, "risk": "high"}
    q1 = "Mr. Smith, MRN 12345678: 7 mm solid nodule, smoker?"
    q2 = "7mm solid nodule in a smoker: follow-up?"  # other words, same finding: same tool inputs
    answer("t-dpo", "a1", q1, "CT in 3 months, then annual CT.", "partial", nodule)
    answer("t-dpo", "a2", q2, VERIFIED_REVISION, "verified", nodule)
    answer("t-lone", "a3", "Bosniak IIF cyst?", "Surgery.", "verified", {"class": "IIF"})
    answer("t-up", "a4", "MRI zones? DOB 03/14/1962", "Zone IV is the magnet room [1].", "verified", {})
    unrated = "Avoid unless essential [1]."  # a5: nobody rates it
    answer("t-up", "a5", "Gadolinium in pregnancy?", unrated, "verified", {})
    layer = PostgresDataLayer(url)
    try:
        with acting_as(user):
            for thread, steps in {
                "t-dpo": [("u1", "user_message", q1), ("a1", "assistant_message", "CT in 3 months, then annual CT."),
                          ("u2", "user_message", q2), ("a2", "assistant_message", VERIFIED_REVISION)],
                "t-lone": [("u3", "user_message", "Bosniak IIF cyst?"), ("a3", "assistant_message", "Surgery.")],
                "t-up": [("u4", "user_message", "MRI zones? DOB 03/14/1962"),
                         ("a4", "assistant_message", "Zone IV is the magnet room [1].\\n\\n*Verification: verified*"),
                         ("u5", "user_message", "Gadolinium in pregnancy?"),
                         ("a5", "assistant_message", unrated)],
            }.items():  # fmt: skip
                await layer.update_thread(thread, name=thread)
                for i, (step_id, kind, text) in enumerate(steps):
                    await layer.create_step(step(thread, step_id, kind, text, i))  # type: ignore[arg-type]
            for step_id, value in (("a1", 0), ("a2", 1), ("a3", 0), ("a4", 1)):
                await layer.upsert_feedback(Feedback(forId=step_id, value=value))
    finally:
        await layer.close()


async def test_sft_and_dpo_exports(
    fresh_db_url: str,
    set_env: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_env(DATABASE_URL=fresh_db_url)
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (identifier) VALUES ('dr.rater')")
    await seed(fresh_db_url, "dr.rater")

    sft, dpo = tmp_path / "sft.jsonl", tmp_path / "dpo.jsonl"
    assert main(["feedback", "export", "--format", "sft", "--out", str(sft)]) == 0
    assert "exported 2 SFT example(s)" in capsys.readouterr().out
    examples = [json.loads(line) for line in sft.read_text().splitlines()]
    assert examples == [
        {"messages": [{"role": "user", "content": "7mm solid nodule in a smoker: follow-up?"},
                      {"role": "assistant", "content": VERIFIED_REVISION}]},
        {"messages": [{"role": "user", "content": "MRI zones? [DOB]"},
                      {"role": "assistant", "content": "Zone IV is the magnet room [1]."}]},
    ]  # fmt: skip

    assert main(["feedback", "export", "--format", "dpo", "--out", str(dpo)]) == 0
    out = capsys.readouterr().out
    assert "exported 1 DPO pair(s)" in out and "1 answer(s) rated down had no verified revision" in out
    (pair,) = [json.loads(line) for line in dpo.read_text().splitlines()]
    assert pair == {
        "prompt": [{"role": "user", "content": "[NAME], [MRN]: 7 mm solid nodule, smoker?"}],
        "chosen": [{"role": "assistant", "content": VERIFIED_REVISION}],
        "rejected": [{"role": "assistant", "content": "CT in 3 months, then annual CT."}],
    }
    text = sft.read_text() + dpo.read_text()
    for identifier in ("Smith", "12345678", "1962", "dr.rater", "t-dpo", "a1"):
        assert identifier not in text, identifier
    assert "Gadolinium" not in text and "Avoid unless" not in text, "an answer nobody rated is not exported"
    assert stat.S_IMODE(dpo.stat().st_mode) == 0o600
    trail = rows(fresh_db_url, "SELECT detail->>'format' FROM audit_log WHERE action = 'feedback.export'")
    assert sorted(t[0] for t in trail) == ["dpo", "sft"]  # type: ignore[type-var]
