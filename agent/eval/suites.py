"""Run one case of each kind through the deployment's own public surfaces, and judge it.

* classification: `classify_text` (what `radassist classify --text` runs): system, category, management;
* findings: `read_report` (what `radassist findings` runs): every finding's system and category;
* routing: the expert gate (`Gate.route`), top-1 expert;
* retrieval: the `guideline_search` tool from the registry, an expected source among the top 5;
* answers: a full turn through `Assistant.ask`, judged in `agent.eval.metrics`.

Each returns an `Outcome`: the inputs, what the deployment produced, the verdict and why, and (answers)
the measures and the trace. An exception inside one case is that case's error, never the run's end.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.eval import metrics
from agent.eval.cases import (
    AnswerCase,
    ClassificationCase,
    FindingsCase,
    Loaded,
    RetrievalCase,
    RoutingCase,
)
from agent.llm import LLM, Messages, ReplyStream
from experts import Expert
from tools.guideline_search import GuidelineSearchOutput
from tools.registry import ToolContext, ToolRegistry

RETRIEVAL_K = 5  # what the agent retrieves per turn (AgentContext.retrieval_k)


@dataclass
class Outcome:
    """One case's result, as stored in results.json."""

    suite: str
    id: str
    file: str
    line: int
    input: dict[str, Any]
    expected: dict[str, Any]
    output: dict[str, Any] = field(default_factory=dict)
    passed: bool = False
    reasons: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    """Classification systems the case is about (accuracy per system)."""
    model: str | None = None
    """Answers: the alias under test, or 'configured' (each expert's own alias)."""
    rag: str | None = None
    """Answers: 'on' or 'off'."""
    measures: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    """The case's note: where its expectation comes from."""
    error: str | None = None
    seconds: float = 0.0

    @property
    def key(self) -> str:
        """Unique within a run; the anchor of its trace in report.html."""
        return "/".join(p for p in (self.suite, self.id, self.model, self.rag and f"rag-{self.rag}") if p)

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, **asdict(self)}


def _start(item: Loaded, inputs: dict[str, Any]) -> Outcome:
    case = item.case
    return Outcome(
        suite=item.suite,
        id=case.id,
        file=item.file,
        line=item.line,
        input=inputs,
        expected=case.expected.model_dump(exclude_none=True),
        note=case.note,
    )


def _failed(outcome: Outcome, exc: BaseException) -> Outcome:
    outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.passed = False
    outcome.reasons = [f"error: {outcome.error}"]
    return outcome


# --- classification ------------------------------------------------------------------------------


def classification(item: Loaded, registry: ToolRegistry) -> Outcome:
    from tools.classify.findings import FindingsError, classify_text

    case = item.case
    assert isinstance(case, ClassificationCase)
    expected = case.expected
    out = _start(item, {"text": case.text})
    out.systems = [expected.system]
    try:
        _, result = classify_text(case.text, registry=registry)
    except FindingsError as exc:  # no system fits: what `radassist classify --text` says too
        out.output = {"system": None, "refused": str(exc)}
        out.reasons = [f"no system chosen: {exc}"]
        return out
    out.output = {
        "system": result.system,
        "category": result.category,
        "management": result.management,
        "missing": result.missing,
        "not_applicable": result.not_applicable,
    }
    if result.system != expected.system:
        out.reasons.append(f"system {result.system}, expected {expected.system}")
    elif not metrics.same_category(result.category, expected.category):
        got = result.category or (
            "not decided (missing: " + ", ".join(result.missing) + ")"
            if result.missing
            else f"not applicable ({result.not_applicable})"
        )
        out.reasons.append(f"category {got}, expected {expected.category}")
    if expected.management_any and not metrics.contains_any(result.management, expected.management_any):
        out.reasons.append(
            f"management {result.management!r} has none of: " + "; ".join(expected.management_any)
        )
    out.passed = not out.reasons
    return out


# --- findings ------------------------------------------------------------------------------------


def findings(item: Loaded, registry: ToolRegistry) -> Outcome:
    from tools.classify.report import read_report

    case = item.case
    assert isinstance(case, FindingsCase)
    out = _start(item, {"text": case.text})
    wanted = [(f.system, f.category) for f in case.expected.findings]
    out.systems = sorted({s for s, _ in wanted})
    reading = read_report(case.text, registry=registry)
    found = [(f.system, f.category) for f in reading.findings]
    out.output = {
        "findings": [
            {"number": f.number, "finding": f.label(), "system": f.system, "category": f.category,
             "category_text": f.category_text(), "management": f.management}
            for f in reading.findings
        ],
        "ignored": [{"text": i.text, "why": i.why} for i in reading.ignored],
    }  # fmt: skip
    unmatched = list(found)
    matched: list[bool] = []
    for system, category in wanted:
        hit = next(
            (i for i, (s, c) in enumerate(unmatched) if s == system and metrics.same_category(c, category)),
            None,
        )
        matched.append(hit is not None)
        if hit is None:
            out.reasons.append(f"expected {system} {category or 'undecided'}: not found")
        else:
            unmatched.pop(hit)
    for system, category in unmatched:
        out.reasons.append(f"unexpected finding: {system} {category or 'undecided'}")
    out.measures = {
        "expected": len(wanted),
        "found": len(found),
        "matched": sum(matched),
        "per_finding": [{"system": s, "matched": m} for (s, _), m in zip(wanted, matched, strict=True)],
    }
    out.passed = not out.reasons
    return out


# --- routing -------------------------------------------------------------------------------------


async def routing(item: Loaded, gate: Any) -> Outcome:
    case = item.case
    assert isinstance(case, RoutingCase)
    out = _start(item, {"question": case.question})
    decision = await gate.route(case.question)
    top = decision.scores[0].name
    out.output = {
        "chosen": decision.chosen,
        "top": top,
        "weights": {s.name: round(s.weight, 4) for s in decision.scores[:3]},
    }
    out.measures = {"top1": top, "in_chosen": case.expected.expert in decision.chosen}
    if top != case.expected.expert:
        out.reasons.append(f"routed to {top}, expected {case.expected.expert}")
    out.passed = not out.reasons
    return out


# --- retrieval -----------------------------------------------------------------------------------


async def retrieval(item: Loaded, registry: ToolRegistry, context: ToolContext) -> Outcome:
    case = item.case
    assert isinstance(case, RetrievalCase)
    out = _start(item, {"question": case.question})
    result = await registry.get("guideline_search").arun({"query": case.question, "k": RETRIEVAL_K}, context)
    if not isinstance(result, GuidelineSearchOutput):
        raise TypeError(f"guideline_search returned {type(result).__name__}")
    hits = [h.model_dump() for h in result.hits]
    wanted = set(case.expected.source_any)
    rank = next((i for i, h in enumerate(hits, 1) if h["source"] in wanted), None)
    used = hits  # the search's relevance floor already kept only what the agent takes as evidence
    out.output = {
        "hits": [
            {"source": h["source"], "section": h.get("section"), "score": round(h.get("score") or 0, 4),
             "similarity": round(h.get("semantic_similarity") or 0, 4)}
            for h in hits
        ]
    }  # fmt: skip
    out.measures = {"rank": rank, "evidence": any(h["source"] in wanted for h in used)}
    if rank is None:
        found = ", ".join(dict.fromkeys(h["source"] for h in hits)) or "nothing"
        out.reasons.append(f"none of {', '.join(sorted(wanted))} in the top {RETRIEVAL_K} (found: {found})")
    out.passed = not out.reasons
    return out


# --- answers -------------------------------------------------------------------------------------


class DraftRecorder:
    """The agent's model gateway, keeping what each expert's model streams: its drafts, word for word.

    Verification judges sentences it splits out of a draft and drops short ones, so the model's own words
    are recorded here, per turn, to judge what the model said (not only what survived). A draft that
    failed (a model that is down, times out or cannot load) is recorded too: the agent keeps its grounded
    answer, but the evaluation must count the model's failure. Every other call goes to the wrapped
    gateway unchanged.
    """

    def __init__(self, llm: LLM, experts: Mapping[str, Expert]) -> None:
        self.llm = llm
        self._expert_of = {e.prompt: name for name, e in experts.items()}
        self._drafts: list[tuple[str, str]] = []
        self._errors: list[str] = []

    def astream(self, alias: str, messages: Messages, **params: Any) -> ReplyStream:
        return ReplyStream(lambda reply: self._stream(reply, alias, messages, **params))

    async def _stream(
        self, reply: ReplyStream, alias: str, messages: Messages, **params: Any
    ) -> AsyncGenerator[str, None]:
        expert = self._expert_of.get(messages[0].get("content", ""), alias)
        parts: list[str] = []
        inner = self.llm.astream(alias, messages, **params)
        try:
            async for token in inner:
                parts.append(token)
                yield token
            reply.cut_off = inner.cut_off
        except Exception as exc:
            self._errors.append(f"{expert} ({alias}): {type(exc).__name__}: {exc}")
            raise
        finally:
            self._drafts.append((expert, "".join(parts)))

    async def acomplete_json(
        self, alias: str, messages: Messages, schema: dict[str, Any], **params: Any
    ) -> dict[str, Any]:
        return await self.llm.acomplete_json(alias, messages, schema, **params)

    async def acall_tools(
        self, alias: str, messages: Messages, tools: list[dict[str, Any]], **params: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        return await self.llm.acall_tools(alias, messages, tools, **params)

    def supports_tools(self, alias: str) -> bool:
        return self.llm.supports_tools(alias)

    def chat_aliases(self) -> list[str]:
        return self.llm.chat_aliases()

    def describe(self, alias: str) -> dict[str, Any]:
        return self.llm.describe(alias)

    def sampling(self, alias: str) -> dict[str, Any]:
        return self.llm.sampling(alias)

    def take(self) -> tuple[dict[str, str], list[str]]:
        """Each expert's last draft of the turn (a revision replaces its draft) and the drafts that failed;
        then start afresh."""
        final, errors = dict(self._drafts), self._errors
        self._drafts, self._errors = [], []
        return final, errors


async def answer(item: Loaded, assistant: Any, model: str | None, rag: bool) -> Outcome:
    """One full turn; `model` None drafts with each expert's own alias ('configured')."""
    case = item.case
    assert isinstance(case, AnswerCase)
    out = _start(item, {"question": case.question})
    out.model = model or "configured"
    out.rag = "on" if rag else "off"
    recorder = assistant.context.llm if isinstance(assistant.context.llm, DraftRecorder) else None
    if recorder is not None:
        recorder.take()  # nothing left over from another turn
    started = time.perf_counter()
    try:
        result = await assistant.ask(case.question, model=model)
    except Exception as exc:  # one case's failure, recorded; the run goes on
        return _failed(out, exc)
    finally:
        out.seconds = round(time.perf_counter() - started, 3)
    drafts, model_errors = recorder.take() if recorder is not None else (None, [])
    spellings = assistant.context.registry.category_spellings()
    judged = metrics.judge_answer(case.question, case.expected, result, spellings, drafts=drafts, rag=rag)
    judged.reasons += [f"model error: {e}" for e in dict.fromkeys(model_errors)]  # the grounded answer hid it
    judged.measures["model_errors"] = model_errors
    out.output = {
        "answer": result.answer,
        "verdict": result.verification.get("verdict"),
        "experts": [e["name"] for e in result.experts[:2]],
        "categories": judged.categories,
        "sources": judged.sources,
        "refused": judged.refused,
    }
    out.systems = sorted({c["system"] for c in judged.categories})
    out.measures = judged.measures
    out.reasons = judged.reasons
    out.passed = not judged.reasons
    out.trace = {**_trace(result), "drafts": {k: _clip(v, 1500) for k, v in (drafts or {}).items()}}
    return out


def _trace(result: Any) -> dict[str, Any]:
    """What a reviewer needs to see why a turn went wrong (passage texts shortened)."""
    provenance = result.provenance
    return {
        "answer": result.answer,
        "gate": {"chosen": provenance["gate"]["chosen"], "reason": provenance["gate"]["reason"]},
        "drafting_models": sorted({e["model"] for e in provenance["experts"]}),
        "tool_calls": [
            {"tool": c["tool"], "input": c.get("input"), "via": c.get("via"), "error": c.get("error"),
             "output": _short_output(c)}
            for c in result.tool_calls
        ],
        "citations": [{"n": c["n"], "source": c["source"], "section": c["section"]} for c in result.citations],
        "verification": result.verification,
        "model_calls": provenance.get("model_calls", []),
        "timings_ms": provenance.get("timings_ms", {}),
    }  # fmt: skip


def _short_output(call: dict[str, Any]) -> Any:
    output = call.get("output")
    if call["tool"] == "guideline_search" and output:
        return {
            "hits": [
                {"source": h["source"], "section": h.get("section"),
                 "similarity": h.get("semantic_similarity"), "text": _clip(h.get("text", ""))}
                for h in output.get("hits", [])
            ]
        }  # fmt: skip
    return output


def _clip(text: str, limit: int = 240) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
