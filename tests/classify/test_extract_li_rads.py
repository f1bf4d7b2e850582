"""LI-RADS free-text extraction: realistic phrasings, and the ones it must refuse or leave undetermined."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.li_rads  # noqa: F401  (registers the tool)
from tools.classify.li_rads import LiRadsInput, extract
from tools.registry import REGISTRY

TOOL = REGISTRY.get("li_rads")


@pytest.mark.parametrize(
    ("text", "expected", "category"),
    [
        pytest.param(
            "Cirrhotic liver. 25 mm observation with APHE, nonperipheral washout and enhancing capsule.",
            {"population": "cirrhosis", "aphe": "nonrim", "size_mm": 25.0, "washout": True, "capsule": True},
            "LR-5",
            id="full-LR5-report",
        ),
        pytest.param(
            "Cirrhosis. 15 mm lesion with arterial phase hyperenhancement, no washout, enhancing capsule.",
            {"population": "cirrhosis", "aphe": "nonrim", "size_mm": 15.0, "washout": False, "capsule": True},
            "LR-4",
            id="10-19mm-capsule-only-LR4",
        ),
        pytest.param(
            "Chronic hepatitis B. 1.2 cm nodule, non-rim APHE, non-peripheral washout, no capsule.",
            {
                "population": "chronic_hepatitis_b",
                "aphe": "nonrim",
                "size_mm": 12.0,
                "washout": True,
                "capsule": False,
            },
            "LR-5",
            id="hyphenated-non-is-not-a-negation",
        ),
        pytest.param(
            "Hepatitis B. 3 cm mass with rim APHE and peripheral washout.",
            {
                "population": "chronic_hepatitis_b",
                "aphe": "rim",
                "size_mm": 30.0,
                "targetoid_features": ["peripheral_washout"],
            },
            "LR-M",
            id="rim-APHE-peripheral-washout-LR-M",
        ),
        pytest.param(
            "History of HCC. 2.2 x 1.8 cm observation hyperenhancing in the arterial phase without washout or "
            "capsule.",
            {
                "population": "current_or_prior_hcc",
                "aphe": "nonrim",
                "size_mm": 22.0,
                "washout": False,
                "capsule": False,
            },
            "LR-4",
            id="prior-HCC-longest-dimension",
        ),
        pytest.param(
            "Cirrhotic liver. 18 mm observation, no APHE, with washout and enhancing capsule.",
            {"population": "cirrhosis", "aphe": "absent", "size_mm": 18.0, "washout": True, "capsule": True},
            "LR-4",
            id="no-APHE-two-features",
        ),
        pytest.param(
            "Cirrhosis. Observation with APHE and threshold growth, no washout, no capsule, 14 mm.",
            {
                "population": "cirrhosis",
                "aphe": "nonrim",
                "size_mm": 14.0,
                "washout": False,
                "capsule": False,
                "threshold_growth": True,
            },
            "LR-5",
            id="threshold-growth-stated",
        ),
        pytest.param(
            "Cirrhosis. APHE observation, no washout, no capsule; grew from 10 to 16 mm in 4 months.",
            {
                "population": "cirrhosis",
                "aphe": "nonrim",
                "washout": False,
                "capsule": False,
                "prior_size_mm": 10.0,
                "size_mm": 16.0,
                "interval_months": 4.0,
            },
            "LR-5",
            id="growth-from-sizes",
        ),
        pytest.param(
            "Cirrhotic liver with tumor in vein extending into the right portal vein.",
            {"population": "cirrhosis", "tumor_in_vein": True},
            "LR-TIV",
            id="tumour-in-vein",
        ),
        pytest.param(
            "Cirrhosis. 12 mm observation isoenhancing in the arterial phase, no washout, no capsule, "
            "hepatobiliary phase hypointensity.",
            {
                "population": "cirrhosis",
                "aphe": "absent",
                "size_mm": 12.0,
                "washout": False,
                "capsule": False,
                "ancillary_malignancy": ["hepatobiliary_phase_hypointensity"],
            },
            "LR-4",
            id="ancillary-feature-upgrades-LR3",
        ),
        pytest.param(
            "Cirrhosis. 25 mm observation with APHE and washout, markedly restricted diffusion and necrosis.",
            {
                "population": "cirrhosis",
                "aphe": "nonrim",
                "size_mm": 25.0,
                "washout": True,
                "lr_m_features": ["marked_diffusion_restriction", "necrosis_or_severe_ischemia"],
            },
            "LR-5",
            id="LR-M-features-do-not-override-LR5",
        ),
        pytest.param(
            "Known cirrhosis due to Budd-Chiari syndrome; 25 mm APHE observation with washout.",
            {
                "population": "cirrhosis",
                "cirrhosis_cause": "vascular_disorder",
                "aphe": "nonrim",
                "size_mm": 25.0,
                "washout": True,
            },
            None,
            id="Budd-Chiari-not-applicable",
        ),
    ],
)
def test_phrasings_are_read_and_classify(text: str, expected: dict[str, Any], category: str | None) -> None:
    extraction = extract(text)
    assert extraction.inputs == expected
    assert set(extraction.evidence) == set(expected)
    LiRadsInput.model_validate(extraction.inputs)  # extractor output validates against the input model
    result = TOOL.run(extraction.inputs)
    assert result.category == category
    if category is not None:
        assert extraction.undetermined == []


def test_evidence_quotes_the_text_including_the_negation() -> None:
    extraction = extract("Cirrhosis. 15 mm lesion with APHE, no washout, enhancing capsule.")
    assert extraction.evidence["washout"] == "no washout"
    assert extraction.evidence["capsule"] == "enhancing capsule"
    assert extraction.evidence["size_mm"].endswith("15 mm")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param(
            "Cirrhotic liver, 20-25 mm observation with APHE and washout.", "size_mm", id="size-range"
        ),
        pytest.param(
            "Cirrhotic liver, 20 to 25 mm observation with APHE and washout.", "size_mm", id="size-to-range"
        ),
        pytest.param(
            "Cirrhosis. Observation measuring 25 with APHE and washout.", "size_mm", id="size-without-unit"
        ),
        pytest.param("Cirrhosis. <1 cm observation with APHE and washout.", "size_mm", id="size-bound"),
        pytest.param(
            "Cirrhosis. APHE observation 12 mm, previously 18 mm, washout.", "size_mm", id="two-sizes"
        ),
        pytest.param("Cirrhosis. 25 mm observation, washout and capsule.", "aphe", id="APHE-not-mentioned"),
        pytest.param(
            "Cirrhosis. 25 mm observation with APHE; no APHE on review.", "aphe", id="APHE-contradiction"
        ),
        pytest.param(
            "Non-cirrhotic liver. 25 mm APHE observation with washout.", "population", id="non-cirrhotic"
        ),
        pytest.param(
            "Hepatitis C. 25 mm APHE observation with washout.", "population", id="hepatitis-C-alone"
        ),
        pytest.param("No cirrhosis. 25 mm APHE observation with washout.", "population", id="no-cirrhosis"),
        pytest.param(
            "Cirrhosis. 30 mm targetoid mass.", "targetoid_features", id="targetoid-without-feature"
        ),
        pytest.param(
            "Cirrhosis. 15 mm observation with APHE and capsule.", "washout", id="washout-decides-4-or-5"
        ),
    ],
)
def test_unsettled_fields_are_undetermined_not_guessed(text: str, field: str) -> None:
    extraction = extract(text)
    assert field not in extraction.inputs
    assert field in extraction.undetermined


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        pytest.param(
            "Cirrhosis. 25 mm APHE observation without washout.", "washout", False, id="without-washout"
        ),
        pytest.param("Cirrhosis. 25 mm observation without APHE.", "aphe", "absent", id="without-APHE"),
        pytest.param("Cirrhosis, no tumor in vein.", "tumor_in_vein", False, id="no-TIV"),
        pytest.param(
            "Cirrhosis, tumour thrombus in the portal vein.", "tumor_in_vein", True, id="tumour-thrombus"
        ),
        pytest.param("Cirrhosis, no threshold growth.", "threshold_growth", False, id="no-threshold-growth"),
        pytest.param("Cirrhosis, no rim APHE.", "aphe", None, id="no-rim-APHE-says-nothing-about-nonrim"),
        pytest.param("A 17-year-old with cirrhosis.", "age_years", 17, id="age"),
        pytest.param(
            "Cirrhosis. Observation with a nonenhancing capsule.", "capsule", None, id="nonenhancing-capsule"
        ),
    ],
)
def test_negations_and_single_fields(text: str, field: str, value: Any) -> None:
    assert extract(text).inputs.get(field) == value


def test_nonenhancing_capsule_is_an_ancillary_feature_not_the_major_feature() -> None:
    extraction = extract("Cirrhosis. Observation with a nonenhancing capsule.")
    assert extraction.inputs["ancillary_malignancy"] == ["nonenhancing_capsule"]


def test_subthreshold_growth_is_an_ancillary_feature_not_threshold_growth() -> None:
    extraction = extract(
        "Cirrhosis. 15 mm APHE observation with subthreshold growth, no washout, no capsule."
    )
    assert "threshold_growth" not in extraction.inputs
    assert extraction.inputs["ancillary_malignancy"] == ["subthreshold_growth"]


def test_restricted_diffusion_is_an_ancillary_feature_but_marked_restriction_is_lr_m() -> None:
    mild = extract("Cirrhosis. Observation with restricted diffusion.")
    assert (
        mild.inputs.get("ancillary_malignancy") == ["restricted_diffusion"]
        and "lr_m_features" not in mild.inputs
    )
    marked = extract("Cirrhosis. Observation with markedly restricted diffusion.")
    assert marked.inputs.get("lr_m_features") == ["marked_diffusion_restriction"]
    assert "ancillary_malignancy" not in marked.inputs


def test_a_sentence_without_liver_findings_reads_nothing() -> None:
    extraction = extract("No acute abnormality.")
    assert extraction.inputs == {}
    assert extraction.undetermined == ["aphe", "capsule", "population", "size_mm", "washout"]
