"""Heading-aware chunking sized for small embedding models (all-MiniLM-L6-v2 reads at most 256 tokens).

A chunk never crosses a heading or a page, so its heading path and page are exact citations. Within a
section, paragraphs are packed greedily; a paragraph too long for one chunk is split at list items,
then sentences, then words. Consecutive chunks of one section share a short overlap (whole sentences)
so a statement cut at a boundary is still found whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tools.knowledge.loaders import Section

# Budget for the embedded text (heading path + body), in estimated word-pieces. The estimate is
# deliberately high for clinical text (see estimate_tokens) and 200 leaves headroom below 256.
MAX_TOKENS = 200
OVERLAP_TOKENS = 40
_MIN_BODY_TOKENS = 64  # a very long heading path must not squeeze the body to nothing

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[]?[A-Z0-9])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)]|\|)\s")


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage with its place in the source."""

    index: int
    heading_path: tuple[str, ...]
    page: int | None
    text: str


def estimate_tokens(text: str) -> int:
    """Estimate BERT word-pieces without loading a tokenizer: long words split into several pieces.

    Calibrated on clinical English against the all-MiniLM-L6-v2 tokenizer: it over-counts slightly,
    which is the safe direction (the model silently truncates what does not fit).
    """
    total = 0
    for token in _TOKEN.findall(text):
        size = len(token)
        total += 1 if size <= 4 else 1 + (size - 2) // 4
    return total


def embedding_text(heading_path: Iterable[str], text: str) -> str:
    """The text that is embedded: the heading path gives a short passage its context."""
    heading = " > ".join(heading_path)
    return f"{heading}\n{text}" if heading else text


# Sections that list the publications a document draws on. A reference list matches many query words
# (titles, society names, years) yet never answers a question, so it is not made retrievable; the
# source's citation comes from its metadata instead.
REFERENCE_HEADINGS = frozenset({"references", "bibliography", "source publications", "sources", "literature"})


def is_reference_list(section: Section) -> bool:
    return bool(section.heading_path) and section.heading_path[-1].strip().casefold() in REFERENCE_HEADINGS


def chunk_sections(
    sections: Iterable[Section], *, max_tokens: int = MAX_TOKENS, overlap_tokens: int = OVERLAP_TOKENS
) -> list[Chunk]:
    """Split sections into chunks whose embedding text fits `max_tokens`, numbered from 0; reference
    lists are left out."""
    chunks: list[Chunk] = []
    for section in sections:
        if is_reference_list(section):
            continue
        budget = max(_MIN_BODY_TOKENS, max_tokens - estimate_tokens(" > ".join(section.heading_path)) - 1)
        for text in _pack(_units(section.text, budget), budget, overlap_tokens):
            chunks.append(Chunk(len(chunks), section.heading_path, section.page, text))
    return chunks


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    joiner: str  # what separates it from the unit before it in the same chunk


def _units(text: str, budget: int) -> list[_Unit]:
    """Break a section into the pieces chunks are packed from, none larger than the budget."""
    units: list[_Unit] = []
    for paragraph in re.split(r"\n\s*\n", text):
        raw = [line for line in paragraph.split("\n") if line.strip()]
        if not raw:
            continue
        is_list = bool(_LIST_ITEM.match(raw[0]))  # later lines without a marker continue an item
        lines = _list_items(raw) if is_list else [line.strip() for line in raw]
        first = True
        for piece, joiner in _split(lines, is_list, budget):
            units.append(_Unit(piece, estimate_tokens(piece), "\n\n" if first else joiner))
            first = False
    return units


def _list_items(lines: list[str]) -> list[str]:
    """One line per list item: a line without a marker (a wrapped line) is joined to the item it continues."""
    items: list[str] = []
    for line in lines:
        if _LIST_ITEM.match(line) or not items:
            items.append(line.strip())
        else:
            items[-1] += " " + line.strip()
    return items


def _split(lines: list[str], is_list: bool, budget: int) -> list[tuple[str, str]]:
    """A list as its items (packing keeps them together when they fit, and lets a lead-in join the first);
    a prose paragraph as one piece if it fits, else its sentences (soft wraps undone)."""
    if is_list:
        pieces = []
        for line in lines:
            pieces.extend(_split_sentences(line, budget, "\n"))
        return pieces
    paragraph = " ".join(lines)
    if estimate_tokens(paragraph) <= budget:
        return [(paragraph, "\n\n")]
    return _split_sentences(paragraph, budget, " ")


def _split_sentences(text: str, budget: int, joiner: str) -> list[tuple[str, str]]:
    pieces: list[tuple[str, str]] = []
    for i, sentence in enumerate(_SENTENCE_END.split(text)):
        first_joiner = joiner if i == 0 else " "
        if estimate_tokens(sentence) <= budget:
            pieces.append((sentence, first_joiner))
        else:
            pieces.extend(
                (w, first_joiner if j == 0 else " ") for j, w in enumerate(_split_words(sentence, budget))
            )
    return pieces


def _split_words(text: str, budget: int) -> list[str]:
    """Last resort for a run-on sentence: windows of whole words within the budget."""
    windows: list[str] = []
    current: list[str] = []
    used = 0
    for word in text.split():
        cost = estimate_tokens(word)
        if current and used + cost > budget:
            windows.append(" ".join(current))
            current, used = [], 0
        current.append(word)
        used += cost
    if current:
        windows.append(" ".join(current))
    return windows


def _pack(units: list[_Unit], budget: int, overlap_tokens: int) -> list[str]:
    """Greedily fill chunks; a new chunk repeats the last whole units (up to the overlap) of the previous.

    A lead-in ("two regimens are listed:") is moved to the next chunk with what it introduces, when the
    two fit together, rather than ending a chunk on its own.
    """
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    used = 0
    fresh = 0  # units in `current` that are not overlap
    for unit in units:
        if current and used + unit.tokens > budget and fresh:
            lead_in = None
            if current[-1].text.rstrip().endswith(":") and current[-1].tokens + unit.tokens <= budget:
                lead_in = current.pop()
                fresh -= 1
            carried: list[_Unit] = []
            carried_tokens = 0
            if fresh:
                chunks.append(current)
                room = budget - unit.tokens - (lead_in.tokens if lead_in else 0)
                for previous in reversed(current):
                    if carried_tokens + previous.tokens > min(overlap_tokens, room):
                        break
                    carried.insert(0, previous)
                    carried_tokens += previous.tokens
            current, used, fresh = carried, carried_tokens, 0
            if lead_in is not None:
                current.append(lead_in)
                used += lead_in.tokens
                fresh = 1
        current.append(unit)
        used += unit.tokens
        fresh += 1
    if fresh:
        chunks.append(current)
    return [_join(chunk) for chunk in chunks]


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append(unit.joiner)
        parts.append(unit.text)
    return "".join(parts)
