"""Bosniak free-text extraction: realistic phrasings, and the ones it must refuse or leave undetermined."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.bosniak  # noqa: F401  (registers the tool)
from tools.classify.bosniak import BosniakInput, extract
from tools.registry import REGISTRY

TOOL = REGISTRY.get("bosniak")


@pytest.mark.parametrize(
    ("text", "expected", "category"),
    [
        pytest.param(
            "Cystic renal mass on CT with a thin smooth wall and a 3 mm enhancing septum, no enhancing nodule.",
            {
                "modality": "ct",
                "wall_thickness": "thin",
                "septa_count": 1,
                "septa_thickness_mm": 3.0,
                "septa_enhancing": True,
                "protrusion": False,
            },
            "IIF",
            id="3mm-enhancing-septum-IIF",
        ),
        pytest.param(
            "Renal cyst with a 4 mm enhancing nodule with acute margins.",
            {
                "protrusion": True,
                "protrusion_mm": 4.0,
                "protrusion_margins": "acute",
                "protrusion_enhancing": True,
            },
            "IV",
            id="4mm-acute-enhancing-nodule-IV",
        ),
        pytest.param(
            "Homogeneous 75 HU on noncontrast CT, thin smooth wall, no septa, no nodules.",
            {
                "modality": "ct",
                "phase": "noncontrast",
                "homogeneous": True,
                "attenuation_hu": 75.0,
                "wall_thickness": "thin",
                "septa_count": 0,
                "protrusion": False,
            },
            "II",
            id="hyperattenuating-noncontrast-II",
        ),
        pytest.param(
            "Markedly T2 hyperintense homogeneous renal cyst on non-contrast MRI with a thin smooth wall, no septa "
            "or nodules.",
            {
                "modality": "mri",
                "phase": "noncontrast",
                "homogeneous": True,
                "t2_signal": "csf_like",
                "wall_thickness": "thin",
                "septa_count": 0,
                "protrusion": False,
            },
            "II",
            id="CSF-like-noncontrast-MRI-II",
        ),
        pytest.param(
            "Homogeneous simple fluid renal cyst, 10 HU on portal venous CT, thin smooth wall, no septa, no "
            "calcification, no nodule.",
            {
                "modality": "ct",
                "phase": "portal_venous",
                "homogeneous": True,
                "attenuation_hu": 10.0,
                "wall_thickness": "thin",
                "septa_count": 0,
                "protrusion": False,
                "calcification": "none",
            },
            "I",
            id="simple-cyst-portal-venous-I",
        ),
        pytest.param(
            "Renal cyst with a thick enhancing wall measuring 5 mm, smooth, no nodule, no septa.",
            {
                "wall_thickness_mm": 5.0,
                "wall_enhancing": True,
                "septa_count": 0,
                "protrusion": False,
            },
            "III",
            id="thick-enhancing-wall-III",
        ),
        pytest.param(
            "3.5 cm totally intrarenal cystic mass with two thin non-enhancing septa and coarse calcification, "
            "thin smooth wall, no enhancing nodule.",
            {
                "size_mm": 35.0,
                "intrarenal": True,
                "septa_count": 2,
                "septa_thickness": "thin",
                "septa_enhancing": False,
                "calcification": "thick_or_nodular",
                "wall_thickness": "thin",
                "protrusion": False,
            },
            "II",
            id="2005-features-do-not-upgrade",
        ),
        pytest.param(
            "Cystic renal mass on MRI with a thin smooth wall, no septa, no nodules, heterogeneously T1 "
            "hyperintense on fat-saturated T1.",
            {
                "modality": "mri",
                "wall_thickness": "thin",
                "septa_count": 0,
                "protrusion": False,
                "homogeneous": False,
                "t1_signal": "heterogeneous_hyperintense",
            },
            "IIF",
            id="heterogeneous-T1-IIF",
        ),
        pytest.param(
            "Cystic renal mass with numerous thin enhancing septa, thin smooth wall, no nodularity.",
            {
                "septa": "many",
                "septa_thickness": "thin",
                "septa_enhancing": True,
                "wall_thickness": "thin",
                "protrusion": False,
            },
            "IIF",
            id="many-thin-enhancing-septa-IIF",
        ),
    ],
)
def test_phrasings_are_read_and_classify(text: str, expected: dict[str, Any], category: str) -> None:
    extraction = extract(text)
    assert extraction.inputs == expected
    assert set(extraction.evidence) == set(expected)
    BosniakInput.model_validate(extraction.inputs)
    assert extraction.undetermined == []
    assert TOOL.run(extraction.inputs).category == category


def test_two_thin_enhancing_septa_are_read_and_the_rest_is_asked() -> None:
    extraction = extract("Cystic renal mass with two thin enhancing septa.")
    assert extraction.inputs == {"septa_count": 2, "septa_thickness": "thin", "septa_enhancing": True}
    assert extraction.evidence["septa_count"] == "Cystic renal mass with two thin enhancing septa"
    assert extraction.undetermined == ["protrusion", "wall_thickness"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Renal cyst in a patient with von Hippel-Lindau disease.",
            {"excluded_condition": "hereditary_rcc_syndrome"},
            id="VHL",
        ),
        pytest.param(
            "Complex cystic renal abscess.", {"excluded_condition": "infection_or_inflammation"}, id="abscess"
        ),
        pytest.param(
            "Cystic renal mass with 40% enhancing tissue.",
            {"enhancing_tissue_percent": 40.0},
            id="40pct-solid",
        ),
    ],
)
def test_out_of_scope_phrasings(text: str, expected: dict[str, Any]) -> None:
    extraction = extract(text)
    assert extraction.inputs == expected
    result = TOOL.run(extraction.inputs)
    assert result.not_applicable is not None and extraction.undetermined == []


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("T2 hyperintense renal cyst on MRI.", "t2_signal", id="T2-hyperintense-is-not-CSF-like"),
        pytest.param("T1 hyperintense renal cyst on MRI.", "t1_signal", id="T1-hyperintense-not-graded"),
        pytest.param("Renal cyst with multiple septa.", "septa", id="multiple-septa-not-a-count"),
        pytest.param("Renal cyst measuring 20-30 HU on noncontrast CT.", "attenuation_hu", id="HU-range"),
        pytest.param("Renal cyst greater than 70 HU on noncontrast CT.", "attenuation_hu", id="HU-bound"),
        pytest.param(
            "Renal cyst with a thickened enhancing septum.", "septa_thickness", id="thickened-3-or-4mm"
        ),
        pytest.param("Renal cyst with septa up to 3 mm.", "septa_thickness", id="septa-up-to-3mm"),
        pytest.param("Renal cyst with an enhancing nodule.", "protrusion_mm", id="nodule-without-size"),
        pytest.param(
            "Renal cyst with a thin wall, no nodule.", "protrusion", id="no-nodule-but-irregularity-open"
        ),
        pytest.param(
            "Renal cyst, 10 HU, thin smooth wall, no septa, no nodule.", "homogeneous", id="homogeneity-open"
        ),
        pytest.param(
            "Renal cyst on contrast-enhanced CT, 25 HU, homogeneous.", "phase", id="CT-phase-not-named"
        ),
        pytest.param("Renal cyst on CT and MRI.", "modality", id="two-modalities"),
    ],
)
def test_unsettled_fields_are_undetermined_not_guessed(text: str, field: str) -> None:
    extraction = extract(text)
    assert field not in extraction.inputs
    assert field in extraction.undetermined


@pytest.mark.parametrize(
    ("signal", "field"),
    [
        pytest.param("T2 hyperintense", "t2_signal", id="plain-T2"),
        pytest.param("T1 hyperintense", "t1_signal", id="plain-T1"),
    ],
)
def test_ungraded_signal_is_reported_even_when_the_class_does_not_need_it(signal: str, field: str) -> None:
    extraction = extract(
        f"{signal} renal cyst on MRI with two thin enhancing septa, thin smooth wall, no nodules."
    )
    assert TOOL.run(extraction.inputs).category == "II"
    assert field not in extraction.inputs and field in extraction.undetermined


def test_irregular_wall_is_an_obtuse_protrusion_of_unknown_size() -> None:
    extraction = extract("Renal cyst with an irregularly thickened enhancing wall.")
    assert extraction.inputs["protrusion"] is True
    assert extraction.inputs["protrusion_margins"] == "obtuse"  # Bosniak 2019: irregular = obtuse, <=3 mm
    assert extraction.inputs["protrusion_enhancing"] is True
    assert "protrusion_mm" in extraction.undetermined  # <=3 mm (III) or >=4 mm (IV) is not stated


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        pytest.param(
            "Renal cyst with non-enhancing septa.", "septa_enhancing", False, id="non-enhancing-hyphen"
        ),
        pytest.param("Renal cyst with nonenhancing septa.", "septa_enhancing", False, id="nonenhancing"),
        pytest.param("Renal cyst without septa.", "septa_count", 0, id="without-septa"),
        pytest.param("Non-septated renal cyst.", "septa_count", 0, id="non-septated"),
        pytest.param("Renal cyst with a single thin septum.", "septa_count", 1, id="single-septum"),
        pytest.param("Renal cyst with three thin septa.", "septa_count", 3, id="three-septa"),
        pytest.param("Renal cyst with few thin septa.", "septa", "few", id="few-septa"),
        pytest.param("Renal cyst, no calcification.", "calcification", "none", id="no-calcification"),
        pytest.param(
            "Renal cyst with a minimally thickened enhancing wall.",
            "wall_thickness",
            "minimally_thickened",
            id="min-wall",
        ),
        pytest.param("Renal cyst on unenhanced CT, 15 HU.", "phase", "noncontrast", id="unenhanced"),
        pytest.param("Renal cyst, renal mass protocol CT, 35 HU.", "phase", "renal_mass_protocol", id="RMP"),
        pytest.param("Renal cyst, -5 HU.", "attenuation_hu", -5.0, id="negative-HU"),
        pytest.param("Renal cyst too small to characterize.", "too_small_to_characterize", True, id="TSTC"),
        pytest.param(
            "Renal cyst with an enhancing nodule with obtuse margins.",
            "protrusion_margins",
            "obtuse",
            id="obtuse",
        ),
    ],
)
def test_single_fields(text: str, field: str, value: Any) -> None:
    assert extract(text).inputs.get(field) == value


def test_nonenhancing_nodule_is_read_as_not_enhancing() -> None:
    extraction = extract("Renal cyst with a 5 mm non-enhancing nodule.")
    assert extraction.inputs["protrusion"] is True and extraction.inputs["protrusion_enhancing"] is False
    assert extraction.inputs["protrusion_mm"] == 5.0


def test_contrast_enhanced_is_a_phase_only_for_mri() -> None:
    assert extract("Renal cyst on contrast-enhanced MRI.").inputs.get("phase") == "contrast_enhanced"
    assert "phase" not in extract("Renal cyst on contrast-enhanced CT.").inputs


def test_text_without_renal_findings_reads_nothing() -> None:
    extraction = extract("No acute abnormality.")
    assert extraction.inputs == {}
    assert {"protrusion", "wall_thickness", "septa"} <= set(extraction.undetermined)
