"""ACR Incidental Findings Committee white paper on incidental adrenal masses (2017): which pathway applies.

Consensus guidance, not a validated score: the tool names the flowchart branch a mass falls in and the
management that branch recommends. The project reference marks this summary [med] (transcribed from a
secondary source, wording not re-read in the publication), so every result carries a caveat saying so,
and points the reference leaves open are caveats or "not encoded", never invented thresholds.

Decisions taken here (see the report and tests):
* Unenhanced CT <= 10 HU counts as lipid-rich adenoma, 10 HU exactly included: the white paper's threshold
  is <= 10 HU; some transcriptions and peer code use "< 10", so a result at exactly 10 HU says so.
* Washout: absolute = (E - D) / (E - U) x 100, relative = (E - D) / E x 100 (U unenhanced, E 60-75 s
  enhanced, D 15-min delayed); adenoma when absolute >= 60 % or relative >= 40 %. Computed from the HU
  values when given, compared exactly (fractions, no float drift), reported in `details`.
* Prior imaging stable for less than 1 year does not meet the >= 1 year criterion; the mass is then
  managed as one without prior imaging, with a caveat (the flowchart has no such branch).
* A 1-4 cm indeterminate mass in a patient with a cancer history and no prior imaging: the reference
  gives no pathway, so the result names the branch and says the management is not encoded.

Category labels (stable, human-readable; the white paper has no categories):
"<1 cm", "benign: myelolipoma", "benign: lipid-rich adenoma (CT)", "benign: lipid-rich adenoma (MRI)",
"benign: adenoma (washout)", "benign: cyst", "benign: hemorrhage", "benign: calcified",
"stable ≥1 year", "indeterminate 1–4 cm, new or enlarging", "indeterminate 1–<2 cm",
"indeterminate 2–<4 cm", "indeterminate 1–4 cm, cancer history", "≥4 cm".
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify._extract import add_path_needs, put, read_yes_no, settle_yes_no
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import (
    clause_before,
    find_measurements,
    find_negated_term,
    find_phase_hu,
    find_term,
    word_number,
)
from tools.registry import tool

GUIDELINE = "ACR Incidental Findings Committee adrenal white paper (2017)"
CITATION = (
    "Mayo-Smith WW, Song JH, Boland GL, et al. Management of Incidental Adrenal Masses: A White Paper of the "
    "ACR Incidental Findings Committee. J Am Coll Radiol 2017;14(8):1038-1044 (flowchart and text)"
)
_STANDING_CAVEAT = (
    "Consensus recommendations (ACR Incidental Findings Committee 2017) for adults with an incidentally found "
    "adrenal mass; thresholds as summarised in the project reference (confidence: medium) - confirm against "
    "the white paper before clinical use."
)

# Thresholds of the white paper (Mayo-Smith et al. 2017), as summarised in the project reference §9.
NO_WORKUP_BELOW_MM = 10.0  # < 1 cm: no further work-up
SMALL_BELOW_MM = 20.0  # indeterminate 1 to < 2 cm vs 2 to < 4 cm
LARGE_FROM_MM = 40.0  # >= 4 cm
LIPID_RICH_MAX_HU = Fraction(10)  # unenhanced CT <= 10 HU: lipid-rich adenoma
ABSOLUTE_WASHOUT_MIN_PCT = Fraction(60)  # absolute percentage washout >= 60 %: adenoma
RELATIVE_WASHOUT_MIN_PCT = Fraction(40)  # relative percentage washout >= 40 %: adenoma
STABLE_MIN_MONTHS = 12.0  # stable on prior imaging for >= 1 year: benign

BenignAppearance = Literal["cyst", "hemorrhage", "calcified"]
PriorImaging = Literal["none", "stable", "new_or_enlarging"]

# Issue 11 (tools.classify.conditional): unstated benign features (macroscopic fat, signal loss, washout) are
# not read as present; the tool treats them as not shown, which can only keep the mass indeterminate (the
# higher-concern branch). Prior imaging and cancer history are never assumed: they become branches.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = (
    "<1 cm",
    "benign",
    "stable ≥1 year",
    "indeterminate 1–<2 cm",
    "indeterminate 2–<4 cm",
    "indeterminate 1–4 cm, cancer history",
    "indeterminate 1–4 cm, new or enlarging",
    "≥4 cm",
)
# Stability for an unstated duration: at least 1 year is benign; less follows the no-prior-imaging branch.
BRANCH_VALUES = {"stable_months": ((12, "≥12 months"), (6, "<12 months"))}

TRIGGERS: tuple[str, ...] = (
    r"\badrenals?\b",
    r"\bmyelolipoma\b",
    r"\b(?:absolute|relative)\s+(?:percentage\s+)?washout\b",
    r"\bincidentaloma\b",
)


class AdrenalInput(BaseModel):
    """An incidentally found adrenal mass on CT or MRI, in an adult."""

    model_config = ConfigDict(extra="forbid")

    size_mm: float | None = Field(
        default=None, gt=0, le=300, description="Largest diameter of the adrenal mass in millimetres."
    )
    unenhanced_hu: float | None = Field(
        default=None, ge=-1024, le=3071, description="Mean attenuation on unenhanced CT (HU)."
    )
    enhanced_hu: float | None = Field(
        default=None, ge=-1024, le=3071, description="Mean attenuation on portal venous (60-75 s) CT (HU)."
    )
    delayed_hu: float | None = Field(
        default=None, ge=-1024, le=3071, description="Mean attenuation on 15-minute delayed CT (HU)."
    )
    absolute_washout_pct: float | None = Field(
        default=None,
        ge=-1000,
        le=1000,
        description="Absolute percentage washout as reported, when the three HU values are not given.",
    )
    relative_washout_pct: float | None = Field(
        default=None,
        ge=-1000,
        le=1000,
        description="Relative percentage washout as reported, when the enhanced and delayed HU are not given.",
    )
    macroscopic_fat: bool | None = Field(
        default=None, description="Macroscopic (bulk) fat in the mass, i.e. a myelolipoma."
    )
    chemical_shift_signal_loss: bool | None = Field(
        default=None,
        description="Signal loss on opposed-phase (chemical-shift) MRI, i.e. intracellular lipid.",
    )
    benign_appearance: BenignAppearance | None = Field(
        default=None,
        description="Other diagnostic benign appearance judged by the radiologist: cyst, hemorrhage, or a "
        "calcified mass judged benign.",
    )
    prior_imaging: PriorImaging | None = Field(
        default=None,
        description="Prior imaging of the mass: none available, stable, or new/enlarging.",
    )
    stable_months: float | None = Field(
        default=None,
        ge=0,
        le=600,
        description="How long the mass has been stable, in months (prior_imaging=stable).",
    )
    cancer_history: bool | None = Field(default=None, description="Patient has a history of cancer.")
    incidental: bool | None = Field(
        default=None,
        description="Found incidentally on imaging done for another reason (False: imaged for adrenal disease "
        "or symptoms; None: assumed incidental).",
    )
    adult: bool | None = Field(default=None, description="Adult patient (None: assumed adult).")

    @model_validator(mode="after")
    def _consistent(self) -> AdrenalInput:
        if self.stable_months is not None and self.prior_imaging not in (None, "stable"):
            raise ValueError(
                f"stable_months is given but prior_imaging={self.prior_imaging!r}; give one of them"
            )
        if self.stable_months is not None and self.prior_imaging is None:
            raise ValueError("stable_months needs prior_imaging='stable'")
        u, e, d = self.unenhanced_hu, self.enhanced_hu, self.delayed_hu
        if e is not None and d is not None:
            if e <= 0:
                raise ValueError("enhanced_hu must be above 0 HU to compute a relative washout")
            if u is not None and e <= u:
                raise ValueError(
                    "enhanced_hu must be above unenhanced_hu (the mass must enhance) to compute washout"
                )
        if self.absolute_washout_pct is None and self.relative_washout_pct is None:
            return self
        computed = washouts(u, e, d)
        for name, value in (("absolute_washout_pct", self.absolute_washout_pct),
                            ("relative_washout_pct", self.relative_washout_pct)):  # fmt: skip
            key = name.removesuffix("_pct")
            if value is not None and key in computed and abs(float(computed[key]) - value) > 1:
                raise ValueError(
                    f"{name}={value:g} contradicts the {float(computed[key]):.1f} % computed from "
                    "unenhanced_hu/enhanced_hu/delayed_hu"
                )
        return self


def washouts(u: float | None, e: float | None, d: float | None) -> dict[str, Fraction]:
    """Return the absolute and/or relative percentage washout computable from the HU values given (exact)."""
    out: dict[str, Fraction] = {}
    if e is None or d is None:
        return out
    fe, fd = Fraction(str(e)), Fraction(str(d))
    if u is not None and e > u:
        out["absolute_washout"] = (fe - fd) / (fe - Fraction(str(u))) * 100
    if e > 0:
        out["relative_washout"] = (fe - fd) / fe * 100
    return out


# --- extraction ---------------------------------------------------------------------------------

ADRENAL_PHASES: dict[str, re.Pattern[str]] = {
    "unenhanced_hu": re.compile(
        r"\b(?:un-?enhanced|non-?enhanced|non-?contrast(?:ed)?|pre-?contrast|without contrast|native)\b",
        re.IGNORECASE,
    ),
    "enhanced_hu": re.compile(
        r"\b(?:portal[- ]venous|venous phase|post-?contrast|contrast-enhanced|enhanc(?:ing|es) to)\b"
        r"|\b60\s*(?:-|–|to)\s*75\s*s(?:ec\w*)?\b|(?<!un)(?<!non-)(?<!non )\benhanced\b",
        re.IGNORECASE,
    ),
    "delayed_hu": re.compile(r"\b(?:delayed|15[- ]?min(?:ute)?s?)\b", re.IGNORECASE),
}


_WASHOUT_PCT = {
    "absolute_washout_pct": re.compile(
        r"\b(?:absolute\s+(?:percentage\s+)?washout|APW)\s*(?:\(APW\)\s*)?(?:of|is|=|:|was|measur\w*)?\s*"
        r"(?<![<>≤≥])(\d+(?:\.\d+)?)\s*%",
        re.IGNORECASE,
    ),
    "relative_washout_pct": re.compile(
        r"\b(?:relative\s+(?:percentage\s+)?washout|RPW)\s*(?:\(RPW\)\s*)?(?:of|is|=|:|was|measur\w*)?\s*"
        r"(?<![<>≤≥])(\d+(?:\.\d+)?)\s*%",
        re.IGNORECASE,
    ),
}
_FAT = (r"\b(?:macroscopic|gross|bulk)\s+fat\b", r"\bfat[- ]containing\b", r"\bcontains?\s+fat\b")
_CHEMICAL_SHIFT = re.compile(
    r"opposed[- ]phase|out[- ]of[- ]phase|chemical[- ]shift|in[- ]and[- ]opposed", re.I
)
_SIGNAL_LOSS = (
    r"\bsignal\s+(?:loss|drop(?:[- ]?out)?|dropout)\b",
    r"\bloss\s+of\s+signal\b",
    r"\bdrops?\s+(?:out\s+)?(?:in|of)\s+signal\b",
    r"\bloses\s+signal\b",
)
_ADRENAL_OF = r"(?:in|of|within)\s+the\s+(?:left\s+|right\s+)?adrenal"
# Only diagnoses tied to the adrenal: "incidental renal cyst" in the same report is not an adrenal cyst.
_BENIGN_APPEARANCES: dict[str, tuple[str, ...]] = {
    "cyst": (r"\badrenal\s+(?:pseudo)?cyst\b", r"\bcystic\s+adrenal\b", rf"\bcyst\s+{_ADRENAL_OF}"),
    "hemorrhage": (
        r"\badrenal\s+(?:ha?emorrhage|ha?ematoma)\b",
        rf"\b(?:ha?emorrhage|ha?ematoma)\s+{_ADRENAL_OF}",
    ),
}
_HEDGE = re.compile(
    r"\b(?:possible|possibly|probable|probably|likely|suspect\w*|suspicious|may|might|could|cannot|can't|"
    r"differential|versus|vs)\b",
    re.IGNORECASE,
)
_CANCER_NOUNS = r"(?:cancer|malignancy|carcinoma|melanoma|lymphoma|sarcoma)"
_CANCER_WORDS = r"(?:cancer|malignan\w*|carcinoma|melanoma|lymphoma|sarcoma|metasta\w*|oncologic\w*)"
_CANCER_YES = (
    rf"\b(?:history|hx)\s+of\s+(?:\w+\s+){{0,3}}?{_CANCER_WORDS}",
    rf"\bknown\s+(?:\w+\s+){{0,2}}?{_CANCER_WORDS}",
    rf"\b{_CANCER_WORDS}\s+(?:history|survivor)\b",
    rf"\bprior\s+(?:\w+\s+)?{_CANCER_NOUNS}\b",
)
_PRIOR_NONE = (
    r"\bno\s+(?:prior|previous|comparison|earlier|old)\s+(?:imaging|studies|study|exams?|examinations?|CTs?|"
    r"scans?|images|MRIs?)\b",
    r"\bno\s+comparisons?\b",
    r"\bwithout\s+(?:prior|comparison)\s+(?:imaging|studies|study|exams?)\b",
)
_PRIOR_NEW = (r"\benlarg\w*", r"\bincreas\w*\s+in\s+size\b", r"\binterval\s+growth\b", r"\bgrow(?:n|ing|th)\b",
              r"\bnew(?:ly)?\b")  # fmt: skip
_PRIOR_STABLE = (r"\bstable\b", r"\bunchanged\b")
_DURATION = re.compile(
    r"\b(?:stable|unchanged)\b[^.;]{0,40}?\b(?:for|over|since|in|across)\s+(?:the\s+(?:past|last)\s+)?"
    r"(?:at\s+least\s+|more\s+than\s+|over\s+|>\s*|≥\s*)?(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|"
    r"nine|ten)\s*(years?|yrs?|months?|mos?)\b",
    re.IGNORECASE,
)
_NOT_ADULT = (r"\bchild(?:ren)?\b", r"\bp(?:a)?ediatric\b", r"\binfant\b", r"\bneonat\w*", r"\badolescent\b")


def _not_hedged(text: str, m: re.Match[str]) -> bool:
    return not _HEDGE.search(clause_before(text, m.start(), window=40))


_PRIOR_SIZE_BEFORE = re.compile(
    r"\b(?:previously|prior(?:ly)?|formerly|was|were|from|compared\s+(?:with|to))\s*(?:measuring|measured|about)?\s*$",
    re.IGNORECASE,
)


def _read_size(text: str, found: Extraction) -> None:
    """The mass's current size: a size introduced as the earlier one ("previously 1.4 cm") is not it."""
    sizes = {
        m.longest_mm: m.text.strip()
        for m in find_measurements(text)
        if not _PRIOR_SIZE_BEFORE.search(text[max(0, m.start - 30) : m.start])
    }
    if len(sizes) == 1:
        ((size, evidence),) = sizes.items()
        put(found, "size_mm", size, evidence)
    else:
        found.undetermined.append("size_mm")  # none, or several sizes: never pick one


def _read_prior(text: str, found: Extraction) -> None:
    kinds = {}
    m = find_term(text, _PRIOR_NONE, allow_negated=True)
    if m:
        kinds["none"] = m
    for kind, terms in (("new_or_enlarging", _PRIOR_NEW), ("stable", _PRIOR_STABLE)):
        m = find_term(text, terms)
        if m:
            kinds[kind] = m
    if len(kinds) != 1:
        if kinds:
            found.undetermined.append("prior_imaging")
        return
    ((kind, m),) = kinds.items()
    put(found, "prior_imaging", kind, m.group(0))
    if kind == "stable":
        durations = {_months(d) for d in _DURATION.finditer(text)} - {None}
        if len(durations) == 1:
            d = _DURATION.search(text)
            put(found, "stable_months", durations.pop(), d.group(0) if d else "")


def _months(m: re.Match[str]) -> float | None:
    n = word_number(m.group(1)) if not m.group(1)[0].isdigit() else float(m.group(1))
    if n is None:
        return None
    return float(n) * (12 if m.group(2).lower().startswith("y") else 1)


def _read_cancer(text: str, found: Extraction) -> None:
    yes = find_term(text, _CANCER_YES)
    no = find_negated_term(text, _CANCER_YES) or find_term(
        text, (rf"\bno\s+(?:known\s+)?(?:history\s+of\s+)?{_CANCER_WORDS}",), allow_negated=True
    )
    settle_yes_no(text, found, "cancer_history", yes, no)


def extract(text: str) -> Extraction:
    """Read what the text states about one adrenal mass; ambiguous or unstated items stay undetermined."""
    found = Extraction(system="adrenal_incidentaloma")
    _read_size(text, found)
    hu, ambiguous = find_phase_hu(text, ADRENAL_PHASES)
    for name, (value, evidence) in hu.items():
        put(found, name, value, evidence)
    found.undetermined.extend(sorted(ambiguous))
    for name, pattern in _WASHOUT_PCT.items():
        pcts = {float(m.group(1)): m.group(0) for m in pattern.finditer(text)}
        if len(pcts) == 1:
            ((pct, evidence),) = pcts.items()
            put(found, name, pct, evidence)
    read_yes_no(text, found, "macroscopic_fat", _FAT)
    if _CHEMICAL_SHIFT.search(text):
        read_yes_no(text, found, "chemical_shift_signal_loss", _SIGNAL_LOSS)
    appearances = {}
    for kind, terms in _BENIGN_APPEARANCES.items():
        m = find_term(text, terms)
        if m and _not_hedged(text, m):
            appearances[kind] = m.group(0)
    if len(appearances) == 1:
        ((kind, evidence),) = appearances.items()
        put(found, "benign_appearance", kind, evidence)
    _read_prior(text, found)
    _read_cancer(text, found)
    m = find_term(text, (r"\bincidental(?:ly)?\b",))
    if m:
        put(found, "incidental", True, m.group(0))
    m = find_term(text, _NOT_ADULT)
    if m:
        put(found, "adult", False, m.group(0))
    add_path_needs(found, AdrenalInput, classify)
    return found


# --- classification -----------------------------------------------------------------------------


@tool(
    name="adrenal_incidentaloma",
    description="ACR Incidental Findings Committee 2017 white paper on incidental adrenal masses: benign "
    "features (macroscopic fat, unenhanced CT ≤10 HU, chemical-shift signal loss, washout), size bands "
    "(<1, 1-2, 2-4, ≥4 cm), prior-imaging stability and cancer history -> recommended management.",
    version="ACR adrenal incidentaloma white paper (Mayo-Smith et al., JACR 2017)",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Adrenal incidentaloma",
    example="Incidental 1.5 cm adrenal nodule measuring 8 HU on unenhanced CT: next step?",
)
def classify(inp: AdrenalInput) -> ClassificationResult:
    """Walk the white paper's flowchart: scope, size < 1 cm, benign features, stability, size and history."""
    trace = _Trace(inp)
    if inp.adult is False or inp.incidental is False:
        who = "adults" if inp.adult is False else "incidentally found masses"
        return trace.not_applicable(
            f"The ACR adrenal white paper covers {who} only; manage with clinical (endocrine/oncology) work-up."
        )
    if inp.size_mm is None:
        return trace.missing(["size_mm"], "Size of the mass not given.")
    size = inp.size_mm
    if size < NO_WORKUP_BELOW_MM:
        trace.why(f"Size {size:g} mm < 10 mm.")
        return trace.decide("<1 cm", "No further work-up.")
    benign = _benign_feature(inp, trace)
    if benign is not None:
        return benign
    trace.why("No diagnostic benign feature among the inputs given: indeterminate mass.")
    if size >= LARGE_FROM_MM:
        return _large(inp, trace)
    return _one_to_four_cm(inp, trace)


def _benign_feature(inp: AdrenalInput, trace: _Trace) -> ClassificationResult | None:
    u = inp.unenhanced_hu
    if inp.macroscopic_fat:
        trace.why("Macroscopic fat: myelolipoma.")
        return trace.decide("benign: myelolipoma", "Benign; no further work-up.")
    if u is not None and Fraction(str(u)) <= LIPID_RICH_MAX_HU:
        trace.why(f"Unenhanced attenuation {u:g} HU ≤ 10 HU: lipid-rich adenoma.")
        if u == 10:
            trace.caveat(
                "Exactly 10 HU: the white paper's criterion is ≤10 HU (used here); some summaries and "
                "calculators use <10 HU and would call this mass indeterminate."
            )
        return trace.decide("benign: lipid-rich adenoma (CT)", "Benign; no further work-up.")
    if inp.chemical_shift_signal_loss:
        trace.why("Signal loss on chemical-shift (opposed-phase) MRI: lipid-rich adenoma.")
        return trace.decide("benign: lipid-rich adenoma (MRI)", "Benign; no further work-up.")
    washout = _washout(inp, trace)
    if washout is not None:
        return washout
    if inp.benign_appearance is not None:
        trace.why(f"Diagnostic benign appearance given: {inp.benign_appearance}.")
        if inp.benign_appearance == "calcified":
            trace.caveat(
                "A calcified mass is treated as benign only when its appearance is characteristically benign; "
                "calcification alone is not used here as proof of benignity."
            )
        return trace.decide(f"benign: {inp.benign_appearance}", "Benign; no further work-up.")
    return None


def _washout(inp: AdrenalInput, trace: _Trace) -> ClassificationResult | None:
    computed = washouts(inp.unenhanced_hu, inp.enhanced_hu, inp.delayed_hu)
    absolute = computed.get("absolute_washout")
    relative = computed.get("relative_washout")
    if absolute is None and inp.absolute_washout_pct is not None:
        absolute = Fraction(str(inp.absolute_washout_pct))
    if relative is None and inp.relative_washout_pct is not None:
        relative = Fraction(str(inp.relative_washout_pct))
    for key, value in (("absolute_washout_pct", absolute), ("relative_washout_pct", relative)):
        if value is not None:
            trace.details[key] = round(float(value), 1)
    hits = []
    if absolute is not None and absolute >= ABSOLUTE_WASHOUT_MIN_PCT:
        hits.append(f"absolute washout {float(absolute):.1f} % ≥ 60 %")
    if relative is not None and relative >= RELATIVE_WASHOUT_MIN_PCT:
        hits.append(f"relative washout {float(relative):.1f} % ≥ 40 %")
    if hits:
        trace.why("Adrenal-protocol CT: " + " and ".join(hits) + ": adenoma.")
        return trace.decide("benign: adenoma (washout)", "Benign (adenoma); no further work-up.")
    if absolute is not None or relative is not None:
        shown = ", ".join(
            f"{k.split('_')[0]} {v:.1f} %" for k, v in trace.details.items() if k.endswith("_pct")
        )
        trace.why(f"Washout below the adenoma thresholds (absolute ≥60 %, relative ≥40 %): {shown}.")
        trace.caveat(
            "Washout below the adenoma thresholds does not establish an adenoma: the mass stays indeterminate; "
            "the next step is the flowchart's step after a non-diagnostic adrenal-protocol CT, never the test "
            "just done."
        )
        trace.done.add("washout CT")
    if inp.chemical_shift_signal_loss is False:
        trace.why("No signal loss on chemical-shift MRI: not diagnostic of a lipid-rich adenoma.")
        trace.done.add("chemical-shift MRI")
    return None


def _large(inp: AdrenalInput, trace: _Trace) -> ClassificationResult:
    trace.why(f"Size {inp.size_mm:g} mm ≥ 40 mm.")
    if inp.prior_imaging == "stable":
        trace.caveat(
            "Stability on prior imaging is a criterion for 1-4 cm masses; it is not applied at ≥4 cm."
        )
    if inp.cancer_history is None:
        return trace.missing(["cancer_history"], "Management of a ≥4 cm mass depends on the cancer history.")
    if inp.cancer_history:
        trace.why("History of cancer.")
        return trace.decide("≥4 cm", "PET/CT or biopsy.")
    trace.why("No history of cancer.")
    return trace.decide("≥4 cm", "Consider resection.")


def _one_to_four_cm(inp: AdrenalInput, trace: _Trace) -> ClassificationResult:
    size = inp.size_mm or 0.0
    trace.why(f"Size {size:g} mm: 1-4 cm.")
    if inp.prior_imaging is None:
        return trace.missing(["prior_imaging"], "Prior imaging (none, stable, new or enlarging) not given.")
    if inp.prior_imaging == "stable":
        if inp.stable_months is None:
            return trace.missing(["stable_months"], "Stable on prior imaging, but for how long is not given.")
        if inp.stable_months >= STABLE_MIN_MONTHS:
            trace.why(f"Stable for {inp.stable_months:g} months (≥ 1 year).")
            return trace.decide("stable ≥1 year", "Benign; no further work-up.")
        trace.why(f"Stable for {inp.stable_months:g} months (< 1 year): managed as without prior imaging.")
        trace.caveat(
            "Stability for less than 1 year does not meet the white paper's ≥1-year criterion; this tool then "
            "follows the no-prior-imaging branch (the flowchart has no separate branch for it)."
        )
    if inp.cancer_history is None:
        return trace.missing(["cancer_history"], "The 1-4 cm pathway depends on the cancer history.")
    if inp.prior_imaging == "new_or_enlarging":
        trace.why("New or enlarging since prior imaging.")
        if inp.cancer_history:
            trace.why("History of cancer.")
            return trace.decide("indeterminate 1–4 cm, new or enlarging", "Biopsy or PET/CT.")
        trace.why("No history of cancer.")
        if "washout CT" in trace.done:
            return trace.decide("indeterminate 1–4 cm, new or enlarging", "Consider resection.")
        return trace.decide(
            "indeterminate 1–4 cm, new or enlarging", "Adrenal-protocol CT (washout) or resection."
        )
    if inp.cancer_history:
        trace.why("No prior imaging and a history of cancer.")
        if trace.done:
            return _after_nondiagnostic(trace, "indeterminate 1–4 cm, cancer history")
        trace.caveat(
            "The project reference gives no pathway for a 1-4 cm indeterminate mass with a cancer history and "
            "no prior imaging; management is not encoded here - see the white paper's flowchart."
        )
        return trace.decide(
            "indeterminate 1–4 cm, cancer history",
            "Further characterisation needed; pathway not encoded by this tool (see the white paper's flowchart).",
        )
    trace.why("No prior imaging and no history of cancer.")
    if size < SMALL_BELOW_MM:
        trace.why(f"{size:g} mm < 20 mm.")
        return trace.decide(
            "indeterminate 1–<2 cm", "Probably benign; consider a 12-month follow-up adrenal-protocol CT."
        )
    trace.why(f"{size:g} mm ≥ 20 mm and < 40 mm.")
    if trace.done:
        return _after_nondiagnostic(trace, "indeterminate 2–<4 cm")
    return trace.decide("indeterminate 2–<4 cm", "Adrenal-protocol CT (washout) or chemical-shift MRI.")


# After a non-diagnostic adrenal-protocol CT (washout below 60 %/40 %) the ACR flowchart ends in "imaging
# follow-up, biopsy, PET/CT or resection depending on the clinical scenario" (ACR adrenal white paper 2017
# flowchart, as encoded by the ACR Assist module ACR_Adrenal_CT_2_0, endpoint after APW/RPW < 60/40 %).
_AFTER_NONDIAGNOSTIC_CT = (
    "Non-diagnostic adrenal-protocol CT: imaging follow-up, biopsy, PET/CT or resection, depending on the "
    "clinical scenario."
)


def _after_nondiagnostic(trace: _Trace, category: str) -> ClassificationResult:
    """The next step after a non-diagnostic washout CT or chemical-shift MRI: never the test just done."""
    if "washout CT" in trace.done:
        return trace.decide(category, _AFTER_NONDIAGNOSTIC_CT)
    trace.caveat(
        "After a non-diagnostic chemical-shift MRI the flowchart's remaining characterisation test is the "
        "adrenal-protocol (washout) CT; the ACR Assist encoding of the flowchart names no separate MRI endpoint."
    )
    return trace.decide(
        category,
        "Non-diagnostic chemical-shift MRI: adrenal-protocol (washout) CT; if that is not diagnostic, imaging "
        "follow-up, biopsy, PET/CT or resection, depending on the clinical scenario.",
    )


class _Trace:
    """Collects rationale, caveats and details while the flowchart is walked, then builds the result."""

    def __init__(self, inp: AdrenalInput) -> None:
        self.inp = inp
        self.rationale: list[str] = []
        self.caveats: list[str] = []
        self.details: dict[str, object] = {}
        self.done: set[str] = set()  # characterisation tests already done and non-diagnostic

    def why(self, line: str) -> None:
        self.rationale.append(line)

    def caveat(self, line: str) -> None:
        self.caveats.append(line)

    def _result(self, **fields: Any) -> ClassificationResult:
        return ClassificationResult(
            system="adrenal_incidentaloma",
            guideline=GUIDELINE,
            citation=CITATION,
            rationale=self.rationale,
            caveats=[*self.caveats, _STANDING_CAVEAT],
            inputs=self.inp.model_dump(exclude_none=True),
            details=self.details,
            **fields,
        )

    def decide(self, category: str, management: str) -> ClassificationResult:
        return self._result(category=category, management=management)

    def missing(self, fields: list[str], why: str) -> ClassificationResult:
        self.why(why)
        return self._result(missing=fields)

    def not_applicable(self, reason: str) -> ClassificationResult:
        return self._result(not_applicable=reason)
