"""PI-RADS v2.1 overall assessment, written from the zone tables (Turkbey et al. 2019; project reference §7)."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.pi_rads  # noqa: F401  (registers the tool)
from tools.classify.base import ClassificationResult
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("pi_rads")


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run(inputs)
    assert isinstance(result, ClassificationResult)
    return result


# --- peripheral zone: DWI dominant, DCE only for DWI 3 ------------------------------------------------------

PZ_TABLE = {
    # DWI score: category for DCE positive, negative, not performed
    1: ("1", "1", "1"),
    2: ("2", "2", "2"),
    3: ("4", "3", "3"),
    4: ("4", "4", "4"),
    5: ("5", "5", "5"),
}


@pytest.mark.parametrize(
    ("dwi", "dce", "expected"),
    [
        pytest.param(dwi, dce, PZ_TABLE[dwi][i], id=f"PZ-DWI{dwi}-DCE-{dce}")
        for dwi in PZ_TABLE
        for i, dce in enumerate(("positive", "negative", "not_performed"))
    ],
)
def test_peripheral_zone_table(dwi: int, dce: str, expected: str) -> None:
    result = run(zone="peripheral", dwi_score=dwi, dce=dce)
    assert result.category == expected
    assert result.details["dominant_sequence"] == "DWI"


@pytest.mark.parametrize("t2w", [1, 2, 3, 4, 5])
def test_peripheral_zone_ignores_t2w(t2w: int) -> None:
    assert run(zone="peripheral", t2w_score=t2w, dwi_score=2).category == "2"


def test_biparametric_dwi3_stays_3_with_a_rationale() -> None:
    result = run(zone="peripheral", dwi_score=3, dce="not_performed")
    assert result.category == "3"
    assert any("biparametric" in line for line in result.rationale)


@pytest.mark.parametrize("dwi", [1, 2, 4, 5])
def test_peripheral_zone_needs_dce_only_for_dwi3(dwi: int) -> None:
    assert run(zone="peripheral", dwi_score=dwi).missing == []
    assert run(zone="peripheral", dwi_score=3).missing == ["dce"]


# --- transition zone: T2W dominant, DWI upgrades 2 and 3 ---------------------------------------------------

TZ_TABLE = {
    # T2W score: category for DWI 1..5
    1: ("1", "1", "1", "1", "1"),
    2: ("2", "2", "2", "3", "3"),
    3: ("3", "3", "3", "3", "4"),
    4: ("4", "4", "4", "4", "4"),
    5: ("5", "5", "5", "5", "5"),
}


@pytest.mark.parametrize(
    ("t2w", "dwi", "expected"),
    [
        pytest.param(t2w, dwi, TZ_TABLE[t2w][dwi - 1], id=f"TZ-T2W{t2w}-DWI{dwi}")
        for t2w in TZ_TABLE
        for dwi in range(1, 6)
    ],
)
def test_transition_zone_table(t2w: int, dwi: int, expected: str) -> None:
    result = run(zone="transition", t2w_score=t2w, dwi_score=dwi)
    assert result.category == expected
    assert result.details["dominant_sequence"] == "T2W"


@pytest.mark.parametrize("dce", ["positive", "negative", "not_performed"])
def test_transition_zone_ignores_dce(dce: str) -> None:
    result = run(zone="transition", t2w_score=3, dwi_score=3, dce=dce)
    assert result.category == "3"


@pytest.mark.parametrize(
    ("t2w", "missing"),
    [
        pytest.param(1, [], id="T2W1-DWI-not-needed"),
        pytest.param(2, ["dwi_score"], id="T2W2-needs-DWI"),
        pytest.param(3, ["dwi_score"], id="T2W3-needs-DWI"),
        pytest.param(4, [], id="T2W4-DWI-not-needed"),
        pytest.param(5, [], id="T2W5-DWI-not-needed"),
    ],
)
def test_transition_zone_needs_dwi_only_for_t2w_2_and_3(t2w: int, missing: list[str]) -> None:
    result = run(zone="transition", t2w_score=t2w)
    assert result.missing == missing
    assert (result.category is None) == bool(missing)


# --- peer mistakes (Radulator) turned into primary-source answers -----------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param(
            {"zone": "transition", "t2w_score": 3, "dwi_score": 4}, "3", id="TZ-T2W3-DWI4-is-3-not-4"
        ),
        pytest.param(
            {"zone": "transition", "t2w_score": 2, "dwi_score": 4}, "3", id="TZ-T2W2-DWI4-is-3-not-4"
        ),
        pytest.param(
            {"zone": "transition", "t2w_score": 2, "dwi_score": 5}, "3", id="TZ-T2W2-DWI5-is-3-not-5"
        ),
        pytest.param(
            {"zone": "transition", "t2w_score": 1, "dwi_score": 5}, "1", id="TZ-T2W1-DWI5-is-1-not-5"
        ),
        pytest.param(
            {"zone": "peripheral", "dwi_score": 3, "dce": "negative", "extraprostatic_extension": True},
            "3",
            id="definite-EPE-does-not-force-5",
        ),
        pytest.param(
            {"zone": "transition", "t2w_score": 3, "dwi_score": 3, "extraprostatic_extension": True},
            "3",
            id="TZ-EPE-does-not-force-5",
        ),
    ],
)
def test_peer_mistakes(inputs: dict[str, Any], expected: str) -> None:
    assert run(**inputs).category == expected


# --- management and likelihood -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dwi", "management", "likelihood"),
    [
        pytest.param(1, "not suggested", "Very low", id="1"),
        pytest.param(2, "not suggested", "Low", id="2"),
        pytest.param(4, "should be considered", "High", id="4"),
        pytest.param(5, "should be considered", "Very high", id="5"),
    ],
)
def test_management_and_likelihood(dwi: int, management: str, likelihood: str) -> None:
    result = run(zone="peripheral", dwi_score=dwi)
    assert result.management is not None and management in result.management
    assert result.risk is not None and result.risk.startswith(likelihood)
    assert "Eur Urol 2019;76" in result.citation


def test_category_3_biopsy_depends_on_factors_other_than_mri() -> None:
    result = run(zone="peripheral", dwi_score=3, dce="negative")
    assert result.management is not None and "factors other than MRI" in result.management
    assert result.risk is not None and result.risk.startswith("Intermediate")


# --- size / EPE context: flag, never re-score ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size_mm", "flagged"),
    [
        pytest.param(14.9, False, id="14.9mm"),
        pytest.param(15, True, id="15mm"),
        pytest.param(15.1, True, id="15.1mm"),
    ],
)
def test_score4_at_or_above_15mm_is_flagged_not_rescored(size_mm: float, flagged: bool) -> None:
    result = run(zone="peripheral", dwi_score=4, size_mm=size_mm)
    assert result.category == "4"
    assert any("1.5 cm" in c for c in result.caveats) == flagged


def test_score5_below_15mm_without_epe_is_flagged() -> None:
    assert any(">=1.5 cm" in c for c in run(zone="transition", t2w_score=5, size_mm=10).caveats)
    assert run(zone="transition", t2w_score=5, size_mm=10, extraprostatic_extension=True).caveats == []


# --- missing and validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "missing"),
    [
        pytest.param({}, ["zone"], id="nothing"),
        pytest.param({"dwi_score": 4, "t2w_score": 4}, ["zone"], id="scores-without-zone"),
        pytest.param({"zone": "peripheral"}, ["dwi_score"], id="PZ-without-DWI"),
        pytest.param({"zone": "peripheral", "t2w_score": 4}, ["dwi_score"], id="PZ-T2W-cannot-replace-DWI"),
        pytest.param({"zone": "transition"}, ["t2w_score"], id="TZ-without-T2W"),
        pytest.param({"zone": "transition", "dwi_score": 5}, ["t2w_score"], id="TZ-DWI-cannot-replace-T2W"),
    ],
)
def test_missing_inputs(inputs: dict[str, Any], missing: list[str]) -> None:
    result = run(**inputs)
    assert result.category is None and result.missing == missing


@pytest.mark.parametrize(
    ("inputs", "field", "allowed"),
    [
        pytest.param({"dwi_score": 0}, "dwi_score", "greater than or equal to 1", id="DWI-0"),
        pytest.param({"dwi_score": 6}, "dwi_score", "less than or equal to 5", id="DWI-6"),
        pytest.param({"dwi_score": 3.5}, "dwi_score", "fractional part", id="DWI-3.5"),
        pytest.param({"dwi_score": True}, "dwi_score", "not a boolean", id="DWI-boolean"),
        pytest.param({"t2w_score": "high"}, "t2w_score", "valid integer", id="T2W-word"),
        pytest.param({"zone": "central"}, "zone", "'peripheral' or 'transition'", id="central-zone"),
        pytest.param({"dce": "yes"}, "dce", "'positive', 'negative' or 'not_performed'", id="DCE-lexicon"),
        pytest.param({"size_mm": -1}, "size_mm", "greater than 0", id="size-negative"),
        pytest.param({"size_mm": float("nan")}, "size_mm", "finite", id="size-nan"),
        pytest.param({"adc": 700}, "adc", "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_validation_errors_name_the_field_and_what_is_allowed(
    inputs: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(ToolInputError) as err:
        run(**inputs)
    assert field in str(err.value) and allowed in str(err.value)
