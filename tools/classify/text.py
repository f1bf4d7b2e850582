"""Shared primitives for reading findings from free text: sizes with units, negation, numbers, HU by phase.

Extractors build on these so that "8 x 6 mm", "1.2 cm" and "no risk factors" are read the same
way by every system. Nothing here guesses: a phrase that does not match is simply not found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tools.classify.negation import negated_mention, negation_ambiguous, pre_negated

_UNIT_MM = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimeters": 1.0,
    "millimetre": 1.0,
    "millimetres": 1.0,
    "cm": 10.0,
    "centimeter": 10.0,
    "centimeters": 10.0,
    "centimetre": 10.0,
    "centimetres": 10.0,
}
_NUM = r"(?<![\w.-])(\d+(?:\.\d+)?|\.\d+)"
_UNIT = r"(mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?)\b"
_SEP = r"\s*(?:x|×|\*|by)\s*"
# "8 x 6 mm", "8mm x 6mm", "1.2 x 0.9 x 0.7 cm", "12 by 8 mm", "1.2 cm"
_MEASUREMENT = re.compile(
    rf"{_NUM}\s*(?:{_UNIT})?(?:{_SEP}(\d+(?:\.\d+)?|\.\d+)\s*(?:{_UNIT})?)?(?:{_SEP}(\d+(?:\.\d+)?|\.\d+)\s*(?:{_UNIT})?)?",
    re.IGNORECASE,
)
# Clause breaks for evidence and CT phases: "and", "with", ... and punctuation, but not a decimal point.
_SEGMENT_BREAK = re.compile(r"\.(?!\d)|[;,\n]|\band\b|\bbut\b|\bwhile\b|\bwhereas\b|\bwith\b", re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"\.(?!\d)|[;\n]")  # a decimal point is not a full stop
_HU_VALUE = re.compile(
    r"(?<![\w.])([-−–]\s?)?(\d+(?:\.\d+)?)\s*(?:HU\b|H\.U\.|hounsfield units?\b)", re.IGNORECASE
)
_NOT_A_VALUE_BEFORE = re.compile(
    r"(?:\d\s*(?:[-–/,]|to|and|or)\s*|[<>≤≥]\s*|(?:less|greater|more|lower|higher) than\s*|"
    r"(?:under|over|below|above|up to)\s+)$",
    re.IGNORECASE,
)
_WORD_NUMBERS = {
    "one": 1, "single": 1, "solitary": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip


@dataclass(frozen=True)
class Measurement:
    """A size read from text, converted to millimetres, with where it was found."""

    dims_mm: tuple[float, ...]
    start: int
    end: int
    text: str

    @property
    def longest_mm(self) -> float:
        return max(self.dims_mm)

    @property
    def shortest_mm(self) -> float:
        return min(self.dims_mm)


def find_measurements(text: str) -> list[Measurement]:
    """Return every size with an explicit unit, in order of appearance.

    A unit written once applies to all dimensions ("8 x 6 mm"); a bare number without any unit
    is not a size. Numbers that are part of ranges ("6-8 mm") or other words are skipped.
    """
    found = []
    for m in _MEASUREMENT.finditer(text):
        g = m.groups()
        values = [g[0], g[2], g[4]]
        units = [g[1], g[3], g[5]]
        count = sum(v is not None for v in values)
        given = [u for u in units[:count] if u]
        if not given:
            continue
        last_unit = given[-1]
        dims = []
        for value, unit in zip(values[:count], units[:count], strict=True):
            factor = _UNIT_MM[(unit or last_unit).lower()]
            dims.append(round(float(value) * factor, 3))
        found.append(Measurement(tuple(dims), m.start(), m.end(), m.group(0)))
    return found


def is_negated(text: str, start: int, window: int = 40) -> bool:
    """Tell whether a negation trigger governs the phrase starting at `start` (same clause, close before).

    NegEx/ConText style (`tools.classify.negation`): pseudo-negations ("no change in washout", "cannot
    exclude", "not only") are not negations, and a terminator ("but", "however", a comma) ends the scope.
    """
    return pre_negated(text, start, window)


def is_negated_mention(text: str, start: int, end: int) -> bool:
    """Like `is_negated`, and also negated by a post-negation right after it ("capsule is not seen")."""
    return negated_mention(text, start, end)


def mention_readings(text: str, start: int, end: int) -> tuple[bool, ...]:
    """Whether the mention is stated: (True,), (False,) when negated, (True, False) when the text is ambiguous
    ("no washout and capsule": capsule negated or stated)."""
    if negated_mention(text, start, end):
        return (False,)
    if negation_ambiguous(text, start):
        return (True, False)
    return (True,)


def find_term(text: str, patterns: Iterable[str], *, allow_negated: bool = False) -> re.Match[str] | None:
    """Return the first match of any pattern that is not negated (case-insensitive, word-bounded by the caller).

    Negated before ("no spiculation") or right after ("spiculation is not seen", "microcalcifications are
    absent"): a feature read as present from a sentence that denies it would raise the category.
    """
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if allow_negated or not negated_mention(text, m.start(), m.end()):
                return m
    return None


def find_negated_term(text: str, patterns: Iterable[str]) -> re.Match[str] | None:
    """Return the first match of any pattern that IS negated ("no washout", "washout is not seen")."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if negated_mention(text, m.start(), m.end()):
                return m
    return None


def word_number(word: str) -> int | None:
    """Read 'two' or '2' as 2; None when it is not a count."""
    word = word.lower()
    if word.isdigit():
        return int(word)
    return _WORD_NUMBERS.get(word)


def numbers_in(text: str) -> list[float]:
    """All numbers written in the text, plus their mm equivalents when followed by cm."""
    values = [float(n) for n in re.findall(r"\d+(?:\.\d+)?|\.\d+", text)]
    values += [d for m in find_measurements(text) for d in m.dims_mm]
    return values


def traceable_number(value: float, text: str) -> bool:
    """Tell whether a number (e.g. proposed by a model) appears in the text, allowing cm -> mm conversion."""
    return any(abs(value - n) < 1e-6 for n in numbers_in(text))


def clause_before(text: str, start: int, window: int = 30) -> str:
    """The words of the clause holding `start` that come before it (at most `window` characters back)."""
    return _SEGMENT_BREAK.split(text[max(0, start - window) : start])[-1]


def clause_evidence(text: str, m: re.Match[str]) -> str:
    """The match with the start of its clause, so a negation ("no ... fat") shows in the evidence."""
    return (clause_before(text, m.start()) + m.group(0)).strip()


def _pieces(text: str, breaks: re.Pattern[str]) -> list[tuple[int, int]]:
    """Split text into (start, end) pieces at the break pattern."""
    pieces, start = [], 0
    for m in breaks.finditer(text):
        pieces.append((start, m.start()))
        start = m.end()
    pieces.append((start, len(text)))
    return pieces


def _enclosing(pieces: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    for start, end in pieces:
        if start <= pos <= end:
            return start, end
    return 0, 0


def _phases_in(text: str, start: int, end: int, phases: dict[str, re.Pattern[str]]) -> set[str]:
    return {name for name, pattern in phases.items() if pattern.search(text, start, end)}


def find_phase_hu(
    text: str, phases: dict[str, re.Pattern[str]], skip: Iterable[tuple[int, int]] = ()
) -> tuple[dict[str, tuple[float, str]], set[str]]:
    """Read "<n> HU" values and the CT phase each belongs to; return (field -> (HU, evidence), ambiguous fields).

    A value belongs to a phase when exactly one phase word shares its clause, or, failing that, when its
    sentence names exactly one phase and holds no other unassigned value. Ranges, bounds ("< 10 HU") and
    lists ("35 and 90 HU") are not values; conflicting values for one phase make that phase ambiguous.
    """
    skip = list(skip)
    values: dict[str, dict[float, str]] = {}
    ambiguous: set[str] = set()
    clauses = _pieces(text, _SEGMENT_BREAK)
    sentences = _pieces(text, _SENTENCE_BREAK)
    pending: list[tuple[int, float, str]] = []
    for m in _HU_VALUE.finditer(text):
        if any(s <= m.start() < e for s, e in skip):
            continue
        if _NOT_A_VALUE_BEFORE.search(text, max(0, m.start() - 20), m.start()):
            ambiguous |= _phases_in(text, *_enclosing(clauses, m.start()), phases)
            continue
        value = float(m.group(2)) * (-1 if m.group(1) else 1)
        found = _phases_in(text, *_enclosing(clauses, m.start()), phases)
        if len(found) == 1:
            values.setdefault(found.pop(), {})[value] = m.group(0).strip()
        elif len(found) > 1:
            ambiguous |= found
        else:
            pending.append((m.start(), value, m.group(0).strip()))
    for start, value, evidence in pending:
        s, e = _enclosing(sentences, start)
        siblings = [p for p in pending if s <= p[0] < e]
        found = _phases_in(text, s, e, phases)
        if len(found) == 1 and len(siblings) == 1:
            values.setdefault(found.pop(), {})[value] = evidence
    result = {}
    for name, by_value in values.items():
        if len(by_value) == 1 and name not in ambiguous:
            ((value, evidence),) = by_value.items()
            result[name] = (value, evidence)
        else:
            ambiguous.add(name)
    return result, ambiguous
