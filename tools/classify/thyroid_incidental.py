"""ACR 2015 white paper on incidental thyroid nodules found on CT or MRI: is a dedicated thyroid US needed?

Consensus guidance (Hoang JK, Langer JE, Middleton WD, et al. Managing Incidental Thyroid Nodules Detected on
Imaging: White Paper of the ACR Incidental Thyroid Findings Committee. J Am Coll Radiol 2015;12(2):143-150),
CT/MRI flowchart (Figure 1 of the white paper) and its footnotes, as read by the project from two summaries of
the figure (the figure's footnotes as reproduced by a radiology education site, and the ACR's Choosing Wisely
item of 2017 that restates the age and size criteria). The steps, in the flowchart's order:

1. Suspicious imaging features (invasion of local tissues, or abnormal lymph nodes: calcification, cystic
   components, increased enhancement; enlarged nodes are less specific) -> thyroid US.
2. Limited life expectancy or comorbidities that outweigh the nodule -> no further evaluation (unless
   clinically warranted or requested by the patient or referring physician).
3. Age < 35 years: nodule >= 1 cm -> thyroid US; smaller -> no further evaluation.
   Age >= 35 years: nodule >= 1.5 cm -> thyroid US; smaller -> no further evaluation.
Further management after the US (FNA or not) follows the US findings (ACR TI-RADS: tool `ti_rads`).

Open points, never filled in here (each result that touches one says so):
* the plane and method of measurement for the size threshold (largest dimension assumed from the text);
* nodules with clinical risk factors (neck/chest radiation, family history of thyroid cancer, predisposing
  syndromes): the recommendations do not apply (footnote 1) -> not_applicable, evaluate individually;
* nodules found on PET or nuclear medicine studies and on non-thyroid US: other branches of the white paper,
  not encoded -> not_applicable;
* several nodules: each is assessed here on its own; the white paper's handling of multiple nodules is not
  encoded;
* children: the figure is for adults as far as the project could read; not encoded (caveat).

Category labels: "suspicious features", "limited life expectancy", "<35 y, <1 cm", "<35 y, ≥1 cm",
"≥35 y, <1.5 cm", "≥35 y, ≥1.5 cm".
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.classify._chest_text import read_age
from tools.classify._extract import add_path_needs, put, read_yes_no
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_measurements, find_term
from tools.registry import tool

NAME = "thyroid_incidental"
GUIDELINE = "ACR Incidental Thyroid Findings Committee white paper (2015)"
CITATION = (
    "Hoang JK, Langer JE, Middleton WD, et al. Managing Incidental Thyroid Nodules Detected on Imaging: White "
    "Paper of the ACR Incidental Thyroid Findings Committee. J Am Coll Radiol 2015;12(2):143-150 (Figure 1, "
    "CT/MRI algorithm, and its footnotes)"
)
_STANDING_CAVEAT = (
    "Consensus recommendations (ACR 2015) for incidental thyroid nodules on CT or MRI, read by the project from "
    "summaries of the white paper's Figure 1 (confidence: medium); confirm against the publication."
)

YOUNG_BELOW_AGE = 35  # Figure 1: patient age < 35 vs >= 35 years
YOUNG_US_FROM_MM = 10.0  # age < 35: nodule >= 1 cm -> thyroid US
OLDER_US_FROM_MM = 15.0  # age >= 35: nodule >= 1.5 cm -> thyroid US

US = (
    "Dedicated thyroid ultrasound; further management (including FNA) follows the ultrasound findings "
    "(ACR TI-RADS)."
)
NO_FURTHER = "No further evaluation of the nodule."
LIMITED = (
    "No further evaluation of the nodule, unless warranted clinically or requested by the patient or the "
    "referring physician."
)

Modality = Literal["ct", "mri", "pet", "nuclear_medicine", "us"]

TRIGGERS: tuple[str, ...] = (r"\bthyroid\s+(?:nodule|lesion|incidentaloma)s?\b", r"\bincidental\s+thyroid\b")

# Issue 11 (tools.classify.conditional): a limited life expectancy is never assumed; an unstated one is read
# as normal life expectancy because that is the branch of higher concern (it can only lead to an US, never
# to less). Suspicious features are never assumed absent: for a small nodule they change "no further
# evaluation" into "thyroid US", so they become a branch.
READ_AS_ABSENT = (ReadAsAbsent("limited_life_expectancy", False, "normal life expectancy"),)
# A nodule of unstated size ("subcentimeter", "small"): one value on each side of the age thresholds.
BRANCH_VALUES = {"size_mm": ((9.0, "<1 cm"), (12.0, "1 to <1.5 cm"), (15.0, "≥1.5 cm"))}
SEVERITY = (  # by what follows: no further evaluation first, then the three that lead to a thyroid US
    "limited life expectancy",
    "<35 y, <1 cm",
    "≥35 y, <1.5 cm",
    "suspicious features",
    "<35 y, ≥1 cm",
    "≥35 y, ≥1.5 cm",
)


class ThyroidIncidentalInput(BaseModel):
    """One thyroid nodule found incidentally on CT or MRI, and the patient facts the flowchart uses."""

    model_config = ConfigDict(extra="forbid")

    size_mm: float | None = Field(
        default=None, gt=0, le=150, description="Largest dimension of the nodule in millimetres."
    )
    age: int | None = Field(default=None, ge=0, le=120, description="Patient age in years.")
    suspicious_features: bool | None = Field(
        default=None,
        description="Suspicious imaging features: invasion of local tissues, or abnormal lymph nodes "
        "(calcification, cystic components or increased enhancement; enlargement is less specific).",
    )
    limited_life_expectancy: bool | None = Field(
        default=None,
        description="Limited life expectancy, or comorbidities that increase the risk of treatment or matter "
        "more than a thyroid cancer would.",
    )
    clinical_risk_factors: bool | None = Field(
        default=None,
        description="Clinical risk factors for thyroid cancer (neck or chest radiation, family history of "
        "thyroid cancer, predisposing syndromes): the white paper's algorithm does not apply.",
    )
    modality: Modality | None = Field(
        default=None, description="Imaging on which the nodule was found (the algorithm is for CT and MRI)."
    )


def _result(inp: ThyroidIncidentalInput, rationale: list[str], **fields: Any) -> ClassificationResult:
    caveats = list(fields.pop("caveats", []))
    if fields.get("category") is not None and inp.age is not None and inp.age < 18:
        caveats.append(
            "Child or adolescent: the project could not confirm that the white paper addresses patients "
            "under 18 [open]; discuss with the referring clinician."
        )
    return ClassificationResult(
        system=NAME,
        guideline=GUIDELINE,
        citation=CITATION,
        rationale=rationale,
        caveats=[*caveats, _STANDING_CAVEAT],
        inputs=inp.model_dump(exclude_none=True),
        **fields,
    )


# --- extraction ---------------------------------------------------------------------------------

_I = re.IGNORECASE
_NODE_AFTER = re.compile(r"^\s*(?:[\w-]+\s+){0,3}?(?:lymph\s+)?nodes?\b", _I)
_INVASION = (
    r"\binvasi(?:on|ve)\b",
    r"\binvad\w*",
    r"\bextra-?thyroidal\s+extension\b",
    r"\binfiltrat\w*",
)
_ABNORMAL_NODES = (
    r"\b(?:abnormal|suspicious|necrotic|cystic|calcified|hyperenhancing|enlarged|pathologic(?:al)?)\s+"
    r"(?:[\w.-]+\s+){0,4}?(?:lymph\s+)?nodes?\b",
    r"\b(?:cervical\s+)?lymphadenopathy\b",
)
_LIMITED = (
    r"\blimited\s+life\s+expectancy\b",
    r"\bhospice\b",
    r"\bpalliative\b",
    r"\bterminal(?:ly)?\s+ill\b",
    r"\bwidely\s+metastatic\b",
    r"\bsevere\s+comorbid\w*",
)
_RISK_FACTORS = (
    r"\b(?:prior|history\s+of|previous)\s+(?:[\w-]+\s+){0,2}?(?:neck|head\s+and\s+neck|chest|mantle)\s+"
    r"(?:radiation|irradiation|radiotherapy)\b",
    r"\bfamily\s+history\s+of\s+thyroid\s+cancer\b",
    r"\bMEN\s?2\w*",
    r"\bcowden\b",
)
_MODALITY = {
    "pet": (r"\bPET\b", r"\bFDG\b"),
    "mri": (r"\bMRI?\b", r"\bmagnetic\s+resonance\b"),
    "ct": (r"\bCT\b", r"\bcomputed\s+tomography\b"),
}


def _read_size(text: str, found: Extraction) -> None:
    sizes = {
        m.longest_mm: m.text.strip()
        for m in find_measurements(text)
        if not _NODE_AFTER.match(text[m.end : m.end + 40])
    }
    if len(sizes) == 1:
        ((size, evidence),) = sizes.items()
        put(found, "size_mm", size, evidence)
    elif sizes:
        found.undetermined.append("size_mm")


def extract(text: str) -> Extraction:
    """Read size, age, suspicious features, life expectancy, risk factors and modality; never guess."""
    found = Extraction(system=NAME)
    _read_size(text, found)
    age = read_age(text)
    if age is not None:
        put(found, "age", age[0], age[1])
    read_yes_no(text, found, "suspicious_features", (*_INVASION, *_ABNORMAL_NODES))
    m = find_term(text, _LIMITED)
    if m:
        put(found, "limited_life_expectancy", True, m.group(0))
    m = find_term(text, _RISK_FACTORS)
    if m:
        put(found, "clinical_risk_factors", True, m.group(0))
    modalities = {name for name, ps in _MODALITY.items() if find_term(text, ps, allow_negated=True)}
    if "pet" in modalities:
        modalities = {"pet"}  # PET/CT is a PET study
    if len(modalities) == 1:
        (modality,) = modalities
        put(found, "modality", modality, modality.upper())
    add_path_needs(found, ThyroidIncidentalInput, classify)
    return found


@tool(
    name=NAME,
    description="ACR 2015 white paper on incidental thyroid nodules on CT/MRI: suspicious features (local "
    "invasion, abnormal lymph nodes) -> thyroid US; limited life expectancy -> no further evaluation; "
    "otherwise thyroid US for >= 1 cm under age 35 and >= 1.5 cm from age 35.",
    version="ACR incidental thyroid nodule white paper (Hoang et al., JACR 2015)",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Incidental thyroid nodule",
    example="Incidental 1.6 cm thyroid nodule on chest CT in a 50-year-old, no suspicious features: ultrasound?",
)
def classify(inp: ThyroidIncidentalInput) -> ClassificationResult:
    """Walk Figure 1 of the white paper in its order: scope, suspicious features, life expectancy, age and size."""
    if inp.clinical_risk_factors:
        return _result(
            inp,
            ["Clinical risk factors for thyroid cancer."],
            not_applicable="The white paper's algorithm does not apply to patients with clinical risk factors "
            "for thyroid cancer (Figure 1, footnote 1): evaluate the nodule individually.",
        )
    if inp.modality in ("pet", "nuclear_medicine", "us"):
        where = {"pet": "PET", "nuclear_medicine": "nuclear medicine", "us": "non-thyroid ultrasound"}[
            inp.modality
        ]
        return _result(
            inp,
            [f"Found on {where}."],
            not_applicable=f"Nodules found on {where} follow another branch of the white paper, not encoded here "
            "(this tool covers CT and MRI); on ultrasound, describe the nodule with ACR TI-RADS (`ti_rads`).",
        )
    if inp.suspicious_features:
        return _result(
            inp,
            ["Suspicious imaging features (local invasion or abnormal lymph nodes)."],
            category="suspicious features",
            management=US,
        )
    rationale = ["No suspicious imaging features."] if inp.suspicious_features is False else []
    if inp.limited_life_expectancy is None:
        return _result(
            inp,
            [*rationale, "Life expectancy and comorbidities not stated."],
            missing=["limited_life_expectancy"],
        )
    if inp.limited_life_expectancy:
        if inp.suspicious_features is None:  # suspicious features come first in the flowchart
            return _result(
                inp,
                ["Suspicious features (invasion, abnormal lymph nodes) not stated."],
                missing=["suspicious_features"],
            )
        rationale.append("Limited life expectancy or comorbidities (Figure 1, footnote 3).")
        return _result(inp, rationale, category="limited life expectancy", management=LIMITED)
    missing = [name for name in ("size_mm", "age") if getattr(inp, name) is None]
    if missing:
        return _result(inp, [*rationale, "Age and nodule size decide the next step."], missing=missing)
    assert inp.size_mm is not None and inp.age is not None
    young = inp.age < YOUNG_BELOW_AGE
    threshold = YOUNG_US_FROM_MM if young else OLDER_US_FROM_MM
    big = inp.size_mm >= threshold
    if not big and inp.suspicious_features is None:
        return _result(
            inp,
            ["Below the size threshold: suspicious features would still call for an US."],
            missing=["suspicious_features"],
        )
    label = f"{'<35 y' if young else '≥35 y'}, {'≥' if big else '<'}{threshold / 10:g} cm"
    rationale.append(
        f"Age {inp.age} years ({'<' if young else '≥'} 35), nodule {inp.size_mm:g} mm "
        f"{'≥' if big else '<'} {threshold:g} mm."
    )
    if inp.suspicious_features is None:
        rationale.append("Suspicious features not stated: the nodule meets the size criterion for US anyway.")
    caveats = [
        "Size taken as the largest dimension given; the white paper's measurement plane is not encoded [open]."
    ]
    return _result(inp, rationale, category=label, management=US if big else NO_FURTHER, caveats=caveats)
