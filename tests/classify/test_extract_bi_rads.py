"""Reading a BI-RADS assessment, likelihood, modality and exam type from report text (never inferring a category)."""

from __future__ import annotations

from typing import Any

import pytest

import tools
from tools.classify.bi_rads import BiRadsInput

TOOL = tools.load_tools().get("bi_rads")
assert TOOL.extractor is not None
extract = TOOL.extractor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Diagnostic mammogram: BI-RADS 4B, irregular mass in the left breast.",
            {"assessment": "4B", "modality": "mammography", "exam_type": "diagnostic"},
            id="bi-rads-4B-diagnostic-mammogram",
        ),
        pytest.param("Impression: BIRADS 3.", {"assessment": "3"}, id="birads-no-hyphen"),
        pytest.param("BI-RADS category 4a.", {"assessment": "4A"}, id="category-lowercase-subcategory"),
        pytest.param("ACR BI-RADS: 5", {"assessment": "5"}, id="colon"),
        pytest.param(
            "Final assessment: Category 2 - benign.", {"assessment": "2"}, id="final-assessment-category"
        ),
        pytest.param(
            "Breast MRI: BI-RADS IV.", {"assessment": "4", "modality": "mri"}, id="roman-numeral-mri"
        ),
        pytest.param(
            "Screening mammogram. BI-RADS 0: recall for additional views.",
            {"assessment": "0", "modality": "mammography", "exam_type": "screening"},
            id="category-0-screening",
        ),
        pytest.param(
            "Breast ultrasound: BI-RADS 3, probably benign.",
            {"assessment": "3", "modality": "ultrasound"},
            id="ultrasound",
        ),
        pytest.param(
            "Targeted US: BI-RADS 4C.", {"assessment": "4C", "modality": "ultrasound"}, id="US-abbreviation"
        ),
        pytest.param(
            "Irregular mass with an estimated likelihood of malignancy of 30%.",
            {"malignancy_likelihood_pct": 30.0},
            id="likelihood-after",
        ),
        pytest.param(
            "About 5% likelihood of malignancy on tomosynthesis.",
            {"malignancy_likelihood_pct": 5.0, "modality": "mammography"},
            id="likelihood-before",
        ),
        pytest.param(
            "No prior mammograms for comparison. Breast MRI: BI-RADS 2.",
            {"assessment": "2", "modality": "mri"},
            id="negated-modality-ignored",
        ),
        pytest.param(
            "Let us review the images: BI-RADS 1.", {"assessment": "1"}, id="pronoun-us-not-ultrasound"
        ),
        pytest.param("BI-RADS 6, known biopsy-proven cancer.", {"assessment": "6"}, id="category-6"),
    ],
)
def test_reads_what_the_text_states(text: str, expected: dict[str, Any]) -> None:
    found = extract(text)
    assert found.system == "bi_rads"
    assert found.inputs == expected
    assert set(found.evidence) == set(expected)
    for key, evidence in found.evidence.items():
        assert evidence and evidence in text, key
    BiRadsInput.model_validate(found.inputs)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Findings described with the BI-RADS 5th edition lexicon.", id="5th-edition-is-not-category-5"
        ),
        pytest.param("Reported per BI-RADS 2013.", id="year-is-not-a-category"),
        pytest.param("BI-RADS density C, heterogeneously dense.", id="density-is-not-an-assessment"),
        pytest.param("Assessment: 2 cm mass in the upper outer quadrant.", id="size-is-not-a-category"),
        pytest.param("BI-RADS 7.", id="no-category-7"),
        pytest.param("A breast mass was seen.", id="no-assessment-at-all"),
    ],
)
def test_refuses_numbers_that_are_not_assessments(text: str) -> None:
    found = extract(text)
    assert "assessment" not in found.inputs
    assert "assessment" in found.undetermined


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("BI-RADS 4 or 5.", id="either-or"),
        pytest.param("BI-RADS 3-4.", id="range"),
        pytest.param("Right breast BI-RADS 2, left breast BI-RADS 4A.", id="two-assessments"),
        pytest.param("Previously BI-RADS 3, now BI-RADS 4B.", id="old-and-new"),
    ],
)
def test_ambiguous_assessments_stay_undetermined(text: str) -> None:
    found = extract(text)
    assert "assessment" not in found.inputs
    assert "assessment" in found.undetermined


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("likelihood of malignancy <2%", id="bound"),
        pytest.param("2-10% likelihood of malignancy", id="range-before"),
        pytest.param("likelihood of malignancy of 2-10%", id="range-after"),
    ],
)
def test_likelihood_bounds_and_ranges_are_not_values(text: str) -> None:
    assert "malignancy_likelihood_pct" not in extract(text).inputs


def test_two_modalities_leave_modality_undetermined() -> None:
    found = extract("Mammography and ultrasound: BI-RADS 4A.")
    assert found.inputs == {"assessment": "4A"}
    assert found.undetermined == ["modality"]


def test_screening_and_diagnostic_leave_exam_type_undetermined() -> None:
    found = extract("Diagnostic work-up of a screening-detected mass: BI-RADS 3.")
    assert "exam_type" not in found.inputs
    assert "exam_type" in found.undetermined


def test_category_3_without_exam_type_asks_for_it() -> None:
    assert extract("BI-RADS 3.").undetermined == ["exam_type"]


def test_subcategory_without_modality_asks_for_it() -> None:
    assert extract("BI-RADS 4A.").undetermined == ["modality"]


def test_complete_category_has_nothing_undetermined() -> None:
    assert extract("BI-RADS 2.").undetermined == []
