"""SRU 2022 consensus on incidentally detected gallbladder polyps at US: risk category by morphology, then size.

Kamaya A, Fung C, Szpakowski JL, et al. Management of Incidentally Detected Gallbladder Polyps: Society of
Radiologists in Ultrasound Consensus Conference Recommendations. Radiology 2022;305(2):277-289. The project
read the recommendations from a radiology reference summary of the consensus figure and two further
summaries that agree with it (confidence: medium; the figure number in the paper was not confirmed).

Applied after the consensus' exclusions (each -> not_applicable with the advice it names): a technically
inadequate study or poorly seen polyp (repeat US in 1-2 months); a polyp that cannot be told apart from
> 10 mm tumefactive sludge or adenomyomatosis (contrast-enhanced US or MRI); findings highly suspicious for
invasive or malignant tumour (specialist referral); primary sclerosing cholangitis (gastroenterology
guideline for PSC).

Risk categories by morphology:
* extremely low risk: pedunculated with a "ball-on-the-wall" appearance or a thin stalk:
  <= 9 mm no follow-up; 10-14 mm US at 6, 12 and 24 months; >= 15 mm surgical consultation;
* low risk: pedunculated with a thick or wide stalk, or sessile:
  <= 6 mm no follow-up; 7-9 mm US at 12 months; 10-14 mm US at 6, 12, 24 and 36 months or surgical
  consultation; >= 15 mm surgical consultation;
* indeterminate risk: focal wall thickening >= 4 mm adjacent to the polyp. Its size-based management was not
  confirmed by the project: the result names the category and says the management is not encoded [open].

Sizes between the published whole-millimetre bands (e.g. 9.5 mm) are open: the result is given only when
both neighbouring bands give the same management. Growth and shrinkage rules (e.g. >= 4 mm growth in 12
months) are not encoded [open].

Category labels: "extremely low risk, ≤9 mm", "extremely low risk, 10-14 mm", "extremely low risk, ≥15 mm",
"low risk, ≤6 mm", "low risk, 7-9 mm", "low risk, 10-14 mm", "low risk, ≥15 mm", "indeterminate risk".
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.classify._extract import add_path_needs, put, read_yes_no
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_measurements, find_term
from tools.registry import tool

NAME = "gallbladder_polyp"
GUIDELINE = "SRU gallbladder polyp consensus (2022)"
CITATION = (
    "Kamaya A, Fung C, Szpakowski JL, et al. Management of Incidentally Detected Gallbladder Polyps: Society of "
    "Radiologists in Ultrasound Consensus Conference Recommendations. Radiology 2022;305(2):277-289 (risk "
    "categories and management figure)"
)
_STANDING_CAVEAT = (
    "SRU 2022 consensus for incidental gallbladder polyps at US in adults, read by the project from summaries "
    "of the consensus figure (confidence: medium); confirm against the publication."
)

Morphology = Literal["pedunculated_thin_stalk", "pedunculated_thick_stalk", "sessile"]
Exclusion = Literal["technically_inadequate", "sludge_or_adenomyomatosis", "suspected_malignancy", "psc"]

NO_FOLLOW_UP = "No follow-up imaging."
SURGERY = "Surgical consultation."
# (risk, upper size mm inclusive or None, label, management); SRU 2022 consensus figure.
_ROWS: dict[str, tuple[tuple[float | None, str, str], ...]] = {
    "extremely low risk": (
        (9, "≤9 mm", NO_FOLLOW_UP),
        (14, "10-14 mm", "Follow-up ultrasound at 6, 12 and 24 months."),
        (None, "≥15 mm", SURGERY),
    ),
    "low risk": (
        (6, "≤6 mm", NO_FOLLOW_UP),
        (9, "7-9 mm", "Follow-up ultrasound at 12 months."),
        (14, "10-14 mm", "Surgical consultation, or follow-up ultrasound at 6, 12, 24 and 36 months."),
        (None, "≥15 mm", SURGERY),
    ),
}
_EXCLUSIONS = {
    "technically_inadequate": "Technically inadequate study or poorly seen polyp: repeat ultrasound in 1-2 months.",
    "sludge_or_adenomyomatosis": "A polyp that cannot be told from >10 mm tumefactive sludge or adenomyomatosis: "
    "contrast-enhanced ultrasound or MRI.",
    "suspected_malignancy": "Findings highly suspicious for an invasive or malignant tumour: specialist referral.",
    "psc": "Primary sclerosing cholangitis: follow the gastroenterology guideline for PSC (the consensus does not "
    "apply).",
}

TRIGGERS: tuple[str, ...] = (
    r"\bgall\s?bladder\s+(?:polyps?|polypoid)\b",
    r"\bpolyps?\s+(?:in|of|within)\s+the\s+gall\s?bladder\b",
    r"\bGB\s+polyps?\b",
    r"\bball[- ]on[- ](?:the[- ])?wall\b",
)

# Issue 11 (tools.classify.conditional): focal wall thickening is never assumed absent (its presence makes the
# polyp indeterminate risk); without a stated morphology, each morphology is a branch.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = (
    "extremely low risk, ≤9 mm",
    "low risk, ≤6 mm",
    "low risk, 7-9 mm",
    "extremely low risk, 10-14 mm",
    "low risk, 10-14 mm",
    "indeterminate risk",
    "extremely low risk, ≥15 mm",
    "low risk, ≥15 mm",
)


class GallbladderPolypInput(BaseModel):
    """One gallbladder polyp seen incidentally at ultrasound, in an adult."""

    model_config = ConfigDict(extra="forbid")

    size_mm: float | None = Field(
        default=None, gt=0, le=100, description="Largest dimension of the polyp, mm."
    )
    morphology: Morphology | None = Field(
        default=None,
        description="'pedunculated_thin_stalk' (ball-on-the-wall or thin stalk), 'pedunculated_thick_stalk' "
        "(thick or wide stalk) or 'sessile'.",
    )
    focal_wall_thickening: bool | None = Field(
        default=None, description="Focal gallbladder wall thickening >= 4 mm adjacent to the polyp."
    )
    exclusion: Exclusion | None = Field(
        default=None,
        description="A consensus exclusion: technically_inadequate, sludge_or_adenomyomatosis, "
        "suspected_malignancy or psc.",
    )


def _risk(inp: GallbladderPolypInput) -> str | None:
    if inp.focal_wall_thickening:
        return "indeterminate risk"
    if inp.morphology is None or inp.focal_wall_thickening is None:
        return None
    return "extremely low risk" if inp.morphology == "pedunculated_thin_stalk" else "low risk"


def _row(risk: str, size_mm: float) -> tuple[str, str] | None:
    """(label, management) for a size; None when a fractional size lies between two bands that differ."""
    rows = _ROWS[risk]

    def at(whole: int) -> tuple[str, str]:
        for upto, label, management in rows:
            if upto is None or whole <= upto:
                return label, management
        raise AssertionError("the last row has no upper bound")

    low, high = at(math.floor(size_mm)), at(math.ceil(size_mm))
    return low if low == high else None


def _result(inp: GallbladderPolypInput, rationale: list[str], **fields: Any) -> ClassificationResult:
    caveats = [*fields.pop("caveats", []), _STANDING_CAVEAT]
    return ClassificationResult(
        system=NAME,
        guideline=GUIDELINE,
        citation=CITATION,
        rationale=rationale,
        caveats=caveats,
        inputs=inp.model_dump(exclude_none=True),
        **fields,
    )


def _missing(inp: GallbladderPolypInput) -> list[str]:
    if inp.focal_wall_thickening:
        return []
    names = ("morphology", "focal_wall_thickening", "size_mm")
    return [n for n in names if getattr(inp, n) is None]


# --- extraction ---------------------------------------------------------------------------------

_I = re.IGNORECASE
_MORPHOLOGY = {
    "pedunculated_thin_stalk": (
        r"\bball[- ]on[- ](?:the[- ])?wall\b",
        r"\bthin(?:[- ]|\s+)stalk\w*",
        r"\bpedunculated\b(?![^.;]{0,30}\b(?:thick|wide|broad)\b)",
    ),
    "pedunculated_thick_stalk": (r"\b(?:thick|wide|broad)(?:[- ]|\s+)stalk\w*",),
    "sessile": (r"\bsessile\b", r"\bbroad[- ]based\b"),
}
_WALL = (
    r"\bfocal\s+(?:gall\s?bladder\s+)?wall\s+thickening\b",
    r"\b(?:adjacent\s+)?wall\s+thickening\b",
)
_EXCLUSION_WORDS = {
    "psc": (r"\bprimary\s+sclerosing\s+cholangitis\b", r"\bPSC\b"),
    "suspected_malignancy": (
        r"\bsuspicious\s+for\s+(?:gall\s?bladder\s+)?(?:cancer|carcinoma|malignancy)\b",
    ),
    "sludge_or_adenomyomatosis": (r"\btumefactive\s+sludge\b", r"\badenomyomatosis\b"),
    "technically_inadequate": (
        r"\btechnically\s+(?:limited|inadequate)\b",
        r"\bpoorly\s+(?:seen|visuali[sz]ed)\b",
    ),
}


def extract(text: str) -> Extraction:
    """Read the polyp's size, morphology, adjacent wall thickening and the consensus exclusions; never guess."""
    found = Extraction(system=NAME)
    sizes = {m.longest_mm: m.text.strip() for m in find_measurements(text)}
    if len(sizes) == 1:
        ((size, evidence),) = sizes.items()
        put(found, "size_mm", size, evidence)
    elif sizes:
        found.undetermined.append("size_mm")
    kinds = {kind: m for kind, ps in _MORPHOLOGY.items() if (m := find_term(text, ps))}
    if len(kinds) == 1:
        ((kind, m),) = kinds.items()
        put(found, "morphology", kind, m.group(0))
    elif kinds:
        found.undetermined.append("morphology")
    read_yes_no(text, found, "focal_wall_thickening", _WALL)
    exclusions = {kind: m for kind, ps in _EXCLUSION_WORDS.items() if (m := find_term(text, ps))}
    if len(exclusions) == 1:
        ((kind, m),) = exclusions.items()
        put(found, "exclusion", kind, m.group(0))
    add_path_needs(found, GallbladderPolypInput, classify)
    return found


@tool(
    name=NAME,
    description="SRU 2022 consensus on incidental gallbladder polyps at US: extremely low risk (pedunculated, "
    "thin stalk / ball-on-the-wall), low risk (thick stalk or sessile), indeterminate risk (adjacent focal wall "
    "thickening >= 4 mm); follow-up or surgical consultation by size.",
    version="SRU gallbladder polyp consensus (Kamaya et al., Radiology 2022)",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Gallbladder polyp",
    example="8 mm pedunculated gallbladder polyp with a thin stalk on ultrasound: follow-up?",
)
def classify(inp: GallbladderPolypInput) -> ClassificationResult:
    """Exclusions first, then the risk category by morphology, then the size band's management."""
    if inp.exclusion is not None:
        return _result(
            inp, [f"Consensus exclusion: {inp.exclusion}."], not_applicable=_EXCLUSIONS[inp.exclusion]
        )
    missing = _missing(inp)
    if missing:
        return _result(
            inp, ["Morphology, adjacent wall thickening and size decide the category."], missing=missing
        )
    risk = _risk(inp)
    assert risk is not None
    if risk == "indeterminate risk":
        return _result(
            inp,
            ["Focal wall thickening >= 4 mm adjacent to the polyp: indeterminate risk."],
            category="indeterminate risk",
            management="Indeterminate-risk polyp: the consensus' size-based management for this category is not "
            "encoded by this tool (not confirmed by the project); see Kamaya et al. 2022.",
            caveats=["Management of indeterminate-risk polyps is an open point in this tool."],
        )
    assert inp.size_mm is not None
    row = _row(risk, inp.size_mm)
    rationale = [f"{inp.morphology.replace('_', ' ') if inp.morphology else ''}: {risk}."]
    if row is None:
        return _result(
            inp,
            [*rationale, f"{inp.size_mm:g} mm lies between two size bands with different management."],
            caveats=[
                "The consensus gives whole-millimetre bands; a size between two bands is an open point: "
                "remeasure or decide clinically."
            ],
        )
    label, management = row
    rationale.append(f"Size {inp.size_mm:g} mm: {label} band.")
    return _result(inp, rationale, category=f"{risk}, {label}", management=management)
