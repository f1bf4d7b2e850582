"""Evaluation cases: the JSONL format (one object per line), its validation, and the shipped suites.

Five kinds, each checked by one suite:

    {"id", "kind": "classification", "text", "expected": {"system", "category", "management_any": [...]}}
    {"id", "kind": "findings", "text", "expected": {"findings": [{"system", "category"}]}}
    {"id", "kind": "routing", "question", "expected": {"expert"}}
    {"id", "kind": "retrieval", "question", "expected": {"source_any": [...]}}
    {"id", "kind": "answer", "question", "expected": {"category"?, "source_any"?, "cannot_answer"?}}

Every kind may also carry a "note": where the expectation comes from (guideline, year, table); it is shown
in the report and never scored.

A bad line becomes a `CaseError` naming the file, the line number and the field; the other lines still
load, so one typo never hides a whole file's results. References to the deployment (a system, an expert,
a guideline source) are checked by `check_references` once the deployment is open.

The shipped suites (`agent/eval/data/*.jsonl`) are written for the evaluation only: they are kept apart
from the data the project tunes its tools and gate on (`tests/data/`), so the figures are not the
figures of the examples the code was adjusted to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from common.errors import RadassistError

SUITES = ("classification", "findings", "routing", "retrieval", "answers")
SUITE_OF_KIND = {
    "classification": "classification",
    "findings": "findings",
    "routing": "routing",
    "retrieval": "retrieval",
    "answer": "answers",
}
DATA_DIR = Path(__file__).parent / "data"
MAX_FILE_BYTES = 20 * 1024 * 1024  # a case file, not a data dump
MAX_TEXT = 8000  # the longest message the agent accepts (agent.assistant.MAX_MESSAGE_CHARS)

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class ClassificationExpected(_Strict):
    system: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=200)
    management_any: list[Phrase] = Field(
        default_factory=list, description="Passes when the management contains any of these phrases."
    )


class ExpectedFinding(_Strict):
    system: str = Field(min_length=1, max_length=64)
    category: str | None = Field(max_length=200, description="None: the finding is not decided (branches).")


class FindingsExpected(_Strict):
    findings: list[ExpectedFinding]


class RoutingExpected(_Strict):
    expert: str = Field(min_length=1, max_length=64)


class RetrievalExpected(_Strict):
    source_any: list[Phrase] = Field(min_length=1)


class AnswerExpected(_Strict):
    category: str | None = Field(default=None, min_length=1, max_length=200)
    source_any: list[Phrase] | None = Field(default=None, min_length=1)
    cannot_answer: bool | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> AnswerExpected:
        if self.category is None and self.source_any is None and self.cannot_answer is None:
            raise ValueError("give at least one of category, source_any, cannot_answer")
        if self.cannot_answer and (self.category is not None or self.source_any is not None):
            raise ValueError("cannot_answer: true leaves nothing to state: drop category and source_any")
        return self


class ClassificationCase(_Strict):
    id: str = Field(pattern=_ID)
    kind: Literal["classification"]
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    expected: ClassificationExpected
    note: str | None = Field(default=None, max_length=1000, description="Where the expectation comes from.")


class FindingsCase(_Strict):
    id: str = Field(pattern=_ID)
    kind: Literal["findings"]
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    expected: FindingsExpected
    note: str | None = Field(default=None, max_length=1000, description="Where the expectation comes from.")


class RoutingCase(_Strict):
    id: str = Field(pattern=_ID)
    kind: Literal["routing"]
    question: str = Field(min_length=1, max_length=MAX_TEXT)
    expected: RoutingExpected
    note: str | None = Field(default=None, max_length=1000, description="Where the expectation comes from.")


class RetrievalCase(_Strict):
    id: str = Field(pattern=_ID)
    kind: Literal["retrieval"]
    question: str = Field(min_length=2, max_length=2000)
    expected: RetrievalExpected
    note: str | None = Field(default=None, max_length=1000, description="Where the expectation comes from.")


class AnswerCase(_Strict):
    id: str = Field(pattern=_ID)
    kind: Literal["answer"]
    question: str = Field(min_length=1, max_length=MAX_TEXT)
    expected: AnswerExpected
    note: str | None = Field(default=None, max_length=1000, description="Where the expectation comes from.")


Case = ClassificationCase | FindingsCase | RoutingCase | RetrievalCase | AnswerCase
MODELS: dict[str, type[BaseModel]] = {
    "classification": ClassificationCase,
    "findings": FindingsCase,
    "routing": RoutingCase,
    "retrieval": RetrievalCase,
    "answer": AnswerCase,
}


@dataclass(frozen=True)
class Loaded:
    """A valid case and where it came from (for error messages and the report)."""

    case: Case
    file: str
    line: int

    @property
    def suite(self) -> str:
        return SUITE_OF_KIND[self.case.kind]


@dataclass(frozen=True)
class CaseError:
    """A line that could not be used: where, which field, what is wrong."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.field}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


def parse_lines(lines: Iterable[str], file: str) -> tuple[list[Loaded], list[CaseError]]:
    """Validate every non-blank line; return the good cases and one error per bad line."""
    cases: list[Loaded] = []
    errors: list[CaseError] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(
                CaseError(file, number, "(line)", f"not valid JSON: {exc.msg} (column {exc.colno})")
            )
            continue
        if not isinstance(data, dict):
            errors.append(
                CaseError(file, number, "(line)", f"expected a JSON object, not {_json_type(data)}")
            )
            continue
        kind = data.get("kind")
        if kind not in MODELS:
            why = "missing" if kind is None else f"unknown kind {kind!r}"
            errors.append(CaseError(file, number, "kind", f"{why}; one of {', '.join(MODELS)}"))
            continue
        try:
            case: Case = MODELS[kind].model_validate(data)  # type: ignore[assignment]
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "(case)"
            errors.append(CaseError(file, number, where, _message(err)))
            continue
        key = (SUITE_OF_KIND[kind], case.id)
        if key in seen:
            errors.append(CaseError(file, number, "id", f"{case.id!r} is already used on line {seen[key]}"))
            continue
        seen[key] = number
        cases.append(Loaded(case, file, number))
    return cases, errors


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _message(err: Any) -> str:
    if err["type"] == "missing":
        return "required"
    if err["type"] == "extra_forbidden":
        return "not a field of this kind of case"
    return re.sub(r"^Value error, ", "", str(err["msg"]))


def load_file(path: Path) -> tuple[list[Loaded], list[CaseError]]:
    """Read a user's JSONL case file; an unreadable file (not a bad line) stops the command."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RadassistError(f"{path}: {size} bytes; a case file may have at most {MAX_FILE_BYTES}")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RadassistError(f"cannot read case file {path}: {exc.strerror or type(exc).__name__}") from exc
    except UnicodeDecodeError as exc:
        raise RadassistError(f"case file {path} is not UTF-8 text (byte {exc.start})") from exc
    return parse_lines(text.splitlines(), str(path))


def shipped(suite: str) -> list[Loaded]:
    """The project's own cases for one suite (`agent/eval/data/<suite>.jsonl`)."""
    if suite not in SUITES:
        raise RadassistError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    path = DATA_DIR / f"{suite}.jsonl"
    cases, errors = parse_lines(path.read_text(encoding="utf-8").splitlines(), f"shipped:{path.name}")
    if errors:  # a defect of the project, not of the user's input
        raise RuntimeError(f"shipped case file is invalid: {errors[0]}")
    return cases


@dataclass(frozen=True)
class Vocabulary:
    """What the deployment knows: classification systems, experts, guideline sources."""

    systems: frozenset[str]
    experts: frozenset[str]
    sources: frozenset[str]


def check_references(loaded: list[Loaded], vocab: Vocabulary) -> tuple[list[Loaded], list[CaseError]]:
    """Refuse cases naming a system, expert or source this deployment does not have (field by field)."""
    good: list[Loaded] = []
    errors: list[CaseError] = []
    for item in loaded:
        problem = _reference_problem(item.case, vocab)
        if problem is None:
            good.append(item)
        else:
            errors.append(CaseError(item.file, item.line, *problem))
    return good, errors


def _unknown(kind: str, value: str, known: frozenset[str]) -> str:
    return f"unknown {kind} {value!r}; known: {', '.join(sorted(known)) or 'none'}"


def _reference_problem(case: Case, vocab: Vocabulary) -> tuple[str, str] | None:
    if isinstance(case, ClassificationCase) and case.expected.system not in vocab.systems:
        return "expected.system", _unknown("system", case.expected.system, vocab.systems)
    if isinstance(case, FindingsCase):
        for i, f in enumerate(case.expected.findings):
            if f.system not in vocab.systems:
                return f"expected.findings.{i}.system", _unknown("system", f.system, vocab.systems)
    if isinstance(case, RoutingCase) and case.expected.expert not in vocab.experts:
        return "expected.expert", _unknown("expert", case.expected.expert, vocab.experts)
    if isinstance(case, RetrievalCase | AnswerCase):
        for i, source in enumerate(case.expected.source_any or []):
            if source not in vocab.sources:
                return f"expected.source_any.{i}", _unknown("source", source, vocab.sources)
    return None
