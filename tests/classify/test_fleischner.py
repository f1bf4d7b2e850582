"""Fleischner 2017 (MacMahon 2017 Table 1; Bankier 2017 measurement), written from the published tables."""

from __future__ import annotations

import pytest

from tools.classify import fleischner  # noqa: F401  (registers the tool)
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("fleischner")

# Table 1, solid nodules, as published (count, risk) -> (<6 mm, 6-8 mm, >8 mm).
NONE = "No routine follow-up"
OPTIONAL_12 = "Optional CT at 12 months"
WORKUP = "Consider CT at 3 months, PET/CT, or tissue sampling"
SOLID = {
    ("single", "low"): (NONE, "CT at 6-12 months, then consider CT at 18-24 months", WORKUP),
    ("single", "high"): (OPTIONAL_12, "CT at 6-12 months, then CT at 18-24 months", WORKUP),
    ("multiple", "low"): (
        NONE,
        "CT at 3-6 months, then consider CT at 18-24 months",
        "CT at 3-6 months, then consider CT at 18-24 months",
    ),
    ("multiple", "high"): (
        OPTIONAL_12,
        "CT at 3-6 months, then CT at 18-24 months",
        "CT at 3-6 months, then CT at 18-24 months",
    ),
}
# Diameters around the band edges after half-up rounding: 5.4 -> 5 (<6), 5.5 -> 6, 8.4 -> 8 (6-8), 8.5 -> 9 (>8).
BAND_CASES = [
    (4.0, 0),
    (5.4, 0),
    (5.5, 1),
    (6.0, 1),
    (7.0, 1),
    (8.0, 1),
    (8.4, 1),
    (8.5, 2),
    (9.0, 2),
    (20.0, 2),
]
BANDS = ("<6 mm", "6-8 mm", ">8 mm")


def run(**kwargs: object):
    return TOOL.run(kwargs)


@pytest.mark.parametrize(
    ("count", "risk", "diameter", "band"),
    [(c, r, d, b) for (c, r) in SOLID for d, b in BAND_CASES],
    ids=[f"solid-{c}-{r}-{d}mm" for (c, r) in SOLID for d, _ in BAND_CASES],
)
def test_solid_table_every_cell_and_band_edge(count: str, risk: str, diameter: float, band: int) -> None:
    result = run(nodule_type="solid", count=count, risk=risk, diameter_mm=diameter)
    assert result.management == SOLID[count, risk][band]
    assert result.category == f"solid, {count}, {BANDS[band]}, {risk} risk"
    assert result.missing == [] and result.not_applicable is None


# Table 1, subsolid nodules, and recommendations 4A-4C.
GGN_SMALL = "No routine follow-up"
GGN_LARGE = "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years"
PS_SOLID_SMALL = "CT at 3-6 months to confirm persistence; if unchanged and the solid component remains <6 mm, annual CT for 5 years"
PS_HIGHLY_SUSPICIOUS = (
    "CT at 3-6 months to confirm persistence; a persistent part-solid nodule with a solid component >=6 mm is "
    "highly suspicious"
)
PS_WORKUP = "PET/CT, biopsy or resection"
MULTI_SMALL = "CT at 3-6 months; if stable, consider CT at 2 and 4 years"
MULTI_LARGE = "CT at 3-6 months; subsequent management based on the most suspicious nodule(s)"


@pytest.mark.parametrize(
    ("args", "label", "management"),
    [
        ({"nodule_type": "ground-glass", "diameter_mm": 5.4}, "ground-glass, single, <6 mm", GGN_SMALL),
        ({"nodule_type": "ground-glass", "diameter_mm": 5.5}, "ground-glass, single, >=6 mm", GGN_LARGE),
        ({"nodule_type": "ground-glass", "diameter_mm": 25}, "ground-glass, single, >=6 mm", GGN_LARGE),
        (
            {"nodule_type": "part-solid", "diameter_mm": 5.4},
            "part-solid, single, <6 mm",
            "No routine follow-up",
        ),
        (
            {"nodule_type": "part-solid", "diameter_mm": 12, "solid_component_mm": 5.4},
            "part-solid, single, >=6 mm, solid component <6 mm",
            PS_SOLID_SMALL,
        ),
        (
            {"nodule_type": "part-solid", "diameter_mm": 12, "solid_component_mm": 5.5},
            "part-solid, single, >=6 mm, solid component 6-8 mm",
            PS_HIGHLY_SUSPICIOUS,
        ),
        (
            {"nodule_type": "part-solid", "diameter_mm": 12, "solid_component_mm": 8.4},
            "part-solid, single, >=6 mm, solid component 6-8 mm",
            PS_HIGHLY_SUSPICIOUS,
        ),
        (
            {"nodule_type": "part-solid", "diameter_mm": 12, "solid_component_mm": 8.5},
            "part-solid, single, >=6 mm, solid component >8 mm",
            PS_WORKUP,
        ),
        (
            {
                "nodule_type": "part-solid",
                "diameter_mm": 12,
                "solid_component_mm": 3,
                "solid_component_growing": True,
            },
            "part-solid, single, >=6 mm, growing solid component",
            PS_WORKUP,
        ),
        (
            {
                "nodule_type": "part-solid",
                "diameter_mm": 12,
                "solid_component_mm": 3,
                "suspicious_morphology": True,
            },
            "part-solid, single, >=6 mm, suspicious morphology",
            PS_WORKUP,
        ),
        (
            {"nodule_type": "part-solid", "diameter_mm": 12, "solid_component_growing": True},
            "part-solid, single, >=6 mm, growing solid component",
            PS_WORKUP,
        ),
    ],
    ids=[
        "ggn-single-5.4mm-<6",
        "ggn-single-5.5mm->=6",
        "ggn-single-25mm->=6",
        "part-solid-single-5.4mm-<6",
        "part-solid->=6-solid-5.4mm-<6",
        "part-solid->=6-solid-5.5mm-6to8",
        "part-solid->=6-solid-8.4mm-6to8",
        "part-solid->=6-solid-8.5mm->8",
        "part-solid->=6-growing-solid",
        "part-solid->=6-suspicious-morphology",
        "part-solid->=6-growing-solid-size-not-needed",
    ],
)
def test_single_subsolid_rows(args: dict, label: str, management: str) -> None:
    result = run(count="single", **args)
    assert result.category == label
    assert result.management == management


@pytest.mark.parametrize(
    ("nodule_type", "diameter", "label", "management"),
    [
        ("ground-glass", 5.4, "subsolid, multiple, <6 mm", MULTI_SMALL),
        ("ground-glass", 5.5, "subsolid, multiple, >=6 mm", MULTI_LARGE),
        ("part-solid", 5.4, "subsolid, multiple, <6 mm", MULTI_SMALL),
        ("part-solid", 9.0, "subsolid, multiple, >=6 mm", MULTI_LARGE),
        ("subsolid", 4.0, "subsolid, multiple, <6 mm", MULTI_SMALL),
        ("subsolid", 6.0, "subsolid, multiple, >=6 mm", MULTI_LARGE),
    ],
    ids=["ggn-5.4", "ggn-5.5", "part-solid-5.4", "part-solid-9", "subsolid-4", "subsolid-6"],
)
def test_multiple_subsolid_rows(nodule_type: str, diameter: float, label: str, management: str) -> None:
    result = run(nodule_type=nodule_type, count="multiple", diameter_mm=diameter)
    assert result.category == label
    assert result.management == management


def test_small_ggn_with_suspicious_features_adds_2_and_4_year_ct() -> None:
    result = run(nodule_type="ground-glass", count="single", diameter_mm=4, suspicious_morphology=True)
    assert result.category == "ground-glass, single, <6 mm"
    assert "2 and 4 years" in result.management


@pytest.mark.parametrize("risk", ["low", "high", None], ids=["low", "high", "not-given"])
def test_risk_does_not_change_subsolid_management(risk: str | None) -> None:
    args = {"nodule_type": "ground-glass", "count": "single", "diameter_mm": 7}
    if risk:
        args["risk"] = risk
    result = run(**args)
    assert result.category == "ground-glass, single, >=6 mm"
    assert result.management == GGN_LARGE


# --- measurement: mean of the axes, rounded half up (Bankier 2017) --------------------------------


@pytest.mark.parametrize(
    ("long_mm", "short_mm", "size", "band"),
    [
        (5.8, 5.0, 5, "<6 mm"),  # 5.4
        (6.0, 5.0, 6, "6-8 mm"),  # 5.5 -> 6 (half up)
        (8.8, 8.0, 8, "6-8 mm"),  # 8.4
        (9.0, 8.0, 9, ">8 mm"),  # 8.5 -> 9; Python's round(8.5) would give 8
        (8.6, 8.4, 9, ">8 mm"),  # 8.5 from decimals
        (8.9, 8.0, 8, "6-8 mm"),  # 8.45 -> 8 (no double rounding)
        (7.0, 6.0, 7, "6-8 mm"),  # 6.5 -> 7; round(6.5) == 6
    ],
    ids=["5.4->5", "5.5->6", "8.4->8", "8.5->9", "8.6+8.4->9", "8.45->8", "6.5->7"],
)
def test_mean_of_axes_rounded_half_up(long_mm: float, short_mm: float, size: int, band: str) -> None:
    result = run(
        nodule_type="solid", count="single", risk="high", long_axis_mm=long_mm, short_axis_mm=short_mm
    )
    assert result.inputs["size_mm"] == size
    assert result.category == f"solid, single, {band}, high risk"
    assert any("rounded half up" in line and f"= {size} mm" in line for line in result.rationale)


def test_exact_half_carries_tie_rule_caveat() -> None:
    result = run(nodule_type="solid", count="single", risk="low", long_axis_mm=9, short_axis_mm=8)
    assert any("tie rule" in c for c in result.caveats)


# --- peer mistakes (criteria file section 11) turned into primary-source answers -------------------


def test_radulator_5_9_mm_rounds_into_6_to_8_band() -> None:
    result = run(nodule_type="solid", count="single", risk="low", diameter_mm=5.9)
    assert result.category == "solid, single, 6-8 mm, low risk"
    assert result.management != NONE


def test_radulator_8_1_mm_rounds_to_8_not_work_up() -> None:
    result = run(nodule_type="solid", count="single", risk="high", diameter_mm=8.1)
    assert result.category == "solid, single, 6-8 mm, high risk"
    assert result.management == "CT at 6-12 months, then CT at 18-24 months"


def test_radulator_multiple_ggn_small_is_not_no_follow_up() -> None:
    result = run(nodule_type="ground-glass", count="multiple", diameter_mm=4)
    assert result.management == MULTI_SMALL


def test_radulator_multiple_ggn_large_is_managed_by_most_suspicious() -> None:
    result = run(nodule_type="ground-glass", count="multiple", diameter_mm=8)
    assert "most suspicious" in result.management
    assert "2 and 4 years" not in result.management


def test_radulator_multiple_part_solid_small_is_not_no_follow_up() -> None:
    result = run(nodule_type="part-solid", count="multiple", diameter_mm=5)
    assert result.management == MULTI_SMALL


def test_radulator_8_mm_solid_component_is_highly_suspicious_not_annual() -> None:
    result = run(nodule_type="part-solid", count="single", diameter_mm=15, solid_component_mm=8)
    assert result.management == PS_HIGHLY_SUSPICIOUS
    assert "annual" not in result.management


def test_elucenia_multiple_high_risk_over_8_mm_has_no_consider() -> None:
    result = run(nodule_type="solid", count="multiple", risk="high", diameter_mm=10)
    assert result.management == "CT at 3-6 months, then CT at 18-24 months"
    assert "consider" not in result.management


def test_nobra_multiple_high_risk_6_to_8_has_no_consider() -> None:
    result = run(nodule_type="solid", count="multiple", risk="high", diameter_mm=7)
    assert "consider" not in result.management


def test_nobra_single_part_solid_gets_its_own_schedule_not_ggn() -> None:
    result = run(nodule_type="part-solid", count="single", diameter_mm=10, solid_component_mm=3)
    assert result.management == PS_SOLID_SMALL
    assert result.management != GGN_LARGE


def test_medreporter_single_solid_6_to_8_is_6_to_12_months() -> None:
    result = run(nodule_type="solid", count="single", risk="low", diameter_mm=7)
    assert result.management.startswith("CT at 6-12 months")


def test_medreporter_6x5_mm_rounds_to_6() -> None:
    solid = run(nodule_type="solid", count="single", risk="low", long_axis_mm=6, short_axis_mm=5)
    ggn = run(nodule_type="ground-glass", count="single", long_axis_mm=6, short_axis_mm=5)
    assert solid.category == "solid, single, 6-8 mm, low risk"
    assert ggn.management == GGN_LARGE


# --- path-dependent inputs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        ({}, ["nodule_type", "long_axis_mm", "short_axis_mm", "count"]),
        ({"nodule_type": "solid"}, ["long_axis_mm", "short_axis_mm", "count", "risk"]),
        ({"nodule_type": "solid", "count": "single", "diameter_mm": 7}, ["risk"]),
        ({"nodule_type": "solid", "risk": "high", "diameter_mm": 7}, ["count"]),
        ({"nodule_type": "solid", "diameter_mm": 7}, ["count", "risk"]),
        ({"nodule_type": "solid", "count": "single", "risk": "low", "long_axis_mm": 7}, ["short_axis_mm"]),
        ({"nodule_type": "solid", "count": "single", "risk": "low", "short_axis_mm": 7}, ["long_axis_mm"]),
        ({"nodule_type": "ground-glass", "diameter_mm": 7}, ["count"]),
        ({"nodule_type": "part-solid", "count": "single", "diameter_mm": 10}, ["solid_component_mm"]),
        ({"nodule_type": "subsolid", "count": "single", "diameter_mm": 10}, ["nodule_type"]),
    ],
    ids=[
        "nothing",
        "solid-only",
        "solid-6to8-no-risk",
        "solid-6to8-no-count",
        "solid-6to8-no-count-no-risk",
        "long-axis-only",
        "short-axis-only",
        "ggn-no-count",
        "part-solid->=6-no-solid-component",
        "single-subsolid-needs-type",
    ],
)
def test_missing_inputs_by_path(args: dict, missing: list[str]) -> None:
    result = run(**args)
    assert result.category is None and result.not_applicable is None
    assert result.missing == missing


def test_risk_not_needed_for_subsolid() -> None:
    result = run(nodule_type="part-solid", count="single", diameter_mm=5)
    assert "risk" not in result.missing and result.category == "part-solid, single, <6 mm"


def test_risk_not_needed_where_both_risk_rows_agree() -> None:
    result = run(nodule_type="solid", count="single", diameter_mm=9)
    assert result.category == "solid, single, >8 mm, any risk"
    assert result.management == WORKUP


@pytest.mark.parametrize(("risk", "management"), [("low", NONE), ("high", OPTIONAL_12)], ids=["low", "high"])
def test_count_not_needed_below_6_mm_where_both_count_rows_agree(risk: str, management: str) -> None:
    result = run(nodule_type="solid", risk=risk, diameter_mm=4)
    assert result.category == f"solid, any count, <6 mm, {risk} risk"
    assert result.management == management


def test_part_solid_under_6_does_not_need_solid_component() -> None:
    result = run(nodule_type="part-solid", count="single", long_axis_mm=6, short_axis_mm=4.8)
    assert result.category == "part-solid, single, <6 mm"


# --- scope ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"age": 34}, "35"),
        ({"screening": True}, "Lung-RADS"),
        ({"immunocompromised": True}, "immunocompromised"),
        ({"known_cancer": True}, "oncologic"),
    ],
    ids=["age-34", "screening", "immunocompromised", "known-cancer"],
)
def test_out_of_scope(args: dict, fragment: str) -> None:
    result = run(nodule_type="solid", count="single", risk="high", diameter_mm=9, **args)
    assert result.category is None and result.missing == []
    assert result.not_applicable is not None and fragment in result.not_applicable


def test_out_of_scope_even_without_the_nodule_details() -> None:
    result = run(screening=True)
    assert result.not_applicable is not None and result.missing == []


def test_age_35_is_in_scope() -> None:
    result = run(nodule_type="solid", count="single", risk="high", diameter_mm=9, age=35)
    assert result.category == "solid, single, >8 mm, high risk"


def test_in_scope_flags_false_are_not_caveated_as_assumptions() -> None:
    result = run(
        nodule_type="solid",
        count="single",
        risk="low",
        diameter_mm=4,
        age=60,
        screening=False,
        immunocompromised=False,
        known_cancer=False,
    )
    assert result.category == "solid, single, <6 mm, low risk"
    assert not any("assumed" in c for c in result.caveats)


def test_unstated_scope_is_listed_as_assumption() -> None:
    result = run(nodule_type="solid", count="single", risk="low", diameter_mm=4)
    assert any("assumed" in c and "age >= 35" in c for c in result.caveats)


def test_perifissural_is_a_caveat_not_a_rule() -> None:
    result = run(nodule_type="solid", count="single", risk="low", diameter_mm=7, perifissural=True)
    assert result.category == "solid, single, 6-8 mm, low risk"
    assert any("perifissural" in c.lower() and "upper size limit" in c for c in result.caveats)


def test_multiple_nodules_caveat_most_suspicious() -> None:
    result = run(nodule_type="solid", count="multiple", risk="low", diameter_mm=7)
    assert any("most suspicious" in c for c in result.caveats)


def test_result_carries_citation_and_guideline() -> None:
    result = run(nodule_type="solid", count="single", risk="low", diameter_mm=7)
    assert result.guideline == "Fleischner Society 2017"
    assert "Radiology 2017;284" in result.citation and "Table 1" in result.citation
    assert result.risk is None  # Fleischner publishes no malignancy percentage per row


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"diameter_mm": -1}, "diameter_mm"),
        ({"diameter_mm": 0}, "diameter_mm"),
        ({"long_axis_mm": -3, "short_axis_mm": 2}, "long_axis_mm"),
        ({"nodule_type": "mixed"}, "nodule_type"),
        ({"count": "two"}, "count"),
        ({"risk": "medium"}, "risk"),
        ({"age": -1}, "age"),
        ({"size": 5}, "size"),
    ],
    ids=[
        "negative-diameter",
        "zero-diameter",
        "negative-axis",
        "type-lexicon",
        "count-lexicon",
        "risk-lexicon",
        "negative-age",
        "unknown-field",
    ],
)
def test_field_errors_name_the_field(args: dict, field: str) -> None:
    with pytest.raises(ToolInputError) as exc:
        run(**args)
    assert field in str(exc.value)


def test_lexicon_error_lists_allowed_values() -> None:
    with pytest.raises(ToolInputError) as exc:
        run(nodule_type="mixed")
    assert "'part-solid'" in str(exc.value) and "'ground-glass'" in str(exc.value)


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ({"nodule_type": "part-solid", "diameter_mm": 8, "solid_component_mm": 9}, ("solid_component_mm",)),
        (
            {"nodule_type": "part-solid", "long_axis_mm": 8, "short_axis_mm": 6, "solid_component_mm": 8.5},
            ("solid_component_mm", "long_axis_mm"),
        ),
        ({"long_axis_mm": 5, "short_axis_mm": 6}, ("short_axis_mm", "long_axis_mm")),
        ({"diameter_mm": 5, "long_axis_mm": 6, "short_axis_mm": 4}, ("diameter_mm",)),
        (
            {"nodule_type": "solid", "diameter_mm": 8, "solid_component_mm": 4},
            ("solid_component_mm", "nodule_type"),
        ),
        ({"nodule_type": "ground-glass", "solid_component_growing": True}, ("solid_component_growing",)),
    ],
    ids=[
        "solid-component-larger",
        "solid-component-larger-than-long-axis",
        "short-over-long",
        "diameter-and-axes",
        "solid-component-on-solid",
        "growing-component-on-ggn",
    ],
)
def test_contradictions_name_the_fields(args: dict, fields: tuple[str, ...]) -> None:
    with pytest.raises(ToolInputError) as exc:
        run(**args)
    for name in fields:
        assert name in str(exc.value)


def test_solid_component_equal_to_nodule_is_allowed() -> None:
    result = run(nodule_type="part-solid", count="single", diameter_mm=9, solid_component_mm=9)
    assert result.category == "part-solid, single, >=6 mm, solid component >8 mm"
