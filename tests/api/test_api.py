"""The OpenAI-compatible API of a real `radassist serve`, through the official `openai` client and raw HTTP.

One server runs for the module on the session's database, its chat aliases bound to a stub model on
loopback (a local OpenAI-compatible server: drafts are written and verified, fast), so each turn takes a
moment. The answers' clinical content comes from the real classification tools and the real guideline
library, as in production.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest

from agent.api.keys import revoke_key
from agent.ui.auth import disable_user
from tests.api.conftest import PASSWORD
from tests.api.helpers import EXPERTS, FIRST, OVER_EIGHT, SIX_TO_EIGHT, UNDER_SIX, stub_models
from tests.security.stub_model import StubModel
from tests.server import Server, running_server

pytestmark = [pytest.mark.postgres]


@dataclass
class Api:
    server: Server
    db_url: str
    models: Path
    stub: StubModel

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.server.url}/v1", api_key=key, max_retries=0, timeout=120)

    def http(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=120)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def api(api_db: str, tmp_path_factory: pytest.TempPathFactory, test_home: Path) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("api")
    with StubModel() as stub:
        models = directory / "models.yaml"
        models.write_text(stub_models(stub))
        env = {
            "DATABASE_URL": api_db,
            "RADASSIST_HOME": str(test_home),
            "RADASSIST_MODELS_FILE": str(models),
            "RADASSIST_MODELS_WATCH": "false",  # reloads here come from `radassist models reload`
            "RADASSIST_API_REQUESTS_PER_MINUTE": "40",
            "CHAINLIT_AUTH_SECRET": None,
        }
        with running_server(directory, env=env) as server:
            yield Api(server=server, db_url=api_db, models=models, stub=stub)


def category(response: Any) -> str:
    findings = response.model_extra["radassist"]["findings"]
    return str(next(f for f in findings if f["tool"] == "fleischner")["output"]["category"])


# -- the happy paths, through the official client -------------------------------------------------------


def test_models_lists_the_experts(api: Api, account: Callable[..., str], api_key: Callable[..., str]) -> None:
    client = api.client(api_key(account("api.models")))
    ids = {m.id for m in client.models.list()}
    assert ids == {"radassist", *(f"radassist-{e}" for e in EXPERTS)}


def test_a_completion_carries_the_answer_and_the_radassist_extension(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    client = api.client(api_key(account("api.alice")))
    raw = client.chat.completions.with_raw_response.create(
        model="radassist", messages=[{"role": "user", "content": FIRST}], user="ward-7"
    )
    response = raw.parse()
    answer = response.choices[0].message.content
    assert SIX_TO_EIGHT in answer and "CT at 6-12 months" in answer
    extension = response.model_extra["radassist"]
    assert category(response) == SIX_TO_EIGHT
    assert extension["verdict"] == "grounded", (
        "the bundled demo model drafts nothing: tools and passages only"
    )
    assert any(c["source"] == "fleischner-2017" for c in extension["citations"])
    assert extension["experts"][0]["name"] == "chest"
    assert raw.headers["x-radassist-thread"] == extension["thread_id"]
    stored = api.rows(
        "SELECT answer, thread_id, provenance->>'models_config_sha256' FROM answer_provenance WHERE id = %s",
        extension["provenance_id"],
    )
    assert stored == [(answer, extension["thread_id"], extension["models_config_sha256"])]
    assert len(extension["models_config_sha256"]) == 64
    owner = api.rows(
        "SELECT u.identifier, t.name FROM threads t JOIN users u ON u.id = t.user_id WHERE t.id = %s",
        extension["thread_id"],
    )
    assert owner == [("api.alice", FIRST)], "the API's conversation is in the account's sidebar"
    assert raw.headers["cache-control"] == "no-store"


def test_streaming_sends_the_same_answer_in_openai_chunks(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    key = api_key(account("api.stream"))
    stream = api.client(key).chat.completions.create(
        model="radassist-chest",
        messages=[{"role": "user", "content": FIRST}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finished) == 1 and chunks[-1].usage is not None
    extension = finished[0].model_extra["radassist"]
    stored = api.rows("SELECT answer FROM answer_provenance WHERE id = %s", extension["provenance_id"])
    assert stored == [(text,)] and SIX_TO_EIGHT in text
    with api.http(Authorization=f"Bearer {key}") as http:
        body = {"model": "radassist", "stream": True, "messages": [{"role": "user", "content": FIRST}]}
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0][6:])
    assert first["object"] == "chat.completion.chunk" and first["choices"][0]["delta"]["role"] == "assistant"


def test_a_follow_up_keeps_memory_and_an_edited_conversation_forks(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    client = api.client(api_key(account("api.bob")))
    first = client.chat.completions.create(model="radassist", messages=[{"role": "user", "content": FIRST}])
    answer = first.choices[0].message.content
    history = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": answer}]
    follow = client.chat.completions.create(
        model="radassist", messages=[*history, {"role": "user", "content": "and if it were 10 mm?"}]
    )
    thread = first.model_extra["radassist"]["thread_id"]
    assert follow.model_extra["radassist"]["thread_id"] == thread, "the conversation continues its thread"
    assert category(follow) == OVER_EIGHT, "the risk came from memory: 'low risk' was said in the first turn"
    # The client edits its second question: the thread has moved on, so the edit forks from the first turn.
    edited = client.chat.completions.create(
        model="radassist", messages=[*history, {"role": "user", "content": "and if it were 4 mm?"}]
    )
    fork = edited.model_extra["radassist"]["thread_id"]
    assert fork != thread and category(edited) == UNDER_SIX
    steps = api.rows("SELECT type, output FROM steps WHERE thread_id = %s ORDER BY created_at, seq", fork)
    assert [s[0] for s in steps] == ["user_message", "assistant_message"] * 2
    assert steps[0][1] == FIRST and steps[2][1] == "and if it were 4 mm?"
    # The original conversation still continues where it was.
    again = client.chat.completions.create(
        model="radassist",
        messages=[
            *history,
            {"role": "user", "content": "and if it were 10 mm?"},
            {"role": "assistant", "content": follow.choices[0].message.content},
            {"role": "user", "content": "and if it were 7 mm?"},
        ],
    )
    assert again.model_extra["radassist"]["thread_id"] == thread and category(again) == SIX_TO_EIGHT
    # Another account sending the very same conversation gets a thread of its own.
    other = api.client(api_key(account("api.carol"))).chat.completions.create(
        model="radassist", messages=[*history, {"role": "user", "content": "and if it were 10 mm?"}]
    )
    assert other.model_extra["radassist"]["thread_id"] not in (thread, fork)


def test_the_thread_header_continues_only_the_callers_thread(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    alice = api.client(api_key(account("api.dora")))
    thread = "ward7-dora-1"
    first = alice.chat.completions.create(
        model="radassist",
        messages=[{"role": "user", "content": FIRST}],
        extra_headers={"X-Radassist-Thread": thread},
    )
    assert first.model_extra["radassist"]["thread_id"] == thread
    follow = alice.chat.completions.create(
        model="radassist",
        messages=[
            {"role": "user", "content": "and if it were 10 mm?"}
        ],  # no history: the header names the thread
        extra_headers={"X-Radassist-Thread": thread},
    )
    assert category(follow) == OVER_EIGHT
    mallory = api.client(api_key(account("api.mallory")))
    for stolen in (thread, first.model_extra["radassist"]["thread_id"]):
        with pytest.raises(openai.NotFoundError) as refused:
            mallory.chat.completions.create(
                model="radassist",
                messages=[{"role": "user", "content": "what did we say?"}],
                extra_headers={"X-Radassist-Thread": stolen},
            )
        assert refused.value.body["code"] == "thread_not_found"  # type: ignore[index]
    before = api.rows("SELECT count(*) FROM steps WHERE thread_id = %s", thread)
    assert before == [(4,)], "the refused requests added nothing to the thread"


# -- closed by default ------------------------------------------------------------------------------------


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return dict(body["error"])


def test_keys_are_required_and_checked_on_every_call(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    ask = {"model": "radassist", "messages": [{"role": "user", "content": FIRST}]}
    with api.http() as http:
        missing = http.post("/v1/chat/completions", json=ask)
        invalid = http.get("/v1/models", headers={"Authorization": "Bearer rak_not-a-key"})
    assert missing.status_code == 401 and error_of(missing)["code"] == "missing_api_key"
    assert invalid.status_code == 401 and error_of(invalid)["code"] == "invalid_api_key"

    name = account("api.erin")
    revoked, expired, disabled = api_key(name), api_key(name), api_key(account("api.frank"))
    for key in (revoked, expired, disabled):
        api.client(key).models.list()  # each works at first
    revoke_key(api.db_url, revoked[:12])  # what `radassist keys revoke` does
    with psycopg.connect(api.db_url) as conn:
        conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE prefix = %s", (expired[:12],)
        )
    disable_user(api.db_url, "api.frank")
    with api.http() as http:
        statuses = {
            k: http.post("/v1/chat/completions", json=ask, headers={"Authorization": f"Bearer {k}"})
            for k in (revoked, expired, disabled)
        }
    assert statuses[revoked].status_code == 401 and error_of(statuses[revoked])["code"] == "revoked_api_key"
    assert statuses[expired].status_code == 401 and error_of(statuses[expired])["code"] == "expired_api_key"
    assert (
        statuses[disabled].status_code == 403 and error_of(statuses[disabled])["code"] == "account_disabled"
    )
    stored = api.rows("SELECT hash FROM api_keys WHERE prefix = %s", revoked[:12])
    assert stored and revoked not in stored[0][0] and len(stored[0][0]) == 64, (
        "only a hash of the key is stored"
    )


def test_bad_requests_get_clear_openai_errors_before_anything_runs(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    key = api_key(account("api.grace"))
    auth = {"Authorization": f"Bearer {key}"}
    user = [{"role": "user", "content": FIRST}]
    cases = [
        ({"model": "gpt-4o", "messages": user}, 404, "model_not_found"),
        ({"model": "radassist", "messages": [*user, {"role": "assistant", "content": "x"}]}, 400, "invalid_messages"),
        ({"model": "radassist", "messages": [{"role": "user", "content": "x" * 8001}]}, 400, "message_too_long"),
        ({"model": "radassist", "messages": []}, 400, "invalid_request"),
        ({"model": "radassist", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
         "unsupported_content"),
    ]  # fmt: skip
    with api.http(**auth) as http:
        for body, status, code in cases:
            response = http.post("/v1/chat/completions", json=body)
            assert response.status_code == status and error_of(response)["code"] == code, (
                body,
                response.text,
            )
        broken = http.post(
            "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
        )
        huge = http.post("/v1/chat/completions", content=b"x" * (1 << 20 | 1))
        foreign = http.post("/v1/chat/completions", json={"model": "radassist", "messages": user},
                            headers={"Origin": "http://evil.example"})  # fmt: skip
        thread = http.post("/v1/chat/completions", json={"model": "radassist", "messages": user},
                           headers={"X-Radassist-Thread": "../etc/passwd"})  # fmt: skip
    assert broken.status_code == 400 and error_of(broken)["code"] == "invalid_json"
    assert huge.status_code == 413 and error_of(huge)["code"] == "request_too_large"
    assert foreign.status_code == 403 and error_of(foreign)["code"] == "origin_not_allowed"
    assert thread.status_code == 400 and error_of(thread)["code"] == "invalid_thread_id"
    owned = api.rows(
        "SELECT count(*) FROM threads t JOIN users u ON u.id = t.user_id WHERE u.identifier = 'api.grace'"
    )
    assert owned == [(0,)], "no refused request started a conversation"


def test_calls_are_rate_limited_per_account(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    name = account("api.heidi")
    first, second = api_key(name), api_key(name)  # two keys of one account share its limit
    statuses: list[int] = []
    start = time.monotonic()
    with api.http() as http:
        while len(statuses) < 200:  # 40 a minute: a token bucket of 40 that refills 2 every 3 seconds
            refused = http.get(
                "/v1/models", headers={"Authorization": f"Bearer {(first, second)[len(statuses) % 2]}"}
            )
            statuses.append(refused.status_code)
            if refused.status_code != 200:
                break
    refilled = (time.monotonic() - start) * 40 / 60  # a slow machine's calls earn a few more
    assert statuses[-1] == 429 and 40 <= statuses.count(200) <= 40 + refilled + 1, statuses
    assert int(refused.headers["retry-after"]) >= 1
    assert error_of(refused)["code"] == "rate_limit_exceeded"
    other = api.client(api_key(account("api.ivan")))
    assert other.models.list().data, "another account is not limited by heidi's calls"


def test_calls_are_audited(api: Api, account: Callable[..., str], api_key: Callable[..., str]) -> None:
    name = account("api.judy")
    client = api.client(api_key(name))
    answer = client.chat.completions.create(model="radassist", messages=[{"role": "user", "content": FIRST}])
    with api.http() as http:
        http.get("/v1/models", headers={"Authorization": "Bearer rak_wrong"})
    trail = api.rows("SELECT actor, action, target, result, detail FROM audit_log ORDER BY seq")
    chat = [t for t in trail if t[0] == name and t[1] == "api.chat"]
    assert chat and chat[-1][2] == answer.model_extra["radassist"]["thread_id"] and chat[-1][3] == "success"
    assert FIRST not in json.dumps([t[4] for t in trail]), "no message content in the audit trail"
    assert any(t[1] == "api.models" and t[3] == "denied" and t[4].get("reason") == "invalid" for t in trail)


# -- export ------------------------------------------------------------------------------------------------


def login(api: Api, name: str) -> str:
    with api.http() as http:
        response = http.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return "; ".join(f"{k}={v}" for k, v in response.cookies.items())


def test_the_owner_can_export_a_thread_and_nobody_else_can(
    api: Api, account: Callable[..., str], api_key: Callable[..., str]
) -> None:
    owner, other = account("api.kim"), account("api.lee")
    made = api.client(api_key(owner)).chat.completions.create(
        model="radassist", messages=[{"role": "user", "content": FIRST}]
    )
    thread = made.model_extra["radassist"]["thread_id"]
    path = f"/project/thread/{thread}/export"
    with api.http(Cookie=login(api, owner)) as http:
        as_json = http.get(path, params={"format": "json"})
        as_md = http.get(path, params={"format": "md"})
    assert as_json.status_code == 200 and "attachment" in as_json.headers["content-disposition"]
    export = as_json.json()
    assert export["owner"] == owner and [m["role"] for m in export["messages"]] == ["user", "assistant"]
    assert export["messages"][1]["provenance_id"] == made.model_extra["radassist"]["provenance_id"]
    assert as_md.status_code == 200 and FIRST in as_md.text and SIX_TO_EIGHT in as_md.text
    with api.http(Cookie=login(api, other)) as http:
        stolen = http.get(path, params={"format": "json"})
    with api.http() as http:
        anonymous = http.get(path, params={"format": "json"})
    assert stolen.status_code == 404 and FIRST not in stolen.text
    assert anonymous.status_code == 401
    trail = api.rows(
        "SELECT actor, result FROM audit_log WHERE action = 'thread.export' AND target = %s", thread
    )
    assert (owner, "success") in trail and (other, "denied") in trail


# -- models swapped without a restart ------------------------------------------------------------------


def test_models_reload_swaps_the_configuration_of_the_running_server(
    api: Api,
    account: Callable[..., str],
    api_key: Callable[..., str],
    set_env: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agent.cli import main

    client = api.client(api_key(account("api.mia")))
    set_env(DATABASE_URL=api.db_url, RADASSIST_MODELS_FILE=str(api.models))

    def sha_of_next_answer() -> str:
        made = client.chat.completions.create(
            model="radassist", messages=[{"role": "user", "content": FIRST}]
        )
        return str(made.model_extra["radassist"]["models_config_sha256"])

    def reload() -> tuple[int, str, str]:
        status = main(["models", "reload", "--wait", "60"])  # what `radassist models reload` runs
        out = capsys.readouterr()
        return status, out.out, out.err

    before = sha_of_next_answer()
    good = api.models.read_text()
    api.models.write_text(stub_models(api.stub, max_tokens=40))
    status, out, err = reload()
    assert status == 0, out + err
    after = sha_of_next_answer()
    assert after != before and f"serving {after[:12]}" in out
    api.models.write_text(good.replace("openai/stub", "nosuchprovider/stub", 1))
    status, out, err = reload()
    assert status == 2 and err.startswith("radassist: error: ") and err.count("\n") == 1
    assert "unknown provider 'nosuchprovider'" in err
    assert sha_of_next_answer() == after, "an invalid file changes nothing"
    trail = api.rows(
        "SELECT result, detail->>'sha256', detail->>'trigger' FROM audit_log WHERE action = 'models.reload'"
    )
    assert ("success", after, "notify") in trail and ("failure", None, "command") in trail
    api.models.write_text(good)
    assert reload()[0] == 0 and sha_of_next_answer() == before
