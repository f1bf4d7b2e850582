"""Prompts for the experts and the answer the user reads: tool results first, verified text, sources.

The grounded answer is assembled from tool results and cited passages only; it is what a weak model
still delivers when its own draft does not survive verification.
"""

from __future__ import annotations

import re
from typing import Any

from tools.knowledge.search import section_below_title

PASSAGE_CHARS = 450  # per passage in prompts: a guideline paragraph; prompt evaluation dominates CPU overhead
PROMPT_PASSAGES = 3  # the best three; verification still checks against every relevant passage
MIN_SIMILARITY = 0.35  # a passage below this cosine similarity is not evidence for the question
MIN_SIMILARITY_WITH_KEYWORDS = 0.25


def relevant(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the passages close enough to the question to count as evidence."""
    keep = []
    for h in hits:
        similarity = h.get("semantic_similarity") or 0.0
        if similarity >= MIN_SIMILARITY or (
            h.get("keyword_rank") is not None and similarity >= MIN_SIMILARITY_WITH_KEYWORDS
        ):
            keep.append(h)
    return keep


def section_of(hit: dict[str, Any]) -> str:
    """The heading path below the document title ('Single solid nodule', 'Categories > 4A')."""
    return section_below_title(list(hit.get("heading_path") or []), hit.get("title")) or str(
        hit.get("section") or ""
    )


def cite(hit: dict[str, Any]) -> str:
    who = " ".join(p for p in (hit.get("society"), f"({hit['year']})" if hit.get("year") else None) if p)
    parts = [p for p in (who, hit.get("title"), section_of(hit)) if p]
    if hit.get("page") is not None:
        parts.append(f"p. {hit['page']}")
    return ", ".join(parts)


def tool_summary(result: dict[str, Any], *, for_prompt: bool = False) -> str:
    """A tool result as a few lines: category, management, the rule that fired, citation, caveats.

    `for_prompt` leaves out the citation and caveats: the model needs the facts, and a shorter
    prompt is processed faster on a CPU.
    """
    if result.get("not_applicable"):
        return f"**{result['guideline']}: not applicable.** {result['not_applicable']}"
    if not result.get("category"):
        missing = ", ".join(m.replace("_", " ") for m in result.get("missing", []))
        return f"**{result['guideline']}: cannot classify yet** — needed: {missing or 'more findings'}."
    modifiers = "".join(result.get("modifiers") or [])
    lines = [f"**{result['guideline']}: {result['category']}{modifiers}**"]
    if result.get("management"):
        lines.append(f"Management: {result['management']}")
    if result.get("risk"):
        lines.append(f"Risk: {result['risk']}")
    if result.get("rationale"):
        lines.append("Rule that fired: " + "; ".join(r.rstrip(". ") for r in result["rationale"]) + ".")
    if for_prompt:
        return "\n".join(lines)
    lines.append(f"Source: {result['citation']}")
    for caveat in result.get("caveats", []):
        lines.append(f"Caveat: {caveat}")
    return "\n".join(lines)


def expert_messages(
    system_prompt: str,
    question: str,
    tool_results: list[dict[str, Any]],
    passages: list[dict[str, Any]],
    history: list[dict[str, str]],
    feedback: str | None = None,
) -> list[dict[str, str]]:
    """The chat messages for an expert's draft (or its one revision, with `feedback`)."""
    facts = (
        "\n\n".join(tool_summary(r, for_prompt=True) for r in tool_results)
        or "No classification tool applied."
    )
    shown = enumerate(passages[:PROMPT_PASSAGES], 1)
    numbered = "\n\n".join(f"[{i}] {section_of(h)}\n{h['text'][:PASSAGE_CHARS]}" for i, h in shown)
    numbered = numbered or "No guideline passage was found."
    # Earlier questions give a follow-up its context; earlier answers are left out: the current tool
    # result already carries the recomputed finding, and small models copy stale figures from them.
    # Everything goes in one user turn, since some chat templates require alternating roles.
    earlier = [m["content"] for m in history if m["role"] == "user"][-2:]
    parts = [
        f"Question: {question}",
        *([f"Earlier questions in this conversation: {' | '.join(earlier)}"] if earlier else []),
        f"Tool results (computed, authoritative):\n{facts}",
        f"Guideline passages:\n{numbered}",
        "Answer in at most 4 short sentences. State only what the tool results and passages say; cite "
        "passages as [n]. Do not add categories, sizes or intervals that are not written above.",
        *(
            [f"Your previous answer had unsupported statements: {feedback}. Rewrite it without them."]
            if feedback
            else []
        ),
    ]
    content = "\n\n".join(parts)
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


def entailment_messages(claims: list[str], passages: list[str]) -> list[dict[str, str]]:
    numbered = "\n".join(f"[{i}] {p[:PASSAGE_CHARS]}" for i, p in enumerate(passages, 1))
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


def _first_sentences(text: str, n: int = 2, limit: int = 400) -> str:
    body = re.sub(r"^#+\s.*$", "", text, flags=re.M)
    body = re.sub(r"\s+", " ", body).strip()
    sentences = re.split(r"(?<=[.!?])\s+", body)
    out = " ".join(sentences[:n])
    return out if len(out) <= limit else out[: limit - 1].rsplit(" ", 1)[0] + "…"


def grounded_answer(tool_results: list[dict[str, Any]], passages: list[dict[str, Any]]) -> str:
    """Assemble an answer from tool results and cited passages only."""
    parts = [tool_summary(r) for r in tool_results]
    if passages:
        quoted = [f"- {_first_sentences(h['text'])} [{i}]" for i, h in enumerate(passages[:2], 1)]
        parts.append("From the guideline library:\n" + "\n".join(quoted))
    return "\n\n".join(parts)


def cannot_answer(questions: list[str]) -> str:
    """What to say when no tool or passage supports an answer: say so, and what would be needed."""
    text = (
        "I cannot answer this from the classification tools or the guideline library, so I will not guess. "
    )
    if questions:
        return text + "To classify the finding I need:\n" + "\n".join(f"- {q}" for q in questions)
    return text + (
        "I would need findings that one of the supported systems covers (for example a lung, thyroid, liver, "
        "kidney, adrenal, prostate, breast or adnexal lesion with its size and features), or a topic the "
        "guideline library covers (contrast media, MRI safety)."
    )


def source_name(n: int) -> str:
    """How source n is named in answers (and as the chat UI's side element): [n] in the text refers to it."""
    return f"Source {n}"


def sources_block(passages: list[dict[str, Any]]) -> str:
    if not passages:
        return ""
    return "**Sources**\n" + "\n".join(
        f"- {source_name(i)} [{i}]: {cite(h)}" for i, h in enumerate(passages, 1)
    )
