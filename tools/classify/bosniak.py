"""Bosniak classification of cystic renal masses, version 2019 (CT and MRI).

Scope: a cystic mass has <25% enhancing tissue; >=25% is a solid mass, and infectious, inflammatory or
vascular lesions and hereditary RCC syndromes are excluded (not_applicable). The class is the most
severe feature present, checked from IV down to I (Silverman et al. 2019, class definitions for CT and
MRI): IV enhancing nodule; III enhancing thick or irregular wall/septum; IIF minimally thickened
enhancing wall/septa, many thin enhancing septa, or (MRI) heterogeneous unenhanced T1 hyperintensity;
II the six CT and three MRI types; I simple fluid with a thin smooth wall.

Quantitative definitions: thin <=2 mm, minimally thickened 3 mm, thick >=4 mm; few septa 1-3, many >=4;
irregular = <=3 mm convex protrusion with obtuse margins; nodule = >=4 mm with obtuse margins or any size
with acute margins. Millimetre and HU figures are rounded half up to whole units before comparison,
because the paper states its thresholds in whole units (our reading; it gives no rounding rule).

The 2005 upgrades are deliberately absent: calcification (of any pattern), total intrarenal location and
size >=3 cm are accepted as context and never raise the class; calcification only excludes class I.
Masses outside the class definitions (noncontrast 21-69 HU, portal-venous >30 HU, nonenhancing thickened
walls, ...) get no class ("not determined") and an explanation; the indeterminate-attenuation advice
(further imaging) is marked [med] in the project reference.

Presence-only inputs (absent when not given): calcification, too_small_to_characterize, heterogeneous
T1 signal, excluded_condition, enhancing_tissue_percent (<25% assumed, with a caveat).
Category spellings: "I", "II", "IIF", "III", "IV".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tools.classify._decide import Need, explore, need, reject_bool, round_half_up
from tools.classify._extract import Reading
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_measurements, is_negated, word_number
from tools.registry import CategorySpelling, tool

GUIDELINE = "Bosniak classification v2019"
CITATION = (
    "Silverman SG, Pedrosa I, Ellis JH, et al. Bosniak Classification of Cystic Renal Masses, Version 2019: "
    "An Update Proposal and Needs Assessment. Radiology 2019;292(2):475-488 (class definitions for CT and MRI, "
    "quantitative feature definitions)"
)

Modality = Literal["ct", "mri"]
Phase = Literal["noncontrast", "portal_venous", "renal_mass_protocol", "contrast_enhanced"]
Thickness = Literal["thin", "minimally_thickened", "thick"]
SeptaAmount = Literal["none", "few", "many"]
Margins = Literal["obtuse", "acute"]
Calcification = Literal["none", "present", "thick_or_nodular"]
T2Signal = Literal["csf_like", "other"]
T1Signal = Literal["homogeneous_markedly_hyperintense", "heterogeneous_hyperintense", "other"]
Exclusion = Literal["infection_or_inflammation", "vascular", "hereditary_rcc_syndrome"]

TRIGGERS: tuple[str, ...] = (
    r"\bbosniak\b",
    r"\brenal\s+cysts?\b",
    r"\bkidney\s+cysts?\b",
    r"\bcystic\s+(?:renal|kidney)\s+(?:mass|lesion)",
    r"\b(?:renal|kidney)\s+(?:mass|lesion)\b.*\b(?:septa|septum|septation)",
)


def _bosniak_class(written: str) -> str:
    """Arabic numerals and 'II-F' are common ways to write the classes; the tool writes roman 'IIF'."""
    return {"1": "I", "2": "II", "2F": "IIF", "II-F": "IIF", "3": "III", "4": "IV"}.get(written, written)


# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(
    r"\bbosniak\s*(?:class\s*|category\s*)?(II-?F|IV|III|II|I|2F|[1-4])\b", _bosniak_class
)
# Issue 11, unstated descriptors (tools.classify.conditional): read as absent only when a stated descriptor
# implies it. A "simple(-appearing)" cyst is, by the class I definition (Silverman 2019), homogeneous fluid
# with a thin smooth wall and no septa, calcification or nodule; "smooth" or "thin-walled" states that the
# wall has no irregularity or nodule. Nothing is assumed absent without such words: an unstated septum,
# nodule or enhancement could raise the class, so it becomes a branch or a question instead.
_SIMPLE = (r"\bsimple(?:[- ]appearing)?\b",)
READ_AS_ABSENT = (
    ReadAsAbsent("septa", "none", "no septa", _SIMPLE),
    ReadAsAbsent(
        "protrusion",
        False,
        "no nodule or irregularity",
        (*_SIMPLE, r"\bsmooth(?:ly)?\b", r"\bthin[- ]walled\b"),
    ),
    ReadAsAbsent(
        "wall_thickness",
        "thin",
        "a thin wall",
        (*_SIMPLE, r"\bthin[- ]walled\b", r"\bthin\s+(?:smooth\s+)?walls?\b"),
    ),
    ReadAsAbsent("homogeneous", True, "homogeneous contents", (*_SIMPLE, r"\bhomogeneous\b")),
)
SEVERITY = ("I", "II", "IIF", "III", "IV")
ORDINAL = True
# An enhancing protrusion of unstated size: <=3 mm (obtuse) is an irregularity (III), >=4 mm a nodule (IV).
BRANCH_VALUES = {"protrusion_mm": ((3, "≤3 mm"), (4, "≥4 mm"))}

_CT_PHASES = ("noncontrast", "portal_venous", "renal_mass_protocol")
_MRI_PHASES = ("noncontrast", "contrast_enhanced")


_Number = Annotated[float, BeforeValidator(reject_bool)]


def _thickness(mm: float) -> str:
    """Bosniak 2019: thin <=2 mm, minimally thickened 3 mm, thick >=4 mm (after rounding to whole mm)."""
    whole = round_half_up(mm)
    return "thin" if whole <= 2 else "minimally_thickened" if whole == 3 else "thick"


def _amount(count: float) -> str:
    """Bosniak 2019: few septa = 1-3, many = >=4."""
    return "none" if count == 0 else "few" if count <= 3 else "many"


class BosniakInput(BaseModel):
    """A cystic renal mass on CT or MRI, described with the Bosniak 2019 features."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    modality: Modality | None = Field(
        default=None, description="ct or mri (inferred from HU attenuation or MRI signal fields when absent)."
    )
    phase: Phase | None = Field(
        default=None,
        description="Exam phase of the attenuation/signal: CT noncontrast, portal_venous or renal_mass_protocol "
        "(noncontrast + nephrographic, enhancement assessable); MRI noncontrast or contrast_enhanced.",
    )
    wall_thickness: Thickness | None = Field(
        default=None, description="Wall: thin (<=2 mm), minimally_thickened (3 mm) or thick (>=4 mm)."
    )
    wall_thickness_mm: _Number | None = Field(
        default=None, gt=0, le=50, description="Wall thickness in mm (sets wall_thickness)."
    )
    wall_enhancing: bool | None = Field(default=None, description="The wall enhances.")
    septa: SeptaAmount | None = Field(default=None, description="Septa: none, few (1-3) or many (>=4).")
    septa_count: Annotated[int, BeforeValidator(reject_bool)] | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Number of septa (sets septa). On MRI count the enhancing septa; any number of "
        "nonenhancing thin septa is class II.",
    )
    septa_thickness: Thickness | None = Field(
        default=None,
        description="Thickest septum: thin (<=2 mm), minimally_thickened (3 mm), thick (>=4 mm).",
    )
    septa_thickness_mm: _Number | None = Field(
        default=None,
        gt=0,
        le=50,
        description="Thickness of the thickest septum in mm (sets septa_thickness).",
    )
    septa_enhancing: bool | None = Field(default=None, description="At least one septum enhances.")
    protrusion: bool | None = Field(
        default=None,
        description="A convex protrusion (irregularity or nodule) arises from the wall or a septum; false = "
        "smooth walls and septa.",
    )
    protrusion_mm: _Number | None = Field(
        default=None, gt=0, le=100, description="Size of the largest protrusion in mm."
    )
    protrusion_margins: Margins | None = Field(
        default=None, description="Margins of the protrusion with the wall/septum: obtuse or acute."
    )
    protrusion_enhancing: bool | None = Field(default=None, description="The protrusion enhances.")
    homogeneous: bool | None = Field(default=None, description="Contents are homogeneous.")
    attenuation_hu: _Number | None = Field(
        default=None, ge=-1000, le=3000, description="CT attenuation of the contents in HU."
    )
    mass_enhancing: bool | None = Field(
        default=None,
        description="The contents enhance (CT >=20 HU increase; MRI >=15% or visible on subtraction); needed "
        "for homogeneous >20 HU masses at renal-mass-protocol CT.",
    )
    t2_signal: T2Signal | None = Field(
        default=None, description="MRI T2 signal: csf_like (homogeneous, markedly hyperintense) or other."
    )
    t1_signal: T1Signal | None = Field(
        default=None,
        description="MRI unenhanced (fat-saturated) T1 signal: homogeneous_markedly_hyperintense (about >=2.5x "
        "normal parenchyma), heterogeneous_hyperintense, or other.",
    )
    calcification: Calcification | None = Field(
        default=None,
        description="Calcification: none, present, or thick_or_nodular. Context only in v2019 (it only "
        "excludes class I).",
    )
    too_small_to_characterize: bool | None = Field(
        default=None, description="CT: homogeneous low-attenuation mass too small to characterise."
    )
    size_mm: _Number | None = Field(
        default=None, gt=0, le=500, description="Mass size in mm (context only; does not change the class)."
    )
    intrarenal: bool | None = Field(
        default=None, description="Totally intrarenal location (context only; does not change the class)."
    )
    enhancing_tissue_percent: _Number | None = Field(
        default=None, ge=0, le=100, description="Share of enhancing tissue in percent (>=25% = solid mass)."
    )
    excluded_condition: Exclusion | None = Field(
        default=None,
        description="Condition outside Bosniak: infection_or_inflammation, vascular, hereditary_rcc_syndrome.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> BosniakInput:
        pairs = (
            ("wall_thickness", self.wall_thickness, "wall_thickness_mm", self.wall_thickness_mm, _thickness),
            (
                "septa_thickness",
                self.septa_thickness,
                "septa_thickness_mm",
                self.septa_thickness_mm,
                _thickness,
            ),
            ("septa", self.septa, "septa_count", self.septa_count, _amount),
        )
        for name, given, num_name, number, derive in pairs:
            if given is not None and number is not None and derive(number) != given:
                raise ValueError(f"{name}={given!r} contradicts {num_name}={number:g} (= {derive(number)!r})")
        no_septa = self.septa == "none" or self.septa_count == 0
        septum_details = ("septa_thickness", "septa_thickness_mm", "septa_enhancing")
        if no_septa and any(getattr(self, f) is not None for f in septum_details):
            raise ValueError(
                "septa is 'none' but septa_thickness/septa_thickness_mm/septa_enhancing is given"
            )
        protrusion_details = ("protrusion_mm", "protrusion_margins", "protrusion_enhancing")
        if self.protrusion is False and any(getattr(self, f) is not None for f in protrusion_details):
            raise ValueError(
                "protrusion is false but protrusion_mm/protrusion_margins/protrusion_enhancing is given"
            )
        ct_only = self.attenuation_hu is not None or self.too_small_to_characterize
        mri_only = self.t1_signal is not None or self.t2_signal is not None
        modality = self.modality
        if ct_only and mri_only:
            raise ValueError(
                "attenuation_hu/too_small_to_characterize (CT) and t1_signal/t2_signal (MRI) both given"
            )
        if modality == "mri" and ct_only:
            raise ValueError("attenuation_hu/too_small_to_characterize apply to CT, but modality is 'mri'")
        if modality == "ct" and mri_only:
            raise ValueError("t1_signal/t2_signal apply to MRI, but modality is 'ct'")
        modality = modality or ("ct" if ct_only else "mri" if mri_only else None)
        if self.phase is not None and modality is not None:
            allowed = _CT_PHASES if modality == "ct" else _MRI_PHASES
            if self.phase not in allowed:
                raise ValueError(
                    f"phase {self.phase!r} is not a {modality} phase; allowed: {', '.join(allowed)}"
                )
        return self


# --- outcome (rules read inputs lazily; `explore` tries every value of an unknown enumerable one) ----


@dataclass(frozen=True)
class _Outcome:
    """A class, or no class ('not determined' / 'not applicable') with the reason."""

    category: str | None
    rule: str
    kind: Literal["class", "not_determined", "not_applicable"] = "class"
    management: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.kind, self.category)


# --- class definitions (Silverman et al. 2019) ----------------------------------------------------

_FURTHER_IMAGING = "Further characterisation with renal-mass-protocol CT or MRI."
_UNDEFINED = "not defined by Bosniak 2019 class definitions; characterise further or discuss"

# Management and risk per class, paraphrased; the project reference marks them [med].
_MANAGEMENT = {
    "I": "Benign: no follow-up.",
    "II": "Benign: no follow-up.",
    "IIF": "Follow-up imaging (CT or MRI) at 6 and 12 months, then annually for 5 years.",
    "III": "Urology referral: surgery or ablation, or active surveillance, as decided with urology.",
    "IV": "Urology referral: surgery or ablation, or active surveillance, as decided with urology.",
}
_RISK = {"I": "Benign", "II": "Benign", "III": "About 50% malignant", "IV": "About 90% malignant"}
_MED_CAVEAT = (
    "Management and malignancy figures paraphrased from Bosniak 2019 as summarised in the project reference "
    "([med]: wording not re-verified against the paper); confirm with urology."
)


def _nodule_or_irregularity(v: dict[str, Any]) -> str | None:
    """'nodule', 'irregular' or None for an enhancing protrusion (a nonenhancing one is not tissue)."""
    if not need(v, "protrusion") or not need(v, "protrusion_enhancing"):
        return None
    if v["protrusion_margins"] == "acute":
        return "nodule"
    if v["protrusion_mm"] is None:
        raise Need("protrusion_mm", *(["protrusion_margins"] if v["protrusion_margins"] is None else []))
    if round_half_up(v["protrusion_mm"]) >= 4:
        return "nodule"
    need(v, "protrusion_margins")
    return "irregular"  # <=3 mm with obtuse margins


def _wall_and_septa(v: dict[str, Any]) -> tuple[str, str, str | None, bool | None]:
    wall, septa = need(v, "wall_thickness", "septa")
    septa_thickness = need(v, "septa_thickness") if septa != "none" else None
    septa_enhancing = None
    # Few thin septa are class II whether or not they enhance; every other septum needs its enhancement.
    if septa != "none" and not (septa == "few" and septa_thickness == "thin"):
        septa_enhancing = need(v, "septa_enhancing")
    return wall, septa, septa_thickness, septa_enhancing


def _evaluate(v: dict[str, Any]) -> _Outcome:
    if v["too_small_to_characterize"] is True:
        if need(v, "modality") == "ct":
            return _Outcome(
                "II", "Class II (CT type 6): homogeneous low-attenuation mass too small to characterise"
            )
        return _Outcome(
            None,
            f"'Too small to characterise' is a CT class II type; on MRI it is {_UNDEFINED}",
            "not_determined",
        )
    protrusion = _nodule_or_irregularity(v)
    if protrusion == "nodule":
        return _Outcome(
            "IV", "Class IV: enhancing nodule (>=4 mm with obtuse margins, or any size with acute margins)"
        )
    if protrusion == "irregular":
        return _Outcome("III", "Class III: enhancing irregular wall or septum (<=3 mm obtuse protrusion)")
    wall, septa, septa_thickness, septa_enhancing = _wall_and_septa(v)
    wall_enhancing = need(v, "wall_enhancing") if wall != "thin" else v["wall_enhancing"]
    if wall == "thick" and wall_enhancing:
        return _Outcome("III", "Class III: enhancing thick (>=4 mm) wall")
    if septa_thickness == "thick" and septa_enhancing:
        return _Outcome("III", "Class III: enhancing thick (>=4 mm) septum")
    if wall == "minimally_thickened" and wall_enhancing:
        return _Outcome("IIF", "Class IIF: smooth minimally thickened (3 mm) enhancing wall")
    if septa_thickness == "minimally_thickened" and septa_enhancing:
        return _Outcome("IIF", "Class IIF: smooth minimally thickened (3 mm) enhancing septum/septa")
    if septa == "many" and septa_enhancing:
        return _Outcome("IIF", "Class IIF: many (>=4) smooth thin enhancing septa")
    if v["t1_signal"] == "heterogeneous_hyperintense" and need(v, "modality") == "mri":
        return _Outcome("IIF", "Class IIF (MRI): heterogeneously hyperintense on unenhanced fat-saturated T1")
    if wall != "thin":
        return _Outcome(None, f"Nonenhancing {wall.replace('_', ' ')} wall: {_UNDEFINED}", "not_determined")
    if septa != "none":
        return _septated(v, septa, septa_thickness)
    return _homogeneous(v)


def _septated(v: dict[str, Any], septa: str, thickness: str | None) -> _Outcome:
    if thickness != "thin":
        return _Outcome(
            None, f"Nonenhancing {str(thickness).replace('_', ' ')} septa: {_UNDEFINED}", "not_determined"
        )
    if septa == "few":
        return _Outcome(
            "II",
            "Class II (type 1): thin smooth wall, few (1-3) thin septa (may enhance); calcification allowed",
        )
    if need(v, "modality") == "mri":
        return _Outcome("II", "Class II (MRI type 1): thin nonenhancing septa, any number")
    return _Outcome(None, f"Many (>=4) thin nonenhancing septa on CT: {_UNDEFINED}", "not_determined")


def _class_i_or_ii(v: dict[str, Any], fluid: str) -> _Outcome:
    if v["calcification"] in {"present", "thick_or_nodular"}:
        return _Outcome("II", f"Class II: {fluid} with thin smooth wall but calcification (class I has none)")
    return _Outcome("I", f"Class I: thin smooth wall, {fluid}, no septa or calcification")


def _homogeneous(v: dict[str, Any]) -> _Outcome:
    modality = need(v, "modality")
    if not need(v, "homogeneous"):
        return _Outcome(
            None, f"Heterogeneous contents without septa or wall features: {_UNDEFINED}", "not_determined"
        )
    if modality == "ct":
        return _ct_homogeneous(v)
    if need(v, "t2_signal") == "csf_like":
        if need(v, "phase") == "contrast_enhanced":
            return _class_i_or_ii(v, "homogeneous fluid signal like CSF at contrast-enhanced MRI")
        return _Outcome(
            "II", "Class II (MRI type 2): homogeneous markedly T2-hyperintense (CSF-like) at noncontrast MRI"
        )
    if need(v, "t1_signal") == "homogeneous_markedly_hyperintense":
        return _Outcome(
            "II", "Class II (MRI type 3): homogeneous markedly T1-hyperintense (about >=2.5x parenchyma)"
        )
    return _Outcome(
        None,
        f"Homogeneous mass, MRI signal neither CSF-like nor markedly T1-hyperintense: {_UNDEFINED}",
        "not_determined",
    )


def _ct_homogeneous(v: dict[str, Any]) -> _Outcome:
    hu, phase = need(v, "attenuation_hu", "phase")
    hu = round_half_up(hu)
    if hu < -9:
        return _Outcome(
            None, f"{hu} HU is below the -9 to 20 HU simple-fluid range: {_UNDEFINED}", "not_determined"
        )
    if phase == "noncontrast":
        if hu <= 20:
            return _Outcome(
                "II", f"Class II (CT type 4): homogeneous -9 to 20 HU ({hu} HU) at noncontrast CT"
            )
        if hu >= 70:
            return _Outcome("II", f"Class II (CT type 2): homogeneous >=70 HU ({hu} HU) at noncontrast CT")
        return _indeterminate(f"Homogeneous 21-69 HU ({hu} HU) at noncontrast CT")
    if hu <= 20:
        return _class_i_or_ii(v, f"homogeneous simple fluid -9 to 20 HU ({hu} HU) at contrast-enhanced CT")
    if phase == "portal_venous":
        if hu <= 30:
            return _Outcome("II", f"Class II (CT type 5): homogeneous 21-30 HU ({hu} HU) at portal-venous CT")
        return _indeterminate(f"Homogeneous >30 HU ({hu} HU) at portal-venous CT")
    if need(v, "mass_enhancing"):
        return _Outcome(None, "Homogeneous enhancing mass: a solid mass, not a cystic mass", "not_applicable")
    return _Outcome(
        "II", f"Class II (CT type 3): homogeneous nonenhancing >20 HU ({hu} HU) at renal-mass-protocol CT"
    )


def _indeterminate(what: str) -> _Outcome:
    return _Outcome(
        None,
        f"{what}: indeterminate, no Bosniak class at this exam [med]",
        "not_determined",
        _FURTHER_IMAGING,
    )


# --- result ----------------------------------------------------------------------------------------

# Values tried when an enumerable input is missing; the first one's path decides what to ask first.
_CHOICES: dict[str, tuple[Any, ...]] = {
    "modality": ("ct", "mri"),
    "protrusion": (False, True),
    "protrusion_enhancing": (False, True),
    "protrusion_margins": ("obtuse", "acute"),
    "wall_thickness": ("thin", "minimally_thickened", "thick"),
    "wall_enhancing": (False, True),
    "septa": ("none", "few", "many"),
    "septa_thickness": ("thin", "minimally_thickened", "thick"),
    "septa_enhancing": (False, True),
    "homogeneous": (True, False),
    "mass_enhancing": (False, True),
    "t2_signal": ("csf_like", "other"),
    "t1_signal": ("other", "homogeneous_markedly_hyperintense", "heterogeneous_hyperintense"),
}
_IGNORED_2005 = (
    ("calcification", "calcification (any pattern) does not upgrade a cystic mass in v2019"),
    ("intrarenal", "totally intrarenal location does not upgrade a cystic mass in v2019"),
    ("size_mm", "size does not change the Bosniak 2019 class"),
)


def _values(inp: BosniakInput) -> dict[str, Any]:
    """Inputs with the categorical fields derived from their numbers and the modality inferred."""
    v = inp.model_dump()
    if inp.wall_thickness_mm is not None:
        v["wall_thickness"] = _thickness(inp.wall_thickness_mm)
    if inp.septa_thickness_mm is not None:
        v["septa_thickness"] = _thickness(inp.septa_thickness_mm)
    if inp.septa_count is not None:
        v["septa"] = _amount(inp.septa_count)
    if v["modality"] is None:
        if inp.attenuation_hu is not None or inp.too_small_to_characterize or inp.phase in _CT_PHASES[1:]:
            v["modality"] = "ct"
        elif inp.t1_signal is not None or inp.t2_signal is not None or inp.phase == "contrast_enhanced":
            v["modality"] = "mri"
    return v


_SOLID = (
    "A mass with >=25% enhancing tissue is a solid renal mass, not a cystic one: Bosniak does not apply; "
    "characterise it as a solid renal mass (renal-mass-protocol CT or MRI)."
)


def _scope(inp: BosniakInput) -> str | None:
    if inp.excluded_condition is not None:
        what = {
            "infection_or_inflammation": "infectious or inflammatory lesions",
            "vascular": "vascular lesions",
            "hereditary_rcc_syndrome": "patients with hereditary RCC syndromes",
        }[inp.excluded_condition]
        return (
            f"Bosniak 2019 excludes {what}; manage according to the underlying condition (syndrome-specific "
            "surveillance for hereditary RCC syndromes)."
        )
    if inp.enhancing_tissue_percent is not None and inp.enhancing_tissue_percent >= 25:
        return _SOLID
    return None


def _caveats(inp: BosniakInput, values: dict[str, Any], outcome: _Outcome) -> list[str]:
    caveats = []
    if inp.enhancing_tissue_percent is None:
        caveats.append("Assumes a cystic mass (<25% enhancing tissue); >=25% would make it a solid mass.")
    if outcome.category == "I" and inp.calcification is None:
        caveats.append(
            "Calcification not stated, taken as absent: with calcification the class is II (same management)."
        )
    if values["modality"] == "mri" and inp.t1_signal is None and outcome.category in {"I", "II"}:
        caveats.append(
            "Unenhanced T1 signal not stated: heterogeneous T1 hyperintensity would make this IIF."
        )
    if outcome.kind == "not_determined" and outcome.management is not None:
        caveats.append(
            "Indeterminate attenuation and the advice of further imaging are marked [med] in the project "
            "reference (recalled from Bosniak 2019, not re-verified)."
        )
    if outcome.category is not None:
        caveats.append(_MED_CAVEAT)
    return caveats


def _decide(inp: BosniakInput) -> ClassificationResult:
    base = {"system": "bosniak", "guideline": GUIDELINE, "citation": CITATION}
    used = inp.model_dump(exclude_none=True)
    reason = _scope(inp)
    if reason is not None:
        return ClassificationResult(**base, not_applicable=reason, inputs=used)
    values = _values(inp)
    used.update(
        {k: values[k] for k in ("modality", "wall_thickness", "septa", "septa_thickness") if values[k]}
    )
    outcomes, needed, stuck = explore(_evaluate, values, _CHOICES, limit=512)
    keys = {o.key for _, o in outcomes}
    if stuck or len(keys) != 1:
        classes = sorted({o.category or o.kind.replace("_", " ") for _, o in outcomes})
        rationale = (
            [f"The result depends on the missing inputs (e.g. {' or '.join(classes)})"] if classes else []
        )
        return ClassificationResult(**base, missing=sorted(needed), rationale=rationale, inputs=used)
    outcome = outcomes[0][1]
    if outcome.kind == "not_applicable":
        return ClassificationResult(**base, not_applicable=f"{outcome.rule}. {_SOLID}", inputs=used)
    rationale = [f"Modality: {values['modality'].upper()}"] if values["modality"] else []
    rationale.append(outcome.rule)
    unstated = sorted({k for a, _ in outcomes for k in a})
    if unstated:
        rationale.append(f"Not stated: {', '.join(unstated)}; every possible value gives the same result")
    rationale += [f"{name}: {why}" for name, why in _IGNORED_2005 if getattr(inp, name) not in (None, "none")]
    if (
        inp.wall_thickness_mm is not None
        or inp.septa_thickness_mm is not None
        or inp.protrusion_mm is not None
    ):
        rationale.append(
            "Millimetre measurements rounded half up to whole mm (thin <=2, minimally thickened 3, thick >=4)"
        )
    return ClassificationResult(
        **base,
        category=outcome.category,
        management=_MANAGEMENT.get(outcome.category or "", outcome.management),
        risk=_RISK.get(outcome.category or ""),
        rationale=rationale,
        caveats=_caveats(inp, values, outcome),
        inputs=used,
        details={"rule": outcome.rule, "result": outcome.kind},
    )


# --- extraction --------------------------------------------------------------------------------------

# "non-enhancing" -> "non_enhancing": keeps offsets and stops "non" reading as a negation.
_NON_PREFIX = re.compile(r"\bnon[- ](?=(?:enhancing|contrast|septated)\b)", re.IGNORECASE)
_I = re.IGNORECASE
_BOUND = re.compile(
    r"(?:<|>|≤|≥|=<|>=|\bup to|\bless than|\bgreater than|\bmore than|\bat least|\bunder|\bover|\bbelow|\babove)\s*$",
    _I,
)
_CLAUSE = re.compile(r"[.;,:()\n]|\b(?:with|and|but|or|while|whereas|which|that)\b", _I)
_MM_BEFORE = re.compile(r"(\d+(?:\.\d+)?)\s*mm\b", _I)
_MM_AFTER = re.compile(
    r"\s*(?:thickness\s+)?(?:of\s+|measuring\s+|measures\s+|is\s+|up\s+to\s+|<\s*|>\s*)?(\d+(?:\.\d+)?)\s*mm\b",
    _I,
)
# Word -> thickness class; plain "thickened" is not settled (minimally thickened 3 mm, or thick >=4 mm?).
_THICKNESS_WORDS = (
    ("minimally_thickened", r"\bminimal(?:ly)?\s+thick(?:ened|ening)?\b"),
    (None, r"\bthicken(?:ed|ing)\b"),
    ("thick", r"\bthick\b"),
    ("thin", r"\b(?:thin|hairline|imperceptible)\b"),
)
_COUNT = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|single|a|an|few|many|numerous|multiple|several)\b"
    r"(?!\s*(?:mm|cm|%|HU)\b)",
    _I,
)
_SEPTA = re.compile(r"\b(?:septa|septae|septum|septations?)\b", _I)
_WALL = re.compile(r"\bwalls?\b", _I)
_NODULE = re.compile(
    r"\b(?:mural\s+)?(?:nodules?|nodularity|protrusions?|soft[- ]tissue\s+components?|solid\s+components?)\b",
    _I,
)
_IRREGULAR = re.compile(
    r"\birregular(?:ly)?\s+(?:thick(?:ened)?\s+)?(?:enhancing\s+)?(?:walls?|septa|septum|septations?|thickening)\b"
    r"|\b(?:wall|septal|septum)\s+irregularit(?:y|ies)\b|\birregularit(?:y|ies)\b",
    _I,
)
_MARGINS_BEFORE = re.compile(r"\b(acute|obtuse)(?:ly)?(?:[- ]angled)?\b", _I)
_MARGINS_AFTER = re.compile(r"\s*,?\s*(?:with\s+)?(acute|obtuse)(?:ly)?(?:[- ]angled)?\b", _I)
_HU = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s*(?:HU|Hounsfield\s+units?)\b", _I)
_HU_RANGE = re.compile(r"-?\d+(?:\.\d+)?\s*(?:HU\s*)?(?:-|–|to)\s*-?\d+(?:\.\d+)?\s*HU\b", _I)
_PHASES = {
    "renal_mass_protocol": (r"\brenal[- ]mass[- ]protocol\b", r"\brenal\s+protocol\b"),
    "noncontrast": (
        r"\bnon_?contrast\b",
        r"\bunenhanced\b",
        r"\bwithout\s+(?:iv\s+|intravenous\s+)?contrast\b",
    ),
    "portal_venous": (r"\bportal[- ]venous\b",),
    "contrast_enhanced": (
        r"\bcontrast[- ]enhanced\b",
        r"\bpost-?contrast\b",
        r"\bgadolinium\b",
        r"\bsubtraction\b",
    ),
}
_MODALITY = {
    "ct": (r"\bCT\b", r"\bcomputed\s+tomography\b"),
    "mri": (r"\bMRI?\b", r"\bmagnetic\s+resonance\b"),
}
_CSF_LIKE = (
    r"\bmarked(?:ly)?\s+T2[- ]?(?:weighted\s+)?hyperintens\w*",
    r"\bmarked(?:ly)?\s+hyperintense\s+on\s+T2",
    r"\b(?:similar\s+to|like|isointense\s+to|follows?)\s+(?:the\s+)?CSF\b",
    r"\bCSF[- ]like\b",
)
_T2_ANY = (r"\bT2[- ]?(?:weighted\s+)?hyperintens\w*", r"\bhyperintense\s+on\s+T2")
_T1_HETEROGENEOUS = (
    r"\bheterogeneous(?:ly)?\s+T1[- ]?(?:weighted\s+)?hyperintens\w*",
    r"\bheterogeneous(?:ly)?\s+hyperintense\s+on\s+(?:[\w-]+\s+){0,3}T1\b",
)
_T1_MARKED = (
    r"\bmarked(?:ly)?\s+T1[- ]?(?:weighted\s+)?hyperintens\w*",
    r"\bmarked(?:ly)?\s+hyperintense\s+on\s+T1",
)
_T1_ANY = (r"\bT1[- ]?(?:weighted\s+)?hyperintens\w*", r"\bhyperintense\s+on\s+(?:[\w-]+\s+){0,3}T1\b")
_NOT_ENHANCING = (
    r"\bdoes\s+not\s+enhance\b",
    r"\bno\s+(?:internal\s+|measurable\s+|significant\s+)?enhancement\b",
    r"\bnon_?enhancing\s+(?:homogeneous\s+)?(?:mass|lesion|cyst)\b",
    r"\bhomogeneous(?:ly)?\s+non_?enhancing\b",
)
_ENHANCING_MASS = (r"\b(?:mass|lesion)\s+enhances\b",)
_EXCLUSIONS = {
    "infection_or_inflammation": (r"\babscess\b", r"\binfected\s+cyst\b", r"\bpyelonephritis\b"),
    "vascular": (
        r"\b(?:renal\s+artery\s+)?(?:pseudo)?aneurysm\b",
        r"\barteriovenous\s+(?:malformation|fistula)\b",
        r"\bAVM\b",
    ),
    "hereditary_rcc_syndrome": (
        r"\bvon\s+Hippel[- ]Lindau\b",
        r"\bVHL\b",
        r"\btuberous\s+sclerosis\b",
        r"\bBirt[- ]Hogg[- ]Dub[ée]\b",
        r"\bhereditary\s+leiomyomatosis\b",
        r"\bHLRCC\b",
    ),
}
_PERCENT = (
    r"(?<![\d.])(\d+(?:\.\d+)?)\s*%\s+(?:of\s+(?:the\s+)?(?:mass|lesion)\s+)?(?:is\s+)?(?:enhancing|solid)",
    r"\benhancing\s+(?:soft\s+)?tissue\s+(?:of\s+|comprising\s+|about\s+|approximately\s+)?(\d+(?:\.\d+)?)\s*%",
)
_Found = list[tuple[Any, int, int]]


class _Reader(Reading):
    """A Reading over the text with "non-" prefixes joined, plus the spans whose sizes are already used."""

    def __init__(self, text: str) -> None:
        super().__init__(text, _NON_PREFIX.sub("non_", text))
        self.sized_spans: list[tuple[int, int]] = []


@dataclass(frozen=True)
class _Phrase:
    """One mention of a wall, septum, nodule or irregularity, with the words of its clause around it."""

    start: int
    end: int
    noun: str
    before: str
    after: str
    negated: bool

    def size_mm(self) -> tuple[float | None, bool]:
        """(size, inexact): the mm figure attached to the phrase; a bound ('up to 3 mm') is inexact."""
        m = _MM_BEFORE.search(self.before)
        if m is not None:
            return float(m.group(1)), bool(_BOUND.search(self.before[: m.start()]))
        m = _MM_AFTER.match(self.after)
        if m is not None:
            return float(m.group(1)), bool(re.search(r"up\s+to|<|>", m.group(0), _I))
        return None, False

    @property
    def words(self) -> str:
        return f"{self.before} {self.noun}"

    @property
    def tail(self) -> str:
        """The words after the noun up to the end of its clause (for evidence)."""
        return re.split(r"[.;,\n]", self.after, maxsplit=1)[0]

    def thickness(self) -> tuple[str | None, bool]:
        """(class, stated): the thickness word of the phrase; plain 'thickened' is (None, True)."""
        for value, pattern in _THICKNESS_WORDS:
            if re.search(pattern, self.words, _I) or re.match(
                rf"\s+(?:is\s+|are\s+)?{pattern}", self.after, _I
            ):
                return value, True
        return None, False

    def enhancing(self) -> bool | None:
        if re.search(r"\bnon_?enhancing\b", self.words, _I):
            return False
        if re.match(r"\s+(?:do|does)\s+not\s+enhance", self.after, _I):
            return False
        if re.search(r"\benhancing\b", self.words, _I):
            return True
        if re.match(r"\s+(?:that\s+|which\s+)?(?:enhances?|enhancement)\b", self.after, _I):
            return True
        return None

    def margins(self) -> str | None:
        m = _MARGINS_BEFORE.search(self.before) or _MARGINS_AFTER.match(self.after)
        return m.group(1).lower() if m else None


def _phrases(r: _Reader, noun: re.Pattern[str]) -> list[_Phrase]:
    found = []
    for m in noun.finditer(r.norm):
        left = max(0, m.start() - 60)
        cut = max([left, *(c.end() for c in _CLAUSE.finditer(r.norm, left, m.start()))])
        after = r.norm[m.end() : m.end() + 40]
        found.append(
            _Phrase(
                cut,
                m.end(),
                m.group(0).lower(),
                r.norm[cut : m.start()],
                after,
                is_negated(r.norm, m.start()),
            )
        )
    return found


def _read_layer(r: _Reader, phrases: list[_Phrase], prefix: str) -> None:
    """Thickness (word or mm) and enhancement of the wall or the septa."""
    words: _Found = []
    sizes: _Found = []
    enhancing: _Found = []
    for p in phrases:
        if p.negated:
            if re.match(r"\s+enhancement\b", p.after, _I):  # "no wall enhancement"
                enhancing.append((False, p.start, p.end))
            continue
        mm, inexact = p.size_mm()
        if inexact:
            r.unsettled.add(f"{prefix}_thickness")
        elif mm is not None:
            sizes.append((mm, p.start, p.end + len(p.tail)))
            r.sized_spans.append((p.start, p.end + len(p.after)))
        else:
            word, stated = p.thickness()
            if word is not None:
                words.append((word, p.start, p.end + len(p.tail)))
            elif stated:
                r.unsettled.add(f"{prefix}_thickness")
        if (enh := p.enhancing()) is not None:
            enhancing.append((enh, p.start, p.end + len(p.tail)))
    r.settle_spans(f"{prefix}_thickness_mm", sizes)
    mm = r.inputs.get(f"{prefix}_thickness_mm")
    if mm is not None and any(word != _thickness(mm) for word, _, _ in words):
        r.inputs.pop(f"{prefix}_thickness_mm")
        r.unsettled.add(f"{prefix}_thickness")
    elif mm is None:
        r.settle_spans(f"{prefix}_thickness", words)
    r.settle_spans(f"{prefix}_enhancing", enhancing)


def _read_septa(r: _Reader) -> None:
    counts: _Found = []
    amounts: _Found = []
    phrases = _phrases(r, _SEPTA)
    for p in phrases:
        if p.negated:
            counts.append((0, p.start, p.end))
            continue
        m = _COUNT.search(p.before)
        word = m.group(1).lower() if m else None
        if word in {"few", "many", "numerous"}:
            amounts.append(("few" if word == "few" else "many", p.start, p.end))
        elif word in {"multiple", "several"}:
            r.unsettled.add("septa")
        elif word is not None:
            counts.append((1 if word in {"a", "an", "single"} else word_number(word), p.start, p.end))
        elif p.noun in {"septum", "septation"}:
            counts.append((1, p.start, p.end))
    counts += [
        (0, m.start(), m.end()) for m in r.matches((r"\b(?:non_?septated|unseptated)\b",), negated=None)
    ]
    r.settle_spans("septa_count", counts)
    if "septa_count" not in r.inputs:
        r.settle_spans("septa", amounts)
    if r.inputs.get("septa_count") != 0 and r.inputs.get("septa") != "none":
        _read_layer(r, [p for p in phrases if not p.negated], "septa")


def _read_protrusion(r: _Reader) -> None:
    present: _Found = []
    sizes: _Found = []
    margins: _Found = []
    enhancing: _Found = []
    nodule_excluded = irregularity_excluded = False
    for p in _phrases(r, _NODULE) + _phrases(r, _IRREGULAR):
        is_irregular = p.noun.startswith(("irregular", "wall", "septal", "septum"))
        if p.negated:
            if is_irregular:
                irregularity_excluded = True
            else:
                nodule_excluded = True
            continue
        end = p.end + len(p.tail)
        present.append((True, p.start, end))
        mm, inexact = p.size_mm()
        if inexact:
            r.unsettled.add("protrusion_mm")
        elif mm is not None and not is_irregular:
            sizes.append((mm, p.start, end))
            r.sized_spans.append((p.start, p.end + len(p.after)))
        # Bosniak 2019 defines "irregular" as a <=3 mm protrusion with obtuse margins.
        side = "obtuse" if is_irregular else p.margins()
        if side is not None:
            margins.append((side, p.start, end))
        if (enh := p.enhancing()) is not None:
            enhancing.append((enh, p.start, end))
    if r.matches((r"\bsmooth\b",)):
        irregularity_excluded = True
    if present:
        r.settle_spans("protrusion", present[:1])
        r.settle_spans("protrusion_mm", sizes)
        r.settle_spans("protrusion_margins", margins)
        r.settle_spans("protrusion_enhancing", enhancing)
    elif nodule_excluded and irregularity_excluded:
        m = r.matches((_NODULE.pattern,), negated=True)[0]
        r.put("protrusion", False, m.start(), m.end())


def _read_exam(r: _Reader) -> None:
    r.settle_spans(
        "modality",
        [(k, m.start(), m.end()) for k, ps in _MODALITY.items() for m in r.matches(ps, negated=None)],
    )
    phases = {k: r.matches(ps, negated=None) for k, ps in _PHASES.items()}
    modality = r.inputs.get("modality")
    if phases["renal_mass_protocol"]:
        m = phases["renal_mass_protocol"][0]
        r.put("phase", "renal_mass_protocol", m.start(), m.end())
    else:
        if modality != "mri":
            phases.pop("contrast_enhanced")  # "contrast-enhanced CT" does not name the CT phase
        r.settle_spans("phase", [(k, m.start(), m.end()) for k, ms in phases.items() for m in ms])
    if _HU_RANGE.search(r.norm):
        r.unsettled.add("attenuation_hu")
    else:
        values = [(float(m.group(1)), m.start(), m.end()) for m in _HU.finditer(r.norm)]
        if any(_BOUND.search(r.norm[max(0, s - 14) : s]) for _, s, _ in values):
            r.unsettled.add("attenuation_hu")
        else:
            r.settle_spans("attenuation_hu", values)
    homogeneous = [(True, m.start(), m.end()) for m in r.matches((r"\bhomogeneous(?:ly)?\b",))]
    homogeneous += [(False, m.start(), m.end()) for m in r.matches((r"\bheterogeneous(?:ly)?\b",))]
    r.settle_spans("homogeneous", homogeneous)
    enhancing = [(False, m.start(), m.end()) for m in r.matches(_NOT_ENHANCING, negated=None)]
    enhancing += [(True, m.start(), m.end()) for m in r.matches(_ENHANCING_MASS)]
    r.settle_spans("mass_enhancing", enhancing)


def _read_signal(r: _Reader) -> None:
    csf = r.matches(_CSF_LIKE)
    if csf:
        r.put("t2_signal", "csf_like", csf[0].start(), csf[0].end())
    elif r.matches(_T2_ANY):
        r.unsettled.add("t2_signal")  # "T2 hyperintense" is not "markedly, like CSF"
    heterogeneous, marked = r.matches(_T1_HETEROGENEOUS), r.matches(_T1_MARKED)
    if heterogeneous:
        r.put("t1_signal", "heterogeneous_hyperintense", heterogeneous[0].start(), heterogeneous[0].end())
    elif marked and r.inputs.get("homogeneous") is True:
        r.put("t1_signal", "homogeneous_markedly_hyperintense", marked[0].start(), marked[0].end())
    elif r.matches(_T1_ANY):
        r.unsettled.add("t1_signal")


def _read_context(r: _Reader) -> None:
    calcification: _Found = []
    for m in r.matches((r"\bcalcif\w*",), negated=None):
        if is_negated(r.norm, m.start()):
            calcification.append(("none", m.start(), m.end()))
        else:
            coarse = re.search(
                r"\b(?:thick|nodular|coarse|chunky)\b", r.norm[max(0, m.start() - 20) : m.start()], _I
            )
            calcification.append(("thick_or_nodular" if coarse else "present", m.start(), m.end()))
    r.settle_spans("calcification", calcification)
    small = r.matches((r"\btoo\s+small\s+to\s+(?:be\s+)?characteri[sz]ed?\b", r"\bTSTC\b"))
    if small:
        r.put("too_small_to_characterize", True, small[0].start(), small[0].end())
    for value, patterns in _EXCLUSIONS.items():
        if found := r.matches(patterns):
            r.put("excluded_condition", value, found[0].start(), found[0].end())
    percent = [(float(m.group(1)), m.start(), m.end()) for p in _PERCENT for m in re.finditer(p, r.norm, _I)]
    r.settle_spans("enhancing_tissue_percent", percent)
    intrarenal = [
        (True, m.start(), m.end())
        for m in r.matches((r"\b(?:totally\s+|completely\s+|entirely\s+)?intrarenal\b",))
    ]
    intrarenal += [(False, m.start(), m.end()) for m in r.matches((r"\bexophytic\b",))]
    r.settle_spans("intrarenal", intrarenal)
    sizes = [
        s
        for s in find_measurements(r.norm)
        if not any(a <= s.start < b for a, b in r.sized_spans)
        and not _BOUND.search(r.norm[max(0, s.start - 14) : s.start])
    ]
    if len({s.longest_mm for s in sizes}) == 1:
        r.put("size_mm", sizes[0].longest_mm, sizes[0].start, sizes[0].end)


def extract(text: str) -> Extraction:
    """Read Bosniak inputs from a free-text finding; only what is stated, never a guess.

    Understood: CT/MRI and phase (noncontrast/unenhanced, portal venous, renal mass protocol, MRI
    post-contrast); wall and septa as thin / minimally thickened / thick or in mm, enhancing or not;
    septa counts ("two thin septa", "a 3 mm septum", "few", "many"; "multiple" stays undetermined);
    nodules with size, margins (acute/obtuse) and enhancement; "irregular" wall or septa (obtuse by
    the 2019 definition); "smooth" plus "no nodule" -> no protrusion; HU (ranges and bounds stay
    undetermined); homogeneous/heterogeneous; "markedly T2 hyperintense"/"like CSF" (plain "T2
    hyperintense" stays undetermined); T1 signal; calcification, too small to characterise, exclusions,
    % enhancing tissue, size and intrarenal location (context).
    """
    r = _Reader(text)
    _read_layer(r, _phrases(r, _WALL), "wall")
    _read_septa(r)
    _read_protrusion(r)
    _read_exam(r)
    _read_signal(r)
    _read_context(r)
    return r.finish("bosniak", BosniakInput, _decide)


@tool(
    name="bosniak",
    description="Bosniak 2019 class (I, II, IIF, III, IV) and management for a cystic renal mass on CT or MRI "
    "(<25% enhancing tissue), from wall, septa, nodules, attenuation or MRI signal.",
    version="Bosniak v2019",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="Bosniak",
    example="Cystic renal mass on CT with a 3 mm smooth enhancing septum: Bosniak class?",
    categories=CATEGORIES,
    # the same feature as a word or as a number: a follow-up giving one replaces the other
    exclusive_groups=(
        ("wall_thickness", "wall_thickness_mm"),
        ("septa", "septa_count"),
        ("septa_thickness", "septa_thickness_mm"),
    ),
)
def classify(inp: BosniakInput) -> ClassificationResult:
    """Classify a cystic renal mass by its most severe Bosniak 2019 feature (see the module docstring)."""
    return _decide(inp)
