"""ACR 2017 incidental pancreatic cyst white paper (Megibow et al., JACR 2017): the encoded points, at boundaries."""

from __future__ import annotations

from typing import Any

import pytest

from tools.classify.pancreatic_cyst import PancreaticCystInput, classify, extract

CLEAR = {"high_risk_stigmata": False, "worrisome_features": False}


def run(**inputs: Any):  # type: ignore[no-untyped-def]
    return classify(PancreaticCystInput(**inputs))


@pytest.mark.parametrize(
    ("size_mm", "category"),
    [
        (4.9, "<5 mm"),
        (5, "<1.5 cm"),
        (14.9, "<1.5 cm"),
        (15, "1.5-2.5 cm"),
        (25, "1.5-2.5 cm"),
        (25.1, ">2.5 cm"),
        (29.9, ">2.5 cm"),
        (30, "worrisome features"),
    ],
)
def test_size_bands(size_mm: float, category: str) -> None:
    assert run(size_mm=size_mm, age=60, **CLEAR).category == category


def test_white_dot_rule() -> None:
    result = run(size_mm=4, age=60, **CLEAR)
    assert result.management == "One follow-up CT or MRI at 2 years; if stable, stop surveillance."


def test_white_dot_in_an_older_patient_mentions_not_reporting() -> None:
    assert any("over 75-80" in c for c in run(size_mm=4, age=78, **CLEAR).caveats)


def test_surveillance_intervals_are_open_not_invented() -> None:
    result = run(size_mm=12, age=60, **CLEAR)
    assert result.management is not None and "not encoded" in result.management
    assert "month" not in result.management and "year" not in result.management
    assert any("[open]" in c for c in result.caveats) and any("age 80" in c for c in result.caveats)


def test_features_leave_surveillance() -> None:
    assert run(size_mm=12, high_risk_stigmata=True).category == "high-risk stigmata"
    assert run(size_mm=12, high_risk_stigmata=False, worrisome_features=True).category == "worrisome features"
    assert run(size_mm=12, worrisome_features=True).missing == ["high_risk_stigmata"]


def test_unstated_features_are_asked_for() -> None:
    assert run(size_mm=12).missing == ["high_risk_stigmata", "worrisome_features"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "3.4 cm pancreatic cyst with the main pancreatic duct dilated to 11 mm",
            {"size_mm": 34.0, "high_risk_stigmata": True},
        ),
        ("2 cm pancreatic cyst, main duct 6 mm", {"size_mm": 20.0, "worrisome_features": True}),
        (
            "1 cm pancreatic cyst without worrisome features or high-risk stigmata",
            {"worrisome_features": False, "high_risk_stigmata": False},
        ),
        ("2.1 cm side-branch IPMN in the pancreatic head", {"main_duct_communication": True}),
        ("1.5 cm pancreatic cyst with an enhancing mural nodule", {"worrisome_features": True}),
    ],
)
def test_extract(text: str, expected: dict[str, Any]) -> None:
    inputs = extract(text).inputs
    assert {k: inputs.get(k) for k in expected} == expected
