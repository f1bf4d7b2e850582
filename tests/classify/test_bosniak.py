"""Bosniak 2019, written from the class definitions for CT and MRI (Silverman et al. 2019; project reference §5)."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.bosniak  # noqa: F401  (registers the tool)
from tools.classify.base import ClassificationResult
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("bosniak")
# A cystic mass with a thin smooth wall, no septa and no protrusion: only its contents remain to decide.
PLAIN = {"wall_thickness": "thin", "septa": "none", "protrusion": False, "calcification": "none"}
CT_PLAIN = {"modality": "ct", **PLAIN}
MRI_PLAIN = {"modality": "mri", **PLAIN}
# A septated mass on contrast CT with a thin smooth wall and no protrusion.
CT_SEPTATED = {"modality": "ct", "wall_thickness": "thin", "protrusion": False}


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run(inputs)
    assert isinstance(result, ClassificationResult)
    return result


# --- class I and the six CT types of class II ------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected", "rule_fragment"),
    [
        pytest.param({"phase": "portal_venous", "attenuation_hu": 10}, "I", "Class I", id="I-portal-venous"),
        pytest.param(
            {"phase": "renal_mass_protocol", "attenuation_hu": 5}, "I", "Class I", id="I-renal-mass-protocol"
        ),
        pytest.param(
            {"phase": "noncontrast", "attenuation_hu": 75}, "II", "type 2", id="II-type2-ge70HU-noncontrast"
        ),
        pytest.param(
            {"phase": "renal_mass_protocol", "attenuation_hu": 40, "mass_enhancing": False},
            "II",
            "type 3",
            id="II-type3-nonenhancing-gt20HU-RMP",
        ),
        pytest.param(
            {"phase": "noncontrast", "attenuation_hu": 10}, "II", "type 4", id="II-type4-fluid-noncontrast"
        ),
        pytest.param(
            {"phase": "portal_venous", "attenuation_hu": 25}, "II", "type 5", id="II-type5-21to30HU-PV"
        ),
    ],
)
def test_ct_homogeneous_masses(inputs: dict[str, Any], expected: str, rule_fragment: str) -> None:
    result = run(**CT_PLAIN, homogeneous=True, **inputs)
    assert result.category == expected
    assert any(rule_fragment in line for line in result.rationale)
    assert result.management == "Benign: no follow-up."


@pytest.mark.parametrize(
    ("septa_count", "enhancing", "calcification"),
    [
        pytest.param(1, True, "none", id="1-enhancing-septum"),
        pytest.param(2, False, "none", id="2-nonenhancing-septa"),
        pytest.param(3, True, "none", id="3-enhancing-septa"),
        pytest.param(2, True, "thick_or_nodular", id="2-septa-with-thick-calcification"),
    ],
)
def test_ct_class_ii_type1_few_thin_septa_any_calcification(
    septa_count: int, enhancing: bool, calcification: str
) -> None:
    result = run(
        **CT_SEPTATED,
        septa_count=septa_count,
        septa_thickness="thin",
        septa_enhancing=enhancing,
        calcification=calcification,
    )
    assert result.category == "II"


def test_ct_class_ii_type6_too_small_to_characterise() -> None:
    result = run(too_small_to_characterize=True)
    assert result.category == "II" and result.missing == []
    assert any("type 6" in line for line in result.rationale)


@pytest.mark.parametrize("calcification", ["present", "thick_or_nodular"])
def test_class_i_has_no_calcification(calcification: str) -> None:
    result = run(
        **{**CT_PLAIN, "calcification": calcification},
        homogeneous=True,
        phase="portal_venous",
        attenuation_hu=10,
    )
    assert result.category == "II"  # never IIF/III: calcification no longer upgrades in v2019


# --- attenuation thresholds: just below, at, just above --------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "hu", "expected"),
    [
        pytest.param("noncontrast", -10, None, id="NC-minus10-below-fluid"),
        pytest.param("noncontrast", -9, "II", id="NC-minus9-type4"),
        pytest.param("noncontrast", 20, "II", id="NC-20-type4"),
        pytest.param("noncontrast", 21, None, id="NC-21-indeterminate"),
        pytest.param("noncontrast", 69, None, id="NC-69-indeterminate"),
        pytest.param("noncontrast", 70, "II", id="NC-70-type2"),
        pytest.param("noncontrast", 71, "II", id="NC-71-type2"),
        pytest.param("portal_venous", -10, None, id="PV-minus10-below-fluid"),
        pytest.param("portal_venous", -9, "I", id="PV-minus9-I"),
        pytest.param("portal_venous", 20, "I", id="PV-20-I"),
        pytest.param("portal_venous", 21, "II", id="PV-21-type5"),
        pytest.param("portal_venous", 30, "II", id="PV-30-type5"),
        pytest.param("portal_venous", 31, None, id="PV-31-indeterminate"),
        pytest.param("renal_mass_protocol", 20, "I", id="RMP-20-I"),
        pytest.param("renal_mass_protocol", 21, "II", id="RMP-21-nonenhancing-type3"),
    ],
)
def test_attenuation_boundaries(phase: str, hu: float, expected: str | None) -> None:
    result = run(**CT_PLAIN, homogeneous=True, phase=phase, attenuation_hu=hu, mass_enhancing=False)
    assert result.category == expected
    assert result.missing == [] and result.not_applicable is None


@pytest.mark.parametrize(
    ("phase", "hu"),
    [pytest.param("noncontrast", 45, id="NC-21to69"), pytest.param("portal_venous", 40, id="PV-gt30")],
)
def test_indeterminate_attenuation_gets_no_class_and_advice_of_further_imaging(phase: str, hu: float) -> None:
    result = run(**CT_PLAIN, homogeneous=True, phase=phase, attenuation_hu=hu)
    assert result.category is None and result.missing == [] and result.not_applicable is None
    assert result.management is not None and "renal-mass-protocol CT or MRI" in result.management
    assert any("[med]" in c for c in result.caveats)
    assert any("indeterminate" in line for line in result.rationale)


def test_attenuation_is_rounded_half_up_to_whole_hu() -> None:
    """Documented convention: thresholds are whole HU; 20.4 -> 20 (type 4), 20.5 -> 21 (indeterminate)."""
    below = run(**CT_PLAIN, homogeneous=True, phase="noncontrast", attenuation_hu=20.4)
    above = run(**CT_PLAIN, homogeneous=True, phase="noncontrast", attenuation_hu=20.5)
    assert (below.category, above.category) == ("II", None)


def test_homogeneous_enhancing_mass_at_renal_mass_protocol_is_solid() -> None:
    result = run(
        **CT_PLAIN, homogeneous=True, phase="renal_mass_protocol", attenuation_hu=45, mass_enhancing=True
    )
    assert result.category is None and result.not_applicable is not None
    assert "solid" in result.not_applicable


# --- MRI ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected", "rule_fragment"),
    [
        pytest.param(
            {"t2_signal": "csf_like", "phase": "contrast_enhanced"}, "I", "Class I", id="I-CSF-like-contrast"
        ),
        pytest.param(
            {"t2_signal": "csf_like", "phase": "noncontrast"},
            "II",
            "MRI type 2",
            id="II-type2-CSF-noncontrast",
        ),
        pytest.param(
            {"t2_signal": "other", "t1_signal": "homogeneous_markedly_hyperintense", "phase": "noncontrast"},
            "II",
            "MRI type 3",
            id="II-type3-marked-T1",
        ),
        pytest.param(
            {
                "t2_signal": "csf_like",
                "t1_signal": "heterogeneous_hyperintense",
                "phase": "contrast_enhanced",
            },
            "IIF",
            "heterogeneously hyperintense",
            id="IIF-heterogeneous-T1",
        ),
    ],
)
def test_mri_homogeneous_masses(inputs: dict[str, Any], expected: str, rule_fragment: str) -> None:
    result = run(**MRI_PLAIN, homogeneous=True, **inputs)
    assert result.category == expected
    assert any(rule_fragment in line for line in result.rationale)


@pytest.mark.parametrize(
    ("modality", "count", "enhancing", "expected"),
    [
        pytest.param("mri", 3, True, "II", id="MRI-3-thin-enhancing-septa-II"),
        pytest.param("mri", 6, False, "II", id="MRI-6-thin-nonenhancing-septa-II"),
        pytest.param("mri", 4, True, "IIF", id="MRI-4-thin-enhancing-septa-IIF"),
        pytest.param("ct", 4, True, "IIF", id="CT-4-thin-enhancing-septa-IIF"),
        pytest.param("ct", 6, False, None, id="CT-6-thin-nonenhancing-septa-not-defined"),
    ],
)
def test_septa_count_few_versus_many(
    modality: str, count: int, enhancing: bool, expected: str | None
) -> None:
    result = run(
        modality=modality,
        wall_thickness="thin",
        protrusion=False,
        septa_count=count,
        septa_thickness="thin",
        septa_enhancing=enhancing,
    )
    assert result.category == expected and result.missing == []


# --- IIF, III, IV with the quantitative definitions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mm", "expected"),
    [
        pytest.param(2, "I", id="wall-2mm-thin"),
        pytest.param(3, "IIF", id="wall-3mm-minimally-thickened"),
        pytest.param(4, "III", id="wall-4mm-thick"),
        pytest.param(6, "III", id="wall-6mm-thick"),
    ],
)
def test_enhancing_wall_thickness(mm: float, expected: str) -> None:
    result = run(
        **{**CT_PLAIN, "wall_thickness": None},
        wall_thickness_mm=mm,
        wall_enhancing=True,
        homogeneous=True,
        phase="portal_venous",
        attenuation_hu=10,
    )
    assert result.category == expected


@pytest.mark.parametrize(
    ("mm", "expected"),
    [
        pytest.param(2, "II", id="septum-2mm-thin"),
        pytest.param(3, "IIF", id="septum-3mm-minimally-thickened"),
        pytest.param(4, "III", id="septum-4mm-thick"),
    ],
)
def test_enhancing_septum_thickness(mm: float, expected: str) -> None:
    result = run(**CT_SEPTATED, septa_count=1, septa_thickness_mm=mm, septa_enhancing=True)
    assert result.category == expected


@pytest.mark.parametrize(
    ("mm", "margins", "expected"),
    [
        pytest.param(1, "obtuse", "III", id="1mm-obtuse-irregular"),
        pytest.param(3, "obtuse", "III", id="3mm-obtuse-irregular"),
        pytest.param(4, "obtuse", "IV", id="4mm-obtuse-nodule"),
        pytest.param(5, "obtuse", "IV", id="5mm-obtuse-nodule"),
        pytest.param(1, "acute", "IV", id="1mm-acute-nodule"),
        pytest.param(3, "acute", "IV", id="3mm-acute-nodule"),
    ],
)
def test_enhancing_protrusion_irregular_versus_nodule(mm: float, margins: str, expected: str) -> None:
    result = run(
        **{**CT_SEPTATED, "protrusion": True},
        septa_count=1,
        septa_thickness="thin",
        protrusion_mm=mm,
        protrusion_margins=margins,
        protrusion_enhancing=True,
    )
    assert result.category == expected


def test_enhancing_nodule_is_iv_whatever_else_is_unknown() -> None:
    result = run(protrusion=True, protrusion_mm=4, protrusion_margins="acute", protrusion_enhancing=True)
    assert result.category == "IV" and result.missing == []
    assert result.risk is not None and "90%" in result.risk


def test_a_nonenhancing_protrusion_is_not_tissue() -> None:
    result = run(
        **{**CT_SEPTATED, "protrusion": True},
        septa_count=2,
        septa_thickness="thin",
        protrusion_mm=5,
        protrusion_margins="obtuse",
        protrusion_enhancing=False,
    )
    assert result.category == "II"


def test_iif_minimally_thickened_enhancing_septa_and_management() -> None:
    result = run(**CT_SEPTATED, septa_count=2, septa_thickness="minimally_thickened", septa_enhancing=True)
    assert result.category == "IIF"
    assert result.management is not None
    assert "6 and 12 months" in result.management and "annually for 5 years" in result.management


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param(
            {"wall_thickness": "thick", "wall_enhancing": True}, "III", id="III-thick-enhancing-wall"
        ),
        pytest.param(
            {"wall_thickness": "minimally_thickened", "wall_enhancing": True},
            "IIF",
            id="IIF-3mm-enhancing-wall",
        ),
    ],
)
def test_iii_and_iif_walls_with_management(inputs: dict[str, Any], expected: str) -> None:
    result = run(**{**CT_PLAIN, **inputs})
    assert result.category == expected
    if expected == "III":
        assert result.risk is not None and "50%" in result.risk
        assert result.management is not None and "Urology" in result.management


def test_nonenhancing_thickened_wall_is_not_defined() -> None:
    result = run(**{**CT_PLAIN, "wall_thickness": "thick"}, wall_enhancing=False, homogeneous=True)
    assert result.category is None and result.missing == [] and result.not_applicable is None


# --- 2005 rules must NOT upgrade (peer mistake: Radulator implements 2005 while badged 2019) ------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param(
            {**CT_SEPTATED, "septa_count": 2, "septa_thickness": "thin", "calcification": "thick_or_nodular"},
            "II",
            id="thick-nodular-calcification-not-III",
        ),
        pytest.param(
            {
                **CT_PLAIN,
                "homogeneous": True,
                "phase": "portal_venous",
                "attenuation_hu": 10,
                "intrarenal": True,
            },
            "I",
            id="totally-intrarenal-not-IIF",
        ),
        pytest.param(
            {**CT_PLAIN, "homogeneous": True, "phase": "portal_venous", "attenuation_hu": 10, "size_mm": 45},
            "I",
            id="size-ge-3cm-not-IIF",
        ),
        pytest.param(
            {**CT_PLAIN, "homogeneous": True, "phase": "noncontrast", "attenuation_hu": 80},
            "II",
            id="hyperattenuating-noncontrast-not-IIF",
        ),
        pytest.param(
            {**CT_PLAIN, "homogeneous": True, "phase": "portal_venous", "attenuation_hu": 25},
            "II",
            id="gt20HU-portal-venous-not-IIF",
        ),
        pytest.param(
            {
                **CT_PLAIN,
                "homogeneous": True,
                "phase": "noncontrast",
                "attenuation_hu": 80,
                "intrarenal": True,
                "size_mm": 45,
            },
            "II",
            id="hyperattenuating-intrarenal-large-together-not-IIF",
        ),
    ],
)
def test_2005_upgrades_do_not_apply(inputs: dict[str, Any], expected: str) -> None:
    result = run(**inputs)
    assert result.category == expected
    ignored = [k for k in ("calcification", "intrarenal", "size_mm") if inputs.get(k) not in (None, "none")]
    for name in ignored:  # the rationale says the 2005 feature was seen and does not upgrade
        assert any(line.startswith(name) and "does not" in line for line in result.rationale)


# --- scope -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        pytest.param({"enhancing_tissue_percent": 25}, "solid", id="25pct-enhancing-solid"),
        pytest.param({"enhancing_tissue_percent": 60}, "solid", id="60pct-enhancing-solid"),
        pytest.param({"excluded_condition": "infection_or_inflammation"}, "infectious", id="infection"),
        pytest.param({"excluded_condition": "vascular"}, "vascular", id="vascular"),
        pytest.param(
            {"excluded_condition": "hereditary_rcc_syndrome"}, "hereditary RCC", id="hereditary-syndrome"
        ),
    ],
)
def test_out_of_scope(inputs: dict[str, Any], fragment: str) -> None:
    result = run(**CT_SEPTATED, septa_count=2, septa_thickness="thin", **inputs)
    assert result.category is None and result.missing == []
    assert result.not_applicable is not None and fragment in result.not_applicable


def test_just_under_25_percent_is_cystic() -> None:
    result = run(**CT_SEPTATED, septa_count=2, septa_thickness="thin", enhancing_tissue_percent=24.9)
    assert result.category == "II"
    assert not any("Assumes a cystic mass" in c for c in result.caveats)


def test_unstated_enhancing_share_is_assumed_cystic_with_a_caveat() -> None:
    result = run(**CT_SEPTATED, septa_count=2, septa_thickness="thin")
    assert any("<25% enhancing tissue" in c for c in result.caveats)


# --- missing inputs ---------------------------------------------------------------------------------------------


def test_septa_alone_asks_for_wall_and_protrusion() -> None:
    result = run(septa_count=2, septa_thickness="thin", septa_enhancing=True)
    assert result.category is None and result.missing == ["protrusion", "wall_thickness"]


def test_small_enhancing_protrusion_asks_for_its_margins() -> None:
    result = run(
        **{**CT_SEPTATED, "protrusion": True},
        septa_count=1,
        septa_thickness="thin",
        protrusion_mm=2,
        protrusion_enhancing=True,
    )
    assert result.category is None and result.missing == ["protrusion_margins"]


def test_protrusion_without_size_or_enhancement_asks_for_them() -> None:
    assert "protrusion_enhancing" in run(**{**CT_SEPTATED, "protrusion": True}, septa="none").missing
    obtuse = run(
        **{**CT_SEPTATED, "protrusion": True},
        septa="none",
        protrusion_enhancing=True,
        protrusion_margins="obtuse",
    )
    assert obtuse.missing == ["protrusion_mm"]


def test_homogeneous_ct_mass_needs_attenuation_and_phase() -> None:
    result = run(**CT_PLAIN, homogeneous=True)
    assert result.missing == ["attenuation_hu", "phase"]


def test_modality_is_inferred_from_hu() -> None:
    result = run(**PLAIN, homogeneous=True, phase="noncontrast", attenuation_hu=75)
    assert result.category == "II" and result.inputs["modality"] == "ct"


def test_nothing_given_lists_the_gate_inputs() -> None:
    result = run()
    assert result.category is None
    assert {"protrusion", "wall_thickness", "septa", "homogeneous"} <= set(result.missing)


# --- validation errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        pytest.param(
            {"wall_thickness": "thin", "wall_thickness_mm": 3},
            ("wall_thickness", "wall_thickness_mm"),
            id="wall-word-vs-mm",
        ),
        pytest.param({"septa": "few", "septa_count": 5}, ("septa", "septa_count"), id="few-vs-5-septa"),
        pytest.param(
            {"septa": "none", "septa_enhancing": True},
            ("septa", "septa_enhancing"),
            id="no-septa-but-enhancing",
        ),
        pytest.param(
            {"protrusion": False, "protrusion_mm": 4},
            ("protrusion", "protrusion_mm"),
            id="no-protrusion-but-size",
        ),
        pytest.param({"modality": "mri", "attenuation_hu": 10}, ("attenuation_hu", "mri"), id="HU-on-MRI"),
        pytest.param({"modality": "ct", "t2_signal": "csf_like"}, ("t2_signal", "ct"), id="T2-on-CT"),
        pytest.param(
            {"modality": "mri", "phase": "portal_venous"},
            ("phase", "noncontrast, contrast_enhanced"),
            id="CT-phase-on-MRI",
        ),
        pytest.param(
            {"attenuation_hu": 10, "t1_signal": "other"},
            ("attenuation_hu", "t1_signal"),
            id="CT-and-MRI-fields",
        ),
    ],
)
def test_contradictions_name_the_fields(inputs: dict[str, Any], fields: tuple[str, ...]) -> None:
    with pytest.raises(ToolInputError) as err:
        run(**inputs)
    assert all(f in str(err.value) for f in fields)


@pytest.mark.parametrize(
    ("inputs", "field", "allowed"),
    [
        pytest.param({"modality": "us"}, "modality", "'ct' or 'mri'", id="modality-lexicon"),
        pytest.param(
            {"wall_thickness": "medium"},
            "wall_thickness",
            "'thin', 'minimally_thickened' or 'thick'",
            id="wall-lexicon",
        ),
        pytest.param(
            {"protrusion_margins": "round"}, "protrusion_margins", "'obtuse' or 'acute'", id="margins-lexicon"
        ),
        pytest.param({"septa_count": -1}, "septa_count", "greater than or equal to 0", id="septa-negative"),
        pytest.param({"septa_count": True}, "septa_count", "not a boolean", id="septa-boolean"),
        pytest.param({"attenuation_hu": "high"}, "attenuation_hu", "valid number", id="HU-word"),
        pytest.param({"attenuation_hu": float("inf")}, "attenuation_hu", "finite", id="HU-infinite"),
        pytest.param({"wall_thickness_mm": 0}, "wall_thickness_mm", "greater than 0", id="wall-zero"),
        pytest.param(
            {"enhancing_tissue_percent": 101},
            "enhancing_tissue_percent",
            "less than or equal to 100",
            id="pct-over-100",
        ),
        pytest.param({"cyst_size": 3}, "cyst_size", "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_validation_errors_name_the_field_and_what_is_allowed(
    inputs: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(ToolInputError) as err:
        run(**inputs)
    assert field in str(err.value) and allowed in str(err.value)


def test_word_and_number_forms_of_one_feature_replace_each_other_in_follow_ups() -> None:
    assert set(TOOL.exclusive_groups) == {
        ("wall_thickness", "wall_thickness_mm"),
        ("septa", "septa_count"),
        ("septa_thickness", "septa_thickness_mm"),
    }
