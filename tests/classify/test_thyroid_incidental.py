"""ACR 2015 incidental thyroid nodule on CT/MRI (Hoang et al., JACR 2015, Figure 1), at every boundary."""

from __future__ import annotations

from typing import Any

import pytest

from tools.classify.thyroid_incidental import NO_FURTHER, US, ThyroidIncidentalInput, classify, extract

CLEAR = {"suspicious_features": False, "limited_life_expectancy": False}


def run(**inputs: Any):  # type: ignore[no-untyped-def]
    return classify(ThyroidIncidentalInput(**inputs))


@pytest.mark.parametrize(
    ("age", "size_mm", "category", "management"),
    [
        (34, 9.9, "<35 y, <1 cm", NO_FURTHER),
        (34, 10, "<35 y, ≥1 cm", US),
        (34, 14.9, "<35 y, ≥1 cm", US),
        (35, 10, "≥35 y, <1.5 cm", NO_FURTHER),
        (35, 14.9, "≥35 y, <1.5 cm", NO_FURTHER),
        (35, 15, "≥35 y, ≥1.5 cm", US),
        (80, 15, "≥35 y, ≥1.5 cm", US),
        (18, 9, "<35 y, <1 cm", NO_FURTHER),
    ],
)
def test_age_and_size_thresholds(age: int, size_mm: float, category: str, management: str) -> None:
    result = run(age=age, size_mm=size_mm, **CLEAR)
    assert (result.category, result.management) == (category, management)
    assert "Figure 1" in result.citation


def test_suspicious_features_come_first() -> None:
    result = run(age=60, size_mm=5, suspicious_features=True, limited_life_expectancy=True)
    assert (result.category, result.management) == ("suspicious features", US)


def test_limited_life_expectancy_means_no_further_evaluation() -> None:
    result = run(age=60, size_mm=30, suspicious_features=False, limited_life_expectancy=True)
    assert result.category == "limited life expectancy"
    assert result.management is not None and result.management.startswith("No further evaluation")


def test_large_nodule_does_not_need_suspicious_features() -> None:
    result = run(age=60, size_mm=20, limited_life_expectancy=False)
    assert result.category == "≥35 y, ≥1.5 cm"


def test_small_nodule_needs_suspicious_features() -> None:
    assert run(age=60, size_mm=9, limited_life_expectancy=False).missing == ["suspicious_features"]


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        ({"clinical_risk_factors": True}, "footnote 1"),
        ({"modality": "pet"}, "PET"),
        ({"modality": "us"}, "TI-RADS"),
    ],
)
def test_out_of_scope(inputs: dict[str, Any], why: str) -> None:
    result = run(age=50, size_mm=20, **CLEAR, **inputs)
    assert result.category is None and result.not_applicable is not None and why in result.not_applicable


def test_child_gets_an_open_point_caveat() -> None:
    result = run(age=12, size_mm=12, **CLEAR)
    assert any("[open]" in c and "under 18" in c for c in result.caveats)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CT neck, 62-year-old: 1.6 cm left thyroid nodule.", {"size_mm": 16.0, "age": 62, "modality": "ct"}),
        (
            "Thyroid nodule 1.2 cm with an enlarged 1.6 cm level IV lymph node.",
            {"size_mm": 12.0, "suspicious_features": True},
        ),
        (
            "1.2 cm thyroid nodule, no cervical lymphadenopathy.",
            {"size_mm": 12.0, "suspicious_features": False},
        ),
        ("Thyroid nodule 2 cm with extrathyroidal extension.", {"suspicious_features": True}),
        ("Hospice patient, 2 cm thyroid nodule.", {"limited_life_expectancy": True}),
        (
            "Prior neck radiation. 1 cm thyroid nodule on MRI.",
            {"clinical_risk_factors": True, "modality": "mri"},
        ),
        ("PET/CT: FDG-avid 1.6 cm thyroid nodule.", {"modality": "pet"}),
    ],
)
def test_extract(text: str, expected: dict[str, Any]) -> None:
    inputs = extract(text).inputs
    assert {k: inputs.get(k) for k in expected} == expected
