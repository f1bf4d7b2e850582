"""Every finding in a report: split the text into findings, classify each with its own system, say what is left.

`read_report(text)` returns a `ReportReading`: one `Finding` per lesion (organ, laterality, location, lesion,
measurements, and its evidence span as character offsets into the original text), each classified by the
system its organ and context call for, and `ignored` entries for what was not classified and why (negated,
resolved, a normal organ, no system for it). `table()` renders the markdown table an answer can lead with.

How the text is read, in order:
1. Sentences (a decimal point is not a full stop), then clauses: a sentence naming two organs, or two
   measured lesions of one organ, is cut at the clause break between them. A following sentence with no
   organ that goes on describing ("It measures 8 HU.") is attached to the finding before it.
2. Patient context (age, smoking, cancer history, menopause, screening, comparison) is read from the
   sentences that describe no organ and given to every finding's extractor.
3. Each finding is classified by the tool's own extractor and classifier (`classify_inputs`), then
   `tools.classify.conditional.resolve` adds branches and stated assumptions for what is missing.
4. Several lung nodules follow the system's rule for multiple nodules: Fleischner 2017 manages them with the
   multiple-nodule rows, guided by the most suspicious nodule; Lung-RADS v2022 categorises each nodule and the
   exam by the most suspicious one. The dominant nodule is marked; the others point to it.

Follow-ups ("and if the adrenal one were 4 cm?") go through `apply_followup`: the finding is found by number
or organ, the new value is read with that system's extractor, and the finding is recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, Field

from tools.classify.base import ClassificationResult, Extraction
from tools.classify.conditional import Branch, rank, resolve, severity
from tools.classify.findings import classify_inputs, infer_system
from tools.classify.negation import is_negated_span, negation_trigger
from tools.classify.text import find_measurements
from tools.registry import REGISTRY, Tool, ToolRegistry

_I = re.IGNORECASE


# --- the data model ----------------------------------------------------------------------------------


class Evidence(BaseModel):
    """The words of the report a finding was read from: text[start:end] of the original."""

    text: str
    start: int
    end: int


class Finding(BaseModel):
    """One classified finding, with what the tool used so a follow-up can recompute it."""

    number: int = Field(description="1-based, in report order; follow-ups refer to it ('the second one').")
    organ: str
    laterality: str | None = None
    location: str | None = Field(default=None, description="Lobe, segment, zone or pole, as written.")
    lesion: str
    measurements: list[str] = Field(default_factory=list)
    system: str
    guideline: str
    category: str | None = None
    management: str | None = None
    rule: str | None = Field(default=None, description="The table row or rule that fired.")
    citation: str
    missing: list[str] = Field(default_factory=list, description="Inputs to ask for.")
    questions: list[str] = Field(default_factory=list)
    branches: list[Branch] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    at_least: str | None = Field(default=None, description="Lowest category over the branches, if ordered.")
    not_applicable: str | None = None
    caveats: list[str] = Field(default_factory=list)
    evidence: Evidence
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Tool inputs read or carried; recompute."
    )
    read_from: dict[str, str] = Field(default_factory=dict, description="Input -> the words that state it.")
    used: dict[str, Any] = Field(default_factory=dict, description="Normalised inputs the tool reports.")
    dominant: bool | None = Field(
        default=None, description="Several nodules: the one that guides management."
    )
    managed_with: int | None = Field(
        default=None, description="Several nodules: the dominant nodule's number."
    )
    group_rule: str | None = None
    result: ClassificationResult | None = Field(default=None, exclude=True, repr=False)
    """The tool's result behind this row (rationale, risk, modifiers); not part of the JSON, and not kept
    in a checkpoint: a finding read back from one has none."""

    def as_json(self) -> dict[str, Any]:
        """The finding in the stable JSON shape of `radassist findings --json`."""
        data = self.model_dump(by_alias=True)
        first = ("system", "category", "management", "rule", "citation", "missing", "branches", "evidence")
        return {k: data[k] for k in first} | {k: v for k, v in data.items() if k not in first}

    def category_text(self) -> str:
        """The category as a clinician reads it: with its branches when an input is missing."""
        if self.category is not None:
            return self.category
        if self.not_applicable is not None:
            return "not applicable"
        if self.branches:
            first, *rest = self.branches
            text = "; ".join(
                [f"{first.category} (if {first.if_})", *(f"{b.category} if {b.if_}" for b in rest)]
            )
            return f"at least {self.at_least}: {text}" if self.at_least and len(self.branches) > 1 else text
        return "needs " + ", ".join(self.missing) if self.missing else "not determined"

    def label(self) -> str:
        repeated = self.location and self.laterality and self.laterality in self.location.lower()
        where = " ".join(p for p in (None if repeated else self.laterality, self.location) if p)
        size = f" {self.measurements[0]}" if self.measurements else ""
        return f"{where + ' ' if where else ''}{self.organ} {self.lesion}{size}".strip()


class Ignored(BaseModel):
    """Text about a finding that was not classified, and why."""

    text: str
    start: int
    end: int
    why: str


class ReportReading(BaseModel):
    """The findings of one report and what was left out."""

    findings: list[Finding] = Field(default_factory=list)
    ignored: list[Ignored] = Field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape of `radassist findings --json`."""
        return {
            "findings": [f.as_json() for f in self.findings],
            "ignored": [{"text": i.text, "why": i.why, "start": i.start, "end": i.end} for i in self.ignored],
        }

    def table(self) -> str:
        """A markdown table: finding, system, category, management, the rule that fired."""
        return render_table(self.findings)


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _branch_management(branches: list[Branch]) -> str | None:
    managements = list(dict.fromkeys(b.management for b in branches if b.management))
    if len(managements) == 1:
        return managements[0]
    return "; ".join(f"{b.if_}: {b.management}" for b in branches if b.management) or None


def render_table(findings: Iterable[Finding]) -> str:
    """Markdown table of findings; branches show as 'A (if x = a); B if x = b'."""
    lines = ["| # | Finding | System | Category | Management | Rule |", "|---|---|---|---|---|---|"]
    for f in findings:
        category = f.category_text()
        if f.dominant:
            category += " (dominant)"
        management = f.management or _branch_management(f.branches)
        if f.managed_with is not None:
            management = f"Managed with #{f.managed_with}" + (f" ({f.group_rule})" if f.group_rule else "")
        if f.not_applicable:
            management = f.not_applicable
        if management is None and f.missing:
            management = "Needs: " + ", ".join(f.missing)
        lines.append(
            f"| {f.number} | {_cell(f.label())} | {_cell(f.system)} | {_cell(category)} | "
            f"{_cell(management)} | {_cell(f.rule)} |"
        )
    return "\n".join(lines)


# --- organs and their systems -------------------------------------------------------------------------

_LOBES = r"RUL|RML|RLL|LUL|LLL|lingula(?:r)?"


@dataclass(frozen=True)
class Organ:
    """An organ: words that name it, words for a lesion in it, and how its system is chosen."""

    name: str
    anchors: tuple[str, ...]
    lesions: tuple[str, ...]
    locations: tuple[str, ...] = ()


ORGANS: tuple[Organ, ...] = (
    Organ(
        "lung",
        (
            r"\b(?:lungs?|pulmonary)\b",
            rf"\b(?:{_LOBES})\b",
            r"\b(?:right|left)\s+(?:upper|middle|lower)\s+lobes?\b",
            r"\bSPNs?\b",
            r"\bGG[NO]s?\b",
            r"\bground[- ]glass\b",
            r"\bpart[- ]?solid\b",
            r"\bsub[- ]?solid\b",
            r"\bperi-?fissural\b",
            r"\b(?:major|minor|oblique|horizontal)\s+fissure\b",
        ),
        (r"\bnodules?\b", r"\bSPNs?\b", r"\bGG[NO]s?\b", r"\bground[- ]glass\b", r"\bopacit(?:y|ies)\b"),
        (rf"\b(?:{_LOBES})\b", r"\b(?:right|left)\s+(?:upper|middle|lower)\s+lobe\b", r"\blingula\b"),
    ),
    Organ(
        "adrenal",
        (r"\badrenals?\b", r"\bmyelolipoma\b"),
        (
            r"\bnodules?\b",
            r"\bmass(?:es)?\b",
            r"\blesions?\b",
            r"\badenoma\b",
            r"\bmyelolipoma\b",
            r"\bincidentaloma\b",
        ),
    ),
    Organ(
        "kidney",
        (r"\brenal\b", r"\bkidneys?\b", r"\bAMLs?\b", r"\bangiomyolipomas?\b", r"\bbosniak\b"),
        (
            r"\bcysts?\b",
            r"\bmass(?:es)?\b",
            r"\blesions?\b",
            r"\bnodules?\b",
            r"\bAMLs?\b",
            r"\bangiomyolipomas?\b",
            r"\bbosniak\b",
        ),
        (r"\b(?:upper|lower|mid|inter)[- ]?(?:pole|polar)\b",),
    ),
    Organ(
        "liver",
        (r"\bliver\b", r"\bhepatic\b", r"\bsegment\s+(?:[1-8]|I{1,3}|IV[AB]?|V|VI{1,3})\b", r"\bLR-\w+"),
        (
            r"\bobservations?\b",
            r"\blesions?\b",
            r"\bnodules?\b",
            r"\bmass(?:es)?\b",
            r"\bLR-\w+",
            r"\bhypo(?:densit(?:y|ies)|attenuating|dense)\b",
            r"\bcysts?\b",
            r"\bhemangiomas?\b",
        ),
        (r"\bsegment\s+(?:[1-8]|I{1,3}|IV[AB]?|V|VI{1,3})\b",),
    ),
    Organ("thyroid", (r"\bthyroid\b",), (r"\bnodules?\b", r"\blesions?\b", r"\bmass\b", r"\bTR\d\b")),
    Organ(
        "pancreas",
        (r"\bpancrea\w*", r"\bIPMNs?\b", r"\buncinate\b"),
        (r"\bcysts?\b", r"\bcystic\b", r"\bIPMNs?\b", r"\blesions?\b", r"\bmass(?:es)?\b"),
        (r"\b(?:head|neck|body|tail|uncinate(?:\s+process)?)\b",),
    ),
    Organ(
        "gallbladder",
        (r"\bgall\s?bladder\b", r"\bGB\b"),
        (r"\bpolyps?\b", r"\bpolypoid\b"),
    ),
    Organ(
        "adnexa",
        (
            r"\bovar(?:y|ies|ian)\b",
            r"\badnex\w*",
            r"\bpara-?ovarian\b",
            r"\bhydrosalpinx\b",
            r"\bdermoid\b",
            r"\bendometrioma\b",
        ),
        (
            r"\bcysts?\b",
            r"\bmass(?:es)?\b",
            r"\blesions?\b",
            r"\bdermoid\b",
            r"\bendometrioma\b",
            r"\bhydrosalpinx\b",
        ),
    ),
    Organ(
        "prostate",
        (
            r"\bprostat\w*",
            r"\bperipheral\s+zone\b",
            r"\btransition(?:al)?\s+zone\b",
            r"\bPZ\b",
            r"\bTZ\b",
            r"\bpi-?\s?rads\b",
        ),
        (
            r"\blesions?\b",
            r"\bfocus\b",
            r"\bfoci\b",
            r"\bnodules?\b",
            r"\bobservations?\b",
            r"\barea\b",
            r"\bpi-?\s?rads\b",
            r"\bDWI\b",
        ),
        (
            r"\b(?:peripheral|transition(?:al)?)\s+zone\b",
            r"\b(?:PZ|TZ)\w*",
            r"\b(?:base|mid[- ]?gland|apex)\b",
        ),
    ),
    Organ(
        "breast",
        (r"\bbreasts?\b", r"\bbi-?\s?rads\b"),
        (r"\bmass(?:es)?\b", r"\blesions?\b", r"\bcalcifications?\b", r"\bbi-?\s?rads\b", r"\basymmetry\b"),
    ),
)
_ORGANS = {o.name: o for o in ORGANS}

_SCREENING = re.compile(r"\bscreening\b|\bLDCT\b|\blow[- ]dose\b|\blung[- ]?rads\b", _I)
_CYSTIC = re.compile(r"\bcyst(?:ic|s)?\b|\bsept(?:a|um|ae|ation|ations|ated)\b|\bbosniak\b", _I)
_FAT_RENAL = re.compile(r"\bAMLs?\b|\bangiomyolipoma|\bmacroscopic\s+fat\b|\bfat[- ]containing\b", _I)
_US = re.compile(r"\bultrasound\b|\bsonograph\w*|\bUS\b|\bechogen\w*|\bhypoechoic\b|\bisoechoic\b", _I)
_TI_RADS_WORDS = re.compile(
    r"\bti-?rads\b|\bTR\d\b|\bechogen\w*|\b(?:hyper|hypo|iso|an)echoic\b|\bspongiform\b|\btaller[- ]than[- ]wide\b",
    _I,
)
_CT_OR_MRI = re.compile(r"\bCT\b|\bMRI?\b|(?i:\bcomputed\s+tomography\b|\bmagnetic\s+resonance\b)")
_AT_RISK_LIVER = re.compile(
    r"\bcirrho\w*|\bhepatitis\s+B\b|\bHBV\b|\bHCC\b|\bhepatocellular\b|\bLR-\w+|\bli-?rads\b", _I
)
_SOLID_PANCREAS = re.compile(r"\bsolid\b|\bhypo-?(?:enhancing|attenuating)\s+mass\b", _I)


def _system_for(organ: str, unit: str, context: str) -> tuple[str | None, str | None]:
    """(system, None) or (None, why not) for a finding of `organ`, from its own words and the report's context."""
    both = f"{unit} {context}"
    if organ == "lung":
        return ("lung_rads", None) if _SCREENING.search(both) else ("fleischner", None)
    if organ == "kidney":
        cystic = any(not is_negated_span(unit, m.start(), m.end()) for m in _CYSTIC.finditer(unit))
        if cystic and not _FAT_RENAL.search(unit):  # "renal lesion, not cystic" is no cystic mass
            return "bosniak", None
        return "renal_incidentaloma", None
    if organ == "liver":
        if _AT_RISK_LIVER.search(both):
            return "li_rads", None
        return None, (
            "liver lesion outside the LI-RADS population (no cirrhosis, chronic hepatitis B or HCC stated); "
            "radassist has no tool for other incidental liver lesions"
        )
    if organ == "thyroid":
        if _TI_RADS_WORDS.search(unit):
            return "ti_rads", None
        # Ultrasound named beside a CT or MRI is the question ("is an ultrasound needed?"), not the exam.
        if _US.search(context) and not _CT_OR_MRI.search(both):
            return "ti_rads", None
        return "thyroid_incidental", None
    if organ == "pancreas":
        if _SOLID_PANCREAS.search(unit) and not re.search(r"\bcyst", unit, _I):
            return None, "solid pancreatic lesion: the ACR pancreatic cyst white paper covers cysts only"
        return "pancreatic_cyst", None
    if organ == "gallbladder":
        return "gallbladder_polyp", None
    return {
        "adnexa": "o_rads",
        "prostate": "pi_rads",
        "breast": "bi_rads",
        "adrenal": "adrenal_incidentaloma",
    }[organ], None


# --- sentences, clauses and anchors -------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<!\d)\.(?!\d)|(?<=\d)\.(?!\d)|[;!?]|\n+", _I)
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|vs|approx|dr|fig|no)\s*$", _I)
_CLAUSE_BREAK = re.compile(r",|\band\b|\bwith\b|\balso\b|\bas well as\b|\bplus\b|:", _I)
_CONTINUES = re.compile(
    r"^\s*(?:it|this|which|there\s+is|measuring|measures|the\s+(?:lesion|nodule|cyst|mass|observation|polyp|"
    r"focus))\b|\bHU\b|\bhounsfield\b|\bwashout\b|\benhanc\w*|\bsept(?:a|um|ation)\w*|\bwalls?\b|\bmargins?\b|"
    r"\bcalcif\w*|\bsolid\s+component\b|\bDWI\b|\bADC\b|\bDCE\b|\bT2\w*|\bdiffusion\b|\bcolou?r\s+score\b|"
    r"\blymph\w*|\bnodes?\b|\binvasion\b|\bstalk\b|\bpedunculated\b|\bsessile\b|\bflow\b|\bvascular\w*|"
    r"\bworrisome\b|\bstigmata\b",
    _I,
)
_CONTEXT = re.compile(
    r"\b\d{1,3}[- ]?(?:years?|yrs?)[- ]?old\b|\b\d{1,3}\s*(?:yo|y/o)\b|\bsmok\w*|\bpack[- ]?years?\b|"
    r"\bhistory\b|\bhx\b|\bcancer\b|\bcarcinoma\b|\bmalignan\w*|\bmelanoma\b|\blymphoma\b|\bmetasta\w*|"
    r"\b(?:pre|post|peri)?-?menopaus\w*|\bscreening\b|\bLDCT\b|\bincidental\b|\bindication\b|\bclinical\b|\bcomparison\b|"
    r"\bprior\b|\bcirrho\w*|\bhepatitis\b|\bHBV\b|\bimmuno\w*|\btransplant\w*|\bHIV\b|\brisk\b|"
    r"\blife\s+expectancy\b|\bcomorbid\w*|\bhospice\b|\bPSC\b|\bsclerosing\s+cholangitis\b|\bage\b|"
    r"\b(?:CT|MRI?|ultrasound|US|PET)\b",
    _I,
)
_NORMAL = re.compile(
    r"\b(?:normal|unremarkable|clear|no\s+(?:focal\s+)?(?:abnormalit|lesion|mass|nodule)\w*|within\s+normal)\b",
    _I,
)
_RESOLVED = re.compile(
    r"\b(?:has|have)\s+resolved\b|\bno\s+longer\s+(?:seen|visible|identified|visuali[sz]ed|present)\b|"
    r"\bresolution\s+of\b|\b(?:status\s+post|s/p)\s+\w*ectomy\b|\bresected\b|\bremoved\b",
    _I,
)
_LATERALITY = re.compile(r"\b(right|left|bilateral)\b", _I)
_LOBE_SIDE = {"R": "right", "L": "left"}


@dataclass
class _Span:
    start: int
    end: int


@dataclass
class _Anchor:
    organ: str
    start: int
    end: int


@dataclass
class _Unit:
    """A candidate finding: one organ, a span of the text, maybe extended by following sentences."""

    organ: str
    start: int
    end: int
    anchor: _Anchor
    extra: list[_Span] = field(default_factory=list)
    system: str | None = None  # set for a finding found by a tool's triggers rather than by an organ


def _sentences(text: str) -> list[_Span]:
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.group(0) == "." and _ABBREVIATIONS.search(text, max(0, m.start() - 8), m.start()):
            continue
        spans.append(_Span(start, m.start()))
        start = m.end()
    spans.append(_Span(start, len(text)))
    return [s for s in (_strip(text, s) for s in spans) if s.end > s.start]


def _strip(text: str, span: _Span) -> _Span:
    start, end = span.start, span.end
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return _Span(start, end)


_ANCHOR_PATTERNS = tuple((o.name, re.compile("|".join(f"(?:{p})" for p in o.anchors), _I)) for o in ORGANS)


def _anchors(text: str, span: _Span) -> list[_Anchor]:
    found: list[_Anchor] = []
    for organ, pattern in _ANCHOR_PATTERNS:
        for m in pattern.finditer(text, span.start, span.end):
            found.append(_Anchor(organ, m.start(), m.end()))
    found.sort(key=lambda a: (a.start, -a.end))
    merged: list[_Anchor] = []
    for a in found:
        if merged and a.start < merged[-1].end:
            continue
        merged.append(a)
    return merged


def _has(patterns: Iterable[str], text: str) -> re.Match[str] | None:
    for p in patterns:
        m = re.search(p, text, _I)
        if m:
            return m
    return None


def _lesion_in(organ: str, text: str) -> re.Match[str] | None:
    if organ not in _ORGANS:  # found by a tool's triggers: the sentence is the finding
        return re.search(r"\w+", text)
    return _has(_ORGANS[organ].lesions, text)


def _cut_between(text: str, lo: int, hi: int) -> int | None:
    """The last clause break in text[lo:hi] (a position to cut at), or None."""
    cut = None
    for m in _CLAUSE_BREAK.finditer(text, lo, hi):
        cut = m.start()
    return cut


def _units(text: str, sentence: _Span) -> list[_Unit]:
    """Split one sentence into organ units at clause breaks between different organs or measured lesions."""
    anchors = _anchors(text, sentence)
    if not anchors:
        return []
    groups: list[list[_Anchor]] = [[anchors[0]]]
    for a in anchors[1:]:
        groups[-1].append(a) if a.organ == groups[-1][-1].organ else groups.append([a])
    units: list[_Unit] = []
    start = sentence.start
    for i, group in enumerate(groups):
        end = sentence.end
        if i + 1 < len(groups):
            nxt = groups[i + 1][0]
            cut = _cut_between(text, group[-1].end, nxt.start)
            end = cut if cut is not None else nxt.start
        units.extend(_split_same_organ(text, group, start, end))
        start = end
    return units


def _split_same_organ(text: str, group: list[_Anchor], start: int, end: int) -> list[_Unit]:
    """Two measured lesions of one organ in one clause run ("6 mm RUL nodule and 4 mm LLL nodule") are two."""
    pieces: list[_Unit] = []
    piece_start = start
    for prev, nxt in pairwise(group):
        cut = _cut_between(text, prev.end, nxt.start)
        if cut is None:
            continue
        left, right = text[piece_start:cut], text[cut:end]
        right_own = text[cut : _next_anchor_end(group, nxt, end)]
        if (
            find_measurements(left)
            and find_measurements(right_own)
            and _lesion_in(prev.organ, left)
            and _lesion_in(nxt.organ, right)
        ):
            pieces.append(_Unit(prev.organ, piece_start, cut, _first_in(group, piece_start, cut)))
            piece_start = cut
    pieces.append(_Unit(group[0].organ, piece_start, end, _first_in(group, piece_start, end)))
    return pieces


def _next_anchor_end(group: list[_Anchor], current: _Anchor, end: int) -> int:
    later = [a.start for a in group if a.start > current.start]
    return min([*later, end])


def _first_in(group: list[_Anchor], start: int, end: int) -> _Anchor:
    inside = [a for a in group if start <= a.start < end]
    return inside[0] if inside else group[0]


# --- reading the report ------------------------------------------------------------------------------


@dataclass
class _Layout:
    units: list[_Unit]
    context: list[_Span]
    normal: list[tuple[_Span, str]]


_KNOWN_SYSTEMS = frozenset(
    {"fleischner", "lung_rads", "adrenal_incidentaloma", "bosniak", "renal_incidentaloma", "li_rads", "ti_rads",
     "thyroid_incidental", "pancreatic_cyst", "gallbladder_polyp", "o_rads", "pi_rads", "bi_rads"}
)  # fmt: skip


def _by_triggers(text: str, sentence: _Span, registry: ToolRegistry) -> _Unit | None:
    """A sentence naming no organ above but matching another registered system's triggers (a plugin's)."""
    if not any(t.name not in _KNOWN_SYSTEMS for t in registry.of_kind("classification")):
        return None
    words = text[sentence.start : sentence.end]
    if not re.search(r"\d", words):  # a finding to classify states at least one number
        return None
    system = infer_system(words, registry=registry)
    if system is None or system in _KNOWN_SYSTEMS:
        return None
    anchor = _Anchor("other", sentence.start, sentence.start)
    return _Unit("other", sentence.start, sentence.end, anchor, system=system)


def _layout(text: str, registry: ToolRegistry) -> _Layout:
    units: list[_Unit] = []
    context: list[_Span] = []
    normal: list[tuple[_Span, str]] = []
    previous_was_finding = False
    for sentence in _sentences(text):
        found = _units(text, sentence)
        with_lesion = [u for u in found if _lesion_in(u.organ, text[u.start : u.end])]
        if with_lesion:
            units.extend(with_lesion)
            previous_was_finding = True
            for u in found:
                if u not in with_lesion:
                    _organ_statement(text, u, context, normal, _Span(u.start, u.end))
            continue
        if found:
            for u in found:
                _organ_statement(text, u, context, normal, sentence)
            previous_was_finding = False
            continue
        words = text[sentence.start : sentence.end]
        if previous_was_finding and units and _CONTINUES.search(words) and not _CONTEXT.search(words):
            units[-1].extra.append(sentence)
            continue
        other = _by_triggers(text, sentence, registry)
        if other is not None:
            units.append(other)
            previous_was_finding = True
            continue
        if _CONTEXT.search(words):
            context.append(sentence)
        previous_was_finding = False
    return _Layout(units, context, normal)


def _organ_statement(
    text: str, unit: _Unit, context: list[_Span], normal: list[tuple[_Span, str]], sentence: _Span
) -> None:
    """An organ named without a lesion: a normal organ (ignored, with why) or patient context.

    "The pancreas, spleen and liver are unremarkable": the normal word may sit in the sentence's last clause.
    """
    words = text[unit.start : unit.end]
    said = text[sentence.start : sentence.end]
    if (
        _NORMAL.search(words)
        or _NORMAL.search(said)
        or negation_trigger(text, unit.anchor.start, unit.anchor.end)
    ):
        normal.append((_Span(unit.start, unit.end), f"no {unit.organ} lesion described (normal or absent)"))
    elif _CONTEXT.search(words):
        context.append(_Span(unit.start, unit.end))


_NOT_A_LESION = {
    "prostate": (
        re.compile(r"\bBPH\b|\bbenign\s+prostatic\s+hyperplasia\b", _I),
        "BPH nodules: no PI-RADS lesion described",
    ),
    "lung": (
        re.compile(r"\bcalcified\s+granulomas?\b", _I),
        "calcified granuloma: benign, not a nodule to manage",
    ),
}


def _negated(text: str, unit: _Unit) -> str | None:
    """Why the unit's lesion is not classified: negated, resolved or not a lesion; None when it is stated."""
    words = text[unit.start : unit.end]
    benign = _NOT_A_LESION.get(unit.organ)
    if benign is not None and benign[0].search(words):
        return benign[1]
    resolved = _RESOLVED.search(words)
    if resolved:
        return f"resolved or removed ({resolved.group(0)!r})"
    lesion = _lesion_in(unit.organ, words)
    for start, end in ((unit.anchor.start, unit.anchor.end),) + (
        ((unit.start + lesion.start(), unit.start + lesion.end()),) if lesion else ()
    ):
        trigger = negation_trigger(text, start, end)
        if trigger is None:
            continue
        gap = text[max(unit.start, start - 40) : start]
        at = gap.lower().rfind(trigger.lower())
        between = gap[at + len(trigger) :] if at >= 0 else ""
        if re.search(r"\b(?:in|of|within|involving|along)\b", between, _I) and not re.search(
            r"\bevidence\s+of\b", trigger, _I
        ):
            continue  # "no septations in the renal cyst": the negation is about a feature, not the lesion
        return f"negated ({trigger!r})"
    return None


def _describe(text: str, unit: _Unit) -> dict[str, Any]:
    words = text[unit.start : _unit_end(unit)]
    organ = _ORGANS.get(unit.organ, Organ(unit.organ, (), ()))
    location = _has(organ.locations, words)
    side = _LATERALITY.search(words)
    laterality = side.group(1).lower() if side else None
    if laterality is None and location is not None and location.group(0)[:1] in _LOBE_SIDE:
        if location.group(0).isupper():
            laterality = _LOBE_SIDE[location.group(0)[0]]
    lesion = _lesion_in(unit.organ, words)
    return {
        "organ": unit.organ,
        "laterality": laterality,
        "location": location.group(0) if location else None,
        "lesion": lesion.group(0).lower() if lesion else "finding",
        "measurements": [m.text.strip() for m in find_measurements(words)],
    }


def _unit_end(unit: _Unit) -> int:
    return max([unit.end, *(s.end for s in unit.extra)])


def read_report(text: str, *, registry: ToolRegistry | None = None) -> ReportReading:
    """Split a report into findings, classify each with its own system, and list what was left out and why."""
    if not isinstance(text, str):
        raise TypeError("read_report needs the report text as a string")
    registry = REGISTRY if registry is None else registry
    layout = _layout(text, registry)
    context = _context_text(text, layout)
    findings: list[Finding] = []
    ignored = [
        Ignored(text=text[s.start : s.end], start=s.start, end=s.end, why=why) for s, why in layout.normal
    ]
    impression = _IMPRESSION.search(text)
    for unit in layout.units:
        end = _unit_end(unit)
        words = text[unit.start : end]
        restated = _restated(text, unit, findings, impression.start() if impression else None)
        if restated is not None:
            ignored.append(
                Ignored(text=words, start=unit.start, end=end, why=f"restates finding #{restated}")
            )
            continue
        why = _negated(text, unit)
        system: str | None
        if why is None and unit.system is not None:
            system = unit.system
        elif why is None:
            system, why = _system_for(unit.organ, words, context)
            if system is not None and system not in registry:
                system, why = None, f"no classification tool {system!r} is registered"
        else:
            system = None
        if system is None:
            ignored.append(Ignored(text=words, start=unit.start, end=end, why=why or "not classified"))
            continue
        tool = registry.get(system)
        evidence = Evidence(text=words, start=unit.start, end=end)
        extraction = _extract(tool, words, context)
        findings.append(
            _classified(
                tool, len(findings) + 1, _describe(text, unit), evidence, extraction.inputs, extraction
            )
        )
    ignored.sort(key=lambda i: i.start)
    findings = _multiple_nodules(findings, registry)
    return ReportReading(findings=findings, ignored=ignored)


_PATIENT = re.compile(
    r"\b\d{1,3}[- ]?(?:years?|yrs?)[- ]?old\b|\b\d{1,3}\s*(?:yo|y/o)\b|\bsmok\w*|\bpack[- ]?years?\b|"
    r"\b(?:low|high)[- ]risk\b|\bhistory\s+of\b|\b(?:pre|post|peri)?-?menopaus\w*|\bscreening\b|\bLDCT\b|\bcirrho\w*|"
    r"\bhepatitis\b|\bimmuno\w*|\bhospice\b|\blife\s+expectancy\b|\bincidental(?:ly)?\b",
    _I,
)
_PIECE = re.compile(r"[,:]|\bin\s+an?\b", _I)


def _context_text(text: str, layout: _Layout) -> str:
    """Patient context for every finding: context sentences, plus patient phrases inside finding sentences.

    Sizes in context are blanked: a prior size or another organ's size must not be read as this finding's.
    """
    pieces = [text[s.start : s.end] for s in layout.context]
    for unit in layout.units:
        words = text[unit.start : unit.end]
        for m in _PATIENT.finditer(words):
            cuts = [c.end() for c in _PIECE.finditer(words, 0, m.start())]
            ends = [c.start() for c in _PIECE.finditer(words, m.end())]
            piece = words[max(cuts, default=0) : min(ends, default=len(words))]
            if not find_measurements(piece):
                pieces.append(piece.strip())
    context = " ".join(dict.fromkeys(p for p in pieces if p))
    for measurement in reversed(find_measurements(context)):
        start, end = measurement.start, measurement.end
        context = context[:start] + " " * (end - start) + context[end:]
    return context


_IMPRESSION = re.compile(r"\b(?:IMPRESSION|CONCLUSIONS?|SUMMARY|OPINION)\s*:", re.IGNORECASE)


_SYSTEM_NAME = re.compile(r"bosniak|pi-?\s?rads|bi-?\s?rads|LR-\w+|TR\d", _I)
"""Organ "lesion" words that are a system's name: alone they ask for a classification, they are no lesion."""


def _restated(text: str, unit: _Unit, findings: list[Finding], impression_at: int | None) -> int | None:
    """The number of an earlier finding this unit restates (an impression repeating the findings), or None.

    In the impression, a lesion of an organ and side already described is a restatement; elsewhere only one
    that also repeats a measurement of it, or a question that names only the system ("Bosniak class?",
    "PI-RADS?" after the lesion): it asks for the last finding of that organ.
    """
    words = text[unit.start : _unit_end(unit)]
    side = _LATERALITY.search(words)
    sizes = {m.dims_mm for m in find_measurements(words)}
    lesion = _lesion_in(unit.organ, words)
    same_organ = [f for f in findings if f.organ == unit.organ]
    if lesion is not None and _SYSTEM_NAME.fullmatch(lesion.group(0)) and not sizes and same_organ:
        return same_organ[-1].number
    for f in findings:
        if f.organ != unit.organ or (side and f.laterality and side.group(1).lower() != f.laterality):
            continue
        earlier = {m.dims_mm for m in find_measurements(f.evidence.text)}
        if impression_at is not None and unit.start > impression_at >= f.evidence.start:
            if not sizes or sizes & earlier:
                return f.number
        elif sizes and sizes & earlier:
            return f.number
    return None


def _extract(tool: Tool, words: str, context: str) -> Extraction:
    if tool.extractor is None:
        return Extraction(system=tool.name)
    return tool.extractor(f"{words}. {context}" if context else words)


def _rule(result: ClassificationResult) -> str | None:
    rule = result.details.get("rule") if isinstance(result.details, dict) else None
    if isinstance(rule, str):
        return rule
    for line in result.rationale:
        if re.search(r"\brow\b|->|\bClass\b|\bcategory\b|\bTR\d|\bLR-", line):
            return line
    return result.rationale[-1] if result.rationale else None


def _questions(tool: Tool, names: list[str]) -> list[str]:
    out = []
    for name in names:
        info = tool.input_model.model_fields.get(name)
        description = info.description if info and info.description else name.replace("_", " ")
        out.append(f"{name.replace('_', ' ')}: {description}")
    return out


def _classified(
    tool: Tool,
    number: int,
    described: dict[str, Any],
    evidence: Evidence,
    inputs: dict[str, Any],
    extraction: Extraction | None = None,
) -> Finding:
    extraction = extraction or Extraction(system=tool.name, inputs=dict(inputs))
    result = classify_inputs(tool, dict(inputs), extraction)
    resolution = resolve(tool, dict(inputs), result, evidence.text)
    r = resolution.result
    ask = resolution.ask if not r.decided and not r.not_applicable else []
    return Finding(
        number=number,
        **described,
        system=tool.name,
        guideline=r.guideline,
        category=r.category,
        management=r.management,
        rule=_rule(r),
        citation=r.citation,
        missing=ask,
        questions=_questions(tool, ask),
        branches=resolution.branches,
        assumptions=resolution.assumptions,
        at_least=resolution.at_least,
        not_applicable=r.not_applicable,
        caveats=list(r.caveats),
        evidence=evidence,
        inputs=dict(inputs),
        read_from={k: v for k, v in extraction.evidence.items() if k in inputs},
        used=dict(r.inputs),
        result=r,
    )


# --- several nodules -----------------------------------------------------------------------------------

_MULTIPLE_RULE = {
    "fleischner": "Fleischner 2017: multiple nodules are managed with the multiple-nodule rows, guided by the "
    "most suspicious nodule",
    "lung_rads": "Lung-RADS v2022: the exam is categorised by the most suspicious finding",
}


def _size(f: Finding) -> float:
    values = [v for k, v in f.inputs.items() if k.endswith("_mm") and isinstance(v, int | float)]
    return max(values, default=0.0)


def _multiple_nodules(findings: list[Finding], registry: ToolRegistry) -> list[Finding]:
    for system, rule in _MULTIPLE_RULE.items():
        group = [f for f in findings if f.system == system]
        if len(group) < 2:
            continue
        tool = registry.get(system)
        if system == "fleischner":
            for f in group:  # each is one of several nodules: the multiple-nodule rows apply
                if f.inputs.get("count") != "multiple":
                    redone = _classified(
                        tool, f.number, _described(f), f.evidence, {**f.inputs, "count": "multiple"}
                    )
                    redone.read_from = {**f.read_from, "count": f"{len(group)} nodules in the report"}
                    findings[findings.index(f)] = redone
            group = [f for f in findings if f.system == system]
        order = severity(tool)

        def concern(f: Finding, order: tuple[str, ...] = order) -> tuple[int, float]:
            labels = [b.category for b in f.branches] or [f.category]
            ranks = [r for c in labels if (r := rank(order, c)) is not None]
            return (max(ranks, default=-1), _size(f))

        dominant = max(group, key=concern)
        for f in group:
            f.dominant = f is dominant
            f.group_rule = rule
            f.managed_with = None if f is dominant else dominant.number
    return findings


def _described(f: Finding) -> dict[str, Any]:
    return {
        "organ": f.organ,
        "laterality": f.laterality,
        "location": f.location,
        "lesion": f.lesion,
        "measurements": list(f.measurements),
    }


# --- follow-ups -----------------------------------------------------------------------------------------

_HYPOTHETICAL = re.compile(r"\b(?:were|would be|became|becomes|turned out to be)\s+", _I)
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "last": -1,
}
_NUMBER_REF = re.compile(r"(?:#\s*|\b(?:finding|number|no\.?|item|lesion|nodule)\s+)(\d{1,2})\b", _I)
_ORGAN_WORDS = {
    "lung": r"\b(?:lung|pulmonary|nodule|RUL|RML|RLL|LUL|LLL|lobe)\b",
    "adrenal": r"\badrenal\b",
    "kidney": r"\b(?:renal|kidney|bosniak)\b",
    "liver": r"\b(?:liver|hepatic|observation)\b",
    "thyroid": r"\bthyroid\b",
    "pancreas": r"\bpancrea\w*",
    "gallbladder": r"\b(?:gall\s?bladder|polyp)\b",
    "adnexa": r"\b(?:ovar\w*|adnex\w*)\b",
    "prostate": r"\b(?:prostat\w*|PZ|TZ)\b",
    "breast": r"\bbreast\b",
}


def as_statement(message: str) -> str:
    """Read a hypothetical follow-up as a finding: "if DCE were negative" -> "if DCE negative"."""
    return _HYPOTHETICAL.sub("", message)


def merge_inputs(
    previous: dict[str, Any], new: dict[str, Any], tool: Tool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Overlay new inputs on earlier ones; a new value in an exclusive group replaces the whole group.

    Returns the merged inputs and the subset carried over from earlier turns.
    """
    dropped: set[str] = set()
    for group in tool.exclusive_groups:
        if any(k in new for k in group):
            dropped.update(k for k in group if k not in new)
    carried = {k: v for k, v in previous.items() if k not in new and k not in dropped}
    return {**carried, **new}, carried


def find_target(findings: list[Finding], message: str) -> Finding | None:
    """The finding a follow-up refers to: by number ("#2", "the second one"), by organ or system; else None.

    A reference that fits several findings (two lung nodules, "the nodule") is None unless a number or the
    location as the report wrote it ("the LLL nodule") says which.
    """
    m = _NUMBER_REF.search(message)
    if m:
        wanted = int(m.group(1))
        return next((f for f in findings if f.number == wanted), None)
    for word, number in _ORDINALS.items():
        if re.search(rf"\b{word}\b", message, _I):
            if number == -1:
                return findings[-1] if findings else None
            return next((f for f in findings if f.number == number), None)
    by_system = [
        f for f in findings if re.search(r"\b" + f.system.replace("_", r"[-_\s]?") + r"\b", message, _I)
    ]
    if len({f.number for f in by_system}) == 1:
        return by_system[0]
    hits = [f for f in findings if re.search(_ORGAN_WORDS.get(f.organ, r"$^"), message, _I)]
    if len(hits) > 1:  # two nodules: the lobe (zone, segment) as written may say which
        hits = [f for f in hits if f.location and re.search(rf"\b{re.escape(f.location)}\b", message, _I)]
    if len(hits) == 1:
        return hits[0]
    if len(findings) == 1:
        return findings[0]
    return None


def apply_followup(
    reading: ReportReading, message: str, *, registry: ToolRegistry | None = None
) -> Finding | None:
    """Recompute the finding a follow-up refers to with the values it gives; None when it names no finding.

    The new values are read by that system's extractor from the follow-up alone and overlaid on the
    finding's inputs (a new size replaces the whole size group). Nothing else in the reading changes.
    """
    registry = REGISTRY if registry is None else registry
    target = find_target(reading.findings, message)
    if target is None:
        return None
    tool = registry.get(target.system)
    statement = as_statement(message)
    new = tool.extractor(statement).inputs if tool.extractor else {}
    if not new:
        return None
    merged, _ = merge_inputs(target.inputs, dict(new), tool)
    described = _described(target)
    if sizes := [m.text.strip() for m in find_measurements(statement)]:
        described["measurements"] = sizes  # the row is labelled with the size it was recomputed for
    redone = _classified(tool, target.number, described, target.evidence, merged)
    redone.read_from = {**target.read_from, **{k: f"follow-up: {statement.strip()}" for k in new}}
    return redone


def replace_finding(
    reading: ReportReading, finding: Finding, *, registry: ToolRegistry | None = None
) -> ReportReading:
    """The reading with `finding` in place of the one with its number, the multiple-nodule rule applied again
    (a follow-up can change which nodule is dominant). `reading` itself is left as it was."""
    registry = REGISTRY if registry is None else registry
    if not any(f.number == finding.number for f in reading.findings):
        raise ValueError(f"the report has no finding #{finding.number}")
    findings = [
        (finding if f.number == finding.number else f).model_copy(
            update={"dominant": None, "managed_with": None}
        )
        for f in reading.findings
    ]
    return ReportReading(findings=_multiple_nodules(findings, registry), ignored=list(reading.ignored))
