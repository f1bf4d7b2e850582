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
known primary cancer, a nodule in an airway (endobronchial). Scope fields left empty are assumed in scope and listed in the caveats.

The text readers for chest CT findings (`read_nodule_type`, `read_sizes`, ...) live in `_chest_text`,
shared with Lung-RADS.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from itertools import product
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify._chest_text import (
    GROWING_SOLID,
    SUSPICIOUS_MORPHOLOGY,
    put_nodule_size,
    read_age,
    read_airway_nodule,
    read_count,
    read_immunocompromised,
    read_known_cancer,
    read_nodule_type,
    read_risk,
    read_screening,
    read_sizes,
)
from tools.classify._decide import Problems, axes_problems, mean_of_axes, refuse, round_half_up
from tools.classify._extract import Found
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
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
    # dictation without "lung"/"pulmonary": lobes, SPN, perifissural (issue 11)
    r"\b(?:RUL|RML|RLL|LUL|LLL|lingula(?:r)?)\b",
    r"\b(?:right|left)\s+(?:upper|middle|lower)\s+lobes?\b",
    r"\bSPNs?\b",
    r"\bperi-?fissural\b",
)

# Issue 11 (tools.classify.conditional): nothing unstated is read as absent; risk and count are asked for or
# branched (a low-risk assumption could lower the management). SEVERITY orders the table rows by concern,
# for choosing the dominant of several nodules (a label's rank is the highest entry it contains).
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = (
    "<6 mm",
    "ground-glass, single, >=6 mm",
    "solid component <6 mm",
    "6-8 mm",
    "subsolid, multiple, >=6 mm",
    ">8 mm",
    "solid component 6-8 mm",
    "suspicious morphology",
    "growing solid component",
    "solid component >8 mm",
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
# Fleischner 2017 (perifissural nodule discussion): a nodule with the typical morphology of an intrapulmonary
# lymph node, perifissural or attached to the costal pleura (juxtapleural), needs no follow-up even above 6 mm.
PERIFISSURAL = (
    r"\bperi-?fissural\b",
    r"\bintra-?pulmonary\s+lymph\s+nodes?\b",
    r"\b(?:juxta|sub)-?pleural\b[^.;]{0,30}?\b(?:lymph\s+node|triangular|lentiform|lenticular)\b",
)
PERIFISSURAL_EXCEPTION = (
    "No routine follow-up if the morphology is that of a typical intrapulmonary lymph node (perifissural or "
    "juxtapleural, triangular or lentiform, smooth; Fleischner 2017, even above 6 mm)"
)

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
    airway_nodule: bool | None = Field(
        default=None,
        description="The nodule lies in an airway (endobronchial, tracheal): not covered by Fleischner 2017.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> FleischnerInput:
        refuse(contradictions(vars(self)))
        return self


def contradictions(values: Mapping[str, Any]) -> Problems:
    """Impossible combinations as (fields involved, message); shared by the validator and the extractor."""
    found = axes_problems(values, "diameter_mm", "give diameter_mm or long/short axes, not both")
    long_mm, diameter = values.get("long_axis_mm"), values.get("diameter_mm")
    solid = values.get("solid_component_mm")
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


def mean_diameter(values: Mapping[str, Any]) -> Decimal | None:
    """Unrounded mean diameter from the axes (Bankier 2017), or the single diameter given."""
    return mean_of_axes(values, "diameter_mm")


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
    if inp.airway_nodule:
        reasons.append(
            "airway (endobronchial) nodule: Fleischner 2017 covers parenchymal nodules only; "
            "manage individually (bronchoscopy is often considered)"
        )
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
    found = Found()
    found.put("nodule_type", read_nodule_type(text, allow_subsolid=True))
    found.put("count", read_count(text))
    found.put("risk", read_risk(text))
    found.put("age", read_age(text))
    found.put("screening", read_screening(text))
    found.put("immunocompromised", read_immunocompromised(text))
    found.put("known_cancer", read_known_cancer(text))
    found.put("airway_nodule", read_airway_nodule(text))
    sizes = read_sizes(text)
    put_nodule_size(found, sizes, single_name="diameter_mm")
    if sizes.solid_component is not None:
        found.put("solid_component_mm", (sizes.solid_component.longest_mm, sizes.solid_component.text))
    found.flag(text, "solid_component_growing", GROWING_SOLID)
    found.flag(text, "suspicious_morphology", SUSPICIOUS_MORPHOLOGY)
    found.flag(text, "perifissural", PERIFISSURAL)
    found.drop_contradictions(contradictions(found.inputs), keep=("nodule_type",))
    mean = mean_diameter(found.inputs)
    return found.extraction(
        NAME, required_missing(found.inputs, round_half_up(mean) if mean is not None else None)
    )


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
    title="Fleischner",
    example="6 mm solid nodule, smoker, what follow-up?",
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
        if inp.perifissural and management != SOLID_TABLE["single", "low", "<6 mm"]:
            rationale.append(
                "Typical perifissural/juxtapleural lymph-node morphology: the Fleischner exception leads."
            )
            management = f"{PERIFISSURAL_EXCEPTION}; otherwise: {management}"
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
    names = (
        "nodule_type",
        "count",
        "risk",
        "age",
        "screening",
        "immunocompromised",
        "known_cancer",
        "airway_nodule",
    )
    return {name: getattr(inp, name) for name in names if getattr(inp, name) is not None}
