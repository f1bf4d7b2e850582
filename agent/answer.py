"""The answer the user reads: tool results first, checked commentary, questions, the sources it cites.

Passages are evidence by rank (1 = most relevant; the search already dropped those below its relevance
floor) and are written [rank] in prompts, drafts and the verification trace. The answer quotes them at
sentence boundaries; `cited_sources` then lists only the passages the answer cites, numbered in the order
a reader meets them, and rewrites every [rank] to that number. `verdict_of` says what verification did,
in one of four words (VERDICT_WORDS). (What models are asked is in `agent/prompts.py`.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.state import ReportTurn
from tools.classify.base import ClassificationResult
from tools.classify.report import render_table
from tools.knowledge.search import section_below_title


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


def result_lines(
    guideline: str, category: str, modifiers: Sequence[str], management: str | None, risk: str | None
) -> list[str]:
    """How a computed category is shown, to an expert's model and in the answer: its category line, its
    management, its risk. Verification accepts a statement that repeats one of them word for word."""
    lines = [f"**{guideline}: {category}{''.join(modifiers)}**"]
    if management:
        lines.append(f"Management: {management}")
    if risk:
        lines.append(f"Risk: {risk}")
    return lines


def tool_summary(result: ClassificationResult, *, for_prompt: bool = False) -> str:
    """A tool result as a few lines: category, management, the rule that fired, citation, caveats.

    `for_prompt` leaves out the rule that fired, the citation and the caveats: the model needs the
    facts (the answer shows the rest verbatim from the tool), and a shorter prompt is processed faster
    on a CPU.
    """
    if result.not_applicable:
        return f"**{result.guideline}: not applicable.** {result.not_applicable}"
    if not result.category:
        missing = ", ".join(m.replace("_", " ") for m in result.missing)
        return f"**{result.guideline}: cannot classify yet** — needed: {missing or 'more findings'}."
    lines = result_lines(result.guideline, result.category, result.modifiers, result.management, result.risk)
    if for_prompt:
        return "\n".join(lines)
    if result.rationale:
        lines.append("Rule that fired: " + "; ".join(r.rstrip(". ") for r in result.rationale) + ".")
    lines.append(f"Source: {result.citation}")
    for caveat in result.caveats:
        lines.append(f"Caveat: {caveat}")
    return "\n".join(lines)


# --- passages: what the answer quotes --------------------------------------------------------------------

QUOTED_PASSAGES = 2  # the grounded answer quotes the best passages of this many sections
_LIST_ITEM = re.compile(r"^(?:[-*+•]|\d+[.)])\s+")
_CITED = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_CITED_WITH_SPACE = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def section_key(hit: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Passages of one section (overlapping chunks of it) are one source: it opens to the whole section."""
    return str(hit.get("source") or ""), tuple(hit.get("heading_path") or ())


def quote_of(hit: dict[str, Any]) -> str:
    """The passage at sentence boundaries: the search's quote (its most relevant sentences when long).

    Hits stored before quotes existed have none: they are short chunks, quoted whole.
    """
    return str(hit.get("quote") or hit["text"]).strip()


def _bullet(quote: str, citation: str) -> str:
    """A quote as one Markdown list item; a list inside it stays a (nested) list, a paragraph or table row
    stays a paragraph of its own (rows run together read as one row), and wrapped lines join."""
    lines: list[str] = []
    new_paragraph = False
    for raw in quote.splitlines():
        line = raw.strip()
        if not line:
            new_paragraph = bool(lines)
            continue
        if line.startswith("#"):
            continue
        if item := _LIST_ITEM.match(line):
            lines.append("  - " + line[item.end() :])
        elif lines and not lines[-1].startswith("  - "):
            if new_paragraph:
                lines += ["", "  " + line]  # a paragraph of the same item
            else:
                lines[-1] += " " + line  # a wrapped line of the same paragraph
        else:
            lines.append(line if not lines else "  " + line)
        new_paragraph = False
    if not lines:
        return ""
    first = lines[0]
    lines[0] = "- " + (first[4:] if first.startswith("  - ") else first)
    lines[-1] += f" {citation}"
    return "\n".join(lines)


def quoted_passages(passages: list[dict[str, Any]]) -> str:
    """The best passage of each of the first sections found, quoted whole-sentence, cited by its rank [n]."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    items = []
    for rank, hit in enumerate(passages, 1):
        if section_key(hit) in seen:
            continue
        seen.add(section_key(hit))
        if item := _bullet(quote_of(hit), f"[{rank}]"):
            items.append(item)
        if len(items) == QUOTED_PASSAGES:
            break
    return "From the guideline library:\n" + "\n".join(items) if items else ""


IGNORED_CHARS = 90  # an ignored finding is named, not quoted in full


def report_answer(report: ReportTurn) -> str:
    """A report turn's answer: the table first, then per finding what was assumed, the branches and the
    questions; the multiple-nodule rule; what was not classified and why; each finding's source."""
    findings = report.reading.findings
    parts = [render_table(findings)]
    if report.question:
        parts.append(report.question)
    elif report.how.startswith("follow-up"):
        changed = ", ".join(f"#{n}" for n in report.computed)
        parts.append(f"Recomputed {changed} with the new value; the other findings are as before.")
    dominant = next((f for f in findings if f.dominant), None)
    if dominant is not None and dominant.group_rule:
        parts.append(f"Several lung nodules. {dominant.group_rule}: #{dominant.number} ({dominant.label()}) is the "
                     "dominant nodule.")  # fmt: skip
    for f in findings:
        if report.computed and f.number not in report.computed:
            continue  # a follow-up: the other findings' notes were given with the report
        notes = [f"Assumed: {a}" for a in f.assumptions]
        notes += [
            f"If {b.if_}: {b.category}" + (f" ({b.management})" if b.management else "") for b in f.branches
        ]
        notes += [f"Please tell me {q}" for q in f.questions]
        if notes:
            parts.append(
                f"**#{f.number} {f.label()}** ({f.guideline}):\n" + "\n".join(f"- {n}" for n in notes)
            )
    ignored = report.reading.ignored
    if ignored and not report.how.startswith("follow-up"):
        parts.append("Not classified:\n" + "\n".join(f"- “{_shortened(i.text)}”: {i.why}" for i in ignored))
    parts.append("Rules from: " + "; ".join(f"#{f.number} {f.citation}" for f in findings) + ".")
    return "\n\n".join(parts)


def _shortened(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= IGNORED_CHARS else text[: IGNORED_CHARS - 1].rsplit(" ", 1)[0] + "…"


def grounded_answer(tool_results: list[ClassificationResult], passages: list[dict[str, Any]]) -> str:
    """An answer from tool results and quoted passages only (passages cited by their rank)."""
    parts = [tool_summary(r) for r in tool_results]
    if passages:
        parts.append(quoted_passages(passages))
    return "\n\n".join(p for p in parts if p)


# --- citations: only what the answer cites, numbered as first cited ------------------------------------------


@dataclass(frozen=True)
class Cited:
    """The answer's texts with citations renumbered, and the sources they cite in that order."""

    texts: list[str]
    numbers: dict[int, int]
    """Passage rank (its [n] in prompts, drafts and the verification trace) -> source number in the answer."""
    citations: list[dict[str, Any]]


def cited_sources(texts: list[str], passages: list[dict[str, Any]]) -> Cited:
    """Number the passages the texts cite in the order a reader meets them, and rewrite every [n].

    Markers refer to passages by rank (1 = best). A passage nobody cites is not a source. Two passages of
    one section are one source (the reader opens the whole section). A marker naming no passage is left
    as it is (verification removes claims that cite one).
    """
    numbers: dict[int, int] = {}
    by_section: dict[tuple[str, tuple[str, ...]], int] = {}
    first_rank: list[int] = []
    for text in texts:
        for marker in _CITED.finditer(text):
            for rank in (int(n) for n in marker.group(1).split(",")):
                if 1 <= rank <= len(passages) and rank not in numbers:
                    key = section_key(passages[rank - 1])
                    if key not in by_section:
                        by_section[key] = len(by_section) + 1
                        first_rank.append(rank)
                    numbers[rank] = by_section[key]
    rewritten = [renumber(text, numbers) for text in texts]
    citations = [citation(n, rank, passages[rank - 1]) for n, rank in enumerate(first_rank, 1)]
    return Cited(rewritten, numbers, citations)


def renumber(text: str, numbers: dict[int, int]) -> str:
    """Rewrite each [n] (and [n, m]) with the source numbers; ranks without a number stay as written."""

    def rewrite(marker: re.Match[str]) -> str:
        ranks = [int(n) for n in marker.group(1).split(",")]
        if not all(rank in numbers for rank in ranks):
            return marker.group(0)
        return "[" + ", ".join(str(n) for n in dict.fromkeys(numbers[r] for r in ranks)) + "]"

    return _CITED.sub(rewrite, text)


def citation(n: int, rank: int, hit: dict[str, Any]) -> dict[str, Any]:
    """Source n as `ask --json` and the chat UI show it: the document, section and page, the quote, the
    passage and its whole section (the text a reader opens)."""
    return {
        "n": n, "rank": rank, "chunk_id": hit["chunk_id"], "source": hit["source"], "title": hit["title"],
        "society": hit.get("society"), "year": hit.get("year"), "version": hit.get("version"),
        "section": section_of(hit), "page": hit.get("page"), "url": hit.get("url"), "citation": cite(hit),
        "quote": quote_of(hit), "text": hit["text"], "section_text": hit.get("section_text") or hit["text"],
    }  # fmt: skip


def source_name(n: int) -> str:
    """How source n is named in answers (and as the chat UI's side element): [n] in the text refers to it."""
    return f"Source {n}"


def sources_block(citations: list[dict[str, Any]]) -> str:
    if not citations:
        return ""
    return "**Sources**\n" + "\n".join(
        f"- {source_name(c['n'])} [{c['n']}]: {c['citation']}" for c in citations
    )


# --- the model's commentary and the verdict ----------------------------------------------------------------

Verdict = Literal["verified", "grounded", "partial", "cannot_answer"]

VERDICT_LABELS: dict[str, str] = {
    "verified": "Verified",
    "grounded": "From the tools and guidelines only",
    "partial": "Partly verified",
    "cannot_answer": "Cannot answer from the guideline library",
}
"""Each verdict's label, in words a clinician understands (the UI and the CLI show it with VERDICT_WORDS)."""

VERDICT_WORDS: dict[str, str] = {
    "verified": "the model's commentary was kept, and each of its statements was checked against the "
    "classification tools and guideline passages",
    "grounded": "answer built from the classification tools and guideline passages only; the model's "
    "commentary was not used",
    "partial": "some of the model's statements were checked and kept; others were removed or are marked "
    "as not verified",
    "cannot_answer": "nothing in the classification tools or the guideline library answers this question",
}
"""What each verdict means, in words a clinician reads under the answer."""


def verdict_text(verdict: str) -> str:
    """The verdict as a clinician reads it: its label and what it means."""
    return f"{VERDICT_LABELS[verdict]}: {VERDICT_WORDS[verdict]}"


@dataclass(frozen=True)
class Commentary:
    """The model's surviving claims, joined, citing passages by rank; and what verification did."""

    text: str
    kept: int
    removed: int
    flagged: int


def claim_with_citation(claim: dict[str, Any]) -> str:
    """A kept claim citing the passage verification found supporting it, when it cited none itself or cited
    passages that do not state it (then those markers go: a reader must find the claim where [n] points)."""
    text = str(claim["text"]).rstrip()
    if claim.get("recited"):
        text = _CITED_WITH_SPACE.sub("", text)
    if claim.get("passage") is None or _CITED.search(text):
        return text
    marker = f"[{claim['passage'] + 1}]"
    if text.endswith((".", "!", "?")):
        return f"{text[:-1]} {marker}{text[-1]}"
    return f"{text} {marker}"


def claim_as_shown(claim: dict[str, Any]) -> str:
    """A kept claim as the answer shows it: cited, and marked when the entailment check did not confirm it."""
    text = claim_with_citation(claim)
    return f"{text} ⚠ (not verified)" if claim["status"] == "flagged" else text


def kept_commentary(per_expert: dict[str, dict[str, Any]]) -> Commentary:
    """Join every expert's surviving claims of the last verification round, dropping near-duplicates."""
    seen: list[set[str]] = []
    shown: list[str] = []
    kept = removed = flagged = 0
    for verification in per_expert.values():
        for claim in verification["claims"]:
            if claim["status"] in ("unsupported", "contradicted"):
                removed += 1
                continue
            kept += 1
            flagged += claim["status"] == "flagged"
            words = set(re.findall(r"[\w.-]+\w|\w", _CITED.sub("", claim["text"]).lower()))
            if any(len(words & s) / max(1, len(words | s)) >= 0.8 for s in seen):
                continue
            seen.append(words)
            shown.append(claim_as_shown(claim))
    return Commentary(" ".join(shown), kept, removed, flagged)


def verdict_of(*, answered: bool, commentary_used: bool, removed: int, flagged: int) -> Verdict:
    """The verdict of an answer (VERDICT_WORDS): nothing relevant; tools and passages only; the model's
    commentary kept whole and checked; or kept in part (some claims removed, or not confirmed)."""
    if not answered:
        return "cannot_answer"
    if not commentary_used:
        return "grounded"
    return "partial" if removed or flagged else "verified"


def cannot_answer(questions: list[str], systems: list[str], *, search_failed: bool = False) -> str:
    """What to say when no tool or passage supports an answer: say so, and what would be needed.

    `systems` are the classification systems' titles (`agent.capabilities.classification_systems`);
    `search_failed`: the library could not be searched this turn (not the same as "it has nothing").
    """
    if questions:
        return "I cannot classify this yet and will not guess. To classify the finding I need:\n" + "\n".join(
            f"- {q}" for q in questions
        )
    why = (
        "the guideline library could not be searched just now (please try again)"
        if search_failed
        else "none of its passages is relevant enough to this question"
    )
    return (
        f"I cannot answer this from the guideline library: {why}, and no classification tool applies, so I "
        "will not guess. To answer it I would need:\n"
        f"- findings that one of the classification systems covers ({', '.join(systems)}), with their size "
        "and features; or\n"
        "- a guideline on this topic in the library (an administrator adds one with `radassist ingest`)."
    )
