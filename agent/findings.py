"""Findings across a conversation: extract this message's inputs, reuse earlier ones for follow-ups.

After "8 mm solid nodule, low risk", the message "and if it were 10 mm?" names no system and only a
size: the previous system's extractor reads the size, the other inputs are carried over, and the
tool recomputes. What was carried over is recorded so the answer can say so.

A message with several findings is a report (`read_report_turn`): every finding is classified by its own
system (`tools.classify.report.read_report`), and the thread keeps them all; a follow-up names one by
number or organ ("and if the adrenal one were 4 cm?") and only that one is recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agent.state import ReportTurn
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.findings import classify_inputs, infer_system
from tools.classify.report import (
    Finding,
    ReportReading,
    apply_followup,
    as_statement,
    find_target,
    merge_inputs,
    replace_finding,
)
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

    def registry(self, registry: ToolRegistry) -> ToolRegistry:
        """The same tools, their extractors reading through this cache (for code that takes a registry)."""
        cached = ToolRegistry()
        for t in registry.all():
            cached.register(replace(t, extractor=self._reader(t)) if t.extractor is not None else t)
        return cached

    def _reader(self, tool: Tool) -> Callable[[str], Extraction]:
        return lambda text: self(tool, text)


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
    extract: Extractions | None = None,
) -> FindingsTurn | None:
    """Work out which system this message is about and the inputs to use, or None when none applies.

    In order: the system the findings name or imply (`infer_system`); a follow-up that changes an
    input of the previous turn's system; else the classification tools of the experts the gate chose
    (`hints`, in each expert's order of preference), when their extractor reads inputs from the message.
    """
    extract = extract or Extractions()
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


_HYPOTHESIS = re.compile(r"\b(?:if|suppose|what\s+about|how\s+about|instead)\b", re.IGNORECASE)


def _follows_up(message: str, reading: ReportReading) -> bool:
    """A message that changes earlier findings: it states none of its own, or asks "what if ..." of one
    ("and a 4 mm nodule in the LUL" states a new finding; "and if the nodule were 4 mm?" changes one)."""
    return not reading.findings or bool(_HYPOTHESIS.search(message)) or as_statement(message) != message


def read_report_turn(
    message: str, reading: ReportReading, previous: ReportReading | None, registry: ToolRegistry
) -> ReportTurn | None:
    """This message as a report turn, or None when it is not one (at most one finding, no follow-up to a report).

    `reading` is the message's own reading; `previous` the thread's report. In order: a message with several
    findings is a new report; a follow-up that names a finding of the report by number, organ or system
    recomputes that finding; a follow-up giving a value for no finding in particular, when the report has
    several, asks which one.
    """
    if len(reading.findings) >= 2:
        return ReportTurn(
            reading=reading, how="every finding in the message", computed=[f.number for f in reading.findings]
        )
    organs = {f.organ for f in reading.findings}
    if organs and previous is not None and not organs & {f.organ for f in previous.findings}:
        return None  # a finding of another organ: not a change to the report's
    if previous is not None and previous.findings and _follows_up(message, reading):
        redone = apply_followup(previous, message, registry=registry)
        readers = _readers(message, previous, registry)
        if redone is None and find_target(previous.findings, message) is None and len(readers) == 1:
            # names no finding, but only one finding's system reads the new value ("and if DCE were positive?")
            redone = apply_followup(ReportReading(findings=readers), message, registry=registry)
        if redone is not None:
            how = f"follow-up: finding #{redone.number} recomputed with the new value"
            return ReportTurn(
                reading=replace_finding(previous, redone, registry=registry),
                how=how,
                computed=[redone.number],
            )
        if find_target(previous.findings, message) is None and readers:
            listed = "; ".join(f"#{f.number} {f.label()}" for f in previous.findings)
            return ReportTurn(
                reading=previous,
                how="follow-up naming no finding",
                question=f"Which finding does the new value belong to? Say its number or organ ({listed}).",
            )
    return None


def _readers(message: str, report: ReportReading, registry: ToolRegistry) -> list[Finding]:
    """The report's findings whose system's extractor reads a value from the message."""
    statement = as_statement(message)
    return [
        f
        for f in report.findings
        if (tool := registry.get(f.system)).extractor is not None and tool.extractor(statement).inputs
    ]


def finding_output(finding: Finding) -> dict[str, Any]:
    """A finding as its tool call's output: the finding of `radassist findings --json`, plus what the tool
    reported beyond the table row (rationale, risk, modifiers), which verification and the experts' prompts read."""
    out = finding.as_json()
    if finding.result is not None:
        out.update(finding.result.model_dump(include={"rationale", "risk", "modifiers"}))
    return out
