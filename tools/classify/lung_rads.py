"""ACR Lung-RADS v2022: category and management for one finding on a lung-cancer screening LDCT.

Measurement (v2022): mean of long and short axis to ONE decimal (v1.1's whole-mm rounding is gone). A
mean ending in .x5 is rounded half up; the ACR text does not state the tie rule, so that case carries a
caveat. Growth = increase in mean diameter > 1.5 mm within 12 months (exactly +1.5 mm is not growth);
for part-solid nodules growth refers to the solid component ("new or growing solid component"). A
nodule that is not growing but has crossed into a higher size band is re-categorised by the baseline
size bands (size thresholds re-apply). Stable findings step down by their prior category (3 -> 2 at
the 6-month CT, 4A -> 3 at the 3-month CT, not for airway nodules; 4B -> 2 only if proven benign).
The "new or growing solid component" rows apply to part-solid nodules >= 6 mm total (v1.1 wording); a
new part-solid nodule < 6 mm total is category 3 whatever its solid component.

Findings the v2022 table does not place (e.g. a non-solid nodule >= 30 mm growing faster than slowly,
a growing subsegmental airway nodule, a stable 4B finding not proven benign, thin-walled cysts) are
returned as `not_applicable` with the reason - never as a guessed category. `screening_exam=False`
(an incidental nodule) is out of scope: use Fleischner 2017.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify._chest_text import (
    AIRWAY_PROXIMAL,
    AIRWAY_SUBSEGMENTAL,
    put_nodule_size,
    read_airway_nodule,
    read_nodule_type,
    read_screening,
    read_sizes,
)
from tools.classify._decide import Problems, axes_problems, mean_of_axes, refuse
from tools.classify._extract import Found
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import Measurement, find_term
from tools.registry import CategorySpelling, tool

NAME = "lung_rads"
GUIDELINE = "ACR Lung-RADS v2022"
CITATION = (
    "ACR Lung-RADS v2022 assessment categories (American College of Radiology, 2022); Christensen J et al. "
    "ACR Lung-RADS v2022: Assessment Categories and Management Recommendations. J Am Coll Radiol "
    "2024;21(3):473-488, Table 1"
)
# Issue 11 (tools.classify.conditional): presence-only features (suspicious features, benign calcification)
# are handled inside the tool; nothing else is read as absent. SEVERITY: for the exam's most suspicious finding.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = ("0", "1", "2", "3", "4A", "4B", "4X")
ORDINAL = True

TRIGGERS: tuple[str, ...] = (
    r"\blung[- ]?rads\b",
    r"\bLDCT\b",
    r"\blow[- ]dose\s+(?:chest\s+)?CT\b",
    r"\blung[- ]cancer\s+screening\b",
    r"\bscreening\s+(?:chest\s+)?CT\b",
)

# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(r"\blung-?rads\s*(?:v?2022\s*)?(?:category\s*|cat\.?\s*)?(4[ABX]|[0-4])\b")

Finding = Literal["nodule", "airway_nodule", "atypical_cyst", "no_nodules"]
NoduleType = Literal["solid", "part-solid", "ground-glass"]
Status = Literal["baseline", "new", "growing", "slow_growth", "stable"]
PriorCategory = Literal["2", "3", "4A", "4B"]
BenignFeature = Literal[
    "complete_calcification",
    "central_calcification",
    "popcorn_calcification",
    "concentric_calcification",
    "fat",
]
CystType = Literal["thin_walled", "thick_walled", "multilocular"]
CystChange = Literal[
    "baseline",
    "stable",
    "growing_cystic_component",
    "became_multilocular",
    "growing_wall_or_nodularity",
    "growing_multilocular",
    "increased_loculation_or_opacity",
]

GROWTH_MM = Decimal("1.5")  # v2022: growth is an increase in mean diameter > 1.5 mm ...
GROWTH_MONTHS = 12  # ... within a 12-month interval.
ONE_DECIMAL = Decimal("0.1")
JUXTAPLEURAL_MAX_MM = Decimal(10)  # benign juxtapleural / perifissural: < 10 mm mean diameter
PET_MM = Decimal(8)  # PET/CT may be considered for a >= 8 mm solid nodule or solid component

# Size bands from the v2022 table: ((upper bound exclusive | None, category), ...), all in mm.
Bands = tuple[tuple[Decimal | None, str], ...]
SOLID_BASELINE: Bands = ((Decimal(6), "2"), (Decimal(8), "3"), (Decimal(15), "4A"), (None, "4B"))
SOLID_NEW: Bands = ((Decimal(4), "2"), (Decimal(6), "3"), (Decimal(8), "4A"), (None, "4B"))
SOLID_GROWING: Bands = ((Decimal(8), "4A"), (None, "4B"))
PART_SOLID_TOTAL_MM = Decimal(6)  # part-solid rows split at a total mean diameter of 6 mm
PART_SOLID_BASELINE_COMPONENT: Bands = ((Decimal(6), "3"), (Decimal(8), "4A"), (None, "4B"))
PART_SOLID_NEW_OR_GROWING_COMPONENT: Bands = ((Decimal(4), "4A"), (None, "4B"))
NON_SOLID_LARGE_MM = Decimal(30)
NON_SOLID: Bands = ((NON_SOLID_LARGE_MM, "2"), (None, "3"))

# Atypical pulmonary cysts (v2022 table): (cyst type, change) -> (category, row).
CYST_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    ("thick_walled", "growing_cystic_component"): ("3", "thick-walled cyst with growing cystic component"),
    ("thick_walled", "baseline"): ("4A", "thick-walled cyst at baseline"),
    ("multilocular", "baseline"): ("4A", "multilocular cyst at baseline"),
    ("multilocular", "became_multilocular"): ("4A", "thin- or thick-walled cyst that became multilocular"),
    ("thick_walled", "growing_wall_or_nodularity"): (
        "4B",
        "thick-walled cyst with growing wall thickness/nodularity",
    ),
    ("multilocular", "growing_multilocular"): ("4B", "growing multilocular cyst"),
    ("multilocular", "increased_loculation_or_opacity"): (
        "4B",
        "multilocular cyst with increased loculation or new/increased opacity",
    ),
}

RISK = {"1": "<1%", "2": "<1%", "3": "1-2%", "4A": "5-15%", "4B": ">15%", "4X": ">15%"}
WORKUP = (
    "Diagnostic chest CT with or without contrast; tissue sampling; "
    "and/or referral for further clinical evaluation"
)
MANAGEMENT = {
    "1": "Continue annual screening with LDCT in 12 months",
    "2": "Continue annual screening with LDCT in 12 months",
    "3": "LDCT in 6 months",
    "4A": "LDCT in 3 months",
    "4B": WORKUP,
    "4X": WORKUP,
}
CATEGORY_0 = {
    "prior_ct_pending": "Prior chest CT being located for comparison: categorise when it is available",
    "lungs_not_evaluable": "Part or all of the lungs cannot be evaluated: additional lung-cancer screening CT",
    "infectious_or_inflammatory": "Findings suggesting infection or inflammation: LDCT in 1-3 months",
}


class LungRadsInput(BaseModel):
    """One finding on a screening LDCT, with prior measurements when it was seen before."""

    model_config = ConfigDict(extra="forbid")

    finding: Finding = Field(
        default="nodule",
        description="'nodule', 'airway_nodule' (endobronchial), 'atypical_cyst', or 'no_nodules' (none found).",
    )
    nodule_type: NoduleType | None = Field(
        default=None, description="Nodule attenuation: 'solid', 'part-solid' or 'ground-glass' (non-solid)."
    )
    status: Status | None = Field(
        default=None,
        description=(
            "'baseline' (first screen), 'new', 'growing' (> 1.5 mm in 12 months; part-solid: the solid component), "
            "'slow_growth' (over several screens), 'stable' (stable or decreased). Computed from prior sizes if omitted."
        ),
    )
    long_axis_mm: float | None = Field(default=None, gt=0, le=200, description="Long axis, mm (one decimal).")
    short_axis_mm: float | None = Field(
        default=None, gt=0, le=200, description="Short axis, mm (one decimal)."
    )
    mean_diameter_mm: float | None = Field(
        default=None, gt=0, le=200, description="Mean diameter (mm) when the axes are not given."
    )
    solid_component_mm: float | None = Field(
        default=None, gt=0, le=200, description="Part-solid: mean diameter of the solid component, mm."
    )
    prior_mean_diameter_mm: float | None = Field(
        default=None, gt=0, le=200, description="Mean diameter on the prior CT, mm."
    )
    prior_solid_component_mm: float | None = Field(
        default=None,
        gt=0,
        le=200,
        description="Part-solid: solid component mean diameter on the prior CT, mm.",
    )
    months_since_prior: float | None = Field(
        default=None, gt=0, le=240, description="Interval between the prior CT and this one, months."
    )
    prior_category: PriorCategory | None = Field(
        default=None,
        description="Lung-RADS category given to this finding on the previous CT (for stable findings).",
    )
    proven_benign: bool | None = Field(
        default=None, description="A category 4B finding proven benign after diagnostic work-up."
    )
    juxtapleural_benign: bool | None = Field(
        default=None,
        description="Juxtapleural/perifissural solid nodule with smooth margins and oval, lentiform or triangular shape.",
    )
    airway_level: Literal["subsegmental", "segmental_or_proximal"] | None = Field(
        default=None, description="Airway nodule location: 'subsegmental' or 'segmental_or_proximal'."
    )
    cyst_type: CystType | None = Field(
        default=None, description="Atypical cyst: 'thin_walled', 'thick_walled' or 'multilocular'."
    )
    cyst_change: CystChange | None = Field(
        default=None, description="Atypical cyst: appearance or change over time."
    )
    benign_feature: BenignFeature | None = Field(
        default=None, description="Benign calcification pattern or fat in the nodule."
    )
    prior_ct_pending: bool | None = Field(
        default=None, description="Prior chest CT being located for comparison."
    )
    lungs_not_evaluable: bool | None = Field(
        default=None, description="Part or all of the lungs cannot be evaluated."
    )
    infectious_or_inflammatory: bool | None = Field(
        default=None, description="Findings suggesting an infectious or inflammatory process."
    )
    suspicious_features: bool | None = Field(
        default=None,
        description="Additional features raising suspicion (e.g. spiculation, GGN doubling in 1 year, enlarged nodes).",
    )
    significant_other_finding: bool | None = Field(
        default=None,
        description="Clinically significant or potentially significant non-lung-cancer finding (S).",
    )
    screening_exam: bool | None = Field(
        default=None, description="True for a lung-cancer screening LDCT; False for an incidental finding."
    )

    @model_validator(mode="after")
    def _consistent(self) -> LungRadsInput:
        refuse(contradictions(vars(self)))
        return self


# --- measurement -------------------------------------------------------------------------------


def one_decimal(value: Decimal | float) -> Decimal:
    """Round to one decimal, ties half up (v2022 reports mean diameters to one decimal)."""
    return Decimal(str(value)).quantize(ONE_DECIMAL, ROUND_HALF_UP)


def raw_mean(values: Mapping[str, Any]) -> Decimal | None:
    """Unrounded mean diameter from the axes, or the mean diameter given."""
    return mean_of_axes(values, "mean_diameter_mm")


def _decimal(values: Mapping[str, Any], name: str) -> Decimal | None:
    value = values.get(name)
    return one_decimal(value) if value is not None else None


def band(value: Decimal, bands: Bands) -> tuple[str, str]:
    """(category, readable size range) of the band the value falls in."""
    lower: Decimal | None = None
    for upper, category in bands:
        if upper is None or value < upper:
            if lower is None:
                return category, f"<{upper} mm"
            return category, f"{lower} to <{upper} mm" if upper is not None else f">={lower} mm"
        lower = upper
    raise AssertionError("bands end with an open upper bound")


_RANK = {"2": 2, "3": 3, "4A": 4, "4B": 5}


# --- growth ------------------------------------------------------------------------------------


@dataclass
class Growth:
    """What the prior measurement says: status, or the field needed to say it, plus trace lines."""

    status: str | None = None
    needs: str | None = None
    lines: list[str] = field(default_factory=list)


def growth_from_prior(values: Mapping[str, Any]) -> Growth | None:
    """Growth by the v2022 rule (> 1.5 mm within 12 months), from the prior of the tracked dimension."""
    part_solid = values.get("nodule_type") == "part-solid"
    now_name, prior_name = (
        ("solid_component_mm", "prior_solid_component_mm")
        if part_solid
        else ("mean", "prior_mean_diameter_mm")
    )
    prior = _decimal(values, prior_name)
    if prior is None:
        return None
    raw = raw_mean(values) if now_name == "mean" else values.get(now_name)
    if raw is None:  # a missing nodule size is reported by the caller; the solid component is asked here
        return Growth(needs="solid_component_mm") if part_solid else None
    now = one_decimal(raw)
    delta = now - prior
    what = "solid component" if part_solid else "mean diameter"
    months = values.get("months_since_prior")
    interval = f" in {months:g} months" if months is not None else ""
    line = (
        f"Growth check: {what} {prior} -> {now} mm, change {delta:+} mm{interval} "
        "(growth needs > 1.5 mm in 12 months)."
    )
    if delta <= GROWTH_MM:
        return Growth("stable", lines=[line + " Not growth."])
    if months is None:
        return Growth(needs="months_since_prior", lines=[line])
    if months <= GROWTH_MONTHS:
        return Growth("growing", lines=[line + " Growth."])
    return Growth(
        needs="status", lines=[line + " Interval > 12 months: growing or slow growth is a clinical call."]
    )


def contradictions(values: Mapping[str, Any]) -> Problems:
    """Impossible combinations as (fields involved, message); shared by the validator and the extractor."""
    found = axes_problems(values, "mean_diameter_mm", "give mean_diameter_mm or the axes, not both")
    found += _type_contradictions(values)
    found += _status_contradictions(values)
    cyst = (values.get("cyst_type"), values.get("cyst_change"))
    if None not in cyst and cyst[1] != "stable" and cyst[0] != "thin_walled" and cyst not in CYST_TABLE:
        allowed = ", ".join(f"{t}+{c}" for t, c in CYST_TABLE)
        found.append(
            (
                ("cyst_type", "cyst_change"),
                f"cyst_type {cyst[0]!r} with cyst_change {cyst[1]!r} is not a v2022 row; "
                f"allowed: {allowed}, or cyst_change 'stable'",
            )
        )
    return found


def _type_contradictions(values: Mapping[str, Any]) -> Problems:
    found: Problems = []
    finding, kind = values.get("finding") or "nodule", values.get("nodule_type")
    owners = {
        "nodule_type": "nodule",
        "juxtapleural_benign": "nodule",
        "airway_level": "airway_nodule",
        "cyst_type": "atypical_cyst",
        "cyst_change": "atypical_cyst",
    }
    for name, owner in owners.items():
        if values.get(name) is not None and finding != owner:
            found.append(((name, "finding"), f"{name} is given but finding is {finding!r}"))
    for name in ("solid_component_mm", "prior_solid_component_mm"):
        if values.get(name) is not None and kind != "part-solid":
            found.append(((name, "nodule_type"), f"{name} is given but nodule_type is {kind!r}"))
    if values.get("juxtapleural_benign") and kind not in (None, "solid"):
        found.append(
            (
                ("juxtapleural_benign", "nodule_type"),
                f"juxtapleural_benign needs a solid nodule, not {kind!r}",
            )
        )
    mean, solid = raw_mean(values), values.get("solid_component_mm")
    if mean is not None and solid is not None and Decimal(str(solid)) > mean:
        found.append(
            (
                ("solid_component_mm", "mean_diameter_mm"),
                f"solid_component_mm ({solid}) exceeds the nodule mean diameter ({mean})",
            )
        )
    prior_total, prior_solid = values.get("prior_mean_diameter_mm"), values.get("prior_solid_component_mm")
    if prior_total is not None and prior_solid is not None and prior_solid > prior_total:
        found.append(
            (
                ("prior_solid_component_mm", "prior_mean_diameter_mm"),
                "prior_solid_component_mm exceeds prior_mean_diameter_mm",
            )
        )
    return found


def _status_contradictions(values: Mapping[str, Any]) -> Problems:
    status = values.get("status")
    priors = [n for n in ("prior_mean_diameter_mm", "prior_solid_component_mm") if values.get(n) is not None]
    if status in ("baseline", "new") and priors:
        return [
            ((*priors, "status"), f"status {status!r} has no prior measurement, but {priors[0]} is given")
        ]
    growth = growth_from_prior(values)
    if status is None or growth is None or growth.status is None:
        return []
    tracked = (
        "prior_solid_component_mm" if values.get("nodule_type") == "part-solid" else "prior_mean_diameter_mm"
    )
    if status == "growing" and growth.status != "growing":
        message = f"status 'growing' but the change from {tracked} is not > 1.5 mm (v2022 growth definition)"
        return [(("status", tracked), message)]
    if status in ("stable", "slow_growth") and growth.status == "growing":
        message = f"status {status!r} but the change from {tracked} is > 1.5 mm within 12 months (growth)"
        return [(("status", tracked), message)]
    return []


# --- decision ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """A category with the row that fired, or the fields still needed, or why the table has no row."""

    category: str | None = None
    row: str = ""
    missing: list[str] = field(default_factory=list)
    unplaced: str | None = None
    lines: list[str] = field(default_factory=list)


def decide(values: Mapping[str, Any]) -> Outcome:
    """Apply the v2022 table to validated (or extracted, possibly partial) inputs."""
    flags = [name for name in CATEGORY_0 if values.get(name)]
    if flags:
        return Outcome("0", "category 0: " + ", ".join(flags))
    finding = values.get("finding") or "nodule"
    if finding == "no_nodules":
        return Outcome("1", "no lung nodules")
    if values.get("benign_feature"):
        return Outcome("1", f"nodule with benign feature: {values['benign_feature'].replace('_', ' ')}")
    if values.get("prior_category") == "4B" and values.get("proven_benign"):
        return Outcome("2", "category 4B finding proven benign after work-up")
    if finding == "airway_nodule":
        return _airway(values)
    if finding == "atypical_cyst":
        return _cyst(values)
    return _nodule(values)


def _resolve_status(values: Mapping[str, Any]) -> Growth:
    growth = growth_from_prior(values)
    if values.get("status") is not None:
        lines = growth.lines if growth else []
        return Growth(values["status"], lines=[*lines, f"Status: {values['status']} (given)."])
    if growth is None:
        return Growth(needs="status")
    return growth


def _stepped(values: Mapping[str, Any], lines: list[str], *, airway: bool = False) -> Outcome:
    """Stable finding: category follows the prior category (v2022 stepped management)."""
    prior = values.get("prior_category")
    if prior is None:
        return Outcome(missing=["prior_category"], lines=lines)
    if prior == "2":
        return Outcome("2", "stable category 2 finding", lines=lines)
    if prior == "3":
        return Outcome("2", "category 3 finding stable or decreased at the 6-month CT", lines=lines)
    if prior == "4A" and not airway:
        return Outcome("3", "category 4A finding stable or decreased at the 3-month CT", lines=lines)
    if values.get("proven_benign") is None:
        return Outcome(missing=["proven_benign"], lines=lines)
    return Outcome(
        unplaced="Lung-RADS v2022 re-categorises a stable category 4B finding only when proven benign (-> 2); "
        "continue the 4B work-up as clinically indicated",
        lines=lines,
    )


def _nodule(values: Mapping[str, Any]) -> Outcome:
    kind = values.get("nodule_type")
    mean = raw_mean(values)
    missing = [] if kind else ["nodule_type"]
    if mean is None:
        missing += [n for n in ("long_axis_mm", "short_axis_mm") if values.get(n) is None]
    growth = _resolve_status(values)
    has_prior = (
        values.get("prior_mean_diameter_mm") is not None or values.get("prior_solid_component_mm") is not None
    )
    waits_for_size = growth.needs == "status" and has_prior and mean is None  # growth is computed once sized
    if growth.needs and growth.needs not in missing and not waits_for_size:
        missing.append(growth.needs)
    if missing:
        return Outcome(missing=missing, lines=growth.lines)
    assert mean is not None
    size = one_decimal(mean)
    lines = [_size_line(values, mean, size), *growth.lines]
    status = growth.status
    if kind == "ground-glass":
        return _non_solid(values, size, status, lines)
    if kind == "part-solid":
        return _part_solid(values, size, status, lines)
    return _solid(values, size, status, lines)


def _size_line(values: Mapping[str, Any], mean: Decimal, size: Decimal) -> str:
    if values.get("mean_diameter_mm") is not None:
        return f"Mean diameter {size} mm (given, one decimal)."
    axes = f"({values['long_axis_mm']:g} + {values['short_axis_mm']:g}) / 2"
    return f"Mean diameter {axes} = {mean.normalize():f} -> {size} mm (one decimal)."


def _crossed(values: Mapping[str, Any], now: str, prior_names: tuple[str, ...], prior: str) -> bool:
    """Size thresholds re-apply: a non-growing finding now in a higher baseline band than before."""
    return all(values.get(n) is not None for n in prior_names) and _RANK[now] > _RANK[prior]


def _solid(values: Mapping[str, Any], size: Decimal, status: str | None, lines: list[str]) -> Outcome:
    if values.get("juxtapleural_benign") and status in ("baseline", "new") and size < JUXTAPLEURAL_MAX_MM:
        return Outcome(
            "2", f"juxtapleural/perifissural solid nodule, benign morphology, <10 mm, {status}", lines=lines
        )
    if status == "slow_growth":
        return Outcome("4B", "solid nodule with slow growth over multiple screens", lines=lines)
    table = {"baseline": SOLID_BASELINE, "new": SOLID_NEW, "growing": SOLID_GROWING}.get(status or "")
    if table is not None:
        category, span = band(size, table)
        return Outcome(category, f"solid, {status}, {span}", lines=lines)
    now, _ = band(size, SOLID_BASELINE)
    prior = values.get("prior_mean_diameter_mm")
    if prior is not None and _crossed(
        values, now, ("prior_mean_diameter_mm",), band(one_decimal(prior), SOLID_BASELINE)[0]
    ):
        span = band(size, SOLID_BASELINE)[1]
        return Outcome(now, f"solid, not growing but now {span} (size thresholds re-apply)", lines=lines)
    return _stepped(values, lines)


def _part_solid_baseline(total: Decimal, solid: Decimal | None) -> tuple[str | None, str]:
    if total < PART_SOLID_TOTAL_MM:
        return "2", "part-solid, baseline, total <6 mm"
    if solid is None:
        return None, ""
    category, span = band(solid, PART_SOLID_BASELINE_COMPONENT)
    return category, f"part-solid, baseline, total >=6 mm, solid component {span}"


def _part_solid(values: Mapping[str, Any], total: Decimal, status: str | None, lines: list[str]) -> Outcome:
    solid = _decimal(values, "solid_component_mm")
    if solid is not None:
        lines.append(f"Solid component {solid} mm (one decimal).")
    if status == "slow_growth":
        return Outcome("4B", "part-solid nodule with slow growth over multiple screens", lines=lines)
    if status == "new" and total < PART_SOLID_TOTAL_MM:
        return Outcome("3", "part-solid, new, total <6 mm", lines=lines)
    if status == "growing" and total < PART_SOLID_TOTAL_MM:
        return Outcome(
            unplaced="Lung-RADS v2022 places new or growing solid components only in part-solid nodules >= 6 mm "
            "total; a growing part-solid nodule < 6 mm has no row",
            lines=lines,
        )
    category: str | None
    if status in ("new", "growing"):
        if solid is None:
            return Outcome(missing=["solid_component_mm"], lines=lines)
        category, span = band(solid, PART_SOLID_NEW_OR_GROWING_COMPONENT)
        return Outcome(category, f"part-solid, total >=6 mm, {status} solid component {span}", lines=lines)
    category, row = _part_solid_baseline(total, solid)
    if category is None:
        return Outcome(missing=["solid_component_mm"], lines=lines)
    if status == "baseline":
        return Outcome(category, row, lines=lines)
    prior_total, prior_solid = (
        _decimal(values, "prior_mean_diameter_mm"),
        _decimal(values, "prior_solid_component_mm"),
    )
    if prior_total is not None and prior_solid is not None:
        prior_category, _ = _part_solid_baseline(prior_total, prior_solid)
        if prior_category and _crossed(values, category, ("prior_mean_diameter_mm",), prior_category):
            now = row.removeprefix("part-solid, baseline, ")
            return Outcome(
                category, f"part-solid, not growing but now {now} (size thresholds re-apply)", lines=lines
            )
    return _stepped(values, lines)


def _non_solid(values: Mapping[str, Any], size: Decimal, status: str | None, lines: list[str]) -> Outcome:
    small = size < NON_SOLID_LARGE_MM
    if status in ("baseline", "new"):
        category, span = band(size, NON_SOLID)
        return Outcome(category, f"non-solid, {status}, {span}", lines=lines)
    if status == "slow_growth":
        return Outcome("2", f"non-solid, slowly growing, {'<30' if small else '>=30'} mm", lines=lines)
    if status == "growing":
        if small:
            return Outcome("2", "non-solid, growing, <30 mm", lines=lines)
        return Outcome(
            unplaced="Lung-RADS v2022 does not place a non-solid nodule >= 30 mm that grows faster than slowly "
            "(only stable or slowly growing -> 2); decide clinically and consider 4X features",
            lines=lines,
        )
    prior = _decimal(values, "prior_mean_diameter_mm")
    if not small and prior is not None and prior < NON_SOLID_LARGE_MM:
        return Outcome("3", "non-solid, not growing but now >=30 mm (size thresholds re-apply)", lines=lines)
    if small:
        return Outcome("2", "non-solid, stable, <30 mm (as at baseline)", lines=lines)
    return Outcome("2", "non-solid, stable, >=30 mm", lines=lines)


def _airway(values: Mapping[str, Any]) -> Outcome:
    level = values.get("airway_level")
    growth = _resolve_status(values)
    missing = ([] if level else ["airway_level"]) + ([growth.needs] if growth.needs else [])
    if missing:
        return Outcome(missing=missing, lines=growth.lines)
    status = growth.status
    if level == "subsegmental":
        if status in ("baseline", "new", "stable"):
            return Outcome("2", f"airway nodule, subsegmental, {status}", lines=growth.lines)
        return Outcome(
            unplaced="Lung-RADS v2022 places subsegmental airway nodules only at baseline, new or stable; a "
            "growing one has no row - decide clinically",
            lines=growth.lines,
        )
    if status in ("baseline", "new"):
        return Outcome("4A", f"airway nodule, segmental or more proximal, {status}", lines=growth.lines)
    return Outcome(
        "4B", f"airway nodule, segmental or more proximal, {status} at follow-up", lines=growth.lines
    )


def _cyst(values: Mapping[str, Any]) -> Outcome:
    cyst_type, change = values.get("cyst_type"), values.get("cyst_change")
    if cyst_type == "thin_walled":
        return Outcome(
            unplaced="Thin-walled (uniform wall < 2 mm) unilocular cysts are benign and not categorised "
            "by Lung-RADS v2022"
        )
    missing = [n for n, v in (("cyst_type", cyst_type), ("cyst_change", change)) if v is None]
    if missing:
        return Outcome(missing=missing)
    if change == "stable":
        return _stepped(values, [])
    assert cyst_type is not None and change is not None  # both checked as missing above
    category, row = CYST_TABLE[cyst_type, change]
    return Outcome(category, f"atypical cyst: {row}")


def _management(category: str, values: Mapping[str, Any], flags: list[str]) -> str:
    if category == "0":
        return "; ".join(CATEGORY_0[name] for name in flags)
    text = MANAGEMENT[category]
    airway = values.get("finding") == "airway_nodule"
    if airway and category in ("4B", "4X"):
        return "Referral for further clinical evaluation (typically bronchoscopy)"
    if category in ("4A", "4B", "4X") and _solid_at_least_8(values):
        text += "; PET/CT may be considered (solid nodule or solid component >= 8 mm)"
    return text


def _solid_at_least_8(values: Mapping[str, Any]) -> bool:
    kind = values.get("nodule_type")
    if kind == "solid":
        mean = raw_mean(values)
        return mean is not None and one_decimal(mean) >= PET_MM
    solid = _decimal(values, "solid_component_mm")
    return kind == "part-solid" and solid is not None and solid >= PET_MM


def _base(**fields: Any) -> ClassificationResult:
    return ClassificationResult(system=NAME, guideline=GUIDELINE, citation=CITATION, **fields)


def _used_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    used = {k: v for k, v in values.items() if v is not None and k not in ("long_axis_mm", "short_axis_mm")}
    mean = raw_mean(values)
    if mean is not None:
        used["mean_diameter_mm"] = float(one_decimal(mean))
    for name in ("solid_component_mm", "prior_mean_diameter_mm", "prior_solid_component_mm"):
        if values.get(name) is not None:
            used[name] = float(one_decimal(values[name]))
    return used


def _caveats(values: Mapping[str, Any], category: str) -> list[str]:
    caveats = []
    mean = raw_mean(values)
    if mean is not None and mean != one_decimal(mean) and (mean * 100) % 10 == 5:
        caveats.append(
            "Mean diameter ends in .x5: v2022 does not state the tie rule for one decimal; rounded half up."
        )
    if values.get("suspicious_features") and category in ("0", "1", "2"):
        caveats.append(
            "4X applies only to category 3 or 4 findings; the suspicious features do not change this category."
        )
    if values.get("infectious_or_inflammatory"):
        caveats.append("New nodules more suggestive of cancer may still be given 4B by size (v2022 notes).")
    if values.get("finding") == "atypical_cyst":
        caveats.append("A cyst with an associated nodule is managed by its most concerning feature.")
    if values.get("screening_exam") is None:
        caveats.append(
            "Lung-RADS applies to lung-cancer screening LDCT; an incidental nodule is managed by Fleischner 2017."
        )
    caveats.append("The exam category is that of the most suspicious finding.")
    return caveats


def extract(text: str) -> Extraction:
    """Read Lung-RADS inputs from a screening finding ("new 6.5 mm solid nodule, was 5 mm 12 months ago")."""
    found = Found()
    finding = _read_finding(text)
    found.put("finding", finding)
    found.put("nodule_type", read_nodule_type(text, allow_subsolid=False) if not finding else None)
    _read_measurements(text, found)
    if "prior_mean_diameter_mm" not in found.inputs and "prior_solid_component_mm" not in found.inputs:
        found.put("status", _read_status(text))
    else:
        found.put("months_since_prior", _read_months(text))
    found.put("screening_exam", read_screening(text))
    for name, patterns in _FLAGS.items():
        found.flag(text, name, patterns)
    _read_extras(text, found)
    found.drop_contradictions(contradictions(found.inputs), keep=("finding", "nodule_type"))
    return found.extraction(NAME, decide(found.inputs).missing)


@tool(
    name=NAME,
    description=(
        "ACR Lung-RADS v2022 category, management and risk for one finding on a lung-cancer screening LDCT: "
        "solid, part-solid and non-solid nodules (baseline, new, growing, stable), juxtapleural nodules, airway "
        "nodules, atypical cysts, category 0 and 1, 4X upgrade and S modifier. Mean diameter to one decimal; "
        "growth > 1.5 mm in 12 months."
    ),
    version="ACR Lung-RADS v2022",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Lung-RADS",
    example="Baseline screening LDCT: 7 mm solid nodule. Lung-RADS?",
    categories=CATEGORIES,
    exclusive_groups=(("mean_diameter_mm", "long_axis_mm", "short_axis_mm"),),  # one size, given either way
)
def classify(inp: LungRadsInput) -> ClassificationResult:
    """Return the Lung-RADS v2022 category (with 4X / S) for one screening finding."""
    values = vars(inp)
    if inp.screening_exam is False:
        return _base(
            not_applicable="Not a lung-cancer screening exam: manage an incidental nodule with Fleischner 2017 "
            "(tool 'fleischner')",
            inputs=_used_inputs(values),
        )
    outcome = decide(values)
    if outcome.missing:
        return _base(
            missing=outcome.missing,
            rationale=[*outcome.lines, "Inputs needed for this path: " + ", ".join(outcome.missing) + "."],
            inputs=_used_inputs(values),
        )
    if outcome.unplaced:
        return _base(not_applicable=outcome.unplaced, rationale=outcome.lines, inputs=_used_inputs(values))
    assert outcome.category is not None
    category = outcome.category
    rationale = [*outcome.lines, f"Row: {outcome.row} -> category {category}."]
    if inp.suspicious_features and category in ("3", "4A", "4B"):
        rationale.append(f"Additional suspicious features upgrade category {category} to 4X.")
        category = "4X"
    flags = [name for name in CATEGORY_0 if values.get(name)]
    return _base(
        category=category,
        modifiers=["S"] if inp.significant_other_finding else [],
        management=_management(category, values, flags),
        risk=RISK.get(category),
        rationale=rationale,
        caveats=_caveats(values, category),
        inputs=_used_inputs(values),
        details={"row": outcome.row},
    )


# --- reading screening findings ------------------------------------------------------------------

_NO_NODULES = (r"\bno\s+(?:pulmonary\s+|lung\s+)?nodules?\b",)
_CYST = (r"\bcysts?\b",)
_FLAGS: dict[str, tuple[str, ...]] = {
    "prior_ct_pending": (
        r"\bprior\s+(?:chest\s+)?(?:CT|exam\w*|stud(?:y|ies)|imaging)\s+(?:is\s+|are\s+)?being\s+(?:located|obtained|requested)",
        r"\bawaiting\s+(?:the\s+)?(?:prior|outside)\s+(?:CT|exam\w*|stud(?:y|ies)|images?)",
        r"\bcomparison\s+(?:is\s+)?pending\b",
    ),
    "lungs_not_evaluable": (
        r"\b(?:lungs?|lung\s+bases|portions?\s+of\s+the\s+lungs?)\s+(?:cannot|could\s+not|can\s+not)\s+be\s+(?:evaluated|assessed)",
        r"\bnon-?diagnostic\b",
    ),
    "infectious_or_inflammatory": (
        r"\binfectious\b",
        r"\binflammatory\b",
        r"\bpneumonia\b",
        r"\b(?:segmental|lobar)\s+consolidation\b",
    ),
    "suspicious_features": (
        r"\bspiculat\w*",
        r"\b(?:enlarged|suspicious|pathologic(?:al)?ly?\s+enlarged)\s+(?:mediastinal\s+|hilar\s+)?(?:lymph\s+)?nodes?\b",
        r"\blymphadenopathy\b",
        r"\bdoubl\w+\s+in\s+size\b",
    ),
    "significant_other_finding": (
        r"\b(?:clinically\s+)?significant\s+(?:incidental|other|non-?lung[- ]cancer)\s+finding",
        r"\bS\s+modifier\b",
    ),
    "proven_benign": (r"\bproven\s+benign\b", r"\bbenign\s+(?:at|on|after)\s+(?:biopsy|work-?up)\b"),
}
_STATUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("slow_growth", (r"\bslow(?:ly)?[- ]grow\w*", r"\bslow\s+growth\b")),
    (
        "growing",
        (
            r"\bgrowing\b",
            r"\benlarg(?:ing|ed)\b(?!\s+(?:[\w-]+\s+)?(?:lymph|nodes?)\b)",
            r"\bincreas(?:ed|ing)\s+in\s+size\b",
            r"\bhas\s+grown\b",
            r"\binterval\s+growth\b",
        ),
    ),
    ("stable", (r"\bstable\b", r"\bunchanged\b", r"\bdecreas(?:ed|ing)\b")),
    ("new", (r"\bnew(?:ly)?\b",)),
    (
        "baseline",
        (
            r"(?<!since\s)(?<!from\s)(?<!to\s)(?<!with\s)\bbaseline\b",
            r"\b(?:first|initial)\s+(?:screening|LDCT|low[- ]dose)\b",
        ),
    ),
)
_BENIGN: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "complete_calcification",
        (r"\b(?:completely|densely|diffusely|fully)\s+calcified\b", r"\bcomplete\s+calcification\b"),
    ),
    ("central_calcification", (r"\bcentral(?:ly)?\s+calcifi\w+",)),
    ("popcorn_calcification", (r"\bpopcorn\b",)),
    ("concentric_calcification", (r"\b(?:concentric|laminated|lamellar)\s+(?:ring\s+)?calcifi\w+",)),
    ("fat", (r"\b(?:fat|fat-containing|macroscopic\s+fat|intranodular\s+fat)\b",)),
)
_PRIOR_CATEGORY = re.compile(
    r"\b(?:previously|prior(?:ly)?|was|formerly|last)\s+(?:a\s+)?"
    r"(?:Lung-?RADS\s*(?:category\s*)?|category\s*|cat\.?\s*)(2|3|4A|4B)\b",
    re.IGNORECASE,
)
_MONTHS = re.compile(r"\b(\d+(?:\.\d+)?)[- ]?(?:months?|mos?)\b", re.IGNORECASE)
_YEARS = re.compile(r"\b(a|one|1|2|two)[- ]?(?:years?|yrs?)\b(?![- ]old)", re.IGNORECASE)
_JUXTAPLEURAL = (r"\bjuxta-?pleural\b", r"\bperi-?fissural\b")
_BENIGN_SHAPE = (
    r"\bsmooth\b",
    r"\boval\b",
    r"\blentiform\b",
    r"\btriangular\b",
    r"\btypical\b",
    r"\bbenign[- ]appearing\b",
)


def _read_finding(text: str) -> tuple[str, str] | None:
    airway = read_airway_nodule(text)
    if airway:
        return "airway_nodule", airway[1]
    none = find_term(text, _NO_NODULES, allow_negated=True)
    if none and not re.search(r"\bnodules?\b", text[none.end() :], re.IGNORECASE):
        return "no_nodules", none.group(0)
    cyst = find_term(text, _CYST)
    if cyst and not re.search(r"\bnodules?\b", text, re.IGNORECASE):
        return "atypical_cyst", cyst.group(0)
    return None


def _read_status(text: str) -> tuple[str, str] | Literal["ambiguous"] | None:
    found: dict[str, str] = {}
    for status, patterns in _STATUS:
        m = find_term(text, patterns)
        if m and not (status == "growing" and "slow_growth" in found):
            found[status] = m.group(0)
    if len(found) > 1:
        return "ambiguous"
    return next(iter(found.items()), None)


def _read_months(text: str) -> tuple[float, str] | None:
    months = {float(m.group(1)): m.group(0) for m in _MONTHS.finditer(text)}
    for m in _YEARS.finditer(text):
        months.setdefault(12.0 * (2 if m.group(1).lower() in ("2", "two") else 1), m.group(0))
    if len(months) != 1:
        return None
    return next(iter(months.items()))


def _mean_of(m: Measurement) -> float | None:
    if len(m.dims_mm) > 2:
        return None
    return float(one_decimal(sum(Decimal(str(d)) for d in m.dims_mm) / len(m.dims_mm)))


def _read_measurements(text: str, found: Found) -> None:
    sizes = read_sizes(text)
    put_nodule_size(found, sizes, single_name="mean_diameter_mm")
    for name, m in (
        ("solid_component_mm", sizes.solid_component),
        ("prior_mean_diameter_mm", sizes.prior),
        ("prior_solid_component_mm", sizes.prior_solid_component),
    ):
        value = _mean_of(m) if m is not None else None
        if m is not None and value is not None:
            found.put(name, (value, m.text))


def _read_extras(text: str, found: Found) -> None:
    finding = found.inputs.get("finding", "nodule")
    m = _PRIOR_CATEGORY.search(text)
    if m:
        found.put("prior_category", (m.group(1).upper(), m.group(0)))
    for value, patterns in _BENIGN:
        hit = find_term(text, patterns)
        if hit and finding == "nodule":
            found.put("benign_feature", (value, hit.group(0)))
            break
    juxta = find_term(text, _JUXTAPLEURAL)
    if juxta and finding == "nodule" and found.inputs.get("nodule_type") in (None, "solid"):
        shape = find_term(text, _BENIGN_SHAPE)
        if shape:
            found.put("juxtapleural_benign", (True, f"{juxta.group(0)} ... {shape.group(0)}"))
        else:
            found.ambiguous.add("juxtapleural_benign")
    if finding == "airway_nodule":
        level = find_term(text, AIRWAY_SUBSEGMENTAL)
        proximal = find_term(text, AIRWAY_PROXIMAL)
        if level and not proximal:
            found.put("airway_level", ("subsegmental", level.group(0)))
        elif proximal and not level:
            found.put("airway_level", ("segmental_or_proximal", proximal.group(0)))
    if finding == "atypical_cyst":
        _read_cyst(text, found)


_CYST_TYPE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("multilocular", (r"\bmulti-?locul\w+",)),
    ("thick_walled", (r"\bthick[- ]walled\b",)),
    ("thin_walled", (r"\bthin[- ]walled\b",)),
)
_CYST_CHANGE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("became_multilocular", (r"\b(?:became|become|becoming|now|newly)\s+multi-?locul\w+",)),
    (
        "increased_loculation_or_opacity",
        (
            r"\bincreas\w+\s+loculation\b",
            r"\b(?:new|increas\w+)\s+(?:nodular\s+|ground[- ]glass\s+)?opacity\b",
        ),
    ),
    (
        "growing_wall_or_nodularity",
        (
            r"\b(?:growing|increas\w+|thickening)\s+(?:wall|nodularity)\b",
            r"\bwall\s+thickening\b",
            r"\b(?:new|increas\w+)\s+nodularity\b",
        ),
    ),
    (
        "growing_cystic_component",
        (r"\bgrowing\s+cystic\s+component\b", r"\bcystic\s+component\s+(?:has\s+)?(?:grown|increased)\b"),
    ),
    ("growing_multilocular", (r"\bgrowing\b", r"\benlarg\w+")),
    ("stable", (r"\bstable\b", r"\bunchanged\b")),
    ("baseline", (r"\bbaseline\b",)),
)


def _read_cyst(text: str, found: Found) -> None:
    for value, patterns in _CYST_TYPE:
        m = find_term(text, patterns)
        if m:
            found.put("cyst_type", (value, m.group(0)))
            break
    for value, patterns in _CYST_CHANGE:
        m = find_term(text, patterns)
        if m:
            found.put("cyst_change", (value, m.group(0)))
            break
