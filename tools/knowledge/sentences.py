"""Split a passage into the units a quote is made of: sentences, list items and labelled table rows.

A quote must never cut a statement in half ("premedicate with prednisone 50 mg at 13 h, 7 h…"), so a
passage is quoted as whole units. A sentence ends at '.', '!' or '?' followed by a capital, a digit or an
opening bracket, but not inside parentheses (the corpus cites "(Kanal et al. Radiology 2017)" mid-sentence)
and not after a common abbreviation. Each line of a list, and each table row (the loader turns a row into
one "Column: value; ..." paragraph), is a unit of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s")
_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:al|e\.g|i\.e|vs|approx|etc|cf|fig|no|dr|mr|mrs|ms|prof|st|ca|incl|resp|ref|vol)\.|\b[A-Z]\.)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Unit:
    """One quotable unit: its exact span in the passage (so a quote reproduces the original text)."""

    start: int
    end: int
    text: str


def split_units(passage: str) -> list[Unit]:
    """The passage's sentences, list items and table rows, in order, as spans of the original text."""
    units: list[Unit] = []
    offset = 0
    for line in passage.split("\n"):
        if line.strip():
            if _LIST_ITEM.match(line):
                units.append(_unit(passage, offset, offset + len(line)))
            else:
                units.extend(_sentences(passage, offset, line))
        offset += len(line) + 1
    return _merge_soft_wraps(passage, units)


def _sentences(passage: str, offset: int, line: str) -> list[Unit]:
    units = []
    start = 0
    for match in _END.finditer(line):
        inside_brackets = _depth_change(line[: match.start()]) > 0
        if inside_brackets or _ABBREVIATION.search(line[start : match.start() + 1]):
            continue
        candidate = line[start : match.end()].rstrip()
        units.append(_unit(passage, offset + start, offset + start + len(candidate)))
        start = match.end()
    if line[start:].strip():
        units.append(_unit(passage, offset + start, offset + len(line.rstrip())))
    return units


def _depth_change(text: str) -> int:
    return text.count("(") + text.count("[") - text.count(")") - text.count("]")


def _unit(passage: str, start: int, end: int) -> Unit:
    while start < end and passage[start].isspace():
        start += 1
    return Unit(start, end, passage[start:end])


def _merge_soft_wraps(passage: str, units: list[Unit]) -> list[Unit]:
    """Join a sentence broken over two lines (a soft wrap inside a paragraph) back into one unit."""
    merged: list[Unit] = []
    for unit in units:
        previous = merged[-1] if merged else None
        gap = passage[previous.end : unit.start] if previous else ""
        continues = (
            previous is not None
            and gap.count("\n") == 1
            and not gap.strip()
            and not _LIST_ITEM.match(unit.text)
            and not re.search(r"[.!?:][\"')\]]*$", previous.text)
        )
        if continues and previous is not None:
            merged[-1] = Unit(previous.start, unit.end, passage[previous.start : unit.end])
        else:
            merged.append(unit)
    return merged
