"""O-RADS US v2022 risk category (0-5) of an adnexal lesion in an average-risk patient.

Lexicon (ACR O-RADS US v2022, Strachowski et al. 2023): lesion type (simple cyst; unilocular, bilocular
or multilocular cyst with or without a solid component; solid lesion = >=80% solid; classic benign
lesions), inner wall (irregular = <3 mm), outer contour of solid lesions, largest diameter in any plane,
colour score 1-4, acoustic shadowing, ascites/peritoneal nodules, menopausal status (postmenopausal =
amenorrhoea >=1 year). Size input is in millimetres; the 10 cm threshold is ">=10 cm -> O-RADS 3" for
unilocular/bilocular smooth cysts and classic benign lesions (a peer's "<= 10 cm" is wrong at exactly 10).

Decided in this order: incomplete evaluation (0); ascites and/or peritoneal nodules (5); then the row of
the risk-stratification table for the lesion type. Points the project reference marks [open] are not
invented: a bilocular cyst with an irregular inner wall and a smooth solid lesion with shadowing and
colour score 4 get no category ("not determined" with a caveat), and O-RADS 2 management says that the
follow-up interval is not determined here.

Presence-only inputs (absent when not given, with a caveat when that matters): incomplete_evaluation,
ascites_or_peritoneal_nodules, shadowing. Category spellings: "0".."5".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tools.classify._decide import explore, need, presence_changes, reject_bool
from tools.classify._extract import Reading
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import ReadAsAbsent
from tools.classify.text import find_measurements, is_negated, word_number
from tools.registry import CategorySpelling, tool

GUIDELINE = "O-RADS US v2022"
CITATION = (
    "Strachowski LM, Jha P, Phillips CH, et al. O-RADS US v2022: An Update from the American College of "
    "Radiology's Ovarian-Adnexal Reporting and Data System US Committee. Radiology 2023;308(3):e230685 "
    "(risk stratification and management table; lexicon). v2019 original: Andreotti RF, et al. Radiology "
    "2020;294(1):168-185"
)

LesionType = Literal[
    "simple_cyst",
    "unilocular_cyst",
    "bilocular_cyst",
    "multilocular_cyst",
    "solid",
    "hemorrhagic_cyst",
    "dermoid",
    "endometrioma",
    "paraovarian_cyst",
    "peritoneal_inclusion_cyst",
    "hydrosalpinx",
    "corpus_luteum",
]
Contour = Literal["smooth", "irregular"]
Menopause = Literal["premenopausal", "postmenopausal"]

# Issue 11 (tools.classify.conditional): the only descriptor read as absent is the solid component of a
# smooth-walled unilocular or bilocular cyst, in the extractor (`_smooth_states_no_solid`), because the smooth
# wall is the stated words that imply it. Ascites, shadowing and incomplete evaluation are presence-only in
# the tool (not given = absent, with a caveat saying what their presence would give).
READ_AS_ABSENT: tuple[ReadAsAbsent, ...] = ()
SEVERITY = ("1", "2", "3", "4", "5")
ORDINAL = True

TRIGGERS: tuple[str, ...] = (
    r"\bo-?\s?rads\b",
    r"\badnex\w*",
    r"\bovar(?:y|ian|ies)\b",
    r"\bpara-?ovarian\b",
    r"\bendometrioma\b",
    r"\bdermoid\b",
    r"\bhydrosalpinx\b",
)

# How prose writes the categories, read by verification to check a model's category claims.
CATEGORIES = CategorySpelling(r"\bo-?rads\s*(?:us\s*)?(?:category\s*|score\s*)?([0-5])\b")

_CYSTS = ("unilocular_cyst", "bilocular_cyst", "multilocular_cyst")
_CLASSIC_SIZED = ("hemorrhagic_cyst", "dermoid", "endometrioma")
_EXTRA_OVARIAN = ("paraovarian_cyst", "peritoneal_inclusion_cyst", "hydrosalpinx")


class ORadsInput(BaseModel):
    """One adnexal lesion on ultrasound, described with the O-RADS US v2022 lexicon."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    incomplete_evaluation: bool | None = Field(
        default=None, description="Evaluation incomplete for technical reasons (O-RADS 0)."
    )
    lesion_type: LesionType | None = Field(
        default=None,
        description="Lexicon lesion type: simple_cyst; unilocular_cyst, bilocular_cyst, multilocular_cyst "
        "(non-simple; say whether there is a solid component); solid (>=80% solid); classic benign lesions "
        "hemorrhagic_cyst, dermoid, endometrioma (typical features), paraovarian_cyst (simple), "
        "peritoneal_inclusion_cyst, hydrosalpinx; corpus_luteum.",
    )
    solid_component: bool | None = Field(
        default=None,
        description="Cyst has a solid component (element protruding >=3 mm into the lumen; papillary "
        "projections count).",
    )
    papillary_projections: Annotated[int, BeforeValidator(reject_bool)] | None = Field(
        default=None,
        ge=0,
        le=50,
        description="Number of papillary projections (solid component surrounded by fluid on 3 sides); "
        "matters for unilocular cysts with a solid component (0-3 vs >=4).",
    )
    inner_wall: Contour | None = Field(
        default=None, description="Inner wall of a cyst without solid component: smooth or irregular (<3 mm)."
    )
    outer_contour: Contour | None = Field(default=None, description="Outer contour of a solid lesion.")
    max_diameter_mm: Annotated[float, BeforeValidator(reject_bool)] | None = Field(
        default=None, gt=0, le=1000, description="Largest diameter of the lesion in any plane, in mm."
    )
    color_score: Annotated[int, BeforeValidator(reject_bool)] | None = Field(
        default=None,
        ge=1,
        le=4,
        description="Colour score 1 (no flow) to 4 (very strong flow) of the lesion / solid component.",
    )
    shadowing: bool | None = Field(default=None, description="Acoustic shadowing (solid lesions).")
    ascites_or_peritoneal_nodules: bool | None = Field(
        default=None,
        description="Ascites (beyond physiologic pelvic fluid) and/or peritoneal nodules not otherwise explained.",
    )
    menopausal_status: Menopause | None = Field(
        default=None, description="premenopausal or postmenopausal (amenorrhoea >=1 year)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ORadsInput:
        kind = self.lesion_type
        if self.papillary_projections and self.solid_component is False:
            raise ValueError("papillary_projections > 0 but solid_component is false (a projection is solid)")
        if kind == "simple_cyst" and (
            self.solid_component or self.papillary_projections or self.inner_wall == "irregular"
        ):
            raise ValueError(
                "lesion_type 'simple_cyst' has a smooth wall and no solid component; check solid_component, "
                "papillary_projections, inner_wall"
            )
        if kind == "corpus_luteum" and self.menopausal_status == "postmenopausal":
            raise ValueError("lesion_type 'corpus_luteum' contradicts menopausal_status 'postmenopausal'")
        if self.papillary_projections and kind is not None and kind not in _CYSTS:
            raise ValueError(f"papillary_projections apply to cysts, not to lesion_type {kind!r}")
        return self


# --- outcome (rules read inputs lazily; `explore` tries every value of an unknown enumerable one) ----


@dataclass(frozen=True)
class _Outcome:
    """A category, or None ('not determined') with the reason."""

    category: str | None
    rule: str

    @property
    def key(self) -> str | None:
        return self.category


# --- risk stratification (O-RADS US v2022 table) ---------------------------------------------------

_TEN_CM = 100  # mm; ">=10 cm" rows include exactly 10 cm
_THREE_CM = 30  # mm; follicle / corpus luteum "<=3 cm", simple cyst O-RADS 2 ">3 cm"

# Management per category, paraphrased from the v2022 table. O-RADS 2 intervals are [open] here.
_MANAGEMENT = {
    "0": "Repeat ultrasound or MRI.",
    "1": "No further management.",
    "2": "Almost certainly benign. The O-RADS table gives lesion-specific follow-up for this lesion type; it is "
    "not determined by this tool (see the O-RADS US v2022 management table).",
    "3": "Refer to a gynaecologist. If not excised: ultrasound follow-up within 6 months, or evaluation by an "
    "ultrasound specialist or MRI.",
    "4": "Ultrasound specialist or MRI (O-RADS MRI score), or per gynaecologic oncologist; management by a "
    "gynaecologist with gynaecologic-oncologist consultation, or by a gynaecologic oncologist.",
    "5": "Refer to a gynaecologic oncologist.",
}
_RISK = {
    "2": "<1% risk of malignancy",
    "3": "1 to <10% risk of malignancy",
    "4": "10 to <50% risk of malignancy",
    "5": ">=50% risk of malignancy",
}
_MEANING = {
    "0": "Incomplete evaluation",
    "1": "Normal premenopausal ovary",
    "2": "Almost certainly benign",
    "3": "Low risk of malignancy",
    "4": "Intermediate risk of malignancy",
    "5": "High risk of malignancy",
}


_NO_FOLLOW_UP = "No follow-up imaging."
# O-RADS 2 follow-up by size and menopausal status, for the rows this tool encodes (O-RADS US management
# table, v2019 Andreotti 2020 Table 2, unchanged for these rows in v2022 per two secondary summaries;
# project confidence: medium). Each row: (lesion type, menopausal status, upper size mm incl., management).
_O_RADS_2_ROWS: tuple[tuple[str, str, float, str], ...] = (
    ("simple_cyst", "premenopausal", 50, _NO_FOLLOW_UP),
    ("simple_cyst", "premenopausal", 100, "Follow-up ultrasound in 8-12 weeks."),
    ("simple_cyst", "postmenopausal", 30, _NO_FOLLOW_UP),
    (
        "simple_cyst",
        "postmenopausal",
        100,
        "Follow-up ultrasound at 1 year to show stability or decrease in size.",
    ),
    ("unilocular_cyst", "premenopausal", 30, _NO_FOLLOW_UP),
    (
        "unilocular_cyst",
        "premenopausal",
        100,
        "Follow-up ultrasound in 8-12 weeks; if it persists or enlarges, ultrasound specialist or MRI.",
    ),
)


def o_rads_2_management(values: dict[str, Any]) -> str | None:
    """The O-RADS 2 follow-up for this lesion type, size and menopausal status, when this tool encodes it.

    An unstated menopausal status gives both rows ("premenopausal: ...; postmenopausal: ..."), so the
    answer says what each value would mean instead of asking first.
    """
    kind, size = values.get("lesion_type"), values.get("max_diameter_mm")
    if size is None:
        return None

    def row(status: str) -> str | None:
        for lesion, menopause, upto_mm, management in _O_RADS_2_ROWS:
            if lesion == kind and menopause == status and size <= upto_mm and size < _TEN_CM:
                return management
        return None

    status = values.get("menopausal_status")
    if status is not None:
        return row(status)
    both = {s: row(s) for s in ("premenopausal", "postmenopausal")}
    if None in both.values():
        return None
    if len(set(both.values())) == 1:
        return both["premenopausal"]
    return (
        "; ".join(f"{s.capitalize()}: {m[0].lower()}{m[1:].rstrip('.')}" for s, m in both.items() if m) + "."
    )


def _sized(d_mm: float, below: str, at_or_above: str, what: str) -> _Outcome:
    if d_mm >= _TEN_CM:
        return _Outcome(at_or_above, f"{what} >=10 cm ({d_mm:g} mm) -> O-RADS {at_or_above}")
    return _Outcome(below, f"{what} <10 cm ({d_mm:g} mm) -> O-RADS {below}")


def _simple_cyst(v: dict[str, Any]) -> _Outcome:
    d = need(v, "max_diameter_mm")
    if d >= _TEN_CM:
        return _Outcome("3", f"Simple cyst >=10 cm ({d:g} mm) -> O-RADS 3")
    if d > _THREE_CM:
        return _Outcome("2", f"Simple cyst >3 cm to <10 cm ({d:g} mm) -> O-RADS 2")
    if need(v, "menopausal_status") == "premenopausal":
        return _Outcome(
            "1", f"Simple cyst <=3 cm ({d:g} mm), premenopausal: follicle, normal ovary -> O-RADS 1"
        )
    return _Outcome("2", f"Simple cyst <=3 cm ({d:g} mm), postmenopausal -> O-RADS 2")


def _cyst_with_solid(v: dict[str, Any], kind: str) -> _Outcome:
    if kind == "unilocular_cyst":
        projections = need(v, "papillary_projections")
        if projections >= 4:
            return _Outcome(
                "5", f"Unilocular cyst with >=4 papillary projections ({projections}) -> O-RADS 5"
            )
        return _Outcome(
            "4",
            f"Unilocular cyst with solid component, {projections} (0-3) papillary projections -> O-RADS 4",
        )
    cs = need(v, "color_score")
    name = kind.split("_")[0].capitalize()
    if cs <= 2:
        return _Outcome("4", f"{name} cyst with solid component, colour score {cs} (1-2) -> O-RADS 4")
    return _Outcome("5", f"{name} cyst with solid component, colour score {cs} (3-4) -> O-RADS 5")


def _cyst_without_solid(v: dict[str, Any], kind: str) -> _Outcome:
    wall = need(v, "inner_wall")
    if kind == "unilocular_cyst":
        if wall == "irregular":
            return _Outcome("3", "Unilocular cyst, irregular inner wall (<3 mm), any size -> O-RADS 3")
        return _sized(need(v, "max_diameter_mm"), "2", "3", "Unilocular smooth non-simple cyst")
    if kind == "bilocular_cyst":
        if wall == "irregular":
            return _Outcome(
                None, "Bilocular cyst with irregular inner wall: not settled in the project reference [open]"
            )
        return _sized(need(v, "max_diameter_mm"), "2", "3", "Bilocular smooth cyst without solid component")
    if wall == "irregular":
        return _Outcome(
            "4", "Multilocular cyst, irregular inner wall, any size, any colour score -> O-RADS 4"
        )
    cs = need(v, "color_score")
    if cs == 4:
        return _Outcome("4", "Multilocular smooth cyst, colour score 4, any size -> O-RADS 4")
    d = need(v, "max_diameter_mm")
    if d >= _TEN_CM:
        return _Outcome(
            "4", f"Multilocular smooth cyst >=10 cm ({d:g} mm), colour score {cs} (<4) -> O-RADS 4"
        )
    return _Outcome("3", f"Multilocular smooth cyst <10 cm ({d:g} mm), colour score {cs} (<4) -> O-RADS 3")


def _solid(v: dict[str, Any]) -> _Outcome:
    if need(v, "outer_contour") == "irregular":
        return _Outcome("5", "Solid lesion with irregular outer contour, any colour score -> O-RADS 5")
    cs = need(v, "color_score")
    shadowing = v["shadowing"] is True
    if cs == 1:
        return _Outcome("3", "Solid smooth lesion, colour score 1 -> O-RADS 3")
    if cs == 4:
        if shadowing:
            return _Outcome(
                None,
                "Solid smooth lesion with shadowing, colour score 4: not settled in the project reference [open]",
            )
        return _Outcome("5", "Solid smooth lesion, colour score 4 -> O-RADS 5")
    if shadowing:
        return _Outcome(
            "3", f"Solid smooth lesion with acoustic shadowing, colour score {cs} (2-3) -> O-RADS 3"
        )
    return _Outcome("4", f"Solid smooth lesion without shadowing, colour score {cs} (2-3) -> O-RADS 4")


def _evaluate(v: dict[str, Any]) -> _Outcome:
    if v["incomplete_evaluation"] is True:
        return _Outcome("0", "Incomplete evaluation (technical factors) -> O-RADS 0")
    if v["ascites_or_peritoneal_nodules"] is True:
        return _Outcome("5", "Ascites and/or peritoneal nodules -> O-RADS 5")
    kind = need(v, "lesion_type")
    if kind == "simple_cyst":
        return _simple_cyst(v)
    if kind == "corpus_luteum":
        d = need(v, "max_diameter_mm")
        if d <= _THREE_CM:
            return _Outcome("1", f"Corpus luteum <=3 cm ({d:g} mm): normal premenopausal ovary -> O-RADS 1")
        return _Outcome(
            None, f"Corpus luteum >3 cm ({d:g} mm) is not an O-RADS 1 lexicon entry: describe it as a cyst"
        )
    if kind in _CLASSIC_SIZED:
        return _sized(
            need(v, "max_diameter_mm"), "2", "3", f"Classic benign lesion ({kind.replace('_', ' ')})"
        )
    if kind in _EXTRA_OVARIAN:
        return _Outcome("2", f"Classic benign lesion ({kind.replace('_', ' ')}) -> O-RADS 2")
    if kind == "solid":
        return _solid(v)
    if need(v, "solid_component"):
        return _cyst_with_solid(v, kind)
    return _cyst_without_solid(v, kind)


# Values tried when an enumerable input is missing; the first one's path decides what to ask first.
_CHOICES: dict[str, tuple[Any, ...]] = {
    "solid_component": (False, True),
    "inner_wall": ("smooth", "irregular"),
    "outer_contour": ("smooth", "irregular"),
    "color_score": (1, 2, 3, 4),
    "menopausal_status": ("premenopausal", "postmenopausal"),
}
_PRESENCE_ONLY = (
    ("ascites_or_peritoneal_nodules", "ascites or peritoneal nodules"),
    ("shadowing", "acoustic shadowing"),
)


def _values(inp: ORadsInput) -> dict[str, Any]:
    v = inp.model_dump()
    if inp.papillary_projections:
        v["solid_component"] = True  # a papillary projection is a solid component
    return v


def _presence_caveats(values: dict[str, Any], outcome: _Outcome) -> list[str]:
    caveats = []
    for name, label, alternative in presence_changes(_evaluate, values, _PRESENCE_ONLY, outcome):
        result = f"O-RADS {alternative.category}" if alternative.category else "not determined"
        caveats.append(f"{name} not stated, taken as absent; {label} would give {result}.")
    return caveats


def _decide(inp: ORadsInput) -> ClassificationResult:
    base = {"system": "o_rads", "guideline": GUIDELINE, "citation": CITATION}
    values = _values(inp)
    used = {k: v for k, v in values.items() if v is not None}
    outcomes, needed, stuck = explore(_evaluate, values, _CHOICES, limit=256)
    categories = {o.category for _, o in outcomes}
    if stuck or len(categories) != 1:
        shown = sorted(c or "not determined" for c in categories)
        rationale = [f"The result depends on the missing inputs (e.g. {' or '.join(shown)})"] if shown else []
        return ClassificationResult(**base, missing=sorted(needed), rationale=rationale, inputs=used)
    assumed, outcome = outcomes[0]
    rationale = [outcome.rule]
    unstated = sorted({k for a, _ in outcomes for k in a})
    if unstated:
        rationale.append(f"Not stated: {', '.join(unstated)}; every possible value gives the same result")
    caveats = _presence_caveats({**values, **assumed}, outcome)
    category = outcome.category
    if category == "0" and inp.ascites_or_peritoneal_nodules:
        caveats.append(
            "Ascites/peritoneal nodules are also reported (O-RADS 5 criterion); incomplete evaluation was put "
            "first here, an order the project reference does not settle: consider gynaecologic-oncology input."
        )
    if category is None:
        caveats.append(
            "No O-RADS category assigned: this lesion description is an open point; do not infer one."
        )
    management = _MANAGEMENT.get(category or "")
    if category == "2":
        follow_up = o_rads_2_management({**values, **assumed})
        if follow_up is not None:
            management = f"Almost certainly benign. {follow_up}"
            caveats.append(
                "O-RADS 2 follow-up from the O-RADS US management table by lesion type, size and menopausal "
                "status (project confidence: medium, from the v2019 table and two summaries of v2022; confirm "
                "against the v2022 table)."
            )
        else:
            caveats.append(
                "O-RADS 2 follow-up for this lesion type is an open point in the project reference (not "
                "re-verified against the v2022 table): no interval is stated here."
            )
    return ClassificationResult(
        **base,
        category=category,
        management=management,
        risk=_RISK.get(category or ""),
        rationale=rationale,
        caveats=caveats,
        inputs=used,
        details={"rule": outcome.rule, "meaning": _MEANING.get(category or "")},
    )


# --- extraction --------------------------------------------------------------------------------------

_I = re.IGNORECASE
_TYPES = {
    "simple_cyst": (r"\bsimple(?:[- ]appearing)?\s+(?:ovarian\s+|adnexal\s+|unilocular\s+)?cysts?\b",),
    "unilocular_cyst": (r"\bunilocular\b",),
    "bilocular_cyst": (r"\bbilocular\b",),
    "multilocular_cyst": (r"\bmultilocular\b", r"\bmultiloculated\b"),
    "solid": (r"\bsolid\s+(?:(?:ovarian|adnexal|hypoechoic|echogenic)\s+)?(?:lesion|mass|tumou?r)\b",),
    "hemorrhagic_cyst": (r"\bha?emorrhagic\s+cyst\b",),
    "dermoid": (r"\bdermoid\b", r"\bmature\s+cystic\s+teratoma\b"),
    "endometrioma": (r"\bendometrioma\b",),
    "paraovarian_cyst": (r"\bpara-?ovarian\s+cyst\b", r"\bparatubal\s+cyst\b"),
    "peritoneal_inclusion_cyst": (r"\bperitoneal\s+inclusion\s+cyst\b",),
    "hydrosalpinx": (r"\bhydrosalpinx\b",),
    "corpus_luteum": (r"\bcorpus\s+luteum\b",),
}
_SOLID_PART = (
    r"\bsolid\s+(?:components?|elements?|areas?|portions?|parts?|nodules?)\b",
    r"\bmural\s+nodules?\b",
    r"\bpapillary\s+projections?\b",
)
_PROJECTIONS = re.compile(
    r"\b(\d+|no|one|two|three|four|five|six|seven|eight|nine|ten|single|a|an|multiple|several|numerous|many)"
    r"\s+papillary\s+projections?\b",
    _I,
)
_WALL = {
    "irregular": (r"\birregular\s+(?:inner\s+)?walls?\b", r"\b(?:inner\s+)?wall\s+irregularit(?:y|ies)\b"),
    "smooth": (r"\bsmooth\s+(?:(?:inner|thin)\s+)?walls?\b",),
}
_CONTOUR = {
    "irregular": (r"\birregular\s+(?:outer\s+)?(?:contour|margins?|borders?|outline)\b",),
    "smooth": (r"\bsmooth\s+(?:outer\s+)?(?:contour|margins?|borders?|outline)\b",),
}
_BARE = {"irregular": (r"\birregular\b",), "smooth": (r"\bsmooth\b",)}
_COLOR_SCORE = (r"\bcolou?r\s+score\s*(?:of\s*|[:=]\s*|is\s*)?(\d+)\b", r"\bCS\s*[:=]?\s*(\d+)\b")
_COLOR_RANGE = (r"\b(?:colou?r\s+score|CS)\s*(?:of\s*|[:=]\s*)?\d\s*(?:[-–]|to|or)\s*\d\b",)
_FLOW = r"(?:internal\s+|detectable\s+)?(?:colou?r\s+)?(?:doppler\s+)?(?:blood\s+)?(?:flow|vascularity)\b"
_FLOW_WORDS = {
    1: (rf"\bno\s+{_FLOW}", r"\bavascular\b"),
    2: (rf"\bminimal\s+{_FLOW}",),
    3: (rf"\bmoderate\s+{_FLOW}",),
    4: (rf"\bvery\s+strong\s+{_FLOW}",),
}
_ASCITES = (r"\bascites\b",)
_PERITONEAL = (
    r"\bperitoneal\s+(?:nodules?|nodularity|implants?|deposits?)\b",
    r"\bomental\s+(?:caking|cake|nodules?)\b",
)
_MENOPAUSE = {"premenopausal": (r"\bpre-?menopausal\b",), "postmenopausal": (r"\bpost-?menopausal\b",)}
_INCOMPLETE = (
    r"\bincomplete\s+(?:evaluation|exam\w*|study|assessment)\b",
    r"\btechnically\s+(?:limited|inadequate)\b",
    r"\b(?:could|can)\s*not\s+be\s+(?:adequately\s+|fully\s+)?(?:evaluated|assessed|visuali[sz]ed)\b",
)
_RANGE = re.compile(r"\d+(?:\.\d+)?\s*(?:mm|cm)?\s*(?:-|–|to)\s*\d+(?:\.\d+)?\s*(?:mm|cm)\b", _I)
_BOUND = re.compile(
    r"(?:<|>|≤|≥|\bup to|\bless than|\bgreater than|\bmore than|\bat least|\bunder|\bover|\bbelow|\babove)\s*$",
    _I,
)
_PART_AFTER = re.compile(r"^\s*(?:\w+\s+){0,2}(?:solid|papillary|nodule|projection|component)", _I)


_NEGATED_PART = re.compile(
    r"^\s*(?:\w+\s+){0,2}?(?:without|no|with\s+no|free\s+of)\s+(?:\w+\s+)?(?:solid|papillary)", _I
)


def _is_part_size(text: str, end: int) -> bool:
    """A size followed by its solid component ("4 mm solid nodule"), not by a denial ("6 cm without solid")."""
    after = text[end : end + 40]
    return bool(_PART_AFTER.match(after)) and not _NEGATED_PART.match(after)


def _read_type(r: Reading) -> None:
    found = {kind: ms for kind, ps in _TYPES.items() if (ms := r.matches(ps))}
    if {"simple_cyst", "unilocular_cyst"} <= set(found):
        del found["unilocular_cyst"]  # a simple cyst is a unilocular cyst
    r.settle("lesion_type", [(kind, ms[0]) for kind, ms in found.items()])


def _read_solid_parts(r: Reading) -> None:
    stated, denied = r.matches(_SOLID_PART), r.matches(_SOLID_PART, negated=True)
    parts = [(True, m) for m in stated] + [(False, m) for m in denied]
    counts: list[tuple[Any, re.Match[str]]] = []
    for m in _PROJECTIONS.finditer(r.text):
        word = m.group(1).lower()
        if word in {"multiple", "several", "numerous", "many"}:
            r.unsettled.add("papillary_projections")
        elif word == "no" or is_negated(r.text, m.start()):
            counts.append((0, m))
        else:
            counts.append((1 if word in {"a", "an", "single"} else word_number(word), m))
    r.settle("papillary_projections", counts)
    if r.inputs.get("papillary_projections") == 0:
        parts = [(v, m) for v, m in parts if "papillary" not in m.group(0).lower()]
    r.settle("solid_component", parts)


def _read_walls(r: Reading) -> None:
    kind = r.inputs.get("lesion_type")
    r.settle("inner_wall", [(v, m) for v, ps in _WALL.items() for m in r.matches(ps)])
    r.settle("outer_contour", [(v, m) for v, ps in _CONTOUR.items() for m in r.matches(ps)])
    bare_key = "outer_contour" if kind == "solid" else "inner_wall" if kind in _CYSTS else None
    if bare_key is not None and bare_key not in r.inputs and bare_key not in r.unsettled:
        r.settle(bare_key, [(v, m) for v, ps in _BARE.items() for m in r.matches(ps)])
    _smooth_states_no_solid(r, kind)


def _smooth_states_no_solid(r: Reading, kind: Any) -> None:
    """A smooth-walled unilocular or bilocular cyst states that it has no solid component.

    O-RADS US v2022 lexicon: a solid component is an element protruding >= 3 mm into the lumen, so a cyst
    described with a smooth inner wall and no solid element is the "smooth, without solid component" row;
    the radiologist would name a component if there were one. Not applied when anything solid is mentioned.
    """
    if kind not in ("unilocular_cyst", "bilocular_cyst") or "solid_component" in r.inputs:
        return
    if "solid_component" in r.unsettled or r.inputs.get("inner_wall") != "smooth":
        return
    if r.matches((r"\bsolid\b", r"\bpapillary\b", r"\bnodul\w*", r"\bprojection"), negated=None):
        return
    r.inputs["solid_component"] = False
    r.evidence["solid_component"] = (
        f"{r.evidence.get('inner_wall', 'smooth')} (a smooth-walled cyst states no solid component)"
    )


def _read_flow(r: Reading) -> None:
    if any(re.search(p, r.text, _I) for p in _COLOR_RANGE):
        r.unsettled.add("color_score")
        return
    found = [(int(m.group(1)), m) for p in _COLOR_SCORE for m in re.finditer(p, r.text, _I)]
    found += [(score, m) for score, ps in _FLOW_WORDS.items() for p in ps for m in re.finditer(p, r.text, _I)]
    if any(not 1 <= v <= 4 for v, _ in found):
        r.unsettled.add("color_score")  # outside the 1-4 scale: refused
        return
    r.settle("color_score", found)
    shadowing = [(True, m) for m in r.matches((r"\bshadowing\b",))]
    r.settle("shadowing", shadowing + [(False, m) for m in r.matches((r"\bshadowing\b",), negated=True)])


def _read_context(r: Reading) -> None:
    present = r.matches(_ASCITES) + r.matches(_PERITONEAL)
    if present:
        r.settle("ascites_or_peritoneal_nodules", [(True, present[0])])
    elif (no_ascites := r.matches(_ASCITES, negated=True)) and r.matches(_PERITONEAL, negated=True):
        r.settle("ascites_or_peritoneal_nodules", [(False, no_ascites[0])])
    r.settle("menopausal_status", [(v, m) for v, ps in _MENOPAUSE.items() for m in r.matches(ps)])
    if re.search(r"\bperi-?menopausal\b", r.text, _I):
        r.unsettled.add("menopausal_status")
        r.inputs.pop("menopausal_status", None)
    incomplete = [m for p in _INCOMPLETE for m in re.finditer(p, r.text, _I)]
    if incomplete:
        r.settle("incomplete_evaluation", [(True, incomplete[0])])


def _read_size(r: Reading) -> None:
    if _RANGE.search(r.text):
        r.unsettled.add("max_diameter_mm")
        return
    sizes = [s for s in find_measurements(r.text) if not _is_part_size(r.text, s.end)]
    if any(_BOUND.search(r.text[max(0, s.start - 14) : s.start]) for s in sizes):
        r.unsettled.add("max_diameter_mm")
    elif len({s.longest_mm for s in sizes}) > 1:
        r.unsettled.add("max_diameter_mm")
    elif sizes:
        r.inputs["max_diameter_mm"] = sizes[0].longest_mm
        r.evidence["max_diameter_mm"] = sizes[0].text


def extract(text: str) -> Extraction:
    """Read O-RADS US inputs from a free-text finding; only what is stated, never a guess.

    Understood: lesion types of the v2022 lexicon (simple, unilocular, bilocular, multilocular cyst; solid
    lesion/mass; haemorrhagic cyst, dermoid, endometrioma, paraovarian/paratubal cyst, peritoneal
    inclusion cyst, hydrosalpinx, corpus luteum); solid component and papillary projection counts
    ("multiple" stays undetermined); smooth/irregular inner wall or outer contour (a bare "smooth" or
    "irregular" is given to the wall of a cyst or the contour of a solid lesion); size in mm or cm
    (ranges, bounds and several different sizes stay undetermined; solid-component sizes are skipped);
    colour score 1-4 (or no/minimal/moderate/very strong flow); shadowing; ascites and peritoneal
    nodules; pre/postmenopausal (perimenopausal stays undetermined); incomplete evaluation.
    """
    r = Reading(text)
    _read_type(r)
    _read_solid_parts(r)
    _read_walls(r)
    _read_flow(r)
    _read_context(r)
    _read_size(r)
    return r.finish("o_rads", ORadsInput, _decide)


@tool(
    name="o_rads",
    description="O-RADS US v2022 risk category (0-5), risk of malignancy and management for an adnexal lesion "
    "on ultrasound, from the v2022 lexicon (lesion type, walls, size, colour score, ascites, menopause).",
    version="O-RADS US v2022",
    kind="classification",
    extractor=extract,
    triggers=TRIGGERS,
    title="O-RADS",
    example="Premenopausal woman, 6 cm simple ovarian cyst on ultrasound: O-RADS?",
    categories=CATEGORIES,
)
def classify(inp: ORadsInput) -> ClassificationResult:
    """Apply the O-RADS US v2022 risk stratification table (see the module docstring)."""
    return _decide(inp)
