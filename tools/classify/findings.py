"""From free-text findings to a classification: which system, what the text says, what a model may add.

Everything here works through the registry (`REGISTRY.of_kind("classification")`): each tool's `triggers`,
`extractor` and input model. A system added later is picked up without editing this module.

* `rank_systems` / `infer_system`: score each system by its trigger words (a word several systems share
  counts for each of them in proportion, a negated mention counts half, naming the system outright counts
  most) plus a little per input its extractor finds. Two fixed clinical conventions break known ties
  (`_CONTEXT_RULES`). Nothing matched, or a tie, is None: the system is never guessed.
* `extract_findings`: the deterministic extractor of the given or inferred system.
* `fill_gaps`: asks a model only for the fields the extractor left undetermined, and keeps a proposed value
  only if it can be traced to the text (a number written in it, lexicon words present and not negated).
  Everything else goes to `rejected` with the reason. Extracted values are never overwritten.
* `classify_text`: extract, then classify; partial or invalid inputs become a result listing `missing`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from common.errors import RadassistError
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.text import find_measurements, find_negated_term, find_term, is_negated, traceable_number
from tools.registry import REGISTRY, Tool, ToolRegistry, describe_validation_error

log = logging.getLogger(__name__)

AskModel = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Extract = Callable[[Tool, str], Extraction]

NAME_BONUS = 3.0  # the system named outright ("BI-RADS 4A", "Lung-RADS") outweighs any trigger words
NEGATED_WEIGHT = 0.5  # "no thyroid nodule" still says the text is about the thyroid, but less
INPUT_WEIGHT = 0.1  # per input the extractor found ...
INPUT_CAP = 0.5  # ... capped, so inputs break ties between trigger scores rather than override them


class FindingsError(RadassistError, ValueError):
    """Findings that cannot be routed to a classification system (a user-fixable input problem)."""


class UnknownSystemError(FindingsError):
    """A system name that is not a registered classification tool."""


class NoSystemError(FindingsError):
    """No registered classification system fits the findings (or two fit equally well)."""


@dataclass(frozen=True)
class _ContextRule:
    """When both systems are candidates, a fixed clinical convention decides which one the text belongs to."""

    if_context: str  # the system to prefer when the context words are present ...
    otherwise: str  # ... and the one to prefer when they are not
    context: re.Pattern[str]


_CONTEXT_RULES: tuple[_ContextRule, ...] = (
    # Fleischner 2017 excludes lung cancer screening; screening (LDCT) nodules are Lung-RADS.
    _ContextRule(
        "lung_rads",
        "fleischner",
        re.compile(r"\bscreening\b|\bLDCT\b|\blow[- ]dose\b|\blung[- ]rads\b", re.IGNORECASE),
    ),
    # The ACR renal white paper (Herts 2018) hands cystic masses to Bosniak 2019.
    _ContextRule(
        "bosniak",
        "renal_incidentaloma",
        re.compile(r"\bcyst(?:ic|s)?\b|\bsept(?:a|um|ae|ation|ations)\b|\bbosniak\b", re.IGNORECASE),
    ),
)


@dataclass
class _Candidate:
    tool: Tool
    score: float
    named: bool = False
    extraction: Extraction | None = field(default=None, repr=False)


# --- which system -------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


@lru_cache(maxsize=256)
def _name_pattern(name: str) -> re.Pattern[str]:
    """'lung_rads' -> matches 'Lung-RADS', 'lung rads', 'LungRADS'."""
    return re.compile(r"\b" + r"[-_\s]?".join(re.escape(p) for p in name.split("_")) + r"\b", re.IGNORECASE)


def _trigger_spans(text: str, t: Tool) -> list[tuple[int, int, float]]:
    """Non-overlapping (start, end, weight) spans where the tool's triggers match."""
    spans: list[tuple[int, int, float]] = []
    for pattern in _compiled(tuple(t.triggers)):
        for m in pattern.finditer(text):
            if m.end() > m.start():
                weight = NEGATED_WEIGHT if is_negated(text, m.start()) else 1.0
                spans.append((m.start(), m.end(), weight))
    spans.sort()
    merged: list[tuple[int, int, float]] = []
    for start, end, weight in spans:
        if merged and start < merged[-1][1]:
            s, e, w = merged[-1]
            merged[-1] = (s, max(e, end), max(w, weight))
        else:
            merged.append((start, end, weight))
    return merged


def _classification_tools(registry: ToolRegistry | None) -> list[Tool]:
    return (REGISTRY if registry is None else registry).of_kind("classification")


def _candidates(text: str, registry: ToolRegistry | None, extract: Extract | None = None) -> list[_Candidate]:
    tools = _classification_tools(registry)
    spans = {t.name: _trigger_spans(text, t) for t in tools}
    candidates = []
    for t in tools:
        score = 0.0
        for start, end, weight in spans[t.name]:
            sharing = sum(any(s < end and start < e for s, e, _ in other) for other in spans.values())
            score += weight / sharing
        named = bool(_name_pattern(t.name).search(text))
        if named:
            score += NAME_BONUS
        if score <= 0:
            continue
        extraction = _run_extractor(t, text, extract)
        if extraction is not None:
            score += min(INPUT_CAP, INPUT_WEIGHT * len(extraction.inputs))
        candidates.append(_Candidate(t, score, named, extraction))
    _apply_context_rules(text, candidates)
    candidates.sort(key=lambda c: (-c.score, c.tool.name))
    return candidates


def _run_extractor(t: Tool, text: str, extract: Extract | None = None) -> Extraction | None:
    if t.extractor is None:
        return None
    try:
        return extract(t, text) if extract is not None else t.extractor(text)
    except Exception as exc:  # a broken plugin extractor must not break routing; never log the text
        log.warning("extractor of %s failed: %s", t.name, type(exc).__name__)
        return None


def _apply_context_rules(text: str, candidates: list[_Candidate]) -> None:
    by_name = {c.tool.name: c for c in candidates}
    for rule in _CONTEXT_RULES:
        if rule.if_context not in by_name or rule.otherwise not in by_name:
            continue
        in_context = find_term(text, (rule.context.pattern,)) is not None
        preferred = by_name[rule.if_context if in_context else rule.otherwise]
        demoted = by_name[rule.otherwise if in_context else rule.if_context]
        if demoted.named and not preferred.named:
            continue  # the text names the other system outright: respect it
        if demoted.score >= preferred.score:
            demoted.score = preferred.score / 2


def rank_systems(text: str, *, registry: ToolRegistry | None = None) -> list[tuple[str, float]]:
    """Return (system, score) for every classification system the text points to, best first."""
    return [(c.tool.name, round(c.score, 3)) for c in _candidates(text, registry)]


def _best(candidates: list[_Candidate]) -> _Candidate | None:
    if not candidates:
        return None
    if len(candidates) > 1 and round(candidates[0].score, 6) == round(candidates[1].score, 6):
        return None  # a tie: never guess
    return candidates[0]


def infer_system(
    text: str, *, registry: ToolRegistry | None = None, extract: Extract | None = None
) -> str | None:
    """Return the classification system the findings belong to, or None when none (or several equally) fit.

    `extract(tool, text)` replaces calling each candidate's extractor directly, so a caller that reads
    the same text again (the agent) can run each extractor once.
    """
    best = _best(_candidates(text, registry, extract))
    return best.tool.name if best else None


# --- extraction ---------------------------------------------------------------------------------


def classification_tool(system: str, *, registry: ToolRegistry | None = None) -> Tool:
    """Return the registered classification tool `system`, or raise an error listing the known ones."""
    tools = {t.name: t for t in _classification_tools(registry)}
    if system not in tools:
        known = ", ".join(sorted(tools)) or "none registered"
        raise UnknownSystemError(f"unknown classification system {system!r}; known systems: {known}")
    return tools[system]


def _no_system_error(candidates: list[_Candidate], registry: ToolRegistry | None) -> NoSystemError:
    known = ", ".join(t.name for t in _classification_tools(registry)) or "none registered"
    if candidates:
        top = round(candidates[0].score, 6)
        tied = " and ".join(c.tool.name for c in candidates if round(c.score, 6) == top)
        return NoSystemError(
            f"the findings fit {tied} equally well; name the system (e.g. `radassist classify SYSTEM --text ...`) "
            f"or add the organ and context that decide it; known systems: {known}"
        )
    return NoSystemError(
        "could not tell which classification system these findings belong to; name the system or mention the "
        f"organ and finding (e.g. 'thyroid nodule', 'adrenal nodule', 'screening LDCT', 'BI-RADS 4A'); "
        f"known systems: {known}"
    )


def _extract_with(t: Tool, text: str) -> Extraction:
    if t.extractor is None:
        return Extraction(system=t.name, undetermined=list(t.input_model.model_fields))
    return t.extractor(text)


def _extract(text: str, system: str | None, registry: ToolRegistry | None) -> tuple[Tool, Extraction]:
    if system is not None:
        t = classification_tool(system, registry=registry)
        return t, _extract_with(t, text)
    candidates = _candidates(text, registry)
    best = _best(candidates)
    if best is None:
        raise _no_system_error(candidates, registry)
    return best.tool, best.extraction if best.extraction is not None else _extract_with(best.tool, text)


def extract_findings(
    text: str, system: str | None = None, *, registry: ToolRegistry | None = None
) -> Extraction:
    """Read the inputs of `system` (inferred when None) from the text; raise NoSystemError when none fits."""
    return _extract(text, system, registry)[1]


# --- model gap filling --------------------------------------------------------------------------

_STOP_WORDS = frozenset({"a", "an", "and", "any", "has", "hu", "in", "is", "mm", "of", "on", "or", "pct", "the",
                         "to", "with"})  # fmt: skip
_SIGNED_NUMBER = re.compile(r"(?<![\w.])([-−–])?(\d+(?:\.\d+)?|\.\d+)")
_UNIT_AFTER = r"(?!\s*(?:mm|cm|%|hu)\b)"


_ADAPTERS: dict[tuple[type[BaseModel], str], TypeAdapter[Any]] = {}


def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A validator for one input field alone (type and bounds), built once per field."""
    key = (model, name)
    if key not in _ADAPTERS:
        info = model.model_fields[name]
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        _ADAPTERS[key] = TypeAdapter(annotation)
    return _ADAPTERS[key]


def _lexicon(annotation: Any) -> set[str]:
    """Every Literal / Enum value allowed anywhere in an annotation (Optional, list, Annotated unwrapped)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return {str(a) for a in get_args(annotation)}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return {str(m.value) for m in annotation}
    values: set[str] = set()
    if origin is not None:  # Optional / Union / list / Annotated: look inside
        for arg in get_args(annotation):
            values |= _lexicon(arg)
    return values


def _word_pattern(word: str) -> str:
    if len(word) <= 2 or any(ch.isdigit() for ch in word):  # codes such as "4A", "3", "TR5"
        return rf"(?<![\w.]){re.escape(word)}(?!\w|\.\d){_UNIT_AFTER}"
    return rf"\b{re.escape(word)}"


def _words(phrase: str) -> list[str]:
    return [w for w in re.split(r"[\s_/,()-]+", phrase.lower()) if w and w not in _STOP_WORDS]


def _snippet(text: str, m: re.Match[str], pad: int = 25) -> str:
    return text[max(0, m.start() - pad) : m.end() + pad].strip()


def _trace_lexicon(value: str, text: str) -> tuple[bool, str]:
    """A lexicon value is traceable when every word of one of its alternatives is present and not negated."""
    for alternative in value.split("_or_"):
        words = _words(alternative)
        matches = [find_term(text, (_word_pattern(w),)) for w in words]
        if words and all(matches):
            return True, "; ".join(_snippet(text, m, 15) for m in matches if m)
    return False, f"the words of {value!r} are not in the text (or only negated)"


def _trace_bool(name: str, value: bool, text: str) -> tuple[bool, str]:
    """True needs the field's words present and not negated; False needs them present and negated."""
    words = _words(name)
    if not words:
        return False, "a yes/no value without words to look for cannot be traced"
    patterns = [_word_pattern(w) for w in words]
    if value:
        matches = [find_term(text, (p,)) for p in patterns]
        if all(matches):
            return True, "; ".join(_snippet(text, m, 15) for m in matches if m)
        return False, f"the words of {name!r} are not all present (not negated) in the text"
    present = all(find_term(text, (p,), allow_negated=True) for p in patterns)
    negated = next((m for p in patterns if (m := find_negated_term(text, (p,)))), None)
    if present and negated:
        return True, _snippet(text, negated, 20)
    return False, f"the text does not negate {name.replace('_', ' ')!r}"


def _trace_number(name: str, value: float, text: str) -> tuple[bool, str]:
    if not traceable_number(abs(value), text):
        return False, f"{value:g} does not appear in the text"
    if name.endswith("_mm"):  # a size must be a measurement with a unit (cm converted to mm)
        for measurement in find_measurements(text):
            if any(abs(d - value) < 1e-6 for d in measurement.dims_mm):
                return True, measurement.text.strip()
        return False, f"{value:g} appears in the text but not as a size with a unit"
    for m in _SIGNED_NUMBER.finditer(text):
        number = float(m.group(2)) * (-1 if m.group(1) else 1)
        if abs(number - value) < 1e-6:
            return True, _snippet(text, m)
    return False, f"{value:g} appears in the text only with the opposite sign"


def _trace(name: str, value: Any, lexicon: set[str], text: str) -> tuple[bool, str]:
    """Return (traceable, evidence or reason) for one validated value."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return _trace_bool(name, value, text)
    if isinstance(value, int | float):
        return _trace_number(name, float(value), text)
    if isinstance(value, str) and value in lexicon:
        return _trace_lexicon(value, text)
    if isinstance(value, list | tuple | set | frozenset):
        evidence = []
        for item in value:
            ok, why = _trace(name, item, lexicon, text)
            if not ok:
                return False, why
            evidence.append(why)
        return True, "; ".join(evidence)
    return False, "free-form values cannot be traced to the text"


def _gap_schema(t: Tool, fields: list[str]) -> dict[str, Any]:
    full = t.input_schema()
    schema: dict[str, Any] = {
        "title": f"{t.name} undetermined inputs",
        "type": "object",
        "properties": {k: v for k, v in full.get("properties", {}).items() if k in fields},
        "required": [],
        "additionalProperties": False,
    }
    if "$defs" in full:
        schema["$defs"] = full["$defs"]
    return schema


def _gap_prompt(t: Tool, fields: list[str], text: str) -> str:
    return (
        f"Read the radiology findings below for the {t.name} classification ({t.version}).\n"
        f"Fill in only these fields: {', '.join(fields)} (JSON schema attached).\n"
        "Use only what the findings state explicitly: copy numbers as written (sizes in millimetres, "
        "1.2 cm = 12 mm) and use the schema's allowed values. Leave a field out, or null, when the findings "
        "do not state it. Do not estimate, infer or add anything.\n\n"
        f'Findings:\n"""\n{text}\n"""'
    )


async def fill_gaps(text: str, extraction: Extraction, tool: Tool, ask_model: AskModel) -> Extraction:
    """Ask the model for the undetermined fields only; keep the values traceable to the text, reject the rest."""
    fields = [
        f
        for f in extraction.undetermined
        if f in tool.input_model.model_fields and f not in extraction.inputs
    ]
    if not fields:
        return extraction
    answer = await ask_model(_gap_prompt(tool, fields, text), _gap_schema(tool, fields))
    filled = extraction.model_copy(deep=True)
    if not isinstance(answer, dict):
        filled.rejected["_response"] = f"the model returned {type(answer).__name__}, not a JSON object"
        return filled
    for name, raw in answer.items():
        if raw is None:
            continue  # the model says the text does not state it
        if name in extraction.inputs:
            if raw != extraction.inputs[name]:
                filled.rejected[name] = (
                    f"{raw!r} not used: the extractor read {extraction.inputs[name]!r} from the text"
                )
            continue
        if name not in fields:
            filled.rejected[name] = f"{raw!r} not used: {name!r} was not asked for"
            continue
        try:
            value = _field_adapter(tool.input_model, name).validate_python(raw)
        except ValidationError as exc:
            filled.rejected[name] = f"{raw!r} not used: " + "; ".join(describe_validation_error(exc))
            continue
        info = tool.input_model.model_fields[name]
        ok, why = _trace(name, value, _lexicon(info.annotation), text)
        if not ok:
            filled.rejected[name] = f"{raw!r} not used: {why}"
            continue
        filled.inputs[name] = value.value if isinstance(value, Enum) else value
        filled.evidence[name] = f"model, traced to: {why}"
        filled.undetermined = [f for f in filled.undetermined if f != name]
    return filled


# --- classification -----------------------------------------------------------------------------


def _fields_named(message: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if re.search(rf"\b{re.escape(n)}\b", message)]


def _unusable_inputs(t: Tool, extraction: Extraction, exc: ValidationError) -> ClassificationResult:
    """A result (not a crash) for inputs that do not validate: missing fields and the problems, by name."""
    missing: list[str] = []
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        if err["type"] == "missing":
            missing.append(loc[0])
            continue
        where = ".".join(loc) or "input"
        problems.append(f"{where}: {err['msg']}")
        named = [loc[0]] if loc else _fields_named(err["msg"], t.input_model.model_fields)
        missing.extend(named or list(extraction.inputs))
    return ClassificationResult(
        system=t.name,
        guideline=t.version,
        citation=t.version,
        rationale=[
            "The inputs read from the findings are incomplete or do not validate; nothing was classified."
        ],
        caveats=[f"Could not use the findings as read: {p}" for p in problems],
        missing=list(dict.fromkeys(missing)),
        inputs=dict(extraction.inputs),
    )


def classify_inputs(t: Tool, inputs: dict[str, Any], extraction: Extraction) -> ClassificationResult:
    """Run the tool on inputs; inputs that do not validate become a result listing what to fix, never a crash."""
    try:
        inp = t.input_model.model_validate(inputs)
    except ValidationError as exc:
        return _unusable_inputs(t, extraction.model_copy(update={"inputs": dict(inputs)}), exc)
    result = t.run(inp)
    if not isinstance(result, ClassificationResult):
        raise TypeError(f"classification tool {t.name!r} returned {type(result).__name__}")
    return result


def classify_text(
    text: str, system: str | None = None, *, registry: ToolRegistry | None = None
) -> tuple[Extraction, ClassificationResult]:
    """Extract the inputs (inferring the system when None), then classify what was found."""
    t, extraction = _extract(text, system, registry)
    return extraction, classify_inputs(t, extraction.inputs, extraction)
