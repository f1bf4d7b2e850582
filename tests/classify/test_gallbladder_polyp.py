"""SRU 2022 gallbladder polyp consensus (Kamaya et al., Radiology 2022), at every size boundary."""

from __future__ import annotations

from typing import Any

import pytest

from tools.classify.gallbladder_polyp import GallbladderPolypInput, classify, extract

THIN, THICK, SESSILE = "pedunculated_thin_stalk", "pedunculated_thick_stalk", "sessile"


def run(**inputs: Any):  # type: ignore[no-untyped-def]
    return classify(GallbladderPolypInput(**inputs))


@pytest.mark.parametrize(
    ("morphology", "size_mm", "category", "management"),
    [
        (THIN, 9, "extremely low risk, ≤9 mm", "No follow-up imaging."),
        (THIN, 10, "extremely low risk, 10-14 mm", "Follow-up ultrasound at 6, 12 and 24 months."),
        (THIN, 14, "extremely low risk, 10-14 mm", "Follow-up ultrasound at 6, 12 and 24 months."),
        (THIN, 15, "extremely low risk, ≥15 mm", "Surgical consultation."),
        (SESSILE, 6, "low risk, ≤6 mm", "No follow-up imaging."),
        (SESSILE, 7, "low risk, 7-9 mm", "Follow-up ultrasound at 12 months."),
        (THICK, 9, "low risk, 7-9 mm", "Follow-up ultrasound at 12 months."),
        (
            THICK,
            10,
            "low risk, 10-14 mm",
            "Surgical consultation, or follow-up ultrasound at 6, 12, 24 and 36 months.",
        ),
        (
            SESSILE,
            14,
            "low risk, 10-14 mm",
            "Surgical consultation, or follow-up ultrasound at 6, 12, 24 and 36 months.",
        ),
        (SESSILE, 15, "low risk, ≥15 mm", "Surgical consultation."),
    ],
)
def test_bands(morphology: str, size_mm: float, category: str, management: str) -> None:
    result = run(morphology=morphology, size_mm=size_mm, focal_wall_thickening=False)
    assert (result.category, result.management) == (category, management)
    assert "Radiology 2022;305" in result.citation


def test_adjacent_wall_thickening_is_indeterminate_risk_with_open_management() -> None:
    result = run(morphology=THIN, size_mm=5, focal_wall_thickening=True)
    assert result.category == "indeterminate risk"
    assert result.management is not None and "not encoded" in result.management


def test_size_between_bands_with_different_management_is_open() -> None:
    result = run(morphology=SESSILE, size_mm=6.5, focal_wall_thickening=False)
    assert result.category is None and any("open point" in c for c in result.caveats)
    assert (
        run(morphology=THIN, size_mm=6.5, focal_wall_thickening=False).category == "extremely low risk, ≤9 mm"
    )


@pytest.mark.parametrize(
    ("exclusion", "advice"),
    [
        ("technically_inadequate", "1-2 months"),
        ("sludge_or_adenomyomatosis", "contrast-enhanced ultrasound or MRI"),
        ("suspected_malignancy", "specialist referral"),
        ("psc", "PSC"),
    ],
)
def test_exclusions(exclusion: str, advice: str) -> None:
    result = run(morphology=THIN, size_mm=5, focal_wall_thickening=False, exclusion=exclusion)
    assert result.not_applicable is not None and advice in result.not_applicable


def test_missing_inputs_are_listed() -> None:
    assert run(size_mm=5).missing == ["morphology", "focal_wall_thickening"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6 mm ball-on-the-wall gallbladder polyp", {"morphology": THIN, "size_mm": 6.0}),
        (
            "8 mm sessile polyp, no adjacent wall thickening",
            {"morphology": SESSILE, "focal_wall_thickening": False},
        ),
        ("1.1 cm pedunculated polyp with a thick stalk", {"morphology": THICK, "size_mm": 11.0}),
        ("5 mm polyp with focal wall thickening at its base", {"focal_wall_thickening": True}),
        ("Gallbladder polyp in a patient with PSC", {"exclusion": "psc"}),
    ],
)
def test_extract(text: str, expected: dict[str, Any]) -> None:
    inputs = extract(text).inputs
    assert {k: inputs.get(k) for k in expected} == expected
