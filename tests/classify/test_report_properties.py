"""Properties of reading (hypothesis): rewording a known-good finding never changes its category.

Each system has one known-good finding written as a head clause with modifier clauses and patient-context
sentences. Hypothesis rewrites it: synonyms for words that mean the same, the size in mm or cm, the modifier
clauses and context sentences in any order, and irrelevant sentences added before and after. The whole report
reader (`read_report`) must still give one finding of that system with the same category.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools import load_tools
from tools.classify.report import read_report

REGISTRY = load_tools()
IRRELEVANT = (
    "No pleural effusion.",
    "Degenerative changes of the spine.",
    "Heart size is normal.",
    "The aorta is of normal caliber.",
    "Small hiatal hernia.",
    "Mild atherosclerotic calcification.",
)


@dataclass(frozen=True)
class Case:
    system: str
    category: str
    head: str  # with {size} and any {slot}
    size_mm: float
    slots: dict[str, tuple[str, ...]]
    modifiers: tuple[tuple[str, ...], ...] = ()  # each: interchangeable wordings of one clause
    context: tuple[tuple[str, ...], ...] = ()  # each: interchangeable wordings of one sentence


CASES = (
    Case(
        "fleischner", "solid, single, 6-8 mm, high risk", "{size} solid nodule in the {lobe}", 7,
        {"lobe": ("RUL", "right upper lobe")},
        (("former smoker", "ex-smoker", "40 pack-year smoking history"),),
    ),
    Case(
        "lung_rads", "4A", "{size} solid nodule in the {lobe}", 9,
        {"lobe": ("LLL", "left lower lobe")},
        context=(("Baseline screening LDCT.", "Low-dose CT for lung cancer screening, baseline."),),
    ),
    Case(
        "adrenal_incidentaloma", "indeterminate 2–<4 cm", "{size} {side} adrenal {noun}", 24,
        {"side": ("left", "right"), "noun": ("nodule", "mass", "lesion")},
        (("32 HU on unenhanced images", "32 HU on noncontrast CT", "measuring 32 HU on the non-contrast series"),),
        (("No prior imaging.", "No prior imaging is available."), ("No history of malignancy.", "No known history of cancer.")),
    ),
    Case(
        "bosniak", "II", "{size} cystic {noun} in the {side} kidney", 28,
        {"noun": ("mass", "lesion"), "side": ("left", "right")},
        (
            ("two thin smooth enhancing septa", "2 thin enhancing septa"),
            ("thin smooth wall", "a thin smooth wall"),
            ("15 HU on portal venous CT", "15 HU in the portal venous phase"),
        ),
    ),
    Case(
        "renal_incidentaloma", "benign: hyperdense cyst", "homogeneous {size} {side} renal lesion measuring 75 HU on {phase}", 26,
        {"side": ("left", "right"), "phase": ("unenhanced CT", "noncontrast CT", "non-contrast images")},
    ),
    Case(
        "o_rads", "2", "simple cyst of the {side} ovary measuring {size}", 55,
        {"side": ("left", "right")},
        context=(("Postmenopausal woman.", "The patient is postmenopausal."),),
    ),
    Case(
        "pi_rads", "4", "{size} lesion in the {side} peripheral zone", 12,
        {"side": ("left", "right")},
        (("DWI score 4", "DWI 4"),),
    ),
    Case(
        "ti_rads", "TR4", "{size} solid hypoechoic nodule in the {side} thyroid lobe", 18,
        {"side": ("left", "right")},
        (("wider than tall",), ("smooth margins", "smooth margin"), ("no echogenic foci",)),
    ),
    Case(
        "li_rads", "LR-5", "{size} observation in segment {segment}", 23,
        {"segment": ("7", "VII", "6")},
        (("nonrim APHE", "nonrim arterial phase hyperenhancement"), ("nonperipheral washout",)),
        (("Cirrhosis.", "Patient with cirrhosis."),),
    ),
    Case(
        "thyroid_incidental", "≥35 y, ≥1.5 cm", "{size} {side} thyroid nodule", 17,
        {"side": ("left", "right")},
        (("no cervical lymphadenopathy", "no abnormal lymph nodes"),),
        (("CT neck, 45-year-old.", "CT of the neck in a 45-year-old."),),
    ),
    Case(
        "pancreatic_cyst", "<1.5 cm", "{size} cyst in the pancreatic {part}", 11,
        {"part": ("body", "tail", "head")},
        (("no worrisome features or high-risk stigmata", "without worrisome features or high-risk stigmata"),),
    ),
    Case(
        "gallbladder_polyp", "low risk, 7-9 mm", "{size} sessile gallbladder polyp", 8,
        {},
        (("no adjacent wall thickening", "without focal wall thickening"),),
    ),
)  # fmt: skip


def _size(size_mm: float, in_cm: bool) -> str:
    return f"{size_mm / 10:g} cm" if in_cm else f"{size_mm:g} mm"


@st.composite
def reports(draw: st.DrawFn, case: Case) -> str:
    slots = {name: draw(st.sampled_from(words)) for name, words in case.slots.items()}
    head = case.head.format(size=_size(case.size_mm, draw(st.booleans())), **slots)
    modifiers = [draw(st.sampled_from(words)) for words in case.modifiers]
    modifiers = draw(st.permutations(modifiers)) if modifiers else []
    finding = ", ".join([head[0].upper() + head[1:], *modifiers]) + "."
    context = [draw(st.sampled_from(words)) for words in case.context]
    before = draw(st.lists(st.sampled_from(IRRELEVANT), max_size=2, unique=True))
    after = draw(st.lists(st.sampled_from(IRRELEVANT), max_size=2, unique=True))
    sentences = [*before, *context, finding, *after]
    if context and draw(st.booleans()):  # patient context may also come after the finding
        sentences = [*before, finding, *context, *after]
    return " ".join(sentences)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.system)
def test_rewording_keeps_the_category(case: Case) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=reports(case))
    def check(text: str) -> None:
        reading = read_report(text, registry=REGISTRY)
        assert [(f.system, f.category) for f in reading.findings] == [(case.system, case.category)], text

    check()
