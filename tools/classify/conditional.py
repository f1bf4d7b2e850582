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

MAX_EVALUATIONS = 64  # tool calls per finding (each is tens of microseconds)
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
    """The system's categories from lowest to highest concern (empty when it declares no order).

    A system whose categories are an ordinal scale (Bosniak, PI-RADS, ...) also sets `ORDINAL = True`, and its
    branches then say "at least <lowest category>".
    """
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


def rank(order: tuple[str, ...], category: str | None) -> int | None:
    """Position of a category in a system's `SEVERITY`: an exact label, else the highest label it contains."""
    if category is None:
        return None
    if category in order:
        return order.index(category)
    contained = [i for i, label in enumerate(order) if label in category]
    return max(contained) if contained else None


def _grounded(text: str, grounds: tuple[str, ...]) -> str | None:
    for pattern in grounds:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if not is_negated_span(text, m.start(), m.end()):
                return m.group(0)
    return None


def _safe_absent(tool: Tool, leaves: list[_Leaf], rule: ReadAsAbsent) -> bool:
    """Absence never gives a lower category than presence, wherever the other assumed values agree.

    Each leaf where the descriptor is present is compared with every leaf where it is absent and the inputs
    both assumed have the same values; there must be at least one such leaf, and none may rank lower.
    """
    order = severity(tool)
    if not order:
        return False
    absent: list[tuple[dict[str, Any], int]] = []
    present: list[tuple[dict[str, Any], int]] = []
    for leaf in leaves:
        if rule.field not in leaf.assumed or leaf.result is None:
            continue
        position = rank(order, leaf.result.category)
        if position is None:
            return False  # an undecided or unranked outcome: cannot show absence is the safe side
        (absent if leaf.assumed[rule.field] == rule.value else present).append((leaf.assumed, position))
    if not absent or not present:
        return False
    for assumed, position in present:
        matching = [
            p for a, p in absent if all(a[k] == v for k, v in assumed.items() if k in a and k != rule.field)
        ]
        if not matching or min(matching) < position:
            return False
    return True


def resolve(tool: Tool, inputs: dict[str, Any], result: ClassificationResult, text: str = "") -> Resolution:
    """Work out assumptions and branches for a result that lists missing inputs (see the module docstring)."""
    if result.decided or result.not_applicable or not result.missing:
        return Resolution(result)
    inputs = dict(inputs)
    assumptions: list[str] = []
    rules = read_as_absent(tool)
    grounded = [r for r in rules if r.grounds and r.field not in inputs]
    for rule in grounded:  # stated words imply the absence: read it before exploring what is left
        words = _grounded(text, rule.grounds)
        if words is None:
            continue
        trial = {**inputs, rule.field: rule.value}
        rerun = _run(tool, trial)
        if rerun is None:
            continue
        inputs, result = trial, rerun
        assumptions.append(
            f"{rule.field.replace('_', ' ')} not stated: read as {rule.label} (stated as {words!r})."
        )
    if result.decided or result.not_applicable or not result.missing:
        return Resolution(result, assumptions=assumptions)
    leaves = _explore(tool, inputs, result)
    for rule in rules:
        if rule.grounds or rule.field in inputs or not any(rule.field in leaf.assumed for leaf in leaves):
            continue
        if not _safe_absent(tool, leaves, rule):
            continue
        inputs[rule.field] = rule.value
        assumptions.append(
            f"{rule.field.replace('_', ' ')} not stated: read as {rule.label} (its presence could not lower the "
            "category)."
        )
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


def _order(tool: Tool, leaf: _Leaf) -> tuple[int, ...]:
    """Leaves in the order of each input's values as the system lists them (absent/negative first)."""
    index = []
    for name, value in leaf.assumed.items():
        values = [v for v, _ in _choices(tool, name)]
        index.append(values.index(value) if value in values else len(values))
    return (len(leaf.assumed), *index)


def _merged(tool: Tool, branches: list[tuple[dict[str, Any], ClassificationResult]]) -> list[Branch]:
    """One branch per outcome: values of one input that give the same answer are joined with 'or'."""
    out: list[tuple[dict[str, list[Any]], ClassificationResult]] = []
    for assumed, r in branches:
        for conditions, other in out:
            same = (other.category, other.management, other.not_applicable) == (
                r.category,
                r.management,
                r.not_applicable,
            )
            if same and conditions.keys() == assumed.keys():
                differing = [k for k in assumed if assumed[k] not in conditions[k]]
                if len(differing) <= 1 and all(len(conditions[k]) == 1 or k in differing for k in assumed):
                    for k in differing:
                        conditions[k].append(assumed[k])
                    break
        else:
            out.append(({k: [v] for k, v in assumed.items()}, r))
    result = []
    for conditions, r in out:
        parts = []
        for name, values in conditions.items():
            labels = dict(_choices(tool, name))
            if len(conditions) > 1 and set(values) >= set(labels):
                continue  # every value of this input gives this answer: it is no condition
            parts.append(f"{name} = " + " or ".join(str(labels.get(v, v)) for v in values))
        category = r.category if r.category is not None else "not applicable"
        result.append(
            Branch(if_=" and ".join(parts), category=category, management=r.management or r.not_applicable)
        )
    return result


def _branches(
    tool: Tool, result: ClassificationResult, leaves: list[_Leaf], assumptions: list[str]
) -> Resolution:
    leaves = [leaf for leaf in leaves if leaf.result is not None]  # impossible combinations are no branch
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
    ordered = sorted(decided, key=lambda lf: _order(tool, lf))
    branches = _merged(tool, [(leaf.assumed, leaf.result) for leaf in ordered if leaf.result is not None])
    order = severity(tool)
    ranks = [rank(order, b.category) for b in branches]
    at_least = None
    if getattr(_module(tool), "ORDINAL", False) and order and ranks and None not in ranks:
        low = min(r for r in ranks if r is not None)
        at_least = order[low]
    return Resolution(
        result, branches=branches, assumptions=assumptions, ask=list(result.missing), at_least=at_least
    )
