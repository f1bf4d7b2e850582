"""Fleischner text extraction: what realistic findings state, and what they must leave undetermined."""

from __future__ import annotations

import pytest

from tools.classify import fleischner
from tools.registry import REGISTRY

TOOL = REGISTRY.get("fleischner")
SIZE = ["long_axis_mm", "short_axis_mm"]


def extract(text: str):
    return fleischner.extract(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 x 6 mm solid nodule", {"nodule_type": "solid", "long_axis_mm": 8.0, "short_axis_mm": 6.0}),
        (
            "Solid nodule measuring 8mm x 6mm in the RLL.",
            {"nodule_type": "solid", "long_axis_mm": 8.0, "short_axis_mm": 6.0},
        ),
        ("1.2 cm solid nodule", {"nodule_type": "solid", "diameter_mm": 12.0}),
        ("6 mm solid nodule, smoker", {"nodule_type": "solid", "diameter_mm": 6.0, "risk": "high"}),
        (
            "part-solid nodule 12 mm with a 4 mm solid component",
            {"nodule_type": "part-solid", "diameter_mm": 12.0, "solid_component_mm": 4.0},
        ),
        (
            "12 mm part-solid nodule, solid component measuring 7 mm",
            {"nodule_type": "part-solid", "diameter_mm": 12.0, "solid_component_mm": 7.0},
        ),
        ("ground-glass nodule 7 mm", {"nodule_type": "ground-glass", "diameter_mm": 7.0}),
        ("pure GGN of 5 mm", {"nodule_type": "ground-glass", "diameter_mm": 5.0}),
        (
            "9 mm ground-glass nodule with a 3 mm solid component",
            {"nodule_type": "part-solid", "solid_component_mm": 3.0},
        ),
        (
            "multiple subsolid nodules up to 5 mm",
            {"nodule_type": "subsolid", "count": "multiple", "diameter_mm": 5.0},
        ),
        ("two solid nodules, the largest 7 mm", {"count": "multiple", "diameter_mm": 7.0}),
        ("solitary 1.2 cm solid nodule", {"count": "single", "diameter_mm": 12.0}),
        (
            "6 mm GGO in the LLL, single, 70 y/o female",
            {"count": "single", "nodule_type": "ground-glass", "age": 70},
        ),
        ("A 5 mm solid nodule. No other pulmonary nodules.", {"count": "single"}),
        (
            "Several solid nodules measuring 3 mm, 4 mm and up to 6 mm.",
            {"count": "multiple", "diameter_mm": 6.0},
        ),
        ("solid nodule with no ground-glass component, 7 mm", {"nodule_type": "solid"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_nodule_readings(text: str, expected: dict) -> None:
    extraction = extract(text)
    for name, value in expected.items():
        assert extraction.inputs.get(name) == value, name
        assert extraction.evidence[name]
    TOOL.validate_input(extraction.inputs)  # an extraction always validates against the input model


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("6 mm solid nodule, smoker", "high"),
        ("7 mm nodule in a former smoker", "high"),
        ("ex-smoker, solid nodule", "high"),
        ("30 pack-years", "high"),
        ("Patient is high risk.", "high"),
        ("Asbestos exposure; 7 mm solid nodule.", "high"),
        ("No risk factors.", "low"),
        ("never smoker", "low"),
        ("non-smoker", "low"),
        ("nonsmoker with a solid nodule", "low"),
        ("low risk patient", "low"),
        ("0 pack-years", "low"),
        ("family history of lung cancer", "high"),
    ],
    ids=lambda v: v,
)
def test_risk_readings(text: str, risk: str) -> None:
    assert extract(text).inputs.get("risk") == risk


@pytest.mark.parametrize(
    "text",
    [
        "low risk patient, current smoker",  # conflicting statements
        "never smoker, spiculated nodule in the right upper lobe",  # never-smoker alone does not make low risk here
        "7 mm solid nodule",  # nothing said
        "not high risk",  # a negated statement states nothing positive
    ],
    ids=["conflict", "never-smoker-with-risk-cues", "silent", "negated-high"],
)
def test_risk_left_undetermined(text: str) -> None:
    extraction = extract(text)
    assert "risk" not in extraction.inputs


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("62-year-old man with a 7 mm solid nodule", "age", 62),
        ("62 yo female", "age", 62),
        ("aged 40, solid nodule", "age", 40),
        ("7 mm solid nodule on screening CT", "screening", True),
        ("Baseline LDCT shows a 7 mm nodule", "screening", True),
        ("Incidentally found 7 mm nodule on CT abdomen", "screening", False),
        ("renal transplant recipient with a 6 mm nodule", "immunocompromised", True),
        ("immunocompromised patient", "immunocompromised", True),
        ("immunocompetent adult", "immunocompromised", False),
        ("history of breast cancer, 6 mm nodule", "known_cancer", True),
        ("known primary malignancy", "known_cancer", True),
        ("no history of cancer", "known_cancer", False),
    ],
    ids=lambda v: str(v),
)
def test_scope_readings(text: str, field: str, value: object) -> None:
    assert extract(text).inputs.get(field) == value


def test_family_history_is_not_the_patients_cancer() -> None:
    extraction = extract("family history of lung cancer, 7 mm solid nodule")
    assert "known_cancer" not in extraction.inputs
    assert extraction.inputs["risk"] == "high"


def test_pack_years_is_not_an_age_and_months_are_not_sizes() -> None:
    extraction = extract("30 pack-year history, 7 mm solid nodule stable for 12 months")
    assert "age" not in extraction.inputs
    assert extraction.inputs["diameter_mm"] == 7.0


@pytest.mark.parametrize(
    "text",
    [
        "6-8 mm solid nodule",
        "solid nodule of 6 to 8 mm",
        "solid nodule measuring 6",
        "solid nodule <6 mm",
        "subcentimeter solid nodule",
        "solid nodule 1,2 cm",
        "solid nodule 1.2 x 0.9 x 0.7 cm",
        "solid nodules of 4 mm and 7 mm",
    ],
    ids=[
        "range-dash",
        "range-to",
        "no-unit",
        "comparator",
        "no-number",
        "decimal-comma",
        "three-dimensions",
        "two-sizes",
    ],
)
def test_size_refused(text: str) -> None:
    extraction = extract(text)
    assert not {"diameter_mm", "long_axis_mm", "short_axis_mm"} & set(extraction.inputs)
    assert set(SIZE) <= set(extraction.undetermined)


def test_prior_size_is_not_the_current_size() -> None:
    extraction = extract("7 mm solid nodule, previously 5 mm")
    assert extraction.inputs["diameter_mm"] == 7.0


def test_lymph_node_size_is_not_the_nodule() -> None:
    extraction = extract("8 mm solid nodule and a 12 mm lymph node")
    assert extraction.inputs["diameter_mm"] == 8.0


@pytest.mark.parametrize(
    "text",
    ["A 7 mm solid nodule in the left lower lobe.", "1 cm solid nodule", "6 mm solid nodule, smoker"],
    ids=["bare-nodule", "1-cm-is-not-one-nodule", "mission-example"],
)
def test_singular_nodule_reads_as_single_with_its_evidence(text: str) -> None:
    extraction = extract(text)
    assert extraction.inputs["count"] == "single"
    assert "singular" in extraction.evidence["count"], "the count must come from the noun, not from '1 cm'"


def test_singular_and_plural_nouns_mean_several() -> None:
    assert extract("a 7 mm nodule in the right lobe and nodules in the left").inputs["count"] == "multiple"


def test_one_of_the_nodules_means_several() -> None:
    assert extract("one of the nodules is solid, 7 mm").inputs["count"] == "multiple"


def test_subsolid_single_is_not_a_type() -> None:
    extraction = extract("solitary subsolid nodule, 8 mm")
    assert extraction.inputs["nodule_type"] == "subsolid"
    assert "nodule_type" in extraction.undetermined


def test_contradictory_solid_component_is_dropped() -> None:
    extraction = extract("part-solid nodule 5 mm with an 8 mm solid component")
    assert "solid_component_mm" not in extraction.inputs
    assert "solid_component_mm" in extraction.undetermined
    TOOL.validate_input(extraction.inputs)


def test_undetermined_depends_on_the_path() -> None:
    ggn = extract("single pure ground-glass nodule, 7 mm")
    assert ggn.undetermined == []  # risk is not needed for subsolid nodules
    solid = extract("single solid nodule, 7 mm")
    assert solid.undetermined == ["risk"]


def test_evidence_is_quoted_from_the_text() -> None:
    text = "Solitary 8 x 6 mm solid nodule in a 62-year-old former smoker, incidental finding."
    extraction = extract(text)
    for name, snippet in extraction.evidence.items():
        assert snippet in text, name


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (
            "Solitary 8 x 6 mm solid nodule in a 62-year-old former smoker.",
            "solid, single, 6-8 mm, high risk",
        ),
        ("Solitary 6 x 5 mm solid nodule, never smoker, 50 yo.", "solid, single, 6-8 mm, low risk"),
        ("Single pure GGN measuring 5 mm.", "ground-glass, single, <6 mm"),
        (
            "Solitary part-solid nodule 14 mm with a 9 mm solid component.",
            "part-solid, single, >=6 mm, solid component >8 mm",
        ),
        ("Multiple ground-glass nodules up to 4 mm.", "subsolid, multiple, <6 mm"),
    ],
    ids=["solid-high", "solid-low-rounded", "ggn", "part-solid", "multiple-ggn"],
)
def test_complete_extractions_run_through_the_tool(text: str, label: str) -> None:
    extraction = extract(text)
    assert extraction.undetermined == []
    assert TOOL.run(extraction.inputs).category == label


def test_screening_extraction_is_out_of_scope() -> None:
    extraction = extract("Solitary 9 mm solid nodule on lung cancer screening LDCT, 30 pack-years.")
    assert TOOL.run(extraction.inputs).not_applicable is not None


def test_tool_is_registered_with_extractor_and_triggers() -> None:
    assert TOOL.extractor is fleischner.extract
    assert TOOL.kind == "classification"
    assert any("fleischner" in t for t in TOOL.triggers)
