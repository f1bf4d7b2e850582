"""Reading an incidental renal mass from report text: HU per phase, enhancement, fat, composition (never guessing)."""

from __future__ import annotations

from typing import Any

import pytest

import tools
from tools.classify.renal_incidentaloma import RenalInput

TOOL = tools.load_tools().get("renal_incidentaloma")
assert TOOL.extractor is not None
extract = TOOL.extractor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Homogeneous 2 cm renal mass measuring 35 HU on unenhanced CT.",
            {"homogeneous": True, "unenhanced_hu": 35.0},
            id="homogeneous-unenhanced",
        ),
        pytest.param(
            "Right renal lesion: 25 HU unenhanced, 60 HU nephrographic.",
            {"unenhanced_hu": 25.0, "enhanced_hu": 60.0},
            id="two-phases",
        ),
        pytest.param(
            "Renal mass measuring 20 HU unenhanced, enhances by 25 HU.",
            {"unenhanced_hu": 20.0, "enhancement_hu": 25.0},
            id="enhances-by",
        ),
        pytest.param(
            "Exophytic renal lesion with 12 HU of enhancement.",
            {"enhancement_hu": 12.0},
            id="hu-of-enhancement",
        ),
        pytest.param(
            "Renal lesion shows an increase in attenuation of 30 HU after contrast.",
            {"enhancement_hu": 30.0},
            id="increase-in-attenuation",
        ),
        pytest.param(
            "Left kidney lesion containing macroscopic fat.", {"macroscopic_fat": True}, id="macroscopic-fat"
        ),
        pytest.param(
            "Renal mass without macroscopic fat.", {"macroscopic_fat": False}, id="no-macroscopic-fat"
        ),
        pytest.param("Complex cystic renal mass with thick septa.", {"cystic": True}, id="cystic"),
        pytest.param("Renal lesion, not cystic.", {"cystic": False}, id="not-cystic"),
        pytest.param(
            "Heterogeneous solid renal mass.",
            {"cystic": False, "homogeneous": False},
            id="heterogeneous-solid",
        ),
        pytest.param(
            "Renal lesion, -15 HU on non-contrast CT.", {"unenhanced_hu": -15.0}, id="negative-unenhanced"
        ),
        pytest.param(
            "Homogeneous renal lesion measuring 75 HU on noncontrast CT.",
            {"homogeneous": True, "unenhanced_hu": 75.0},
            id="hyperdense",
        ),
    ],
)
def test_reads_what_the_text_states(text: str, expected: dict[str, Any]) -> None:
    found = extract(text)
    assert found.system == "renal_incidentaloma"
    assert found.inputs == expected
    assert set(found.evidence) == set(expected)
    for key, evidence in found.evidence.items():
        assert evidence and evidence in text, key
    RenalInput.model_validate(found.inputs)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param(
            "Renal lesion with attenuation of 10-20 HU on unenhanced CT.", "unenhanced_hu", id="range"
        ),
        pytest.param("Renal lesion measuring 15 HU.", "unenhanced_hu", id="no-phase"),
        pytest.param("Renal lesion, unenhanced attenuation above 20 HU.", "unenhanced_hu", id="bound"),
        pytest.param("Renal lesion that enhances by <10 HU.", "enhancement_hu", id="enhancement-bound"),
        pytest.param("Renal lesion enhances by 15 HU or by 25 HU.", "enhancement_hu", id="two-enhancements"),
        pytest.param("Cystic renal mass with a solid component.", "cystic", id="cystic-and-solid"),
        pytest.param("Homogeneous renal lesion, heterogeneous on delayed images.", "homogeneous", id="both"),
        pytest.param(
            "Renal mass: 35 HU unenhanced and 45 HU unenhanced on repeat.", "unenhanced_hu", id="conflict"
        ),
    ],
)
def test_refuses_what_the_text_does_not_settle(text: str, field: str) -> None:
    found = extract(text)
    assert field not in found.inputs


def test_enhancement_value_is_not_taken_for_a_phase_value() -> None:
    """'enhances by 25 HU' is a change, not the enhanced attenuation."""
    found = extract("Renal mass measuring 20 HU unenhanced, enhances by 25 HU.")
    assert "enhanced_hu" not in found.inputs


def test_phase_ambiguity_is_listed() -> None:
    assert (
        "unenhanced_hu"
        in extract("Renal mass: 35 HU unenhanced and 45 HU unenhanced on repeat.").undetermined
    )


def test_path_needs_are_undetermined() -> None:
    assert extract("2 cm renal mass, 35 HU on unenhanced CT.").undetermined == ["homogeneous"]
    assert extract("Heterogeneous renal mass.").undetermined == ["enhancement_hu"]
    assert extract("Renal mass.").undetermined == ["unenhanced_hu", "enhancement_hu"]


def test_decided_path_needs_nothing_more() -> None:
    assert extract("Homogeneous renal lesion, 10 HU on unenhanced CT.").undetermined == []
