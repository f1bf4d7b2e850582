"""PI-RADS free-text extraction: scores only when written as scores; refusals stay undetermined."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.pi_rads  # noqa: F401  (registers the tool)
from tools.classify.pi_rads import PiRadsInput, extract
from tools.registry import REGISTRY

TOOL = REGISTRY.get("pi_rads")


@pytest.mark.parametrize(
    ("text", "expected", "category"),
    [
        pytest.param(
            "Peripheral zone lesion DWI 3, DCE positive.",
            {"zone": "peripheral", "dwi_score": 3, "dce": "positive"},
            "4",
            id="PZ-DWI3-DCE-positive",
        ),
        pytest.param(
            "Transition zone T2 score 2, DWI 4.",
            {"zone": "transition", "t2w_score": 2, "dwi_score": 4},
            "3",
            id="TZ-T2-2-DWI-4",
        ),
        pytest.param(
            "TZ lesion, T2W 3/5, DWI score of 5.",
            {"zone": "transition", "t2w_score": 3, "dwi_score": 5},
            "4",
            id="TZ-slash-5-and-score-of",
        ),
        pytest.param(
            "PZ lesion, DWI: 4, T2WI: 4, DCE -, 12 mm.",
            {"zone": "peripheral", "dwi_score": 4, "t2w_score": 4, "dce": "negative", "size_mm": 12.0},
            "4",
            id="colon-and-minus-sign",
        ),
        pytest.param(
            "Left PZ lesion, DWI 3, biparametric MRI.",
            {"zone": "peripheral", "dwi_score": 3, "dce": "not_performed"},
            "3",
            id="bpMRI-DWI3-stays-3",
        ),
        pytest.param(
            "Peripheral zone lesion with DWI score 3 and negative DCE.",
            {"zone": "peripheral", "dwi_score": 3, "dce": "negative"},
            "3",
            id="negative-DCE",
        ),
        pytest.param(
            "Transition zone nodule, T2-weighted score 1, DWI 5.",
            {"zone": "transition", "t2w_score": 1, "dwi_score": 5},
            "1",
            id="TZ-T2W1-DWI5-stays-1",
        ),
        pytest.param(
            "PZ lesion markedly hypointense on ADC and markedly hyperintense on high b-value images, 1.7 cm.",
            {"zone": "peripheral", "dwi_score": 5, "size_mm": 17.0},
            "5",
            id="described-DWI5-both-marked-ge15mm",
        ),
        pytest.param(
            "PZ lesion markedly hypointense on ADC and markedly hyperintense on high b-value, 9 mm.",
            {"zone": "peripheral", "dwi_score": 4, "size_mm": 9.0},
            "4",
            id="described-DWI4-both-marked-lt15mm",
        ),
        pytest.param(
            "PZ lesion DWI 4 with definite extraprostatic extension, 12 mm.",
            {"zone": "peripheral", "dwi_score": 4, "extraprostatic_extension": True, "size_mm": 12.0},
            "4",
            id="EPE-is-context-not-a-rescore",
        ),
    ],
)
def test_phrasings_are_read_and_classify(text: str, expected: dict[str, Any], category: str) -> None:
    extraction = extract(text)
    assert extraction.inputs == expected
    assert set(extraction.evidence) == set(expected)
    assert extraction.undetermined == []
    PiRadsInput.model_validate(extraction.inputs)
    assert TOOL.run(extraction.inputs).category == category


def test_evidence_quotes_the_score_text() -> None:
    extraction = extract("Peripheral zone lesion DWI 3, DCE positive.")
    assert extraction.evidence["dce"] == "DCE positive"
    assert extraction.evidence["dwi_score"].endswith("DWI 3")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("PZ lesion ADC markedly hypointense 1.7 cm.", "dwi_score", id="ADC-alone-could-be-DWI3"),
        pytest.param(
            "PZ lesion markedly hyperintense on high b-value, 1.7 cm.", "dwi_score", id="high-b-alone"
        ),
        pytest.param(
            "PZ lesion markedly hypointense on ADC and markedly hyperintense on high b-value.",
            "dwi_score",
            id="both-marked-but-no-size",
        ),
        pytest.param("PZ lesion DWI 3-4.", "dwi_score", id="score-range"),
        pytest.param("PZ lesion DWI 3 or 4.", "dwi_score", id="score-alternatives"),
        pytest.param("PZ lesion DWI 6.", "dwi_score", id="score-out-of-scale"),
        pytest.param("PZ lesion, DWI 3, no DCE.", "dce", id="no-DCE-is-ambiguous"),
        pytest.param("PZ lesion DWI 3, DCE positive, DCE negative.", "dce", id="DCE-contradiction"),
        pytest.param("Central zone lesion DWI 4.", "zone", id="central-zone-not-handled"),
        pytest.param("TZ lesion extending into the PZ, DWI 4, T2W 4.", "zone", id="two-zones"),
        pytest.param("Lesion DWI 4, T2W 4.", "zone", id="zone-not-stated"),
        pytest.param("Transition zone lesion, DWI 4.", "t2w_score", id="TZ-needs-T2W"),
        pytest.param(
            "PZ lesion DWI 4, possible EPE.", "extraprostatic_extension", id="possible-EPE-not-definite"
        ),
        pytest.param("PZ lesion DWI 4, 12-15 mm.", "size_mm", id="size-range"),
        pytest.param("PZ lesion DWI 4, 25 cm.", "size_mm", id="size-out-of-bounds"),
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
            "PZ lesion DWI 4, no extraprostatic extension.", "extraprostatic_extension", False, id="no-EPE"
        ),
        pytest.param("PZ lesion DWI 3, DCE not performed.", "dce", "not_performed", id="DCE-not-performed"),
        pytest.param("PZ lesion DWI 3, bpMRI.", "dce", "not_performed", id="bpMRI"),
        pytest.param("PZ lesion DWI 3, DCE+.", "dce", "positive", id="DCE-plus"),
        pytest.param("Lesion in the transitional zone, T2W 4.", "zone", "transition", id="transitional-zone"),
        pytest.param(
            "cT2 disease, PZ lesion, DWI 2.", "t2w_score", None, id="clinical-stage-is-not-a-T2W-score"
        ),
        pytest.param("PZ lesion 8 mm, DWI 2.", "dwi_score", 2, id="size-number-is-not-a-score"),
    ],
)
def test_single_fields(text: str, field: str, value: Any) -> None:
    assert extract(text).inputs.get(field) == value


def test_pi_rads_category_in_the_text_is_not_an_input() -> None:
    extraction = extract("PI-RADS 4 lesion in the peripheral zone.")
    assert extraction.inputs == {"zone": "peripheral"}
    assert extraction.undetermined == ["dwi_score"]
