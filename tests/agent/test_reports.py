"""Report turns with a scripted model: every finding classified by its own system, the table first,
follow-ups by organ or number, memory of every finding, and nothing lost when an optional step fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent.assistant import Assistant, TurnResult
from agent.state import CHECKPOINT_TYPES
from tests.agent.fakes import ScriptedLLM
from tests.agent.test_state import OLD_THREAD, _restore_old_thread
from tools.classify.report import ReportReading, read_report
from tools.guideline_search import GuidelineSearchInput, GuidelineSearchOutput
from tools.registry import ToolRegistry, tool

REPORT = (
    "CT abdomen, 60-year-old man, no history of cancer. 6 mm solid nodule in the right lower lobe, never "
    "smoker. Left adrenal nodule 1.5 cm, 25 HU on unenhanced CT, new compared with the prior. Simple-appearing "
    "2 cm cyst in the right kidney, 5 HU on noncontrast CT. No liver lesion."
)
EXPECTED = [  # Fleischner 2017 Table 1; ACR adrenal 2017 flowchart; Bosniak 2019 class II (CT, -9 to 20 HU)
    ("fleischner", "solid, single, 6-8 mm, low risk"),
    ("adrenal_incidentaloma", "indeterminate 1–4 cm, new or enlarging"),
    ("bosniak", "II"),
]
SCREENING = "Screening LDCT, baseline. 62-year-old, 40 pack-years. 9 mm solid nodule in the LLL. 3 mm solid nodule RML."
PROSTATE = "MRI prostate: 1.1 cm lesion in the left peripheral zone at the mid gland, DWI score 3."


def classifications(result: TurnResult) -> list[dict[str, Any]]:
    return [c for c in result.as_json()["tool_calls"] if c["tool"] != "guideline_search"]


async def thread_report(assistant: Assistant, thread_id: str) -> ReportReading:
    state = (await assistant.graph.aget_state({"configurable": {"thread_id": thread_id}})).values
    report = state["report"]
    assert isinstance(report, ReportReading)
    return report


async def test_every_finding_is_classified_by_its_own_system_and_the_table_leads(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(REPORT)
    calls = classifications(result)
    assert [(c["tool"], c["output"]["category"]) for c in calls] == EXPECTED
    for c in calls:  # each finding's evidence span is its own words of the message
        span = c["output"]["evidence"]
        assert REPORT[span["start"] : span["end"]] == span["text"] and span["text"]
    assert (
        "adrenal" in calls[1]["output"]["evidence"]["text"]
        and "kidney" not in calls[1]["output"]["evidence"]["text"]
    )
    assert result.answer.startswith("| # | Finding | System | Category | Management | Rule |")
    table = result.answer.split("\n\n")[0]
    for system, category in EXPECTED:
        assert f"| {system} | {category} |" in table
    assert "Not classified:\n- “No liver lesion”: negated" in result.answer


async def test_ask_json_reports_the_findings_of_the_findings_command(
    make_assistant: Callable[..., Assistant], registry: ToolRegistry
) -> None:
    """`ask --json` tool calls hold the very findings `radassist findings --json` prints for the text."""
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(REPORT)
    findings = read_report(REPORT, registry=registry).as_json()["findings"]
    outputs = [c["output"] for c in classifications(result)]
    assert len(outputs) == len(findings) == 3
    for output, finding in zip(outputs, findings, strict=True):
        assert {k: output[k] for k in finding} == finding
        assert output["rationale"], "the tool's rationale comes along for verification and the experts"


async def test_two_nodules_follow_the_multiple_nodule_rule_and_the_dominant_is_shown(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(SCREENING)
    outputs = [c["output"] for c in classifications(result)]
    assert [(o["system"], o["category"], o["dominant"]) for o in outputs] == [
        ("lung_rads", "4A", True), ("lung_rads", "2", False)
    ]  # fmt: skip
    assert outputs[1]["managed_with"] == 1
    assert "| 4A (dominant) |" in result.answer
    assert (
        "Several lung nodules. Lung-RADS v2022: the exam is categorised by the most suspicious finding: #1"
        in (result.answer)
    )


async def test_follow_up_by_organ_recomputes_that_finding_and_the_thread_keeps_every_finding(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    first = await assistant.ask(REPORT)
    follow = await assistant.ask("and if the adrenal one were 4 cm?", thread_id=first.thread_id)
    calls = classifications(follow)
    assert [c["tool"] for c in calls] == ["adrenal_incidentaloma"], "only the named finding is recomputed"
    out = calls[0]["output"]
    assert out["number"] == 2 and out["category"] == "≥4 cm" and out["management"] == "Consider resection."
    assert out["inputs"]["size_mm"] == 40.0 and out["inputs"]["prior_imaging"] == "new_or_enlarging"
    assert (
        "| 2 | left adrenal nodule 4 cm | adrenal_incidentaloma | ≥4 cm | Consider resection. |"
        in follow.answer
    )
    assert "Recomputed #2 with the new value; the other findings are as before." in follow.answer
    report = await thread_report(assistant, first.thread_id)
    assert [(f.system, f.category) for f in report.findings] == [
        EXPECTED[0],
        (EXPECTED[1][0], "≥4 cm"),
        EXPECTED[2],
    ]

    by_number = await assistant.ask("and finding 1 at 9 mm?", thread_id=first.thread_id)
    assert [(c["tool"], c["output"]["category"]) for c in classifications(by_number)] == [
        ("fleischner", "solid, single, >8 mm, low risk")
    ]
    report = await thread_report(assistant, first.thread_id)
    assert [f.category for f in report.findings] == ["solid, single, >8 mm, low risk", "≥4 cm", "II"]


async def test_a_value_for_no_finding_in_particular_asks_which_and_loses_nothing(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    first = await assistant.ask(REPORT)
    follow = await assistant.ask("and if it were 10 mm?", thread_id=first.thread_id)
    assert classifications(follow) == [], "no finding is silently changed"
    assert (
        "Which finding does the new value belong to? Say its number or organ (#1 right lower lobe lung"
        in (follow.answer)
    )
    for system, category in EXPECTED:
        assert f"| {system} | {category} |" in follow.answer
    report = await thread_report(assistant, first.thread_id)
    assert [(f.system, f.category) for f in report.findings] == EXPECTED


async def test_a_value_only_one_findings_system_reads_goes_to_that_finding(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    first = await assistant.ask(REPORT)
    follow = await assistant.ask("and if he were a heavy smoker?", thread_id=first.thread_id)
    calls = classifications(follow)
    assert [(c["tool"], c["output"]["number"]) for c in calls] == [("fleischner", 1)]
    assert calls[0]["output"]["category"] == "solid, single, 6-8 mm, high risk"
    both = await assistant.ask("and what if it were 8 HU on unenhanced CT?", thread_id=first.thread_id)
    assert classifications(both) == [], "adrenal and renal attenuation are both read in HU: ask which"
    assert "Which finding does the new value belong to?" in both.answer


async def test_a_single_finding_after_a_report_is_its_own_thread_of_follow_ups(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    first = await assistant.ask(REPORT)
    single = await assistant.ask(
        "TI-RADS for a 1.2 cm solid hypoechoic thyroid nodule with microcalcifications?",
        thread_id=first.thread_id,
    )
    assert [(c["tool"], c["output"]["category"]) for c in classifications(single)] == [("ti_rads", "TR5")]
    assert "| # | Finding |" not in single.answer, (
        "a finding the one-finding reading decides is answered as before"
    )
    state = (await assistant.graph.aget_state({"configurable": {"thread_id": first.thread_id}})).values
    assert state["report"] is None and state["last_systems"] == ["ti_rads"]
    again = await assistant.ask("and if it were 2 cm?", thread_id=first.thread_id)
    (call,) = classifications(again)
    assert call["tool"] == "ti_rads" and call["input"]["max_diameter_mm"] == 20.0


async def test_a_one_finding_message_the_old_reading_cannot_decide_is_answered_by_the_report_reading(
    make_assistant: Callable[..., Assistant],
) -> None:
    """PI-RADS with DCE unstated: both branches, and the question is still asked."""
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(PROSTATE)
    (call,) = classifications(result)
    assert call["tool"] == "pi_rads" and call["output"]["category"] is None
    assert [(b["if"], b["category"]) for b in call["output"]["branches"]] == [
        ("dce = negative or not performed", "3"), ("dce = positive", "4")
    ]  # fmt: skip
    assert "- If dce = positive: 4" in result.answer
    assert "- Please tell me dce:" in result.answer


async def test_verification_accepts_every_category_of_the_table_and_still_catches_a_wrong_one(
    make_assistant: Callable[..., Assistant],
) -> None:
    draft = (
        "The LLL nodule is Lung-RADS 4A and the RML nodule is Lung-RADS 2. The RML nodule is Lung-RADS 4B."
    )
    result = await make_assistant(ScriptedLLM([draft])).ask(SCREENING)
    claims = {c["text"]: c["status"] for c in result.verification["claims"]}
    assert claims == {
        "The LLL nodule is Lung-RADS 4A and the RML nodule is Lung-RADS 2.": "supported",
        "The RML nodule is Lung-RADS 4B.": "contradicted",
    }
    branches = await make_assistant(ScriptedLLM(["PI-RADS 4 if DCE is positive, PI-RADS 3 if not."])).ask(
        PROSTATE
    )
    assert [c["status"] for c in branches.verification["claims"]] == ["supported"]


def failing_retrieval(registry: ToolRegistry) -> ToolRegistry:
    broken = ToolRegistry()
    for t in registry.all():
        if t.name != "guideline_search":
            broken.register(t)

    @tool(name="guideline_search", description="down", version="test", kind="retrieval", registry=broken)
    def search(inp: GuidelineSearchInput) -> GuidelineSearchOutput:
        raise ConnectionError("database unreachable")

    return broken


async def test_model_and_retrieval_down_still_give_every_finding(
    make_assistant: Callable[..., Assistant], registry: ToolRegistry
) -> None:
    assistant = make_assistant(ScriptedLLM(fail_with=ConnectionError("model backend unreachable")))
    assistant = Assistant(replace(assistant.context, registry=failing_retrieval(registry)), assistant.graph)
    result = await assistant.ask(REPORT)
    assert [(c["tool"], c["output"]["category"]) for c in classifications(result)] == EXPECTED
    assert next(c for c in result.tool_calls if c["tool"] == "guideline_search")["status"] == "failed"
    for system, category in EXPECTED:
        assert f"| {system} | {category} |" in result.answer


async def test_a_failing_report_reading_leaves_the_one_finding_answer(
    make_assistant: Callable[..., Assistant], monkeypatch: Any
) -> None:
    import agent.graph

    def broken(*args: Any, **kwargs: Any) -> ReportReading:
        raise RuntimeError("bug")

    monkeypatch.setattr(agent.graph, "read_report", broken)
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask("7 mm solid nodule, smoker, what follow-up?")
    assert [c["output"]["category"] for c in classifications(result)] == ["solid, single, 6-8 mm, high risk"]


async def test_the_report_survives_a_checkpoint_and_an_old_thread_takes_a_report(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    assert ReportReading in CHECKPOINT_TYPES
    serde = assistant.graph.checkpointer.serde
    reading = read_report(PROSTATE + " " + REPORT)
    rebuilt = serde.loads_typed(serde.dumps_typed(reading))
    assert type(rebuilt) is ReportReading and rebuilt.as_json() == reading.as_json()
    assert rebuilt.findings[0].branches and rebuilt.findings[0].result is None, "the tool result is not kept"

    await _restore_old_thread(assistant.graph.checkpointer)
    result = await assistant.ask(REPORT, thread_id=OLD_THREAD["thread_id"])
    assert [(c["tool"], c["output"]["category"]) for c in classifications(result)] == EXPECTED


def test_the_report_set_through_the_agent_scores_as_the_tools_read_it() -> None:
    """Per finding (system and category, or the expected branches) the agent answers as `read_report` does:
    the same score and the same misses on the set and on the held-out set, never a wrong stated category."""
    from tests.agent.report_set import run_set_through_agent
    from tests.classify.test_report_set import HELD_OUT, REPORTS, run_set

    for path in (REPORTS, HELD_OUT):
        tools, _ = run_set(path)
        agent = run_set_through_agent(path)
        assert agent.wrong_stated == [] == tools.wrong_stated
        assert (agent.right, agent.findings, agent.branches_right) == (
            tools.right,
            tools.findings,
            tools.branches_right,
        )
        assert agent.misses == tools.misses


async def test_a_new_finding_after_a_report_is_not_read_as_a_change_to_it(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(lambda m: ""))
    first = await assistant.ask(SCREENING)
    which = await assistant.ask("and if the nodule were 4 mm?", thread_id=first.thread_id)
    assert classifications(which) == [], "two nodules and no lobe named: neither is silently changed"
    assert "Which finding does the new value belong to?" in which.answer
    changed = await assistant.ask("and if the LLL nodule were 4 mm?", thread_id=first.thread_id)
    assert [(c["output"]["number"], c["output"]["category"]) for c in classifications(changed)] == [(1, "2")]
    added = await assistant.ask("and a 4 mm solid nodule in the LUL", thread_id=first.thread_id)
    (call,) = classifications(added)
    assert call["output"]["evidence"]["text"] == "and a 4 mm solid nodule in the LUL", "its own finding"
    assert "Recomputed" not in added.answer


async def test_a_finding_and_a_question_naming_its_system_is_one_finding_answered_as_before(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(
        "Peripheral zone lesion 1.8 cm, DWI score 5. PI-RADS?"
    )
    assert [(c["tool"], c["output"]["category"]) for c in classifications(result)] == [("pi_rads", "5")]
    assert "| # | Finding |" not in result.answer and "PI-RADS v2.1: 5" in result.answer


async def test_a_system_the_message_names_is_not_overruled_by_the_report_reading(
    make_assistant: Callable[..., Assistant],
) -> None:
    result = await make_assistant(ScriptedLLM(lambda m: "")).ask(
        "Fleischner for a 6 mm lung nodule on screening CT?"
    )
    assert [c["tool"] for c in classifications(result)] == ["fleischner"]
