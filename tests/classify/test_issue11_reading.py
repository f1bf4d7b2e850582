"""Issue 11: negation (NegEx/ConText), evidence at token boundaries, O-RADS sizes, and actionable management texts."""

from __future__ import annotations

import pytest

from tools.classify._extract import snippet
from tools.classify.adrenal_incidentaloma import AdrenalInput
from tools.classify.adrenal_incidentaloma import classify as adrenal
from tools.classify.adrenal_incidentaloma import extract as adrenal_extract
from tools.classify.fleischner import FleischnerInput
from tools.classify.fleischner import classify as fleischner
from tools.classify.fleischner import extract as fleischner_extract
from tools.classify.negation import PSEUDO, is_negated_span, negation_trigger
from tools.classify.o_rads import extract as o_rads_extract
from tools.classify.text import is_negated

# --- negation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term", "negated"),
    [
        ("No adrenal nodule.", "adrenal", True),
        ("No evidence of pulmonary nodules.", "pulmonary", True),
        ("No change in washout of the adrenal nodule.", "washout", False),  # pseudo-negation
        ("Cannot exclude a small renal mass.", "renal", False),  # ConText: possibility, not negation
        ("Metastasis cannot be excluded.", "Metastasis", False),
        ("Not only a cyst but also an enhancing nodule.", "nodule", False),  # terminated by "but"
        ("No hydronephrosis, but a 2 cm renal cyst.", "renal", False),  # terminator
        (
            "Without contrast, a 2 cm adrenal nodule measures 8 HU.",
            "adrenal",
            False,
        ),  # new clause after "without"
        ("Thin wall without septations.", "septations", True),
        ("Previously seen renal cyst has resolved.", "renal", True),  # post-negation
        ("The left ovary is not visualized.", "ovary", True),
        ("Right lung nodule is no longer seen.", "nodule", True),
        ("No interval change in the 6 mm nodule.", "nodule", False),
    ],
)
def test_negation_with_pseudo_triggers_and_terminators(text: str, term: str, negated: bool) -> None:
    start = text.index(term)
    assert is_negated_span(text, start, start + len(term)) is negated


def test_is_negated_keeps_its_pre_negation_meaning() -> None:
    text = "Previously seen renal cyst has resolved."
    assert is_negated(text, text.index("renal")) is False  # extractors' pre-negation test is unchanged
    assert negation_trigger(text, text.index("renal"), text.index("renal") + 5) == "has resolved"


def test_pseudo_list_is_ported_with_the_negex_entries() -> None:
    for entry in (
        "no change",
        "no interval change",
        "not only",
        "no significant change",
        "without difficulty",
    ):
        assert entry in PSEUDO


# --- evidence at token boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("Left ovarian cyst measuring 2.2 cm.", "2.2 cm", "Left ovarian cyst measuring 2.2 cm"),
        ("Nodule of 3.1 cm in the right lobe", "3.1 cm", "Nodule of 3.1 cm"),
        ("x" * 50 + " adrenal nodule 1.5 cm", "1.5 cm", "adrenal nodule 1.5 cm"),
    ],
)
def test_snippets_never_cut_a_number(text: str, value: str, expected: str) -> None:
    start = text.index(value)
    assert snippet(text, start, start + len(value)) == expected
    assert snippet(text, start + 2, start + len(value)).endswith(
        value
    )  # a start inside the number moves back


def test_evidence_keeps_decimal_sizes() -> None:
    found = o_rads_extract("Simple cyst of the right ovary measuring 3.1 cm, premenopausal.")
    assert found.evidence["max_diameter_mm"] == "3.1 cm"


# --- O-RADS -------------------------------------------------------------------------------------------


def test_orads_size_followed_by_without_solid_is_kept() -> None:
    found = o_rads_extract("Right ovarian cyst 6 cm without solid component, postmenopausal.")
    assert found.inputs["max_diameter_mm"] == 60.0 and found.inputs["solid_component"] is False


def test_orads_solid_component_size_is_still_skipped() -> None:
    found = o_rads_extract("Unilocular cyst 5 cm with a 12 mm solid component.")
    assert found.inputs.get("max_diameter_mm") == 50.0


# --- adrenal: after a non-diagnostic test, the next step (ACR 2017 flowchart) -------------------------


def test_adrenal_after_nondiagnostic_washout_is_not_another_washout() -> None:
    result = adrenal(
        AdrenalInput(
            size_mm=26,
            unenhanced_hu=28,
            enhanced_hu=90,
            delayed_hu=70,
            prior_imaging="none",
            cancer_history=False,
        )
    )
    assert result.category == "indeterminate 2–<4 cm"
    assert result.management is not None
    assert "Adrenal-protocol CT (washout) or chemical-shift MRI" not in result.management
    assert "imaging follow-up, biopsy, PET/CT or resection" in result.management


def test_adrenal_after_nondiagnostic_chemical_shift_mri_suggests_the_other_test() -> None:
    result = adrenal(
        AdrenalInput(size_mm=26, chemical_shift_signal_loss=False, prior_imaging="none", cancer_history=False)
    )
    assert result.management is not None and result.management.startswith("Non-diagnostic chemical-shift MRI")
    assert "chemical-shift MRI." not in result.management.split(":", 1)[1]


def test_adrenal_cancer_history_after_nondiagnostic_washout() -> None:
    result = adrenal(
        AdrenalInput(
            size_mm=26,
            unenhanced_hu=28,
            enhanced_hu=90,
            delayed_hu=70,
            prior_imaging="none",
            cancer_history=True,
        )
    )
    assert result.category == "indeterminate 1–4 cm, cancer history"
    assert "biopsy, PET/CT or resection" in (result.management or "")


def test_adrenal_enlarging_after_nondiagnostic_washout_is_resection() -> None:
    result = adrenal(
        AdrenalInput(
            size_mm=26,
            unenhanced_hu=28,
            enhanced_hu=90,
            delayed_hu=70,
            prior_imaging="new_or_enlarging",
            cancer_history=False,
        )
    )
    assert result.management == "Consider resection."


def test_adrenal_no_change_in_washout_is_not_a_negation() -> None:
    found = adrenal_extract("No change in the 2.5 cm left adrenal nodule, 5 HU on unenhanced CT.")
    assert found.inputs["unenhanced_hu"] == 5.0 and found.inputs["size_mm"] == 25.0


def test_adrenal_prior_size_is_not_the_current_size() -> None:
    found = adrenal_extract("2.2 cm right adrenal nodule, enlarging (previously 1.4 cm).")
    assert found.inputs["size_mm"] == 22.0


# --- Fleischner: the perifissural exception leads -----------------------------------------------------


def test_perifissural_morphology_leads_with_no_routine_follow_up() -> None:
    result = fleischner(
        FleischnerInput(nodule_type="solid", count="single", risk="high", diameter_mm=7, perifissural=True)
    )
    assert result.management is not None and result.management.startswith("No routine follow-up")
    assert "otherwise: CT at 6-12 months, then CT at 18-24 months" in result.management


@pytest.mark.parametrize(
    "text",
    [
        "7 mm solid perifissural nodule along the right major fissure, triangular",
        "7 mm solid nodule, typical intrapulmonary lymph node, RLL",
        "7 mm solid juxtapleural nodule, lentiform, LLL",
    ],
)
def test_perifissural_and_juxtapleural_lymph_node_words(text: str) -> None:
    assert fleischner_extract(text).inputs.get("perifissural") is True


def test_plain_juxtapleural_nodule_is_not_read_as_a_lymph_node() -> None:
    assert "perifissural" not in fleischner_extract("7 mm solid juxtapleural nodule RUL").inputs
