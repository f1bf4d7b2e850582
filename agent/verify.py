"""Chain-of-thought verification: split a draft into claims and check each against the evidence.

Categories (read with each classification tool's declared `CategorySpelling`, so a new system needs
no edit here), size thresholds and intervals must match a tool result (or a retrieved passage that
states them); every other statement must be supported by a retrieved passage, judged by lexical and
number overlap AND the model's entailment verdict — never by the model's word alone.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from agent.answer import result_lines
from tools.knowledge.sentences import split_units
from tools.registry import CategorySpelling

Status = Literal["supported", "flagged", "unsupported", "contradicted"]
Entail = Callable[[list[str], list[str]], Awaitable[list[bool]]]

MIN_OVERLAP = 0.5  # share of a claim's content words that the best passage must contain
MIN_SUPPORTED_RATIO = 0.6  # below this the draft is revised once, then replaced by the grounded answer

_INTERVAL = re.compile(
    r"\b(\d+(?:\.\d+)?(?:\s*(?:-|–|—|to)\s*\d+(?:\.\d+)?)?)\s*(months?|mo|years?|yrs?|weeks?|wks?)\b", re.I
)
_HYPHENATED_INTERVAL = re.compile(r"\b(\d+(?:\.\d+)?)-(month|year|week)\b", re.I)  # "a 12-month CT"
_SCHEDULE = re.compile(  # "at 1, 3 and 5 years": every number of the list is an interval
    r"\b((?:\d+\s*,\s*)+\d+,?\s*(?:and|or)\s*\d+|\d+\s*(?:and|or)\s*\d+)\s*(months?|years?)\b", re.I
)
_ANNUAL = re.compile(r"\b(?:annual(?:ly)?|yearly|every\s+year|once\s+a\s+year)\b", re.I)
_LEADING_CITATIONS = re.compile(r"^((?:\[\d+\]\s*)+)")
_ABBREVIATION_END = re.compile(r"\b(?:approx|vs|e\.g|i\.e|cf|incl|fig|resp|ca|et al)\.$", re.I)
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(mm|cm)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_CITATION = re.compile(r"\[(\d+)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])|\n+")
_FINISHED = re.compile(r"[.!?][\"'”’)]*(?:\s*\[\d+\])*(?=\s)|\n")  # a sentence end, citations after it
_FINISHED_AT_END = re.compile(r"(?<!\d)[.!?][\"'”’)]*(?:\s*\[\d+\])*$")
_WORD = re.compile(r"[a-z][a-z0-9-]+")
_STOP = frozenset(
    "the a an and or of to in on for with at by is are be was were this that these those it its as from "
    "should may can will would could must not no than then if when which who what there their per into "
    "also such any all each both more most other some only very so do does done has have had been being "
    "patient patients recommend recommended recommendation guideline guidelines".split()
)


@dataclass
class Claim:
    """One sentence of the draft, what kind of fact it asserts, and whether the evidence supports it."""

    text: str
    kinds: list[str]
    status: Status = "unsupported"
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    passage: int | None = None
    """Index of the passage that lexically supports it (what the entailment check is shown)."""
    recited: bool = False
    """Its [n] pointed at passages that do not state it: the answer cites `passage` instead, or nothing when
    only a tool result states it."""


@dataclass
class Evidence:
    """What a draft may rely on: tool results (as plain dicts) and retrieved passages.

    `spellings` says how each classification system's categories are written
    (`ToolRegistry.category_spellings()`), so category claims can be read and checked. `headings` are the
    passages' section headings as the prompt shows them.
    """

    tool_results: list[dict[str, Any]]
    passages: list[str]
    spellings: Mapping[str, CategorySpelling]
    headings: Sequence[str] = ()

    @property
    def tool_text(self) -> str:
        parts = []
        for r in self.tool_results:
            if "category" not in r:  # another kind of tool: all of its output is evidence
                parts.append(" ".join(f"{k} {v}" for k, v in r.items()))
                continue
            parts += [str(r.get("category") or ""), str(r.get("management") or ""), str(r.get("risk") or "")]
            for branch in r.get("branches") or []:  # a finding of a report: what each unstated value gives
                parts += [str(branch.get("category") or ""), str(branch.get("management") or "")]
            parts += [str(x) for x in r.get("rationale", [])]
            parts += [f"{k} {v}" for k, v in (r.get("inputs") or {}).items()]
        return " ".join(parts)


@dataclass
class Verification:
    """The verdict on a draft with every claim's trace."""

    claims: list[Claim]
    supported_ratio: float
    needs_revision: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "supported_ratio": round(self.supported_ratio, 3),
            "needs_revision": self.needs_revision,
            "claims": [asdict(c) for c in self.claims],
        }


def split_claims(text: str) -> list[str]:
    """Split a draft into sentence-level claims (bullets and lines count as sentences).

    A citation written after the full stop ("... months. [1]") stays with its sentence, and
    abbreviations ("approx.", "vs.") do not end one.
    """
    cleaned = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", text.strip(), flags=re.M)
    pieces: list[str] = []
    for piece in _SENTENCE.split(cleaned):
        if pieces and (cited := _LEADING_CITATIONS.match(piece)):
            pieces[-1] += " " + cited.group(1).strip()
            piece = piece[cited.end() :]
        if pieces and _ABBREVIATION_END.search(pieces[-1]):
            pieces[-1] = f"{pieces[-1]} {piece}"
        else:
            pieces.append(piece)
    return [s.strip() for s in pieces if len(_content_words(s)) >= 2 or _NUMBER.search(s)]


def finished_part(draft: str) -> str:
    """A draft cut off at the model's token limit, up to the end of its last finished sentence or line.

    The cut sentence is not a claim the model made: it can say the opposite of the whole one ("no follow-up
    is needed unless"), so it is neither shown nor checked. A full stop right after a digit at the very end
    may be the middle of a number ("1." of "1.5 cm").
    """
    ends = [m.end() for m in _FINISHED.finditer(draft)]
    if _FINISHED_AT_END.search(draft.rstrip()):
        ends.append(len(draft))
    return draft[: max(ends, default=0)].rstrip()


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _norm_interval(value: str, unit: str) -> str:
    numbers = re.findall(r"\d+(?:\.\d+)?", value)
    unit = unit.lower()
    unit = "month" if unit.startswith("mo") else "year" if unit.startswith("y") else "week"
    return f"{'-'.join(numbers)} {unit}"


def intervals(text: str) -> set[str]:
    """Follow-up intervals written in the text, normalised ('6-12 month', '1 year', '2 year')."""
    found = {_norm_interval(m.group(1), m.group(2)) for m in _INTERVAL.finditer(text)}
    found |= {_norm_interval(m.group(1), m.group(2)) for m in _HYPHENATED_INTERVAL.finditer(text)}
    for m in _SCHEDULE.finditer(text):
        found |= {_norm_interval(n, m.group(2)) for n in re.findall(r"\d+", m.group(1))}
    if _ANNUAL.search(text):
        found.add("1 year")
    return found


def interval_months(interval: str) -> tuple[float, ...]:
    """An interval in months, so '1 year' equals '12 month' and '1-2 year' equals '12-24 month'."""
    numbers, unit = interval.split(" ")
    factor = {"month": 1.0, "year": 12.0, "week": 12 / 52}[unit]
    return tuple(round(float(n) * factor, 3) for n in numbers.split("-"))


def sizes_mm(text: str) -> set[float]:
    return {float(v) * (10 if u.lower() == "cm" else 1) for v, u in _SIZE.findall(text)}


def categories(text: str, spellings: Mapping[str, CategorySpelling]) -> dict[str, set[str]]:
    """Category mentions per system, in each tool's own spelling, systems in the order the text names them."""
    found = []
    for system, spelling in spellings.items():
        if mentions := spelling.mentions(text):
            found.append((min(at for at, _ in mentions), system, {category for _, category in mentions}))
    return {system: mentioned for _, system, mentioned in sorted(found)}


def _numbers(text: str) -> set[float]:
    return {float(n) for n in _NUMBER.findall(text)} | sizes_mm(text)


def _best_passage(claim: str, passages: Sequence[str], among: Sequence[int]) -> tuple[float, int | None]:
    """The share of the claim's content words in the best of `passages[i] for i in among`, and its index."""
    words = _content_words(_CITATION.sub("", claim))
    if not words or not among:
        return 0.0, None
    best = max(among, key=lambda i: (len(words & _content_words(passages[i])), -i))
    return len(words & _content_words(passages[best])) / len(words), best


def _plain(text: str) -> str:
    """A line as its words: citations, Markdown emphasis, case, spacing and the final full stop ignored."""
    text = _CITATION.sub("", text).replace("**", "").replace("__", "")
    return " ".join(text.split()).casefold().rstrip(".").strip()


def verbatim_source(claim: str, evidence: Evidence) -> str | None:
    """Where the evidence states `claim` word for word, as a whole: a line a tool result is shown as
    (agent.answer.result_lines), or a whole sentence (list item, table row) of a passage. None otherwise.

    Such a claim needs no entailment verdict. Only a whole sentence counts: part of one ("give steroids"
    out of "do not give steroids") can say the opposite.
    """
    plain = _plain(claim)
    if not plain:
        return None
    for r in evidence.tool_results:
        if r.get("category"):
            shown = result_lines(
                str(r.get("guideline") or ""), str(r["category"]), r.get("modifiers") or [],
                r.get("management"), r.get("risk"),
            )  # fmt: skip
            if any(_plain(line) == plain for line in shown):
                return "the tool result"
    for i, passage in enumerate(evidence.passages):
        if any(_plain(unit.text) == plain for unit in split_units(passage)):
            return f"passage {i + 1}"
    return None


def supporting_sentences(passage: str, claims: Sequence[str], per_claim: int = 2) -> str:
    """The whole sentences (list items, table rows) of `passage` that share the most content words with each
    claim, up to `per_claim` each, in the passage's order: what the entailment check is shown.

    The sentence that supports a claim can sit anywhere in a long passage; the passage's opening may not
    hold it, and a sentence cut short can say the opposite of the whole one. A lead-in ("two regimens are
    listed:") comes with what it introduces.
    """
    units = split_units(passage)
    if not units:
        return passage.strip()
    unit_words = [_content_words(u.text) for u in units]
    chosen: set[int] = set()
    for claim in claims:
        words = _content_words(_CITATION.sub("", claim))
        ranked = sorted(range(len(units)), key=lambda i: (-len(words & unit_words[i]), i))
        chosen.update(i for i in ranked[:per_claim] if words & unit_words[i])
    for i in sorted(chosen):
        if units[i].text.rstrip().endswith(":") and i + 1 < len(units):
            chosen.add(i + 1)
    return "\n".join(units[i].text.strip() for i in sorted(chosen)) or units[0].text.strip()


def _computed_categories(tool_results: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """Per system, every category a tool result states: several findings of one system (two nodules) each
    count, and so does each branch of a finding whose category depends on an unstated input."""
    computed: dict[str, set[str]] = {}
    for r in tool_results:
        stated = [r.get("category"), *(b.get("category") for b in r.get("branches") or [])]
        for category in stated:
            if category:
                computed.setdefault(r["system"], set()).add(category)
    return computed


def check_claim(text: str, evidence: Evidence) -> Claim:
    """Deterministic checks of one claim (the entailment verdict is combined in `verify`)."""
    claim = Claim(text=text, kinds=[])
    if _plain(text) in {_plain(h) for h in evidence.headings}:
        claim.reasons.append("a passage's heading, copied: it states nothing")
        return claim
    cited = {int(n) for n in _CITATION.findall(text)}
    if any(n < 1 or n > len(evidence.passages) for n in cited):
        claim.status = "unsupported"
        claim.reasons.append("cites a passage number that does not exist")
        return claim
    tool_text = evidence.tool_text
    # A claim that cites passages is checked against those: a reader who opens its [n] must find it there.
    # Numbered wrong, it rests on whichever passage states it, and the answer cites that one instead.
    everywhere = list(range(len(evidence.passages)))
    candidates = sorted(n - 1 for n in cited) if cited else everywhere
    overlap, best = _best_passage(text, evidence.passages, candidates)
    if cited and overlap < MIN_OVERLAP:
        claim.recited = True
        overlap, best = _best_passage(text, evidence.passages, everywhere)
    passage_text = " ".join(evidence.passages)  # a number or interval may come from any of them
    passage_ok = overlap >= MIN_OVERLAP
    tool_categories = _computed_categories(evidence.tool_results)

    spellings = evidence.spellings
    best_categories = (
        categories(evidence.passages[best], spellings) if passage_ok and best is not None else {}
    )
    mentioned_by_system = categories(text, spellings).items()
    # A computed category is checked first: contradicting the tool is what the trace must report.
    for system, mentioned in sorted(mentioned_by_system, key=lambda item: item[0] not in tool_categories):
        claim.kinds.append("category")
        stated_by_passage = mentioned <= best_categories.get(system, set())
        if system in tool_categories:  # a computed category is what the claim must state
            computed = tool_categories[system]
            others = mentioned - computed
            if not mentioned & computed or (others and not stated_by_passage):
                claim.status = "contradicted"
                claim.reasons.append(
                    f"{system} category {', '.join(sorted(others or mentioned))} but the tool computed "
                    f"{', '.join(sorted(computed))}"
                )
                return claim
            claim.evidence.append(f"{system} tool: {', '.join(sorted(mentioned & computed))}")
        elif not stated_by_passage:
            claim.status = "unsupported"
            claim.reasons.append(
                f"{system} category stated but no {system} tool result or passage supports it"
            )
            return claim

    # A computed result fixes this finding's schedule: its intervals come from the tool, not from
    # passages that describe other rows of the table.
    decided = any(r.get("category") for r in evidence.tool_results)
    tool_intervals = {interval_months(v) for v in intervals(tool_text)}
    passage_intervals = {interval_months(v) for v in intervals(passage_text)}
    for value in sorted(intervals(text)):
        claim.kinds.append("interval")
        if interval_months(value) in tool_intervals:
            claim.evidence.append(f"interval {value} in tool management")
            continue
        if not decided and interval_months(value) in passage_intervals and passage_ok:
            claim.evidence.append(f"interval {value} in passage")
            continue
        claim.status = "contradicted" if tool_intervals else "unsupported"
        claim.reasons.append(f"interval '{value}' is not in the tool result or a supporting passage")
        return claim

    known_numbers = _numbers(tool_text) | _numbers(passage_text)
    for size in sizes_mm(text):
        claim.kinds.append("threshold")
        if size not in known_numbers:
            claim.status = "unsupported"
            claim.reasons.append(f"size {size:g} mm appears in no tool result or passage")
            return claim
    stray = {n for n in _numbers(_CITATION.sub("", text)) if n not in known_numbers}
    if stray:
        claim.status = "unsupported"
        claim.reasons.append(f"number(s) {', '.join(f'{n:g}' for n in sorted(stray))} not in the evidence")
        return claim

    if not claim.kinds:
        claim.kinds.append("statement")
    if claim.evidence and not passage_ok and "statement" not in claim.kinds:
        claim.status = "supported"  # every category / interval / size in it matches a tool result
        return claim
    if passage_ok and best is not None:
        claim.evidence.append(f"passage {best + 1} ({overlap:.0%} of content words)")
        claim.passage = best
        claim.status = "supported"  # pending the entailment check
    else:
        claim.reasons.append(f"best passage covers only {overlap:.0%} of its content words")
    return claim


async def verify(draft: str, evidence: Evidence, entail: Entail | None) -> Verification:
    """Check every claim; statements need lexical support AND the model's entailment verdict."""
    claims = [check_claim(text, evidence) for text in split_claims(draft)]
    needs_entailment = []
    for c in claims:
        if c.status != "supported" or "statement" not in c.kinds:
            continue
        if (source := verbatim_source(c.text, evidence)) is not None:  # the evidence states it, word for word
            c.evidence.append(f"{source}, word for word")
        else:
            needs_entailment.append(c)
    if needs_entailment and entail is not None:
        # Only the sentences that support some claim: a shorter prompt is evaluated faster on a CPU.
        shown = sorted({c.passage for c in needs_entailment if c.passage is not None})
        texts = [
            supporting_sentences(evidence.passages[i], [c.text for c in needs_entailment if c.passage == i])
            for i in shown
        ]
        verdicts = await entail([c.text for c in needs_entailment], texts)
        for c, ok in zip(needs_entailment, verdicts, strict=True):
            if not ok:
                c.status = "flagged"
                c.reasons.append(
                    "lexically supported but the model did not judge it entailed by the passages"
                )
    elif needs_entailment:
        for c in needs_entailment:
            c.status = "flagged"
            c.reasons.append("no entailment check available")
    supported = sum(c.status == "supported" for c in claims)
    ratio = supported / len(claims) if claims else 0.0
    return Verification(claims, ratio, needs_revision=ratio < MIN_SUPPORTED_RATIO)


def kept_text(verification: Verification) -> str:
    """The draft with contradicted and unsupported claims removed and flagged ones marked."""
    kept = []
    for c in verification.claims:
        if c.status == "supported":
            kept.append(c.text)
        elif c.status == "flagged":
            kept.append(f"{c.text} ⚠ (not verified)")
    return " ".join(kept)
