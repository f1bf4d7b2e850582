"""Everything the agent asks a model, in one place: drafts and revisions, entailment, tool choice, routing.

(Gap filling's prompt belongs to the classification tools: `tools.classify.findings.fill_gaps`.)
Prompts are short because prompt evaluation dominates the cost of a turn on a CPU.
"""

from __future__ import annotations

from typing import Any

from agent.answer import quote_of, section_of, tool_summary
from tools.classify.base import ClassificationResult
from tools.knowledge.rerank import quote
from tools.knowledge.sentences import split_units
from tools.registry import Tool

Messages = list[dict[str, Any]]

PASSAGE_CHARS = 450  # per passage in prompts, in whole sentences: prompt evaluation dominates CPU overhead
PASSAGE_CHARS_WITH_RESULTS = 300  # a computed result answers; its passages only support it (bench/turn.py)
FEEDBACK_CHARS = (
    160  # the unsupported statements named to a revision (a model's copy of its prompt can run long)
)
PROMPT_PASSAGES = 3  # the best three; verification still checks against every relevant passage
PROMPT_PASSAGES_WITH_RESULTS = (
    2  # a computed result answers; passages only support it (as many as are quoted)
)


def expert_messages(
    system_prompt: str,
    question: str,
    tool_results: list[ClassificationResult],
    passages: list[dict[str, Any]],
    history: list[dict[str, str]],
    feedback: str | None = None,
) -> Messages:
    """The chat messages for an expert's draft (or its one revision, with `feedback`)."""
    facts = (
        "\n\n".join(tool_summary(r, for_prompt=True) for r in tool_results)
        or "No classification tool applied."
    )
    shown = enumerate(passages[: PROMPT_PASSAGES_WITH_RESULTS if tool_results else PROMPT_PASSAGES], 1)
    limit = PASSAGE_CHARS_WITH_RESULTS if tool_results else PASSAGE_CHARS
    numbered = "\n\n".join(f"[{i}] {section_of(h)}\n{prompt_quote(h, limit)}" for i, h in shown)
    numbered = numbered or "No guideline passage was found."
    # Earlier questions give a follow-up its context; earlier answers are left out: the current tool
    # result already carries the recomputed finding, and small models copy stale figures from them.
    # Everything goes in one user turn, since some chat templates require alternating roles. How to answer
    # (few sentences, cite [n], nothing not written) is each expert's system prompt's rules: evaluated once
    # and kept (system_prefix_cache), where a reminder here would be evaluated on every turn.
    earlier = [m["content"] for m in history if m["role"] == "user"][-2:]
    parts = [
        f"Question: {question}",
        *([f"Earlier questions in this conversation: {' | '.join(earlier)}"] if earlier else []),
        f"Tool results (computed, authoritative):\n{facts}",
        f"Guideline passages:\n{numbered}",
        *(
            [
                f"Your previous answer had unsupported statements: {feedback.rstrip('.')}. Rewrite it without them."
            ]
            if feedback
            else []
        ),
    ]
    content = "\n\n".join(parts)
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


def feedback_of(problems: list[str], limit: int = FEEDBACK_CHARS) -> str:
    """The unsupported statements a revision is told about: whole ones, in order, within `limit` (the first
    one cut to it if longer). Every character is evaluated again on the revision's prompt."""
    kept: list[str] = []
    for problem in (" ".join(p.split()) for p in problems):
        if kept and len("; ".join([*kept, problem])) > limit:
            break
        kept.append(problem if kept or len(problem) <= limit else problem[: limit - 1].rstrip() + "…")
    return "; ".join(kept) or "too little support"


def prompt_quote(hit: dict[str, Any], limit: int = PASSAGE_CHARS) -> str:
    """The passage as a model reads it: its most relevant run of whole sentences within `limit` (search's
    sentence scores), at least one. A sentence cut in half can say the opposite of the whole; a table's
    first rows are rarely the row asked about.

    Hits stored before sentence scores existed: the opening whole sentences of their quote (which opens on
    the most relevant one) within `limit`.
    """
    text = str(hit["text"])
    scores = list(hit.get("sentence_scores") or [])
    units = split_units(text)
    if scores and len(scores) == len(units):
        return quote(text, tuple(units), tuple(scores), limit).strip()
    text = quote_of(hit)
    units = split_units(text)
    if len(text) <= limit or not units:
        return text
    end = units[0].end
    for unit in units[1:]:
        if unit.end - units[0].start > limit:
            break
        end = unit.end
    return text[units[0].start : end]


def entailment_messages(claims: list[str], passages: list[str]) -> Messages:
    """Ask whether the passages state each claim; `passages` are the supporting sentences, whole
    (agent.verify.supporting_sentences), never cut here."""
    numbered = "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))
    listed = "\n".join(f"{i}. {c}" for i, c in enumerate(claims, 1))
    return [
        {
            "role": "user",
            "content": (
                f"Passages:\n{numbered}\n\nClaims:\n{listed}\n\nFor each claim, in order, answer 'yes' if the "
                "passages state it and 'no' otherwise."
            ),
        }
    ]


def entailment_schema(n: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "verdicts": {"type": "array", "items": {"enum": ["yes", "no"]}, "minItems": n, "maxItems": n}
        },
        "required": ["verdicts"],
    }


def tool_choice_messages(system_prompt: str, message: str, tools: list[Tool]) -> Messages:
    """Offer tools to an expert's model (natively, or followed by `tool_choice_schema`)."""
    listing = "\n".join(f"- {t.name}: {t.description}" for t in tools)
    return [
        {"role": "system", "content": system_prompt},
        {
            "role": "user",
            "content": f"Message: {message}\n\nTools:\n{listing}\n\n"
            "Call a tool only if the message states every input it needs; otherwise call none.",
        },
    ]


def tool_choice_schema(names: list[str]) -> dict[str, Any]:
    """Grammar-constrained tool choice for models without native tool calling: one name, or 'none'."""
    return {"type": "object", "properties": {"tool": {"enum": [*names, "none"]}}, "required": ["tool"]}


def tool_arguments_messages(choice_messages: Messages, choice: str) -> Messages:
    """After a grammar-constrained choice, ask for the chosen tool's arguments (its input schema)."""
    return [
        *choice_messages,
        {"role": "assistant", "content": f"Tool: {choice}"},
        {"role": "user", "content": f"Give the arguments of {choice}, taken from the message only."},
    ]


def router_messages(descriptions: dict[str, str], message: str) -> Messages:
    """Ask the optional LLM gate which expert should answer (see `router_schema`)."""
    listing = "\n".join(f"- {name}: {description}" for name, description in descriptions.items())
    prompt = f"Experts:\n{listing}\n\nMessage: {message}\n\nWhich expert should answer?"
    return [{"role": "user", "content": prompt}]


def router_schema(names: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {"expert": {"enum": names}}, "required": ["expert"]}


def user_prompt(prompt: str) -> Messages:
    """A prompt written elsewhere (gap filling's) as a chat."""
    return [{"role": "user", "content": prompt}]
