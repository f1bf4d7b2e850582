"""Issue 13's findings, reproduced against the real server over HTTP and the socket, and now refused.

One `radassist serve` runs for the module, as a hospital would configure it behind a TLS proxy
(RADASSIST_PUBLIC_URL=https://radassist.test), with a 10-minute idle timeout and a 2000-character
message limit. Its experts are bound to a stub "remote" model (an OpenAI-compatible server on loopback,
declared `remote: true`), with the `default` alias on a stub "local" model, so turns take a second and
the test sees every byte each model received. Clients set X-Forwarded-For, as the proxy would, to act
from different addresses (uvicorn trusts it from 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import socketio

from agent.settings import REPO_ROOT
from agent.ui.auth import add_user, disable_user, set_password
from experts import load_experts
from tests.chat_client import ChatClient
from tests.conftest import create_database, drop_database
from tests.security.stub_model import SAFE_DRAFT, StubModel, models_yaml
from tests.server import Server, running_server

pytestmark = [pytest.mark.postgres]

PASSWORD = "grey-lung-window-42"
PUBLIC = "https://radassist.test"
EVIL = "http://127.0.0.1:9999"
QUESTION = "6 mm solid nodule, smoker, what follow-up?"
CATEGORY = "solid, single, 6-8 mm, high risk"
ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]
CHEST_PROMPT = load_experts(REPO_ROOT / "experts")["chest"].prompt


def misbehave(messages: list[dict[str, Any]]) -> str:
    """The remote model's draft: an injected reply when the question asks for it, else a safe one."""
    question = messages[-1]["content"] if messages else ""
    if "ECHO-TEST" in question:
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        return (
            f"{system} ![scan](https://evil.example/leak.png?q=nodule) See https://evil.example/more now [1]."
        )
    return SAFE_DRAFT


@dataclass
class App:
    server: Server
    db_url: str
    remote: StubModel
    local: StubModel

    def client(self, address: str = "10.0.0.1", **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.url, headers={"X-Forwarded-For": address, **headers}, timeout=60
        )

    async def login(self, name: str, address: str = "10.0.0.1") -> str:
        async with self.client(address) as http:
            response = await http.post("/login", data={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return "; ".join(f"{k}={v}" for k, v in response.cookies.items())

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def app(pg_url: str, tmp_path_factory: pytest.TempPathFactory, test_home: Path) -> Iterator[App]:
    db_url = create_database(pg_url)
    for name in ACCOUNTS:
        add_user(db_url, name, PASSWORD)
    directory = tmp_path_factory.mktemp("hardened")
    with StubModel(misbehave) as remote, StubModel() as local:
        models = directory / "models.yaml"
        models.write_text(models_yaml(remote, local))
        env = {
            "DATABASE_URL": db_url,
            "RADASSIST_HOME": str(test_home),
            "RADASSIST_MODELS_FILE": str(models),
            "RADASSIST_PUBLIC_URL": PUBLIC,
            "RADASSIST_SESSION_IDLE_TIMEOUT": "600",
            "RADASSIST_MAX_MESSAGE_CHARS": "2000",
            "CHAINLIT_AUTH_SECRET": None,
        }
        with running_server(directory, env=env) as server:
            yield App(server=server, db_url=db_url, remote=remote, local=local)
    drop_database(pg_url, db_url)


async def until(check: Any, timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)
    return result


async def connected(app: App, cookie: str) -> ChatClient:
    client = ChatClient(app.server.url, cookie=cookie, origin=PUBLIC)
    await client.connect()
    return client


async def disconnected(client: ChatClient, timeout: float = 10) -> bool:
    async def gone() -> bool:
        return not client.sio.connected

    return bool(await until(gone, timeout))


def token(cookie: str) -> str:
    return cookie.split("access_token=", 1)[1].split(";", 1)[0]


def session_of(cookie: str) -> str:
    """The server-side session id a login cookie carries (read without checking the signature)."""
    import jwt

    return str(jwt.decode(token(cookie), options={"verify_signature": False})["metadata"]["sid"])


# -- origins -------------------------------------------------------------------------------------------------


async def test_cors_and_requests_allow_only_the_public_origin(app: App) -> None:
    cookie = await app.login("alice")
    async with app.client(Cookie=cookie) as http:
        preflight = await http.options(
            "/project/threads", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
        )
        foreign = await http.post(
            "/project/threads", json={"pagination": {"first": 5}, "filter": {}}, headers={"Origin": EVIL}
        )
        null = await http.get("/user", headers={"Origin": "null"})
        own = await http.get("/user", headers={"Origin": PUBLIC})
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    assert null.status_code == 403
    assert own.status_code == 200 and own.headers["access-control-allow-origin"] == PUBLIC
    assert own.headers["access-control-allow-credentials"] == "true"


async def test_the_socket_handshake_refuses_other_origins(app: App) -> None:
    cookie = await app.login("alice")
    for origin in (EVIL, "http://radassist.test", "null"):
        foreign = ChatClient(app.server.url, cookie=cookie, origin=origin)
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await foreign.connect()
        finally:
            await foreign.close()
    own = await connected(app, cookie)
    await own.close()


async def test_the_login_cookie_is_secure_behind_https(app: App) -> None:
    async with app.client() as http:
        response = await http.post("/login", data={"username": "alice", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=43200" in cookie


# -- sessions ------------------------------------------------------------------------------------------------


async def test_logout_ends_the_token_at_once_as_cookie_bearer_and_socket(app: App) -> None:
    cookie = await app.login("bob")
    socket = await connected(app, cookie)
    async with app.client(Cookie=cookie) as http:
        assert (await http.get("/user")).status_code == 200
        assert (await http.post("/logout")).status_code == 200
    async with app.client(Cookie=cookie) as http:  # the copied cookie, replayed
        assert (await http.get("/user")).status_code == 401
        assert (
            await http.post("/project/threads", json={"pagination": {"first": 5}, "filter": {}})
        ).status_code == 401
    async with app.client(Authorization=f"Bearer {token(cookie)}") as http:
        assert (await http.get("/user")).status_code == 401
    assert await disconnected(socket), "the open socket outlived the logout"
    reopened = ChatClient(app.server.url, cookie=cookie, origin=PUBLIC)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await reopened.connect()
    await reopened.close()


async def test_a_password_change_ends_every_session(app: App) -> None:
    first, second = await app.login("carol"), await app.login("carol", "10.0.0.2")
    socket = await connected(app, first)
    set_password(app.db_url, "carol", PASSWORD)  # what `radassist users passwd carol` does
    for cookie in (first, second):
        async with app.client(Cookie=cookie) as http:
            assert (await http.get("/user")).status_code == 401
    assert await disconnected(socket)
    await socket.close()


async def test_a_disabled_accounts_open_socket_gets_no_answer(app: App) -> None:
    cookie = await app.login("dave")
    socket = await connected(app, cookie)
    disable_user(app.db_url, "dave")
    await socket.send(QUESTION)  # before the periodic check: the event itself is refused
    assert await disconnected(socket)
    assert socket.answer() == "" and not any(n in ("new_message", "update_message") for n, _ in socket.events)
    assert app.rows("SELECT count(*) FROM steps WHERE thread_id = %s", socket.thread_id) == [(0,)]
    await socket.close()


async def test_sessions_revoke_from_the_command_line_closes_open_sockets(app: App) -> None:
    cookie = await app.login("erin")
    socket = await connected(app, cookie)
    env = {**os.environ, "DATABASE_URL": app.db_url}
    revoked = subprocess.run(
        [sys.executable, "-m", "agent", "sessions", "revoke", "erin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert revoked.returncode == 0 and revoked.stdout.strip() == "ended 1 session(s) of erin", revoked.stderr
    assert await disconnected(socket), "the socket stayed open after the revocation"
    async with app.client(Cookie=cookie) as http:
        assert (await http.get("/user")).status_code == 401
    await socket.close()


async def test_idle_timeout_and_lifetime_as_configured(app: App) -> None:
    idle, old = await app.login("grace"), await app.login("grace")

    def age(cookie: str, column: str, seconds: int) -> None:
        with psycopg.connect(app.db_url) as conn:
            conn.execute(
                f"UPDATE sessions SET {column} = {column} - make_interval(secs => %s) WHERE id = %s",
                (seconds, session_of(cookie)),
            )

    age(idle, "last_seen_at", 540)  # 9 of the configured 10 minutes
    async with app.client(Cookie=idle) as http:
        assert (await http.get("/user")).status_code == 200
    age(idle, "last_seen_at", 660)  # 11 minutes: idle too long here (the 30-minute default would allow it)
    async with app.client(Cookie=idle) as http:
        assert (await http.get("/user")).status_code == 401
    age(old, "created_at", 43201)  # logged in more than 12 hours ago, however active
    async with app.client(Cookie=old) as http:
        assert (await http.get("/user")).status_code == 401


# -- throttling ----------------------------------------------------------------------------------------------


async def test_fifty_wrong_passwords_lock_the_account_with_retry_after(app: App) -> None:
    statuses, retry = [], set()
    async with app.client("10.1.0.1") as http:
        for _ in range(50):
            response = await http.post("/login", data={"username": "frank", "password": "wrong password!"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry.add(int(response.headers["retry-after"]))
        right = await http.post("/login", data={"username": "frank", "password": PASSWORD})
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
    assert retry and all(0 < r <= 900 for r in retry)
    assert right.status_code == 429, "a locked account refuses even the right password, without hashing it"
    async with app.client("10.1.0.2") as http:  # the lock is the account's, whatever the address
        assert (
            await http.post("/login", data={"username": "frank", "password": PASSWORD})
        ).status_code == 429


async def test_forty_parallel_logins_wait_on_a_bounded_pool_or_are_refused(app: App) -> None:
    async def attempt(i: int) -> httpx.Response:
        async with app.client(f"10.2.0.{i}") as http:
            return await http.post("/login", data={"username": f"nobody{i}", "password": "wrong password!"})

    responses = await asyncio.gather(*(attempt(i) for i in range(40)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) >= 30, f"only {statuses.count(429)} of 40 refused: hashing is not bounded"
    assert all(r.headers.get("retry-after") == "1" for r in responses if r.status_code == 429)
    async with app.client("10.2.1.1") as http:  # the server is fine afterwards
        assert (
            await http.post("/login", data={"username": "heidi", "password": PASSWORD})
        ).status_code == 200


# -- closed by default -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
async def test_api_documentation_is_off(app: App, path: str) -> None:
    async with app.client() as http:
        response = await http.get(path)
    assert (
        response.status_code == 404
        and "swagger" not in response.text.lower()
        and '"paths"' not in response.text
    )


async def test_token_minting_endpoints_are_off(app: App) -> None:
    cookie = await app.login("alice")
    async with app.client(Authorization=f"Bearer {token(cookie)}") as http:
        assert (await http.post("/auth/jwt")).status_code == 404
        assert (await http.post("/auth/header")).status_code == 404


async def test_every_response_that_can_carry_phi_is_no_store_and_the_page_is_local(app: App) -> None:
    cookie = await app.login("alice")
    async with app.client(Cookie=cookie) as http:
        page = await http.get("/", headers={"Accept-Encoding": "gzip"})
        responses = [
            page,
            await http.get("/user"),
            await http.post("/project/threads", json={"pagination": {"first": 5}, "filter": {}}),
            await http.get(f"/project/thread/{uuid.uuid4()}"),
            await http.post("/login", data={"username": "alice", "password": PASSWORD}),
            await http.post("/logout"),
        ]
        asset = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
        assert asset
        script = await http.get(asset.group(1))
    assert all(r.headers.get("cache-control") == "no-store" for r in responses), [
        (str(r.url), r.headers.get("cache-control")) for r in responses
    ]
    assert "no-store" not in script.headers.get("cache-control", ""), "static bundles stay cacheable"
    assert page.headers.get("content-encoding") == "gzip", (
        "the page was compressed (where the old filter failed)"
    )
    raw = gzip.decompress(page.read()) if page.content[:2] == b"\x1f\x8b" else page.content
    assert b"http://" not in raw and b"https://" not in raw, "an external link is left in the page"
    policy = page.headers["content-security-policy"]
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "unsafe-inline" not in script_src and "'sha256-" in script_src
    assert "connect-src 'self' data: wss://radassist.test;" in policy


async def test_a_feature_that_is_off_is_refused_on_the_socket(app: App) -> None:
    cookie = await app.login("ivan")
    socket = await connected(app, cookie)
    try:
        question_id = str(uuid.uuid4())
        await socket.ask(QUESTION, message_id=question_id)

        async def stored() -> Any:
            rows = app.rows("SELECT output FROM steps WHERE id = %s", question_id)
            return rows if rows and rows[0][0] else None

        assert await until(stored) == [(QUESTION,)]
        socket.events.clear()
        edited = {
            "id": question_id,
            "threadId": socket.thread_id,
            "type": "user_message",
            "output": "8 mm, never smoked",
        }
        await socket.sio.emit("edit_message", {"message": edited})
        await asyncio.sleep(2)  # what an accepted edit would take: rewrite the step, answer again
        assert app.rows("SELECT output FROM steps WHERE id = %s", question_id) == [(QUESTION,)]
        assert not any(n in ("new_message", "update_message") for n, _ in socket.events), (
            "the agent answered again"
        )
        await socket.sio.emit("audio_start")
        await socket.sio.emit("not_a_chainlit_event", {"x": 1})
        await socket.ask("and if it grew to 9 mm?")  # the socket still works for what is on
    finally:
        await socket.close()


@pytest.mark.parametrize("size", [2001, 1_000_000])
async def test_an_oversized_message_is_refused_before_anything_is_stored(app: App, size: int) -> None:
    cookie = await app.login("ivan")
    socket = await connected(app, cookie)
    try:
        text = ("6 mm nodule. " * (size // 13 + 1))[:size]
        message_id = await socket.send(text)
        toasts = await until(lambda: asyncio.sleep(0, result=[d for n, d in socket.events if n == "toast"]))
        assert f"it has {size:,} characters and the limit is 2,000" in toasts[0]["message"]
        await asyncio.sleep(1)
        assert app.rows(
            "SELECT count(*) FROM steps WHERE id = %s OR thread_id = %s", message_id, socket.thread_id
        ) == [(0,)]
        assert app.rows("SELECT count(*) FROM threads WHERE id = %s", socket.thread_id) == [(0,)]
    finally:
        await socket.close()


# -- PHI and the draft -------------------------------------------------------------------------------------------


async def test_identifiers_never_reach_the_remote_model_and_the_ui_says_so(app: App) -> None:
    cookie = await app.login("alice")
    socket = await connected(app, cookie)
    canaries = ["Quistanvar", "48213907", "03/14/1962"]
    try:
        before = len(app.remote.bodies)
        answer = await socket.ask(f"Mr. {canaries[0]}, MRN {canaries[1]}, DOB {canaries[2]}: {QUESTION}")
        assert "looks like patient identifiers (date, dob, id number, mrn, name)" in answer, answer
        assert "the local model alias default answered instead" in answer and CATEGORY in answer
        assert not any(c in app.remote.received() for c in canaries), "an identifier reached the remote model"
        assert len(app.remote.bodies) == before
        assert all(c in app.local.received() for c in canaries), "positive control: the local model got them"
        follow_up = await socket.ask("and if it grew to 9 mm?")  # earlier questions go into the prompt too
        assert "looks like patient identifiers" in follow_up and len(app.remote.bodies) == before
        # A new conversation without identifiers goes to the remote model.
        fresh = await connected(app, cookie)
        try:
            clean = await fresh.ask(QUESTION)
        finally:
            await fresh.close()
        assert "patient identifiers" not in clean and len(app.remote.bodies) > before
        assert not any(c in app.server.output() for c in canaries), "an identifier reached the server log"
        trail = app.rows(
            "SELECT action, target, result, detail::text FROM audit_log WHERE action = 'model.phi_guard'"
        )
        assert ("model.phi_guard", "expert-chest", "denied") in [t[:3] for t in trail]
        assert not any(c in str(trail) for c in canaries)
    finally:
        await socket.close()


async def test_the_streamed_draft_shows_no_link_image_or_system_prompt(app: App) -> None:
    cookie = await app.login("bob")
    socket = await connected(app, cookie)
    try:
        await socket.ask(f"ECHO-TEST {QUESTION}")
        drafts = {
            d["id"]
            for n, d in socket.events
            if n == "stream_start" and d.get("name", "").startswith("Model draft")
        }
        assert drafts, "no draft step was streamed"
        tokens = "".join(  # a step's first token arrives inside its stream_start
            d["output"] if n == "stream_start" else d["token"]
            for n, d in socket.events
            if n in ("stream_start", "stream_token") and d["id"] in drafts
        )
        outputs = [d["output"] for n, d in socket.events if n == "update_message" and d["id"] in drafts]
        for shown in (tokens, *outputs):
            assert "evil.example" not in shown and "![" not in shown and "https://" not in shown, shown
            words = re.findall(r"\w+", shown.lower())
            prompt = re.findall(r"\w+", CHEST_PROMPT.lower())
            shown_runs = {tuple(words[i : i + 8]) for i in range(len(words) - 7)}
            assert not any(tuple(prompt[i : i + 8]) in shown_runs for i in range(len(prompt) - 7)), shown
        assert "[…]" in tokens and "[link removed]" in tokens
        assert "evil.example" in app.remote.reply([{"role": "user", "content": "ECHO-TEST"}]), (
            "the model did misbehave"
        )
    finally:
        await socket.close()


# -- audit and erasure ---------------------------------------------------------------------------------------------


async def test_reads_deletes_and_logins_are_audited_and_deletion_erases_everything(app: App) -> None:
    cookie = await app.login("heidi", "10.3.0.7")
    socket = await connected(app, cookie)
    secret = "Vinkelorm"
    try:
        await socket.ask(f"{secret} 6 mm solid nodule, smoker, what follow-up?")
    finally:
        await socket.close()
    thread = socket.thread_id

    async def persisted() -> bool:
        return app.rows("SELECT count(*) FROM answer_provenance WHERE thread_id = %s", thread)[0][0] > 0

    await until(persisted)
    checkpoints = app.rows("SELECT count(*) FROM checkpoints WHERE thread_id = %s", thread)[0][0]
    stored = app.rows(
        "SELECT string_agg(encode(blob, 'escape'), '') FROM checkpoint_blobs WHERE thread_id = %s", thread
    )[0][0] + str(app.rows("SELECT checkpoint::text FROM checkpoints WHERE thread_id = %s", thread))
    assert checkpoints > 0 and secret not in stored, "the agent's checkpoint holds the message in plain text"

    async with app.client("10.3.0.7", Cookie=cookie) as http:
        assert (await http.get(f"/project/thread/{thread}")).status_code == 200
        assert (
            await http.post("/project/threads", json={"pagination": {"first": 5}, "filter": {}})
        ).status_code == 200
    bob = await app.login("bob", "10.3.0.8")
    async with app.client("10.3.0.8", Cookie=bob) as http:
        assert (await http.request("DELETE", "/project/thread", json={"threadId": thread})).status_code in (
            401,
            403,
            404,
        )
    async with app.client("10.3.0.7", Cookie=cookie) as http:
        assert (await http.request("DELETE", "/project/thread", json={"threadId": thread})).status_code == 200
    for table, column in [("threads", "id"), ("steps", "thread_id"), ("answer_provenance", "thread_id"),
                          ("checkpoints", "thread_id"), ("checkpoint_blobs", "thread_id"), ("checkpoint_writes", "thread_id")]:  # fmt: skip
        assert app.rows(f"SELECT count(*) FROM {table} WHERE {column} = %s", thread) == [(0,)], table

    trail = app.rows("SELECT actor, client, action, target, result FROM audit_log ORDER BY seq")
    assert ("heidi", "10.3.0.7", "login", "", "success") in trail
    assert ("heidi", "10.3.0.7", "thread.read", thread, "success") in trail
    assert ("heidi", "10.3.0.7", "thread.list", "", "success") in trail
    assert ("bob", "10.3.0.8", "thread.delete", thread, "denied") in trail
    assert ("heidi", "10.3.0.7", "thread.delete", thread, "success") in trail
    assert ("frank", "10.1.0.1", "login", "", "failure") in trail, "a failed login of a known account"
    assert any(t[0] == "" and t[1].startswith("10.2.0.") and t[2:] == ("login", "", "failure") for t in trail)
    assert ("", "10.1.0.1", "login", "", "denied") in trail, "a throttled login"
    assert ("bob", "10.0.0.1", "logout", "", "success") in trail
    assert any(t[2] == "models.loaded" for t in trail)
    everything = str(app.rows("SELECT * FROM audit_log"))
    assert secret not in everything and "nodule" not in everything, "message content in the audit trail"
    with psycopg.connect(app.db_url) as conn:
        from agent.security.audit import verify

        assert verify(conn).intact
