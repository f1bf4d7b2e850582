"""`radassist eval` judging and metrics on real turns of the graph with a scripted model (no database).

The scripted model plays a good model (it restates the computed category) and a broken one (it always
says "Lung-RADS 1"): the broken one must show high-risk errors even though verification keeps them out
of the delivered answer, and a comparison with the good run must call it a regression.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from agent.assistant import Assistant
from agent.eval import metrics, report, suites
from agent.eval.cases import AnswerCase, AnswerExpected, Loaded
from agent.eval.metrics import Reference, percentile, statement_errors
from agent.eval.suites import DraftRecorder
from agent.graph import build_graph
from tests.agent.fakes import ScriptedLLM
from tools.registry import load_tools

LUNG_RADS_Q = "Baseline screening LDCT: 9 mm solid nodule. Lung-RADS category?"
SPELLINGS = load_tools().category_spellings()
FLEISCHNER_Q = "7 mm solid nodule, smoker, what follow-up?"
OUTSIDE_Q = "What CAD-RADS category is a 60% LAD stenosis?"


def restating(messages: list[dict[str, Any]]) -> str:
    """A good model: repeats the computed category (the first bold line of the prompt's tool results)."""
    found = re.search(r"\*\*(.+?): (.+?)\*\*", messages[-1]["content"])
    return f"The computed result is {found.group(2)} ({found.group(1)})." if found else ""


def broken(messages: list[dict[str, Any]]) -> str:
    return "Lung-RADS 1."


def recording(assistant: Assistant) -> Assistant:
    """The assistant as `radassist eval` runs it: its model wrapped in a DraftRecorder."""
    context = replace(assistant.context, llm=DraftRecorder(assistant.context.llm, assistant.context.experts))
    return Assistant(context, build_graph(checkpointer=InMemorySaver()))


async def turn(make: Callable[..., Assistant], draft: Callable[..., str], question: str, **exp: Any) -> Any:
    """One answer case through `suites.answer`: the outcome, and its judgement's parts."""
    item = Loaded(
        AnswerCase(id="t", kind="answer", question=question, expected=AnswerExpected(**exp)), "t", 1
    )
    out = await suites.answer(item, recording(make(ScriptedLLM(draft))), None, True)
    return out, SimpleNamespace(reasons=out.reasons, measures=out.measures, refused=out.output["refused"],
                                categories=out.output["categories"])  # fmt: skip


def ref(**kwargs: Any) -> Reference:
    base: dict[str, Any] = {
        "categories": {},
        "key": None,
        "unanswerable": False,
        "intervals": None,
        "numbers": set(),
        "spellings": SPELLINGS,
    }
    return Reference(**{**base, **kwargs})


def test_statement_errors_cover_category_system_interval_and_size() -> None:
    lung = ref(categories={"lung_rads": "4A"}, intervals={(3.0,)}, numbers={9.0, 3.0})
    assert statement_errors("This is Lung-RADS 4A.", lung) == []
    assert statement_errors("This is Lung-RADS 3.", lung) == ["states lung_rads 3, but it is 4A"]
    assert "but the finding is lung_rads" in statement_errors("TI-RADS TR4 applies.", lung)[0]
    assert statement_errors("Repeat LDCT in 3 months.", lung) == []
    assert "not in the computed management" in statement_errors("Repeat LDCT in 6 months.", lung)[0]
    assert "12 mm" in statement_errors("Anything above 12 mm needs PET.", lung)[0]
    keyed = ref(categories={"lung_rads": "3"}, key="4A")  # the key overrides a wrong tool result
    assert statement_errors("Lung-RADS 3.", keyed) == ["states lung_rads 3, but it is 4A"]
    outside = ref(unanswerable=True)
    assert statement_errors("It is BI-RADS 2, follow up in 6 months.", outside) == [
        "states bi_rads 2 for an unanswerable question",
        "states an interval (6 month) for an unanswerable question",
    ]
    assert statement_errors("It is BI-RADS 2.", ref()) == []  # nothing to hold it to: not judged
    aged = ref(categories={"lung_rads": "4A"}, intervals={(3.0,)}, stated={"58 year"})
    assert statement_errors("In this 58-year-old, repeat LDCT in 3 months.", aged) == []  # the question's age


async def test_a_good_model_passes_and_a_broken_one_makes_high_risk_errors(
    make_assistant: Callable[..., Assistant],
) -> None:
    result, good = await turn(make_assistant, restating, LUNG_RADS_Q, category="4A")
    assert good.categories == [{"system": "lung_rads", "category": "4A"}]
    assert good.reasons == [] and not good.measures["high_risk"]
    assert good.measures["claims"] >= 1 and good.measures["drafted"] is False  # scripted: no gateway streams

    result, bad = await turn(make_assistant, broken, LUNG_RADS_Q, category="4A")
    assert "Lung-RADS 1" not in result.output["answer"]  # verification kept it from the clinician ...
    assert result.trace["drafts"] == {"chest": "Lung-RADS 1."}
    assert bad.measures["draft_high_risk"] == [
        "states lung_rads 1, but it is 4A"
    ]  # ... but the model said it
    assert bad.measures["delivered_high_risk"] == []
    assert bad.measures["high_risk"] and bad.measures["kept"] == 0 and not bad.measures["delivered_high_risk"]
    assert bad.reasons == ["model draft: states lung_rads 1, but it is 4A"]

    _, other_system = await turn(
        make_assistant, broken, FLEISCHNER_Q, category="solid, single, 6-8 mm, high risk"
    )
    assert other_system.measures["draft_high_risk"] == ["states lung_rads 1, but the finding is fleischner"]


async def test_a_model_that_fails_to_draft_fails_its_case(make_assistant: Callable[..., Assistant]) -> None:
    item = Loaded(
        AnswerCase(id="t", kind="answer", question=LUNG_RADS_Q, expected=AnswerExpected(category="4A")),
        "t",
        1,
    )
    down = recording(make_assistant(ScriptedLLM(fail_with=ConnectionError("model server down"))))
    out = await suites.answer(item, down, None, True)
    assert out.output["categories"] == [{"system": "lung_rads", "category": "4A"}]  # the tool still answered
    assert not out.passed and out.reasons == [
        "model error: chest (expert-chest): ConnectionError: model server down"
    ]  # ... but the model under test did not, and the evaluation says so
    run = metrics.answers_run("configured", "on", [out.as_json()])
    assert run["model_errors"] == 1 and run["accuracy"] == 0.0


async def test_refusals_and_keys_are_judged(make_assistant: Callable[..., Assistant]) -> None:
    result, declined = await turn(make_assistant, broken, OUTSIDE_Q, cannot_answer=True)
    assert declined.refused and declined.reasons == [] and result.trace["drafts"] == {}
    assert declined.measures["claims"] == 0  # nothing to ground on: the model is not asked

    _, wrong_key = await turn(make_assistant, restating, LUNG_RADS_Q, category="4B")
    assert wrong_key.reasons == ["delivered answer: the answer states lung_rads 4A, but the key is 4B"]

    _, uncited = await turn(make_assistant, restating, FLEISCHNER_Q, source_any=["mri"])
    assert uncited.reasons == ["cited fleischner; expected one of mri"]


async def test_without_retrieval_a_source_key_asks_for_an_answer_not_a_citation(
    make_assistant: Callable[..., Assistant],
) -> None:
    assistant = make_assistant(ScriptedLLM(restating))
    no_rag = replace(assistant.context, retrieval=False)
    offline = Assistant(no_rag, build_graph(checkpointer=InMemorySaver()))
    result = await offline.ask("What are the MRI safety zones?")
    assert not any(c["tool"] == "guideline_search" for c in result.tool_calls)  # retrieval really off
    judged = metrics.judge_answer("q", AnswerExpected(source_any=["mri"]), result, SPELLINGS, rag=False)
    assert judged.refused and judged.reasons == [
        "declined without retrieval (the key names a guideline source)"
    ]
    with_rag = await assistant.ask("What are the MRI safety zones?")
    assert metrics.judge_answer("q", AnswerExpected(source_any=["mri"]), with_rag, SPELLINGS).reasons == []


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.0 and percentile(values, 95) == 19.0
    assert percentile([7.0], 95) == 7.0 and percentile([], 50) is None


def outcome(suite: str, case: str, passed: bool, **extra: Any) -> dict[str, Any]:
    return {"suite": suite, "id": case, "passed": passed, "systems": [], "measures": {}, "error": None,
            "model": None, "rag": None, "expected": {}, **extra}  # fmt: skip


def answer(case: str, model: str, high_risk: bool, passed: bool = True) -> dict[str, Any]:
    measures = {"unanswerable": False, "answerable": True, "refused": False, "claims": 2, "kept": 1,
                "supported": 1, "high_risk": high_risk, "delivered_high_risk": [], "drafted": True,
                "ttft_ms": 10.0, "turn_ms": 100.0, "decode_tokens": 10, "decode_ms": 100.0,
                "drafting_alias": [model]}  # fmt: skip
    return outcome("answers", case, passed, model=model, rag="on", measures=measures)


def test_comparison_finds_accuracy_drops_beyond_the_margin_and_any_rise_in_high_risk_errors() -> None:
    base = [outcome("classification", f"c{i}", True) for i in range(50)]
    base += [answer(f"a{i}", "good", False) for i in range(10)]
    one_worse = [outcome("classification", f"c{i}", i != 0) for i in range(50)]  # -2 points: within margin
    one_worse += [
        answer(f"a{i}", "broken", i == 3) for i in range(10)
    ]  # a candidate vs the only baseline model
    result = metrics.compare(base, one_worse)
    assert result["regressions"] == [
        "answers (broken vs good, RAG on): high_risk_error_rate 0.0 -> 0.1 (margin 0.0)"
    ]
    two_worse = [outcome("classification", f"c{i}", i > 1) for i in range(50)]  # -4 points
    assert metrics.compare(base, two_worse)["regressions"] == [
        "classification: accuracy 1.0 -> 0.96 (margin 0.02)"
    ]
    assert metrics.compare(base, two_worse, margin=0.05)["regressions"] == []
    assert metrics.compare(base, base)["regressions"] == []
    fewer = one_worse[1:40]  # only the cases both runs have are compared
    assert (
        next(r for r in metrics.compare(base, fewer)["rows"] if r["suite"] == "classification")["cases"] == 39
    )


def test_the_report_is_self_contained_and_links_every_failure_to_its_trace() -> None:
    cases = [
        outcome("routing", "r1", False, expected={"expert": "chest"}, measures={"top1": "neuro"},
                reasons=["routed to neuro, expected chest"], input={"question": "<script>alert(1)</script>"}),
        outcome("routing", "r2", True, expected={"expert": "chest"}, measures={"top1": "chest"}),
        outcome("classification", "c/1", False, systems=["fleischner"], reasons=["category x"]),
    ]  # fmt: skip
    for c in cases:
        c.update(key=f"{c['suite']}/{c['id']}", file="mine.jsonl", line=1, output={}, trace={})
        c.setdefault("reasons", [])
    results = {"summary": metrics.summarize(cases), "cases": cases, "complete": True, "started_at": "t"}
    page = report.render(results)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)  # nothing fetched
    assert "@import" not in page and "url(" not in page
    links = re.findall(r'href="#([^"]+)"', page)
    ids = set(re.findall(r'id="?([^"\s>]+)', page))
    failures = [link for link in links if link.startswith("trace-")]
    assert len(failures) == 2 and all(link in ids for link in failures)
    assert page.count('src="data:image/png;base64,') >= 2  # accuracy per system, confusion matrix
