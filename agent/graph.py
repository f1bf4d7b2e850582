"""The LangGraph agent: gate -> gather (tools + retrieval) -> draft -> verify (-> revise) -> finalize.

Deterministic first: the extractor and the classification tools run whatever the model does, and
the answer always leads with their results. The model drafts commentary grounded in tool results
and retrieved passages; verification keeps only what the evidence supports.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from agent.answer import (
    cannot_answer,
    cite,
    entailment_messages,
    entailment_schema,
    expert_messages,
    grounded_answer,
    relevant,
    section_of,
    sources_block,
)
from agent.findings import merge_inputs, missing_questions, read_findings
from agent.gate import Gate, decision_from_dict
from agent.state import AgentState
from agent.tool_calls import model_tool_calls
from agent.verify import Evidence, Verification, verify
from experts import Expert
from tools.classify.findings import classify_inputs, fill_gaps
from tools.registry import ToolContext, ToolRegistry

RECURSION_LIMIT = 25


@dataclass
class AgentDeps:
    """What the graph needs; tests pass fakes for `llm` (same methods as agent.gateway.Gateway)."""

    llm: Any
    registry: ToolRegistry
    tool_context: ToolContext
    experts: dict[str, Expert]
    gate: Gate
    router_alias: str | None = None
    verifier_alias: str = "default"
    retrieval_k: int = 5
    fill_gaps_with_model: bool = True
    demo_aliases: frozenset[str] = frozenset()
    """Aliases marked `demo: true` in models.yaml: they draft nothing unless `draft_with_demo_models`."""
    draft_with_demo_models: bool = False
    retrieval: bool = True
    """False skips guideline_search, so `radassist eval --rag off` measures a model without retrieval."""


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _emit(event: str, **data: Any) -> None:
    get_stream_writer()({"event": event, **data})


def build_graph(deps: AgentDeps, checkpointer: Any = None) -> Any:
    """Compile the agent graph over `deps`, checkpointed by `checkpointer` (None: no memory)."""

    async def route(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        decision = await deps.gate.route(
            state["message"], override=state.get("expert_override"), previous=state.get("last_experts", [])
        )
        if deps.router_alias and decision.reason != "user override":
            decision = Gate.refine(decision, await _llm_gate(deps, state["message"]))
        _emit("step", name="gate", data=decision.as_dict())
        return {
            "gate": decision.as_dict(), "extraction": None, "carried": {}, "restated": None, "tool_calls": [], "passages": [],
            "retrieved_chunk_ids": [], "questions": [], "drafts": {}, "verification": {}, "revised": False,
            "answer": "", "verdict": "", "citations": [], "generated_tokens": 0, "timings_ms": {"gate": _ms(start)},
        }  # fmt: skip

    async def gather(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        message = state["message"]
        memory = dict(state.get("findings") or {})
        last_systems = list(state.get("last_systems") or [])
        update: dict[str, Any] = {}
        tool_calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        ranked = list(state["gate"]["chosen"])
        if state["gate"]["reason"] == "user override":  # the user's expert may lack the findings' system
            ranked.append(state["gate"]["experts"][0]["name"])
        hints = list(dict.fromkeys(
            t for name in ranked for t in deps.experts[name].tools
            if t in deps.registry and deps.registry.get(t).kind == "classification"
        ))  # fmt: skip
        texts = dict(state.get("finding_texts") or {})
        turn = read_findings(message, memory, last_systems, deps.registry, hints, texts)
        if turn is not None:
            tool = deps.registry.get(turn.system)
            result, inputs = turn.result, turn.inputs
            assert result is not None
            if result.missing and deps.fill_gaps_with_model:
                filled = await _fill_gaps(deps, state, message, turn.extraction, tool)
                if filled is not None and filled.inputs != turn.extraction.inputs:
                    inputs, _ = merge_inputs(turn.inputs, filled.inputs, tool)
                    result = classify_inputs(tool, inputs, filled)
                    turn.extraction = filled
            call = {"tool": tool.name, "input": inputs, "output": result.model_dump(), "via": f"deterministic extraction ({turn.how})",
                    "carried": turn.carried, "evidence": turn.extraction.evidence,
                    "rejected": turn.extraction.rejected}  # fmt: skip
            tool_calls.append(call)
            results.append(result.model_dump())
            memory[tool.name] = inputs
            if turn.extraction.inputs and not turn.carried:
                texts[tool.name] = message  # a finding stated in full; follow-ups restate it
            update.update(
                restated=turn.read_from if turn.read_from != message else None,
                findings=memory,
                finding_texts=texts,
                last_systems=[tool.name],
                extraction=turn.extraction.model_dump(),
                carried=turn.carried,
                questions=missing_questions(tool, result),
            )
            _emit("step", name=f"tool:{tool.name}", data=call)
        tools_ms = _ms(start)

        start = time.perf_counter()
        query = message
        system = results[0]["system"] if results else None
        if results:
            query = f"{message} {results[0]['guideline']} {results[0].get('category') or ''}".strip()
        search = {"query": query, "k": deps.retrieval_k, **({"system": system} if system else {})}
        hits: list[dict[str, Any]] = []
        try:
            if deps.retrieval:  # off only in `radassist eval --rag off`
                out = await deps.registry.get("guideline_search").arun(search, deps.tool_context)
                hits = [h.model_dump() for h in out.hits]  # type: ignore[attr-defined]
                tool_calls.append(
                    {"tool": "guideline_search", "input": search, "output": {"hits": hits}, "via": "always"}
                )
        except Exception as exc:  # retrieval down must not lose the deterministic answer
            hits = []
            tool_calls.append({"tool": "guideline_search", "input": search, "output": None, "via": "always",
                               "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        passages = relevant(hits)
        _emit(
            "step",
            name="retrieval",
            data={"query": query, "hits": hits, "used": [p["chunk_id"] for p in passages]},
        )
        if any(r.get("category") or r.get("not_applicable") for r in results) or passages:
            _emit("preview", text=grounded_answer(results, passages))  # what is known before any model runs
        timings = {**state.get("timings_ms", {}), "tools": tools_ms, "retrieval": _ms(start)}
        return {
            **update,
            "tool_calls": tool_calls,
            "passages": passages,
            "retrieved_chunk_ids": [h["chunk_id"] for h in hits],
            "timings_ms": timings,
        }

    async def choose_tools(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        calls = await model_tool_calls(deps, state)
        for call in calls:
            _emit("step", name=f"tool:{call['tool']}", data=call)
        questions = [c["question"] for c in calls if c.get("question")]
        timings = {**state.get("timings_ms", {}), "model_tools": _ms(start)}
        return {
            "tool_calls": [*state.get("tool_calls", []), *calls],
            "questions": [*state.get("questions", []), *questions],
            "timings_ms": timings,
        }

    async def draft(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        drafts, tokens = await _draft_all(deps, state, state["gate"]["chosen"], feedback=None)
        timings = {**state.get("timings_ms", {}), "generation": _ms(start)}
        return {"drafts": drafts, "generated_tokens": tokens, "timings_ms": timings}

    async def check(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        evidence = _evidence(state)
        per_expert = {}
        for name, text in state.get("drafts", {}).items():
            per_expert[name] = (await verify(text, evidence, _entailer(deps))).as_dict()
        timings = {**state.get("timings_ms", {})}
        timings["verification"] = timings.get("verification", 0) + _ms(start)
        rounds = [*state.get("verification", {}).get("rounds", []), {"experts": per_expert}]
        _emit("step", name="verification", data={"round": len(rounds), "experts": per_expert})
        return {"verification": {"rounds": rounds, "experts": per_expert}, "timings_ms": timings}

    def after_check(state: AgentState) -> Literal["revise", "finalize"]:
        failing = [n for n, v in state["verification"]["experts"].items() if v["needs_revision"]]
        return "revise" if failing and not state.get("revised") else "finalize"

    async def revise(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        failing = {n: v for n, v in state["verification"]["experts"].items() if v["needs_revision"]}
        drafts = dict(state["drafts"])
        tokens = state.get("generated_tokens", 0)
        for name, v in failing.items():
            problems = "; ".join(
                c["text"] for c in v["claims"] if c["status"] in ("unsupported", "contradicted")
            )
            new, n = await _draft_all(deps, state, [name], feedback=problems[:300] or "too little support")
            drafts.update(new)
            tokens += n
        timings = {**state.get("timings_ms", {})}
        timings["generation"] = timings.get("generation", 0) + _ms(start)
        return {"drafts": drafts, "revised": True, "generated_tokens": tokens, "timings_ms": timings}

    async def finalize(state: AgentState) -> dict[str, Any]:
        return _finalize(deps, state)

    builder = StateGraph(AgentState)
    builder.add_node("route", route)
    builder.add_node("gather", gather)
    builder.add_node("draft", draft)
    builder.add_node("verify", check)
    builder.add_node("revise", revise)
    builder.add_node("finalize", finalize)
    builder.add_edge(START, "route")
    builder.add_edge("route", "gather")
    builder.add_node("model_tools", choose_tools)
    builder.add_edge("gather", "model_tools")
    builder.add_edge("model_tools", "draft")
    builder.add_edge("draft", "verify")
    builder.add_conditional_edges("verify", after_check, ["revise", "finalize"])
    builder.add_edge("revise", "verify")
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer)


def _outputs(state: AgentState) -> list[dict[str, Any]]:
    return [
        c["output"]
        for c in state.get("tool_calls", [])
        if c["tool"] != "guideline_search" and c.get("output")
    ]


def _is_classification(output: dict[str, Any]) -> bool:
    return "system" in output and "guideline" in output and "citation" in output


def _evidence(state: AgentState) -> Evidence:
    return Evidence(tool_results=_outputs(state), passages=[p["text"] for p in state.get("passages", [])])


def _tool_results(state: AgentState) -> list[dict[str, Any]]:
    """Classification results (category, management, citation); other tools' outputs are shown as data."""
    return [o for o in _outputs(state) if _is_classification(o)]


def _other_outputs(state: AgentState) -> list[str]:
    lines = []
    for c in state.get("tool_calls", []):
        if c["tool"] != "guideline_search" and c.get("output") and not _is_classification(c["output"]):
            fields = "; ".join(f"{k}: {v}" for k, v in c["output"].items())
            lines.append(f"**{c['tool']}** ({c['via']}): {fields}")
    return lines


def _entailer(deps: AgentDeps) -> Callable[[list[str], list[str]], Awaitable[list[bool]]]:
    async def entail(claims: list[str], passages: list[str]) -> list[bool]:
        try:
            out = await deps.llm.acomplete_json(
                deps.verifier_alias,
                entailment_messages(claims, passages),
                entailment_schema(len(claims)),
                max_tokens=6 * len(claims) + 24,
                temperature=0.0,
            )
            verdicts = out.get("verdicts", [])
        except Exception:  # no verdict is a "no": unverifiable claims stay flagged
            return [False] * len(claims)
        return [v == "yes" for v in verdicts] if len(verdicts) == len(claims) else [False] * len(claims)

    return entail


async def _draft_all(
    deps: AgentDeps, state: AgentState, names: list[str], feedback: str | None
) -> tuple[dict[str, str], int]:
    """Stream each chosen expert's draft; nothing to ground on means no draft (and no guessing)."""
    results, passages = _tool_results(state), state.get("passages", [])
    if not results and not passages:
        return {}, 0
    writer = get_stream_writer()
    drafts: dict[str, str] = {}
    tokens = 0
    for name in names:
        expert = deps.experts[name]
        alias = state.get("model_override") or expert.model
        demo = alias in deps.demo_aliases
        if demo and not deps.draft_with_demo_models:
            continue  # a demo model's commentary would only be removed by verification
        messages = expert_messages(
            expert.prompt, state["message"], results, passages, state.get("history", []), feedback
        )
        parts: list[str] = []
        try:
            async for token in deps.llm.astream(alias, messages):
                parts.append(token)
                tokens += 1
                if not demo:  # a demo model's raw draft (often its own prompt) is never shown unverified
                    writer(
                        {"event": "token", "expert": name, "text": token, "revision": feedback is not None}
                    )
        except Exception as exc:  # a model that is down or times out: keep the grounded answer, say why
            writer({"event": "model_error", "expert": name, "error": f"{type(exc).__name__}: {exc}"})
            drafts[name] = ""
            continue
        drafts[name] = "".join(parts)
    return drafts, tokens


async def _fill_gaps(deps: AgentDeps, state: AgentState, message: str, extraction: Any, tool: Any) -> Any:
    """Let the expert's model propose missing inputs; fill_gaps rejects any value not traceable to the text."""
    chosen = state.get("gate", {}).get("chosen") or []
    alias = state.get("model_override") or (deps.experts[chosen[0]].model if chosen else deps.verifier_alias)

    async def ask(prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
        return await deps.llm.acomplete_json(  # type: ignore[no-any-return]
            alias, [{"role": "user", "content": prompt}], schema, max_tokens=96, temperature=0.0
        )

    try:
        return await fill_gaps(message, extraction, tool, ask)
    except Exception:  # the deterministic extraction stands on its own
        return None


async def _llm_gate(deps: AgentDeps, message: str) -> str | None:
    names = list(deps.experts)
    listing = "\n".join(f"- {n}: {deps.experts[n].description}" for n in names)
    schema = {"type": "object", "properties": {"expert": {"enum": names}}, "required": ["expert"]}
    prompt = f"Experts:\n{listing}\n\nMessage: {message}\n\nWhich expert should answer?"
    try:
        out = await deps.llm.acomplete_json(
            deps.router_alias, [{"role": "user", "content": prompt}], schema, max_tokens=24, temperature=0.0
        )
    except Exception:
        return None
    choice = out.get("expert")
    return choice if choice in names else None


def _merge_kept(verifications: dict[str, Verification | dict[str, Any]]) -> tuple[str, int, int]:
    """Join the surviving claims of every expert, dropping near-duplicates; count removed and flagged."""
    seen: list[set[str]] = []
    kept: list[str] = []
    removed = flagged = 0
    for v in verifications.values():
        claims = v["claims"] if isinstance(v, dict) else [c.__dict__ for c in v.claims]
        for c in claims:
            if c["status"] in ("unsupported", "contradicted"):
                removed += 1
                continue
            words = set(c["text"].lower().split())
            if any(len(words & s) / max(1, len(words | s)) >= 0.8 for s in seen):
                continue
            seen.append(words)
            if c["status"] == "flagged":
                flagged += 1
                kept.append(f"{c['text']} ⚠ (not verified)")
            else:
                kept.append(c["text"])
    return " ".join(kept), removed, flagged


def _finalize(deps: AgentDeps, state: AgentState) -> dict[str, Any]:
    start = time.perf_counter()
    results = _tool_results(state)
    passages = state.get("passages", [])
    questions = state.get("questions", [])
    per_expert = state.get("verification", {}).get("experts", {})
    model_text, removed, flagged = _merge_kept(per_expert)
    still_failing = any(v["needs_revision"] for v in per_expert.values())
    fallback = bool(per_expert) and (still_failing or not model_text)
    decided = [r for r in results if r.get("category") or r.get("not_applicable")]
    other = _other_outputs(state)

    if not decided and not passages and not other:
        answer, verdict = cannot_answer(questions), "unverified"
    else:
        parts = [*other, grounded_answer(results, passages if fallback or not per_expert else [])]
        if model_text and not fallback:
            parts.append(model_text)
        if questions:
            parts.append(
                "To complete the classification, please tell me:\n" + "\n".join(f"- {q}" for q in questions)
            )
        if state.get("restated"):
            parts.append(f"Recomputed from the earlier finding with the new value: “{state['restated']}”.")
        carried = state.get("carried") or {}
        if carried:
            listed = ", ".join(f"{k.replace('_', ' ')} = {v}" for k, v in carried.items())
            parts.append(f"Carried over from earlier in this conversation: {listed}.")
        parts.append(sources_block(passages))
        answer = "\n\n".join(p for p in parts if p)
        verdict = "partially_verified" if (flagged and not fallback) else "verified"
    rounds = state.get("verification", {}).get("rounds", [])
    claims = [
        dict(c, expert=name, round=i)
        for i, r in enumerate(rounds, 1)
        for name, v in r["experts"].items()
        for c in v["claims"]
    ]
    removed = sum(c["status"] in ("unsupported", "contradicted") for c in claims)
    verification = {
        "verdict": verdict, "claims": claims, "removed": removed, "flagged": 0 if fallback else flagged,
        "fallback_to_grounded": fallback, "revised": bool(state.get("revised")),
    }  # fmt: skip
    citations = [
        {"n": i, "chunk_id": h["chunk_id"], "source": h["source"], "title": h["title"], "society": h.get("society"),
         "year": h.get("year"), "section": section_of(h), "page": h.get("page"), "url": h.get("url"),
         "citation": cite(h), "text": h["text"]}
        for i, h in enumerate(passages, 1)
    ]  # fmt: skip
    chosen = decision_from_dict(state["gate"]).chosen
    timings = {**state.get("timings_ms", {}), "finalize": _ms(start)}
    _emit("step", name="answer", data={"verdict": verdict, "answer": answer})
    return {
        "answer": answer,
        "verdict": verdict,
        "verification": {**state.get("verification", {}), **verification},  # rounds and experts: the trace
        "citations": citations,
        "history": [{"role": "user", "content": state["message"]}, {"role": "assistant", "content": answer}],
        "last_experts": chosen,
        "timings_ms": timings,
    }
