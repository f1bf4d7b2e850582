"""ACR BI-RADS Atlas, 5th edition (2013): assessment category -> management and likelihood of malignancy.

BI-RADS is not a feature calculator. The assessment category is the radiologist's overall judgement of
the findings; the atlas then fixes, per category, the management and the likelihood of malignancy the
category stands for. This tool is that lookup. It takes either the assessment the radiologist gave, or
an estimated likelihood of malignancy that it places in the atlas's published ranges (a placement, not
a diagnosis: the caveat says so), and applies two usage rules of the atlas:

* Subcategories 4A/4B/4C are defined for mammography and ultrasound, not for MRI. For MRI a 4A/4B/4C
  assessment is normalised to 4 with a caveat rather than refused: the management (tissue diagnosis) is
  identical, so the answer does not change; only the quoted likelihood widens to category 4's range.
* Category 3 is meant for a completed diagnostic work-up, not for screening. At screening the category
  is kept with a caveat rather than refused, because the project reference does not settle whether the
  atlas allows it at screening US or MRI; an error would block a use we cannot show to be wrong.

Category spellings: "0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6".
Source: D'Orsi CJ, Sickles EA, Mendelson EB, Morris EA, et al. ACR BI-RADS Atlas, 5th ed. ACR, 2013
(assessment categories table; paraphrased).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_term, is_negated
from tools.registry import CategorySpelling, tool

GUIDELINE = "ACR BI-RADS Atlas 5th edition (2013)"
CITATION = (
    "D'Orsi CJ, Sickles EA, Mendelson EB, Morris EA, et al. ACR BI-RADS Atlas, Breast Imaging Reporting "
    "and Data System, 5th ed. Reston, VA: American College of Radiology; 2013 (assessment categories, "
    "management and likelihood of malignancy)"
)

Assessment = Literal["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"]
Modality = Literal["mammography", "ultrasound", "mri"]
ExamType = Literal["screening", "diagnostic"]


@dataclass(frozen=True)
class _Likelihood:
    """A published likelihood-of-malignancy range in percent, with open or closed ends."""

    low: float
    low_inclusive: bool
    high: float
    high_inclusive: bool

    def contains(self, pct: float) -> bool:
        above = pct >= self.low if self.low_inclusive else pct > self.low
        below = pct <= self.high if self.high_inclusive else pct < self.high
        return above and below

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "low": self.low,
            "low_inclusive": self.low_inclusive,
            "high": self.high,
            "high_inclusive": self.high_inclusive,
        }


@dataclass(frozen=True)
class _Row:
    meaning: str
    management: str
    risk: str | None
    likelihood: _Likelihood | None


_ESSENTIALLY_ZERO = _Likelihood(0, True, 0, True)
_ROUTINE = "Routine mammography screening"
_TISSUE = "Tissue diagnosis"

# BI-RADS 5th ed. (2013), assessment categories table: meaning, management, likelihood of malignancy.
_TABLE: dict[str, _Row] = {
    "0": _Row(
        "Incomplete: needs additional imaging evaluation and/or prior examinations for comparison",
        "Recall for additional imaging and/or comparison with prior examination(s)",
        None,
        None,
    ),
    "1": _Row("Negative", _ROUTINE, "Essentially 0% likelihood of malignancy", _ESSENTIALLY_ZERO),
    "2": _Row("Benign", _ROUTINE, "Essentially 0% likelihood of malignancy", _ESSENTIALLY_ZERO),
    "3": _Row(
        "Probably benign",
        "Short-interval (6-month) follow-up or continued surveillance",
        ">0% but ≤2% likelihood of malignancy",
        _Likelihood(0, False, 2, True),
    ),
    "4": _Row(
        "Suspicious", _TISSUE, ">2% but <95% likelihood of malignancy", _Likelihood(2, False, 95, False)
    ),
    "4A": _Row(
        "Low suspicion for malignancy",
        _TISSUE,
        ">2% to ≤10% likelihood of malignancy",
        _Likelihood(2, False, 10, True),
    ),
    "4B": _Row(
        "Moderate suspicion for malignancy",
        _TISSUE,
        ">10% to ≤50% likelihood of malignancy",
        _Likelihood(10, False, 50, True),
    ),
    "4C": _Row(
        "High suspicion for malignancy",
        _TISSUE,
        ">50% to <95% likelihood of malignancy",
        _Likelihood(50, False, 95, False),
    ),
    "5": _Row(
        "Highly suggestive of malignancy",
        _TISSUE,
        "≥95% likelihood of malignancy",
        _Likelihood(95, True, 100, True),
    ),
    "6": _Row("Known biopsy-proven malignancy", "Surgical excision when clinically appropriate", None, None),
}
# Categories a likelihood estimate can be placed in, in ascending order (1 and 2 share 0% and need judgement).
_PLACEABLE = ("3", "4A", "4B", "4C", "5")
_SUBCATEGORIES = frozenset({"4A", "4B", "4C"})

# Issue 11 (tools.classify.conditional): the assessment is the radiologist's; nothing is read as absent.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()

TRIGGERS: tuple[str, ...] = (
    r"\bbi-?\s?rads\b",
    r"\bbreasts?\b",
    r"\bmammogra\w*",
    r"\bmammo\b",
    r"\btomosynthesis\b",
)

# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(r"\bbi-?rads\s*(?:category\s*)?(4[ABC]|[0-6])\b")


class BiRadsInput(BaseModel):
    """The radiologist's BI-RADS assessment (or an estimated likelihood of malignancy) and the exam context."""

    model_config = ConfigDict(extra="forbid")

    assessment: Assessment | None = Field(
        default=None,
        description="BI-RADS assessment category given by the radiologist (0-6, with 4A/4B/4C for mammography "
        "and ultrasound). Give this or malignancy_likelihood_pct.",
    )
    malignancy_likelihood_pct: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Radiologist's estimated likelihood of malignancy in percent; placed in the atlas's "
        "category ranges when no assessment is given, checked against the assessment when both are.",
    )
    modality: Modality | None = Field(
        default=None, description="Imaging modality of the exam (4A/4B/4C are not used for MRI)."
    )
    exam_type: ExamType | None = Field(
        default=None, description="Screening or diagnostic exam (category 3 is for diagnostic work-ups)."
    )

    @model_validator(mode="after")
    def _likelihood_fits_assessment(self) -> BiRadsInput:
        pct, assessment = self.malignancy_likelihood_pct, self.assessment
        if pct is None or assessment is None:
            return self
        row = _TABLE[assessment]
        if row.likelihood is None:
            raise ValueError(
                f"malignancy_likelihood_pct does not apply to assessment {assessment} (no published "
                "likelihood); leave one of assessment, malignancy_likelihood_pct out"
            )
        if not row.likelihood.contains(pct):
            raise ValueError(
                f"assessment {assessment} ({row.risk}) contradicts malignancy_likelihood_pct={pct:g}; "
                "correct assessment or malignancy_likelihood_pct"
            )
        return self


def _place_likelihood(pct: float) -> str | None:
    """Return the category whose published range holds `pct`, or None for 0% (BI-RADS 1 or 2)."""
    for category in _PLACEABLE:
        likelihood = _TABLE[category].likelihood
        if likelihood is not None and likelihood.contains(pct):
            return category
    return None


# --- extraction ---------------------------------------------------------------------------------

_ROMAN = {"0": "0", "I": "1", "II": "2", "III": "3", "IV": "4", "V": "5", "VI": "6"}
_CATEGORY = r"(?P<cat>[0-6](?:\s?[abcABC])?|VI|IV|V|III|II|I)(?!\w|\.\d)(?!\s*(?:mm|cm|%|o'?clock|th\b))"
_ALTERNATIVE = re.compile(r"\s*(?:or|/|-|–|to)\s*(?:[0-6]|IV|V|VI|III|II|I)\b", re.IGNORECASE)
_ASSESSMENT_PATTERNS = (
    re.compile(
        r"\bbi-?\s?rads(?:®)?(?:\s+(?:assessment|final assessment))?(?:\s+(?:category|cat\.?))?\s*[:=#-]?\s*"
        + _CATEGORY,
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:final\s+)?assessment(?:\s+category)?\s*[:=-]?\s*(?:category\s*)?" + _CATEGORY, re.IGNORECASE
    ),
)
_MODALITY_PATTERNS: dict[str, tuple[str, ...]] = {
    "mammography": (r"\bmammogra\w*", r"\bmammo\b", r"\btomosynthesis\b", r"\bDBT\b"),
    "ultrasound": (r"\bultrasound\b", r"\bultrasonogra\w*", r"\bsonogra\w*"),
    "mri": (r"\bMRI\b", r"\bmagnetic resonance\b", r"\bbreast MR\b"),
}
_US_ABBREVIATION = re.compile(r"\bUS\b")  # case-sensitive: "us" the pronoun is not ultrasound
_EXAM_PATTERNS: dict[str, tuple[str, ...]] = {
    "screening": (r"\bscreening\b",),
    "diagnostic": (r"\bdiagnostic\b",),
}
_BOUND = r"(?<![<>≤≥~\d.\-–])"
_LIKELIHOOD_PATTERNS = (
    re.compile(
        r"\b(?:likelihood|probability|risk|chance)\s+of\s+malignancy\s*(?:of|is|:|=|about|approximately|estimated at)?"
        r"\s*" + _BOUND + r"(?P<pct>\d+(?:\.\d+)?)\s*%(?!\s*(?:-|–|to)\s*\d)",
        re.IGNORECASE,
    ),
    re.compile(
        _BOUND
        + r"(?P<pct>\d+(?:\.\d+)?)\s*%\s+(?:estimated\s+)?(?:likelihood|probability|risk|chance)\s+of\s+malignancy",
        re.IGNORECASE,
    ),
)


def _normalise_category(raw: str) -> str:
    compact = raw.replace(" ", "").upper()
    return _ROMAN.get(compact, compact)


def _read_assessment(text: str, found: Extraction) -> None:
    values: dict[str, str] = {}
    ambiguous = False
    for pattern in _ASSESSMENT_PATTERNS:
        for m in pattern.finditer(text):
            if _ALTERNATIVE.match(text, m.end()):
                ambiguous = True  # "BI-RADS 4 or 5", "BI-RADS 3-4": a range, not an assessment
                continue
            values.setdefault(_normalise_category(m.group("cat")), m.group(0).strip())
    if ambiguous or len(values) > 1:
        found.undetermined.append("assessment")  # ranges or several assessments: never pick one
    elif values:
        ((category, evidence),) = values.items()
        if category in get_args(Assessment):
            found.inputs["assessment"] = category
            found.evidence["assessment"] = evidence


def _read_one_of(text: str, patterns: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Return value -> evidence for every (non-negated) term of a lexicon whose values exclude each other."""
    hits = {}
    for value, terms in patterns.items():
        m = find_term(text, terms)
        if m:
            hits[value] = m.group(0)
    return hits


def _read_likelihood(text: str) -> tuple[float | None, str | None]:
    values: dict[float, str] = {}
    for pattern in _LIKELIHOOD_PATTERNS:
        for m in pattern.finditer(text):
            values.setdefault(float(m.group("pct")), m.group(0).strip())
    if len(values) == 1:
        ((pct, evidence),) = values.items()
        if pct <= 100:
            return pct, evidence
    return None, None


def extract(text: str) -> Extraction:
    """Read the stated BI-RADS assessment, likelihood estimate, modality and exam type; never infer a category."""
    found = Extraction(system="bi_rads")
    _read_assessment(text, found)
    pct, evidence = _read_likelihood(text)
    if pct is not None:
        found.inputs["malignancy_likelihood_pct"] = pct
        found.evidence["malignancy_likelihood_pct"] = evidence or ""
    modalities = _read_one_of(text, _MODALITY_PATTERNS)
    us = _US_ABBREVIATION.search(text)
    if us and not is_negated(text, us.start()):
        modalities.setdefault("ultrasound", us.group(0))
    exam_types = _read_one_of(text, _EXAM_PATTERNS)
    for name, hits in (("modality", modalities), ("exam_type", exam_types)):
        if len(hits) == 1:
            ((value, evidence),) = hits.items()
            found.inputs[name], found.evidence[name] = value, evidence
    conflict, exam_conflict = len(modalities) > 1, len(exam_types) > 1
    _mark_undetermined(found, modality_conflict=conflict, exam_conflict=exam_conflict)
    return found


def _mark_undetermined(found: Extraction, *, modality_conflict: bool, exam_conflict: bool) -> None:
    """List the fields this path still needs: the assessment, and the context that can change the answer."""
    inputs = found.inputs
    category = inputs.get("assessment")
    if category is None and "malignancy_likelihood_pct" in inputs:
        pct = inputs["malignancy_likelihood_pct"]
        category = _place_likelihood(pct) if pct > 0 else None
    needed = []
    if category is None:
        needed += ["assessment", "modality", "exam_type"]
    elif category in _SUBCATEGORIES:
        needed.append("modality")
    elif category == "3":
        needed.append("exam_type")
    if modality_conflict:
        needed.append("modality")
    if exam_conflict:
        needed.append("exam_type")
    for name in needed:
        if name not in inputs and name not in found.undetermined:
            found.undetermined.append(name)


# --- classification -----------------------------------------------------------------------------


@tool(
    name="bi_rads",
    description="ACR BI-RADS 5th edition (2013): management and likelihood of malignancy for the radiologist's "
    "assessment category 0-6 (4A/4B/4C for mammography/US), or the category range an estimated likelihood of "
    "malignancy falls in. A lookup, not a feature calculator.",
    version="ACR BI-RADS Atlas 5th edition (2013)",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="BI-RADS",
    example="BI-RADS 4B on diagnostic mammography: what management and likelihood of malignancy?",
    categories=CATEGORIES,
)
def classify(inp: BiRadsInput) -> ClassificationResult:
    """Look up the atlas row for the assessment (or the likelihood's range) and apply the usage rules."""
    rationale: list[str] = []
    caveats: list[str] = []
    category: str | None = inp.assessment
    if category is not None:
        rationale.append(f"Assessment given by the radiologist: BI-RADS {category}.")
    elif inp.malignancy_likelihood_pct is not None:
        pct = inp.malignancy_likelihood_pct
        category = _place_likelihood(pct)
        if category is None:
            return _result(
                inp,
                missing=["assessment"],
                rationale=[
                    f"Likelihood of malignancy {pct:g}% fits both BI-RADS 1 (negative) and 2 (benign), "
                    "'essentially 0%'; which one is the radiologist's call."
                ],
            )
        rationale.append(f"Estimated likelihood of malignancy {pct:g}% lies in the BI-RADS {category} range.")
        caveats.append(
            "Category placed from an estimated likelihood of malignancy; in BI-RADS the assessment is the "
            "radiologist's overall judgement and the published ranges describe the categories."
        )
    else:
        return _result(
            inp,
            missing=["assessment"],
            rationale=["No assessment category or likelihood of malignancy given (give either)."],
        )
    if inp.modality == "mri" and category in _SUBCATEGORIES:
        caveats.append(
            f"BI-RADS {category} normalised to 4: subcategories 4A/4B/4C are defined for mammography and "
            "ultrasound, not MRI. Management is unchanged (tissue diagnosis); the likelihood is category 4's range."
        )
        rationale.append(f"MRI: {category} -> 4 (no subcategories for MRI).")
        category = "4"
    if category == "3" and inp.exam_type == "screening":
        caveats.append(
            "BI-RADS 3 is meant for a completed diagnostic work-up, not a screening exam; a screening finding "
            "that needs work-up is usually assessed BI-RADS 0 (recall) and reassessed at the diagnostic exam."
        )
    row = _TABLE[category]
    rationale.append(f"BI-RADS {category} ({row.meaning}): {row.management.lower()}.")
    details: dict[str, object] = {"meaning": row.meaning}
    if row.likelihood is not None:
        details["likelihood_of_malignancy_pct"] = row.likelihood.as_dict()
    return _result(
        inp,
        category=category,
        management=row.management,
        risk=row.risk,
        rationale=rationale,
        caveats=caveats,
        details=details,
    )


def _result(
    inp: BiRadsInput,
    *,
    category: str | None = None,
    management: str | None = None,
    risk: str | None = None,
    rationale: list[str],
    caveats: list[str] | None = None,
    missing: list[str] | None = None,
    details: dict[str, object] | None = None,
) -> ClassificationResult:
    used = inp.model_dump(exclude_none=True)
    if category is not None:
        used["assessment"] = category  # the category actually used (placed or normalised)
    return ClassificationResult(
        system="bi_rads",
        guideline=GUIDELINE,
        category=category,
        management=management,
        risk=risk,
        rationale=rationale,
        citation=CITATION,
        caveats=caveats or [],
        missing=missing or [],
        inputs=used,
        details=details or {},
    )
