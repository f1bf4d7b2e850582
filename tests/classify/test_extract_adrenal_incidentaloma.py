"""Reading an incidental adrenal mass from report text: size, HU per phase, washout, fat, history (never guessing)."""

from __future__ import annotations

from typing import Any

import pytest

import tools
from tools.classify.adrenal_incidentaloma import AdrenalInput

TOOL = tools.load_tools().get("adrenal_incidentaloma")
assert TOOL.extractor is not None
extract = TOOL.extractor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "1.8 cm left adrenal nodule measuring 8 HU on unenhanced CT.",
            {"size_mm": 18.0, "unenhanced_hu": 8.0},
            id="size-and-unenhanced-hu",
        ),
        pytest.param(
            "On unenhanced CT, the 2.1 cm right adrenal nodule measures 35 HU. Portal venous 90 HU, "
            "15-minute delayed 45 HU.",
            {"size_mm": 21.0, "unenhanced_hu": 35.0, "enhanced_hu": 90.0, "delayed_hu": 45.0},
            id="three-phases-across-sentences",
        ),
        pytest.param(
            "Adrenal nodule 2.4 cm: -5 HU on non-contrast images.",
            {"size_mm": 24.0, "unenhanced_hu": -5.0},
            id="negative-hu",
        ),
        pytest.param(
            "Right adrenal mass 2.5 x 2.0 cm with absolute washout of 65% and relative washout of 45%.",
            {"size_mm": 25.0, "absolute_washout_pct": 65.0, "relative_washout_pct": 45.0},
            id="reported-washout-percentages",
        ),
        pytest.param(
            "Left adrenal nodule 1.2 cm with signal loss on opposed-phase images.",
            {"size_mm": 12.0, "chemical_shift_signal_loss": True},
            id="chemical-shift-signal-loss",
        ),
        pytest.param(
            "No signal drop on out-of-phase imaging; 3 cm adrenal mass.",
            {"size_mm": 30.0, "chemical_shift_signal_loss": False},
            id="no-signal-loss",
        ),
        pytest.param(
            "4.5 cm adrenal mass containing macroscopic fat.",
            {"size_mm": 45.0, "macroscopic_fat": True},
            id="macroscopic-fat",
        ),
        pytest.param(
            "Adrenal nodule 2 cm without macroscopic fat.",
            {"size_mm": 20.0, "macroscopic_fat": False},
            id="no-macroscopic-fat",
        ),
        pytest.param(
            "Adrenal nodule 3 cm, stable for 2 years.",
            {"size_mm": 30.0, "prior_imaging": "stable", "stable_months": 24.0},
            id="stable-years",
        ),
        pytest.param(
            "Adrenal nodule 3 cm, unchanged over the past 18 months.",
            {"size_mm": 30.0, "prior_imaging": "stable", "stable_months": 18.0},
            id="unchanged-months",
        ),
        pytest.param(
            "New 2.2 cm left adrenal nodule in a patient with a history of lung cancer.",
            {"size_mm": 22.0, "prior_imaging": "new_or_enlarging", "cancer_history": True},
            id="new-with-cancer-history",
        ),
        pytest.param(
            "Adrenal nodule 1.5 cm; no prior imaging; no history of malignancy.",
            {"size_mm": 15.0, "prior_imaging": "none", "cancer_history": False},
            id="no-prior-no-history",
        ),
        pytest.param(
            "Incidental 1.5 cm adrenal nodule in a child.",
            {"size_mm": 15.0, "incidental": True, "adult": False},
            id="incidental-child",
        ),
        pytest.param(
            "2 cm adrenal hemorrhage.",
            {"size_mm": 20.0, "benign_appearance": "hemorrhage"},
            id="hemorrhage",
        ),
        pytest.param(
            "Simple-appearing 3 cm cyst in the right adrenal gland.",
            {"size_mm": 30.0, "benign_appearance": "cyst"},
            id="cyst-in-the-adrenal",
        ),
    ],
)
def test_reads_what_the_text_states(text: str, expected: dict[str, Any]) -> None:
    found = extract(text)
    assert found.system == "adrenal_incidentaloma"
    assert found.inputs == expected
    assert set(found.evidence) == set(expected)
    for key, evidence in found.evidence.items():
        assert evidence and evidence in text, key
    AdrenalInput.model_validate(found.inputs)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Adrenal nodule.", id="no-size"),
        pytest.param("Adrenal nodule measuring 1-2 cm.", id="size-range"),
        pytest.param("Adrenal nodules measuring 1.2 cm and 2.4 cm.", id="two-sizes"),
    ],
)
def test_size_is_undetermined_when_not_one_stated_value(text: str) -> None:
    found = extract(text)
    assert "size_mm" not in found.inputs
    assert "size_mm" in found.undetermined


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1.5 cm adrenal nodule measuring 8 HU.", id="hu-without-phase"),
        pytest.param("1.5 cm adrenal nodule, unenhanced attenuation less than 10 HU.", id="bound-not-value"),
        pytest.param("1.5 cm adrenal nodule, unenhanced attenuation < 10 HU.", id="symbol-bound"),
        pytest.param(
            "1.5 cm adrenal nodule measuring 35 and 90 HU on unenhanced and venous phases.", id="list"
        ),
        pytest.param("1.5 cm adrenal nodule, unenhanced 5-15 HU.", id="range"),
        pytest.param(
            "1.5 cm adrenal nodule: 8 HU unenhanced, 12 HU unenhanced on the repeat scan.", id="conflict"
        ),
    ],
)
def test_unenhanced_hu_is_never_guessed(text: str) -> None:
    assert "unenhanced_hu" not in extract(text).inputs


def test_ambiguous_unenhanced_value_is_listed_as_undetermined() -> None:
    assert "unenhanced_hu" in extract("1.5 cm adrenal nodule, unenhanced attenuation < 10 HU.").undetermined


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("Possible adrenal hemorrhage, 2 cm.", "benign_appearance", id="hedged-diagnosis"),
        pytest.param(
            "2 cm adrenal mass; cannot exclude adrenocortical carcinoma.", "cancer_history", id="ddx"
        ),
        pytest.param("2 cm adrenal mass stable since 2019.", "stable_months", id="since-a-year"),
        pytest.param("2 cm adrenal mass stable for less than a year.", "stable_months", id="upper-bound"),
        pytest.param(
            "Adrenal nodule 2 cm with signal loss.", "chemical_shift_signal_loss", id="no-chemical-shift"
        ),
        pytest.param(
            "2 cm left adrenal nodule; incidental renal cyst.", "benign_appearance", id="cyst-elsewhere"
        ),
        pytest.param(
            "2 cm adrenal nodule; hemorrhage in the liver.", "benign_appearance", id="bleed-elsewhere"
        ),
        pytest.param("2 cm adrenal mass, relative washout <40%.", "relative_washout_pct", id="washout-bound"),
    ],
)
def test_refuses_hedged_or_incomplete_statements(text: str, field: str) -> None:
    assert field not in extract(text).inputs


def test_stable_without_duration_asks_for_the_duration() -> None:
    found = extract("2 cm adrenal mass stable since 2019, no history of cancer.")
    assert found.inputs["prior_imaging"] == "stable"
    assert "stable_months" in found.undetermined


def test_conflicting_prior_imaging_is_undetermined() -> None:
    found = extract("2 cm adrenal mass, stable on one study but enlarging on the latest.")
    assert "prior_imaging" not in found.inputs
    assert "prior_imaging" in found.undetermined


def test_path_needs_are_undetermined() -> None:
    """A 2.5 cm mass without benign features needs prior imaging (and then cancer history)."""
    found = extract("2.5 cm left adrenal nodule.")
    assert found.undetermined == ["prior_imaging"]


def test_benign_feature_needs_nothing_more() -> None:
    assert extract("1.8 cm adrenal nodule, 8 HU on unenhanced CT.").undetermined == []
