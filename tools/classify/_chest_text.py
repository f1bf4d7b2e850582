"""Reading chest CT nodule findings: shared by Fleischner 2017 and Lung-RADS v2022 (sizes also by TI-RADS).

A private module (the registry does not load it as a tool). Each reader returns (value, evidence) or None;
mixed or conflicting wording settles nothing, so the field stays undetermined rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tools.classify._extract import Found
from tools.classify.text import (
    Measurement,
    find_measurements,
    find_negated_term,
    find_term,
    is_negated,
    word_number,
)

_SOLID_NOUN = r"solid\s+(?:component|portion|part|core|element)"
_PART_SOLID = (
    r"\bpart(?:ly|ially)?[- ]?solid\b",
    r"\bsemi[- ]?solid\b",
    r"\bmixed[- ](?:attenuation|density)\b",
)
_GROUND_GLASS = (r"\bground[- ]?glass\b", r"\bGG[NO]s?\b", r"\bnon[- ]?solid\b")
_SUBSOLID = (r"\bsub[- ]?solid\b",)
_SOLID = (
    r"(?<![-\w])(?<!non )(?<!part )(?<!partly )(?<!semi )(?<!sub )solid\b"
    r"(?!\s+(?:component|portion|part|core|element))",
)
# Words for two Fleischner subsolid flags: solid_component_growing and suspicious_morphology.
GROWING_SOLID = (
    rf"\b(?:growing|enlarging|increasing|new)\s+{_SOLID_NOUN}",
    rf"\b{_SOLID_NOUN}\s+(?:has\s+)?(?:grown|increased|enlarged)",
)
SUSPICIOUS_MORPHOLOGY = (r"\blobulated\b", r"\bcystic\s+(?:components?|spaces?|changes?)\b", r"\bbubbly\b")


def read_nodule_type(text: str, *, allow_subsolid: bool) -> tuple[str, str] | Literal["ambiguous"] | None:
    """Nodule attenuation: (value, evidence), 'ambiguous' when the text names conflicting types, or None."""
    part = find_term(text, _PART_SOLID)
    if part:
        return "part-solid", part.group(0)
    ggn = find_term(text, _GROUND_GLASS)
    solid = find_term(text, _SOLID)
    component = find_term(text, (rf"\b{_SOLID_NOUN}",))
    if ggn and component:
        return "part-solid", f"{ggn.group(0)} ... {component.group(0)}"
    if ggn and solid:
        return "ambiguous"
    if ggn:
        return "ground-glass", ggn.group(0)
    if solid:
        return "solid", solid.group(0)
    subsolid = find_term(text, _SUBSOLID)
    if subsolid:
        return ("subsolid", subsolid.group(0)) if allow_subsolid else "ambiguous"
    return None


_NODULE_NOUNS = r"(?:nodules|GGNs|GGOs|opacities|lesions)"
_MULTIPLE = (
    rf"\b(?:multiple|several|numerous|innumerable|scattered|few|bilateral)\s+(?:[\w-]+\s+){{0,3}}?{_NODULE_NOUNS}\b",
    rf"\b(two|three|four|five|six|seven|eight|nine|ten|\d+)\s+(?!mm\b|cm\b|millim|centim|x\b)(?:[\w-]+\s+){{0,3}}?{_NODULE_NOUNS}\b",
    rf"\b{_NODULE_NOUNS}\b",
)
_SINGLE = (
    r"\b(?:solitary|single|isolated|one|1(?!\s*(?:mm|cm|x)\b))\s+(?:[\w.-]+\s+){0,6}?(?:nodule|GGN|GGO|opacity|lesion)\b",
    r"\bno\s+other\s+(?:[\w-]+\s+)?nodules?\b",
    r"\bsolitary\b",
    r"\bSPN\b",  # solitary pulmonary nodule
    r"\bsingle\b(?=\s*(?:[,.;)]|$))",  # "6 mm GGO, single"
)


_SINGULAR_NOUN = r"\b(?:nodule|GGN|GGO|opacity|SPN)\b"
_ANY_PLURAL = r"\b(?:nodules|GGNs|GGOs|opacities)\b"


def read_count(text: str) -> tuple[str, str] | None:
    """'single' or 'multiple' from explicit wording, else from grammatical number.

    "6 mm solid nodule, smoker" describes one nodule: the singular noun, with no plural anywhere in
    the text, reads as single (the evidence says so, so the answer can show it). Mixed wording settles nothing.
    """
    single = find_term(text, _SINGLE)
    multiple = None
    for pattern in _MULTIPLE:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            number = word_number(m.group(1)) if m.groups() else None
            if number != 1 and not is_negated(text, m.start()):
                multiple = m
                break
        if multiple:
            break
    if single and multiple:
        return None
    if single:
        return "single", single.group(0)
    if multiple:
        return "multiple", multiple.group(0)
    singular = re.search(_SINGULAR_NOUN, text, re.IGNORECASE)
    if singular and not re.search(_ANY_PLURAL, text, re.IGNORECASE):
        return "single", f"{singular.group(0)} (singular, no other nodule mentioned)"
    return None


_HIGH_RISK = (
    r"\b(?:current|former|ex-?|heavy|active|daily|chronic)?\s*smoker\b",
    r"\bsmoking\s+history\b",
    r"\bhistory\s+of\s+smoking\b",
    r"\bquit\s+smoking\b",
    r"\bsmokes\b",
    r"\b(?:\d+(?:\.\d+)?\s*)?pack[- ]?years?\b",
    r"\bhigh[- ]risk\b",
    r"\basbestos\b",
    r"\bradon\b",
    r"\buranium\b",
    r"\bfamily\s+history\s+of\s+lung\s+cancer\b",
    r"\bemphysema\b",
    r"\b(?:pulmonary\s+)?fibrosis\b",
)
_LOW_RISK_EXPLICIT = (r"\blow[- ]risk\b", r"\bno\s+(?:known\s+|other\s+)?risk\s+factors\b")
_NEVER_SMOKER = (
    r"\bnever[- ]smoker\b",
    r"\bnon[- ]?smoker\b",
    r"\bnever\s+smoked\b",
    r"\bno\s+(?:history\s+of\s+smoking|smoking\s+history)\b",
    r"\b0\s*pack[- ]?years?\b",
)
_RISK_CUES = (r"\bspiculat\w*", r"\bupper[- ]lobe\b", r"\b[RL]UL\b")


def read_risk(text: str) -> tuple[str, str] | None:
    """Fleischner risk: explicit 'low/high risk', smoking and other risk factors; conflicts settle nothing.

    'Never smoker' alone reads as low risk only when no other risk cue (spiculation, upper lobe) is present.
    """
    explicit_low = find_term(text, _LOW_RISK_EXPLICIT)
    never = find_term(text, _NEVER_SMOKER)
    high = None
    for pattern in _HIGH_RISK:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            zero_pack_years = re.match(r"0\s*pack", m.group(0))
            if not zero_pack_years and not is_negated(text, m.start()):
                high = m
                break
        if high:
            break
    if high and explicit_low:
        return None
    if high:
        return "high", high.group(0).strip()
    if explicit_low:
        return "low", explicit_low.group(0)
    if never and not find_term(text, _RISK_CUES):
        return "low", never.group(0)
    return None


_AGE = (
    r"\b(\d{1,3})[- ]?(?:years?|yrs?)[- ]?old\b",
    r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)(?!\w)",
    r"\bage[d]?\s*:?\s*(\d{1,3})\b",
)


def read_age(text: str) -> tuple[int, str] | None:
    """Age in years from '62-year-old', '62 yo', 'aged 62'; several different ages settle nothing."""
    found: dict[int, str] = {}
    for pattern in _AGE:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            found.setdefault(int(m.group(1)), m.group(0))
    if len(found) != 1:
        return None
    ((age, snippet),) = found.items()
    return (age, snippet) if age <= 120 else None


def _yes_no(yes: re.Match[str] | None, no: re.Match[str] | None) -> tuple[bool, str] | None:
    """(True, evidence) when only stated, (False, evidence) when only denied; both or neither settle nothing."""
    if yes and no:
        return None
    if yes:
        return True, yes.group(0)
    if no:
        return False, no.group(0)
    return None


_SCREENING = (
    r"\blung[- ]cancer\s+screening\b",
    r"\bscreening\b",
    r"\bLDCT\b",
    r"\blow[- ]dose\s+(?:chest\s+)?CT\b",
    r"\blung[- ]?RADS\b",
)
_NOT_SCREENING = (r"\bincidental(?:ly)?\b", r"\bnon[- ]screening\b")


def read_screening(text: str) -> tuple[bool, str] | None:
    """True for screening context (screening CT, LDCT), False for 'incidental' or negated screening."""
    yes = find_term(text, _SCREENING)
    no = find_term(text, _NOT_SCREENING) or find_negated_term(text, (r"\bscreening\b",))
    return _yes_no(yes, no)


# An airway (endobronchial) nodule: Lung-RADS v2022 has its own rows for it, Fleischner 2017 does not cover
# it. "in a segmental bronchus", "within the trachea", "endobronchial", "intraluminal airway"; not a
# nodule next to an airway ("peribronchial", "adjacent to a bronchus") and not a device ("endotracheal
# tube", "endobronchial valve").
_AIRWAY_NEAR = (
    r"(?:with|and|near|adjacent|abutting|along|next|to|around|surrounding|encasing|narrowing|obstructing)"
)
AIRWAY = (
    r"\b(?:endobronchial|endoluminal|endotracheal|intraluminal|intrabronchial|intratracheal|airway|tracheal)"
    r"\s+(?:nodules?|lesions?|masse?s?)\b",
    r"\b(?:endobronchial|intrabronchial)\b(?!\s+(?:valves?|stents?|coils?|ultrasound|biopsy|blockers?))",
    r"\bintraluminal\s+(?:airway|bronch\w*|trache\w*)",
    r"\b(?:nodules?|lesions?|masse?s?|opacity|opacities)\s+(?:(?:is|are|located|seen|lying|situated)\s+)?"
    rf"(?:in|within|inside)\s+(?:the\s+|a\s+|an\s+)?(?:(?!{_AIRWAY_NEAR}\b)[\w-]+\s+){{0,4}}?"
    r"(?:bronch(?:us|i)|trachea|airways?)\b",
)
# Level of an airway nodule (Lung-RADS v2022 splits subsegmental from segmental or more proximal).
AIRWAY_SUBSEGMENTAL = (r"\bsub-?segmental\b",)
AIRWAY_PROXIMAL = (
    r"\bsegmental\b",
    r"\blobar\b",
    r"\blobe\s+bronch(?:us|i)\b",
    r"\bmain(?:stem)?\s+bronch\w*",
    r"\btrache\w*",
    r"\bbronchus\s+intermedius\b",
    r"\bmore\s+proximal\b",
)


def read_airway_nodule(text: str) -> tuple[bool, str] | None:
    """(True, evidence) when a nodule is stated to lie in an airway; None otherwise (never False)."""
    m = find_term(text, AIRWAY)
    return (True, m.group(0)) if m else None


_IMMUNO = (
    r"\bimmuno-?(?:compromised|suppressed|suppression|deficient|deficiency)\b",
    r"\b(?:organ|renal|kidney|liver|lung|heart|bone\s+marrow|stem[- ]cell)\s+transplant\w*",
    r"\btransplant\s+recipient\b",
    r"\bHIV\b",
    r"\bAIDS\b",
)
_IMMUNOCOMPETENT = (r"\bimmuno-?competent\b",)


def read_immunocompromised(text: str) -> tuple[bool, str] | None:
    """True for immunocompromise, False for 'immunocompetent' or a negated statement."""
    yes = find_term(text, _IMMUNO)
    no = find_term(text, _IMMUNOCOMPETENT) or find_negated_term(text, _IMMUNO)
    return _yes_no(yes, no)


_MALIGNANCY = r"(?:cancer|carcinoma|malignancy|melanoma|lymphoma|sarcoma|myeloma|leuka?emia)"
_KNOWN_CANCER = (
    rf"\bknown\s+(?:primary\s+)?(?:[\w-]+\s+)?{_MALIGNANCY}\b",
    rf"\bhistory\s+of\s+(?:[\w-]+\s+){{0,2}}{_MALIGNANCY}\b",
    rf"\b{_MALIGNANCY}\s+(?:patient|survivor|staging|surveillance)\b",
    r"\bknown\s+primary\b",
    r"\bmetasta(?:tic|ses|sis)\b",
    r"\b(?:oncologic(?:al)?\s+)?staging\b",
)


def read_known_cancer(text: str) -> tuple[bool, str] | None:
    """True for a known primary cancer; False only for a negated history ('no history of cancer')."""
    yes = None
    for pattern in _KNOWN_CANCER:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if re.search(r"family\s+$", text[max(0, m.start() - 8) : m.start()], re.IGNORECASE):
                continue  # family history of cancer is a risk factor, not the patient's cancer
            if not is_negated(text, m.start()):
                yes = m
                break
        if yes:
            break
    no = find_negated_term(text, _KNOWN_CANCER[:2])
    return _yes_no(yes, no)


# --- sizes with their roles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Sizes read from a finding by role: the nodule now, its solid component, and the prior values."""

    current: Measurement | None = None
    solid_component: Measurement | None = None
    prior: Measurement | None = None
    prior_solid_component: Measurement | None = None
    ambiguous: bool = False


_VAGUE_BEFORE = re.compile(
    r"(?:\d\s*(?:-|–|to)|<|>|≤|≥|\bless\s+than|\bgreater\s+than|\bsmaller\s+than|\blarger\s+than|\bunder|\bover"
    r"|\bat\s+least|\bbelow|\babove)\s*$|\d,$",
    re.IGNORECASE,
)
_FROM_TO = re.compile(r"\bfrom\s+(\d+(?:\.\d+)?)\s*(?:mm|cm)?\s*to\s*$", re.IGNORECASE)
_PRIOR_BEFORE = re.compile(
    r"\b(?:was|were|previously|prior|formerly|from|compared\s+(?:with|to)|vs\.?|versus|earlier|then)\s*"
    r"(?:measuring|measured|about|approximately|~)?\s*$",
    re.IGNORECASE,
)
_PRIOR_AFTER = re.compile(
    r"^\s*(?:\w+\s+)?(?:on|at|in)\s+(?:the\s+)?(?:prior|previous|earlier|last|baseline|preceding)\b"
    r"|^\s*(?:previously|before|earlier)\b"
    r"|^\s*(?:\d+|a|one|two)\s*(?:months?|mo|years?|yrs?)\s+(?:ago|earlier|before|prior)\b",
    re.IGNORECASE,
)
_SOLID_AFTER = re.compile(rf"^\s*(?:mean\s+)?{_SOLID_NOUN}", re.IGNORECASE)
_SOLID_IN_CLAUSE = re.compile(rf"{_SOLID_NOUN}(?!.*\bnodule\b)", re.IGNORECASE)
_CLAUSE = re.compile(r"[.;:,()]|\bwith\b|\band\b", re.IGNORECASE)
_OTHER_AFTER = re.compile(
    r"^\s*(?:[\w-]+\s+){0,2}?(?:lymph\s+)?(?:nodes?|effusion|aneurysm|aorta)\b", re.IGNORECASE
)
_LARGEST_BEFORE = re.compile(r"\b(?:largest|dominant|biggest|up\s+to)\b[^.;]{0,25}$", re.IGNORECASE)


def _clause_before(text: str, start: int) -> str:
    return _CLAUSE.split(text[max(0, start - 60) : start])[-1]


def _role(text: str, m: Measurement) -> str:
    """'current', 'prior', 'solid', 'prior_solid', 'other' or 'vague' for one measurement."""
    before, after = text[max(0, m.start - 40) : m.start], text[m.end : m.end + 40]
    if _VAGUE_BEFORE.search(before) and not _FROM_TO.search(before):
        return "vague"
    if _OTHER_AFTER.match(after):
        return "other"
    clause = _clause_before(text, m.start)
    solid = bool(_SOLID_AFTER.match(after) or _SOLID_IN_CLAUSE.search(clause))
    prior = bool(_PRIOR_BEFORE.search(before) or _PRIOR_AFTER.match(after))
    if _FROM_TO.search(before):
        prior = False
    if solid:
        return "prior_solid" if prior else "solid"
    return "prior" if prior else "current"


def read_sizes(text: str) -> Sizes:
    """Sort every size in the text by role; several different current sizes make the size ambiguous."""
    by_role: dict[str, list[Measurement]] = {}
    for m in find_measurements(text):
        role = _role(text, m)
        if role != "other":
            by_role.setdefault(role, []).append(m)
        if role == "current":
            from_to = _FROM_TO.search(text[max(0, m.start - 40) : m.start])
            if from_to:
                unit = 10.0 if re.search(r"cm", m.text, re.IGNORECASE) else 1.0
                earlier = Measurement(
                    (round(float(from_to.group(1)) * unit, 3),), m.start, m.start, from_to.group(0)
                )
                in_solid_clause = _SOLID_IN_CLAUSE.search(
                    _clause_before(text, m.start - len(from_to.group(0)))
                )
                by_role.setdefault("prior_solid" if in_solid_clause else "prior", []).append(earlier)
    current, ambiguous = _pick(by_role.get("current", []), text)
    if current is None and by_role.get("vague"):
        ambiguous = True
    solid, solid_ambiguous = _pick(by_role.get("solid", []), text)
    prior, _ = _pick(by_role.get("prior", []), text)
    prior_solid, _ = _pick(by_role.get("prior_solid", []), text)
    return Sizes(current, solid, prior, prior_solid, ambiguous or solid_ambiguous)


def _pick(found: list[Measurement], text: str) -> tuple[Measurement | None, bool]:
    """The one size of a role; with several, the one marked 'largest'/'dominant', else ambiguous."""
    distinct = {m.dims_mm: m for m in found}
    if len(distinct) == 1:
        return found[0], False
    if not distinct:
        return None, False
    marked = [m for m in found if _LARGEST_BEFORE.search(text[max(0, m.start - 30) : m.start])]
    if len({m.dims_mm for m in marked}) == 1:
        return marked[0], False
    return None, True


def put_nodule_size(found: Found, sizes: Sizes, *, single_name: str) -> None:
    """The nodule's current size: two dimensions -> long/short axes; one -> the single diameter
    (`single_name`); three (which axial pair?) -> nothing. Several different sizes make the axes ambiguous."""
    if sizes.ambiguous:
        found.ambiguous.update(("long_axis_mm", "short_axis_mm"))
    m = sizes.current
    if m is None or len(m.dims_mm) > 2:
        return
    if len(m.dims_mm) == 2:
        found.put("long_axis_mm", (m.longest_mm, m.text))
        found.put("short_axis_mm", (m.shortest_mm, m.text))
    else:
        found.put(single_name, (m.dims_mm[0], m.text))
