"""ACR TI-RADS 2017: points, level and FNA / follow-up recommendation for one thyroid nodule on US.

Points per feature (Tessler 2017, chart): composition, echogenicity, shape and margin pick one each;
echogenic foci are additive (pick all that apply). A spongiform nodule gets no further points (TR1).
Size = maximum diameter in any plane; FNA and follow-up thresholds are inclusive (>=).

A total of exactly 1 point has no level in the ACR chart (the criteria file marks it [open]). Decision
here: the more conservative neighbouring level, TR2, is returned with a caveat and `details`
["one_point_total"] = True, and no malignancy risk; TR1 and TR2 carry the same management (no FNA, no
follow-up), so the recommendation does not depend on this choice.

When some features are not given but every possible value gives the same level (e.g. solid + very
hypoechoic + punctate foci is TR5 whatever the shape and margin), the level is returned with the unknown
features named in a caveat; otherwise they are listed in `missing`. A level that needs the size for its
recommendation but has none gets the thresholds spelled out and a caveat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify._chest_text import read_sizes
from tools.classify._decide import Problems, refuse
from tools.classify._extract import Found
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_negated_term, find_term
from tools.registry import CategorySpelling, tool

NAME = "ti_rads"
GUIDELINE = "ACR TI-RADS 2017"
CITATION = (
    "Tessler FN et al. ACR Thyroid Imaging, Reporting and Data System (TI-RADS): White Paper of the ACR TI-RADS "
    "Committee. J Am Coll Radiol 2017;14(5):587-595, Figure 1 (chart); risk figures: Middleton 2017 data as "
    "reported by the committee"
)
# Issue 11 (tools.classify.conditional): nothing unstated is read as absent. Every feature adds points, so an
# unstated one (echogenic foci, margin) is never taken as the zero-point value: it is asked for or branched.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = ("TR1", "TR2", "TR3", "TR4", "TR5")
ORDINAL = True

TRIGGERS: tuple[str, ...] = (
    r"\bti-?rads\b",
    r"\bthyroid\b",
    r"\bspongiform\b",
    r"\btaller[- ]than[- ]wide\b",
    r"\bextrathyroidal\b",
)


def _ti_rads_level(written: str) -> str:
    """'5' and 'TR5' are the same level; the tool writes 'TR5'."""
    return written if written.startswith("TR") else f"TR{written}"


# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(
    r"\b(?:ti-?rads\s*(?:category\s*|level\s*)?)?(TR\s?[1-5])\b|\bti-?rads\s*(?:category\s*|level\s*)?([1-5])\b",
    _ti_rads_level,
)

Composition = Literal["cystic", "spongiform", "mixed_cystic_solid", "solid", "cannot_determine"]
Echogenicity = Literal[
    "anechoic", "hyperechoic", "isoechoic", "hypoechoic", "very_hypoechoic", "cannot_determine"
]
Shape = Literal["wider_than_tall", "taller_than_wide"]
Margin = Literal[
    "smooth", "ill_defined", "lobulated", "irregular", "extrathyroidal_extension", "cannot_determine"
]
Focus = Literal["none", "comet_tail", "macrocalcifications", "peripheral_rim", "punctate"]

# ACR TI-RADS 2017 chart (Tessler 2017): option -> points. "cannot_determine" values as in the chart notes.
POINTS: dict[str, dict[str, int]] = {
    "composition": {"cystic": 0, "spongiform": 0, "mixed_cystic_solid": 1, "solid": 2, "cannot_determine": 2},
    "echogenicity": {
        "anechoic": 0,
        "hyperechoic": 1,
        "isoechoic": 1,
        "hypoechoic": 2,
        "very_hypoechoic": 3,
        "cannot_determine": 1,
    },
    "shape": {"wider_than_tall": 0, "taller_than_wide": 3},
    "margin": {
        "smooth": 0,
        "ill_defined": 0,
        "lobulated": 2,
        "irregular": 2,
        "extrathyroidal_extension": 3,
        "cannot_determine": 0,
    },
    "echogenic_foci": {
        "none": 0,
        "comet_tail": 0,
        "macrocalcifications": 1,
        "peripheral_rim": 2,
        "punctate": 3,
    },
}
FEATURES = ("composition", "echogenicity", "shape", "margin", "echogenic_foci")
MAX_FOCI_POINTS = sum(POINTS["echogenic_foci"].values())  # foci are additive: all present at once


@dataclass(frozen=True)
class Level:
    """One TI-RADS level: descriptor, size thresholds (mm, inclusive) and follow-up schedule."""

    descriptor: str
    fna_mm: float | None
    follow_up_mm: float | None
    schedule: str | None
    risk: str


# Tessler 2017 chart; risks as reported from Middleton 2017 data.
LEVELS: dict[str, Level] = {
    "TR1": Level("Benign", None, None, None, "0.3%"),
    "TR2": Level("Not suspicious", None, None, None, "1.5%"),
    "TR3": Level("Mildly suspicious", 25, 15, "ultrasound at 1, 3 and 5 years", "4.8%"),
    "TR4": Level("Moderately suspicious", 15, 10, "ultrasound at 1, 2, 3 and 5 years", "9.1%"),
    "TR5": Level("Highly suspicious", 10, 5, "ultrasound every year for up to 5 years", "35%"),
}


def level_for(points: int) -> str:
    """Level for a point total: 0 TR1, 2 TR2, 3 TR3, 4-6 TR4, >= 7 TR5; 1 (not in the chart) -> TR2 here."""
    if points == 0:
        return "TR1"
    if points <= 2:
        return "TR2"
    if points == 3:
        return "TR3"
    return "TR4" if points <= 6 else "TR5"


class TiRadsInput(BaseModel):
    """The five ACR TI-RADS feature categories and the maximum diameter of one thyroid nodule."""

    model_config = ConfigDict(extra="forbid")

    composition: Composition | None = Field(
        default=None,
        description=(
            "'cystic' (or almost completely cystic), 'spongiform', 'mixed_cystic_solid', 'solid' (or almost "
            "completely solid), 'cannot_determine' (obscured by calcification)."
        ),
    )
    echogenicity: Echogenicity | None = Field(
        default=None,
        description=(
            "'anechoic', 'hyperechoic', 'isoechoic', 'hypoechoic', 'very_hypoechoic' (darker than strap "
            "muscles), 'cannot_determine'. For mixed nodules: of the solid component."
        ),
    )
    shape: Shape | None = Field(
        default=None, description="On a transverse image: 'wider_than_tall' or 'taller_than_wide'."
    )
    margin: Margin | None = Field(
        default=None,
        description="'smooth', 'ill_defined', 'lobulated', 'irregular', 'extrathyroidal_extension', 'cannot_determine'.",
    )
    echogenic_foci: list[Focus] | None = Field(
        default=None,
        min_length=1,
        description=(
            "All that apply: 'punctate' (microcalcifications), 'peripheral_rim', 'macrocalcifications', "
            "'comet_tail' (large comet-tail artefacts), or ['none']."
        ),
    )
    max_diameter_mm: float | None = Field(
        default=None, gt=0, le=200, description="Maximum diameter in any plane, mm (1.2 cm = 12)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TiRadsInput:
        refuse(contradictions(vars(self)))
        if self.echogenic_foci:
            self.echogenic_foci = list(dict.fromkeys(self.echogenic_foci))
        return self


def contradictions(values: Mapping[str, Any]) -> Problems:
    """Impossible combinations as (fields involved, message); shared by the validator and the extractor."""
    found: Problems = []
    foci = values.get("echogenic_foci") or []
    if "none" in foci and len(set(foci)) > 1:
        found.append((("echogenic_foci",), "echogenic_foci: 'none' cannot be combined with other foci"))
    composition = values.get("composition")
    if values.get("echogenicity") == "anechoic" and composition in (
        "mixed_cystic_solid",
        "solid",
        "cannot_determine",
    ):
        found.append(
            (
                ("echogenicity", "composition"),
                f"echogenicity 'anechoic' applies to cystic nodules, not composition {composition!r}",
            )
        )
    return found


# --- decision ----------------------------------------------------------------------------------


def _feature_points(name: str, value: Any) -> int:
    if name == "echogenic_foci":
        return sum(POINTS[name][focus] for focus in value)
    return POINTS[name][value]


def _range(values: Mapping[str, Any]) -> tuple[int, int, dict[str, int], list[str]]:
    """(minimum total, maximum total, points of the known features, unknown features)."""
    known: dict[str, int] = {}
    unknown: list[str] = []
    low = high = 0
    for name in FEATURES:
        value = values.get(name)
        if value is None:
            unknown.append(name)
            low += min(POINTS[name].values())
            high += MAX_FOCI_POINTS if name == "echogenic_foci" else max(POINTS[name].values())
        else:
            known[name] = _feature_points(name, value)
            low += known[name]
            high += known[name]
    return low, high, known, unknown


def required_missing(values: Mapping[str, Any]) -> list[str]:
    """Features still needed for the level: none for spongiform, none when all completions agree."""
    if values.get("composition") is None:
        return [name for name in FEATURES if values.get(name) is None]
    if values["composition"] == "spongiform":
        return []
    low, high, _, unknown = _range(values)
    if unknown and (level_for(low) != level_for(high) or low <= 1 <= high):
        return unknown
    return []


def _management(level: str, size: float | None) -> tuple[str, list[str]]:
    info = LEVELS[level]
    if info.fna_mm is None or info.follow_up_mm is None:
        return "No FNA; no ultrasound follow-up needed", []
    fna, follow = f"{info.fna_mm / 10:g} cm", f"{info.follow_up_mm / 10:g} cm"
    if size is None:
        text = f"FNA if >= {fna}; follow-up {info.schedule} if >= {follow}; otherwise none"
        return text, ["max_diameter_mm not given: the recommendation depends on the maximum diameter."]
    if size >= info.fna_mm:
        return f"FNA (maximum diameter {size / 10:g} cm >= {fna})", []
    if size >= info.follow_up_mm:
        caveats = []
        if level == "TR5":
            caveats.append(
                "TR5 nodules 0.5-0.9 cm: biopsy may be appropriate in selected cases (ACR committee)."
            )
        return f"No FNA; follow-up {info.schedule} ({size / 10:g} cm is >= {follow} and < {fna})", caveats
    return f"No FNA and no follow-up ({size / 10:g} cm is below {follow})", []


GENERAL_CAVEATS = (
    "Significant enlargement (>= 20% and >= 2 mm in at least two dimensions, or >= 50% in volume) calls for FNA "
    "or continued follow-up; if the level rises, next follow-up in 1 year; imaging may stop at 5 years if stable.",
    "Several nodules: FNA at most the two with the highest point totals that meet FNA criteria.",
)


def _base(**fields: Any) -> ClassificationResult:
    return ClassificationResult(system=NAME, guideline=GUIDELINE, citation=CITATION, **fields)


def _used(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in (*FEATURES, "max_diameter_mm") if values.get(name) is not None}


def extract(text: str) -> Extraction:
    """Read TI-RADS features from a finding ("1.4 cm solid hypoechoic nodule, microcalcifications")."""
    found = Found()
    for name, options in _SINGLE_CHOICE.items():
        found.put(name, _pick_one(text, options, name))
    found.put("echogenic_foci", _read_foci(text))
    sizes = read_sizes(text)
    if sizes.current is not None:
        found.put("max_diameter_mm", (sizes.current.longest_mm, sizes.current.text))
    elif sizes.ambiguous:
        found.ambiguous.add("max_diameter_mm")
    found.drop_contradictions(contradictions(found.inputs))
    missing = required_missing(found.inputs)
    if "max_diameter_mm" not in found.inputs and _size_matters(found.inputs, missing):
        missing.append("max_diameter_mm")
    return found.extraction(NAME, missing)


def _size_matters(values: Mapping[str, Any], missing: list[str]) -> bool:
    if values.get("composition") == "spongiform":
        return False
    high = _range(values)[1]
    return bool(missing) or level_for(high) not in ("TR1", "TR2")


@tool(
    name=NAME,
    description=(
        "ACR TI-RADS 2017 for one thyroid nodule on ultrasound: points for composition, echogenicity, shape, "
        "margin and echogenic foci (additive), level TR1-TR5, and FNA / follow-up by maximum diameter."
    ),
    version="ACR TI-RADS 2017",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="TI-RADS",
    example="TI-RADS for a 1.2 cm solid hypoechoic thyroid nodule with punctate echogenic foci?",
    categories=CATEGORIES,
)
def classify(inp: TiRadsInput) -> ClassificationResult:
    """Return the TI-RADS level, the points per feature and the size-based recommendation."""
    values = vars(inp)
    missing = required_missing(values)
    if missing:
        return _base(
            missing=missing,
            rationale=["Features needed for the level: " + ", ".join(missing) + "."],
            inputs=_used(values),
        )
    rationale: list[str] = []
    caveats: list[str] = []
    if inp.composition == "spongiform":
        low = POINTS["composition"]["spongiform"]
        unknown: list[str] = []
        known = {"composition": low}
        rationale.append(f"Spongiform: no points are added for the other features (total {low}).")
    else:
        low, high, known, unknown = _range(values)
        rationale.append(
            "Points: " + ", ".join(f"{name} {points}" for name, points in known.items()) + f"; total {low}."
        )
        if unknown:
            caveats.append(
                f"Not given: {', '.join(unknown)}; the level is {level_for(low)} whatever their values "
                f"(total {low} to {high})."
            )
    if inp.composition == "mixed_cystic_solid":
        caveats.append("Mixed cystic and solid: points are for the predominant solid component.")
    level = level_for(low)
    risk: str | None = LEVELS[level].risk
    details: dict[str, Any] = {"points": known, "total": low}
    if inp.echogenic_foci and inp.composition != "spongiform":
        details["echogenic_foci_points"] = {f: POINTS["echogenic_foci"][f] for f in inp.echogenic_foci}
    if low == 1 and not unknown:
        details["one_point_total"] = True
        risk = None
        caveats.append(
            "A total of 1 point has no level in the ACR chart; the more conservative neighbour TR2 is given. TR1 and "
            "TR2 both mean no FNA and no follow-up, so the recommendation is the same; no malignancy risk is given."
        )
    rationale.append(f"Total {low} point(s) -> {level} ({LEVELS[level].descriptor}).")
    management, size_caveats = _management(level, inp.max_diameter_mm)
    if inp.max_diameter_mm is not None and LEVELS[level].fna_mm is not None:
        rationale.append(f"Maximum diameter {inp.max_diameter_mm:g} mm against inclusive thresholds (>=).")
    return _base(
        category=level,
        management=management,
        risk=risk,
        rationale=rationale,
        caveats=caveats + size_caveats + list(GENERAL_CAVEATS),
        inputs=_used(values),
        details=details,
    )


# --- reading ultrasound findings -----------------------------------------------------------------

_SUSPENDED = r"\b{}-\s*(?:to|or|and|/)\s*\w*echoic\b"  # "iso- to hypoechoic"
_SINGLE_CHOICE: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "composition": (
        (
            "cannot_determine",
            (
                r"\bcomposition\s+(?:cannot|can\s*not|could\s+not)\s+be\s+(?:determined|assessed)",
                r"\bobscured\s+by\s+(?:calcification|shadowing)",
            ),
        ),
        ("spongiform", (r"\bspongiform\b",)),
        (
            "mixed_cystic_solid",
            (
                r"\bmixed\s+(?:cystic\s+and\s+solid|solid\s+and\s+cystic)\b",
                r"\b(?:cystic\s+and\s+solid|solid\s+and\s+cystic)\b",
                r"\b(?:predominantly|partially|partly|mostly)\s+(?:solid|cystic)\b",
                r"\bcomplex\s+cystic\b",
            ),
        ),
        (
            "cystic",
            (
                r"\b(?:purely|entirely|completely|almost\s+(?:completely|entirely))\s+cystic\b",
                r"\bcystic\s+nodule\b",
                r"\bsimple\s+cyst\b",
            ),
        ),
        (
            "solid",
            (
                r"(?<![-\w])(?<!predominantly\s)(?<!partially\s)(?<!partly\s)(?<!mostly\s)(?<!and\s)solid\b"
                r"(?!\s+(?:component|portion|part|and\s+cystic))",
            ),
        ),
    ),
    "echogenicity": (
        (
            "cannot_determine",
            (r"\bechogenicity\s+(?:cannot|can\s*not|could\s+not)\s+be\s+(?:determined|assessed)",),
        ),
        (
            "very_hypoechoic",
            (
                r"\b(?:very|markedly|marked)\s+hypo-?echoic\b",
                r"\bdarker\s+than\s+(?:the\s+)?strap\s+muscles?\b",
            ),
        ),
        (
            "hypoechoic",
            (r"(?<!very\s)(?<!markedly\s)(?<!marked\s)\bhypo-?echoic\b", _SUSPENDED.format("hypo")),
        ),
        ("isoechoic", (r"\biso-?echoic\b", _SUSPENDED.format("iso"))),
        ("hyperechoic", (r"\bhyper-?echoic\b(?!\s+(?:foci|focus|spots?|dots?))", _SUSPENDED.format("hyper"))),
        ("anechoic", (r"\ban-?echoic\b",)),
    ),
    "shape": (
        ("taller_than_wide", (r"\btaller[- ]than[- ](?:wide|broad)\b",)),
        ("wider_than_tall", (r"\bwider[- ]than[- ](?:tall|taller)\b",)),
    ),
    "margin": (
        ("extrathyroidal_extension", (r"\bextra-?thyroidal\s+(?:extension|spread|invasion)\b", r"\bETE\b")),
        ("lobulated", (r"\b(?:micro)?lobulated\b",)),
        (
            "irregular",
            (
                r"\birregular(?:ly)?\s+(?:margins?|borders?|contours?|outlines?|marginated)\b",
                r"\bmargins?\s+(?:are\s+|is\s+)?irregular\b",
                r"\bspiculated\b",
            ),
        ),
        ("ill_defined", (r"\b(?:ill|poorly)[- ]defined\b",)),
        ("smooth", (r"\bsmooth\b", r"\bwell[- ](?:defined|circumscribed)\b", r"\bcircumscribed\b")),
        (
            "cannot_determine",
            (r"\bmargins?\s+(?:cannot|can\s*not|could\s+not)\s+be\s+(?:determined|assessed)",),
        ),
    ),
}
# Where two options of one feature are both stated, these pairs are resolved by taking the first (the chart's
# higher-point, more specific option); any other pair leaves the feature undetermined.
_PRECEDENCE = {
    "composition": {
        ("cannot_determine", "solid"),
        ("mixed_cystic_solid", "solid"),
        ("mixed_cystic_solid", "cystic"),
    },
    "margin": {
        ("extrathyroidal_extension", "lobulated"),
        ("extrathyroidal_extension", "irregular"),
        ("extrathyroidal_extension", "ill_defined"),
        ("extrathyroidal_extension", "smooth"),
        ("lobulated", "irregular"),
        ("lobulated", "smooth"),
        ("irregular", "smooth"),
        ("lobulated", "ill_defined"),
        ("irregular", "ill_defined"),
    },
}
_NEGATABLE_SHAPE = {"taller_than_wide": "wider_than_tall", "wider_than_tall": "taller_than_wide"}


def _pick_one(
    text: str, options: tuple[tuple[str, tuple[str, ...]], ...], name: str
) -> tuple[str, str] | Literal["ambiguous"] | None:
    """The single stated option of a pick-one feature; conflicting statements settle nothing."""
    found: dict[str, str] = {}
    for value, patterns in options:
        m = find_term(text, patterns)
        if m:
            found[value] = m.group(0)
    if name == "shape" and not found:
        for value, patterns in options:
            negated = find_negated_term(text, patterns)
            if negated:  # "not taller-than-wide" states the other shape
                found[_NEGATABLE_SHAPE[value]] = text[max(0, negated.start() - 12) : negated.end()].strip()
    values = list(found)
    while len(values) > 1 and (values[0], values[1]) in _PRECEDENCE.get(name, set()):
        values.pop(1)
    if len(values) > 1:
        return "ambiguous"
    return (values[0], found[values[0]]) if values else None


_FOCI: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "punctate",
        (
            r"\bpunctate\s+(?:echogenic\s+)?(?:foci|focus|calcifications?)\b",
            r"\bmicro-?calcifications?\b",
        ),
    ),
    (
        "peripheral_rim",
        (
            r"\b(?:peripheral|rim|eggshell|egg-shell)\s+(?:\(rim\)\s+)?calcifications?\b",
            r"\brim[- ]calcified\b",
        ),
    ),
    ("macrocalcifications", (r"\bmacro-?calcifications?\b", r"\bcoarse\s+calcifications?\b")),
    ("comet_tail", (r"\bcomet[- ]tail\b",)),
)
_NO_FOCI = (r"\b(?:no|without)\s+(?:echogenic\s+foci|calcifications?|calcified\s+foci)\b",)


def _read_foci(text: str) -> tuple[list[str], str] | None:
    """All stated echogenic foci; ['none'] only when foci or calcifications as a whole are denied."""
    found = []
    snippets = []
    for value, patterns in _FOCI:
        m = find_term(text, patterns)
        if m:
            found.append(value)
            snippets.append(m.group(0))
    if found:
        return found, "; ".join(snippets)
    none = find_term(text, _NO_FOCI, allow_negated=True)
    if none:
        return ["none"], none.group(0)
    return None
