"""Shared primitives for reading findings from free text: sizes with units, negation, numbers.

Extractors build on these so that "8 x 6 mm", "1.2 cm" and "no risk factors" are read the same
way by every system. Nothing here guesses: a phrase that does not match is simply not found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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
_NEGATORS = re.compile(
    r"\b(no|not|without|absent|absence of|negative for|free of|denies|denied|never|non|none|nor|lack of|lacks)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r"[.;:!?\n]|\bbut\b|\bhowever\b|\bwith\b|\band\b|,", re.IGNORECASE)
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
    """Tell whether a negation word governs the phrase starting at `start` (same clause, close before)."""
    before = text[max(0, start - window) : start]
    clause = _CLAUSE_BREAK.split(before)[-1]
    return bool(_NEGATORS.search(clause))


def find_term(text: str, patterns: Iterable[str], *, allow_negated: bool = False) -> re.Match[str] | None:
    """Return the first match of any pattern that is not negated (case-insensitive, word-bounded by the caller)."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if allow_negated or not is_negated(text, m.start()):
                return m
    return None


def find_negated_term(text: str, patterns: Iterable[str]) -> re.Match[str] | None:
    """Return the first match of any pattern that IS negated ("no washout")."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if is_negated(text, m.start()):
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
