"""PI-RADS v2.1 overall assessment category of a prostate MRI lesion from its sequence scores.

The overall category comes from the dominant sequence of the lesion's zone (Turkbey et al. 2019):
* peripheral zone: DWI decides (1-5); DCE matters only when DWI = 3 (positive -> 4). Without DCE
  (biparametric MRI) a DWI 3 stays 3. The T2W score does not change the category.
* transition zone: T2W decides; T2W 2 becomes 3 when DWI >= 4 (new in v2.1); T2W 3 becomes 4 when
  DWI = 5; T2W 1 stays 1 whatever the DWI. DCE is not used.
Sequence scores come in as inputs. Size and extraprostatic extension (EPE) are context: they are part of
the definitions of sequence scores 4 and 5 (<1.5 cm vs >=1.5 cm or definite EPE/invasive behaviour), so
the tool flags a score that contradicts them but never re-scores: "definite EPE forces 5" is not a v2.1
rule. Central zone, anterior fibromuscular stroma and the pathway for a non-diagnostic DWI are open
points in the project reference and are not handled.
Category spellings: "1".."5".
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from tools.classify._decide import reject_bool
from tools.classify._extract import Reading, snippet
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_measurements, is_negated
from tools.registry import CategorySpelling, tool

GUIDELINE = "PI-RADS v2.1"
CITATION = (
    "Turkbey B, Rosenkrantz AB, Haider MA, et al. Prostate Imaging Reporting and Data System Version 2.1: "
    "2019 Update of Prostate Imaging Reporting and Data System Version 2. Eur Urol 2019;76(3):340-351 "
    "(sequence scores; overall assessment for peripheral and transition zone; assessment categories)"
)

Zone = Literal["peripheral", "transition"]
Dce = Literal["positive", "negative", "not_performed"]

# Issue 11 (tools.classify.conditional): nothing unstated is read as absent. An unstated DCE is never taken
# as negative: in the peripheral zone DWI 3 with positive DCE is PI-RADS 4, so assuming "negative" could lower
# the category; the answer gives both branches and asks.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = ("1", "2", "3", "4", "5")
ORDINAL = True
BRANCH_VALUES = {
    "dce": (("negative", "negative"), ("positive", "positive"), ("not_performed", "not performed"))
}

TRIGGERS: tuple[str, ...] = (
    r"\bpi-?\s?rads\b",
    r"\bprostat\w*",
    r"\bperipheral\s+zone\b",
    r"\btransition(?:al)?\s+zone\b",
)

# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(r"\bpi-?rads\s*(?:v?2\.1\s*)?(?:category\s*|score\s*|assessment\s*)?([1-5])\b")


_Score = Annotated[int, BeforeValidator(reject_bool), Field(ge=1, le=5)]


class PiRadsInput(BaseModel):
    """One prostate lesion: its zone and its PI-RADS v2.1 sequence scores."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    zone: Zone | None = Field(default=None, description="Zone of the lesion: peripheral or transition.")
    t2w_score: _Score | None = Field(
        default=None, description="T2-weighted score 1-5 (dominant in the transition zone)."
    )
    dwi_score: _Score | None = Field(
        default=None, description="DWI score 1-5 (ADC and high b-value; dominant in the peripheral zone)."
    )
    dce: Dce | None = Field(
        default=None,
        description="Dynamic contrast enhancement: positive, negative, or not_performed (biparametric MRI). "
        "Used only for a peripheral-zone DWI 3.",
    )
    size_mm: Annotated[float, BeforeValidator(reject_bool)] | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Greatest lesion dimension in mm (context: 4 vs 5 is at 15 mm).",
    )
    extraprostatic_extension: bool | None = Field(
        default=None, description="Definite extraprostatic extension or invasive behaviour (context)."
    )


# PI-RADS v2.1 overall assessment (Turkbey et al. 2019).
# Peripheral zone: DWI score -> category; a DWI score listed in _PZ_DCE_UPGRADE becomes that category
# when DCE is positive (DWI 3 -> 4).
_PZ = {1: "1", 2: "2", 3: "3", 4: "4", 5: "5"}
_PZ_DCE_UPGRADE = {3: "4"}
# Transition zone: T2W score -> category; T2W score -> (lowest DWI score that upgrades, new category):
# T2W 2 with DWI >= 4 -> 3 (new in v2.1), T2W 3 with DWI 5 -> 4. T2W 1 is never upgraded.
_TZ = {1: "1", 2: "2", 3: "3", 4: "4", 5: "5"}
_TZ_DWI_UPGRADE = {2: (4, "3"), 3: (5, "4")}

# Assessment categories (PI-RADS v2.1): likelihood of clinically significant cancer, and biopsy advice.
_RISK = {
    "1": "Very low: clinically significant cancer is highly unlikely to be present",
    "2": "Low: clinically significant cancer is unlikely to be present",
    "3": "Intermediate: the presence of clinically significant cancer is equivocal",
    "4": "High: clinically significant cancer is likely to be present",
    "5": "Very high: clinically significant cancer is highly likely to be present",
}
_NO_BIOPSY = "Biopsy is not suggested by this finding (PI-RADS: consider biopsy for 4 or 5, not for 1 or 2)."
_MANAGEMENT = {
    "1": _NO_BIOPSY,
    "2": _NO_BIOPSY,
    "3": "Biopsy may or may not be appropriate: the decision depends on factors other than MRI (e.g. PSA density).",
    "4": "Biopsy should be considered.",
    "5": "Biopsy should be considered.",
}


def _peripheral(inp: PiRadsInput) -> tuple[str, list[str]]:
    dwi = inp.dwi_score
    assert dwi is not None, "_missing() asks for the DWI score first"
    if dwi not in _PZ_DCE_UPGRADE:
        return _PZ[dwi], [f"Peripheral zone, DWI dominant: DWI {dwi} -> {_PZ[dwi]}"]
    if inp.dce == "positive":
        upgraded = _PZ_DCE_UPGRADE[dwi]
        return upgraded, [f"Peripheral zone, DWI dominant: DWI {dwi} with positive DCE -> {upgraded}"]
    if inp.dce == "negative":
        return _PZ[dwi], [f"Peripheral zone, DWI dominant: DWI {dwi} with negative DCE -> {_PZ[dwi]}"]
    return _PZ[dwi], [
        f"Peripheral zone, DWI dominant: DWI {dwi} without DCE (biparametric MRI) stays {_PZ[dwi]}"
    ]


def _transition(inp: PiRadsInput) -> tuple[str, list[str]]:
    t2w, dwi = inp.t2w_score, inp.dwi_score
    assert t2w is not None, "_missing() asks for the T2W score first"
    line = f"Transition zone, T2W dominant: T2W {t2w}"
    if t2w in _TZ_DWI_UPGRADE:
        threshold, upgraded = _TZ_DWI_UPGRADE[t2w]
        assert dwi is not None, "_missing() asks for the DWI score when it can upgrade T2W"
        if dwi >= threshold:
            return upgraded, [f"{line} with DWI {dwi} (>={threshold}) -> {upgraded}"]
        return _TZ[t2w], [f"{line} with DWI {dwi} (<{threshold}, no upgrade) -> {_TZ[t2w]}"]
    if dwi is not None:
        line += f" -> {_TZ[t2w]} (DWI {dwi} does not change T2W {t2w})"
    else:
        line += f" -> {_TZ[t2w]}"
    return _TZ[t2w], [line]


def _missing(inp: PiRadsInput) -> list[str]:
    """Which inputs the zone's rule needs: PZ needs DWI (and DCE for DWI 3); TZ needs T2W (and DWI for 2-3)."""
    if inp.zone is None:
        return ["zone"]
    if inp.zone == "peripheral":
        if inp.dwi_score is None:
            return ["dwi_score"]
        return ["dce"] if inp.dwi_score in _PZ_DCE_UPGRADE and inp.dce is None else []
    if inp.t2w_score is None:
        return ["t2w_score"]
    return ["dwi_score"] if inp.t2w_score in _TZ_DWI_UPGRADE and inp.dwi_score is None else []


def _context_caveats(inp: PiRadsInput) -> list[str]:
    """Flag a dominant score that its own size/EPE definition contradicts (never re-score)."""
    name = "DWI" if inp.zone == "peripheral" else "T2W"
    score = inp.dwi_score if inp.zone == "peripheral" else inp.t2w_score
    caveats = []
    if score == 4 and inp.size_mm is not None and inp.size_mm >= 15:
        caveats.append(
            f"{name} score 4 is defined for lesions <1.5 cm; at {inp.size_mm:g} mm with the same features the "
            f"{name} score would be 5: check the sequence score."
        )
    if score == 4 and inp.extraprostatic_extension:
        caveats.append(
            f"Definite extraprostatic extension/invasive behaviour makes a {name} 4-type lesion a {name} 5: "
            "check the sequence score (EPE alone does not set the overall category)."
        )
    if (
        score == 5
        and inp.size_mm is not None
        and inp.size_mm < 15
        and inp.extraprostatic_extension is not True
    ):
        caveats.append(
            f"{name} score 5 needs >=1.5 cm or definite extraprostatic extension; {inp.size_mm:g} mm without "
            "stated EPE: check the sequence score."
        )
    return caveats


def _decide(inp: PiRadsInput) -> ClassificationResult:
    base = {"system": "pi_rads", "guideline": GUIDELINE, "citation": CITATION}
    used = inp.model_dump(exclude_none=True)
    missing = _missing(inp)
    if missing:
        return ClassificationResult(**base, missing=missing, inputs=used)
    if inp.zone == "peripheral":
        category, rationale = _peripheral(inp)
        if inp.t2w_score is not None:
            rationale.append(f"T2W {inp.t2w_score} does not change a peripheral-zone category")
        details = {"dominant_sequence": "DWI", "dominant_score": inp.dwi_score}
    else:
        category, rationale = _transition(inp)
        if inp.dce is not None:
            rationale.append("DCE is not used in the transition zone")
        details = {"dominant_sequence": "T2W", "dominant_score": inp.t2w_score}
    details["upgraded"] = category != str(details["dominant_score"])
    return ClassificationResult(
        **base,
        category=category,
        management=_MANAGEMENT[category],
        risk=_RISK[category],
        rationale=rationale,
        caveats=_context_caveats(inp),
        inputs=used,
        details=details,
    )


# --- extraction --------------------------------------------------------------------------------------

_I = re.IGNORECASE
_ZONES = {
    "peripheral": (r"\bperipheral[- ]zone\b", r"\bPZ\b"),
    "transition": (r"\btransition(?:al)?[- ]zone\b", r"\bTZ\b"),
}
_OTHER_ZONES = (r"\bcentral[- ]zone\b", r"\bCZ\b", r"\banterior\s+fibromuscular\s+stroma\b", r"\bAFS\b")
_SCORE_TAIL = r"\s*(?:score\s*)?(?:of\s*|[:=]\s*|is\s*)?(\d+)(?:\s*/\s*5)?(?!\s*(?:mm|cm|\.\d|[-–]\s*\d|to\s+\d|or\s+\d))\b"
_RANGE_TAIL = r"\s*(?:score\s*)?(?:of\s*|[:=]\s*)?\d\s*(?:[-–]|to|or)\s*\d\b"
_SEQUENCES = {
    "dwi_score": r"\b(?:DWI(?:/ADC)?|DW|diffusion(?:[- ]weighted)?(?:\s+imaging)?)",
    "t2w_score": r"\bT2(?:W|WI|[- ]weighted)?",
}
_DCE = {
    "positive": (
        r"\bDCE\s*(?::|=|is)?\s*(?:positive|pos)\b",
        r"\bDCE[- ]positive\b",
        r"\bDCE\s*[:=]?\s*\+",
        r"\bpositive\s+DCE\b",
    ),
    "negative": (
        r"\bDCE\s*(?::|=|is)?\s*(?:negative|neg)\b",
        r"\bDCE[- ]negative\b",
        r"\bDCE\s*[:=]?\s*[−-](?=\s*(?:[,.;)]|$))",
        r"\bnegative\s+DCE\b",
    ),
    "not_performed": (
        r"\bbi-?parametric\b",
        r"\bbpMRI\b",
        r"\bDCE\s+(?:was\s+)?not\s+(?:performed|done|acquired)\b",
        r"\bwithout\s+(?:DCE|contrast)\b",
    ),
}
_EPE = (r"\bextra-?prostatic\s+extension\b", r"\bEPE\b")
_UNSURE = re.compile(
    r"\b(?:possible|suspected|suspicious\s+for|equivocal|questionable|likely|probable|cannot\s+exclude|"
    r"concerning\s+for)\s*$",
    _I,
)
_ADC_MARKED = (
    r"\bADC\s+(?:is\s+)?marked(?:ly)?\s+hypointens\w*",
    r"\bmarked(?:ly)?\s+hypointens\w*\s+(?:on|in)\s+(?:the\s+)?ADC\b",
)
_HIGH_B_MARKED = (
    r"\bhigh[- ]?b(?:[- ]value)?\s+(?:DWI\s+|images?\s+)?(?:is\s+)?marked(?:ly)?\s+hyperintens\w*",
    r"\bmarked(?:ly)?\s+hyperintens\w*\s+(?:on|in)\s+(?:the\s+)?high[- ]?b(?:[- ]value)?\b",
)
_BOUND = re.compile(
    r"(?:<|>|≤|≥|\bup to|\bless than|\bgreater than|\bmore than|\bat least|\bunder|\bover)\s*$", _I
)


def _read_zone(r: Reading) -> None:
    if r.matches(_OTHER_ZONES):
        r.unsettled.add("zone")  # central zone / AFS: not a v2.1 rule this tool applies
        return
    r.settle("zone", [(zone, m) for zone, ps in _ZONES.items() for m in r.matches(ps)])


def _read_scores(r: Reading) -> None:
    for key, prefix in _SEQUENCES.items():
        if re.search(prefix + _RANGE_TAIL, r.text, _I):
            r.unsettled.add(key)  # "DWI 3-4": a range is not a score
            continue
        found = [(int(m.group(1)), m) for m in re.finditer(prefix + _SCORE_TAIL, r.text, _I)]
        if any(not 1 <= v <= 5 for v, _ in found):
            r.unsettled.add(key)  # out of the 1-5 scale: refused
            continue
        r.settle(key, [(v, m) for v, m in found if not is_negated(r.text, m.start())])
    r.settle(
        "dce", [(value, m) for value, ps in _DCE.items() for p in ps for m in re.finditer(p, r.text, _I)]
    )


def _read_context(r: Reading) -> None:
    epe: list[tuple[Any, re.Match[str]]] = []
    for p in _EPE:
        for m in re.finditer(p, r.text, _I):
            if is_negated(r.text, m.start()):
                epe.append((False, m))
            elif _UNSURE.search(r.text[max(0, m.start() - 25) : m.start()]):
                r.unsettled.add("extraprostatic_extension")  # only definite EPE counts
            else:
                epe.append((True, m))
    if "extraprostatic_extension" not in r.unsettled:
        r.settle("extraprostatic_extension", epe)
    sizes = find_measurements(r.text)
    if re.search(r"\d\s*(?:mm|cm)?\s*(?:[-–]|to)\s*\d+(?:\.\d+)?\s*(?:mm|cm)\b", r.text, _I) or any(
        _BOUND.search(r.text[max(0, s.start - 14) : s.start]) for s in sizes
    ):
        r.unsettled.add("size_mm")
    elif len({s.longest_mm for s in sizes}) == 1:
        r.inputs["size_mm"] = sizes[0].longest_mm
        r.evidence["size_mm"] = sizes[0].text


def _derive_dwi(r: Reading) -> None:
    """DWI 4/5 from a description only when it maps unambiguously onto the v2.1 DWI table.

    Needs both markedly hypointense ADC and markedly hyperintense high-b signal (either alone can be
    DWI 3), no linear/wedge shape, and a size (4: <1.5 cm; 5: >=1.5 cm) or definite EPE (5).
    """
    if "dwi_score" in r.inputs or "dwi_score" in r.unsettled:
        return
    adc, high_b = r.matches(_ADC_MARKED), r.matches(_HIGH_B_MARKED)
    if not adc and not high_b:
        return
    wedge = re.search(r"\b(?:linear|wedge[- ]shaped)\b", r.text, _I)
    size, epe = r.inputs.get("size_mm"), r.inputs.get("extraprostatic_extension")
    if not (adc and high_b) or wedge or (size is None and epe is not True):
        r.unsettled.add("dwi_score")
        return
    score = 5 if epe is True or (size is not None and size >= 15) else 4
    r.inputs["dwi_score"] = score
    start, end = min(adc[0].start(), high_b[0].start()), max(adc[0].end(), high_b[0].end())
    r.evidence["dwi_score"] = snippet(r.text, start, end) + (f"; {size:g} mm" if size is not None else "")


def extract(text: str) -> Extraction:
    """Read PI-RADS inputs from a free-text finding; only what is stated, never a guess.

    Scores are read only when written as scores ("DWI 3", "DWI score of 4", "T2W: 2", "T2 score 2/5");
    ranges ("DWI 3-4") and values outside 1-5 stay undetermined. DCE: "DCE positive/negative", "DCE +/-",
    "biparametric"/"bpMRI"/"DCE not performed" (plain "no DCE" is ambiguous and not read). Zone: PZ/TZ
    (central zone and AFS stay undetermined). The only description turned into a score is DWI 4/5:
    markedly hypointense on ADC AND markedly hyperintense on high b-value, with a size or definite EPE.
    """
    r = Reading(text)
    _read_zone(r)
    _read_scores(r)
    _read_context(r)
    _derive_dwi(r)
    return r.finish("pi_rads", PiRadsInput, _decide)


@tool(
    name="pi_rads",
    description="PI-RADS v2.1 overall category (1-5), likelihood of clinically significant prostate cancer and "
    "biopsy advice for a peripheral- or transition-zone lesion, from its T2W, DWI and DCE scores.",
    version="PI-RADS v2.1",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="PI-RADS",
    example="Peripheral zone lesion, DWI score 3, DCE positive: PI-RADS category?",
    categories=CATEGORIES,
)
def classify(inp: PiRadsInput) -> ClassificationResult:
    """Apply the v2.1 zone rules to the sequence scores (see the module docstring)."""
    return _decide(inp)
