"""The graph's state: typed objects that survive checkpoints, turns that start clean, old threads that resume.

`tests/data/checkpoint-6c260e5.json` is a thread checkpointed by the code before the typed state
(commit 6c260e5) after two turns ("8 mm solid nodule, low risk", "and if it were 10 mm?"), with what
that code answered to a third. It was written on that commit, with these fast fakes, by:

    saver = assistant.graph.checkpointer
    tup = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    checkpoint, metadata = saver.serde.dumps_typed(tup.checkpoint), saver.serde.dumps_typed(tup.metadata)
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from pydantic import BaseModel

from agent.assistant import Assistant
from agent.gate import ExpertScore, GateDecision
from agent.settings import REPO_ROOT
from agent.state import Classification, ToolCall
from tests.agent.fakes import ScriptedLLM
from tools.classify.base import ClassificationResult, Extraction
from tools.registry import ToolRegistry

OLD_THREAD = json.loads(
    (REPO_ROOT / "tests" / "data" / "checkpoint-6c260e5.json").read_text(encoding="utf-8")
)


def _typed(pair: list[str]) -> tuple[str, bytes]:
    return pair[0], base64.b64decode(pair[1])


async def _restore_old_thread(saver: BaseCheckpointSaver[Any]) -> dict[str, Any]:
    """Put the old checkpoint into `saver` through its public API, as if the old code had written it."""
    checkpoint = saver.serde.loads_typed(_typed(OLD_THREAD["checkpoint"]))
    metadata = saver.serde.loads_typed(_typed(OLD_THREAD["metadata"]))
    config = {"configurable": {"thread_id": OLD_THREAD["thread_id"], "checkpoint_ns": ""}}
    await saver.aput(config, checkpoint, metadata, checkpoint["channel_versions"])
    return checkpoint


def _without_status(result: dict[str, Any]) -> dict[str, Any]:
    calls = [{k: v for k, v in c.items() if k != "status"} for c in result["tool_calls"]]
    return {**result, "tool_calls": calls}


async def _resume(assistant: Assistant) -> None:
    checkpoint = await _restore_old_thread(assistant.graph.checkpointer)
    assert isinstance(checkpoint["channel_values"]["gate"], dict), "the old code kept plain dicts"
    expected = OLD_THREAD["next"]
    result = await assistant.ask(expected["message"], thread_id=OLD_THREAD["thread_id"])
    answered = result.as_json()
    answered.pop("thread_id")
    assert [c["status"] for c in answered["tool_calls"]] == ["ran", "ran"]
    # Retrieval hits have gained fields since (quote, relevance score): compare the fields the old code had.
    old_result_calls = expected["result"]["tool_calls"]
    old_hits = next(c for c in old_result_calls if c["tool"] == "guideline_search")["output"]["hits"]
    for call in answered["tool_calls"]:
        if call["tool"] == "guideline_search":
            # The search has since also named the computed management (graph.supporting_query).
            old_query = next(c for c in old_result_calls if c["tool"] == "guideline_search")["input"]["query"]
            management = next(c for c in answered["tool_calls"] if c["tool"] == "fleischner")["output"][
                "management"
            ]
            assert call["input"]["query"] == f"{old_query} {management}"
            call["input"]["query"] = old_query
            call["output"] = {
                "hits": [
                    {k: h[k] for k in old} for h, old in zip(call["output"]["hits"], old_hits, strict=True)
                ]
            }
    # Citations, claims and the JSON have gained fields since (a citation's rank, quote and section text, a
    # claim's shown text, the top-level verdict): compare the fields the old code wrote.
    old_result = expected["result"]
    assert answered.pop("verdict") == old_result["verification"]["verdict"] == "verified"
    answered["citations"] = [
        {k: c[k] for k in old} for c, old in zip(answered["citations"], old_result["citations"], strict=True)
    ]
    answered["verification"] = {k: answered["verification"][k] for k in old_result["verification"]}
    answered["verification"]["claims"] = [
        {k: c[k] for k in old}
        for c, old in zip(
            answered["verification"]["claims"], old_result["verification"]["claims"], strict=True
        )
    ]
    assert _without_status(answered) == old_result, "the old code's answer, to the byte"
    assert (
        "Carried over from earlier in this conversation: nodule type = solid, count = single, risk = low"
        in (result.answer)
    )


async def test_a_thread_checkpointed_before_the_typed_state_resumes(
    make_assistant: Callable[..., Assistant],
) -> None:
    await _resume(make_assistant(ScriptedLLM(lambda m: OLD_THREAD["next"]["draft"])))


@pytest.mark.postgres
async def test_an_old_thread_resumes_from_postgresql(
    make_assistant: Callable[..., Assistant], fresh_db_url: str
) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from agent.db import open_checkpoint_pool
    from agent.graph import build_graph

    pool = open_checkpoint_pool(fresh_db_url)
    await pool.open(wait=True)
    try:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        fake = make_assistant(ScriptedLLM(lambda m: OLD_THREAD["next"]["draft"]))
        await _resume(Assistant(fake.context, build_graph(checkpointer=saver)))
    finally:
        await pool.close()


class Foreign(BaseModel):
    """A type the state does not declare: a checkpoint must not rebuild it."""

    value: int


def test_the_state_types_survive_a_checkpoint_and_nothing_else_is_rebuilt(
    make_assistant: Callable[..., Assistant],
) -> None:
    serde = make_assistant(ScriptedLLM()).graph.checkpointer.serde
    result = ClassificationResult(
        system="ti_rads", guideline="ACR TI-RADS 2017", category="TR3", citation="x"
    )
    extraction = Extraction(
        system="ti_rads", inputs={"composition": "solid"}, evidence={"composition": "solid"}
    )
    values = [
        GateDecision(scores=[ExpertScore(name="neuro", weight=1.0, similarity=0.5, evidence=[])], chosen=["neuro"],
                     reason="user override", overridden=True),
        Classification(system="ti_rads", how="named", inputs={}, extraction=extraction, carried={}),
        ToolCall(tool=None, status="failed", via="model tool call (native)", input={}, error="TimeoutError"),
        result,
    ]  # fmt: skip
    for value in values:
        rebuilt = serde.loads_typed(serde.dumps_typed(value))
        assert type(rebuilt) is type(value) and rebuilt == value
    assert serde.loads_typed(serde.dumps_typed(Foreign(value=1))) == {"value": 1}, "strict msgpack refuses it"


async def test_a_turn_starts_clean(make_assistant: Callable[..., Assistant]) -> None:
    """Nothing of a classified, revised turn leaks into the next one about something else."""
    assistant = make_assistant(ScriptedLLM(["A PET/CT at 3 months is needed.", "CT at 9 months then.", ""]))
    first = await assistant.ask("solid lung nodule in a smoker, what Fleischner follow-up?")
    assert first.verification["revised"] and "please tell me" in first.answer
    second = await assistant.ask("What is the capital of France?", thread_id=first.thread_id)
    state = (await assistant.graph.aget_state({"configurable": {"thread_id": first.thread_id}})).values
    assert state["classification"] is None and state["results"] == []
    assert [c.tool for c in state["tool_calls"]] == ["guideline_search"]
    assert len(state["rounds"]) == 1 and state["generated_tokens"] == 0 and state["drafts"] == {}
    assert set(state["timings_ms"]) == {"gate", "tools", "retrieval", "model_tools", "generation", "verification",
                                        "finalize"}  # fmt: skip
    assert second.verification["revised"] is False and "please tell me" not in second.answer
    assert state["findings"]["fleischner"], "memory, unlike the turn, is kept"


async def test_each_message_is_read_once_per_system(
    make_assistant: Callable[..., Assistant], registry: ToolRegistry
) -> None:
    """Routing, follow-ups and hints share one reading of a text by each extractor."""
    reads: Counter[tuple[str, str]] = Counter()

    def counting(tool: Any) -> Any:
        def extractor(text: str) -> Extraction:
            reads[(tool.name, text)] += 1
            return tool.extractor(text)

        return replace(tool, extractor=extractor) if tool.extractor else tool

    counted = ToolRegistry()
    for t in registry.all():
        counted.register(counting(t))
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    assistant = Assistant(replace(assistant.context, registry=counted), assistant.graph)
    first = await assistant.ask("8 mm solid nodule, low risk")
    await assistant.ask("and if it were 10 mm?", thread_id=first.thread_id)
    await assistant.ask("Part-solid nodule 12 mm with a 5 mm solid component", expert="chest")
    assert reads, "the extractors ran"
    assert max(reads.values()) == 1, [k for k, n in reads.items() if n > 1]
