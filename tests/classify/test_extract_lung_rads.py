"""Lung-RADS text extraction: screening findings, priors, special findings, and what must stay undetermined."""

from __future__ import annotations

import pytest

from tools.classify import lung_rads
from tools.registry import REGISTRY

TOOL = REGISTRY.get("lung_rads")


def extract(text: str):
    return lung_rads.extract(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Baseline screening LDCT: 7.4 x 5.9 mm solid nodule in the RUL.",
            {
                "status": "baseline",
                "nodule_type": "solid",
                "long_axis_mm": 7.4,
                "short_axis_mm": 5.9,
                "screening_exam": True,
            },
        ),
        ("new 5 mm solid nodule", {"status": "new", "nodule_type": "solid", "mean_diameter_mm": 5.0}),
        ("growing 9 mm solid nodule", {"status": "growing", "mean_diameter_mm": 9.0}),
        ("slowly growing part-solid nodule", {"status": "slow_growth", "nodule_type": "part-solid"}),
        ("stable 7 mm solid nodule, previously Lung-RADS 3", {"status": "stable", "prior_category": "3"}),
        ("4 mm solid nodule, stable since baseline", {"status": "stable", "mean_diameter_mm": 4.0}),
        (
            "6.8 mm solid nodule, was 5 mm 12 months ago",
            {"mean_diameter_mm": 6.8, "prior_mean_diameter_mm": 5.0, "months_since_prior": 12.0},
        ),
        (
            "solid nodule increased from 5.0 to 6.8 mm over 1 year",
            {"mean_diameter_mm": 6.8, "prior_mean_diameter_mm": 5.0, "months_since_prior": 12.0},
        ),
        (
            "part-solid nodule 12 mm with a 4 mm solid component",
            {"nodule_type": "part-solid", "mean_diameter_mm": 12.0, "solid_component_mm": 4.0},
        ),
        (
            "baseline pure ground-glass nodule 32 mm",
            {"nodule_type": "ground-glass", "mean_diameter_mm": 32.0},
        ),
        (
            "8 mm perifissural nodule, smooth and lentiform",
            {"juxtapleural_benign": True, "mean_diameter_mm": 8.0},
        ),
        (
            "endobronchial nodule in a segmental bronchus",
            {"finding": "airway_nodule", "airway_level": "segmental_or_proximal"},
        ),
        (
            "subsegmental airway nodule, new",
            {"finding": "airway_nodule", "airway_level": "subsegmental", "status": "new"},
        ),
        ("No pulmonary nodules.", {"finding": "no_nodules"}),
        ("completely calcified 6 mm nodule", {"benign_feature": "complete_calcification"}),
        ("nodule with popcorn calcification", {"benign_feature": "popcorn_calcification"}),
        ("fat-containing nodule 11 mm", {"benign_feature": "fat"}),
        ("spiculated 12 mm solid nodule", {"suspicious_features": True}),
        ("enlarged mediastinal lymph nodes", {"suspicious_features": True}),
        ("Prior CT is being located for comparison.", {"prior_ct_pending": True}),
        ("lobar consolidation, likely infectious", {"infectious_or_inflammatory": True}),
        (
            "thick-walled cyst at baseline",
            {"finding": "atypical_cyst", "cyst_type": "thick_walled", "cyst_change": "baseline"},
        ),
        (
            "multilocular cyst with increased loculation",
            {
                "finding": "atypical_cyst",
                "cyst_type": "multilocular",
                "cyst_change": "increased_loculation_or_opacity",
            },
        ),
        ("significant incidental finding: 5 cm aortic aneurysm", {"significant_other_finding": True}),
        ("incidental 7 mm nodule", {"screening_exam": False}),
        ("category 4B nodule proven benign at biopsy", {"proven_benign": True}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_readings(text: str, expected: dict) -> None:
    extraction = extract(text)
    for name, value in expected.items():
        assert extraction.inputs.get(name) == value, name
        assert extraction.evidence[name]
    TOOL.validate_input(extraction.inputs)  # an extraction always validates against the input model


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("subsolid nodule 8 mm", "nodule_type"),  # Lung-RADS needs part-solid vs non-solid
        ("no new nodules; 5 mm solid nodule", "status"),
        ("no lymphadenopathy, 9 mm solid nodule", "suspicious_features"),
        ("9 mm solid nodule with enlarged lymph nodes", "status"),  # 'enlarged' nodes is not a growing nodule
        ("solid nodule was 3 mm", "prior_category"),  # a size, not a Lung-RADS category
        ("juxtapleural nodule 6 mm", "juxtapleural_benign"),  # morphology not stated
        ("no calcification, 7 mm solid nodule", "benign_feature"),
        ("new and stable nodules", "status"),  # conflicting
    ],
    ids=[
        "subsolid",
        "no-new",
        "negated-nodes",
        "enlarged-nodes",
        "was-3-mm",
        "juxtapleural-no-shape",
        "negated-calcification",
        "conflicting-status",
    ],
)
def test_refused(text: str, absent: str) -> None:
    assert absent not in extract(text).inputs


@pytest.mark.parametrize(
    "text",
    ["6-8 mm solid nodule", "solid nodule of 6 to 8 mm", "solid nodule measuring 7", "solid nodule <6 mm"],
    ids=["range", "range-to", "no-unit", "comparator"],
)
def test_size_refused(text: str) -> None:
    extraction = extract(text)
    assert not {"mean_diameter_mm", "long_axis_mm", "short_axis_mm"} & set(extraction.inputs)
    assert {"long_axis_mm", "short_axis_mm"} <= set(extraction.undetermined)


def test_subsolid_is_undetermined() -> None:
    assert "nodule_type" in extract("baseline subsolid nodule 8 mm").undetermined


def test_juxtapleural_without_morphology_is_undetermined() -> None:
    assert "juxtapleural_benign" in extract("baseline juxtapleural solid nodule 6 mm").undetermined


def test_status_words_yield_to_prior_measurements() -> None:
    # "new" contradicts a prior size; the numbers are kept and the tool decides growth itself.
    extraction = extract("new 6.6 mm solid nodule, was 5.1 mm 12 months ago")
    assert "status" not in extraction.inputs
    assert extraction.inputs["prior_mean_diameter_mm"] == 5.1
    assert TOOL.run(extraction.inputs).category == "3"  # +1.5 mm is not growth; now 6 to <8 at baseline bands


def test_growth_needs_interval_when_text_omits_it() -> None:
    extraction = extract("solid nodule now 8.0 mm, previously 6.0 mm")
    assert extraction.undetermined == ["months_since_prior"]


def test_undetermined_lists_path_fields() -> None:
    assert extract("7 mm solid nodule").undetermined == ["status"]
    assert extract("baseline part-solid nodule 9 mm").undetermined == ["solid_component_mm"]
    assert extract("airway nodule").undetermined == ["airway_level", "status"]


def test_evidence_is_quoted_from_the_text() -> None:
    text = "Baseline screening LDCT: 7.4 x 5.9 mm spiculated solid nodule in the RUL."
    for name, snippet in extract(text).evidence.items():
        assert snippet in text, name


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Baseline screening LDCT: 7.4 x 5.9 mm solid nodule in the RUL.", "3"),
        ("New 6.5 mm solid nodule.", "4A"),
        ("6.5 mm solid nodule, was 5.0 mm 12 months ago.", "3"),
        ("Solid nodule 7.0 mm, was 5.4 mm 12 months ago.", "4A"),
        ("Baseline part-solid nodule 12 mm with a 4 mm solid component.", "3"),
        ("Baseline spiculated solid nodule 16 mm.", "4X"),
        ("Baseline 8 mm perifissural solid nodule, smooth, triangular.", "2"),
        ("No pulmonary nodules.", "1"),
        ("Baseline multilocular cyst.", "4A"),
    ],
    ids=[
        "baseline-solid-3",
        "new-solid-4A",
        "exactly-1.5-not-growth",
        "growth-4A",
        "part-solid-3",
        "4X",
        "perifissural-2",
        "no-nodules-1",
        "multilocular-cyst-4A",
    ],
)
def test_complete_extractions_run_through_the_tool(text: str, category: str) -> None:
    extraction = extract(text)
    assert extraction.undetermined == []
    assert TOOL.run(extraction.inputs).category == category


def test_tool_is_registered_with_extractor_and_triggers() -> None:
    assert TOOL.extractor is lung_rads.extract
    assert any("rads" in t for t in TOOL.triggers)
