"""Decision helpers shared by several classifiers (a private module: the registry does not load it as a tool).

Missing inputs: Bosniak, LI-RADS and O-RADS read their inputs lazily; a rule that needs an input nobody
gave raises `Need`, and `explore` retries with every value of that input when it is enumerable. The answer
is decided when every branch gives the same outcome; otherwise the inputs of the first-choice path are the
ones to ask for. Each system keeps its own outcome type (its fields differ); `explore` only needs its `key`.

Also shared: input validation (impossible combinations, no booleans for numbers) and nodule measurement
(whole-unit rounding half up, mean of the long and short axis).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol, TypeVar

# --- missing inputs --------------------------------------------------------------------------------


class Need(Exception):
    """A rule read inputs that were not given."""

    def __init__(self, *fields: str):
        super().__init__(", ".join(fields))
        self.fields = fields


def need(values: dict[str, Any], *keys: str) -> Any:
    """Return the given inputs, or raise Need naming every one of `keys` that is missing."""
    absent = [k for k in keys if values.get(k) is None]
    if absent:
        raise Need(*absent)
    found = [values[k] for k in keys]
    return found[0] if len(found) == 1 else found


class Keyed(Protocol):
    """An outcome; two outcomes with the same key are the same answer."""

    @property
    def key(self) -> Hashable: ...


OutcomeT = TypeVar("OutcomeT", bound=Keyed)


def explore(
    evaluate: Callable[[dict[str, Any]], OutcomeT],
    values: dict[str, Any],
    choices: dict[str, tuple[Any, ...]],
    *,
    limit: int,
) -> tuple[list[tuple[dict[str, Any], OutcomeT]], list[str], bool]:
    """Evaluate with every value of each needed-but-missing enumerable input (depth first, first choice first).

    Returns the outcomes with the values assumed for them; the inputs needed along the first-choice path
    (the gate inputs to ask for now: details under other values are asked once the gate is answered);
    and whether the answer is undecided because a branch needed an input that cannot be enumerated.
    Stops early once the first-choice path is done and the answer is known to be undecided. `limit` caps
    the number of evaluations (each system sets its own); what is left pending counts as undecided.
    """
    outcomes: list[tuple[dict[str, Any], OutcomeT]] = []
    needed: list[str] = []
    stuck = first_path_done = False
    pending: list[dict[str, Any]] = [{}]
    while pending and limit > 0:
        if first_path_done and (stuck or len({o.key for _, o in outcomes}) > 1):
            break
        limit -= 1
        assumed = pending.pop()
        on_first_path = all(choices[k][0] == v for k, v in assumed.items())
        try:
            outcomes.append((assumed, evaluate({**values, **assumed})))
            first_path_done = first_path_done or on_first_path
        except Need as missing:
            if on_first_path:
                needed += [f for f in missing.fields if f not in needed]
            if all(f in choices for f in missing.fields):
                first = missing.fields[0]
                pending.extend({**assumed, first: c} for c in reversed(choices[first]))
            else:
                stuck = True
                first_path_done = first_path_done or on_first_path
    return outcomes, needed, stuck or bool(pending)


def presence_changes(
    evaluate: Callable[[dict[str, Any]], OutcomeT],
    values: dict[str, Any],
    presence_only: Iterable[tuple[str, str]],
    outcome: Keyed,
) -> list[tuple[str, str, OutcomeT]]:
    """(field, label, outcome if present) for each unstated presence-only field whose presence would change
    the outcome; such a field is taken as absent, and the caveat says what its presence would give."""
    changes = []
    for name, label in presence_only:
        if values[name] is not None:
            continue
        try:
            alternative = evaluate({**values, name: True})
        except Need:
            continue
        if alternative.key != outcome.key:
            changes.append((name, label, alternative))
    return changes


# --- input validation ----------------------------------------------------------------------------

# Impossible combinations of inputs as (fields involved, message): the input model refuses them, the
# extractor drops the fields involved.
Problems = list[tuple[tuple[str, ...], str]]


def refuse(problems: Problems) -> None:
    """Raise one ValueError listing every impossible combination (for an input model's validator)."""
    if problems:
        raise ValueError("; ".join(message for _, message in problems))


def reject_bool(value: Any) -> Any:
    """Refuse true/false where a number is expected (pydantic would read True as 1)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


# --- measurement ---------------------------------------------------------------------------------


def round_half_up(value: Decimal | float) -> int:
    """Round to the nearest whole number, ties away from zero (8.5 -> 9), unlike built-in round()."""
    return int(Decimal(str(value)).quantize(Decimal("1"), ROUND_HALF_UP))


def mean_of_axes(values: Mapping[str, Any], single: str) -> Decimal | None:
    """Unrounded mean of the long and short axis, or the single diameter given under the field `single`."""
    if values.get(single) is not None:
        return Decimal(str(values[single]))
    long_mm, short_mm = values.get("long_axis_mm"), values.get("short_axis_mm")
    if long_mm is None or short_mm is None:
        return None
    return (Decimal(str(long_mm)) + Decimal(str(short_mm))) / 2


def axes_problems(values: Mapping[str, Any], single: str, not_both: str) -> Problems:
    """A size given both as `single` and as axes (message `not_both`); a short axis longer than the long one."""
    found: Problems = []
    long_mm, short_mm = values.get("long_axis_mm"), values.get("short_axis_mm")
    if values.get(single) is not None and (long_mm is not None or short_mm is not None):
        found.append(((single, "long_axis_mm", "short_axis_mm"), not_both))
    if long_mm is not None and short_mm is not None and short_mm > long_mm:
        found.append(
            (
                ("long_axis_mm", "short_axis_mm"),
                f"short_axis_mm ({short_mm}) exceeds long_axis_mm ({long_mm})",
            )
        )
    return found
