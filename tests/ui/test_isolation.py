"""User A can never read or change user B's history (security-and-reliability.md, test T7).

The real app runs as a subprocess (`radassist serve`) on a fresh database. Alice logs in over HTTP,
chats over the socket, rates the answer and adds an element; then Bob (logged in) and an anonymous
client call every Chainlit route that takes an id with Alice's ids, and connect the socket with her
thread and session. Every call must be refused (401/403/404) without a byte of Alice's content.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from agent.ui.auth import add_user, disable_user
from tests.chat_client import ChatClient, login
from tests.conftest import create_database, drop_database
from tests.server import Server, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.gguf]

PASSWORD = "grey-lung-window-42"
CANARY = "CANARY7F3A"  # in Alice's question, thread name, feedback comment and element props
DENIED = {401, 403, 404}


@dataclass
class App:
    server: Server
    db_url: str


@pytest.fixture(scope="module")
def app(pg_url: str, tmp_path_factory: pytest.TempPathFactory, test_home: Path) -> Iterator[App]:
    db_url = create_database(pg_url)
    for name in ("alice", "bob", "carol"):
        add_user(db_url, name, PASSWORD)
    env = {"DATABASE_URL": db_url, "RADASSIST_HOME": str(test_home), "CHAINLIT_AUTH_SECRET": None}
    with running_server(tmp_path_factory.mktemp("isolation"), env=env) as server:
        yield App(server=server, db_url=db_url)
    drop_database(pg_url, db_url)


@dataclass
class Alice:
    cookie: str
    client: ChatClient
    thread_id: str
    user_step: str
    answer: str
    feedback_id: str
    element_id: str
    thread: dict[str, Any]


async def fetch_thread(base_url: str, cookie: str, thread_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, headers={"Cookie": cookie}, timeout=30) as http:
        return await http.get(f"/project/thread/{thread_id}")


async def wait_for(check, timeout: float = 30) -> Any:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the chat to be persisted")
        await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
async def alice(app: App) -> AsyncIterator[Alice]:
    base = app.server.url
    cookie = await login(base, "alice", PASSWORD)
    client = ChatClient(base, cookie=cookie)
    await client.connect()
    answer = await client.ask(f"{CANARY} What is the follow-up for a 7 mm solid nodule?")
    assert answer.strip(), app.server.output()
    answer_id = client.last_message()["id"]

    async def persisted() -> dict | None:
        response = await fetch_thread(base, cookie, client.thread_id)
        if response.status_code != 200 or not response.json():
            return None
        steps = {s["type"]: s for s in response.json()["steps"]}
        done = "user_message" in steps and any(
            s["id"] == answer_id and s["output"] for s in response.json()["steps"]
        )
        return response.json() if done else None

    await wait_for(persisted)
    async with httpx.AsyncClient(base_url=base, headers={"Cookie": cookie}, timeout=30) as http:
        rated = await http.put(
            "/feedback",
            json={
                "feedback": {"forId": answer_id, "value": 1, "comment": f"{CANARY} useful"},
                "sessionId": client.session_id,
            },
        )
        assert rated.status_code == 200, rated.text
        element_id = str(uuid.uuid4())
        element = {
            "id": element_id,
            "type": "custom",
            "name": "Card",
            "display": "inline",
            "props": {"note": f"{CANARY} element"},
            "threadId": client.thread_id,
            "forId": answer_id,
        }
        added = await http.put("/project/element", json={"element": element, "sessionId": client.session_id})
        assert added.status_code == 200 and added.json() == {"success": True}, added.text

    async def element_persisted() -> bool:
        async with httpx.AsyncClient(base_url=base, headers={"Cookie": cookie}, timeout=30) as http:
            response = await http.get(f"/project/thread/{client.thread_id}/element/{element_id}")
        return response.status_code == 200 and response.json() is not None

    await wait_for(element_persisted)
    thread = (await fetch_thread(base, cookie, client.thread_id)).json()
    user_step = next(s["id"] for s in thread["steps"] if s["type"] == "user_message")
    yield Alice(
        cookie=cookie,
        client=client,
        thread_id=client.thread_id,
        user_step=user_step,
        answer=answer_id,
        feedback_id=rated.json()["feedbackId"],
        element_id=element_id,
        thread=thread,
    )
    await client.close()


@pytest.fixture(scope="module")
async def bob(app: App) -> AsyncIterator[ChatClient]:
    """Bob logged in, with a live socket session of his own (and his own thread id)."""
    cookie = await login(app.server.url, "bob", PASSWORD)
    client = ChatClient(app.server.url, cookie=cookie)
    await client.connect()
    yield client
    await client.close()


def assert_no_alice_content(response: httpx.Response) -> None:
    assert CANARY not in response.text, (
        f"{response.request.method} {response.request.url} leaked Alice's content"
    )


# -- the owner's view (the positive control: these ids do reach Alice's data) -----------------------------


async def test_alice_sees_her_thread_element_feedback_and_history(app: App, alice: Alice) -> None:
    assert CANARY in alice.thread["name"]
    answer = next(s for s in alice.thread["steps"] if s["id"] == alice.answer)
    assert answer["feedback"]["value"] == 1 and CANARY in answer["feedback"]["comment"]
    async with httpx.AsyncClient(
        base_url=app.server.url, headers={"Cookie": alice.cookie}, timeout=30
    ) as http:
        element = await http.get(f"/project/thread/{alice.thread_id}/element/{alice.element_id}")
        history = await http.post("/project/threads", json={"pagination": {"first": 20}, "filter": {}})
    assert element.status_code == 200 and CANARY in element.json()["props"]["note"]
    assert [t["id"] for t in history.json()["data"]] == [alice.thread_id]


# -- Bob and an anonymous client, with Alice's ids --------------------------------------------------------


def foreign_requests(alice: Alice, bob: ChatClient) -> list[tuple[str, str, dict[str, Any] | None]]:
    element = {
        "id": alice.element_id,
        "type": "custom",
        "name": "Card",
        "display": "inline",
        "props": {"note": "overwritten"},
        "threadId": alice.thread_id,
        "forId": alice.answer,
    }
    in_bobs_thread = {**element, "threadId": bob.thread_id}  # Alice's element id, Bob's thread
    bobs_element_on_alices_step = {**element, "id": str(uuid.uuid4()), "threadId": bob.thread_id}
    feedback = {"forId": alice.answer, "value": 0, "comment": "changed by someone else"}
    return [
        ("GET", f"/project/thread/{alice.thread_id}", None),
        ("GET", f"/project/thread/{alice.thread_id}/element/{alice.element_id}", None),
        ("PUT", "/project/thread", {"threadId": alice.thread_id, "name": "renamed"}),
        ("DELETE", "/project/thread", {"threadId": alice.thread_id}),
        ("PUT", "/project/thread/share", {"threadId": alice.thread_id, "isShared": True}),
        ("GET", f"/project/share/{alice.thread_id}", None),
        ("PUT", "/feedback", {"feedback": feedback, "sessionId": bob.session_id}),
        (
            "PUT",
            "/feedback",
            {"feedback": {**feedback, "id": alice.feedback_id}, "sessionId": bob.session_id},
        ),
        ("PUT", "/feedback", {"feedback": feedback, "sessionId": alice.client.session_id}),
        ("DELETE", "/feedback", {"feedbackId": alice.feedback_id}),
        ("PUT", "/project/element", {"element": element, "sessionId": bob.session_id}),
        ("PUT", "/project/element", {"element": element, "sessionId": alice.client.session_id}),
        ("PUT", "/project/element", {"element": in_bobs_thread, "sessionId": bob.session_id}),
        ("PUT", "/project/element", {"element": bobs_element_on_alices_step, "sessionId": bob.session_id}),
        ("DELETE", "/project/element", {"element": element, "sessionId": bob.session_id}),
        ("DELETE", "/project/element", {"element": element, "sessionId": alice.client.session_id}),
        ("DELETE", "/project/element", {"element": in_bobs_thread, "sessionId": bob.session_id}),
        ("GET", f"/project/file/{alice.element_id}?session_id={alice.client.session_id}", None),
        (
            "POST",
            "/project/action",
            {"action": {"name": "noop", "payload": {}}, "sessionId": alice.client.session_id},
        ),
        (
            "POST",
            "/mcp",
            {"sessionId": alice.client.session_id, "name": "x", "clientType": "stdio", "fullCommand": "true"},
        ),
    ]


@pytest.mark.parametrize("who", ["bob", "anonymous"])
async def test_every_id_taking_route_refuses_alice_ids(
    app: App, alice: Alice, bob: ChatClient, who: str
) -> None:
    headers = {"Cookie": bob.cookie} if who == "bob" else {}
    refused = []
    async with httpx.AsyncClient(base_url=app.server.url, headers=headers, timeout=30) as http:
        for method, path, body in foreign_requests(alice, bob):
            response = await http.request(method, path, json=body)
            assert_no_alice_content(response)
            refused.append((method, path, response.status_code))
    allowed = [r for r in refused if r[2] not in DENIED]
    assert allowed == [], f"{who} was not refused: {allowed}"
    if who == "anonymous":
        assert {status for *_, status in refused} <= {401, 404}, refused


async def test_bobs_history_holds_nothing_of_alice(app: App, alice: Alice, bob: ChatClient) -> None:
    async with httpx.AsyncClient(base_url=app.server.url, headers={"Cookie": bob.cookie}, timeout=30) as http:
        for body in (
            {"pagination": {"first": 50}, "filter": {}},
            {"pagination": {"first": 50, "cursor": alice.thread_id}, "filter": {}},
            {"pagination": {"first": 50}, "filter": {"search": CANARY}},
            {"pagination": {"first": 50}, "filter": {"feedback": 1}},
            {"pagination": {"first": 50}, "filter": {"userId": alice.thread["userId"]}},
        ):
            response = await http.post("/project/threads", json=body)
            assert response.status_code == 200
            assert response.json()["data"] == [], body
            assert_no_alice_content(response)
    async with httpx.AsyncClient(base_url=app.server.url, timeout=30) as http:
        anonymous = await http.post("/project/threads", json={"pagination": {"first": 50}, "filter": {}})
    assert anonymous.status_code == 401


@pytest.mark.parametrize("who", ["bob", "anonymous"])
@pytest.mark.parametrize("reuse", ["thread", "session", "thread and session"])
async def test_socket_refuses_alices_thread_and_session(
    app: App, alice: Alice, bob: ChatClient, who: str, reuse: str
) -> None:
    client = ChatClient(
        app.server.url,
        cookie=bob.cookie if who == "bob" else None,
        thread_id=alice.thread_id if "thread" in reuse else None,
    )
    if "session" in reuse:
        client.session_id = alice.client.session_id
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect()
    finally:
        await client.close()
    assert client.events == []
    assert CANARY not in repr(client.events)


async def test_alices_data_is_unchanged_after_the_attempts(app: App, alice: Alice, bob: ChatClient) -> None:
    # Runs after the attempts above (file order); repeat the writes so it also holds when run alone.
    await test_every_id_taking_route_refuses_alice_ids(app, alice, bob, "bob")
    await asyncio.sleep(1)  # element and step writes run as background tasks in the server
    thread = (await fetch_thread(app.server.url, alice.cookie, alice.thread_id)).json()
    assert thread["name"] == alice.thread["name"] and thread["userId"] == alice.thread["userId"]
    assert [s["id"] for s in thread["steps"]] == [s["id"] for s in alice.thread["steps"]]
    answer = next(s for s in thread["steps"] if s["id"] == alice.answer)
    assert answer["feedback"] == next(s for s in alice.thread["steps"] if s["id"] == alice.answer)["feedback"]
    assert answer["feedback"]["value"] == 1
    elements = {e["id"]: e for e in thread["elements"]}
    assert elements[alice.element_id]["props"] == {"note": f"{CANARY} element"}
    assert all(e["props"] != {"note": "overwritten"} for e in elements.values()), "no element added by Bob"
    assert thread["metadata"].get("is_shared") is not True


async def test_sharing_is_off_even_for_the_owner(app: App, alice: Alice) -> None:
    async with httpx.AsyncClient(
        base_url=app.server.url, headers={"Cookie": alice.cookie}, timeout=30
    ) as http:
        share = await http.put("/project/thread/share", json={"threadId": alice.thread_id, "isShared": True})
        view = await http.get(f"/project/share/{alice.thread_id}")
    assert (share.status_code, view.status_code) == (404, 404)
    assert_no_alice_content(view)


async def test_element_path_and_url_from_the_client_are_never_read(
    app: App, alice: Alice, probe: list[str]
) -> None:
    """Advisory regressions CVE-2026-22218 (file read) and CVE-2026-22219 (SSRF) through /project/element."""
    probe_url = probe.pop(0)
    element_id = str(uuid.uuid4())
    element = {
        "id": element_id,
        "type": "custom",
        "name": "Card",
        "display": "inline",
        "props": {},
        "path": "/etc/passwd",
        "url": probe_url + "internal",
        "threadId": alice.thread_id,
        "forId": alice.answer,
    }
    async with httpx.AsyncClient(
        base_url=app.server.url, headers={"Cookie": alice.cookie}, timeout=30
    ) as http:
        sent = await http.put(
            "/project/element", json={"element": element, "sessionId": alice.client.session_id}
        )
        assert sent.status_code == 200

        async def stored() -> dict | None:
            response = await http.get(f"/project/thread/{alice.thread_id}/element/{element_id}")
            return response.json() if response.status_code == 200 else None

        persisted = await wait_for(stored)
    assert persisted["url"] is None and "root:" not in repr(persisted)
    await asyncio.sleep(0.5)
    assert probe == [], "the server fetched a client-supplied element URL"


async def test_wrong_password_and_disabled_account(app: App) -> None:
    async with httpx.AsyncClient(base_url=app.server.url, timeout=30) as http:
        wrong = await http.post("/login", data={"username": "carol", "password": PASSWORD + "x"})
        unknown = await http.post("/login", data={"username": "mallory", "password": PASSWORD})
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert "set-cookie" not in wrong.headers

    cookie = await login(app.server.url, "carol", PASSWORD)
    async with httpx.AsyncClient(base_url=app.server.url, headers={"Cookie": cookie}, timeout=30) as http:
        assert (await http.get("/user")).status_code == 200
        disable_user(app.db_url, "carol")
        assert (await http.get("/user")).status_code == 401, "a disabled account's cookie is refused at once"
        relogin = await http.post("/login", data={"username": "carol", "password": PASSWORD})
    assert relogin.status_code == 401
    disabled = ChatClient(app.server.url, cookie=cookie)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await disabled.connect()
    finally:
        await disabled.close()
