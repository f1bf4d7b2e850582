"""Findings across a conversation: extract this message's inputs, reuse earlier ones for follow-ups.

After "8 mm solid nodule, low risk", the message "and if it were 10 mm?" names no system and only a
size: the previous system's extractor reads the size, the other inputs are carried over, and the
tool recomputes. What was carried over is recorded so the answer can say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tools.classify.base import ClassificationResult, Extraction
from tools.classify.findings import classify_inputs, infer_system
from tools.classify.report import as_statement, merge_inputs
from tools.classify.text import find_measurements
from tools.registry import Tool, ToolRegistry


@dataclass
class FindingsTurn:
    """What this message contributed to one classification system, and the result."""

    system: str
    extraction: Extraction
    inputs: dict[str, Any]
    carried: dict[str, Any]
    result: ClassificationResult
    how: str
    read_from: str


class Extractions:
    """Each system's extractor reads a text once per turn: routing, follow-ups and hints share the reading."""

    def __init__(self) -> None:
        self._read: dict[tuple[str, str], Extraction] = {}

    def __call__(self, tool: Tool, text: str) -> Extraction:
        key = (tool.name, text)
        if key not in self._read:
            self._read[key] = tool.extractor(text) if tool.extractor else Extraction(system=tool.name)
        return self._read[key]


MIN_HINTED_INPUTS = 2  # one stray input ("MRI" read as a modality) is not a finding


def _from_hints(message: str, hints: list[str], registry: ToolRegistry, extract: Extractions) -> str | None:
    """The hinted system whose extractor reads the most inputs (at least two); ties go to the earlier hint."""
    best, best_count = None, MIN_HINTED_INPUTS - 1
    for name in hints:
        count = len(extract(registry.get(name), message).inputs)
        if count > best_count:
            best, best_count = name, count
    return best


_CONTEXT_WORDS = re.compile(r"[a-z][a-z-]{2,}")
_FILLER = frozenset(
    "and the what then would were was with if it its this that into for measuring measures".split()
)


def _context(text: str, start: int, end: int) -> set[str]:
    words = _CONTEXT_WORDS.findall(text[max(0, start - 30) : end + 30].lower())
    return {w for w in words if w not in _FILLER and w not in ("mm", "cm")}


def restate(previous_text: str, message: str) -> str | None:
    """Put a follow-up's new size into the earlier finding ("8 mm solid nodule" + "if it were 10 mm").

    The follow-up's one measurement replaces the earlier one when there was only one, or the one
    whose surrounding words it shares ("the solid component were 7 mm" -> "... 4 mm solid component").
    Anything ambiguous returns None.
    """
    new, old = find_measurements(message), find_measurements(previous_text)
    if len(new) != 1 or not old:
        return None
    target = old[0] if len(old) == 1 else None
    if target is None:
        wanted = _context(message, new[0].start, new[0].end)
        overlaps = [(len(wanted & _context(previous_text, m.start, m.end)), m) for m in old]
        best = max(n for n, _ in overlaps)
        matches = [m for n, m in overlaps if n == best]
        if best == 0 or len(matches) != 1:
            return None
        target = matches[0]
    return previous_text[: target.start] + new[0].text.strip() + previous_text[target.end :]


def read_findings(
    message: str,
    memory: dict[str, dict[str, Any]],
    last_systems: list[str],
    registry: ToolRegistry,
    hints: list[str] | None = None,
    texts: dict[str, str] | None = None,
) -> FindingsTurn | None:
    """Work out which system this message is about and the inputs to use, or None when none applies.

    In order: the system the findings name or imply (`infer_system`); a follow-up that changes an
    input of the previous turn's system; else the classification tools of the experts the gate chose
    (`hints`, in each expert's order of preference), when their extractor reads inputs from the message.
    """
    extract = Extractions()
    statement = as_statement(message)
    system = infer_system(statement, registry=registry, extract=extract)
    how, read_from = "named or implied by the findings", statement
    if system is None and last_systems:
        previous = last_systems[0]
        restated = restate((texts or {}).get(previous, ""), statement)
        if restated and extract(registry.get(previous), restated).inputs:
            system, how, read_from = previous, "follow-up: new value put into the previous finding", restated
        elif extract(registry.get(previous), statement).inputs:
            system, how = previous, "follow-up to the previous finding"
    if system is None and hints and not last_systems:
        system = _from_hints(statement, hints, registry, extract)
        how = "the chosen expert's system for these findings"
    if system is None:
        return None
    tool = registry.get(system)
    extraction = extract(tool, read_from)
    fresh = classify_inputs(tool, dict(extraction.inputs), extraction)
    if fresh.decided or fresh.not_applicable or system not in memory:
        reused = {}
        if read_from != statement:  # restated: what came from the earlier finding, not from this message
            said = extract(tool, statement).inputs
            reused = {
                k: v
                for k, v in extraction.inputs.items()
                if k not in said and memory.get(system, {}).get(k) == v
            }
        return FindingsTurn(system, extraction, dict(extraction.inputs), reused, fresh, how, read_from)
    inputs, carried = merge_inputs(memory[system], dict(extraction.inputs), tool)
    return FindingsTurn(
        system, extraction, inputs, carried, classify_inputs(tool, inputs, extraction), how, read_from
    )


def missing_questions(tool: Tool, result: ClassificationResult) -> list[str]:
    """Turn missing input names into questions a clinician can answer."""
    questions = []
    for name in result.missing:
        info = tool.input_model.model_fields.get(name)
        description = (info.description or name.replace("_", " ")) if info else name.replace("_", " ")
        questions.append(f"{name.replace('_', ' ')}: {description}")
    return questions
