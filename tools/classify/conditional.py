"""What a missing input would change: branches, and the unstated descriptors a radiologist reads as absent.

A tool that cannot decide lists the inputs it still needs (`missing`). Instead of only asking, this module
tries each value of every missing input that has a finite set of values (booleans, the lexicon's words, and
the representative values a system declares for a numeric threshold), up to a small budget, and reports:

* the answer, when every value gives the same category (nothing to ask);
* `branches` ({"if": "<input> = <value>", "category", "management"}), when the categories differ: the
  answer says what each value would give, and the question is still asked;
* assumptions, when a system declares that an unstated descriptor is read as absent (`READ_AS_ABSENT` in the
  tool's module). The rule, the same for every system:
    - a *grounded* reading applies only when a stated descriptor implies the absence ("simple-appearing cyst":
      no septa), and is written in the result as an assumption quoting those words;
    - an *ungrounded* reading applies only when the absent value can never give a lower category than a
      present one (`SEVERITY`, low to high, in the tool's module): assuming absence is then conservative;
    - otherwise nothing is assumed: the input becomes a branch or a question.

Nothing here changes what a tool computes: every category comes from the tool itself.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError

from tools.classify.base import ClassificationResult
from tools.classify.negation import is_negated_span
from tools.registry import Tool

MAX_EVALUATIONS = 96  # tool calls per finding (each is tens of microseconds)
MAX_FIELDS = 4  # missing inputs explored together


@dataclass(frozen=True)
class ReadAsAbsent:
    """An unstated descriptor read as absent: `field` takes `value`.

    With `grounds` (regexes), only when one of them is stated (not negated) in the finding's text; without,
    only when absence cannot lower the category (checked against the system's `SEVERITY`).
    """

    field: str
    value: Any
    label: str
    grounds: tuple[str, ...] = ()


class Branch(BaseModel):
    """What the category would be if an unstated input had a given value."""

    model_config = {"populate_by_name": True}

    if_: str = Field(alias="if", description="'<input> = <value>' (several joined by ' and ').")
    category: str | None
    management: str | None = None


@dataclass
class Resolution:
    """A tool result with the branches and assumptions worked out for its missing inputs."""

    result: ClassificationResult
    branches: list[Branch] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    at_least: str | None = None


def _module(tool: Tool) -> Any:
    return importlib.import_module(tool.func.__module__)


def read_as_absent(tool: Tool) -> tuple[ReadAsAbsent, ...]:
    """The system's declared readings of unstated descriptors (none when it declares none)."""
    return tuple(getattr(_module(tool), "READ_AS_ABSENT", ()))


def severity(tool: Tool) -> tuple[str, ...]:
    """The system's categories from lowest to highest concern (empty when it declares no order)."""
    return tuple(getattr(_module(tool), "SEVERITY", ()))


def branch_values(tool: Tool) -> dict[str, tuple[tuple[Any, str], ...]]:
    """Representative values (value, label) for numeric inputs on each side of a threshold."""
    return dict(getattr(_module(tool), "BRANCH_VALUES", {}))


def _choices(tool: Tool, name: str) -> tuple[tuple[Any, str], ...]:
    declared = branch_values(tool)
    if name in declared:
        return declared[name]
    info = tool.input_model.model_fields.get(name)
    if info is None:
        return ()
    return tuple(
        (v, str(v).lower() if isinstance(v, bool) else str(v)) for v in _finite_values(info.annotation)
    )


def _finite_values(annotation: Any) -> tuple[Any, ...]:
    if annotation is bool:
        return (False, True)
    origin = get_origin(annotation)
    if origin is Literal:
        return get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(m.value for m in annotation)
    if origin is not None:  # Optional[...] / Annotated[...]
        for arg in get_args(annotation):
            if arg is not type(None):
                values = _finite_values(arg)
                if values:
                    return values
    return ()


def _run(tool: Tool, inputs: dict[str, Any]) -> ClassificationResult | None:
    try:
        result = tool.run(tool.input_model.model_validate(inputs))
    except (ValidationError, ValueError):
        return None  # an impossible combination: not a branch
    return result if isinstance(result, ClassificationResult) else None


@dataclass
class _Leaf:
    assumed: dict[str, Any]
    result: ClassificationResult | None

    @property
    def outcome(self) -> tuple[str, str | None] | None:
        r = self.result
        if r is None:
            return None
        if r.category is not None:
            return ("category", r.category)
        if r.not_applicable is not None:
            return ("not_applicable", None)
        return None


def _explore(tool: Tool, inputs: dict[str, Any], first: ClassificationResult) -> list[_Leaf]:
    """Depth-first over the finite values of each missing input (the tool says which are missing)."""
    leaves: list[_Leaf] = []
    budget = MAX_EVALUATIONS
    stack: list[tuple[dict[str, Any], ClassificationResult | None]] = [({}, first)]
    while stack and budget > 0:
        assumed, result = stack.pop()
        if result is None or result.decided or result.not_applicable or not result.missing:
            leaves.append(_Leaf(assumed, result))
            continue
        open_fields = [m for m in result.missing if m not in assumed and _choices(tool, m)]
        if not open_fields or len(assumed) >= MAX_FIELDS:
            leaves.append(_Leaf(assumed, result))
            continue
        name = open_fields[0]
        for value, _ in reversed(_choices(tool, name)):
            budget -= 1
            trial = {**assumed, name: value}
            stack.append((trial, _run(tool, {**inputs, **trial})))
    leaves.extend(_Leaf(a, r) for a, r in stack)
    return leaves


def _rank(order: tuple[str, ...], category: str | None) -> int | None:
    if category is None:
        return None
    for i, label in enumerate(order):
        if category == label or category.startswith(label):
            return i
    return None


def _grounded(text: str, grounds: tuple[str, ...]) -> str | None:
    for pattern in grounds:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if not is_negated_span(text, m.start(), m.end()):
                return m.group(0)
    return None


def _safe_absent(tool: Tool, leaves: list[_Leaf], rule: ReadAsAbsent) -> bool:
    """Absence never gives a lower category than presence, other assumed values being equal."""
    order = severity(tool)
    if not order:
        return False
    groups: dict[tuple[tuple[str, Any], ...], dict[Any, set[int | None]]] = {}
    for leaf in leaves:
        if rule.field not in leaf.assumed:
            continue
        others = tuple(sorted((k, repr(v)) for k, v in leaf.assumed.items() if k != rule.field))
        rank = _rank(order, leaf.result.category if leaf.result else None)
        groups.setdefault(others, {}).setdefault(leaf.assumed[rule.field], set()).add(rank)
    if not groups:
        return False
    for by_value in groups.values():
        absent = by_value.get(rule.value, set())
        if not absent or None in absent:
            return False
        floor = min(absent)  # type: ignore[type-var]
        for value, ranks in by_value.items():
            if value != rule.value and (None in ranks or max(ranks) > floor):  # type: ignore[type-var]
                return False
    return True


def _condition(tool: Tool, assumed: dict[str, Any]) -> str:
    parts = []
    for name, value in assumed.items():
        labels = dict(_choices(tool, name))
        parts.append(f"{name} = {labels.get(value, value)}")
    return " and ".join(parts)


def resolve(tool: Tool, inputs: dict[str, Any], result: ClassificationResult, text: str = "") -> Resolution:
    """Work out assumptions and branches for a result that lists missing inputs (see the module docstring)."""
    if result.decided or result.not_applicable or not result.missing:
        return Resolution(result)
    inputs = dict(inputs)
    assumptions: list[str] = []
    leaves = _explore(tool, inputs, result)
    for rule in read_as_absent(tool):
        if rule.field in inputs or not any(rule.field in leaf.assumed for leaf in leaves):
            continue
        words = _grounded(text, rule.grounds) if rule.grounds else None
        if rule.grounds and words is None:
            continue
        if not rule.grounds and not _safe_absent(tool, leaves, rule):
            continue
        inputs[rule.field] = rule.value
        why = f"stated as {words!r}" if words else "its presence could not lower the category"
        assumptions.append(f"{rule.field.replace('_', ' ')} not stated: read as {rule.label} ({why}).")
        rerun = _run(tool, inputs)
        if rerun is None:
            inputs.pop(rule.field)
            assumptions.pop()
            continue
        result = rerun
        if result.decided or result.not_applicable or not result.missing:
            return Resolution(result, assumptions=assumptions)
        leaves = _explore(tool, inputs, result)
    return _branches(tool, result, leaves, assumptions)


def _branches(
    tool: Tool, result: ClassificationResult, leaves: list[_Leaf], assumptions: list[str]
) -> Resolution:
    outcomes = [leaf.outcome for leaf in leaves]
    if not leaves or any(o is None for o in outcomes):
        return Resolution(result, assumptions=assumptions, ask=list(result.missing))
    decided = [leaf for leaf in leaves if leaf.result is not None]
    categories = {leaf.result.category for leaf in decided if leaf.result}
    if len(categories) == 1 and all(leaf.result and leaf.result.decided for leaf in decided):
        same = decided[0].result
        assert same is not None
        managements = {leaf.result.management for leaf in decided if leaf.result}
        if len(managements) == 1:
            unstated = sorted({k for leaf in decided for k in leaf.assumed})
            note = f"Not stated: {', '.join(unstated)}; every possible value gives the same result."
            return Resolution(
                same.model_copy(update={"rationale": [*same.rationale, note]}), assumptions=assumptions
            )
    branches = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for leaf in sorted(decided, key=lambda lf: len(lf.assumed)):
        r = leaf.result
        assert r is not None
        category = r.category if r.category is not None else "not applicable"
        key = (_condition(tool, leaf.assumed), category, r.management)
        if key in seen:
            continue
        seen.add(key)
        branches.append(Branch(if_=key[0], category=category, management=r.management or r.not_applicable))
    order = severity(tool)
    ranks = [_rank(order, b.category) for b in branches]
    at_least = None
    if order and ranks and None not in ranks:
        low = min(r for r in ranks if r is not None)
        at_least = order[low]
    return Resolution(
        result, branches=branches, assumptions=assumptions, ask=list(result.missing), at_least=at_least
    )
