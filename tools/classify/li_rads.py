"""LI-RADS v2018 CT/MRI diagnostic category for a liver observation in a patient at risk of HCC.

Order of evaluation (ACR CT/MRI LI-RADS v2018 Core, diagnostic algorithm): applicability -> LR-NC ->
LR-TIV -> LR-1/LR-2 -> LR-M -> diagnostic table -> optional ancillary features. LR-1/LR-2 are decided
before the table by the radiologist (the table's "no APHE, <20 mm, no feature" cell says LR-3 although
LR-2 lists "distinctive solid nodule <20 mm"), so they come in as an explicit input, `benign_category`.

Inputs are of two kinds:
* primary (APHE, size, washout, capsule): a rule that needs one that was not given lists it in `missing`,
  unless every possible value leads to the same category (then the rationale says so);
* presence-only findings reported when present (image degradation, tumour in vein, threshold growth,
  LR-M features, ancillary features): not given = absent, with a caveat when their presence would have
  changed the category.

Threshold growth is a size increase of >=50% in <=6 months (v2018); it can be given directly or computed
from `prior_size_mm` and `interval_months`. Rim APHE is a targetoid (LR-M) feature, never APHE for the table.
Category spellings: "LR-NC", "LR-TIV", "LR-1".."LR-5", "LR-M".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tools.classify._decide import explore, need, presence_changes, reject_bool
from tools.classify._extract import Reading, snippet
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import (
    Measurement,
    find_measurements,
    is_negated,
    is_negated_mention,
    mention_readings,
)
from tools.registry import CategorySpelling, tool

GUIDELINE = "ACR LI-RADS v2018 (CT/MRI)"
CITATION = (
    "Chernyak V, Fowler KJ, Kamaya A, et al. LI-RADS Version 2018: Imaging of Hepatocellular Carcinoma in "
    "At-Risk Patients. Radiology 2018;289(3):816-830; ACR CT/MRI LI-RADS v2018 Core (diagnostic algorithm, "
    "diagnostic table, ancillary features, management table)"
)

Population = Literal["cirrhosis", "chronic_hepatitis_b", "current_or_prior_hcc", "none"]
CirrhosisCause = Literal["congenital_hepatic_fibrosis", "vascular_disorder", "other"]
Aphe = Literal["nonrim", "rim", "absent"]
TargetoidFeature = Literal[
    "peripheral_washout", "delayed_central_enhancement", "targetoid_restriction", "targetoid_tp_hbp"
]
LrMFeature = Literal[
    "infiltrative", "marked_diffusion_restriction", "necrosis_or_severe_ischemia", "other_non_hcc"
]
MalignancyAF = Literal[
    # favouring malignancy in general
    "us_visibility",
    "subthreshold_growth",
    "restricted_diffusion",
    "mild_moderate_t2_hyperintensity",
    "corona_enhancement",
    "fat_sparing_in_solid_mass",
    "iron_sparing_in_solid_mass",
    "transitional_phase_hypointensity",
    "hepatobiliary_phase_hypointensity",
    # favouring HCC in particular
    "nonenhancing_capsule",
    "nodule_in_nodule",
    "mosaic_architecture",
    "fat_in_mass",
    "blood_products_in_mass",
]
BenignityAF = Literal[
    "size_stability_2_years",
    "size_reduction",
    "parallels_blood_pool",
    "undistorted_vessels",
    "iron_in_mass",
    "marked_t2_hyperintensity",
    "hepatobiliary_phase_isointensity",
]

# Issue 11 (tools.classify.conditional): presence-only features (tumour in vein, LR-M features, ancillary
# features) are handled inside the tool with a caveat; the major features (APHE, washout, capsule) are never
# read as absent: an unstated one is asked for or branched.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = ("LR-1", "LR-2", "LR-3", "LR-4", "LR-5", "LR-M", "LR-TIV")

TRIGGERS: tuple[str, ...] = (
    r"\bli-?\s?rads\b",
    r"\bLR-?(?:[1-5]|M|TIV|NC)\b",
    r"\bcirrho(?:sis|tic)\b",
    r"\bhepatocellular carcinoma\b",
    r"\bHCC\b",
    r"\bAPHE\b",
    r"\barterial[- ]phase hyperenhancement\b",
)


def _li_rads_category(written: str) -> str:
    """'LR5', 'LR-5' and 'LI-RADS 5' are the same category; the tool writes 'LR-5'."""
    return written if written.startswith("LR-") else f"LR-{written.removeprefix('LR')}"


# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(
    r"\b(LR-?(?:TIV|NC|M|[1-5]))\b|\bli-?rads\s*(?:v?2018\s*)?(?:category\s*)?(TIV|NC|M|[1-5])\b",
    _li_rads_category,
)


_Mm = Annotated[float, BeforeValidator(reject_bool), Field(gt=0, le=300)]


class LiRadsInput(BaseModel):
    """One liver observation on multiphase CT or MRI, with the patient's risk status."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    population: Population | None = Field(
        default=None,
        description="Why the patient is at risk of HCC: cirrhosis, chronic_hepatitis_b (without cirrhosis), "
        "current_or_prior_hcc, or none (LI-RADS then does not apply).",
    )
    cirrhosis_cause: CirrhosisCause | None = Field(
        default=None,
        description="Cause of cirrhosis when it matters: congenital_hepatic_fibrosis or vascular_disorder "
        "(e.g. Budd-Chiari, hereditary haemorrhagic telangiectasia) exclude LI-RADS; other = any other cause.",
    )
    age_years: Annotated[int, BeforeValidator(reject_bool)] | None = Field(
        default=None, ge=0, le=120, description="Patient age in years (LI-RADS does not apply under 18)."
    )
    not_categorizable: bool | None = Field(
        default=None, description="Image degradation or omission prevents categorisation (LR-NC)."
    )
    tumor_in_vein: bool | None = Field(
        default=None,
        description="Unequivocal enhancing soft tissue in a vein, with or without a parenchymal mass (LR-TIV).",
    )
    benign_category: Literal["LR-1", "LR-2"] | None = Field(
        default=None,
        description="Set only when the radiologist judges the observation definitely benign (LR-1) or "
        "probably benign (LR-2); these criteria are applied before the diagnostic table.",
    )
    aphe: Aphe | None = Field(
        default=None,
        description="Arterial phase hyperenhancement: nonrim (counts for the table), rim (a targetoid LR-M "
        "feature), or absent.",
    )
    size_mm: _Mm | None = Field(
        default=None, description="Largest outer-edge-to-outer-edge dimension of the observation, in mm."
    )
    washout: bool | None = Field(default=None, description="Nonperipheral 'washout' (major feature).")
    capsule: bool | None = Field(default=None, description="Enhancing 'capsule' (major feature).")
    threshold_growth: bool | None = Field(
        default=None,
        description="Threshold growth: size increase of the mass by >=50% in <=6 months (major feature). "
        "May instead be computed from prior_size_mm and interval_months.",
    )
    prior_size_mm: _Mm | None = Field(default=None, description="Size at the prior exam, in mm.")
    interval_months: float | None = Field(
        default=None, gt=0, le=240, description="Months between the prior exam and this one."
    )
    targetoid_features: list[TargetoidFeature] = Field(
        default_factory=list,
        description="Targetoid LR-M features present besides rim APHE (empty = none).",
    )
    lr_m_features: list[LrMFeature] = Field(
        default_factory=list,
        description="Non-targetoid LR-M features present: infiltrative appearance, marked diffusion "
        "restriction, necrosis or severe ischaemia, other feature suggesting non-HCC malignancy (empty = none).",
    )
    ancillary_malignancy: list[MalignancyAF] = Field(
        default_factory=list,
        description="Ancillary features favouring malignancy (in general or HCC in particular).",
    )
    ancillary_benignity: list[BenignityAF] = Field(
        default_factory=list, description="Ancillary features favouring benignity."
    )

    @model_validator(mode="after")
    def _consistent(self) -> LiRadsInput:
        if self.cirrhosis_cause is not None and self.population == "none":
            raise ValueError("cirrhosis_cause is given but population is 'none'; correct one of them")
        if (self.prior_size_mm is None) != (self.interval_months is None):
            raise ValueError("prior_size_mm and interval_months must be given together")
        computed = self.computed_growth()
        if computed is not None and self.threshold_growth is not None and computed != self.threshold_growth:
            raise ValueError(
                f"threshold_growth={self.threshold_growth} contradicts prior_size_mm={self.prior_size_mm:g}, "
                f"size_mm={self.size_mm:g}, interval_months={self.interval_months:g} "
                "(threshold growth = >=50% increase in <=6 months)"
            )
        return self

    def computed_growth(self) -> bool | None:
        """Threshold growth from the two sizes and the interval, or None when they are not all given."""
        if self.prior_size_mm is None or self.interval_months is None or self.size_mm is None:
            return None
        grew_enough = Decimal(str(self.size_mm)) >= Decimal(str(self.prior_size_mm)) * Decimal("1.5")
        return grew_enough and self.interval_months <= 6


# --- tables (ACR CT/MRI LI-RADS v2018 Core) -------------------------------------------------------

# Diagnostic table: (APHE, size band) -> category for 0, 1 and >=2 additional major features
# (nonperipheral washout, enhancing capsule, threshold growth). None = the 10-19 mm one-feature cell,
# which depends on which feature it is (_TEN_TO_NINETEEN_ONE_FEATURE).
_TABLE: dict[tuple[str, str], tuple[str | None, str | None, str | None]] = {
    ("absent", "<20 mm"): ("LR-3", "LR-3", "LR-4"),
    ("absent", ">=20 mm"): ("LR-3", "LR-4", "LR-4"),
    ("nonrim", "<10 mm"): ("LR-3", "LR-4", "LR-4"),
    ("nonrim", "10-19 mm"): ("LR-3", None, "LR-5"),
    ("nonrim", ">=20 mm"): ("LR-4", "LR-5", "LR-5"),
}
_TEN_TO_NINETEEN_ONE_FEATURE = {"capsule": "LR-4", "washout": "LR-5", "threshold_growth": "LR-5"}
_LADDER = ("LR-1", "LR-2", "LR-3", "LR-4", "LR-5")

# Management table (v2018 CT/MRI), paraphrased; the project reference marks it [med].
_MANAGEMENT = {
    "LR-NC": "Repeat or alternative diagnostic imaging in 3 months or less.",
    "LR-1": "Return to surveillance in 6 months.",
    "LR-2": "Return to surveillance in 6 months; consider repeat diagnostic imaging in 6 months or less.",
    "LR-3": "Repeat or alternative diagnostic imaging in 3-6 months.",
    "LR-4": "Multidisciplinary discussion for tailored work-up; may include biopsy or repeat or alternative "
    "imaging in 3 months or less.",
    "LR-5": "Multidisciplinary discussion for consensus management; HCC can be diagnosed on imaging, biopsy "
    "usually not needed for diagnosis.",
    "LR-M": "Multidisciplinary discussion for tailored work-up, often including biopsy.",
    "LR-TIV": "Multidisciplinary discussion for tailored work-up, which may include biopsy.",
}
_MEANING = {
    "LR-NC": "Not categorizable (image degradation or omission)",
    "LR-1": "Definitely benign",
    "LR-2": "Probably benign",
    "LR-3": "Intermediate probability of malignancy",
    "LR-4": "Probably HCC",
    "LR-5": "Definitely HCC",
    "LR-M": "Probably or definitely malignant, not HCC-specific",
    "LR-TIV": "Tumour in vein",
}
_MANAGEMENT_CAVEAT = (
    "Management paraphrased from the ACR LI-RADS v2018 CT/MRI management table; wording not re-verified "
    "against the primary text: confirm with the local multidisciplinary pathway."
)
_TIE_BREAK = (
    "LI-RADS tie-breaking: if unsure whether a major feature is present, treat it as absent; if unsure "
    "between two categories, choose the one reflecting lower certainty."
)
# Presence-only major feature: absent when not given, with a caveat when it would change the category.
# (LR-NC, LR-TIV, LR-M and ancillary features are also presence-only but would change nearly every
# answer; a caveat for them on each result would be noise.)
_PRESENCE_ONLY = (("threshold_growth", "threshold growth"),)


# --- outcome (rules read inputs lazily; `explore` tries every value of an unknown enumerable one) ----


@dataclass(frozen=True)
class _Outcome:
    category: str
    rule: str
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.category


# --- the algorithm ---------------------------------------------------------------------------------


def _size_band(aphe: str, size_mm: float) -> str:
    if aphe == "absent":
        return "<20 mm" if size_mm < 20 else ">=20 mm"
    if size_mm < 10:
        return "<10 mm"
    return "10-19 mm" if size_mm < 20 else ">=20 mm"


def _table(values: dict[str, Any], aphe: str) -> _Outcome:
    size_mm, washout, capsule = need(values, "size_mm", "washout", "capsule")
    present = {"washout": washout, "capsule": capsule, "threshold_growth": values["threshold_growth"] is True}
    features = [name for name, on in present.items() if on]
    band = _size_band(aphe, size_mm)
    row = _TABLE[(aphe, band)]
    category = row[min(len(features), 2)]
    if category is None:
        category = _TEN_TO_NINETEEN_ONE_FEATURE[features[0]]
    aphe_text = "nonrim APHE" if aphe == "nonrim" else "no APHE"
    listed = ", ".join(features) or "none"
    rule = f"Diagnostic table: {aphe_text}, {band} ({size_mm:g} mm), additional major features: {listed} -> {category}"
    details = {"size_band": band, "additional_major_features": features, "table_category": category}
    return _Outcome(category, rule, details)


def _apply_ancillary(outcome: _Outcome, values: dict[str, Any]) -> _Outcome:
    """Optional ancillary features: malignancy up one step (never to LR-5), benignity down one, both: none."""
    malignant, benign = values["ancillary_malignancy"], values["ancillary_benignity"]
    if not malignant and not benign:
        return outcome
    category = outcome.category
    step = _LADDER.index(category)
    if malignant and benign:
        note, new = "Ancillary features favour both malignancy and benignity: no adjustment", category
    elif malignant:
        new = _LADDER[min(step + 1, 3)] if step < 3 else category
        note = f"Ancillary features favouring malignancy ({', '.join(malignant)}): upgrade by one category, "
        note += f"at most to LR-4 -> {new}"
    else:
        new = _LADDER[step - 1]
        note = f"Ancillary features favouring benignity ({', '.join(benign)}): downgrade by one -> {new}"
    details = {**outcome.details, "ancillary_adjustment": _LADDER.index(new) - step}
    return _Outcome(new, outcome.rule, details, (*outcome.notes, note))


def _evaluate(values: dict[str, Any]) -> _Outcome:
    if values["not_categorizable"] is True:
        return _Outcome("LR-NC", "LR-NC: image degradation or omission prevents categorisation")
    if values["tumor_in_vein"] is True:
        return _Outcome("LR-TIV", "LR-TIV: unequivocal enhancing soft tissue in vein")
    if values["benign_category"] is not None:
        category = values["benign_category"]
        return _Outcome(
            category, f"{category}: radiologist's definitely/probably benign criteria (before the table)"
        )
    aphe = need(values, "aphe")
    targetoid = (["rim_aphe"] if aphe == "rim" else []) + list(values["targetoid_features"])
    if targetoid:
        return _Outcome("LR-M", f"LR-M: targetoid mass ({', '.join(targetoid)})", {"targetoid": targetoid})
    outcome = _table(values, aphe)
    if values["lr_m_features"]:
        listed = ", ".join(values["lr_m_features"])
        if outcome.category == "LR-5":
            note = f"Nontargetoid LR-M features ({listed}) do not override a mass meeting LR-5 criteria"
            return _Outcome("LR-5", outcome.rule, outcome.details, (note,))
        return _Outcome("LR-M", f"LR-M: nontargetoid mass not meeting LR-5 with LR-M features ({listed})")
    return _apply_ancillary(outcome, values)


# --- result ----------------------------------------------------------------------------------------


def _not_applicable(inp: LiRadsInput) -> str | None:
    instead = (
        "characterise the lesion with a standard (non-LI-RADS) liver work-up and discuss with hepatology "
        "or the multidisciplinary team"
    )
    if inp.population == "none":
        return (
            "LI-RADS CT/MRI applies only to patients at risk of HCC (cirrhosis, chronic hepatitis B, current or "
            f"prior HCC); {instead}."
        )
    if inp.age_years is not None and inp.age_years < 18:
        return f"LI-RADS does not apply to patients younger than 18 years; {instead}."
    if inp.cirrhosis_cause == "congenital_hepatic_fibrosis":
        return f"LI-RADS does not apply to cirrhosis due to congenital hepatic fibrosis; {instead}."
    if inp.cirrhosis_cause == "vascular_disorder":
        return (
            "LI-RADS does not apply to cirrhosis due to a vascular disorder (e.g. Budd-Chiari syndrome, "
            f"hereditary haemorrhagic telangiectasia); {instead}."
        )
    return None


def _values(inp: LiRadsInput) -> dict[str, Any]:
    values = inp.model_dump()
    computed = inp.computed_growth()
    if computed is not None:
        values["threshold_growth"] = computed
    return values


def _used_inputs(inp: LiRadsInput, values: dict[str, Any]) -> dict[str, Any]:
    used = {k: v for k, v in inp.model_dump(exclude_none=True).items() if v != []}
    if values["threshold_growth"] is not None:
        used["threshold_growth"] = values["threshold_growth"]
    return used


def _presence_caveats(values: dict[str, Any], outcome: _Outcome) -> list[str]:
    return [
        f"{name} not stated, taken as absent; {label} would make this {alternative.category}."
        for name, label, alternative in presence_changes(_evaluate, values, _PRESENCE_ONLY, outcome)
    ]


def _growth_lines(inp: LiRadsInput, values: dict[str, Any]) -> list[str]:
    if inp.prior_size_mm is None or inp.size_mm is None or inp.interval_months is None:
        return []
    change = (inp.size_mm - inp.prior_size_mm) / inp.prior_size_mm * 100
    verdict = "threshold growth" if values["threshold_growth"] else "not threshold growth"
    line = (
        f"Growth {inp.prior_size_mm:g} -> {inp.size_mm:g} mm ({change:+.0f}%) in {inp.interval_months:g} months: "
        f"{verdict} (>=50% in <=6 months)"
    )
    return [line]


# Values tried when an enumerable primary input is missing (see _explore); the first is the one whose
# path decides what to ask for first.
_CHOICES: dict[str, tuple[Any, ...]] = {
    "aphe": ("nonrim", "rim", "absent"),
    "washout": (False, True),
    "capsule": (False, True),
}


def _decide(inp: LiRadsInput) -> ClassificationResult:
    base = {"system": "li_rads", "guideline": GUIDELINE, "citation": CITATION}
    reason = _not_applicable(inp)
    if reason is not None:
        return ClassificationResult(**base, not_applicable=reason, inputs=inp.model_dump(exclude_none=True))
    values = _values(inp)
    outcomes, needed, stuck = explore(_evaluate, values, _CHOICES, limit=256)
    categories = sorted({o.category for _, o in outcomes})
    decided = not stuck and len(categories) == 1
    if not decided or inp.population is None:
        missing = (["population"] if inp.population is None else []) + ([] if decided else sorted(needed))
        if decided:
            rationale = [
                f"With the inputs given the category would be {categories[0]}, once the patient is at risk"
            ]
        else:
            rationale = [f"The category depends on the missing inputs (e.g. {' or '.join(categories)})"]
        return ClassificationResult(
            **base, missing=missing, rationale=rationale, inputs=_used_inputs(inp, values)
        )
    assumed, outcome = outcomes[0]
    rationale = [f"At-risk population: {inp.population.replace('_', ' ')}"]
    rationale += _growth_lines(inp, values)
    rationale.append(outcome.rule)
    rationale += list(outcome.notes)
    unstated = sorted({k for a, _ in outcomes for k in a})
    if unstated:
        rationale.append(f"Not stated: {', '.join(unstated)}; every possible value gives {outcome.category}")
    caveats = _presence_caveats({**values, **assumed}, outcome)
    if "table_category" in outcome.details:
        caveats.append(_TIE_BREAK)
    if inp.age_years is None or (inp.population == "cirrhosis" and inp.cirrhosis_cause is None):
        caveats.append(
            "Applicability assumed: adult patient; cirrhosis not due to congenital hepatic fibrosis or a "
            "vascular disorder."
        )
    caveats.append(_MANAGEMENT_CAVEAT)
    return ClassificationResult(
        **base,
        category=outcome.category,
        management=_MANAGEMENT[outcome.category],
        risk=_MEANING[outcome.category],
        rationale=rationale,
        caveats=caveats,
        inputs=_used_inputs(inp, values),
        details=dict(outcome.details),
    )


# --- extraction --------------------------------------------------------------------------------------

# "non-rim", "non peripheral" -> "non_rim": keeps offsets and stops "non" reading as a negation.
_NON_PREFIX = re.compile(r"\bnon[- ](?=(?:rim|peripheral|targetoid|enhancing|cirrhotic)\b)", re.IGNORECASE)
_RANGE = re.compile(r"\d+(?:\.\d+)?\s*(?:mm|cm)?\s*(?:-|–|to)\s*\d+(?:\.\d+)?\s*(?:mm|cm)\b", re.IGNORECASE)
_BOUND = re.compile(
    r"(?:<|>|≤|≥|=<|>=|\bup to|\bless than|\bgreater than|\bmore than|\bat least|\bunder|\bover|\bbelow|\babove)\s*$",
    re.IGNORECASE,
)
_I = re.IGNORECASE


class _Reader(Reading):
    """A Reading over the text with "non-" prefixes joined, with list fields and sizes."""

    def __init__(self, text: str) -> None:
        super().__init__(text, _NON_PREFIX.sub("non_", text))

    def flag(self, key: str, patterns: Iterable[str]) -> None:
        """Stated -> True, only negated -> False, both (or an ambiguous "no A and B") -> unsettled."""
        found = [
            (stated, m)
            for p in patterns
            for m in re.finditer(p, self.norm, _I)
            for stated in mention_readings(self.norm, m.start(), m.end())
        ]
        self.settle(key, found)

    def listed(self, key: str, table: dict[str, tuple[str, ...]]) -> None:
        """Add the non-negated items of a list field to what was already read."""
        for item, patterns in table.items():
            m = next(
                (
                    m
                    for p in patterns
                    for m in re.finditer(p, self.norm, _I)
                    if not is_negated_mention(self.norm, m.start(), m.end())
                ),
                None,
            )
            if m is not None:
                self.add(key, item, m.start(), m.end())

    def add(self, key: str, item: str, start: int, end: int) -> None:
        """Append one item to a list field, keeping every piece of evidence."""
        items = self.inputs.setdefault(key, [])
        if item not in items:
            items.append(item)
            quoted = snippet(self.text, start, end)
            self.evidence[key] = f"{self.evidence[key]}; {quoted}" if key in self.evidence else quoted

    def sizes(self, masked: list[tuple[int, int]]) -> list[Measurement]:
        """Exact sizes outside `masked` spans; a range or a bound ('<1 cm') leaves size_mm unsettled."""
        text = self.norm
        for a, b in masked:
            text = text[:a] + " " * (b - a) + text[b:]
        if _RANGE.search(text):
            self.unsettled.add("size_mm")
            return []
        found = find_measurements(text)
        if any(_BOUND.search(text[max(0, m.start - 14) : m.start]) for m in found):
            self.unsettled.add("size_mm")
            return []
        return found


_POPULATION = {
    "cirrhosis": (r"\bcirrho(?:sis|tic)\b",),
    "current_or_prior_hcc": (
        r"\b(?:history of|prior|previous|previously treated|treated|known|current|recurrent)\s+"
        r"(?:HCC|hepatocellular carcinoma)\b",
        r"\b(?:HCC|hepatocellular carcinoma)\s+(?:history|status post|s/p)\b",
    ),
    "chronic_hepatitis_b": (r"\b(?:chronic\s+)?hep(?:atitis)?\s*B\b", r"\bHBV\b"),
}
_CAUSE = {
    "vascular_disorder": (r"\bBudd[- ]Chiari\b", r"\bhereditary ha?emorrhagic telangiectasia\b", r"\bHHT\b"),
    "congenital_hepatic_fibrosis": (r"\bcongenital hepatic fibrosis\b",),
}
_AGE = (r"\b(\d{1,3})[- ]?(?:years?[- ]old|yrs?[- ]old|y/?o)\b", r"\bage[d:]?\s*:?\s*(\d{1,3})\b")
_APHE = re.compile(
    r"\b(?P<q>non_?rim[- ]|rim(?:[- ]like)?[- ])?(?:APHE\b|arterial(?:[- ]phase)?\s+hyper-?enhanc\w*"
    r"|arterially\s+hyper-?enhancing\b|hyper-?enhanc\w*\s+(?:in|on|during)\s+the\s+(?:late\s+)?arterial\s+phase)",
    _I,
)
_NO_APHE = (
    r"\b(?:iso|hypo)-?enhanc\w*\s+(?:in|on|during)\s+the\s+(?:late\s+)?arterial\s+phase",
    r"\barterial(?:[- ]phase)?\s+(?:iso|hypo)-?enhancement\b",
)
_WASHOUT = re.compile(r"\b(?P<q>non_?peripheral\s+|peripheral\s+)?(?:\"?wash-?\s?out\"?|washes\s+out)", _I)
_CAPSULE = re.compile(
    r"\b(?P<q>non_?enhancing\s+)?(?:enhancing\s+)?(?:\"?(?:pseudo)?capsule\"?|capsular\s+enhancement)", _I
)
_MEAS = r"(\d+(?:\.\d+)?)\s*(mm|cm)?"
_GROWTH = re.compile(
    rf"\b(?:grew|grown|increased|enlarged|increase)\s+(?:in\s+size\s+)?from\s+{_MEAS}\s+to\s+{_MEAS}\s+"
    r"(?:in|over)\s+(?:the\s+)?(?:past\s+|last\s+)?(\d+(?:\.\d+)?)\s+months?\b",
    _I,
)
_TIV = (
    r"\btumou?r\s+in\s+(?:the\s+)?(?:[\w-]+\s+){0,2}veins?\b",
    r"\btumou?r\s+thrombus\b",
    r"\bTIV\b",
    r"\benhancing\s+soft\s+tissue\s+(?:with)?in\s+the\s+(?:[\w-]+\s+){0,2}veins?\b",
)
_TARGETOID: dict[str, tuple[str, ...]] = {
    "delayed_central_enhancement": (r"\bdelayed\s+central\s+enhancement\b",),
    "targetoid_restriction": (r"\btargetoid\s+(?:diffusion\s+)?restriction\b",),
    "targetoid_tp_hbp": (
        r"\btargetoid\s+(?:appearance\s+)?(?:in|on)\s+the\s+(?:transitional|hepatobiliary|TP|HBP)\b",
    ),
}
_LR_M = {
    "infiltrative": (r"\binfiltrative\b",),
    "marked_diffusion_restriction": (
        r"\bmarked(?:ly)?\s+(?:restricted\s+diffusion|diffusion\s+restriction|restrict\w*)",
    ),
    "necrosis_or_severe_ischemia": (r"\bnecro(?:sis|tic)\b", r"\bsevere\s+isch(?:a)?emi\w*"),
}
_AF_MALIGNANT = {
    "us_visibility": (r"\bvisible\s+(?:on|at)\s+(?:ultrasound|US)\b",),
    "subthreshold_growth": (r"\bsub-?threshold\s+growth\b",),
    "restricted_diffusion": (
        r"(?<!marked )(?<!markedly )(?<!targetoid )\b(?:restricted\s+diffusion|diffusion\s+restriction|restricts\s+diffusion)\b",
    ),
    "mild_moderate_t2_hyperintensity": (
        r"\bmild(?:ly)?(?:\s*-\s*|\s+to\s+|\s+)moderate(?:ly)?\s+T2(?:[- ]?weighted)?\s+hyperintens\w*",
    ),
    "corona_enhancement": (r"\bcorona\s+enhancement\b",),
    "fat_sparing_in_solid_mass": (r"\bfat\s+sparing\b",),
    "iron_sparing_in_solid_mass": (r"\biron\s+sparing\b",),
    "transitional_phase_hypointensity": (r"\btransitional[- ]phase\s+hypointens\w*",),
    "hepatobiliary_phase_hypointensity": (
        r"\b(?:hepatobiliary[- ]phase|HBP)\s+hypointens\w*",
        r"\bhypointense\s+(?:in|on)\s+the\s+(?:hepatobiliary|HBP)\s+phase\b",
    ),
    "nodule_in_nodule": (r"\bnodule[- ]in[- ]nodule\b",),
    "mosaic_architecture": (r"\bmosaic\s+architecture\b",),
    "fat_in_mass": (r"\bintralesional\s+fat\b", r"\bfat\s+in\s+(?:the\s+)?mass\b"),
    "blood_products_in_mass": (r"\bblood\s+products\b",),
}
_AF_BENIGN = {
    "size_stability_2_years": (
        r"\bstable(?:\s+in\s+size)?\s+(?:for|over)\s+(?:more\s+than\s+|at\s+least\s+|over\s+)?"
        r"(?:[2-9]|\d{2}|two|three|four|five)\s+years\b",
    ),
    "size_reduction": (r"\b(?:decreased|reduced)\s+in\s+size\b", r"\bsize\s+reduction\b"),
    "parallels_blood_pool": (r"\bparallels?\s+(?:the\s+)?blood\s+pool\b",),
    "undistorted_vessels": (r"\bundistorted\s+vessels\b",),
    "iron_in_mass": (r"\biron\s+in\s+(?:the\s+)?mass\b",),
    "marked_t2_hyperintensity": (r"\bmarked(?:ly)?\s+T2(?:[- ]?weighted)?\s+hyperintens\w*",),
    "hepatobiliary_phase_isointensity": (r"\b(?:hepatobiliary[- ]phase|HBP)\s+isointens\w*",),
}


def _read_population(r: _Reader) -> None:
    for value, patterns in _POPULATION.items():
        m = next(
            (m for p in patterns for m in re.finditer(p, r.norm, _I) if not is_negated(r.norm, m.start())),
            None,
        )
        if m is not None:
            r.put("population", value, m.start(), m.end())
            break
    for value, patterns in _CAUSE.items():
        m = next((m for p in patterns for m in re.finditer(p, r.norm, _I)), None)
        if m is not None and not is_negated(r.norm, m.start()):
            r.put("cirrhosis_cause", value, m.start(), m.end())
    ages = [(int(m.group(1)), m) for p in _AGE for m in re.finditer(p, r.norm, _I) if int(m.group(1)) <= 120]
    r.settle("age_years", ages)


def _read_aphe(r: _Reader) -> None:
    found: list[tuple[Any, re.Match[str]]] = []
    for m in _APHE.finditer(r.norm):
        qualifier = (m.group("q") or "").lower()
        value = "rim" if qualifier.startswith("rim") else "nonrim"
        if not is_negated(r.norm, m.start()):
            found.append((value, m))
        elif value == "nonrim" and not qualifier:
            found.append(("absent", m))  # "no APHE"; "no rim APHE" says nothing about nonrim APHE
    found += [
        ("absent", m)
        for p in _NO_APHE
        for m in re.finditer(p, r.norm, _I)
        if not is_negated(r.norm, m.start())
    ]
    r.settle("aphe", found)


def _read_washout_capsule(r: _Reader) -> None:
    washout: list[tuple[Any, re.Match[str]]] = []
    for m in _WASHOUT.finditer(r.norm):
        negated = is_negated_mention(r.norm, m.start(), m.end())
        if (m.group("q") or "").lower().startswith("peripheral"):
            if not negated:
                r.add("targetoid_features", "peripheral_washout", m.start(), m.end())
            continue
        washout.extend((stated, m) for stated in mention_readings(r.norm, m.start(), m.end()))
    r.settle("washout", washout)
    capsule: list[tuple[Any, re.Match[str]]] = []
    for m in _CAPSULE.finditer(r.norm):
        negated = is_negated_mention(r.norm, m.start(), m.end())
        if m.group("q"):
            if not negated:
                r.add("ancillary_malignancy", "nonenhancing_capsule", m.start(), m.end())
            continue
        capsule.extend((stated, m) for stated in mention_readings(r.norm, m.start(), m.end()))
    r.settle("capsule", capsule)


def _read_growth_and_size(r: _Reader) -> None:
    r.flag("threshold_growth", (r"\bthreshold\s+growth\b",))
    masked = []
    m = _GROWTH.search(r.norm)
    if m is not None:
        a, a_unit, b, b_unit, months = m.groups()
        if b_unit is not None:
            factor = {"mm": 1.0, "cm": 10.0}
            prior = float(a) * factor[(a_unit or b_unit).lower()]
            now = float(b) * factor[b_unit.lower()]
            r.put("prior_size_mm", round(prior, 3), m.start(), m.end())
            r.put("interval_months", float(months), m.start(), m.end())
            r.put("size_mm", round(now, 3), m.start(), m.end())
            masked.append((m.start(), m.end()))
    sizes = {s.longest_mm: s for s in r.sizes(masked)}
    if "size_mm" in r.inputs:
        if any(v != r.inputs["size_mm"] for v in sizes):
            r.unsettled.add("size_mm")
            for key in ("size_mm", "prior_size_mm", "interval_months"):
                r.inputs.pop(key, None)
        return
    if len(sizes) > 1:
        r.unsettled.add("size_mm")
    elif sizes:
        s = next(iter(sizes.values()))
        r.put("size_mm", s.longest_mm, s.start, s.end)


def _read_features(r: _Reader) -> None:
    tiv = [
        (not is_negated_mention(r.norm, m.start(), m.end()), m)
        for p in _TIV
        for m in re.finditer(p, r.norm, _I)
    ]
    r.settle("tumor_in_vein", tiv)
    unclassifiable = re.search(r"\b(?:not\s+categori[sz]able|cannot\s+be\s+categori[sz]ed)\b", r.norm, _I)
    if unclassifiable is not None:  # the phrase carries its own "not": no negation check
        r.put("not_categorizable", True, unclassifiable.start(), unclassifiable.end())
    r.listed("targetoid_features", _TARGETOID)
    generic = re.search(r"\btargetoid\b", r.norm, _I)
    if (
        generic is not None
        and not is_negated(r.norm, generic.start())
        and "targetoid_features" not in r.inputs
    ):
        r.unsettled.add("targetoid_features")  # "targetoid mass" without the feature that makes it so
    r.listed("lr_m_features", _LR_M)
    r.listed("ancillary_malignancy", _AF_MALIGNANT)
    r.listed("ancillary_benignity", _AF_BENIGN)


def extract(text: str) -> Extraction:
    """Read LI-RADS inputs from a free-text finding; only what is stated, never a guess.

    Understood: at-risk population (cirrhosis/cirrhotic, hepatitis B/HBV, prior/known/treated HCC),
    exclusions (Budd-Chiari, HHT, congenital hepatic fibrosis), age, APHE (nonrim, rim, absent, iso- or
    hypoenhancing), nonperipheral vs peripheral washout, enhancing vs nonenhancing capsule, threshold
    growth (stated, or "grew from A to B mm in N months"), size with a unit (ranges, bounds and several
    different sizes stay undetermined), tumour in vein, LR-M features and common ancillary features.
    LR-1/LR-2 are not read: they are the radiologist's judgement and are passed explicitly.
    """
    r = _Reader(text)
    _read_population(r)
    _read_aphe(r)
    _read_washout_capsule(r)
    _read_growth_and_size(r)
    _read_features(r)
    return r.finish("li_rads", LiRadsInput, _decide)


@tool(
    name="li_rads",
    description="LI-RADS v2018 CT/MRI category (LR-NC, LR-TIV, LR-1..LR-5, LR-M) and management for a liver "
    "observation in a patient at risk of HCC (cirrhosis, chronic hepatitis B, current or prior HCC).",
    version="LI-RADS v2018 CT/MRI",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="LI-RADS",
    example="Cirrhosis, 25 mm observation with nonrim APHE, nonperipheral washout and enhancing capsule: LI-RADS?",
    categories=CATEGORIES,
    # threshold growth stated, or computed from the prior size and interval: a follow-up replaces both
    exclusive_groups=(("threshold_growth", "prior_size_mm", "interval_months"),),
)
def classify(inp: LiRadsInput) -> ClassificationResult:
    """Run the v2018 diagnostic algorithm in its published order (see the module docstring)."""
    return _decide(inp)
