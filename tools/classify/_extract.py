"""Extraction plumbing shared by several extractors (a private module: the registry does not load it as a tool).

What a text states is recorded with its evidence; a field the text mentions without settling (conflicting
mentions, a range, a bound) is recorded as such, never guessed. Three styles, each shared by the
extractors written in it:
* `Reading`: matches with their spans, evidence quoted from the clause; at the end the classifier says which
  fields are still needed (Bosniak, LI-RADS, O-RADS, PI-RADS);
* `put`, `read_yes_no`, `add_path_needs`: an `Extraction` filled directly (the ACR white papers);
* `Found`: readers that return (value, evidence) or "ambiguous" (Fleischner, Lung-RADS, TI-RADS).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from tools.classify._decide import Problems
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.text import clause_evidence, find_negated_term, find_term, is_negated_mention

_I = re.IGNORECASE


_SNIPPET_BREAK = re.compile(r"(?<!\d)\.|\.(?!\d)|[;,\n]")  # a decimal point ("2.2 cm") is not a break


def snippet(text: str, start: int, end: int) -> str:
    """The text from the start of the clause holding [start, end) up to `end` (keeps a leading 'no').

    Cut at token boundaries: never inside a number ("2.2 cm" stays whole) or a word; the end is
    extended to the end of the token it falls in.
    """
    lo = max(0, start - 40)
    window = text[lo:start]
    breaks = list(_SNIPPET_BREAK.finditer(window))
    if breaks:
        begin = lo + breaks[-1].end()
    elif lo == 0:
        begin = 0
    else:
        space = window.find(" ")  # do not start mid-word
        begin = lo + space + 1 if space >= 0 else start
    while begin > 0 and (
        text[begin - 1].isalnum() or (text[begin - 1] == "." and text[begin - 2 : begin - 1].isdigit())
    ):
        begin -= 1
    while end < len(text) and (
        text[end].isalnum()
        or (text[end] == "." and end + 1 < len(text) and text[end + 1].isdigit() and text[end - 1].isdigit())
    ):
        end += 1
    return text[begin:end].strip()


class Reading:
    """What the text states, with evidence, and the fields it mentions without settling.

    Patterns are matched in `norm` (the text, or a same-length normalisation of it, e.g. "non-enhancing"
    -> "non_enhancing" so that "non" does not read as a negation); evidence is quoted from `text`.
    """

    def __init__(self, text: str, norm: str | None = None) -> None:
        self.text = text
        self.norm = text if norm is None else norm
        self.inputs: dict[str, Any] = {}
        self.evidence: dict[str, str] = {}
        self.unsettled: set[str] = set()

    def put(self, key: str, value: Any, start: int, end: int) -> None:
        self.inputs[key] = value
        self.evidence[key] = snippet(self.text, start, end)

    def settle(self, key: str, found: list[tuple[Any, re.Match[str]]]) -> None:
        """Set `key` when all mentions agree; disagreeing mentions leave it unsettled."""
        if not found:
            return
        if len({value for value, _ in found}) > 1:
            self.unsettled.add(key)
            return
        value, m = found[0]
        self.put(key, value, m.start(), m.end())

    def settle_spans(self, key: str, found: list[tuple[Any, int, int]]) -> None:
        """`settle` for mentions given as (value, start, end), when the evidence is not a single match."""
        if not found:
            return
        if len({value for value, _, _ in found}) > 1:
            self.unsettled.add(key)
            return
        value, start, end = found[0]
        self.put(key, value, start, end)

    def matches(self, patterns: Iterable[str], *, negated: bool | None = False) -> list[re.Match[str]]:
        """Matches of any pattern: stated ones (negated=False), negated ones (True) or all (None)."""
        found = [m for p in patterns for m in re.finditer(p, self.norm, _I)]
        return [
            m
            for m in found
            if negated is None or is_negated_mention(self.norm, m.start(), m.end()) == negated
        ]

    def finish(
        self, system: str, model: type[BaseModel], decide: Callable[[Any], ClassificationResult]
    ) -> Extraction:
        """Validate what was read and ask the classifier which needed fields are still open.

        A value outside the input bounds (e.g. a 25 cm "lesion") is not used: it becomes undetermined.
        """
        inputs = {k: self.inputs[k] for k in model.model_fields if k in self.inputs}
        try:
            missing = decide(model.model_validate(inputs)).missing
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            for key in bad or set(inputs):
                inputs.pop(key, None)
                self.unsettled.add(key)
            missing = decide(model.model_validate(inputs)).missing
        evidence = {k: v for k, v in self.evidence.items() if k in inputs}
        undetermined = sorted(set(missing) | self.unsettled)
        return Extraction(system=system, inputs=inputs, evidence=evidence, undetermined=undetermined)


# --- extractors that fill an Extraction directly (ACR incidental-findings white papers) ------------


def put(found: Extraction, name: str, value: object, evidence: str) -> None:
    found.inputs[name] = value
    found.evidence[name] = evidence


def settle_yes_no(
    text: str, found: Extraction, name: str, yes: re.Match[str] | None, no: re.Match[str] | None
) -> None:
    """Stated -> True, denied -> False, both -> undetermined; the evidence keeps its clause (so a 'no' shows)."""
    if yes and no:
        found.undetermined.append(name)
    elif (m := yes or no) is not None:
        put(found, name, yes is not None, clause_evidence(text, m))


def read_yes_no(
    text: str, found: Extraction, name: str, yes_terms: tuple[str, ...], no_terms: tuple[str, ...] = ()
) -> None:
    """A yes/no feature stated by its word, its opposite word, or its negation ("not cystic")."""
    yes = find_term(text, yes_terms)
    no = find_term(text, no_terms) or find_negated_term(text, yes_terms)
    settle_yes_no(text, found, name, yes, no)


def add_path_needs(
    found: Extraction, model: type[BaseModel], classify: Callable[[Any], ClassificationResult]
) -> None:
    """Add the fields the classification still needs (its `missing` list) to `undetermined`."""
    try:
        inp = model.model_validate(found.inputs)
    except ValueError:
        return
    for name in classify(inp).missing:
        if name not in found.undetermined:
            found.undetermined.append(name)


# --- extractors whose readers return (value, evidence) (Fleischner, Lung-RADS, TI-RADS) -------------


class Found:
    """Inputs read from a finding, each with the words that state it, and the fields the text leaves ambiguous."""

    def __init__(self) -> None:
        self.inputs: dict[str, Any] = {}
        self.evidence: dict[str, str] = {}
        self.ambiguous: set[str] = set()

    def put(self, name: str, reading: tuple[Any, str] | Literal["ambiguous"] | None) -> None:
        """Record a reader's (value, evidence); "ambiguous" marks the field; None (not stated) records nothing."""
        if reading == "ambiguous":
            self.ambiguous.add(name)
        elif reading is not None:
            self.inputs[name], self.evidence[name] = reading

    def flag(self, text: str, name: str, patterns: tuple[str, ...]) -> None:
        """Set a boolean input to True when a pattern occurs un-negated (absence is not stated, so left unset)."""
        m = find_term(text, patterns)
        if m:
            self.put(name, (True, m.group(0)))

    def drop_contradictions(self, problems: Problems, keep: tuple[str, ...] = ()) -> None:
        """Remove values the text states inconsistently (all but `keep`), so the extraction always validates."""
        for fields, _ in problems:
            for name in fields:
                if name in self.inputs and name not in keep:
                    self.inputs.pop(name)
                    self.evidence.pop(name, None)
                    self.ambiguous.add(name)

    def extraction(self, system: str, missing: list[str]) -> Extraction:
        """The fields the path still needs come first, then those the text left ambiguous (and unread)."""
        ambiguous = sorted(name for name in self.ambiguous if name not in missing and name not in self.inputs)
        return Extraction(
            system=system, inputs=self.inputs, evidence=self.evidence, undetermined=[*missing, *ambiguous]
        )
