"""BI-RADS 5th edition (2013) assessment table, written from the atlas's categories table (project reference §8)."""

from __future__ import annotations

from typing import Any

import pytest

import tools
from tools.classify.base import ClassificationResult
from tools.registry import ToolInputError

TOOL = tools.load_tools().get("bi_rads")


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run(inputs)
    assert isinstance(result, ClassificationResult)
    return result


ROUTINE = "Routine mammography screening"
TISSUE = "Tissue diagnosis"


@pytest.mark.parametrize(
    ("assessment", "management", "risk_fragment"),
    [
        pytest.param("0", "Recall for additional imaging", None, id="0-incomplete"),
        pytest.param("1", ROUTINE, "Essentially 0%", id="1-negative"),
        pytest.param("2", ROUTINE, "Essentially 0%", id="2-benign"),
        pytest.param("3", "Short-interval (6-month) follow-up", ">0% but ≤2%", id="3-probably-benign"),
        pytest.param("4", TISSUE, ">2% but <95%", id="4-suspicious"),
        pytest.param("4A", TISSUE, ">2% to ≤10%", id="4A-low-suspicion"),
        pytest.param("4B", TISSUE, ">10% to ≤50%", id="4B-moderate-suspicion"),
        pytest.param("4C", TISSUE, ">50% to <95%", id="4C-high-suspicion"),
        pytest.param("5", TISSUE, "≥95%", id="5-highly-suggestive"),
        pytest.param("6", "Surgical excision when clinically appropriate", None, id="6-known-malignancy"),
    ],
)
def test_every_category_has_the_atlas_management_and_likelihood(
    assessment: str, management: str, risk_fragment: str | None
) -> None:
    result = run(assessment=assessment, modality="mammography", exam_type="diagnostic")
    assert result.category == assessment
    assert result.management is not None and result.management.startswith(management)
    if risk_fragment is None:
        assert result.risk is None
    else:
        assert result.risk is not None and risk_fragment in result.risk
    assert result.missing == [] and result.not_applicable is None
    assert "BI-RADS" in result.citation and "2013" in result.citation
    assert result.guideline == "ACR BI-RADS Atlas 5th edition (2013)"


@pytest.mark.parametrize(
    ("pct", "category"),
    [
        pytest.param(0.01, "3", id="3-just-above-0"),
        pytest.param(1.99, "3", id="3-just-below-2"),
        pytest.param(2, "3", id="3-at-2-inclusive"),
        pytest.param(2.01, "4A", id="4A-just-above-2"),
        pytest.param(9.99, "4A", id="4A-just-below-10"),
        pytest.param(10, "4A", id="4A-at-10-inclusive"),
        pytest.param(10.01, "4B", id="4B-just-above-10"),
        pytest.param(50, "4B", id="4B-at-50-inclusive"),
        pytest.param(50.01, "4C", id="4C-just-above-50"),
        pytest.param(94.99, "4C", id="4C-just-below-95"),
        pytest.param(95, "5", id="5-at-95-inclusive"),
        pytest.param(95.01, "5", id="5-just-above-95"),
        pytest.param(100, "5", id="5-at-100"),
    ],
)
def test_likelihood_is_placed_in_the_published_range(pct: float, category: str) -> None:
    result = run(malignancy_likelihood_pct=pct, modality="mammography", exam_type="diagnostic")
    assert result.category == category
    assert result.inputs["assessment"] == category
    assert any("radiologist's overall judgement" in c for c in result.caveats)


def test_peer_mistake_category_3_includes_2_percent() -> None:
    """Radulator writes category 3 as '<2%'; the atlas says >0% to <=2%."""
    result = run(malignancy_likelihood_pct=2)
    assert result.category == "3"
    assert result.risk is not None and "≤2%" in result.risk
    assert result.details["likelihood_of_malignancy_pct"] == {
        "low": 0,
        "low_inclusive": False,
        "high": 2,
        "high_inclusive": True,
    }


def test_peer_mistake_category_5_includes_95_percent() -> None:
    """Radulator writes category 5 as '>95%'; the atlas says >=95%."""
    result = run(malignancy_likelihood_pct=95)
    assert result.category == "5"
    assert result.risk is not None and "≥95%" in result.risk
    assert result.details["likelihood_of_malignancy_pct"]["low_inclusive"] is True


def test_zero_percent_fits_1_and_2_so_the_assessment_is_asked_for() -> None:
    result = run(malignancy_likelihood_pct=0)
    assert result.category is None
    assert result.missing == ["assessment"]
    assert any("BI-RADS 1" in line and "2" in line for line in result.rationale)


@pytest.mark.parametrize("subcategory", ["4A", "4B", "4C"])
def test_mri_subcategory_is_normalised_to_4_with_a_caveat(subcategory: str) -> None:
    result = run(assessment=subcategory, modality="mri")
    assert result.category == "4"
    assert result.management == TISSUE
    assert result.risk is not None and ">2% but <95%" in result.risk
    assert result.inputs["assessment"] == "4"
    assert any("not MRI" in c and subcategory in c for c in result.caveats)


def test_mri_likelihood_is_placed_in_category_4() -> None:
    result = run(malignancy_likelihood_pct=30, modality="mri")
    assert result.category == "4"


@pytest.mark.parametrize("modality", ["mammography", "ultrasound", None])
def test_subcategories_stay_for_mammography_and_ultrasound(modality: str | None) -> None:
    result = run(assessment="4B", modality=modality)
    assert result.category == "4B"
    assert not any("not MRI" in c for c in result.caveats)


def test_mri_category_4_needs_no_normalisation() -> None:
    result = run(assessment="4", modality="mri")
    assert result.category == "4"
    assert result.caveats == []


def test_category_3_at_screening_is_kept_with_a_caveat() -> None:
    result = run(assessment="3", exam_type="screening", modality="mammography")
    assert result.category == "3"
    assert any("not a screening exam" in c and "BI-RADS 0" in c for c in result.caveats)


def test_category_3_at_diagnostic_exam_has_no_caveat() -> None:
    assert run(assessment="3", exam_type="diagnostic").caveats == []


def test_no_assessment_and_no_likelihood_is_missing_assessment() -> None:
    result = run(modality="mammography", exam_type="screening")
    assert result.category is None
    assert result.missing == ["assessment"]


@pytest.mark.parametrize(
    ("inputs", "fragments"),
    [
        pytest.param({"assessment": "4D"}, ["assessment", "'4A'", "'6'"], id="unknown-category"),
        pytest.param({"assessment": 4}, ["assessment"], id="category-not-a-string"),
        pytest.param(
            {"assessment": "2", "modality": "pet"}, ["modality", "'mammography'", "'mri'"], id="modality"
        ),
        pytest.param(
            {"assessment": "2", "exam_type": "routine"}, ["exam_type", "'screening'"], id="exam-type"
        ),
        pytest.param(
            {"malignancy_likelihood_pct": 100.5}, ["malignancy_likelihood_pct", "100"], id="pct-above-100"
        ),
        pytest.param(
            {"malignancy_likelihood_pct": -1}, ["malignancy_likelihood_pct", "0"], id="pct-negative"
        ),
        pytest.param({"assessment": "2", "birads": "2"}, ["birads", "Extra inputs"], id="unknown-field"),
    ],
)
def test_invalid_values_name_the_field_and_what_is_allowed(
    inputs: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ToolInputError) as err:
        TOOL.run(inputs)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("assessment", "pct"),
    [
        pytest.param("3", 5, id="3-with-4A-likelihood"),
        pytest.param("4A", 2, id="4A-with-3-likelihood"),
        pytest.param("4C", 95, id="4C-with-5-likelihood"),
        pytest.param("5", 94.9, id="5-with-4C-likelihood"),
        pytest.param("2", 0.5, id="2-with-nonzero-likelihood"),
        pytest.param("0", 10, id="0-has-no-likelihood"),
        pytest.param("6", 100, id="6-has-no-likelihood"),
    ],
)
def test_assessment_contradicting_the_likelihood_is_refused(assessment: str, pct: float) -> None:
    with pytest.raises(ToolInputError) as err:
        TOOL.run({"assessment": assessment, "malignancy_likelihood_pct": pct})
    assert "assessment" in str(err.value) and "malignancy_likelihood_pct" in str(err.value)


@pytest.mark.parametrize(
    ("assessment", "pct"),
    [
        pytest.param("4", 30, id="4-spans-4A-to-4C"),
        pytest.param("4A", 10, id="4A-upper-edge"),
        pytest.param("5", 95, id="5-lower-edge"),
        pytest.param("1", 0, id="1-zero"),
    ],
)
def test_assessment_consistent_with_likelihood_is_accepted(assessment: str, pct: float) -> None:
    assert run(assessment=assessment, malignancy_likelihood_pct=pct).category == assessment


def test_tool_is_registered_as_a_classification_with_extractor_and_triggers() -> None:
    assert TOOL.kind == "classification"
    assert TOOL.extractor is not None
    assert TOOL.triggers
    for name, prop in TOOL.input_schema()["properties"].items():
        assert prop.get("description"), name
