"""ACR Lung-RADS v2022, written from the published category table (criteria file section 2)."""

from __future__ import annotations

import pytest

from tools.classify import lung_rads  # noqa: F401  (registers the tool)
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("lung_rads")


def run(**kwargs: object):
    return TOOL.run(kwargs)


def category(**kwargs: object) -> str | None:
    return run(**kwargs).category


# --- solid nodules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "mean", "expected"),
    [
        ("baseline", 5.9, "2"),
        ("baseline", 6.0, "3"),
        ("baseline", 7.9, "3"),
        ("baseline", 8.0, "4A"),
        ("baseline", 14.9, "4A"),
        ("baseline", 15.0, "4B"),
        ("new", 3.9, "2"),
        ("new", 4.0, "3"),
        ("new", 5.9, "3"),
        ("new", 6.0, "4A"),
        ("new", 7.9, "4A"),
        ("new", 8.0, "4B"),
        ("growing", 5.0, "4A"),
        ("growing", 7.9, "4A"),
        ("growing", 8.0, "4B"),
        ("slow_growth", 5.0, "4B"),
    ],
    ids=lambda v: str(v),
)
def test_solid_rows(status: str, mean: float, expected: str) -> None:
    assert category(nodule_type="solid", status=status, mean_diameter_mm=mean) == expected


def test_mean_is_not_rounded_to_whole_mm() -> None:
    # v1.1 rounded 5.6 to 6 (category 3) and 7.6 to 8 (4A); v2022 keeps one decimal.
    assert category(nodule_type="solid", status="baseline", mean_diameter_mm=5.6) == "2"
    assert category(nodule_type="solid", status="baseline", mean_diameter_mm=7.6) == "3"


def test_mean_from_axes_to_one_decimal() -> None:
    result = run(nodule_type="solid", status="baseline", long_axis_mm=7.4, short_axis_mm=5.9)
    assert result.inputs["mean_diameter_mm"] == 6.7  # 6.65 -> 6.7
    assert result.category == "3"


def test_x_x5_mean_rounded_half_up_with_caveat() -> None:
    result = run(nodule_type="solid", status="baseline", long_axis_mm=6.1, short_axis_mm=5.8)  # 5.95
    assert result.inputs["mean_diameter_mm"] == 6.0
    assert result.category == "3"
    assert any("tie rule" in c for c in result.caveats)


# --- growth -------------------------------------------------------------------------------------


def test_exactly_1_5_mm_is_not_growth_and_size_bands_reapply() -> None:
    # Criteria file: 5.0 -> 6.5 mm in 12 months is not growth, but the nodule is now 6-<8 mm: category 3.
    result = run(nodule_type="solid", mean_diameter_mm=6.5, prior_mean_diameter_mm=5.0, months_since_prior=12)
    assert result.category == "3"
    assert any("Not growth" in line for line in result.rationale)


def test_1_5_mm_with_float_trap_is_not_growth() -> None:
    # 7.7 - 6.2 is 1.5000000000000009 in binary floating point.
    result = run(
        nodule_type="solid",
        mean_diameter_mm=7.7,
        prior_mean_diameter_mm=6.2,
        months_since_prior=12,
        prior_category="3",
    )
    assert result.category == "2"  # stable category 3 at follow-up -> 2, not "growing" -> 4A


def test_1_6_mm_in_12_months_is_growth() -> None:
    assert (
        category(nodule_type="solid", mean_diameter_mm=6.6, prior_mean_diameter_mm=5.0, months_since_prior=12)
        == "4A"
    )


def test_growth_reaching_8_mm_is_4b() -> None:
    assert (
        category(nodule_type="solid", mean_diameter_mm=8.0, prior_mean_diameter_mm=6.4, months_since_prior=6)
        == "4B"
    )


def test_not_growth_crossing_into_8_to_15_is_4a_not_4b() -> None:
    # Criteria file: 7.0 -> 8.2 mm: not growth, now 8-<15 -> 4A, not 4B.
    assert (
        category(nodule_type="solid", mean_diameter_mm=8.2, prior_mean_diameter_mm=7.0, months_since_prior=12)
        == "4A"
    )


def test_growth_needs_the_interval_when_over_1_5_mm() -> None:
    result = run(nodule_type="solid", mean_diameter_mm=8.0, prior_mean_diameter_mm=6.0)
    assert result.missing == ["months_since_prior"]


def test_growth_over_more_than_12_months_asks_for_status() -> None:
    result = run(nodule_type="solid", mean_diameter_mm=8.0, prior_mean_diameter_mm=6.0, months_since_prior=18)
    assert result.missing == ["status"]


def test_interval_not_needed_when_change_is_not_growth() -> None:
    result = run(nodule_type="solid", mean_diameter_mm=5.5, prior_mean_diameter_mm=5.0, prior_category="2")
    assert result.category == "2"


def test_stable_without_band_change_needs_prior_category() -> None:
    result = run(nodule_type="solid", mean_diameter_mm=7.0, prior_mean_diameter_mm=7.0, months_since_prior=6)
    assert result.missing == ["prior_category"]


# --- stepped management ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prior", "expected"),
    [
        ("solid", "3", "2"),
        ("solid", "4A", "3"),
        ("solid", "2", "2"),
        ("part-solid", "3", "2"),
        ("part-solid", "4A", "3"),
    ],
    ids=[
        "solid-3-stable->2",
        "solid-4A-stable->3",
        "solid-2-stable->2",
        "part-solid-3-stable->2",
        "part-solid-4A-stable->3",
    ],
)
def test_stable_findings_step_down(kind: str, prior: str, expected: str) -> None:
    args = {"nodule_type": kind, "status": "stable", "mean_diameter_mm": 9.0, "prior_category": prior}
    if kind == "part-solid":
        args["solid_component_mm"] = 6.5
    assert category(**args) == expected


def test_4b_proven_benign_is_2() -> None:
    result = run(
        nodule_type="solid", status="stable", mean_diameter_mm=16, prior_category="4B", proven_benign=True
    )
    assert result.category == "2"


def test_stable_4b_needs_proven_benign() -> None:
    result = run(nodule_type="solid", status="stable", mean_diameter_mm=16, prior_category="4B")
    assert result.missing == ["proven_benign"]


def test_stable_4b_not_proven_benign_has_no_row() -> None:
    result = run(
        nodule_type="solid", status="stable", mean_diameter_mm=16, prior_category="4B", proven_benign=False
    )
    assert result.category is None and result.not_applicable is not None and "4B" in result.not_applicable


# --- part-solid ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "total", "solid", "expected"),
    [
        ("baseline", 5.9, None, "2"),
        ("baseline", 6.0, 5.9, "3"),
        ("baseline", 10.0, 6.0, "4A"),
        ("baseline", 10.0, 7.9, "4A"),
        ("baseline", 10.0, 8.0, "4B"),
        ("new", 5.9, None, "3"),
        ("new", 5.9, 4.5, "3"),
        ("new", 6.0, 3.9, "4A"),
        ("new", 6.0, 4.0, "4B"),
        ("growing", 9.0, 3.9, "4A"),
        ("growing", 9.0, 4.0, "4B"),
        ("slow_growth", 9.0, 2.0, "4B"),
    ],
    ids=lambda v: str(v),
)
def test_part_solid_rows(status: str, total: float, solid: float | None, expected: str) -> None:
    args = {"nodule_type": "part-solid", "status": status, "mean_diameter_mm": total}
    if solid is not None:
        args["solid_component_mm"] = solid
    assert category(**args) == expected


def test_part_solid_growth_is_judged_on_the_solid_component() -> None:
    grown = run(
        nodule_type="part-solid",
        mean_diameter_mm=12,
        solid_component_mm=5.6,
        prior_solid_component_mm=4.0,
        months_since_prior=12,
    )
    assert grown.category == "4B"  # growing solid component >= 4 mm
    not_grown = run(
        nodule_type="part-solid",
        mean_diameter_mm=12,
        solid_component_mm=5.5,
        prior_solid_component_mm=4.0,
        months_since_prior=12,
        prior_category="3",
    )
    assert not_grown.category == "2"


def test_part_solid_not_growing_crossing_bands_reapplies_size() -> None:
    result = run(
        nodule_type="part-solid",
        mean_diameter_mm=12,
        solid_component_mm=6.2,
        prior_mean_diameter_mm=11,
        prior_solid_component_mm=5.0,
        months_since_prior=12,
    )
    assert result.category == "4A"  # solid component now 6 to <8 mm at the baseline bands


def test_part_solid_needs_solid_component_from_6_mm_total() -> None:
    assert run(nodule_type="part-solid", status="baseline", mean_diameter_mm=6.0).missing == [
        "solid_component_mm"
    ]
    assert run(nodule_type="part-solid", status="new", mean_diameter_mm=6.0).missing == ["solid_component_mm"]


# --- non-solid -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "mean", "expected"),
    [
        ("baseline", 29.9, "2"),
        ("baseline", 30.0, "3"),
        ("new", 29.9, "2"),
        ("new", 30.0, "3"),
        ("growing", 20.0, "2"),
        ("growing", 29.9, "2"),
        ("stable", 30.0, "2"),
        ("stable", 12.0, "2"),
        ("slow_growth", 35.0, "2"),
    ],
    ids=lambda v: str(v),
)
def test_non_solid_rows(status: str, mean: float, expected: str) -> None:
    assert category(nodule_type="ground-glass", status=status, mean_diameter_mm=mean) == expected


def test_radulator_growing_ggn_20_mm_is_2_not_3() -> None:
    assert category(nodule_type="ground-glass", status="growing", mean_diameter_mm=20) == "2"


def test_medreporter_growing_ggn_30_mm_is_not_placed_by_the_table() -> None:
    result = run(nodule_type="ground-glass", status="growing", mean_diameter_mm=32)
    assert result.category is None
    assert result.not_applicable is not None and "30" in result.not_applicable


def test_ggn_crossing_30_without_growth_reapplies_size() -> None:
    result = run(
        nodule_type="ground-glass", mean_diameter_mm=30.0, prior_mean_diameter_mm=29.0, months_since_prior=12
    )
    assert result.category == "3"


# --- juxtapleural / perifissural ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "mean", "expected"),
    [
        ("baseline", 9.9, "2"),
        ("new", 9.9, "2"),
        ("baseline", 10.0, "4A"),
        ("baseline", 12.0, "4A"),
        ("new", 10.0, "4B"),
    ],
    ids=[
        "baseline-9.9",
        "new-9.9",
        "baseline-10.0-size-rules",
        "baseline-12-size-rules",
        "new-10.0-size-rules",
    ],
)
def test_juxtapleural_benign_under_10_mm(status: str, mean: float, expected: str) -> None:
    args = {"nodule_type": "solid", "status": status, "mean_diameter_mm": mean, "juxtapleural_benign": True}
    assert category(**args) == expected


def test_radulator_perifissural_10_and_12_mm_are_4a_not_3() -> None:
    for mean in (10.0, 12.0):
        assert (
            category(nodule_type="solid", status="baseline", mean_diameter_mm=mean, juxtapleural_benign=True)
            == "4A"
        )


def test_growing_juxtapleural_uses_growth_rules() -> None:
    args = {"nodule_type": "solid", "status": "growing", "mean_diameter_mm": 7.0, "juxtapleural_benign": True}
    assert category(**args) == "4A"


# --- airway nodules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "status", "expected"),
    [
        ("subsegmental", "baseline", "2"),
        ("subsegmental", "new", "2"),
        ("subsegmental", "stable", "2"),
        ("segmental_or_proximal", "baseline", "4A"),
        ("segmental_or_proximal", "new", "4A"),
        ("segmental_or_proximal", "stable", "4B"),
        ("segmental_or_proximal", "growing", "4B"),
    ],
    ids=lambda v: str(v),
)
def test_airway_rows(level: str, status: str, expected: str) -> None:
    assert category(finding="airway_nodule", airway_level=level, status=status) == expected


def test_medreporter_new_segmental_airway_nodule_is_4a_not_4b() -> None:
    assert category(finding="airway_nodule", airway_level="segmental_or_proximal", status="new") == "4A"


def test_stable_segmental_airway_nodule_does_not_step_down_to_3() -> None:
    result = run(
        finding="airway_nodule", airway_level="segmental_or_proximal", status="stable", prior_category="4A"
    )
    assert result.category == "4B"
    assert "bronchoscopy" in result.management


def test_growing_subsegmental_airway_nodule_is_not_placed() -> None:
    result = run(finding="airway_nodule", airway_level="subsegmental", status="growing")
    assert result.category is None and result.not_applicable is not None


def test_airway_missing_inputs() -> None:
    assert run(finding="airway_nodule").missing == ["airway_level", "status"]


# --- atypical cysts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cyst_type", "change", "expected"),
    [
        ("thick_walled", "growing_cystic_component", "3"),
        ("thick_walled", "baseline", "4A"),
        ("multilocular", "baseline", "4A"),
        ("multilocular", "became_multilocular", "4A"),
        ("thick_walled", "growing_wall_or_nodularity", "4B"),
        ("multilocular", "growing_multilocular", "4B"),
        ("multilocular", "increased_loculation_or_opacity", "4B"),
    ],
    ids=lambda v: str(v),
)
def test_atypical_cyst_rows(cyst_type: str, change: str, expected: str) -> None:
    assert category(finding="atypical_cyst", cyst_type=cyst_type, cyst_change=change) == expected


def test_stable_4a_cyst_steps_down_to_3() -> None:
    args = {
        "finding": "atypical_cyst",
        "cyst_type": "thick_walled",
        "cyst_change": "stable",
        "prior_category": "4A",
    }
    assert category(**args) == "3"


def test_thin_walled_cyst_is_not_categorised() -> None:
    result = run(finding="atypical_cyst", cyst_type="thin_walled", cyst_change="baseline")
    assert result.category is None and "not categorised" in (result.not_applicable or "")


def test_cyst_missing_inputs() -> None:
    assert run(finding="atypical_cyst", cyst_type="multilocular").missing == ["cyst_change"]


# --- categories 0 and 1, 4X and S ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "fragment"),
    [
        ("prior_ct_pending", "Prior chest CT"),
        ("lungs_not_evaluable", "cannot be evaluated"),
        ("infectious_or_inflammatory", "1-3 months"),
    ],
    ids=["prior-being-located", "not-evaluable", "infection-inflammation"],
)
def test_category_0(flag: str, fragment: str) -> None:
    result = run(nodule_type="solid", status="baseline", mean_diameter_mm=7, **{flag: True})
    assert result.category == "0"
    assert fragment in result.management
    assert result.risk is None


def test_no_nodules_is_1() -> None:
    result = run(finding="no_nodules")
    assert (result.category, result.risk) == ("1", "<1%")
    assert "12 months" in result.management


@pytest.mark.parametrize(
    "feature",
    [
        "complete_calcification",
        "central_calcification",
        "popcorn_calcification",
        "concentric_calcification",
        "fat",
    ],
)
def test_benign_calcification_or_fat_is_1(feature: str) -> None:
    assert (
        category(nodule_type="solid", status="baseline", mean_diameter_mm=12, benign_feature=feature) == "1"
    )


@pytest.mark.parametrize(
    ("args", "base"),
    [
        ({"status": "baseline", "mean_diameter_mm": 7.0}, "3"),
        ({"status": "baseline", "mean_diameter_mm": 10.0}, "4A"),
        ({"status": "baseline", "mean_diameter_mm": 16.0}, "4B"),
    ],
    ids=["from-3", "from-4A", "from-4B"],
)
def test_4x_from_3_4a_4b_with_suspicious_features(args: dict, base: str) -> None:
    assert category(nodule_type="solid", **args) == base
    result = run(nodule_type="solid", suspicious_features=True, **args)
    assert result.category == "4X"  # never "4AX" / "4BX" (Radulator labels)
    assert result.risk == ">15%"
    assert "Diagnostic chest CT" in result.management


def test_4x_does_not_apply_to_category_2() -> None:
    result = run(nodule_type="solid", status="baseline", mean_diameter_mm=5.0, suspicious_features=True)
    assert result.category == "2"
    assert any("4X applies only" in c for c in result.caveats)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"finding": "no_nodules"}, "1"),
        ({"nodule_type": "solid", "status": "baseline", "mean_diameter_mm": 10}, "4A"),
        ({"prior_ct_pending": True}, "0"),
    ],
    ids=["1S", "4AS", "0S"],
)
def test_s_modifier(args: dict, expected: str) -> None:
    result = run(significant_other_finding=True, **args)
    assert result.category == expected
    assert result.modifiers == ["S"]


# --- management and risk per category ----------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "expected", "management", "risk"),
    [
        (5.0, "2", "LDCT in 12 months", "<1%"),
        (7.0, "3", "LDCT in 6 months", "1-2%"),
        (9.0, "4A", "LDCT in 3 months", "5-15%"),
        (16.0, "4B", "Diagnostic chest CT", ">15%"),
    ],
    ids=["2", "3", "4A", "4B"],
)
def test_management_and_risk(mean: float, expected: str, management: str, risk: str) -> None:
    result = run(nodule_type="solid", status="baseline", mean_diameter_mm=mean)
    assert result.category == expected
    assert management in result.management
    assert result.risk == risk


def test_pet_ct_only_mentioned_for_8_mm_solid() -> None:
    assert "PET/CT" in run(nodule_type="solid", status="baseline", mean_diameter_mm=8.0).management
    assert "PET/CT" not in run(nodule_type="solid", status="new", mean_diameter_mm=7.0).management


def test_incidental_exam_is_out_of_scope() -> None:
    result = run(nodule_type="solid", status="baseline", mean_diameter_mm=7.0, screening_exam=False)
    assert result.category is None and "Fleischner" in (result.not_applicable or "")


def test_citation_and_guideline() -> None:
    result = run(nodule_type="solid", status="baseline", mean_diameter_mm=7.0)
    assert result.guideline == "ACR Lung-RADS v2022"
    assert "Lung-RADS v2022" in result.citation


# --- missing inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        ({}, ["nodule_type", "long_axis_mm", "short_axis_mm", "status"]),
        ({"nodule_type": "solid", "mean_diameter_mm": 7}, ["status"]),
        ({"nodule_type": "solid", "status": "new"}, ["long_axis_mm", "short_axis_mm"]),
        ({"nodule_type": "solid", "status": "new", "long_axis_mm": 7}, ["short_axis_mm"]),
        ({"nodule_type": "solid", "long_axis_mm": 7, "prior_mean_diameter_mm": 5}, ["short_axis_mm"]),
        (
            {
                "nodule_type": "part-solid",
                "mean_diameter_mm": 12,
                "prior_solid_component_mm": 3,
                "months_since_prior": 6,
            },
            ["solid_component_mm"],
        ),
        (
            {
                "nodule_type": "part-solid",
                "mean_diameter_mm": 12,
                "solid_component_mm": 5,
                "prior_mean_diameter_mm": 11,
            },
            ["status"],
        ),
    ],
    ids=[
        "nothing",
        "no-status",
        "no-size",
        "no-short-axis",
        "prior-but-no-short-axis",
        "part-solid-prior-component-but-no-component",
        "part-solid-growth-needs-prior-component",
    ],
)
def test_missing_inputs(args: dict, missing: list[str]) -> None:
    result = run(**args)
    assert result.category is None and result.missing == missing


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"mean_diameter_mm": -1}, "mean_diameter_mm"),
        ({"long_axis_mm": 0}, "long_axis_mm"),
        ({"months_since_prior": -2}, "months_since_prior"),
        ({"nodule_type": "subsolid"}, "nodule_type"),
        ({"status": "enlarging"}, "status"),
        ({"prior_category": "4a"}, "prior_category"),
        ({"airway_level": "lobar"}, "airway_level"),
        ({"finding": "mass"}, "finding"),
        ({"category": "3"}, "category"),
    ],
    ids=[
        "negative-mean",
        "zero-axis",
        "negative-interval",
        "type-lexicon",
        "status-lexicon",
        "category-spelling",
        "airway-lexicon",
        "finding-lexicon",
        "unknown-field",
    ],
)
def test_field_errors_name_the_field(args: dict, field: str) -> None:
    with pytest.raises(ToolInputError) as exc:
        run(**args)
    assert field in str(exc.value)


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        (
            {"nodule_type": "part-solid", "mean_diameter_mm": 8, "solid_component_mm": 9},
            ("solid_component_mm",),
        ),
        (
            {"nodule_type": "solid", "mean_diameter_mm": 8, "solid_component_mm": 4},
            ("solid_component_mm", "nodule_type"),
        ),
        ({"long_axis_mm": 5, "short_axis_mm": 6}, ("short_axis_mm", "long_axis_mm")),
        ({"mean_diameter_mm": 5, "long_axis_mm": 6, "short_axis_mm": 4}, ("mean_diameter_mm",)),
        (
            {"nodule_type": "solid", "status": "new", "mean_diameter_mm": 6, "prior_mean_diameter_mm": 4},
            ("status",),
        ),
        (
            {
                "nodule_type": "solid",
                "status": "growing",
                "mean_diameter_mm": 6.5,
                "prior_mean_diameter_mm": 5.0,
                "months_since_prior": 12,
            },
            ("status",),
        ),
        (
            {
                "nodule_type": "solid",
                "status": "stable",
                "mean_diameter_mm": 7.0,
                "prior_mean_diameter_mm": 5.0,
                "months_since_prior": 12,
            },
            ("status",),
        ),
        ({"nodule_type": "ground-glass", "juxtapleural_benign": True}, ("juxtapleural_benign",)),
        ({"finding": "nodule", "airway_level": "subsegmental"}, ("airway_level", "finding")),
        ({"finding": "atypical_cyst", "nodule_type": "solid"}, ("nodule_type", "finding")),
        (
            {"finding": "atypical_cyst", "cyst_type": "thick_walled", "cyst_change": "became_multilocular"},
            ("cyst_type", "cyst_change"),
        ),
        (
            {
                "nodule_type": "part-solid",
                "status": "growing",
                "mean_diameter_mm": 12,
                "solid_component_mm": 4.0,
                "prior_mean_diameter_mm": 8.0,
                "prior_solid_component_mm": 3.5,
            },
            ("status", "prior_solid_component_mm"),
        ),
    ],
    ids=[
        "solid-component-larger",
        "solid-component-on-solid",
        "short-over-long",
        "mean-and-axes",
        "new-with-prior",
        "growing-but-1.5",
        "stable-but-2.0",
        "juxtapleural-ggn",
        "airway-level-on-nodule",
        "nodule-type-on-cyst",
        "cyst-combination",
        "part-solid-growing-but-component-not",
    ],
)
def test_contradictions_name_the_fields(args: dict, fields: tuple[str, ...]) -> None:
    with pytest.raises(ToolInputError) as exc:
        run(**args)
    for name in fields:
        assert name in str(exc.value)
