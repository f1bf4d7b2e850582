"""Fleischner Society 2017: management of incidental pulmonary nodules on CT (MacMahon 2017, Table 1).

Measurement (Bankier 2017): size = mean of the long and short axis on the same image, rounded to the
nearest whole millimetre. The tie rule is not spelled out in the papers; half up is used (8.5 -> 9),
never Python's banker's `round()`. Bands after rounding: "<6 mm" = up to 5, "6-8 mm" = 6, 7 or 8,
">8 mm" = 9 and above. The solid component of a part-solid nodule is rounded the same way.

Category labels (the table row that fired), exactly as returned:
  solid:       "solid, <count>, <band>, <risk> risk" with count single|multiple, band "<6 mm"|"6-8 mm"|">8 mm",
               risk low|high; an input that does not change the row is written "any count" / "any risk"
               (e.g. "solid, single, >8 mm, any risk", "solid, any count, <6 mm, low risk").
  ground-glass: "ground-glass, single, <6 mm" | "ground-glass, single, >=6 mm"
  part-solid:  "part-solid, single, <6 mm"
               "part-solid, single, >=6 mm, solid component <6 mm" | "... solid component 6-8 mm"
               "... solid component >8 mm" | "... growing solid component" | "... suspicious morphology"
  multiple:    "subsolid, multiple, <6 mm" | "subsolid, multiple, >=6 mm"

Out of scope (-> not_applicable): age < 35, lung-cancer screening (Lung-RADS), immunocompromised,
known primary cancer. Scope fields left empty are assumed in scope and listed in the caveats.

The text helpers for chest CT findings (`read_nodule_type`, `read_sizes`, ...) are also used by Lung-RADS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import product
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify.base import ClassificationResult, Extraction
from tools.classify.text import (
    Measurement,
    find_measurements,
    find_negated_term,
    find_term,
    is_negated,
    word_number,
)
from tools.registry import tool

NAME = "fleischner"
GUIDELINE = "Fleischner Society 2017"
CITATION = (
    "MacMahon H et al. Guidelines for Management of Incidental Pulmonary Nodules Detected on CT Images: "
    "From the Fleischner Society 2017. Radiology 2017;284(1):228-243, Table 1; measurement: Bankier AA et al. "
    "Radiology 2017;285(2):584-600"
)
TRIGGERS: tuple[str, ...] = (
    r"\bfleischner\b",
    r"\b(?:pulmonary|lung)\s+nodules?\b",
    r"\bground[- ]glass\b",
    r"\bpart[- ]?solid\b",
    r"\bsub[- ]?solid\b",
    r"\bGG[NO]s?\b",
)

NoduleType = Literal["solid", "part-solid", "ground-glass", "subsolid"]
Count = Literal["single", "multiple"]
Risk = Literal["low", "high"]
COUNTS: tuple[Count, ...] = ("single", "multiple")
RISKS: tuple[Risk, ...] = ("low", "high")
MIN_AGE = 35  # Fleischner 2017: the guidelines apply to adults aged 35 years or older.
MASS_MM = 30  # Fleischner glossary (Hansell 2008): a nodule measures up to 3 cm; larger is a mass.

# Fleischner 2017, Table 1, solid nodules: (count, risk, band) -> management (own words).
SOLID_TABLE: dict[tuple[str, str, str], str] = {
    ("single", "low", "<6 mm"): "No routine follow-up",
    ("single", "low", "6-8 mm"): "CT at 6-12 months, then consider CT at 18-24 months",
    ("single", "low", ">8 mm"): "Consider CT at 3 months, PET/CT, or tissue sampling",
    ("single", "high", "<6 mm"): "Optional CT at 12 months",
    ("single", "high", "6-8 mm"): "CT at 6-12 months, then CT at 18-24 months",
    ("single", "high", ">8 mm"): "Consider CT at 3 months, PET/CT, or tissue sampling",
    ("multiple", "low", "<6 mm"): "No routine follow-up",
    ("multiple", "low", "6-8 mm"): "CT at 3-6 months, then consider CT at 18-24 months",
    ("multiple", "low", ">8 mm"): "CT at 3-6 months, then consider CT at 18-24 months",
    ("multiple", "high", "<6 mm"): "Optional CT at 12 months",
    ("multiple", "high", "6-8 mm"): "CT at 3-6 months, then CT at 18-24 months",
    ("multiple", "high", ">8 mm"): "CT at 3-6 months, then CT at 18-24 months",
}

# Fleischner 2017, Table 1, subsolid nodules, and recommendations 4A-4C: label -> management (own words).
SUBSOLID_TABLE: dict[str, str] = {
    "ground-glass, single, <6 mm": "No routine follow-up",
    "ground-glass, single, >=6 mm": (
        "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years"
    ),
    "part-solid, single, <6 mm": "No routine follow-up",
    "part-solid, single, >=6 mm, solid component <6 mm": (
        "CT at 3-6 months to confirm persistence; if unchanged and the solid component remains <6 mm, "
        "annual CT for 5 years"
    ),
    "part-solid, single, >=6 mm, solid component 6-8 mm": (
        "CT at 3-6 months to confirm persistence; a persistent part-solid nodule with a solid component "
        ">=6 mm is highly suspicious"
    ),
    "part-solid, single, >=6 mm, solid component >8 mm": "PET/CT, biopsy or resection",
    "part-solid, single, >=6 mm, growing solid component": "PET/CT, biopsy or resection",
    "part-solid, single, >=6 mm, suspicious morphology": "PET/CT, biopsy or resection",
    "subsolid, multiple, <6 mm": "CT at 3-6 months; if stable, consider CT at 2 and 4 years",
    "subsolid, multiple, >=6 mm": (
        "CT at 3-6 months; subsequent management based on the most suspicious nodule(s)"
    ),
}
GGN_SMALL_SUSPICIOUS = "In certain suspicious nodules <6 mm, consider CT at 2 and 4 years"

RISK_DEFINITION = (
    "Risk (Fleischner 2017): low = minimal or absent smoking history and no other known risk factors; high = "
    "smoking history or other known risk factors (e.g. asbestos, radon or uranium exposure, family history of "
    "lung cancer, older age, emphysema or fibrosis, upper-lobe location, spiculation)."
)


class FleischnerInput(BaseModel):
    """One incidental pulmonary nodule (or the most suspicious of several) and the patient's scope facts."""

    model_config = ConfigDict(extra="forbid")

    nodule_type: NoduleType | None = Field(
        default=None,
        description=(
            "Attenuation: 'solid', 'part-solid', 'ground-glass' (pure ground-glass / non-solid), or 'subsolid' "
            "when ground-glass vs part-solid is not stated (enough only for multiple subsolid nodules)."
        ),
    )
    count: Count | None = Field(default=None, description="'single' (solitary) or 'multiple' nodules.")
    risk: Risk | None = Field(
        default=None,
        description="Patient lung-cancer risk for solid nodules: 'low' or 'high' (not needed for subsolid).",
    )
    long_axis_mm: float | None = Field(
        default=None, gt=0, le=100, description="Long axis on the axial (or best) image, mm."
    )
    short_axis_mm: float | None = Field(
        default=None, gt=0, le=100, description="Short axis perpendicular to the long axis, same image, mm."
    )
    diameter_mm: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="A single diameter (mm) when axes are not given; treated as the mean diameter.",
    )
    solid_component_mm: float | None = Field(
        default=None, gt=0, le=100, description="Part-solid nodules: size of the solid component, mm."
    )
    solid_component_growing: bool | None = Field(
        default=None, description="Part-solid nodules: the solid component is growing."
    )
    suspicious_morphology: bool | None = Field(
        default=None,
        description="Subsolid: particularly suspicious morphology (lobulated margins, cystic components).",
    )
    perifissural: bool | None = Field(
        default=None, description="Solid nodule with typical perifissural morphology (triangular/lentiform)."
    )
    age: int | None = Field(default=None, ge=0, le=120, description="Patient age in years.")
    screening: bool | None = Field(default=None, description="Found on a lung-cancer screening CT.")
    immunocompromised: bool | None = Field(default=None, description="Patient is immunocompromised.")
    known_cancer: bool | None = Field(default=None, description="Patient has a known primary cancer.")

    @model_validator(mode="after")
    def _consistent(self) -> FleischnerInput:
        problems = contradictions(vars(self))
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self


def contradictions(values: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Impossible combinations as (fields involved, message); shared by the validator and the extractor."""
    found: list[tuple[tuple[str, ...], str]] = []
    long_mm, short_mm, diameter = (
        values.get("long_axis_mm"),
        values.get("short_axis_mm"),
        values.get("diameter_mm"),
    )
    solid = values.get("solid_component_mm")
    if diameter is not None and (long_mm is not None or short_mm is not None):
        found.append(
            (
                ("diameter_mm", "long_axis_mm", "short_axis_mm"),
                "give diameter_mm or long/short axes, not both",
            )
        )
    if long_mm is not None and short_mm is not None and short_mm > long_mm:
        found.append(
            (
                ("long_axis_mm", "short_axis_mm"),
                f"short_axis_mm ({short_mm}) exceeds long_axis_mm ({long_mm})",
            )
        )
    largest = long_mm if long_mm is not None else diameter
    if solid is not None and largest is not None and solid > largest:
        which = "long_axis_mm" if long_mm is not None else "diameter_mm"
        found.append(
            (("solid_component_mm", which), f"solid_component_mm ({solid}) is larger than the nodule {which}")
        )
    kind = values.get("nodule_type")
    if kind is not None and kind not in ("part-solid", "subsolid"):
        for name in ("solid_component_mm", "solid_component_growing"):
            if values.get(name) is not None:
                found.append(((name, "nodule_type"), f"{name} is given but nodule_type is {kind!r}"))
    return found


# --- measurement -------------------------------------------------------------------------------


def round_half_up(value: Decimal | float) -> int:
    """Round to the nearest whole number, ties away from zero (8.5 -> 9), unlike built-in round()."""
    return int(Decimal(str(value)).quantize(Decimal("1"), ROUND_HALF_UP))


def mean_diameter(values: Mapping[str, Any]) -> Decimal | None:
    """Unrounded mean diameter from the axes (Bankier 2017), or the single diameter given."""
    if values.get("diameter_mm") is not None:
        return Decimal(str(values["diameter_mm"]))
    long_mm, short_mm = values.get("long_axis_mm"), values.get("short_axis_mm")
    if long_mm is None or short_mm is None:
        return None
    return (Decimal(str(long_mm)) + Decimal(str(short_mm))) / 2


def solid_band(size_mm: int) -> str:
    """Fleischner 2017 Table 1 size column for a whole-millimetre size."""
    if size_mm < 6:
        return "<6 mm"
    return "6-8 mm" if size_mm <= 8 else ">8 mm"


def _size_rationale(inp: FleischnerInput, mean: Decimal, size: int) -> str:
    if inp.diameter_mm is not None:
        how = f"single diameter {inp.diameter_mm:g} mm"
    else:
        axes = f"({inp.long_axis_mm:g} + {inp.short_axis_mm:g}) / 2"
        how = f"mean of long and short axis {axes} = {mean.normalize():f} mm"
    return f"Size: {how}, rounded half up to the nearest mm = {size} mm (Bankier 2017)."


# --- decision ----------------------------------------------------------------------------------


def _size_missing(values: Mapping[str, Any]) -> list[str]:
    if values.get("diameter_mm") is not None:
        return []
    return [name for name in ("long_axis_mm", "short_axis_mm") if values.get(name) is None]


def _solid_needed(count: str | None, risk: str | None, band: str | None) -> list[str]:
    """Which of count and risk change the solid-nodule row (an unknown that does not is not asked for)."""
    if band is None:
        return [name for name, value in (("count", count), ("risk", risk)) if value is None]
    needed = []
    counts = (count,) if count else COUNTS
    risks = (risk,) if risk else RISKS
    if count is None and any(len({SOLID_TABLE[c, r, band] for c in COUNTS}) > 1 for r in risks):
        needed.append("count")
    if risk is None and any(len({SOLID_TABLE[c, r, band] for r in RISKS}) > 1 for c in counts):
        needed.append("risk")
    return needed


def required_missing(values: Mapping[str, Any], size_mm: int | None) -> list[str]:
    """Input fields this path needs but does not have (size_mm: the rounded mean diameter, if known)."""
    kind, count = values.get("nodule_type"), values.get("count")
    missing = [] if kind else ["nodule_type"]
    missing += _size_missing(values)
    if kind == "solid":
        band = solid_band(size_mm) if size_mm is not None else None
        return missing + _solid_needed(count, values.get("risk"), band)
    if count is None:
        missing.append("count")
    if kind == "subsolid" and count == "single":
        missing.append("nodule_type")  # a single subsolid nodule must be called ground-glass or part-solid
    if kind == "part-solid" and count == "single" and size_mm is not None and size_mm >= 6:
        decided_without = values.get("solid_component_growing") or values.get("suspicious_morphology")
        if values.get("solid_component_mm") is None and not decided_without:
            missing.append("solid_component_mm")
    return missing


def _out_of_scope(inp: FleischnerInput) -> str | None:
    reasons = []
    if inp.age is not None and inp.age < MIN_AGE:
        reasons.append(
            f"age {inp.age} < {MIN_AGE} years: Fleischner 2017 does not apply; manage individually"
        )
    if inp.screening:
        reasons.append("lung-cancer screening CT: use ACR Lung-RADS v2022 (tool 'lung_rads')")
    if inp.immunocompromised:
        reasons.append("immunocompromised patient: Fleischner 2017 does not apply; manage individually")
    if inp.known_cancer:
        reasons.append(
            "known primary cancer: Fleischner 2017 does not apply; "
            "follow the oncologic staging/surveillance protocol"
        )
    return "; ".join(reasons) or None


def _scope_caveat(inp: FleischnerInput) -> str | None:
    unstated = [
        label
        for label, value in (
            ("age >= 35", inp.age),
            ("not a screening CT", inp.screening),
            ("not immunocompromised", inp.immunocompromised),
            ("no known primary cancer", inp.known_cancer),
        )
        if value is None
    ]
    if not unstated:
        return None
    return (
        "Applies only to incidental nodules in adults >= 35 y; assumed (not stated): "
        + ", ".join(unstated)
        + "."
    )


def _solid_row(inp: FleischnerInput, band: str) -> tuple[str, str]:
    counts = (inp.count,) if inp.count else COUNTS
    risks = (inp.risk,) if inp.risk else RISKS
    managements = {SOLID_TABLE[c, r, band] for c, r in product(counts, risks)}
    (management,) = managements  # required_missing guarantees a single row
    count_label = inp.count or "any count"
    risk_label = f"{inp.risk} risk" if inp.risk else "any risk"
    return f"solid, {count_label}, {band}, {risk_label}", management


def _part_solid_row(inp: FleischnerInput, solid_size: int | None) -> str:
    if solid_size is not None and solid_size > 8:
        return "part-solid, single, >=6 mm, solid component >8 mm"
    if inp.solid_component_growing:
        return "part-solid, single, >=6 mm, growing solid component"
    if inp.suspicious_morphology:
        return "part-solid, single, >=6 mm, suspicious morphology"
    assert solid_size is not None  # required_missing asks for it otherwise
    return f"part-solid, single, >=6 mm, solid component {'<6 mm' if solid_size < 6 else '6-8 mm'}"


def _subsolid_label(inp: FleischnerInput, size: int, solid_size: int | None) -> str:
    small = size < 6
    if inp.count == "multiple":
        return f"subsolid, multiple, {'<6 mm' if small else '>=6 mm'}"
    if inp.nodule_type == "ground-glass":
        return f"ground-glass, single, {'<6 mm' if small else '>=6 mm'}"
    return "part-solid, single, <6 mm" if small else _part_solid_row(inp, solid_size)


def _solid_caveats(inp: FleischnerInput, band: str) -> list[str]:
    caveats = [RISK_DEFINITION]
    if band == "<6 mm" and inp.risk != "low":
        caveats.append(
            "High risk, <6 mm: the optional 12-month CT is aimed at suspicious morphology or upper-lobe location."
        )
    if inp.perifissural:
        caveats.append(
            "Perifissural: Fleischner 2017 states that a nodule with typical perifissural morphology does not "
            "need follow-up even when its mean diameter exceeds 6 mm; no upper size limit is given, so the table "
            "row is still returned - judge the morphology."
        )
    return caveats


def _subsolid_caveats(inp: FleischnerInput, label: str) -> list[str]:
    caveats = ["Risk level does not change subsolid-nodule management (Fleischner 2017)."] if inp.risk else []
    if label.startswith("part-solid, single, <6 mm"):
        caveats.append(
            "Fleischner 2017: a nodule is not defined as part-solid until it is >= 6 mm; below that, no "
            "routine follow-up (as for a pure GGN)."
        )
    if label.startswith("subsolid, multiple, >=6 mm"):
        caveats.append(
            "Multiple subsolid: after the 3-6 month CT, management follows the most suspicious nodule(s)."
        )
    return caveats


def _base_result(**fields: Any) -> ClassificationResult:
    return ClassificationResult(system=NAME, guideline=GUIDELINE, citation=CITATION, **fields)


def extract(text: str) -> Extraction:
    """Read Fleischner inputs from a finding ("8 x 6 mm solid nodule, 62-year-old smoker")."""
    inputs: dict[str, Any] = {}
    evidence: dict[str, str] = {}
    ambiguous: set[str] = set()

    def put(name: str, reading: tuple[Any, str] | None) -> None:
        if reading is not None:
            inputs[name], evidence[name] = reading

    kind = read_nodule_type(text, allow_subsolid=True)
    if kind == "ambiguous":
        ambiguous.add("nodule_type")
    else:
        put("nodule_type", kind)
    put("count", read_count(text))
    put("risk", read_risk(text))
    put("age", read_age(text))
    put("screening", read_screening(text))
    put("immunocompromised", read_immunocompromised(text))
    put("known_cancer", read_known_cancer(text))
    sizes = read_sizes(text)
    if sizes.ambiguous:
        ambiguous.update(("long_axis_mm", "short_axis_mm"))
    _put_axes(inputs, evidence, sizes.current, single_name="diameter_mm")
    if sizes.solid_component is not None:
        inputs["solid_component_mm"] = sizes.solid_component.longest_mm
        evidence["solid_component_mm"] = sizes.solid_component.text
    _put_flag(text, inputs, evidence, "solid_component_growing", _GROWING_SOLID)
    _put_flag(text, inputs, evidence, "suspicious_morphology", _SUSPICIOUS_MORPHOLOGY)
    _put_flag(text, inputs, evidence, "perifissural", (r"\bperi-?fissural\b",))
    _drop_contradictions(inputs, evidence, ambiguous, contradictions(inputs))
    return Extraction(
        system=NAME,
        inputs=inputs,
        evidence=evidence,
        undetermined=_undetermined(inputs, ambiguous),
    )


def _undetermined(inputs: dict[str, Any], ambiguous: set[str]) -> list[str]:
    mean = mean_diameter(inputs)
    missing = required_missing(inputs, round_half_up(mean) if mean is not None else None)
    return missing + sorted(name for name in ambiguous if name not in missing and name not in inputs)


@tool(
    name=NAME,
    description=(
        "Fleischner Society 2017 management of an incidental pulmonary nodule on CT (adults >= 35 y, not "
        "screening, not immunocompromised, no known cancer): solid by count, risk and size; subsolid by type, "
        "size and solid component. Size is the mean of long and short axis rounded half up to whole mm."
    ),
    version="Fleischner Society 2017",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    exclusive_groups=(("diameter_mm", "long_axis_mm", "short_axis_mm"),),  # one size, given either way
)
def classify(inp: FleischnerInput) -> ClassificationResult:
    """Return the Fleischner 2017 table row, its management and the rounding trace for one nodule."""
    reason = _out_of_scope(inp)
    if reason:
        return _base_result(not_applicable=reason, inputs=_scope_inputs(inp))
    values = vars(inp)
    mean = mean_diameter(values)
    size = round_half_up(mean) if mean is not None else None
    missing = required_missing(values, size)
    if missing:
        return _base_result(
            missing=missing,
            rationale=["Inputs needed for this path: " + ", ".join(missing) + "."],
            inputs=_scope_inputs(inp),
        )
    assert mean is not None and size is not None
    rationale = [_size_rationale(inp, mean, size)]
    caveats = []
    if mean % 1 == Decimal("0.5"):
        caveats.append("Exact .5 mm mean: the guideline does not state the tie rule; rounded half up.")
    solid_size = round_half_up(inp.solid_component_mm) if inp.solid_component_mm is not None else None
    if inp.nodule_type == "solid":
        band = solid_band(size)
        label, management = _solid_row(inp, band)
        rationale.append(f"Solid nodule, size band {band}; Table 1 solid row: {label}.")
        caveats += _solid_caveats(inp, band)
    else:
        label = _subsolid_label(inp, size, solid_size)
        management = SUBSOLID_TABLE[label]
        if label == "ground-glass, single, <6 mm" and inp.suspicious_morphology:
            management += f". {GGN_SMALL_SUSPICIOUS}"
        if solid_size is not None:
            rationale.append(
                f"Solid component {inp.solid_component_mm:g} mm, rounded half up = {solid_size} mm."
            )
        rationale.append(f"Subsolid nodule, {'<6' if size < 6 else '>=6'} mm; Table 1 subsolid row: {label}.")
        caveats += _subsolid_caveats(inp, label)
    if inp.count == "multiple":
        caveats.append("Multiple nodules: manage by the most suspicious nodule, not necessarily the largest.")
    if size > MASS_MM:
        caveats.append(f"Mean diameter {size} mm > {MASS_MM} mm: a mass, not a nodule (Fleischner glossary).")
    scope = _scope_caveat(inp)
    if scope:
        caveats.append(scope)
    used = _scope_inputs(inp) | {"size_mm": size, "mean_diameter_mm": float(mean)}
    if solid_size is not None:
        used["solid_component_mm"] = solid_size
    return _base_result(
        category=label,
        management=management,
        rationale=rationale,
        caveats=caveats,
        inputs=used,
    )


def _scope_inputs(inp: FleischnerInput) -> dict[str, Any]:
    names = ("nodule_type", "count", "risk", "age", "screening", "immunocompromised", "known_cancer")
    return {name: getattr(inp, name) for name in names if getattr(inp, name) is not None}


# --- reading chest CT findings (shared with Lung-RADS) -----------------------------------------------

_SOLID_NOUN = r"solid\s+(?:component|portion|part|core|element)"
_PART_SOLID = (
    r"\bpart(?:ly|ially)?[- ]?solid\b",
    r"\bsemi[- ]?solid\b",
    r"\bmixed[- ](?:attenuation|density)\b",
)
_GROUND_GLASS = (r"\bground[- ]?glass\b", r"\bGG[NO]s?\b", r"\bnon[- ]?solid\b")
_SUBSOLID = (r"\bsub[- ]?solid\b",)
_SOLID = (
    r"(?<![-\w])(?<!non )(?<!part )(?<!partly )(?<!semi )(?<!sub )solid\b"
    r"(?!\s+(?:component|portion|part|core|element))",
)
_GROWING_SOLID = (
    rf"\b(?:growing|enlarging|increasing|new)\s+{_SOLID_NOUN}",
    rf"\b{_SOLID_NOUN}\s+(?:has\s+)?(?:grown|increased|enlarged)",
)
_SUSPICIOUS_MORPHOLOGY = (r"\blobulated\b", r"\bcystic\s+(?:components?|spaces?|changes?)\b", r"\bbubbly\b")


def _first(text: str, patterns: tuple[str, ...]) -> re.Match[str] | None:
    return find_term(text, patterns)


def read_nodule_type(text: str, *, allow_subsolid: bool) -> tuple[str, str] | Literal["ambiguous"] | None:
    """Nodule attenuation: (value, evidence), 'ambiguous' when the text names conflicting types, or None."""
    part = _first(text, _PART_SOLID)
    if part:
        return "part-solid", part.group(0)
    ggn = _first(text, _GROUND_GLASS)
    solid = _first(text, _SOLID)
    component = find_term(text, (rf"\b{_SOLID_NOUN}",))
    if ggn and component:
        return "part-solid", f"{ggn.group(0)} ... {component.group(0)}"
    if ggn and solid:
        return "ambiguous"
    if ggn:
        return "ground-glass", ggn.group(0)
    if solid:
        return "solid", solid.group(0)
    subsolid = _first(text, _SUBSOLID)
    if subsolid:
        return ("subsolid", subsolid.group(0)) if allow_subsolid else "ambiguous"
    return None


_NODULE_NOUNS = r"(?:nodules|GGNs|GGOs|opacities|lesions)"
_MULTIPLE = (
    rf"\b(?:multiple|several|numerous|innumerable|scattered|few|bilateral)\s+(?:[\w-]+\s+){{0,3}}?{_NODULE_NOUNS}\b",
    rf"\b(two|three|four|five|six|seven|eight|nine|ten|\d+)\s+(?!mm\b|cm\b|millim|centim|x\b)(?:[\w-]+\s+){{0,3}}?{_NODULE_NOUNS}\b",
    rf"\b{_NODULE_NOUNS}\b",
)
_SINGLE = (
    r"\b(?:solitary|single|isolated|one|1(?!\s*(?:mm|cm|x)\b))\s+(?:[\w.-]+\s+){0,6}?(?:nodule|GGN|GGO|opacity|lesion)\b",
    r"\bno\s+other\s+(?:[\w-]+\s+)?nodules?\b",
    r"\bsolitary\b",
    r"\bsingle\b(?=\s*(?:[,.;)]|$))",  # "6 mm GGO, single"
)


_SINGULAR_NOUN = r"\b(?:nodule|GGN|GGO|opacity)\b"
_ANY_PLURAL = r"\b(?:nodules|GGNs|GGOs|opacities)\b"


def read_count(text: str) -> tuple[str, str] | None:
    """'single' or 'multiple' from explicit wording, else from grammatical number.

    "6 mm solid nodule, smoker" describes one nodule: the singular noun, with no plural anywhere in
    the text, reads as single (the evidence says so, so the answer can show it). Mixed wording settles nothing.
    """
    single = _first(text, _SINGLE)
    multiple = None
    for pattern in _MULTIPLE:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            number = word_number(m.group(1)) if m.groups() else None
            if number != 1 and not is_negated(text, m.start()):
                multiple = m
                break
        if multiple:
            break
    if single and multiple:
        return None
    if single:
        return "single", single.group(0)
    if multiple:
        return "multiple", multiple.group(0)
    singular = re.search(_SINGULAR_NOUN, text, re.IGNORECASE)
    if singular and not re.search(_ANY_PLURAL, text, re.IGNORECASE):
        return "single", f"{singular.group(0)} (singular, no other nodule mentioned)"
    return None


_HIGH_RISK = (
    r"\b(?:current|former|ex-?|heavy|active|daily|chronic)?\s*smoker\b",
    r"\bsmoking\s+history\b",
    r"\bhistory\s+of\s+smoking\b",
    r"\bquit\s+smoking\b",
    r"\bsmokes\b",
    r"\b(?:\d+(?:\.\d+)?\s*)?pack[- ]?years?\b",
    r"\bhigh[- ]risk\b",
    r"\basbestos\b",
    r"\bradon\b",
    r"\buranium\b",
    r"\bfamily\s+history\s+of\s+lung\s+cancer\b",
    r"\bemphysema\b",
    r"\b(?:pulmonary\s+)?fibrosis\b",
)
_LOW_RISK_EXPLICIT = (r"\blow[- ]risk\b", r"\bno\s+(?:known\s+|other\s+)?risk\s+factors\b")
_NEVER_SMOKER = (
    r"\bnever[- ]smoker\b",
    r"\bnon[- ]?smoker\b",
    r"\bnever\s+smoked\b",
    r"\bno\s+(?:history\s+of\s+smoking|smoking\s+history)\b",
    r"\b0\s*pack[- ]?years?\b",
)
_RISK_CUES = (r"\bspiculat\w*", r"\bupper[- ]lobe\b", r"\b[RL]UL\b")


def read_risk(text: str) -> tuple[str, str] | None:
    """Fleischner risk: explicit 'low/high risk', smoking and other risk factors; conflicts settle nothing.

    'Never smoker' alone reads as low risk only when no other risk cue (spiculation, upper lobe) is present.
    """
    explicit_low = _first(text, _LOW_RISK_EXPLICIT)
    never = _first(text, _NEVER_SMOKER)
    high = None
    for pattern in _HIGH_RISK:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            zero_pack_years = re.match(r"0\s*pack", m.group(0))
            if not zero_pack_years and not is_negated(text, m.start()):
                high = m
                break
        if high:
            break
    if high and explicit_low:
        return None
    if high:
        return "high", high.group(0).strip()
    if explicit_low:
        return "low", explicit_low.group(0)
    if never and not _first(text, _RISK_CUES):
        return "low", never.group(0)
    return None


_AGE = (
    r"\b(\d{1,3})[- ]?(?:years?|yrs?)[- ]?old\b",
    r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)(?!\w)",
    r"\bage[d]?\s*:?\s*(\d{1,3})\b",
)


def read_age(text: str) -> tuple[int, str] | None:
    """Age in years from '62-year-old', '62 yo', 'aged 62'; several different ages settle nothing."""
    found: dict[int, str] = {}
    for pattern in _AGE:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            found.setdefault(int(m.group(1)), m.group(0))
    if len(found) != 1:
        return None
    ((age, snippet),) = found.items()
    return (age, snippet) if age <= 120 else None


_SCREENING = (
    r"\blung[- ]cancer\s+screening\b",
    r"\bscreening\b",
    r"\bLDCT\b",
    r"\blow[- ]dose\s+(?:chest\s+)?CT\b",
    r"\blung[- ]?RADS\b",
)
_NOT_SCREENING = (r"\bincidental(?:ly)?\b", r"\bnon[- ]screening\b")


def read_screening(text: str) -> tuple[bool, str] | None:
    """True for screening context (screening CT, LDCT), False for 'incidental' or negated screening."""
    yes = _first(text, _SCREENING)
    no = _first(text, _NOT_SCREENING) or find_negated_term(text, (r"\bscreening\b",))
    if yes and no:
        return None
    if yes:
        return True, yes.group(0)
    if no:
        return False, no.group(0)
    return None


_IMMUNO = (
    r"\bimmuno-?(?:compromised|suppressed|suppression|deficient|deficiency)\b",
    r"\b(?:organ|renal|kidney|liver|lung|heart|bone\s+marrow|stem[- ]cell)\s+transplant\w*",
    r"\btransplant\s+recipient\b",
    r"\bHIV\b",
    r"\bAIDS\b",
)
_IMMUNOCOMPETENT = (r"\bimmuno-?competent\b",)


def read_immunocompromised(text: str) -> tuple[bool, str] | None:
    """True for immunocompromise, False for 'immunocompetent' or a negated statement."""
    yes = _first(text, _IMMUNO)
    no = _first(text, _IMMUNOCOMPETENT) or find_negated_term(text, _IMMUNO)
    if yes and no:
        return None
    if yes:
        return True, yes.group(0)
    if no:
        return False, no.group(0)
    return None


_MALIGNANCY = r"(?:cancer|carcinoma|malignancy|melanoma|lymphoma|sarcoma|myeloma|leuka?emia)"
_KNOWN_CANCER = (
    rf"\bknown\s+(?:primary\s+)?(?:[\w-]+\s+)?{_MALIGNANCY}\b",
    rf"\bhistory\s+of\s+(?:[\w-]+\s+){{0,2}}{_MALIGNANCY}\b",
    rf"\b{_MALIGNANCY}\s+(?:patient|survivor|staging|surveillance)\b",
    r"\bknown\s+primary\b",
    r"\bmetasta(?:tic|ses|sis)\b",
    r"\b(?:oncologic(?:al)?\s+)?staging\b",
)


def read_known_cancer(text: str) -> tuple[bool, str] | None:
    """True for a known primary cancer; False only for a negated history ('no history of cancer')."""
    yes = None
    for pattern in _KNOWN_CANCER:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if re.search(r"family\s+$", text[max(0, m.start() - 8) : m.start()], re.IGNORECASE):
                continue  # family history of cancer is a risk factor, not the patient's cancer
            if not is_negated(text, m.start()):
                yes = m
                break
        if yes:
            break
    no = find_negated_term(text, _KNOWN_CANCER[:2])
    if yes and no:
        return None
    if yes:
        return True, yes.group(0)
    if no:
        return False, no.group(0)
    return None


def _put_flag(
    text: str, inputs: dict[str, Any], evidence: dict[str, str], name: str, patterns: tuple[str, ...]
) -> None:
    """Set a boolean input to True when a pattern occurs un-negated (absence is not stated, so left unset)."""
    m = find_term(text, patterns)
    if m:
        inputs[name], evidence[name] = True, m.group(0)


def _put_axes(
    inputs: dict[str, Any], evidence: dict[str, str], m: Measurement | None, *, single_name: str
) -> None:
    """Two dimensions -> long/short axes; one -> the single diameter; three (which axial pair?) -> nothing."""
    if m is None or len(m.dims_mm) > 2:
        return
    if len(m.dims_mm) == 2:
        inputs["long_axis_mm"], inputs["short_axis_mm"] = m.longest_mm, m.shortest_mm
        evidence["long_axis_mm"] = evidence["short_axis_mm"] = m.text
    else:
        inputs[single_name], evidence[single_name] = m.dims_mm[0], m.text


def _drop_contradictions(
    inputs: dict[str, Any],
    evidence: dict[str, str],
    ambiguous: set[str],
    problems: list[tuple[tuple[str, ...], str]],
) -> None:
    """Remove values the text states inconsistently, so the extraction always validates."""
    for fields, _ in problems:
        for name in fields:
            if name in inputs and name != "nodule_type":
                inputs.pop(name)
                evidence.pop(name, None)
                ambiguous.add(name)


# --- sizes with their roles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Sizes read from a finding by role: the nodule now, its solid component, and the prior values."""

    current: Measurement | None = None
    solid_component: Measurement | None = None
    prior: Measurement | None = None
    prior_solid_component: Measurement | None = None
    ambiguous: bool = False


_VAGUE_BEFORE = re.compile(
    r"(?:\d\s*(?:-|–|to)|<|>|≤|≥|\bless\s+than|\bgreater\s+than|\bsmaller\s+than|\blarger\s+than|\bunder|\bover"
    r"|\bat\s+least|\bbelow|\babove)\s*$|\d,$",
    re.IGNORECASE,
)
_FROM_TO = re.compile(r"\bfrom\s+(\d+(?:\.\d+)?)\s*(?:mm|cm)?\s*to\s*$", re.IGNORECASE)
_PRIOR_BEFORE = re.compile(
    r"\b(?:was|were|previously|prior|formerly|from|compared\s+(?:with|to)|vs\.?|versus|earlier|then)\s*"
    r"(?:measuring|measured|about|approximately|~)?\s*$",
    re.IGNORECASE,
)
_PRIOR_AFTER = re.compile(
    r"^\s*(?:\w+\s+)?(?:on|at|in)\s+(?:the\s+)?(?:prior|previous|earlier|last|baseline|preceding)\b"
    r"|^\s*(?:previously|before|earlier)\b"
    r"|^\s*(?:\d+|a|one|two)\s*(?:months?|mo|years?|yrs?)\s+(?:ago|earlier|before|prior)\b",
    re.IGNORECASE,
)
_SOLID_AFTER = re.compile(rf"^\s*(?:mean\s+)?{_SOLID_NOUN}", re.IGNORECASE)
_SOLID_IN_CLAUSE = re.compile(rf"{_SOLID_NOUN}(?!.*\bnodule\b)", re.IGNORECASE)
_CLAUSE = re.compile(r"[.;:,()]|\bwith\b|\band\b", re.IGNORECASE)
_OTHER_AFTER = re.compile(
    r"^\s*(?:[\w-]+\s+){0,2}?(?:lymph\s+)?(?:nodes?|effusion|aneurysm|aorta)\b", re.IGNORECASE
)
_LARGEST_BEFORE = re.compile(r"\b(?:largest|dominant|biggest|up\s+to)\b[^.;]{0,25}$", re.IGNORECASE)


def _clause_before(text: str, start: int) -> str:
    return _CLAUSE.split(text[max(0, start - 60) : start])[-1]


def _role(text: str, m: Measurement) -> str:
    """'current', 'prior', 'solid', 'prior_solid', 'other' or 'vague' for one measurement."""
    before, after = text[max(0, m.start - 40) : m.start], text[m.end : m.end + 40]
    if _VAGUE_BEFORE.search(before) and not _FROM_TO.search(before):
        return "vague"
    if _OTHER_AFTER.match(after):
        return "other"
    clause = _clause_before(text, m.start)
    solid = bool(_SOLID_AFTER.match(after) or _SOLID_IN_CLAUSE.search(clause))
    prior = bool(_PRIOR_BEFORE.search(before) or _PRIOR_AFTER.match(after))
    if _FROM_TO.search(before):
        prior = False
    if solid:
        return "prior_solid" if prior else "solid"
    return "prior" if prior else "current"


def read_sizes(text: str) -> Sizes:
    """Sort every size in the text by role; several different current sizes make the size ambiguous."""
    by_role: dict[str, list[Measurement]] = {}
    for m in find_measurements(text):
        role = _role(text, m)
        if role != "other":
            by_role.setdefault(role, []).append(m)
        if role == "current":
            from_to = _FROM_TO.search(text[max(0, m.start - 40) : m.start])
            if from_to:
                unit = 10.0 if re.search(r"cm", m.text, re.IGNORECASE) else 1.0
                prior = Measurement(
                    (round(float(from_to.group(1)) * unit, 3),), m.start, m.start, from_to.group(0)
                )
                solid = _SOLID_IN_CLAUSE.search(_clause_before(text, m.start - len(from_to.group(0))))
                by_role.setdefault("prior_solid" if solid else "prior", []).append(prior)
    current, ambiguous = _pick(by_role.get("current", []), text)
    if current is None and by_role.get("vague"):
        ambiguous = True
    solid, solid_ambiguous = _pick(by_role.get("solid", []), text)
    prior, _ = _pick(by_role.get("prior", []), text)
    prior_solid, _ = _pick(by_role.get("prior_solid", []), text)
    return Sizes(current, solid, prior, prior_solid, ambiguous or solid_ambiguous)


def _pick(found: list[Measurement], text: str) -> tuple[Measurement | None, bool]:
    """The one size of a role; with several, the one marked 'largest'/'dominant', else ambiguous."""
    distinct = {m.dims_mm: m for m in found}
    if len(distinct) == 1:
        return found[0], False
    if not distinct:
        return None, False
    marked = [m for m in found if _LARGEST_BEFORE.search(text[max(0, m.start - 30) : m.start])]
    if len({m.dims_mm for m in marked}) == 1:
        return marked[0], False
    return None, True
