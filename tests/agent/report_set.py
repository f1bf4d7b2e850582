"""The report set through the agent: each excerpt asked in a new thread (scripted model, fake retrieval), its
classification tool calls scored like the tools' own reading (`tests/classify/test_report_set.py`).

Used by `tests/agent/test_reports.py` and `bench/report_set.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from agent.assistant import Assistant
from agent.context import AgentContext
from agent.gate import Gate
from agent.graph import build_graph
from agent.settings import REPO_ROOT
from experts import load_experts
from tests.agent.conftest import fake_registry
from tests.agent.fakes import ScriptedLLM, hashing_embed
from tests.classify.test_report_set import REPORTS, Score, _load, score_report
from tools.classify.report import Evidence, Finding, ReportReading
from tools.registry import ToolContext


def fake_assistant() -> Assistant:
    """The agent with the real tools and experts, a scripted model that drafts nothing, fake retrieval."""
    registry, experts = fake_registry(), load_experts(REPO_ROOT / "experts")
    context = AgentContext(
        llm=ScriptedLLM(lambda m: ""), registry=registry, tool_context=ToolContext(), experts=experts,
        gate=Gate(experts, hashing_embed, registry),
    )  # fmt: skip
    return Assistant(context, build_graph(checkpointer=InMemorySaver()))


def _finding(number: int, output: dict[str, Any], text: str) -> Finding:
    """A tool call's output as a finding: a report turn's is one; a one-finding turn's is a tool result."""
    if isinstance(output.get("evidence"), dict) and "start" in output["evidence"]:
        return Finding.model_validate(output)
    return Finding(
        number=number, organ="", lesion="", system=output["system"], guideline=output["guideline"],
        category=output["category"], management=output["management"], citation=output["citation"],
        missing=output["missing"], not_applicable=output["not_applicable"],
        evidence=Evidence(text=text, start=0, end=len(text)),
    )  # fmt: skip


async def agent_reading(assistant: Assistant, text: str) -> ReportReading:
    """What one turn of the agent classified for `text`, as a reading (ignored entries of a report turn)."""
    result = await assistant.ask(text)
    calls = [c for c in result.tool_calls if c.get("output") and c["tool"] != "guideline_search"]
    findings = [_finding(i, c["output"], text) for i, c in enumerate(calls, 1)]
    state = (await assistant.graph.aget_state({"configurable": {"thread_id": result.thread_id}})).values
    report = state.get("report_turn")
    return ReportReading(findings=findings, ignored=report.reading.ignored if report else [])


def run_set_through_agent(path: Path = REPORTS) -> Score:
    """Per-finding and branch scores of the set, read by the agent."""
    assistant, score = fake_assistant(), Score()

    async def run() -> None:
        for case in _load(path):
            score_report(case, await agent_reading(assistant, case["text"]), score)

    asyncio.run(run())
    return score
