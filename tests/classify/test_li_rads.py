"""LI-RADS v2018 CT/MRI, written from the ACR v2018 diagnostic algorithm and table (project reference §4)."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.li_rads  # noqa: F401  (registers the tool)
from tools.classify.base import ClassificationResult
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("li_rads")
AT_RISK = {"population": "cirrhosis", "age_years": 60, "cirrhosis_cause": "other"}
NONE_ADDITIONAL = {"washout": False, "capsule": False, "threshold_growth": False}


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run(inputs)
    assert isinstance(result, ClassificationResult)
    return result


def table(aphe: str, size_mm: float, *features: str, **extra: Any) -> ClassificationResult:
    """One observation through the diagnostic table; `features` are the additional major features present."""
    flags = {name: name in features for name in ("washout", "capsule", "threshold_growth")}
    return run(**AT_RISK, aphe=aphe, size_mm=size_mm, **flags, **extra)


# --- diagnostic table: every cell --------------------------------------------------------------------

TABLE_CELLS = [
    # no APHE, <20 mm: 0 -> 3, 1 -> 3, >=2 -> 4
    ("absent", 15, (), "LR-3", "noAPHE-lt20-0"),
    ("absent", 15, ("washout",), "LR-3", "noAPHE-lt20-1-washout"),
    ("absent", 15, ("capsule",), "LR-3", "noAPHE-lt20-1-capsule"),
    ("absent", 15, ("threshold_growth",), "LR-3", "noAPHE-lt20-1-growth"),
    ("absent", 15, ("washout", "capsule"), "LR-4", "noAPHE-lt20-2"),
    ("absent", 15, ("washout", "capsule", "threshold_growth"), "LR-4", "noAPHE-lt20-3"),
    # no APHE, >=20 mm: 0 -> 3, 1 -> 4, >=2 -> 4
    ("absent", 25, (), "LR-3", "noAPHE-ge20-0"),
    ("absent", 25, ("washout",), "LR-4", "noAPHE-ge20-1-washout"),
    ("absent", 25, ("capsule",), "LR-4", "noAPHE-ge20-1-capsule"),
    ("absent", 25, ("threshold_growth",), "LR-4", "noAPHE-ge20-1-growth"),
    ("absent", 25, ("washout", "threshold_growth"), "LR-4", "noAPHE-ge20-2"),
    # nonrim APHE, <10 mm: 0 -> 3, 1 -> 4, >=2 -> 4
    ("nonrim", 8, (), "LR-3", "APHE-lt10-0"),
    ("nonrim", 8, ("washout",), "LR-4", "APHE-lt10-1-washout"),
    ("nonrim", 8, ("capsule",), "LR-4", "APHE-lt10-1-capsule"),
    ("nonrim", 8, ("threshold_growth",), "LR-4", "APHE-lt10-1-growth"),
    ("nonrim", 8, ("washout", "capsule"), "LR-4", "APHE-lt10-2"),
    # nonrim APHE, 10-19 mm: 0 -> 3; 1: capsule only -> 4, washout or growth -> 5; >=2 -> 5
    ("nonrim", 15, (), "LR-3", "APHE-10to19-0"),
    ("nonrim", 15, ("capsule",), "LR-4", "APHE-10to19-1-capsule-only"),
    ("nonrim", 15, ("washout",), "LR-5", "APHE-10to19-1-washout"),
    ("nonrim", 15, ("threshold_growth",), "LR-5", "APHE-10to19-1-growth"),
    ("nonrim", 15, ("washout", "capsule"), "LR-5", "APHE-10to19-2"),
    ("nonrim", 15, ("capsule", "threshold_growth"), "LR-5", "APHE-10to19-2-capsule-growth"),
    # nonrim APHE, >=20 mm: 0 -> 4, 1 -> 5, >=2 -> 5
    ("nonrim", 25, (), "LR-4", "APHE-ge20-0"),
    ("nonrim", 25, ("washout",), "LR-5", "APHE-ge20-1-washout"),
    ("nonrim", 25, ("capsule",), "LR-5", "APHE-ge20-1-capsule"),
    ("nonrim", 25, ("threshold_growth",), "LR-5", "APHE-ge20-1-growth"),
    ("nonrim", 25, ("washout", "capsule", "threshold_growth"), "LR-5", "APHE-ge20-3"),
]


@pytest.mark.parametrize(
    ("aphe", "size_mm", "features", "expected"),
    [pytest.param(a, s, f, e, id=i) for a, s, f, e, i in TABLE_CELLS],
)
def test_diagnostic_table_cell(aphe: str, size_mm: float, features: tuple[str, ...], expected: str) -> None:
    result = table(aphe, size_mm, *features)
    assert result.category == expected
    assert result.missing == [] and result.not_applicable is None
    assert result.details["additional_major_features"] == list(features)
    assert any("Diagnostic table" in line for line in result.rationale)


@pytest.mark.parametrize(
    ("aphe", "size_mm", "features", "expected"),
    [
        # nonrim APHE with washout separates <10 (LR-4) from 10-19 (LR-5)
        pytest.param("nonrim", 9, ("washout",), "LR-4", id="APHE-washout-9mm"),
        pytest.param("nonrim", 9.9, ("washout",), "LR-4", id="APHE-washout-just-below-10"),
        pytest.param("nonrim", 10, ("washout",), "LR-5", id="APHE-washout-at-10"),
        pytest.param("nonrim", 10.1, ("washout",), "LR-5", id="APHE-washout-just-above-10"),
        # nonrim APHE without features separates 10-19 (LR-3) from >=20 (LR-4)
        pytest.param("nonrim", 19.9, (), "LR-3", id="APHE-none-just-below-20"),
        pytest.param("nonrim", 20, (), "LR-4", id="APHE-none-at-20"),
        pytest.param("nonrim", 20.1, (), "LR-4", id="APHE-none-just-above-20"),
        # nonrim APHE with capsule only: LR-4 below 20, LR-5 from 20
        pytest.param("nonrim", 19.9, ("capsule",), "LR-4", id="APHE-capsule-just-below-20"),
        pytest.param("nonrim", 20, ("capsule",), "LR-5", id="APHE-capsule-at-20"),
        # no APHE with one feature separates <20 (LR-3) from >=20 (LR-4)
        pytest.param("absent", 19.9, ("washout",), "LR-3", id="noAPHE-washout-just-below-20"),
        pytest.param("absent", 20, ("washout",), "LR-4", id="noAPHE-washout-at-20"),
        pytest.param("absent", 20.1, ("washout",), "LR-4", id="noAPHE-washout-just-above-20"),
    ],
)
def test_size_band_boundaries(aphe: str, size_mm: float, features: tuple[str, ...], expected: str) -> None:
    assert table(aphe, size_mm, *features).category == expected


def test_rim_aphe_is_not_aphe_for_the_table_but_a_targetoid_lr_m_feature() -> None:
    result = table("rim", 25, "washout", "capsule")
    assert result.category == "LR-M"
    assert any("targetoid" in line for line in result.rationale)


# --- threshold growth (v2018: >=50% in <=6 months) ---------------------------------------------------


@pytest.mark.parametrize(
    ("prior_mm", "now_mm", "months", "expected"),
    [
        pytest.param(10, 14.9, 6, "LR-3", id="49pct-in-6mo-not-growth"),
        pytest.param(10, 15, 6, "LR-5", id="50pct-in-6mo-growth"),
        pytest.param(10, 15.1, 6, "LR-5", id="51pct-in-6mo-growth"),
        pytest.param(10, 15, 5.9, "LR-5", id="50pct-just-under-6mo-growth"),
        pytest.param(10, 15, 6.1, "LR-3", id="50pct-just-over-6mo-not-growth"),
        pytest.param(10, 16, 12, "LR-3", id="60pct-in-12mo-not-growth"),
    ],
)
def test_threshold_growth_computed_from_prior_size(
    prior_mm: float, now_mm: float, months: float, expected: str
) -> None:
    result = run(
        **AT_RISK,
        aphe="nonrim",
        size_mm=now_mm,
        washout=False,
        capsule=False,
        prior_size_mm=prior_mm,
        interval_months=months,
    )
    assert result.category == expected  # nonrim APHE 10-19 mm: growth alone -> LR-5, nothing -> LR-3


def test_peer_mistake_v2017_growth_criteria_are_not_threshold_growth() -> None:
    """Radulator notes still list 'new >=10 mm' and '>100% in >6 months'; v2018 made these subthreshold growth."""
    doubled_over_a_year = run(
        **AT_RISK,
        aphe="nonrim",
        size_mm=21,
        washout=False,
        capsule=False,
        prior_size_mm=10,
        interval_months=12,
    )
    assert doubled_over_a_year.category == "LR-4"  # >=20 mm APHE with no additional feature, not LR-5


def test_threshold_growth_contradicting_the_sizes_is_refused() -> None:
    with pytest.raises(ToolInputError) as err:
        run(**AT_RISK, aphe="nonrim", size_mm=12, prior_size_mm=10, interval_months=3, threshold_growth=True)
    assert "threshold_growth" in str(err.value) and "prior_size_mm" in str(err.value)


def test_prior_size_without_interval_is_refused() -> None:
    with pytest.raises(ToolInputError) as err:
        run(**AT_RISK, aphe="nonrim", size_mm=12, prior_size_mm=10)
    assert "prior_size_mm" in str(err.value) and "interval_months" in str(err.value)


def test_unstated_threshold_growth_is_absent_with_a_caveat_where_it_would_change_the_category() -> None:
    result = run(**AT_RISK, aphe="nonrim", size_mm=15, washout=False, capsule=True)
    assert result.category == "LR-4"
    assert any("threshold_growth" in c and "LR-5" in c for c in result.caveats)
    settled = run(**AT_RISK, aphe="nonrim", size_mm=25, washout=True, capsule=True)
    assert not any("threshold_growth" in c for c in settled.caveats)  # LR-5 either way


# --- order of evaluation: LR-NC, LR-TIV, LR-1/2, LR-M before the table ---------------------------------


def test_lr_nc_comes_first() -> None:
    result = run(
        **AT_RISK, not_categorizable=True, tumor_in_vein=True, aphe="nonrim", size_mm=25, washout=True
    )
    assert result.category == "LR-NC"
    assert result.management is not None and "3 months" in result.management


def test_tumour_in_vein_precedes_lr_m_and_the_table() -> None:
    assert run(**AT_RISK, tumor_in_vein=True).category == "LR-TIV"
    assert run(**AT_RISK, tumor_in_vein=True, aphe="rim").category == "LR-TIV"
    assert table("nonrim", 25, "washout", "capsule", tumor_in_vein=True).category == "LR-TIV"


@pytest.mark.parametrize("benign", ["LR-1", "LR-2"])
def test_lr1_lr2_are_explicit_and_precede_the_table(benign: str) -> None:
    result = run(**AT_RISK, benign_category=benign)
    assert result.category == benign and result.missing == []
    assert result.management is not None and "surveillance in 6 months" in result.management


def test_open_point_small_nodule_without_features_is_lr3_unless_lr2_is_given() -> None:
    """The table cell (no APHE, <20 mm, no feature) is LR-3; LR-2 needs the explicit radiologist input."""
    assert table("absent", 12).category == "LR-3"
    assert run(**AT_RISK, benign_category="LR-2", aphe="absent", size_mm=12).category == "LR-2"


@pytest.mark.parametrize(
    "feature",
    ["peripheral_washout", "delayed_central_enhancement", "targetoid_restriction", "targetoid_tp_hbp"],
)
def test_targetoid_features_make_lr_m(feature: str) -> None:
    assert table("nonrim", 25, "washout", targetoid_features=[feature]).category == "LR-M"


def test_nontargetoid_lr_m_features_do_not_override_lr5() -> None:
    result = table("nonrim", 25, "washout", lr_m_features=["necrosis_or_severe_ischemia"])
    assert result.category == "LR-5"
    assert any("do not override" in line for line in result.rationale)


@pytest.mark.parametrize(
    ("aphe", "size_mm", "features", "lr_m"),
    [
        pytest.param("nonrim", 15, ("capsule",), "necrosis_or_severe_ischemia", id="LR4-with-necrosis"),
        pytest.param("absent", 30, (), "infiltrative", id="LR3-infiltrative"),
        pytest.param("nonrim", 8, ("washout",), "marked_diffusion_restriction", id="LR4-marked-restriction"),
        pytest.param("absent", 25, ("washout",), "other_non_hcc", id="LR4-other-non-HCC"),
    ],
)
def test_nontargetoid_lr_m_features_make_lr_m_when_not_lr5(
    aphe: str, size_mm: float, features: tuple[str, ...], lr_m: str
) -> None:
    assert table(aphe, size_mm, *features, lr_m_features=[lr_m]).category == "LR-M"


# --- ancillary features ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aphe", "size_mm", "features", "malignant", "benign", "expected"),
    [
        pytest.param("absent", 15, (), ["restricted_diffusion"], [], "LR-4", id="malignant-LR3-up-to-LR4"),
        pytest.param(
            "nonrim", 25, (), ["corona_enhancement"], [], "LR-4", id="malignant-LR4-stays-LR4-never-LR5"
        ),
        pytest.param(
            "nonrim", 25, ("washout",), ["mosaic_architecture"], [], "LR-5", id="malignant-LR5-stays-LR5"
        ),
        pytest.param("nonrim", 25, ("washout",), [], ["size_reduction"], "LR-4", id="benign-LR5-down-to-LR4"),
        pytest.param("nonrim", 25, (), [], ["parallels_blood_pool"], "LR-3", id="benign-LR4-down-to-LR3"),
        pytest.param("absent", 15, (), [], ["size_stability_2_years"], "LR-2", id="benign-LR3-down-to-LR2"),
        pytest.param(
            "nonrim",
            25,
            (),
            ["fat_in_mass"],
            ["marked_t2_hyperintensity"],
            "LR-4",
            id="both-directions-no-change",
        ),
        pytest.param(
            "absent",
            15,
            (),
            ["restricted_diffusion", "subthreshold_growth"],
            [],
            "LR-4",
            id="two-malignant-one-step",
        ),
    ],
)
def test_ancillary_features(
    aphe: str,
    size_mm: float,
    features: tuple[str, ...],
    malignant: list[str],
    benign: list[str],
    expected: str,
) -> None:
    result = table(aphe, size_mm, *features, ancillary_malignancy=malignant, ancillary_benignity=benign)
    assert result.category == expected


def test_peer_mistake_benign_ancillary_features_can_downgrade_lr3() -> None:
    """Radulator cannot downgrade LR-3; v2018 allows LR-3 -> LR-2 with AFs favouring benignity."""
    assert table("nonrim", 15, ancillary_benignity=["undistorted_vessels"]).category == "LR-2"


def test_ancillary_features_do_not_change_lr_m_or_tiv() -> None:
    assert table("rim", 25, ancillary_benignity=["size_reduction"]).category == "LR-M"
    assert run(**AT_RISK, tumor_in_vein=True, ancillary_benignity=["size_reduction"]).category == "LR-TIV"


# --- management, meaning, caveats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "category", "management_fragment", "meaning"),
    [
        pytest.param({"not_categorizable": True}, "LR-NC", "3 months", "Not categorizable", id="LR-NC"),
        pytest.param(
            {"benign_category": "LR-1"}, "LR-1", "surveillance in 6 months", "Definitely benign", id="LR-1"
        ),
        pytest.param(
            {"benign_category": "LR-2"}, "LR-2", "surveillance in 6 months", "Probably benign", id="LR-2"
        ),
        pytest.param(
            {"aphe": "absent", "size_mm": 15, **NONE_ADDITIONAL},
            "LR-3",
            "3-6 months",
            "Intermediate",
            id="LR-3",
        ),
        pytest.param(
            {"aphe": "nonrim", "size_mm": 25, **NONE_ADDITIONAL},
            "LR-4",
            "Multidisciplinary",
            "Probably HCC",
            id="LR-4",
        ),
        pytest.param(
            {"aphe": "nonrim", "size_mm": 25, "washout": True, "capsule": False},
            "LR-5",
            "Multidisciplinary",
            "Definitely HCC",
            id="LR-5",
        ),
        pytest.param({"aphe": "rim"}, "LR-M", "biopsy", "not HCC-specific", id="LR-M"),
        pytest.param({"tumor_in_vein": True}, "LR-TIV", "Multidisciplinary", "Tumour in vein", id="LR-TIV"),
    ],
)
def test_every_category_has_management_and_meaning(
    inputs: dict[str, Any], category: str, management_fragment: str, meaning: str
) -> None:
    result = run(**AT_RISK, **inputs)
    assert result.category == category
    assert result.management is not None and management_fragment in result.management
    assert result.risk is not None and meaning in result.risk
    assert any("not re-verified" in c for c in result.caveats)  # management is [med] in the reference
    assert "Radiology 2018;289" in result.citation


def test_table_categories_carry_the_tie_breaking_caveat() -> None:
    assert any("tie-breaking" in c for c in table("nonrim", 15, "capsule").caveats)
    assert not any("tie-breaking" in c for c in run(**AT_RISK, tumor_in_vein=True).caveats)


# --- applicability (not_applicable) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "reason_fragment"),
    [
        pytest.param({"population": "none"}, "at risk", id="not-at-risk"),
        pytest.param({"population": "cirrhosis", "age_years": 17}, "18", id="age-17"),
        pytest.param(
            {"population": "cirrhosis", "cirrhosis_cause": "congenital_hepatic_fibrosis"},
            "congenital hepatic fibrosis",
            id="congenital-hepatic-fibrosis",
        ),
        pytest.param(
            {"population": "cirrhosis", "cirrhosis_cause": "vascular_disorder"},
            "Budd-Chiari",
            id="vascular-disorder",
        ),
    ],
)
def test_out_of_scope_populations(inputs: dict[str, Any], reason_fragment: str) -> None:
    result = run(**inputs, aphe="nonrim", size_mm=25, washout=True, capsule=True)
    assert result.category is None and result.missing == []
    assert result.not_applicable is not None and reason_fragment in result.not_applicable
    assert "work-up" in result.not_applicable  # says what to do instead


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param({"population": "cirrhosis", "age_years": 18}, id="age-18"),
        pytest.param({"population": "chronic_hepatitis_b"}, id="hepatitis-B-without-cirrhosis"),
        pytest.param({"population": "current_or_prior_hcc"}, id="prior-HCC"),
        pytest.param({"population": "cirrhosis", "cirrhosis_cause": "other"}, id="other-cause"),
    ],
)
def test_in_scope_populations(inputs: dict[str, Any]) -> None:
    result = run(**inputs, aphe="nonrim", size_mm=25, washout=True, capsule=True)
    assert result.category == "LR-5" and result.not_applicable is None


# --- missing inputs ----------------------------------------------------------------------------------------


def test_nothing_given_lists_population_and_the_table_inputs() -> None:
    result = run()
    assert result.category is None
    assert result.missing == ["population", "aphe", "capsule", "size_mm", "washout"]


def test_population_missing_is_asked_even_when_the_features_decide() -> None:
    result = run(aphe="nonrim", size_mm=25, washout=True, capsule=True)
    assert result.category is None and result.missing == ["population"]


def test_only_the_feature_that_changes_the_category_is_asked() -> None:
    # 10-19 mm APHE with capsule: washout decides LR-4 vs LR-5
    assert run(**AT_RISK, aphe="nonrim", size_mm=15, capsule=True).missing == ["washout"]
    # no APHE <20 mm: 0-1 features LR-3, 2 features LR-4
    assert run(**AT_RISK, aphe="absent", size_mm=15).missing == ["capsule", "washout"]


def test_a_feature_that_cannot_change_the_category_is_not_asked() -> None:
    result = run(**AT_RISK, aphe="nonrim", size_mm=25, washout=True)
    assert result.category == "LR-5" and result.missing == []
    assert any("Not stated: capsule" in line for line in result.rationale)


def test_rim_aphe_needs_no_size() -> None:
    result = run(**AT_RISK, aphe="rim")
    assert result.category == "LR-M" and result.missing == []


def test_unknown_aphe_is_asked() -> None:
    result = run(**AT_RISK, size_mm=25, washout=True, capsule=True)
    assert result.category is None and result.missing == ["aphe"]


# --- validation errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "field", "allowed"),
    [
        pytest.param({"aphe": "yes"}, "aphe", "'nonrim', 'rim' or 'absent'", id="aphe-lexicon"),
        pytest.param({"population": "alcohol"}, "population", "'cirrhosis'", id="population-lexicon"),
        pytest.param(
            {"benign_category": "LR-3"}, "benign_category", "'LR-1' or 'LR-2'", id="benign-only-1-2"
        ),
        pytest.param(
            {"targetoid_features": ["rim"]},
            "targetoid_features",
            "'peripheral_washout'",
            id="targetoid-lexicon",
        ),
        pytest.param({"size_mm": 0}, "size_mm", "greater than 0", id="size-zero"),
        pytest.param({"size_mm": -5}, "size_mm", "greater than 0", id="size-negative"),
        pytest.param({"size_mm": 301}, "size_mm", "less than or equal to 300", id="size-huge"),
        pytest.param({"size_mm": float("nan")}, "size_mm", "finite", id="size-nan"),
        pytest.param({"size_mm": True}, "size_mm", "not a boolean", id="size-boolean"),
        pytest.param({"size_mm": "25 mm"}, "size_mm", "valid number", id="size-with-unit-string"),
        pytest.param({"age_years": 150}, "age_years", "less than or equal to 120", id="age-huge"),
        pytest.param({"washout": "maybe"}, "washout", "valid boolean", id="washout-not-bool"),
        pytest.param({"colour": "red"}, "colour", "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_validation_errors_name_the_field_and_what_is_allowed(
    inputs: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(ToolInputError) as err:
        run(**{"population": "cirrhosis", **inputs})
    assert field in str(err.value) and allowed in str(err.value)


def test_cirrhosis_cause_with_population_none_is_a_contradiction() -> None:
    with pytest.raises(ToolInputError) as err:
        run(population="none", cirrhosis_cause="vascular_disorder")
    assert "cirrhosis_cause" in str(err.value) and "population" in str(err.value)


def test_stated_and_computed_threshold_growth_replace_each_other_in_follow_ups() -> None:
    assert TOOL.exclusive_groups == (("threshold_growth", "prior_size_mm", "interval_months"),)
