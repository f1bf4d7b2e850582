"""A nodule stated to be in an airway is an airway (endobronchial) nodule, never a parenchymal one.

Found by evaluation: "5 mm solid nodule in a segmental bronchus" at baseline screening was read as a
parenchymal nodule (Lung-RADS 2) instead of an airway nodule, segmental (4A).
"""

from __future__ import annotations

import pytest

from tools.classify.fleischner import FleischnerInput
from tools.classify.fleischner import classify as fleischner
from tools.classify.fleischner import extract as fleischner_extract
from tools.classify.lung_rads import LungRadsInput
from tools.classify.lung_rads import classify as lung_rads
from tools.classify.lung_rads import extract as lung_rads_extract


def _lung_rads(text: str) -> tuple[dict[str, object], str | None]:
    ex = lung_rads_extract(text)
    return ex.inputs, lung_rads(LungRadsInput(**ex.inputs)).category


@pytest.mark.parametrize(
    ("text", "level"),
    [
        (
            "Baseline lung screening LDCT: 5 mm solid nodule in a segmental bronchus of the right lower lobe.",
            "segmental_or_proximal",
        ),
        ("Baseline screening LDCT: 4 mm nodule in the right main bronchus.", "segmental_or_proximal"),
        ("Baseline screening LDCT: 6 mm nodule within the left mainstem bronchus.", "segmental_or_proximal"),
        ("Baseline screening LDCT: 5 mm nodule in a lobar bronchus.", "segmental_or_proximal"),
        ("Baseline screening LDCT: 5 mm nodule in the trachea.", "segmental_or_proximal"),
        ("Baseline screening LDCT: 5 mm endobronchial nodule, segmental.", "segmental_or_proximal"),
        ("Baseline screening LDCT: 5 mm nodule in the bronchus intermedius.", "segmental_or_proximal"),
        ("Baseline screening LDCT: 5 mm solid nodule in a subsegmental bronchus.", "subsegmental"),
        (
            "Baseline screening LDCT: 5 mm solid nodule within the lumen of a subsegmental bronchus.",
            "subsegmental",
        ),
        ("Baseline screening LDCT: 5 mm nodule in the right lower lobe bronchus.", "segmental_or_proximal"),
    ],
)
def test_nodule_in_a_bronchus_is_an_airway_nodule(text: str, level: str) -> None:
    inputs, category = _lung_rads(text)
    assert inputs.get("finding") == "airway_nodule"
    assert inputs.get("airway_level") == level
    assert category == ("4A" if level == "segmental_or_proximal" else "2")


@pytest.mark.parametrize(
    "text",
    [
        "Baseline screening LDCT: 5 mm endobronchial nodule.",
        "Baseline screening LDCT: 5 mm solid nodule in a bronchus of the right lower lobe.",
        "Baseline screening LDCT: 5 mm solid nodule, intraluminal airway, right lower lobe.",
        "Baseline screening LDCT: 5 mm solid nodule in the airway.",
    ],
)
def test_airway_nodule_without_a_level_asks_for_it(text: str) -> None:
    inputs, category = _lung_rads(text)
    assert inputs.get("finding") == "airway_nodule"
    assert category is None
    assert "airway_level" in lung_rads(LungRadsInput(**inputs)).missing


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Baseline screening LDCT: 5 mm solid nodule in the right lower lobe.", "2"),
        ("Baseline screening LDCT: 5 mm solid nodule adjacent to a segmental bronchus.", "2"),
        ("Baseline screening LDCT: 5 mm solid peribronchial nodule in the right lower lobe.", "2"),
        ("Baseline screening LDCT: 5 mm solid nodule; endotracheal tube in place.", "2"),
        ("Baseline screening LDCT: 5 mm solid nodule; no endobronchial lesion.", "2"),
    ],
)
def test_parenchymal_nodules_keep_their_category(text: str, category: str) -> None:
    inputs, got = _lung_rads(text)
    assert inputs.get("finding", "nodule") == "nodule"
    assert got == category


@pytest.mark.parametrize(
    "text",
    [
        "Incidental 5 mm solid nodule in a segmental bronchus of the right lower lobe, 60-year-old.",
        "Incidental 7 mm endobronchial nodule in a 60-year-old never smoker.",
        "Incidental 5 mm nodule within the right main bronchus.",
    ],
)
def test_fleischner_does_not_classify_an_airway_nodule(text: str) -> None:
    ex = fleischner_extract(text)
    result = fleischner(FleischnerInput(**ex.inputs))
    assert result.category is None
    assert result.not_applicable


def test_fleischner_parenchymal_control() -> None:
    ex = fleischner_extract("Incidental 5 mm solid nodule in the right lower lobe, 60-year-old never smoker.")
    assert fleischner(FleischnerInput(**ex.inputs)).category is not None
