"""ACR Incidental Findings Committee white paper on the incidental renal mass on CT (2018): attenuation rules.

Consensus guidance, not a validated score. The tool covers what the project reference summarises (marked
[med]: transcribed from a secondary source, not re-read in the publication): enhancement on CT, homogeneous
masses at unenhanced CT, macroscopic fat, and the hand-off of cystic masses to Bosniak 2019. The white
paper's size-based management of solid and fat-containing masses is not in the reference, so it is not
encoded: those results say so instead of inventing a threshold.

Order of the rules: macroscopic fat first (it settles the diagnosis), then cystic masses (-> `bosniak`),
then enhancement when it can be measured (it outranks unenhanced attenuation alone), then the unenhanced
attenuation of a homogeneous mass.

The published ranges are written for whole HU ("-10 to 20", "21 to 69", ">= 70"); for decimal values
this tool closes the gaps as: fat < -10; simple cyst -10 to 20; indeterminate > 20 and < 70; hyperdense
cyst >= 70; enhancement >= 20, equivocal > 10 and < 20, none <= 10.

Category labels (stable, human-readable; the white paper has no categories):
"angiomyolipoma (macroscopic fat)", "enhancing", "equivocal enhancement", "non-enhancing",
"benign: simple cyst", "benign: hyperdense cyst", "indeterminate (21-69 HU)".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.classify._extract import add_path_needs, put, read_yes_no
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_phase_hu
from tools.registry import tool

GUIDELINE = "ACR Incidental Findings Committee renal mass white paper (2018)"
CITATION = (
    "Herts BR, Silverman SG, Hindman NM, et al. Management of the Incidental Renal Mass on CT: A White Paper "
    "of the ACR Incidental Findings Committee. J Am Coll Radiol 2018;15(2):264-273 (attenuation and "
    "enhancement criteria)"
)
_STANDING_CAVEAT = (
    "Consensus recommendations (ACR Incidental Findings Committee 2018) for incidental renal masses on CT; "
    "thresholds as summarised in the project reference (confidence: medium) - confirm against the white "
    "paper before clinical use."
)

# Thresholds of the white paper (Herts et al. 2018), as summarised in the project reference §10.
FAT_BELOW_HU = -10.0  # < -10 HU: macroscopic fat
SIMPLE_CYST_MAX_HU = 20.0  # homogeneous -10 to 20 HU at unenhanced CT: simple cyst
HYPERDENSE_MIN_HU = 70.0  # homogeneous >= 70 HU at unenhanced CT: hyperdense cyst
ENHANCING_MIN_HU = 20.0  # increase >= 20 HU: enhancement
NO_ENHANCEMENT_MAX_HU = 10.0  # increase <= 10 HU: no enhancement (between: equivocal)
_CONSISTENCY_HU = 1.0  # a reported enhancement may differ from enhanced - unenhanced by rounding only

# Issue 11 (tools.classify.conditional): nothing unstated is read as absent here; homogeneity and attenuation
# are asked for or branched (a heterogeneous mass leaves the unenhanced-attenuation rules).
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()

TRIGGERS: tuple[str, ...] = (
    r"\brenal\b",
    r"\bkidneys?\b",
    r"\bangiomyolipoma\b",
    r"\bnephrographic\b",
)


class RenalInput(BaseModel):
    """An incidentally found renal mass on CT."""

    model_config = ConfigDict(extra="forbid")

    cystic: bool | None = Field(
        default=None,
        description="True for a cystic mass (fluid with wall/septa; classified with Bosniak 2019), False for a "
        "solid or non-cystic mass.",
    )
    homogeneous: bool | None = Field(default=None, description="The mass is homogeneous in attenuation.")
    macroscopic_fat: bool | None = Field(
        default=None,
        description="Macroscopic fat in the mass (any region below -10 HU), i.e. angiomyolipoma.",
    )
    unenhanced_hu: float | None = Field(
        default=None, ge=-1024, le=3071, description="Mean attenuation of the mass on unenhanced CT (HU)."
    )
    enhanced_hu: float | None = Field(
        default=None,
        ge=-1024,
        le=3071,
        description="Mean attenuation of the mass on contrast-enhanced (nephrographic/portal venous) CT (HU).",
    )
    enhancement_hu: float | None = Field(
        default=None,
        ge=-200,
        le=1000,
        description="Increase in attenuation from unenhanced to enhanced CT (HU), when reported directly.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RenalInput:
        u = self.unenhanced_hu
        if self.macroscopic_fat is False and u is not None and u < FAT_BELOW_HU:
            raise ValueError(f"macroscopic_fat=False contradicts unenhanced_hu={u:g} (below -10 HU is fat)")
        if self.enhancement_hu is not None and u is not None and self.enhanced_hu is not None:
            computed = self.enhanced_hu - u
            if abs(computed - self.enhancement_hu) > _CONSISTENCY_HU:
                raise ValueError(
                    f"enhancement_hu={self.enhancement_hu:g} contradicts enhanced_hu - unenhanced_hu = {computed:g}"
                )
        return self

    def enhancement(self) -> float | None:
        """The attenuation increase: reported, or computed from the unenhanced and enhanced values."""
        if self.enhancement_hu is not None:
            return self.enhancement_hu
        if self.unenhanced_hu is not None and self.enhanced_hu is not None:
            return self.enhanced_hu - self.unenhanced_hu
        return None


# --- extraction ---------------------------------------------------------------------------------

RENAL_PHASES: dict[str, re.Pattern[str]] = {
    "unenhanced_hu": re.compile(
        r"\b(?:un-?enhanced|non-?enhanced|non-?contrast(?:ed)?|pre-?contrast|without contrast|native)\b",
        re.IGNORECASE,
    ),
    "enhanced_hu": re.compile(
        r"\b(?:nephrographic|portal[- ]venous|venous phase|post-?contrast|contrast-enhanced)\b"
        r"|(?<!un)(?<!non-)(?<!non )\benhanced\b",
        re.IGNORECASE,
    ),
}
_ENHANCEMENT = (
    re.compile(r"\benhanc\w*\s+(?:by|of)\s+(?<![<>≤≥])(\d+(?:\.\d+)?)\s*HU\b", re.IGNORECASE),
    re.compile(r"(?<![\w.<>≤≥-])(\d+(?:\.\d+)?)\s*HU\s+(?:of\s+)?enhancement\b", re.IGNORECASE),
    re.compile(
        r"\b(?:increase|rise)\s+(?:in\s+attenuation\s+)?of\s+(?<![<>≤≥])(\d+(?:\.\d+)?)\s*HU\b", re.IGNORECASE
    ),
)
_ALTERNATIVE = re.compile(r"\s*(?:or|to|-|–|/)\s*(?:by\s+)?[-−]?\d", re.IGNORECASE)  # "by 15 or 25 HU"
_FAT = (
    r"\b(?:macroscopic|gross|bulk)\s+fat\b",
    r"\bfat[- ]containing\b",
    r"\bcontains?\s+fat\b",
    # a diagnosed angiomyolipoma ("AML") states visible fat, unless called lipid-poor / fat-poor
    r"(?<!lipid-poor )(?<!fat-poor )(?<!lipid poor )(?<!fat poor )\b(?:AMLs?|angiomyolipomas?)\b",
)
_CYSTIC = (r"\bcystic\b",)
_SOLID = (r"\bsolid\b",)
_HOMOGENEOUS = (r"\bhomogeneous(?:ly)?\b",)
_HETEROGENEOUS = (r"\bheterogeneous(?:ly)?\b", r"\binhomogeneous(?:ly)?\b")


def extract(text: str) -> Extraction:
    """Read attenuation values, enhancement, fat and composition for one renal mass; never guess."""
    found = Extraction(system="renal_incidentaloma")
    enhancement = {}
    spans = []
    alternative = False
    for pattern in _ENHANCEMENT:
        for m in pattern.finditer(text):
            enhancement[float(m.group(1))] = m.group(0)
            spans.append((m.start(), m.end()))
            alternative = alternative or bool(_ALTERNATIVE.match(text, m.end()))
    if len(enhancement) == 1 and not alternative:
        ((value, evidence),) = enhancement.items()
        put(found, "enhancement_hu", value, evidence)
    elif enhancement:
        found.undetermined.append("enhancement_hu")
    hu, ambiguous = find_phase_hu(text, RENAL_PHASES, skip=spans)
    for name, (value, evidence) in hu.items():
        put(found, name, value, evidence)
    found.undetermined.extend(sorted(ambiguous))
    read_yes_no(text, found, "macroscopic_fat", _FAT)
    # "not cystic" reads as False; "not solid" proves nothing, so only "solid" is the opposite word
    read_yes_no(text, found, "cystic", _CYSTIC, _SOLID)
    read_yes_no(text, found, "homogeneous", _HOMOGENEOUS, _HETEROGENEOUS)
    add_path_needs(found, RenalInput, classify)
    return found


# --- classification -----------------------------------------------------------------------------


@tool(
    name="renal_incidentaloma",
    description="ACR Incidental Findings Committee 2018 white paper on the incidental renal mass on CT: "
    "enhancement (≥20 HU enhancing, >10 to <20 equivocal, ≤10 none), homogeneous masses at unenhanced CT "
    "(-10 to 20 HU simple cyst, ≥70 HU hyperdense cyst, 21-69 HU indeterminate), macroscopic fat -> "
    "angiomyolipoma; cystic masses -> Bosniak 2019.",
    version="ACR incidental renal mass white paper (Herts et al., JACR 2018)",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Renal incidentaloma",
    example="Incidental homogeneous renal mass measuring 75 HU on unenhanced CT: what is it?",
)
def classify(inp: RenalInput) -> ClassificationResult:
    """Apply the white paper's attenuation rules in order: fat, cystic hand-off, enhancement, unenhanced HU."""
    rationale: list[str] = []
    u = inp.unenhanced_hu
    if inp.macroscopic_fat or (u is not None and u < FAT_BELOW_HU):
        why = "Macroscopic fat" if inp.macroscopic_fat else f"Unenhanced attenuation {u:g} HU < -10 HU (fat)"
        rationale.append(f"{why}: angiomyolipoma.")
        return _result(
            inp,
            rationale,
            category="angiomyolipoma (macroscopic fat)",
            management="Angiomyolipoma (benign). The white paper's size-based management of angiomyolipomas "
            "is not encoded by this tool.",
            caveats=[
                "Management of angiomyolipoma by size is in the white paper but not in the project reference."
            ],
        )
    if inp.cystic:
        rationale.append("Cystic mass: the white paper defers to Bosniak 2019.")
        return _result(
            inp,
            rationale,
            not_applicable="Cystic renal masses are classified with Bosniak 2019; use the `bosniak` tool.",
        )
    enhancement = inp.enhancement()
    if enhancement is not None:
        return _by_enhancement(inp, enhancement, rationale)
    if inp.homogeneous is False:
        rationale.append(
            "Heterogeneous mass: the unenhanced-attenuation rules do not apply; enhancement decides."
        )
        return _result(inp, rationale, missing=["enhancement_hu"])
    if u is None:
        rationale.append("Neither unenhanced attenuation nor enhancement given (either decides).")
        return _result(inp, rationale, missing=["unenhanced_hu", "enhancement_hu"])
    if inp.homogeneous is None:
        rationale.append(
            "The unenhanced-attenuation rules apply to homogeneous masses; homogeneity not given."
        )
        return _result(inp, rationale, missing=["homogeneous"])
    return _by_unenhanced(inp, u, rationale)


def _by_enhancement(inp: RenalInput, enhancement: float, rationale: list[str]) -> ClassificationResult:
    rationale.append(f"Enhancement {enhancement:g} HU (enhanced minus unenhanced attenuation).")
    if enhancement >= ENHANCING_MIN_HU:
        rationale.append("≥20 HU: enhancing mass.")
        return _result(
            inp,
            rationale,
            category="enhancing",
            management="Enhancing renal mass, a solid mass until proven otherwise: manage as a solid renal "
            "mass (the white paper's size-based pathway is not encoded by this tool; consider urology referral).",
            caveats=[
                "The size-based management of solid renal masses is in the white paper, not encoded here."
            ],
        )
    if enhancement > NO_ENHANCEMENT_MAX_HU:
        rationale.append(">10 and <20 HU: equivocal enhancement.")
        return _result(
            inp,
            rationale,
            category="equivocal enhancement",
            management="Indeterminate: further characterisation with renal-mass protocol CT or MRI.",
            caveats=[
                "The next step for equivocal enhancement is taken from the white paper's handling of "
                "indeterminate masses (renal-mass CT or MRI)."
            ],
        )
    rationale.append("≤10 HU: no enhancement.")
    return _result(
        inp,
        rationale,
        category="non-enhancing",
        management="No enhancement by the white paper's CT criterion; characterise any cystic features with "
        "Bosniak 2019 (`bosniak` tool) to decide follow-up.",
    )


def _by_unenhanced(inp: RenalInput, u: float, rationale: list[str]) -> ClassificationResult:
    rationale.append(f"Homogeneous mass, unenhanced attenuation {u:g} HU.")
    if u <= SIMPLE_CYST_MAX_HU:
        rationale.append("-10 to 20 HU: simple cyst.")
        return _result(
            inp, rationale, category="benign: simple cyst", management="Benign (simple cyst); no follow-up."
        )
    if u >= HYPERDENSE_MIN_HU:
        rationale.append("≥70 HU: hyperdense (haemorrhagic or proteinaceous) cyst.")
        return _result(
            inp,
            rationale,
            category="benign: hyperdense cyst",
            management="Benign (hyperdense cyst); no follow-up.",
        )
    rationale.append("21-69 HU: indeterminate.")
    caveats = []
    if u < 21 or u > 69:
        caveats.append(
            f"{u:g} HU lies between the published whole-HU ranges; treated as indeterminate (>20, <70)."
        )
    return _result(
        inp,
        rationale,
        category="indeterminate (21-69 HU)",
        management="Indeterminate: renal-mass protocol CT or MRI.",
        caveats=caveats,
    )


def _result(
    inp: RenalInput, rationale: list[str], caveats: list[str] | None = None, **fields: Any
) -> ClassificationResult:
    details: dict[str, Any] = {}
    enhancement = inp.enhancement()
    if enhancement is not None:
        details["enhancement_hu"] = enhancement
    return ClassificationResult(
        system="renal_incidentaloma",
        guideline=GUIDELINE,
        citation=CITATION,
        rationale=rationale,
        caveats=[*(caveats or []), _STANDING_CAVEAT],
        inputs=inp.model_dump(exclude_none=True),
        details=details,
        **fields,
    )
