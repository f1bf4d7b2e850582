"""Graph logic with a scripted model: deterministic tools first, verification, memory, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from agent.assistant import Assistant
from agent.context import AgentContext
from agent.gate import Gate
from agent.graph import build_graph
from tests.agent.fakes import ScriptedLLM, hashing_embed
from tools.guideline_search import GuidelineSearchInput, GuidelineSearchOutput
from tools.registry import ToolContext, ToolRegistry, tool

GOOD_DRAFT = "For this nodule, CT at 6-12 months, then CT at 18-24 months is recommended [1]."
WRONG_DRAFT = GOOD_DRAFT + " A PET/CT at 3 months is needed."


def fleischner_call(result: Any) -> dict[str, Any]:
    return next(c for c in result.tool_calls if c["tool"] == "fleischner")


async def test_nodule_question_routes_to_chest_and_computes_fleischner(
    make_assistant: Callable[..., Assistant],
) -> None:
    llm = ScriptedLLM([GOOD_DRAFT])
    result = await make_assistant(llm).ask("7 mm solid nodule, smoker, what follow-up?")
    assert result.experts[0]["name"] == "chest"
    call = fleischner_call(result)
    assert call["output"]["category"] == "solid, single, 6-8 mm, high risk"
    assert "6-12 months" in call["output"]["management"] or "6–12 months" in call["output"]["management"]
    assert result.verification["verdict"] == "verified"
    assert GOOD_DRAFT in result.answer
    assert "Fleischner Society 2017: solid, single, 6-8 mm, high risk" in result.answer
    assert [(c["n"], c["source"]) for c in result.citations] == [(1, "fleischner")]
    assert "Source 1 [1]: Test (2017), fleischner summary, Single solid nodule" in result.answer
    assert llm.drafted_for() == ["expert-chest"]


async def test_planted_wrong_interval_is_flagged_and_removed(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM([WRONG_DRAFT])).ask(
        "7 mm solid nodule, smoker, what follow-up?"
    )
    claims = {c["text"]: c for c in result.verification["claims"]}
    planted = claims["A PET/CT at 3 months is needed."]
    assert planted["status"] == "contradicted"
    assert "3 month" in planted["reasons"][0]
    assert "PET/CT at 3 months" not in result.answer
    assert result.verification["removed"] == 1
    assert result.verification["revised"] is True, "half the claims failed: one revision (here empty)"
    assert result.verification["verdict"] == "grounded", "nothing of the model's commentary is shown"


async def test_commentary_kept_in_part_is_partial(make_assistant: Callable[..., Assistant]) -> None:
    draft = (
        "A 6 to 8 mm solid nodule in a high-risk patient needs CT at 6-12 months [1]. "
        "Then CT at 18-24 months [1]. A PET/CT at 3 months is needed."
    )
    result = await make_assistant(ScriptedLLM([draft])).ask("7 mm solid nodule, smoker, what follow-up?")
    assert result.verification["revised"] is False
    assert result.verification["verdict"] == "partial", result.verification
    assert "Then CT at 18-24 months [1]." in result.answer and "PET/CT" not in result.answer


CUT_DRAFT = GOOD_DRAFT + " CT at 18-24 months is not"  # the token limit struck mid-sentence


async def test_a_sentence_cut_at_the_token_limit_is_neither_checked_nor_shown(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM([CUT_DRAFT], cut_off=True)).ask(
        "7 mm solid nodule, smoker, what follow-up?"
    )
    assert [c["text"] for c in result.verification["claims"]] == [GOOD_DRAFT]
    assert GOOD_DRAFT in result.answer and "is not" not in result.answer
    assert result.verification["verdict"] == "verified"


async def test_the_same_words_ending_a_finished_reply_are_a_claim(
    make_assistant: Callable[..., Assistant],
) -> None:
    """Without the cut-off signal the fragment is checked as a claim (its interval matches the tool's), which
    is why a cut reply must be trimmed before verification."""
    result = await make_assistant(ScriptedLLM([CUT_DRAFT])).ask("7 mm solid nodule, smoker, what follow-up?")
    assert "CT at 18-24 months is not" in [c["text"] for c in result.verification["claims"]]


async def test_follow_up_recomputes_with_new_size_and_same_other_inputs(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    first = await assistant.ask("8 mm solid nodule, low risk")
    assert fleischner_call(first)["output"]["category"] == "solid, single, 6-8 mm, low risk"
    second = await assistant.ask("and if it were 10 mm?", thread_id=first.thread_id)
    call = fleischner_call(second)
    assert call["input"]["diameter_mm"] == 10.0
    assert call["input"]["risk"] == "low" and call["input"]["nodule_type"] == "solid"
    assert call["output"]["category"].startswith("solid, single, >8 mm")
    assert (
        "Recomputed from the earlier finding with the new value: “10 mm solid nodule, low risk”"
        in second.answer
    )
    assert second.experts[0]["name"] == "chest", "the follow-up stays with the chest expert"


async def test_missing_size_becomes_a_question(make_assistant: Callable[..., Assistant]) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(
        "solid lung nodule in a smoker, what Fleischner follow-up?"
    )
    call = fleischner_call(result)
    assert call["output"]["category"] is None
    assert "diameter_mm" in call["output"]["missing"] or "long_axis_mm" in call["output"]["missing"]
    assert "please tell me" in result.answer


async def test_nothing_to_ground_on_means_no_guess(make_assistant: Callable[..., Assistant]) -> None:
    llm = ScriptedLLM(["Paris is the capital of France."])
    result = await make_assistant(llm).ask("What is the capital of France?")
    assert result.verification["verdict"] == "cannot_answer"
    assert "will not guess" in result.answer and "Sources" not in result.answer
    assert result.citations == []
    assert llm.drafted_for() == [], "no draft is generated when no tool or passage supports an answer"


async def test_model_down_still_gives_the_tool_answer(make_assistant: Callable[..., Assistant]) -> None:
    llm = ScriptedLLM(fail_with=ConnectionError("model backend unreachable"))
    events: list[dict[str, Any]] = []

    async def record(event: dict[str, Any]) -> None:
        events.append(event)

    result = await make_assistant(llm).ask("7 mm solid nodule, smoker", on_event=record)
    assert "solid, single, 6-8 mm, high risk" in result.answer
    assert any(e["event"] == "model_error" for e in events)
    assert result.verification["verdict"] == "grounded", "no commentary: tool results and passages only"


async def test_user_can_override_the_expert(make_assistant: Callable[..., Assistant]) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(
        "7 mm solid nodule, smoker", expert="general"
    )
    assert result.provenance["gate"]["chosen"] == ["general"]
    assert result.provenance["gate"]["reason"] == "user override"
    assert fleischner_call(result)["output"]["category"], "deterministic tools run whatever the expert"


async def test_unsupported_draft_is_revised_once_then_replaced_by_grounded_answer(
    make_assistant: Callable[..., Assistant],
) -> None:
    llm = ScriptedLLM(["The nodule is benign and needs nothing.", "It is surely fine, no follow-up."])
    result = await make_assistant(llm).ask("7 mm solid nodule, smoker")
    assert len(llm.drafted_for()) == 2
    assert result.verification["revised"] is True
    assert result.verification["fallback_to_grounded"] is True
    assert "benign" not in result.answer and "surely fine" not in result.answer
    assert "CT at 6" in result.answer
    assert result.verification["verdict"] == "grounded", "every claim of the model was removed"
    assert [(c["n"], c["source"]) for c in result.citations] == [(1, "fleischner")]
    quoted = "- A single solid nodule of 6 to 8 mm in a high-risk patient: CT at 6-12 months"
    assert quoted in result.answer and "18-24 months. [1]" in result.answer, result.answer


async def test_a_demo_model_drafts_nothing_and_the_answer_is_grounded(
    make_assistant: Callable[..., Assistant],
) -> None:
    llm = ScriptedLLM(["CT at 6-12 months [1]."])
    result = await make_assistant(llm, demo_aliases=frozenset({"expert-chest"})).ask(
        "7 mm solid nodule, smoker"
    )
    assert llm.drafted_for() == []
    assert result.verification["verdict"] == "grounded"
    assert result.verification["claims"] == []


async def test_sources_are_only_the_passages_the_commentary_cites(
    make_assistant: Callable[..., Assistant],
) -> None:
    """Retrieval found two passages; the model cites the second (its [2]), so it is the answer's Source 1."""
    draft = "MRI safety zone IV is the magnet room [2]. A high-risk patient: CT at 6-12 months [1]."
    result = await make_assistant(ScriptedLLM([draft])).ask("What do the fleischner and mri summaries say?")
    assert result.verification["verdict"] == "verified", result.verification
    assert [c["source"] for c in result.citations] == ["mri", "fleischner"]
    assert (
        "MRI safety zone IV is the magnet room [1]. A high-risk patient: CT at 6-12 months [2]."
        in result.answer
    )
    shown = {c["text"]: c["shown"] for c in result.verification["claims"] if c["status"] == "supported"}
    assert shown["MRI safety zone IV is the magnet room [2]."] == "MRI safety zone IV is the magnet room [1]."


async def test_events_stream_tokens_and_steps(make_assistant: Callable[..., Assistant]) -> None:
    events: list[dict[str, Any]] = []

    async def record(event: dict[str, Any]) -> None:
        events.append(event)

    await make_assistant(ScriptedLLM([GOOD_DRAFT])).ask("7 mm solid nodule, smoker", on_event=record)
    names = [e.get("name") for e in events if e["event"] == "step"]
    assert names[:2] == ["gate", "tool:fleischner"]
    assert {"retrieval", "verification", "answer"} <= set(names)
    tokens = "".join(e["text"] for e in events if e["event"] == "token")
    assert tokens == GOOD_DRAFT


async def test_contradictory_findings_are_a_question_not_a_crash(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(
        "part-solid lung nodule 5 mm with a 7 mm solid component"
    )
    call = fleischner_call(result)
    assert call["output"]["category"] is None
    assert call["output"]["caveats"] or call["output"]["missing"]


async def test_provenance_records_models_experts_and_tools(make_assistant: Callable[..., Assistant]) -> None:
    result = await make_assistant(ScriptedLLM([GOOD_DRAFT])).ask("7 mm solid nodule, smoker")
    prov = result.provenance
    assert prov["models"]["expert-chest"]["model"] == "scripted/fake"
    assert prov["experts"][0]["name"] == "chest" and len(prov["experts"][0]["sha256"]) == 64
    assert prov["tool_versions"]["fleischner"] == "Fleischner Society 2017"
    assert prov["retrieved_chunk_ids"] == [1]
    assert {"gate", "tools", "retrieval", "generation", "verification", "total"} <= set(prov["timings_ms"])


async def test_a_failed_search_is_not_told_as_an_empty_library(
    registry: ToolRegistry, experts: dict[str, Any]
) -> None:
    failing = ToolRegistry()
    for t in registry.all():
        if t.kind == "classification":
            failing.register(t)

    @tool(name="guideline_search", description="down", version="test", kind="retrieval", registry=failing)
    def search(inp: GuidelineSearchInput) -> GuidelineSearchOutput:
        raise ConnectionError("database unreachable")

    context = AgentContext(
        llm=ScriptedLLM(), registry=failing, tool_context=ToolContext(), experts=experts,
        gate=Gate(experts, hashing_embed, failing),
    )  # fmt: skip
    result = await Assistant(context, build_graph(checkpointer=InMemorySaver())).ask(
        "What are the MRI zones?"
    )
    assert result.verification["verdict"] == "cannot_answer"
    assert "could not be searched just now" in result.answer and "relevant enough" not in result.answer
