"""O-RADS US free-text extraction: realistic phrasings, and the ones it must refuse or leave undetermined."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.o_rads  # noqa: F401  (registers the tool)
from tools.classify.o_rads import ORadsInput, extract
from tools.registry import REGISTRY

TOOL = REGISTRY.get("o_rads")


@pytest.mark.parametrize(
    ("text", "expected", "category"),
    [
        pytest.param(
            "6 cm simple cyst in a premenopausal woman.",
            {"lesion_type": "simple_cyst", "max_diameter_mm": 60.0, "menopausal_status": "premenopausal"},
            "2",
            id="6cm-simple-cyst-premenopausal",
        ),
        pytest.param(
            "Multilocular cyst 12 cm smooth, colour score 2.",
            {
                "lesion_type": "multilocular_cyst",
                "max_diameter_mm": 120.0,
                "inner_wall": "smooth",
                "color_score": 2,
            },
            "4",
            id="multilocular-12cm-smooth-CS2",
        ),
        pytest.param(
            "Solid lesion with irregular outer contour.",
            {"lesion_type": "solid", "outer_contour": "irregular"},
            "5",
            id="solid-irregular-contour",
        ),
        pytest.param(
            "Unilocular cyst with 2 papillary projections.",
            {"lesion_type": "unilocular_cyst", "papillary_projections": 2, "solid_component": True},
            "4",
            id="unilocular-2-papillary-projections",
        ),
        pytest.param(
            "Unilocular cyst with four papillary projections.",
            {"lesion_type": "unilocular_cyst", "papillary_projections": 4, "solid_component": True},
            "5",
            id="unilocular-4-papillary-projections",
        ),
        pytest.param(
            "2.5 cm simple cyst in a postmenopausal patient, no ascites or peritoneal nodules.",
            {
                "lesion_type": "simple_cyst",
                "max_diameter_mm": 25.0,
                "menopausal_status": "postmenopausal",
                "ascites_or_peritoneal_nodules": False,
            },
            "2",
            id="small-simple-cyst-postmenopausal",
        ),
        pytest.param(
            "Simple cyst 10 cm, premenopausal.",
            {"lesion_type": "simple_cyst", "max_diameter_mm": 100.0, "menopausal_status": "premenopausal"},
            "3",
            id="simple-cyst-at-10cm-is-3",
        ),
        pytest.param(
            "Bilocular cyst with a solid component, colour score 3, 5 cm.",
            {
                "lesion_type": "bilocular_cyst",
                "solid_component": True,
                "color_score": 3,
                "max_diameter_mm": 50.0,
            },
            "5",
            id="bilocular-solid-CS3",
        ),
        pytest.param(
            "Solid adnexal mass with smooth contour, minimal flow, acoustic shadowing, 4 cm.",
            {
                "lesion_type": "solid",
                "outer_contour": "smooth",
                "color_score": 2,
                "shadowing": True,
                "max_diameter_mm": 40.0,
            },
            "3",
            id="solid-smooth-shadowing-minimal-flow",
        ),
        pytest.param(
            "8 cm endometrioma.",
            {"lesion_type": "endometrioma", "max_diameter_mm": 80.0},
            "2",
            id="classic-benign-endometrioma",
        ),
        pytest.param(
            "Unilocular cyst 4 cm with irregular inner wall and no solid component.",
            {
                "lesion_type": "unilocular_cyst",
                "max_diameter_mm": 40.0,
                "inner_wall": "irregular",
                "solid_component": False,
            },
            "3",
            id="unilocular-irregular-wall",
        ),
        pytest.param(
            "Multilocular cyst 5 cm with a 6 mm solid component, very strong flow, and ascites.",
            {
                "lesion_type": "multilocular_cyst",
                "max_diameter_mm": 50.0,
                "solid_component": True,
                "color_score": 4,
                "ascites_or_peritoneal_nodules": True,
            },
            "5",
            id="solid-component-size-is-not-the-lesion-size",
        ),
        pytest.param(
            "Adnexal lesion, incomplete evaluation due to bowel gas.",
            {"incomplete_evaluation": True},
            "0",
            id="incomplete-evaluation",
        ),
    ],
)
def test_phrasings_are_read_and_classify(text: str, expected: dict[str, Any], category: str) -> None:
    extraction = extract(text)
    assert extraction.inputs == expected
    assert set(extraction.evidence) == set(expected)
    assert extraction.undetermined == []
    ORadsInput.model_validate(extraction.inputs)
    assert TOOL.run(extraction.inputs).category == category


def test_evidence_quotes_the_text() -> None:
    extraction = extract("6 cm simple cyst in a premenopausal woman.")
    assert extraction.evidence["max_diameter_mm"] == "6 cm"
    assert extraction.evidence["lesion_type"].endswith("simple cyst")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param(
            "Unilocular cyst 3-4 cm, smooth, no solid component.", "max_diameter_mm", id="size-range"
        ),
        pytest.param("Simple cyst measuring 6, premenopausal.", "max_diameter_mm", id="size-without-unit"),
        pytest.param("Simple cyst less than 3 cm, premenopausal.", "max_diameter_mm", id="size-bound"),
        pytest.param(
            "Simple cyst 4 cm and simple cyst 6 cm, premenopausal.", "max_diameter_mm", id="two-sizes"
        ),
        pytest.param(
            "Unilocular cyst with multiple papillary projections.",
            "papillary_projections",
            id="multiple-projections",
        ),
        pytest.param("Solid mass, smooth contour, colour score 5.", "color_score", id="CS-out-of-scale"),
        pytest.param("Solid mass, smooth contour, colour score 2-3.", "color_score", id="CS-range"),
        pytest.param("Solid mass, smooth contour, strong flow.", "color_score", id="strong-flow-is-3-or-4"),
        pytest.param("Simple cyst 2 cm in a perimenopausal woman.", "menopausal_status", id="perimenopausal"),
        pytest.param("Septated cyst 5 cm.", "lesion_type", id="septated-is-bi-or-multilocular"),
        pytest.param("Dermoid and endometrioma.", "lesion_type", id="two-lesion-types"),
        pytest.param(
            "Multilocular cyst 5 cm, smooth, colour score 3.", "solid_component", id="solid-component-decides"
        ),
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
            "Unilocular cyst without solid component.", "solid_component", False, id="without-solid"
        ),
        pytest.param(
            "Unilocular cyst with no papillary projections.", "papillary_projections", 0, id="no-projections"
        ),
        pytest.param("Solid mass, no internal flow.", "color_score", 1, id="no-flow-CS1"),
        pytest.param("Solid mass, moderate flow.", "color_score", 3, id="moderate-flow-CS3"),
        pytest.param("Solid mass, CS 4.", "color_score", 4, id="CS-abbreviation"),
        pytest.param("Solid mass without shadowing.", "shadowing", False, id="no-shadowing"),
        pytest.param(
            "Simple cyst, no ascites.",
            "ascites_or_peritoneal_nodules",
            None,
            id="no-ascites-but-nodules-unsaid",
        ),
        pytest.param(
            "Solid mass with peritoneal nodules.",
            "ascites_or_peritoneal_nodules",
            True,
            id="peritoneal-nodules",
        ),
        pytest.param(
            "Haemorrhagic cyst 3 cm.", "lesion_type", "hemorrhagic_cyst", id="haemorrhagic-spelling"
        ),
        pytest.param("Mature cystic teratoma.", "lesion_type", "dermoid", id="teratoma-is-dermoid"),
        pytest.param(
            "Simple paraovarian cyst.", "lesion_type", "paraovarian_cyst", id="paraovarian-not-simple-cyst"
        ),
        pytest.param(
            "Unilocular simple cyst 3 cm.", "lesion_type", "simple_cyst", id="simple-unilocular-is-simple"
        ),
        pytest.param(
            "Solid mass with a smooth outer contour.", "outer_contour", "smooth", id="smooth-contour"
        ),
        pytest.param("No dermoid.", "lesion_type", None, id="negated-type"),
    ],
)
def test_single_fields(text: str, field: str, value: Any) -> None:
    assert extract(text).inputs.get(field) == value


def test_text_without_adnexal_findings_reads_nothing() -> None:
    extraction = extract("Normal uterus.")
    assert extraction.inputs == {}
    assert extraction.undetermined == ["lesion_type"]
