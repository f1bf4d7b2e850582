"""The psycopg data layer against the real database: CRUD, history pages, filters, ownership, races."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

import psycopg
import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.element import CustomElement, Text
from chainlit.session import WebsocketSession
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User

from agent.ui.data_layer import AccessDenied, PostgresDataLayer, acting_as

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def step(
    thread_id: str, *, type: str = "user_message", output: str = "", at: datetime = T0, **extra: Any
) -> dict:
    stamp = at.replace(tzinfo=None).isoformat() + "Z"  # Chainlit's utc_now() format
    return {
        "id": extra.pop("id", new_id()),
        "threadId": thread_id,
        "type": type,
        "name": "User" if type == "user_message" else "radassist",
        "output": output,
        "input": "",
        "metadata": {},
        "createdAt": stamp,
        "start": stamp,
        "end": stamp,
        "streaming": False,
        "isError": False,
        "showInput": "json",
        **extra,
    }


async def new_thread(
    layer: PostgresDataLayer, owner: str, *, name: str = "chat", question: str = "q"
) -> dict:
    """A thread as Chainlit makes one: thread row, then the user message, then the answer."""
    thread_id = new_id()
    with acting_as(owner):
        await layer.update_thread(thread_id, name=name)
        user_step = step(thread_id, output=question)
        answer = step(
            thread_id, type="assistant_message", output=f"answer to {question}", at=T0 + timedelta(seconds=1)
        )
        await layer.create_step(user_step)
        await layer.create_step(answer)
    return {"id": thread_id, "user_step": user_step["id"], "answer": answer["id"]}


def table_counts(url: str, thread_id: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (thread_id,)).fetchone()[
                0
            ]
            for table, column in (
                ("threads", "id"),
                ("steps", "thread_id"),
                ("elements", "thread_id"),
                ("feedback", "thread_id"),
            )
        }


def set_updated_at(url: str, thread_id: str, when: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE threads SET updated_at = %s WHERE id = %s", (when, thread_id))


# -- users ----------------------------------------------------------------------------------------------


async def test_create_user_records_metadata_but_never_the_role(layer: PostgresDataLayer, make_user) -> None:
    alice = make_user("alice")
    persisted = await layer.create_user(User(identifier=alice, metadata={"role": "admin", "theme": "dark"}))
    assert persisted is not None and persisted.identifier == alice
    assert persisted.metadata == {"theme": "dark", "role": "clinician"}, "the role column is authoritative"
    again = await layer.get_user(alice)
    assert again is not None and again.id == persisted.id and again.metadata["role"] == "clinician"


async def test_disabled_user_is_neither_returned_nor_updated(
    layer: PostgresDataLayer, make_user, ui_db_url
) -> None:
    carol = make_user("carol", disabled=True)
    assert await layer.get_user(carol) is None
    assert await layer.create_user(User(identifier=carol, metadata={"x": 1})) is None
    with psycopg.connect(ui_db_url) as conn:
        metadata, disabled = conn.execute(
            "SELECT metadata, disabled FROM users WHERE identifier = %s", (carol,)
        ).fetchone()
    assert (metadata, disabled) == ({}, True)
    assert not await layer.is_active(carol)
    assert not await layer.is_active("nobody-" + new_id()[:8])


async def test_create_user_without_an_account_stores_no_password(layer: PostgresDataLayer, ui_db_url) -> None:
    identifier = "sso-" + new_id()[:8]
    persisted = await layer.create_user(User(identifier=identifier))
    assert persisted is not None
    with psycopg.connect(ui_db_url) as conn:
        row = conn.execute(
            "SELECT password_hash, role FROM users WHERE identifier = %s", (identifier,)
        ).fetchone()
    assert row == (None, "clinician")


# -- threads and steps ----------------------------------------------------------------------------------


async def test_thread_round_trip_with_steps_in_order(layer: PostgresDataLayer, make_user) -> None:
    alice = make_user("alice")
    thread_id = new_id()
    with acting_as(alice):
        await layer.update_thread(
            thread_id, name="Nodule follow-up", tags=["chest"], metadata={"a": 1, "b": 2}
        )
        later = step(thread_id, type="assistant_message", output="second", at=T0 + timedelta(seconds=5))
        first = step(
            thread_id, output="first", command="classify", modes={"model": "default"}, defaultOpen=True
        )
        await layer.create_step(later)  # persisted out of order on purpose
        await layer.create_step(first)
        await layer.update_thread(thread_id, metadata={"a": None, "c": 3})
    thread = await layer.get_thread(thread_id)
    assert thread is not None
    assert (thread["name"], thread["tags"], thread["userIdentifier"]) == (
        "Nodule follow-up",
        ["chest"],
        alice,
    )
    assert thread["metadata"] == {"b": 2, "c": 3}, "a key set to None is removed, others are kept"
    assert [s["output"] for s in thread["steps"]] == ["first", "second"]
    persisted_first = thread["steps"][0]
    assert persisted_first["command"] == "classify"
    assert persisted_first["modes"] == {"model": "default"}
    assert persisted_first["defaultOpen"] is True
    assert persisted_first["showInput"] == "json"
    assert persisted_first["createdAt"] == first["createdAt"]
    assert persisted_first["streaming"] is False
    assert await layer.get_thread_author(thread_id) == alice


async def test_unknown_thread_has_no_author_and_no_content(layer: PostgresDataLayer) -> None:
    assert await layer.get_thread_author(new_id()) == ""
    assert await layer.get_thread(new_id()) is None


async def test_thread_owner_is_fixed_at_creation(layer: PostgresDataLayer, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    thread = await new_thread(layer, alice, name="alice's")
    alice_id = (await layer.get_user(alice)).id
    bob_id = (await layer.get_user(bob)).id
    with acting_as(bob), pytest.raises(AccessDenied):
        await layer.update_thread(thread["id"], name="renamed by bob")
    with acting_as(bob), pytest.raises(AccessDenied):
        await layer.update_thread(thread["id"], user_id=bob_id)
    with acting_as(alice), pytest.raises(AccessDenied):
        await layer.update_thread(thread["id"], user_id=bob_id)  # cannot give it away either
    with pytest.raises(AccessDenied):  # trusted code cannot move it to another owner
        await layer.update_thread(thread["id"], user_id=bob_id)
    stored = await layer.get_thread(thread["id"])
    assert (stored["name"], stored["userId"]) == ("alice's", alice_id)


async def test_steps_cannot_be_written_into_or_stolen_from_another_users_thread(
    layer: PostgresDataLayer, make_user
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    thread = await new_thread(layer, alice, question="alice's question")
    bob_thread = await new_thread(layer, bob)
    with acting_as(bob), pytest.raises(AccessDenied):
        await layer.create_step(step(thread["id"], output="injected by bob"))
    # Same step id as alice's message, in bob's own thread: refused, not moved or overwritten.
    with acting_as(bob), pytest.raises(AccessDenied):
        await layer.update_step(step(bob_thread["id"], id=thread["user_step"], output="overwritten"))
    with acting_as(bob), pytest.raises(AccessDenied):
        await layer.delete_step(thread["user_step"])
    stored = await layer.get_thread(thread["id"])
    assert [s["output"] for s in stored["steps"]] == ["alice's question", "answer to alice's question"]


async def test_anonymous_and_disabled_actors_cannot_write(layer: PostgresDataLayer, make_user) -> None:
    dave = make_user("dave", disabled=True)
    for actor in ("", dave, "no-such-user"):
        with acting_as(actor), pytest.raises(AccessDenied):
            await layer.update_thread(new_id(), name="x")
        with acting_as(actor), pytest.raises(AccessDenied):
            await layer.create_step(step(new_id(), output="x"))


async def test_trusted_code_cannot_create_an_ownerless_thread(layer: PostgresDataLayer) -> None:
    with pytest.raises(AccessDenied):
        await layer.create_step(step(new_id(), output="x"))


async def test_late_create_never_overwrites_the_final_content(layer: PostgresDataLayer, make_user) -> None:
    """chainlit#2789: send() with empty content, then update() with the answer; the tasks land reversed."""
    alice = make_user("alice")
    thread = await new_thread(layer, alice)
    with acting_as(alice):
        answer = step(thread["id"], type="assistant_message", output="", at=T0 + timedelta(seconds=9))
        final = {**answer, "output": "Final verified answer.", "end": "2026-03-01T09:00:12Z"}
        await layer.update_step(final)
        await layer.create_step(answer)  # the late create, empty output
        partial = step(thread["id"], type="assistant_message", output="", at=T0 + timedelta(seconds=10))
        await layer.update_step({**partial, "output": "Complete sentence."})
        await layer.create_step({**partial, "output": "Compl"})  # a stale, non-empty snapshot
        await layer.update_step({**partial, "output": ""})  # an update never empties content
    outputs = {s["id"]: s for s in (await layer.get_thread(thread["id"]))["steps"]}
    assert outputs[answer["id"]]["output"] == "Final verified answer."
    assert outputs[answer["id"]]["end"] == "2026-03-01T09:00:12Z"
    assert outputs[partial["id"]]["output"] == "Complete sentence."


async def test_concurrent_create_and_update_keep_the_final_content(
    layer: PostgresDataLayer, make_user
) -> None:
    alice = make_user("alice")
    thread = await new_thread(layer, alice)
    answers = [step(thread["id"], type="assistant_message", output="") for _ in range(10)]
    with acting_as(alice):
        await asyncio.gather(
            *(layer.create_step(a) for a in answers),
            *(layer.update_step({**a, "output": f"final {i}"}) for i, a in enumerate(answers)),
        )
    stored = {s["id"]: s["output"] for s in (await layer.get_thread(thread["id"]))["steps"]}
    assert [stored[a["id"]] for a in answers] == [f"final {i}" for i in range(10)]


async def test_update_then_create_in_order_keeps_normal_semantics(
    layer: PostgresDataLayer, make_user
) -> None:
    alice = make_user("alice")
    thread = await new_thread(layer, alice)
    with acting_as(alice):
        s = step(thread["id"], type="tool", output="", name="fleischner")
        await layer.create_step(s)
        await layer.update_step({**s, "output": '{"category": "no follow-up"}', "isError": False})
        await layer.update_step({**s, "output": "second version"})
    stored = {x["id"]: x for x in (await layer.get_thread(thread["id"]))["steps"]}
    assert stored[s["id"]]["output"] == "second version"
    assert stored[s["id"]]["type"] == "tool"


# -- history list -----------------------------------------------------------------------------------------


async def test_list_threads_pages_through_one_users_threads(
    layer: PostgresDataLayer, make_user, ui_db_url
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    alice_id, bob_id = (await layer.get_user(alice)).id, (await layer.get_user(bob)).id
    threads = [await new_thread(layer, alice, name=f"alice {i}") for i in range(5)]
    for i, thread in enumerate(threads):
        set_updated_at(ui_db_url, thread["id"], T0 + timedelta(hours=i))
    bob_thread = await new_thread(layer, bob, name="bob's")
    expected = [t["id"] for t in reversed(threads)]  # most recent activity first

    seen: list[str] = []
    cursor = None
    pages = []
    with acting_as(alice):
        while True:
            page = await layer.list_threads(Pagination(first=2, cursor=cursor), ThreadFilter(userId=alice_id))
            pages.append((len(page.data), page.pageInfo.hasNextPage))
            seen += [t["id"] for t in page.data]
            if not page.pageInfo.hasNextPage:
                break
            cursor = page.pageInfo.endCursor
        assert seen == expected
        assert pages == [(2, True), (2, True), (1, False)]
        # Another user's thread as a cursor leaks nothing.
        foreign = await layer.list_threads(
            Pagination(first=10, cursor=bob_thread["id"]), ThreadFilter(userId=alice_id)
        )
        assert foreign.data == []
        # Asking for another user's list while acting as alice returns nothing.
        assert (await layer.list_threads(Pagination(first=10), ThreadFilter(userId=bob_id))).data == []
    assert (await layer.list_threads(Pagination(first=10), ThreadFilter())).data == [], "no user, no threads"


async def test_list_threads_search_and_feedback_filters(layer: PostgresDataLayer, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    alice_id = (await layer.get_user(alice)).id
    liver = await new_thread(
        layer, alice, name="Liver lesion", question="LI-RADS for a 15 mm arterial lesion?"
    )
    thyroid = await new_thread(layer, alice, name="Neck", question="TI-RADS 100% solid nodule?")
    await new_thread(layer, bob, name="Liver lesion too", question="bob's liver question")
    with acting_as(alice):
        await layer.upsert_feedback(Feedback(forId=liver["answer"], value=1))
        await layer.upsert_feedback(Feedback(forId=thyroid["answer"], value=0, comment="wrong category"))

        async def ids(**filters: Any) -> set[str]:
            page = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=alice_id, **filters))
            return {t["id"] for t in page.data}

        assert await ids(search="liver") == {liver["id"]}, "by name, case-insensitive, alice's only"
        assert await ids(search="arterial") == {liver["id"]}, "by message content"
        assert await ids(search="100%") == {thyroid["id"]}
        assert await ids(search="%") == {thyroid["id"]}, "LIKE wildcards are matched literally"
        assert await ids(search="1_0") == set(), "'_' is not a one-character wildcard"
        assert await ids(search="L%lesion") == set()
        assert await ids(feedback=1) == {liver["id"]}
        assert await ids(feedback=0) == {thyroid["id"]}


# -- deletion ---------------------------------------------------------------------------------------------


async def test_delete_thread_removes_every_row(layer: PostgresDataLayer, make_user, ui_db_url) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    thread = await new_thread(layer, alice)
    with acting_as(alice):
        await layer.create_element(
            Text(name="src", content="passage", thread_id=thread["id"], for_id=thread["answer"])
        )
        await layer.upsert_feedback(Feedback(forId=thread["answer"], value=1, comment="good"))
    assert table_counts(ui_db_url, thread["id"]) == {"threads": 1, "steps": 2, "elements": 1, "feedback": 1}
    with acting_as(bob), pytest.raises(AccessDenied):
        await layer.delete_thread(thread["id"])
    assert table_counts(ui_db_url, thread["id"])["threads"] == 1
    with acting_as(alice):
        await layer.delete_thread(thread["id"])
    assert table_counts(ui_db_url, thread["id"]) == {"threads": 0, "steps": 0, "elements": 0, "feedback": 0}


async def test_delete_step_removes_its_elements_and_feedback(
    layer: PostgresDataLayer, make_user, ui_db_url
) -> None:
    alice = make_user("alice")
    thread = await new_thread(layer, alice)
    with acting_as(alice):
        await layer.create_element(
            Text(name="src", content="passage", thread_id=thread["id"], for_id=thread["answer"])
        )
        await layer.upsert_feedback(Feedback(forId=thread["answer"], value=0))
        await layer.delete_step(thread["answer"])
    assert table_counts(ui_db_url, thread["id"]) == {"threads": 1, "steps": 1, "elements": 0, "feedback": 0}


# -- elements ---------------------------------------------------------------------------------------------


async def test_elements_keep_inline_content_only(
    layer: PostgresDataLayer, make_user, probe: list[str]
) -> None:
    alice = make_user("alice")
    thread = await new_thread(layer, alice)
    probe_url = probe.pop(0)
    text = Text(
        name="Fleischner 2017",
        content="Solid nodule < 6 mm: no routine follow-up.",
        thread_id=thread["id"],
        for_id=thread["answer"],
    )
    by_url = Text(name="remote", url=probe_url + "internal", thread_id=thread["id"], for_id=thread["answer"])
    by_path = Text(name="local", path="/etc/passwd", thread_id=thread["id"], for_id=thread["answer"])
    custom = CustomElement(name="Card", props={"score": 3}, thread_id=thread["id"], for_id=thread["answer"])
    with acting_as(alice):
        for element in (text, by_url, by_path, custom):
            await layer.create_element(element)
    stored = await layer.get_element(thread["id"], text.id)
    assert stored is not None and stored["url"].startswith("data:text/plain;base64,")
    assert base64.b64decode(stored["url"].split(",", 1)[1]).decode() == text.content
    assert (stored["forId"], stored["type"], stored["name"]) == (thread["answer"], "text", "Fleischner 2017")
    for element in (by_url, by_path):
        kept = await layer.get_element(thread["id"], element.id)
        assert kept is not None and kept["url"] is None, "no URL stored, no file read"
    assert (await layer.get_element(thread["id"], custom.id))["props"] == {"score": 3}
    await asyncio.sleep(0.2)
    assert probe == [], "the data layer fetched an element URL"
    thread_elements = (await layer.get_thread(thread["id"]))["elements"]
    assert {e["id"] for e in thread_elements} == {text.id, by_url.id, by_path.id, custom.id}
    assert "root:" not in repr(thread_elements)


async def test_elements_are_scoped_to_their_thread_and_owner(layer: PostgresDataLayer, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    thread = await new_thread(layer, alice)
    bob_thread = await new_thread(layer, bob)
    element = CustomElement(
        name="Card", props={"v": "alice"}, thread_id=thread["id"], for_id=thread["answer"]
    )
    with acting_as(alice):
        await layer.create_element(element)
    assert await layer.get_element(bob_thread["id"], element.id) is None, "element looked up with its thread"
    with acting_as(bob):
        with pytest.raises(AccessDenied):  # into alice's thread
            await layer.create_element(
                CustomElement(name="x", props={}, thread_id=thread["id"], for_id=thread["answer"])
            )
        with pytest.raises(AccessDenied):  # same element id, bob's thread: not taken over
            await layer.create_element(
                CustomElement(
                    id=element.id,
                    name="x",
                    props={"v": "bob"},
                    thread_id=bob_thread["id"],
                    for_id=bob_thread["answer"],
                )
            )
        with pytest.raises(AccessDenied):  # bob's thread, but attached to alice's step
            await layer.create_element(
                CustomElement(name="x", props={}, thread_id=bob_thread["id"], for_id=thread["answer"])
            )
        with pytest.raises(AccessDenied):
            await layer.delete_element(element.id, thread["id"])
        with pytest.raises(AccessDenied):
            await layer.delete_element(element.id)
    assert (await layer.get_element(thread["id"], element.id))["props"] == {"v": "alice"}
    with acting_as(alice):
        await layer.create_element(
            CustomElement(
                id=element.id, name="Card", props={"v": 2}, thread_id=thread["id"], for_id=thread["answer"]
            )
        )
        assert (await layer.get_element(thread["id"], element.id))["props"] == {"v": 2}, (
            "owner may update props"
        )
        await layer.delete_element(element.id, thread["id"])
    assert await layer.get_element(thread["id"], element.id) is None


async def test_element_before_its_step_keeps_the_steps_content(layer: PostgresDataLayer, make_user) -> None:
    alice = make_user("alice")
    thread = await new_thread(layer, alice)
    answer = step(thread["id"], type="assistant_message", output="The answer.", at=T0 + timedelta(seconds=3))
    with acting_as(alice):
        await layer.create_element(Text(name="src", content="p", thread_id=thread["id"], for_id=answer["id"]))
        await layer.create_step(answer)
    stored = {s["id"]: s for s in (await layer.get_thread(thread["id"]))["steps"]}
    assert (stored[answer["id"]]["type"], stored[answer["id"]]["output"]) == (
        "assistant_message",
        "The answer.",
    )


# -- feedback ---------------------------------------------------------------------------------------------


async def test_feedback_round_trip(layer: PostgresDataLayer, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    thread = await new_thread(layer, alice)
    with acting_as(alice):
        feedback_id = await layer.upsert_feedback(Feedback(forId=thread["answer"], value=1, comment="clear"))
        again = await layer.upsert_feedback(
            Feedback(forId=thread["answer"], value=0, comment="missed the caveat", id="client-chosen-id")
        )
    assert again == feedback_id, "one rating per user and message; the client's id is not used"
    steps = {s["id"]: s for s in (await layer.get_thread(thread["id"]))["steps"]}
    assert steps[thread["answer"]]["feedback"] == {
        "forId": thread["answer"],
        "id": feedback_id,
        "value": 0,
        "comment": "missed the caveat",
    }
    assert steps[thread["user_step"]]["feedback"] is None
    with acting_as(bob):
        with pytest.raises(AccessDenied):
            await layer.upsert_feedback(Feedback(forId=thread["answer"], value=1, id=feedback_id))
        with pytest.raises(AccessDenied):
            await layer.delete_feedback(feedback_id)
    assert await layer.feedback_owner(feedback_id) == alice
    assert await layer.step_owner(thread["answer"]) == alice
    with acting_as(alice):
        assert await layer.delete_feedback(feedback_id) is True
        assert await layer.delete_feedback(feedback_id) is False
    steps = {s["id"]: s for s in (await layer.get_thread(thread["id"]))["steps"]}
    assert steps[thread["answer"]]["feedback"] is None


async def test_feedback_on_an_unknown_step_is_refused(layer: PostgresDataLayer, make_user) -> None:
    alice = make_user("alice")
    with acting_as(alice), pytest.raises(AccessDenied):
        await layer.upsert_feedback(Feedback(forId=new_id(), value=1))


# -- the acting user inside a Chainlit session --------------------------------------------------------


@contextmanager
def chainlit_session(user: PersistedUser | None, *, first_interaction: bool = True) -> Iterator[Mock]:
    """Run inside a Chainlit context whose websocket session belongs to the given user."""
    session = Mock(spec=WebsocketSession)
    session.user = user
    session.has_first_interaction = first_interaction
    session.thread_queues = {}
    token = context_var.set(ChainlitContext(session, emitter=Mock()))
    try:
        yield session
    finally:
        context_var.reset(token)


async def test_session_user_is_the_acting_user(layer: PostgresDataLayer, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    thread = await new_thread(layer, alice)
    own = new_id()
    with chainlit_session(await layer.get_user(bob)):
        with pytest.raises(AccessDenied):
            await layer.create_step(step(thread["id"], output="bob via his socket"))
        with pytest.raises(AccessDenied):
            await layer.update_thread(thread["id"], metadata={"chat_settings": {}})
        await layer.update_thread(own, name="bob's own")
    assert await layer.get_thread_author(own) == bob


async def test_steps_wait_for_the_first_user_message(layer: PostgresDataLayer, make_user) -> None:
    alice = make_user("alice")
    thread_id = new_id()
    with chainlit_session(await layer.get_user(alice), first_interaction=False) as session:
        await layer.create_step(step(thread_id, type="assistant_message", output="welcome"))
    assert await layer.get_thread(thread_id) is None, "nothing is written before the user speaks"
    assert len(session.thread_queues["create_step"]) == 1
