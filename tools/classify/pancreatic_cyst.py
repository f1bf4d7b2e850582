"""ACR 2017 white paper on incidental pancreatic cysts (CT/MRI): triage by features, size band and age.

Megibow AJ, Baker ME, Morgan DE, et al. Management of Incidental Pancreatic Cysts: A White Paper of the ACR
Incidental Findings Committee. J Am Coll Radiol 2017;14(7):911-923. What this tool encodes, and how sure the
project is of each point (each fact's source is also in tools/knowledge/corpus/acr-pancreatic-cyst-2017.md):

* Scope: cysts found incidentally on CT or MRI in adults; a solid pancreatic mass, or symptoms referable to
  the pancreas, are outside it (abstract and algorithm scope).
* A cyst with high-risk stigmata (obstructive jaundice with a cyst of the head, an enhancing solid component,
  a main duct >= 10 mm) or worrisome features (cyst >= 3 cm, thickened or enhancing wall, main duct 5-9 mm,
  non-enhancing mural nodule, abrupt change of duct calibre with distal atrophy) leaves imaging surveillance:
  one such feature is the white paper's threshold for EUS and/or surgical evaluation (a 2021 review's table of
  the pancreatic-cyst guidelines; feature definitions follow the international consensus the white paper
  uses). The exact next step per feature is in the white paper's flowchart and is not encoded [open].
* A cyst < 5 mm ("white dot" on T2-weighted MRI): one follow-up CT or MRI at 2 years showing stability is
  enough to stop surveillance; some radiologists do not report these in patients over 75-80 (white paper text,
  quoted by a radiology summary).
* Otherwise the white paper sorts cysts by size (< 1.5 cm, 1.5-2.5 cm, > 2.5 cm), patient age and
  communication with the main duct, and gives surveillance intervals per branch. Those intervals were not
  confirmed by the project: the result names the branch and says the interval is not encoded [open].
* Stopping rules (the 2021 review's table): surveillance totalling about 9-10 years and stopping at age 80; for
  cysts found after 80, limited surveillance (4 years) only if stable. Given as caveats, not computed.

Category labels: "high-risk stigmata", "worrisome features", "<5 mm", "<1.5 cm", "1.5-2.5 cm", ">2.5 cm".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.classify._chest_text import read_age
from tools.classify._extract import add_path_needs, put, read_yes_no
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_measurements, find_term
from tools.registry import tool

NAME = "pancreatic_cyst"
GUIDELINE = "ACR Incidental Findings Committee pancreatic cyst white paper (2017)"
CITATION = (
    "Megibow AJ, Baker ME, Morgan DE, et al. Management of Incidental Pancreatic Cysts: A White Paper of the ACR "
    "Incidental Findings Committee. J Am Coll Radiol 2017;14(7):911-923 (algorithm and text)"
)
_STANDING_CAVEAT = (
    "Consensus recommendations (ACR 2017) for incidental pancreatic cysts; this tool encodes only the points the "
    "project could confirm (see its docstring and corpus summary) - the surveillance intervals by size and age "
    "are in the white paper's flowchart."
)
_STOPPING = (
    "Stopping rules as summarised in a 2021 review of the guidelines: surveillance totalling about 9-10 years and "
    "stopping at age 80; for cysts found after age 80, limited surveillance (4 years) only while stable "
    "(confidence: medium)."
)

WHITE_DOT_BELOW_MM = 5.0  # "white dot" lesions < 5 mm
SMALL_BELOW_MM = 15.0  # < 1.5 cm
LARGE_ABOVE_MM = 25.0  # > 2.5 cm (1.5-2.5 cm between)
WORRISOME_SIZE_FROM_MM = 30.0  # cyst >= 3 cm is a worrisome feature

TRIGGERS: tuple[str, ...] = (
    r"\bpancreatic\s+cysts?\b",
    r"\bcyst(?:ic\s+lesion)?s?\s+(?:in|of|within)\s+the\s+(?:pancreatic\s+)?(?:head|neck|body|tail|uncinate|pancreas)\b",
    r"\bIPMNs?\b",
    r"\bcystic\s+pancreatic\b",
)

# Issue 11 (tools.classify.conditional): worrisome features and high-risk stigmata are never assumed absent
# (their presence takes the cyst out of surveillance); unstated, they are asked for or branched.
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = ("<5 mm", "<1.5 cm", "1.5-2.5 cm", ">2.5 cm", "worrisome features", "high-risk stigmata")


class PancreaticCystInput(BaseModel):
    """One pancreatic cyst found incidentally on CT or MRI."""

    model_config = ConfigDict(extra="forbid")

    size_mm: float | None = Field(
        default=None, gt=0, le=300, description="Largest dimension of the cyst, mm."
    )
    age: int | None = Field(default=None, ge=0, le=120, description="Patient age in years.")
    high_risk_stigmata: bool | None = Field(
        default=None,
        description="High-risk stigmata: obstructive jaundice with a cyst of the head, an enhancing solid "
        "component, or a main pancreatic duct >= 10 mm.",
    )
    worrisome_features: bool | None = Field(
        default=None,
        description="Worrisome features other than size: thickened or enhancing wall, main duct 5-9 mm, "
        "non-enhancing mural nodule, abrupt change of duct calibre with distal atrophy.",
    )
    main_duct_communication: bool | None = Field(
        default=None,
        description="The cyst communicates with the main pancreatic duct (e.g. side-branch IPMN).",
    )


def _result(inp: PancreaticCystInput, rationale: list[str], **fields: Any) -> ClassificationResult:
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


_BEYOND_SURVEILLANCE = (
    "Not a routine surveillance cyst: one high-risk stigma or worrisome feature is the white paper's threshold "
    "for EUS and/or surgical evaluation (the exact step per feature is in its flowchart, not encoded here)."
)


# --- extraction ---------------------------------------------------------------------------------

_I = re.IGNORECASE
_DUCT_SIZE = re.compile(
    r"\b(?:main\s+(?:pancreatic\s+)?duct|MPD|pancreatic\s+duct)\b[^.;]{0,40}?(\d+(?:\.\d+)?)\s*(mm|cm)\b", _I
)
_DUCT_BEFORE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(mm|cm)\s+(?:dilat\w+\s+)?(?:main\s+(?:pancreatic\s+)?duct|MPD)", _I
)
_HIGH_RISK = (
    r"\bhigh[- ]risk\s+stigmat\w*",
    r"\benhancing\s+solid\s+component\b",
    r"\bsolid\s+enhancing\s+component\b",
    r"\b(?:obstructive\s+)?jaundice\b",
)
_WORRISOME = (
    r"\bworrisome\s+features?\b",
    r"\b(?:thick(?:ened)?|enhancing)\s+(?:cyst\s+)?walls?\b",
    r"\bwall\s+(?:thickening|enhancement)\b",
    r"\bmural\s+nodules?\b",
    r"\babrupt\s+(?:change|cut-?off)\b",
)
_COMMUNICATION = (
    r"\bcommunicat\w+\s+with\s+the\s+(?:main\s+)?(?:pancreatic\s+)?duct\b",
    r"\bduct(?:al)?\s+communication\b",
    r"\bside[- ]branch\s+IPMN\b",
    r"\bbranch[- ]duct\s+IPMN\b",
)


def _duct_mm(text: str) -> float | None:
    found = set()
    for pattern in (_DUCT_SIZE, _DUCT_BEFORE):
        for m in pattern.finditer(text):
            found.add(float(m.group(1)) * (10 if m.group(2).lower() == "cm" else 1))
    return found.pop() if len(found) == 1 else None


def extract(text: str) -> Extraction:
    """Read the cyst size, age, duct calibre and communication, and the listed features; never guess."""
    found = Extraction(system=NAME)
    duct = _duct_mm(text)
    sizes = {
        m.longest_mm: m.text.strip()
        for m in find_measurements(text)
        if not re.match(
            r"^\s*(?:dilat\w+\s+)?(?:main\s+)?(?:pancreatic\s+)?duct|^\s*MPD", text[m.end : m.end + 30], _I
        )
        and not re.search(r"(?:duct|MPD)[^.;]{0,40}$", text[max(0, m.start - 45) : m.start], _I)
    }
    if len(sizes) == 1:
        ((size, evidence),) = sizes.items()
        put(found, "size_mm", size, evidence)
    elif sizes:
        found.undetermined.append("size_mm")
    age = read_age(text)
    if age is not None:
        put(found, "age", age[0], age[1])
    if duct is not None and duct >= 10:
        put(found, "high_risk_stigmata", True, f"main duct {duct:g} mm")
    else:
        read_yes_no(text, found, "high_risk_stigmata", _HIGH_RISK)
    if duct is not None and 5 <= duct < 10:
        put(found, "worrisome_features", True, f"main duct {duct:g} mm")
    else:
        read_yes_no(text, found, "worrisome_features", _WORRISOME)
    m = find_term(text, _COMMUNICATION)
    if m:
        put(found, "main_duct_communication", True, m.group(0))
    add_path_needs(found, PancreaticCystInput, classify)
    return found


@tool(
    name=NAME,
    description="ACR 2017 white paper on incidental pancreatic cysts on CT/MRI: high-risk stigmata and worrisome "
    "features leave surveillance; < 5 mm cysts need one 2-year follow-up; other cysts are named by size band "
    "(< 1.5, 1.5-2.5, > 2.5 cm) with the white paper's surveillance branch.",
    version="ACR incidental pancreatic cyst white paper (Megibow et al., JACR 2017)",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Pancreatic cyst",
    example="Incidental 1.2 cm pancreatic cyst on CT, no high-risk stigmata or worrisome features: follow-up?",
)
def classify(inp: PancreaticCystInput) -> ClassificationResult:
    """Features first (they leave surveillance), then the size branch."""
    if inp.high_risk_stigmata:
        return _result(
            inp, ["High-risk stigmata."], category="high-risk stigmata", management=_BEYOND_SURVEILLANCE
        )
    size = inp.size_mm
    if inp.worrisome_features or (size is not None and size >= WORRISOME_SIZE_FROM_MM):
        why = (
            "Worrisome features."
            if inp.worrisome_features
            else f"Cyst {size:g} mm ≥ 30 mm (worrisome feature)."
        )
        if inp.high_risk_stigmata is None:
            return _result(inp, [why, "High-risk stigmata not stated."], missing=["high_risk_stigmata"])
        return _result(inp, [why], category="worrisome features", management=_BEYOND_SURVEILLANCE)
    missing = [n for n in ("size_mm", "high_risk_stigmata", "worrisome_features") if getattr(inp, n) is None]
    if missing:
        return _result(
            inp,
            ["Size and the absence of worrisome features and high-risk stigmata decide."],
            missing=missing,
        )
    assert size is not None
    caveats = [_STOPPING]
    if size < WHITE_DOT_BELOW_MM:
        if inp.age is not None and inp.age >= 75:
            caveats.append(
                "Some radiologists do not report cysts < 5 mm in patients over 75-80 years (white paper)."
            )
        return _result(
            inp,
            [f"Cyst {size:g} mm < 5 mm (white-dot lesion)."],
            category="<5 mm",
            management="One follow-up CT or MRI at 2 years; if stable, stop surveillance.",
            caveats=caveats,
        )
    label = "<1.5 cm" if size < SMALL_BELOW_MM else "1.5-2.5 cm" if size <= LARGE_ABOVE_MM else ">2.5 cm"
    rationale = [f"Cyst {size:g} mm: {label} branch, no worrisome features or high-risk stigmata."]
    if inp.main_duct_communication is not None:
        rationale.append(f"Main-duct communication: {'yes' if inp.main_duct_communication else 'no'}.")
    caveats.insert(
        0,
        "The white paper's surveillance interval for this branch (by size, age and duct communication) was not "
        "confirmed by the project and is not encoded [open].",
    )
    return _result(
        inp,
        rationale,
        category=label,
        management="Imaging surveillance (MRI preferred, or pancreatic-protocol CT) on the white paper's schedule "
        f"for a {label} cyst; the interval is not encoded by this tool.",
        caveats=caveats,
    )
