"""The LangGraph agent, top to bottom:

    gate -> classify -> retrieve -> choose_tools -> draft -> verify -> finalize
                                                               \\-> revise -> verify (once)

Deterministic first: the extractor and the classification tools run whatever the model does, and
the answer always leads with their results. The model drafts commentary grounded in tool results
and retrieved passages; verification keeps only what the evidence supports.

Each node is a top-level function of the state and LangGraph's runtime, whose `context` is the
`AgentContext` (models, tools, experts, gate) passed to every run; node names are the functions'.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent import prompts
from agent.answer import (
    Cited,
    Commentary,
    cannot_answer,
    cited_sources,
    claim_with_citation,
    grounded_answer,
    kept_commentary,
    quoted_passages,
    renumber,
    report_answer,
    section_of,
    sources_block,
    verdict_of,
)
from agent.capabilities import classification_systems
from agent.context import AgentContext
from agent.findings import Extractions, finding_output, missing_questions, read_findings, read_report_turn
from agent.gate import Gate
from agent.state import AgentState, Classification, ReportTurn, ToolCall, TurnInput, new_turn
from agent.tool_calls import model_tool_calls
from agent.verify import Entail, Evidence, finished_part
from agent.verify import verify as verify_draft
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.findings import classify_inputs, fill_gaps
from tools.classify.report import Finding, ReportReading, merge_inputs, read_report
from tools.guideline_search import GuidelineSearchOutput
from tools.knowledge.sections import section_texts
from tools.registry import Tool, ToolRegistry

log = logging.getLogger(__name__)
RECURSION_LIMIT = 25
Update = dict[str, Any]
"""What a node returns: the state keys it writes (reducers merge tool calls, results, rounds, timings)."""


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the agent graph, checkpointed by `checkpointer` (None: no memory between turns)."""
    builder = StateGraph(AgentState, context_schema=AgentContext, input_schema=TurnInput)
    for node in (gate, classify, retrieve, choose_tools, draft, verify, revise, finalize):
        builder.add_node(node)
    builder.add_edge(START, "gate")
    builder.add_edge("gate", "classify")
    builder.add_edge("classify", "retrieve")
    builder.add_edge("retrieve", "choose_tools")
    builder.add_edge("choose_tools", "draft")
    builder.add_edge("draft", "verify")
    builder.add_conditional_edges("verify", after_verify, ["revise", "finalize"])
    builder.add_edge("revise", "verify")
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer)


# --- the nodes, in the order they run -----------------------------------------------------------------


async def gate(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Weigh every expert for the message and choose who answers (a user's choice wins); open the turn."""
    ctx, start = runtime.context, time.perf_counter()
    decision = await ctx.gate.route(
        state["message"], override=state.get("expert_override"), previous=state.get("last_experts", [])
    )
    if ctx.router_alias and not decision.overridden:
        decision = Gate.refine(decision, await _llm_gate(ctx, ctx.router_alias, state["message"]))
    runtime.stream_writer({"event": "step", "name": "gate", "data": decision.as_dict()})
    return {"gate": decision, **new_turn(gate=_ms(start))}


async def classify(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Read every finding of the message (or a follow-up's change to earlier ones) and run the classification tools.

    A message with several findings, or a follow-up to the thread's report, is a report turn: each finding
    is classified by its own system. Otherwise one finding is read as before; when that reading cannot
    decide but the report reading of the same message can (its organ, its patient context), the report
    reading answers.
    """
    ctx, start = runtime.context, time.perf_counter()
    extract = Extractions()
    registry = extract.registry(ctx.registry)
    reading, report = _read_report(state, registry)
    if report is not None:
        return _report_update(report, runtime, start)
    one = await _one_finding(state, runtime, extract)
    if (
        reading is not None
        and len(reading.findings) == 1
        and _report_reads_better(state["message"], one, reading.findings[0])
    ):
        report = ReportTurn(reading=reading, how="the finding in the message, with its organ and context",
                            computed=[1])  # fmt: skip
        return _report_update(report, runtime, start)
    if one is None:
        return {"classification": None, "report_turn": None, "timings_ms": {"tools": _ms(start)}}
    call: ToolCall = one["tool_calls"][0]
    runtime.stream_writer({"event": "step", "name": f"tool:{call.tool}", "data": call.as_dict()})
    return {**one, "report_turn": None, "report": None, "timings_ms": {"tools": _ms(start)}}


async def _one_finding(
    state: AgentState, runtime: Runtime[AgentContext], extract: Extractions
) -> Update | None:
    """One finding (or a follow-up's change to it) and its classification, as the state update; None if none."""
    ctx = runtime.context
    message, decision = state["message"], state["gate"]
    ranked = list(decision.chosen)
    if decision.overridden:  # the user's expert may lack the findings' system
        ranked.append(decision.scores[0].name)
    hints = list(dict.fromkeys(
        t for name in ranked for t in ctx.experts[name].tools
        if t in ctx.registry and ctx.registry.get(t).kind == "classification"
    ))  # fmt: skip
    memory = dict(state.get("findings") or {})
    texts = dict(state.get("finding_texts") or {})
    last = list(state.get("last_systems") or [])
    turn = read_findings(message, memory, last, ctx.registry, hints, texts, extract)
    if turn is None:
        return None
    tool = ctx.registry.get(turn.system)
    result, inputs, extraction = turn.result, turn.inputs, turn.extraction
    if result.missing and ctx.fill_gaps_with_model:
        filled = await _fill_gaps(ctx, state, extraction, tool)
        if filled is not None and filled.inputs != extraction.inputs:
            inputs, _ = merge_inputs(turn.inputs, filled.inputs, tool)
            result = classify_inputs(tool, inputs, filled)
            extraction = filled
    call = ToolCall(tool=tool.name, status="ran", via=f"deterministic extraction ({turn.how})", input=inputs,
                    output=result.model_dump(), carried=turn.carried, evidence=extraction.evidence,
                    rejected=extraction.rejected, kind="classification")  # fmt: skip
    memory[tool.name] = inputs
    if extraction.inputs and not turn.carried:
        texts[tool.name] = message  # a finding stated in full; follow-ups restate it
    classification = Classification(
        system=tool.name, how=turn.how, inputs=inputs, extraction=extraction, carried=turn.carried,
        restated=turn.read_from if turn.read_from != message else None, questions=missing_questions(tool, result),
    )  # fmt: skip
    return {
        "classification": classification, "results": [result], "tool_calls": [call], "findings": memory,
        "finding_texts": texts, "last_systems": [tool.name],
    }  # fmt: skip


def _read_report(state: AgentState, registry: ToolRegistry) -> tuple[ReportReading | None, ReportTurn | None]:
    """The message read as a report, and the report turn it makes (None: not one).

    Reading every finding is a second reading of the message: should it fail, the one-finding reading
    still answers (nothing is lost), so a failure here is logged (its type only: no report text) and passed over.
    """
    try:
        reading = read_report(state["message"], registry=registry)
        return reading, read_report_turn(state["message"], reading, state.get("report"), registry)
    except Exception as exc:
        log.warning("report reading failed (%s); answering from the one-finding reading", type(exc).__name__)
        return None, None


def _report_reads_better(message: str, one: Update | None, finding: Finding) -> bool:
    """Whether the report reading answers a one-finding message instead of the one-finding reading.

    It does when the one-finding reading found nothing, or routed the finding to another system (the report
    reading chooses by organ and its own words: a cystic renal mass with septa is Bosniak's), or cannot
    decide where the report reading can or says what each missing value gives. A follow-up that carried
    earlier inputs stays with the one-finding reading: the message alone is not the whole finding; so does a
    message that names the one-finding reading's system ("Fleischner for a 6 mm nodule on screening CT?").
    """
    if one is None:
        return True
    classification: Classification = one["classification"]
    result: ClassificationResult = one["results"][0]
    if classification.carried:
        return False
    if classification.system != finding.system:  # unless the message asks for that system by name
        return not re.search(r"\b" + classification.system.replace("_", r"[-_\s]?") + r"\b", message, re.I)
    if result.decided or result.not_applicable:
        return False
    return finding.category is not None or finding.not_applicable is not None or bool(finding.branches)


def _report_update(report: ReportTurn, runtime: Runtime[AgentContext], start: float) -> Update:
    """A report turn's state update: one tool call and result per finding classified this turn."""
    computed = [f for f in report.reading.findings if f.number in report.computed]
    calls = []
    for f in computed:
        call = ToolCall(tool=f.system, status="ran", via=f"report reading, finding #{f.number} ({report.how})",
                        input=dict(f.inputs), output=finding_output(f), evidence=dict(f.read_from),
                        kind="classification")  # fmt: skip
        runtime.stream_writer({"event": "step", "name": f"tool:{f.system}", "data": call.as_dict()})
        calls.append(call)
    return {
        "classification": None, "report_turn": report, "report": report.reading, "last_systems": [],
        "results": [f.result for f in computed if f.result is not None], "tool_calls": calls,
        "timings_ms": {"tools": _ms(start)},
    }  # fmt: skip


async def retrieve(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Search the guidelines for the message (and the computed category); show what is known so far."""
    ctx, start = runtime.context, time.perf_counter()
    message, results, report = state["message"], state.get("results", []), state.get("report_turn")
    query, system = supporting_query(message, results)
    search = {"query": query, "k": ctx.retrieval_k, **({"system": system} if system else {})}
    if not ctx.retrieval:  # off only in `radassist eval --rag off`
        return {"passages": [], "retrieved_chunk_ids": [], "timings_ms": {"retrieval": _ms(start)}}
    try:
        out = await ctx.registry.get("guideline_search").arun(search, ctx.tool_context)
        if not isinstance(out, GuidelineSearchOutput):
            raise TypeError(f"guideline_search returned {type(out).__name__}")
        hits, note = [h.model_dump() for h in out.hits], out.note
        call = ToolCall(tool="guideline_search", status="ran", via="always", input=search,
                        output={"hits": hits}, kind="retrieval")  # fmt: skip
    except Exception as exc:  # retrieval down must not lose the deterministic answer
        hits, note = [], f"the guideline search failed ({type(exc).__name__})"
        call = ToolCall(tool="guideline_search", status="failed", via="always", input=search,
                        error=f"{type(exc).__name__}: {exc}", kind="retrieval")  # fmt: skip
    passages = await _with_sections(ctx, hits)  # the search's relevance floor decided what is evidence
    runtime.stream_writer(
        {"event": "step", "name": "retrieval", "data": {"query": query, "hits": hits, "note": note}}
    )
    if report is not None:  # known before any model runs
        known = "\n\n".join(p for p in (report_answer(report), grounded_answer([], passages)) if p)
        runtime.stream_writer({"event": "preview", "text": known})
    elif any(r.category or r.not_applicable for r in results) or passages:
        runtime.stream_writer({"event": "preview", "text": grounded_answer(results, passages)})
    return {
        "tool_calls": [call], "passages": passages, "retrieved_chunk_ids": [h["chunk_id"] for h in hits],
        "timings_ms": {"retrieval": _ms(start)},
    }  # fmt: skip


def supporting_query(message: str, results: list[ClassificationResult]) -> tuple[str, str | None]:
    """What to search for, and in which system's guideline.

    With a category computed by one system: that system's guideline, searched for the message, the
    category and its management, so the passages support the row that fired (a "6 mm solid nodule" finds
    the part-solid rows first on the message alone). Otherwise the whole library, for the message: a tool
    that could not classify says nothing about which guideline answers ("is a single kidney a reason to
    avoid contrast?" is not a renal-mass question).
    """
    decided = [r for r in results if r.category]
    if not decided or len({r.system for r in results}) != 1:
        return message, None
    found = decided[0]
    return " ".join(
        p for p in (message, found.guideline, found.category, found.management) if p
    ), found.system


async def choose_tools(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Offer the chosen expert's remaining tools to its model; record what ran, was refused or failed."""
    ctx, start = runtime.context, time.perf_counter()
    expert = ctx.experts[state["gate"].chosen[0]]
    alias = state.get("model_override") or expert.model
    called = {c.tool for c in state.get("tool_calls", []) if c.tool is not None}
    made = await model_tool_calls(ctx, expert, alias, state["message"], called)
    for call, _ in made:
        runtime.stream_writer({"event": "step", "name": f"tool:{call.label}", "data": call.as_dict()})
    return {
        "tool_calls": [call for call, _ in made],
        "results": [result for _, result in made if result is not None],
        "timings_ms": {"model_tools": _ms(start)},
    }


async def draft(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Stream each chosen expert's commentary on the tool results and passages."""
    start = time.perf_counter()
    drafts, tokens = await _draft_all(runtime, state, state["gate"].chosen, feedback=None)
    return {"drafts": drafts, "generated_tokens": tokens, "timings_ms": {"generation": _ms(start)}}


async def verify(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Check every claim of every draft against the tool results and passages (one round per draft)."""
    ctx, start = runtime.context, time.perf_counter()
    evidence = _evidence(state, ctx)
    per_expert = {}
    for name, text in state.get("drafts", {}).items():
        per_expert[name] = (await verify_draft(text, evidence, _entailer(ctx))).as_dict()
    number = len(state.get("rounds", [])) + 1
    runtime.stream_writer(
        {"event": "step", "name": "verification", "data": {"round": number, "experts": per_expert}}
    )
    return {"rounds": [{"experts": per_expert}], "timings_ms": {"verification": _ms(start)}}


def after_verify(state: AgentState) -> Literal["revise", "finalize"]:
    """One revision for drafts with too little support; after it, whatever survives is final."""
    rounds = state["rounds"]
    failing = [n for n, v in rounds[-1]["experts"].items() if v["needs_revision"]]
    return "revise" if failing and len(rounds) == 1 else "finalize"


async def revise(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Redraft the failing experts once, told which statements were unsupported."""
    start = time.perf_counter()
    failing = {n: v for n, v in state["rounds"][-1]["experts"].items() if v["needs_revision"]}
    drafts, tokens = dict(state["drafts"]), 0
    for name, v in failing.items():
        problems = [c["text"] for c in v["claims"] if c["status"] in ("unsupported", "contradicted")]
        new, n = await _draft_all(runtime, state, [name], feedback=prompts.feedback_of(problems))
        drafts.update(new)
        tokens += n
    return {"drafts": drafts, "generated_tokens": tokens, "timings_ms": {"generation": _ms(start)}}


async def finalize(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Assemble the answer: tool results first, checked commentary, questions, what was carried, sources."""
    start = time.perf_counter()
    results, passages = state.get("results", []), state.get("passages", [])
    classification = state.get("classification")
    questions = [*(classification.questions if classification else []),
                 *(c.question for c in state.get("tool_calls", []) if c.question)]  # fmt: skip
    rounds = state.get("rounds", [])
    per_expert = rounds[-1]["experts"] if rounds else {}
    commentary = kept_commentary(per_expert)
    still_failing = any(v["needs_revision"] for v in per_expert.values())
    use_commentary = bool(commentary.text) and not still_failing
    decided = [r for r in results if r.category or r.not_applicable]
    other = _other_outputs(state)
    report = state.get("report_turn")
    answered = bool(report is not None or decided or passages or other)

    cited = Cited([], {}, [])
    if not answered:
        search_failed = any(
            c.kind == "retrieval" and c.status == "failed" for c in state.get("tool_calls", [])
        )
        answer = cannot_answer(
            questions, classification_systems(runtime.context.registry), search_failed=search_failed
        )
    else:
        cited = _cite(commentary, use_commentary, passages)
        if report is not None:  # the table leads; results a model's tool call added follow it
            parts = [report_answer(report), *other, grounded_answer(results[len(report.computed) :], []),
                     *cited.texts]  # fmt: skip
        else:
            parts = [*other, grounded_answer(results, []), *cited.texts]
        if questions:
            parts.append(
                "To complete the classification, please tell me:\n" + "\n".join(f"- {q}" for q in questions)
            )
        if classification and classification.restated:
            parts.append(
                f"Recomputed from the earlier finding with the new value: “{classification.restated}”."
            )
        if classification and classification.carried:
            listed = ", ".join(f"{k.replace('_', ' ')} = {v}" for k, v in classification.carried.items())
            parts.append(f"Carried over from earlier in this conversation: {listed}.")
        parts.append(sources_block(cited.citations))
        answer = "\n\n".join(p for p in parts if p)
    verdict = verdict_of(
        answered=answered,
        commentary_used=use_commentary,
        removed=commentary.removed,
        flagged=commentary.flagged,
    )
    verification = _verification(rounds, per_expert, verdict, commentary, use_commentary, cited)
    runtime.stream_writer({"event": "step", "name": "answer", "data": {"verdict": verdict, "answer": answer}})
    return {
        "answer": answer,
        "verdict": verdict,
        "verification": verification,
        "citations": cited.citations,
        "history": [{"role": "user", "content": state["message"]}, {"role": "assistant", "content": answer}],
        "last_experts": state["gate"].chosen,
        "timings_ms": {"finalize": _ms(start)},
    }


# --- helpers --------------------------------------------------------------------------------------------


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _evidence(state: AgentState, ctx: AgentContext) -> Evidence:
    """Every output a tool computed this turn (classifications and a developer's tools), and the passages."""
    outputs = [c.output for c in state.get("tool_calls", []) if c.kind != "retrieval" and c.output]
    report = state.get("report_turn")
    if report is not None:  # the table's other rows (a follow-up recomputed one) are evidence too
        outputs += [finding_output(f) for f in report.reading.findings if f.number not in report.computed]
    hits = state.get("passages", [])
    return Evidence(
        tool_results=outputs,
        passages=[h["text"] for h in hits],
        spellings=ctx.registry.category_spellings(),
        headings=[section_of(h) for h in hits],
    )


def _other_outputs(state: AgentState) -> list[str]:
    """Outputs of tools that are not classifications (a developer's own tools), shown as data."""
    lines = []
    for c in state.get("tool_calls", []):
        if c.kind not in ("classification", "retrieval") and c.output:
            fields = "; ".join(f"{k}: {v}" for k, v in c.output.items())
            lines.append(f"**{c.tool}** ({c.via}): {fields}")
    return lines


def _entailer(ctx: AgentContext) -> Entail:
    async def entail(claims: list[str], passages: list[str]) -> list[bool]:
        try:
            out = await ctx.llm.acomplete_json(
                ctx.verifier_alias,
                prompts.entailment_messages(claims, passages),
                prompts.entailment_schema(len(claims)),
                max_tokens=6 * len(claims) + 24,
                temperature=0.0,
            )
            verdicts = out.get("verdicts", [])
        except Exception:  # no verdict is a "no": unverifiable claims stay flagged
            return [False] * len(claims)
        return [v == "yes" for v in verdicts] if len(verdicts) == len(claims) else [False] * len(claims)

    return entail


async def _draft_all(
    runtime: Runtime[AgentContext], state: AgentState, names: list[str], feedback: str | None
) -> tuple[dict[str, str], int]:
    """Stream each chosen expert's draft; nothing to ground on means no draft (and no guessing)."""
    ctx = runtime.context
    results, passages = state.get("results", []), state.get("passages", [])
    if not results and not passages:
        return {}, 0
    drafts: dict[str, str] = {}
    tokens = 0
    for name in names:
        expert = ctx.experts[name]
        alias = state.get("model_override") or expert.model
        if not ctx.drafts_with(alias):
            continue
        demo = alias in ctx.demo_aliases
        messages = prompts.expert_messages(
            expert.prompt, state["message"], results, passages, state.get("history", []), feedback
        )
        parts: list[str] = []
        stream = ctx.llm.astream(alias, messages)
        try:
            async for token in stream:
                parts.append(token)
                tokens += 1
                if not demo:  # a demo model's raw draft (often its own prompt) is never shown unverified
                    runtime.stream_writer(
                        {"event": "token", "expert": name, "text": token, "revision": feedback is not None}
                    )
        except Exception as exc:  # a model that is down or times out: keep the grounded answer, say why
            runtime.stream_writer(
                {"event": "model_error", "expert": name, "error": f"{type(exc).__name__}: {exc}"}
            )
            drafts[name] = ""
            continue
        drafts[name] = finished_part("".join(parts)) if stream.cut_off else "".join(parts)
    return drafts, tokens


async def _fill_gaps(
    ctx: AgentContext, state: AgentState, extraction: Extraction, tool: Tool
) -> Extraction | None:
    """Let the expert's model propose missing inputs; fill_gaps rejects any value not traceable to the text."""
    chosen = state["gate"].chosen
    alias = state.get("model_override") or (ctx.experts[chosen[0]].model if chosen else ctx.verifier_alias)

    async def ask(prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
        return await ctx.llm.acomplete_json(
            alias, prompts.user_prompt(prompt), schema, max_tokens=96, temperature=0.0
        )

    try:
        return await fill_gaps(state["message"], extraction, tool, ask)
    except Exception:  # the deterministic extraction stands on its own
        return None


async def _llm_gate(ctx: AgentContext, alias: str, message: str) -> str | None:
    names = list(ctx.experts)
    descriptions = {n: ctx.experts[n].description for n in names}
    try:
        out = await ctx.llm.acomplete_json(
            alias, prompts.router_messages(descriptions, message), prompts.router_schema(names),
            max_tokens=24, temperature=0.0,
        )  # fmt: skip
    except Exception:
        return None
    choice = out.get("expert")
    return choice if isinstance(choice, str) and choice in names else None


def _cite(commentary: Commentary, use_commentary: bool, passages: list[dict[str, Any]]) -> Cited:
    """The passages quoted (when the model's commentary is not used) or the commentary, citations renumbered."""
    quoted = "" if use_commentary else quoted_passages(passages)
    return cited_sources([quoted, commentary.text if use_commentary else ""], passages)


def _verification(
    rounds: list[dict[str, Any]], per_expert: dict[str, Any], verdict: str, commentary: Commentary,
    use_commentary: bool, cited: Cited,
) -> dict[str, Any]:  # fmt: skip
    """The verdict, every claim of every round, and what was removed or flagged.

    Each claim keeps its text as verification saw it (passages cited by rank); the claims the answer shows
    also carry `shown`, the text as the answer shows it (its [n] renumbered as the answer's sources).
    """
    claims = []
    for i, r in enumerate(rounds, 1):
        for name, v in r["experts"].items():
            for c in v["claims"]:
                claim = dict(c, expert=name, round=i)
                if use_commentary and i == len(rounds) and c["status"] in ("supported", "flagged"):
                    claim["shown"] = renumber(claim_with_citation(c), cited.numbers)
                claims.append(claim)
    return {
        "rounds": rounds, "experts": per_expert,  # the trace
        "verdict": verdict, "claims": claims,
        "removed": sum(c["status"] in ("unsupported", "contradicted") for c in claims),
        "flagged": commentary.flagged if use_commentary else 0,
        "fallback_to_grounded": bool(per_expert) and not use_commentary, "revised": len(rounds) > 1,
    }  # fmt: skip


async def _with_sections(ctx: AgentContext, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each passage with the text of its whole section, which a cited source opens to (optional: without
    the database, or if the lookup fails, a source opens to its passage)."""
    if not hits or ctx.tool_context.pool is None:
        return hits
    try:
        sections = await section_texts(ctx.tool_context.pool, [h["chunk_id"] for h in hits])
    except Exception:
        return hits
    return [{**h, "section_text": sections[h["chunk_id"]]} if h["chunk_id"] in sections else h for h in hits]
