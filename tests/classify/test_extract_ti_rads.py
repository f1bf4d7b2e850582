"""TI-RADS text extraction: ultrasound descriptors, negations, sizes, and what must stay undetermined."""

from __future__ import annotations

import pytest

from tools.classify import ti_rads
from tools.registry import REGISTRY

TOOL = REGISTRY.get("ti_rads")


def extract(text: str):
    return ti_rads.extract(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "solid hypoechoic nodule, taller-than-wide, punctate echogenic foci",
            {
                "composition": "solid",
                "echogenicity": "hypoechoic",
                "shape": "taller_than_wide",
                "echogenic_foci": ["punctate"],
            },
        ),
        ("spongiform nodule", {"composition": "spongiform"}),
        ("mixed cystic and solid nodule", {"composition": "mixed_cystic_solid"}),
        ("predominantly solid nodule", {"composition": "mixed_cystic_solid"}),
        ("almost completely cystic nodule, anechoic", {"composition": "cystic", "echogenicity": "anechoic"}),
        ("very hypoechoic solid nodule", {"echogenicity": "very_hypoechoic", "composition": "solid"}),
        ("markedly hypoechoic", {"echogenicity": "very_hypoechoic"}),
        ("isoechoic nodule", {"echogenicity": "isoechoic"}),
        ("hyperechoic nodule", {"echogenicity": "hyperechoic"}),
        ("microcalcifications", {"echogenic_foci": ["punctate"]}),
        ("macrocalcifications", {"echogenic_foci": ["macrocalcifications"]}),
        ("coarse calcification", {"echogenic_foci": ["macrocalcifications"]}),
        ("rim calcification", {"echogenic_foci": ["peripheral_rim"]}),
        ("peripheral calcifications", {"echogenic_foci": ["peripheral_rim"]}),
        ("large comet-tail artifacts", {"echogenic_foci": ["comet_tail"]}),
        (
            "macrocalcifications and punctate echogenic foci",
            {"echogenic_foci": ["punctate", "macrocalcifications"]},
        ),
        ("no calcifications", {"echogenic_foci": ["none"]}),
        ("without echogenic foci", {"echogenic_foci": ["none"]}),
        ("lobulated margins", {"margin": "lobulated"}),
        ("irregular margins", {"margin": "irregular"}),
        ("lobulated/irregular margins", {"margin": "lobulated"}),
        ("extrathyroidal extension", {"margin": "extrathyroidal_extension"}),
        ("smooth margins", {"margin": "smooth"}),
        ("well-circumscribed", {"margin": "smooth"}),
        ("ill-defined margins", {"margin": "ill_defined"}),
        ("wider-than-tall", {"shape": "wider_than_tall"}),
        ("not taller-than-wide", {"shape": "wider_than_tall"}),
        ("thyroid nodule 1.2 x 0.9 x 0.7 cm", {"max_diameter_mm": 12.0}),
        ("14 mm thyroid nodule", {"max_diameter_mm": 14.0}),
        ("nodule measuring 1.5 cm, previously 1.1 cm", {"max_diameter_mm": 15.0}),
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
    ("text", "field"),
    [
        ("no microcalcifications", "echogenic_foci"),  # other foci not excluded
        ("no extrathyroidal extension", "margin"),  # smooth vs lobulated not stated
        ("iso- to hypoechoic", "echogenicity"),  # conflicting
        ("hypoechoic or isoechoic nodule", "echogenicity"),
        ("hyperechoic foci", "echogenicity"),  # foci are not the nodule's echogenicity
        ("echogenic foci", "echogenic_foci"),  # type not stated
        ("calcified nodule", "echogenic_foci"),
        ("solid and cystic areas mixed with solid component", "shape"),  # not mentioned
        ("nodule measures 1.2", "max_diameter_mm"),  # no unit
        ("nodule 1.0-1.5 cm", "max_diameter_mm"),  # range
        ("irregular calcification", "margin"),  # not a margin statement
    ],
    ids=[
        "negated-micro",
        "negated-ete",
        "iso-to-hypo",
        "hypo-or-iso",
        "hyperechoic-foci",
        "generic-foci",
        "calcified",
        "shape-silent",
        "no-unit",
        "range",
        "irregular-calcification",
    ],
)
def test_refused(text: str, field: str) -> None:
    extraction = extract(text)
    assert field not in extraction.inputs


def test_negated_micro_leaves_foci_undetermined() -> None:
    extraction = extract(
        "solid hypoechoic nodule without microcalcifications, smooth, wider-than-tall, 1.2 cm"
    )
    assert "echogenic_foci" not in extraction.inputs
    assert "echogenic_foci" in extraction.undetermined


def test_conflicting_echogenicity_is_undetermined() -> None:
    assert "echogenicity" in extract("solid iso- to hypoechoic nodule").undetermined


def test_anechoic_solid_contradiction_is_dropped() -> None:
    extraction = extract("solid anechoic nodule, smooth, wider-than-tall, no calcifications, 2 cm")
    assert "echogenicity" not in extraction.inputs and "composition" not in extraction.inputs
    TOOL.validate_input(extraction.inputs)


def test_spongiform_needs_nothing_else() -> None:
    assert extract("spongiform nodule").undetermined == []


def test_size_undetermined_only_where_it_matters() -> None:
    assert (
        "max_diameter_mm"
        in extract("solid hypoechoic nodule, smooth, wider-than-tall, no calcifications").undetermined
    )
    benign = extract("almost completely cystic anechoic nodule, smooth, wider-than-tall, no calcifications")
    assert "max_diameter_mm" not in benign.undetermined


def test_evidence_is_quoted_from_the_text() -> None:
    text = "1.4 cm solid very hypoechoic nodule, taller-than-wide, lobulated margins, microcalcifications."
    for name, snippet in extract(text).evidence.items():
        assert snippet in text, name


@pytest.mark.parametrize(
    ("text", "level", "total"),
    [
        (
            "1.4 cm solid hypoechoic nodule, taller-than-wide, punctate echogenic foci, smooth margins.",
            "TR5",
            10,
        ),
        ("2.6 cm spongiform nodule.", "TR1", 0),
        (
            "2.0 x 1.5 x 1.1 cm mixed cystic and solid nodule, isoechoic, wider-than-tall, smooth, no calcifications.",
            "TR2",
            2,
        ),
        ("Solid isoechoic nodule 1.6 cm, wider-than-tall, smooth margins, no calcifications.", "TR3", 3),
        (
            "Solid hypoechoic nodule 11 mm, wider-than-tall, ill-defined margins, macrocalcifications.",
            "TR4",
            5,
        ),
        (
            "Very hypoechoic solid nodule, extrathyroidal extension, wider than tall, rim calcification, 9 mm.",
            "TR5",
            10,
        ),
    ],
    ids=["TR5", "TR1-spongiform", "TR2", "TR3", "TR4", "TR5-ete"],
)
def test_complete_extractions_run_through_the_tool(text: str, level: str, total: int) -> None:
    extraction = extract(text)
    assert extraction.undetermined == []
    result = TOOL.run(extraction.inputs)
    assert result.category == level
    assert result.details["total"] == total


def test_tool_is_registered_with_extractor_and_triggers() -> None:
    assert TOOL.extractor is ti_rads.extract
    assert any("thyroid" in t for t in TOOL.triggers)
