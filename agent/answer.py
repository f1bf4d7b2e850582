"""The answer the user reads: tool results first, verified text, questions, sources.

The grounded answer is assembled from tool results and cited passages only; it is what a weak model
still delivers when its own draft does not survive verification. (What models are asked is in
`agent/prompts.py`.)
"""

from __future__ import annotations

import re
from typing import Any

from tools.classify.base import ClassificationResult
from tools.knowledge.search import section_below_title

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


def tool_summary(result: ClassificationResult, *, for_prompt: bool = False) -> str:
    """A tool result as a few lines: category, management, the rule that fired, citation, caveats.

    `for_prompt` leaves out the citation and caveats: the model needs the facts, and a shorter
    prompt is processed faster on a CPU.
    """
    if result.not_applicable:
        return f"**{result.guideline}: not applicable.** {result.not_applicable}"
    if not result.category:
        missing = ", ".join(m.replace("_", " ") for m in result.missing)
        return f"**{result.guideline}: cannot classify yet** — needed: {missing or 'more findings'}."
    modifiers = "".join(result.modifiers)
    lines = [f"**{result.guideline}: {result.category}{modifiers}**"]
    if result.management:
        lines.append(f"Management: {result.management}")
    if result.risk:
        lines.append(f"Risk: {result.risk}")
    if result.rationale:
        lines.append("Rule that fired: " + "; ".join(r.rstrip(". ") for r in result.rationale) + ".")
    if for_prompt:
        return "\n".join(lines)
    lines.append(f"Source: {result.citation}")
    for caveat in result.caveats:
        lines.append(f"Caveat: {caveat}")
    return "\n".join(lines)


def _first_sentences(text: str, n: int = 2, limit: int = 400) -> str:
    body = re.sub(r"^#+\s.*$", "", text, flags=re.M)
    body = re.sub(r"\s+", " ", body).strip()
    sentences = re.split(r"(?<=[.!?])\s+", body)
    out = " ".join(sentences[:n])
    return out if len(out) <= limit else out[: limit - 1].rsplit(" ", 1)[0] + "…"


def grounded_answer(tool_results: list[ClassificationResult], passages: list[dict[str, Any]]) -> str:
    """Assemble an answer from tool results and cited passages only."""
    parts = [tool_summary(r) for r in tool_results]
    if passages:
        quoted = [f"- {_first_sentences(h['text'])} [{i}]" for i, h in enumerate(passages[:2], 1)]
        parts.append("From the guideline library:\n" + "\n".join(quoted))
    return "\n\n".join(parts)


def cannot_answer(questions: list[str], systems: list[str]) -> str:
    """What to say when no tool or passage supports an answer: say so, and what would be needed.

    `systems` are the classification systems' titles (`agent.capabilities.classification_systems`).
    """
    text = (
        "I cannot answer this from the classification tools or the guideline library, so I will not guess. "
    )
    if questions:
        return text + "To classify the finding I need:\n" + "\n".join(f"- {q}" for q in questions)
    return text + (
        f"I would need findings that one of the classification systems covers ({', '.join(systems)}), with "
        "their size and features, or a topic the guideline library covers."
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
