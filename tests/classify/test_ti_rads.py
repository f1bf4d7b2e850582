"""ACR TI-RADS 2017 (Tessler 2017 chart), written from the published points and levels (criteria section 3)."""

from __future__ import annotations

import re

import pytest

from tools.classify import ti_rads  # noqa: F401  (registers the tool)
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("ti_rads")

# A nodule scoring 0 on every feature (anechoic is only valid with cystic composition).
ZERO = {
    "composition": "cystic",
    "echogenicity": "anechoic",
    "shape": "wider_than_tall",
    "margin": "smooth",
    "echogenic_foci": ["none"],
}


def run(**kwargs: object):
    return TOOL.run(kwargs)


@pytest.mark.parametrize(
    ("feature", "value", "points"),
    [
        ("composition", "cystic", 0),
        ("composition", "spongiform", 0),
        ("composition", "mixed_cystic_solid", 1),
        ("composition", "solid", 2),
        ("composition", "cannot_determine", 2),
        ("echogenicity", "anechoic", 0),
        ("echogenicity", "hyperechoic", 1),
        ("echogenicity", "isoechoic", 1),
        ("echogenicity", "hypoechoic", 2),
        ("echogenicity", "very_hypoechoic", 3),
        ("echogenicity", "cannot_determine", 1),
        ("shape", "wider_than_tall", 0),
        ("shape", "taller_than_wide", 3),
        ("margin", "smooth", 0),
        ("margin", "ill_defined", 0),
        ("margin", "lobulated", 2),
        ("margin", "irregular", 2),
        ("margin", "extrathyroidal_extension", 3),
        ("margin", "cannot_determine", 0),
        ("echogenic_foci", ["none"], 0),
        ("echogenic_foci", ["comet_tail"], 0),
        ("echogenic_foci", ["macrocalcifications"], 1),
        ("echogenic_foci", ["peripheral_rim"], 2),
        ("echogenic_foci", ["punctate"], 3),
    ],
    ids=lambda v: str(v),
)
def test_points_per_option(feature: str, value: object, points: int) -> None:
    base = (
        {**ZERO, "echogenicity": "isoechoic"} if feature == "composition" else ZERO
    )  # anechoic needs cystic
    result = run(**{**base, feature: value})
    if value == "spongiform":
        assert result.details["points"] == {"composition": 0}
        return
    assert result.details["points"][feature] == points


def test_echogenic_foci_are_additive() -> None:
    result = run(
        **{
            **ZERO,
            "composition": "solid",
            "echogenicity": "isoechoic",
            "echogenic_foci": ["macrocalcifications", "peripheral_rim", "punctate"],
        }
    )
    assert result.details["points"]["echogenic_foci"] == 6
    assert result.details["echogenic_foci_points"] == {
        "macrocalcifications": 1,
        "peripheral_rim": 2,
        "punctate": 3,
    }
    assert result.details["total"] == 2 + 1 + 6


def test_duplicate_foci_count_once() -> None:
    result = run(
        **{
            **ZERO,
            "composition": "solid",
            "echogenicity": "isoechoic",
            "echogenic_foci": ["punctate", "punctate"],
        }
    )
    assert result.details["points"]["echogenic_foci"] == 3


def test_spongiform_adds_no_points_for_other_features() -> None:
    # Lightbridge peers miss this rule; Tessler 2017: spongiform -> do not add further points.
    result = run(
        composition="spongiform",
        echogenicity="hypoechoic",
        shape="taller_than_wide",
        margin="lobulated",
        echogenic_foci=["punctate"],
        max_diameter_mm=30,
    )
    assert result.category == "TR1"
    assert result.details["total"] == 0
    assert result.management.startswith("No FNA")


@pytest.mark.parametrize(
    ("args", "total", "level"),
    [
        (ZERO, 0, "TR1"),
        ({**ZERO, "composition": "mixed_cystic_solid", "echogenicity": "isoechoic"}, 2, "TR2"),
        ({**ZERO, "composition": "solid", "echogenicity": "isoechoic"}, 3, "TR3"),
        ({**ZERO, "composition": "solid", "echogenicity": "hypoechoic"}, 4, "TR4"),
        ({**ZERO, "composition": "solid", "echogenicity": "hypoechoic", "margin": "lobulated"}, 6, "TR4"),
        (
            {**ZERO, "composition": "solid", "echogenicity": "hypoechoic", "echogenic_foci": ["punctate"]},
            7,
            "TR5",
        ),
        (
            {
                **ZERO,
                "composition": "solid",
                "echogenicity": "very_hypoechoic",
                "shape": "taller_than_wide",
                "margin": "extrathyroidal_extension",
                "echogenic_foci": ["macrocalcifications", "peripheral_rim", "punctate"],
            },
            17,
            "TR5",
        ),
    ],
    ids=["0-TR1", "2-TR2", "3-TR3", "4-TR4", "6-TR4", "7-TR5", "17-TR5"],
)
def test_levels_by_total(args: dict, total: int, level: str) -> None:
    result = run(**args)
    assert result.details["total"] == total
    assert result.category == level


@pytest.mark.parametrize(
    ("level_args", "risk"),
    [
        (ZERO, "0.3%"),
        ({**ZERO, "composition": "mixed_cystic_solid", "echogenicity": "isoechoic"}, "1.5%"),
        ({**ZERO, "composition": "solid", "echogenicity": "isoechoic"}, "4.8%"),
        ({**ZERO, "composition": "solid", "echogenicity": "hypoechoic"}, "9.1%"),
        (
            {**ZERO, "composition": "solid", "echogenicity": "hypoechoic", "echogenic_foci": ["punctate"]},
            "35%",
        ),
    ],
    ids=["TR1", "TR2", "TR3", "TR4", "TR5"],
)
def test_reported_risk(level_args: dict, risk: str) -> None:
    assert run(**level_args).risk == risk


def test_one_point_total_is_flagged_not_silently_mapped() -> None:
    # [open] in the criteria file: the chart has no level for 1 point (cystic + macrocalcification).
    result = run(**{**ZERO, "echogenic_foci": ["macrocalcifications"]}, max_diameter_mm=40)
    assert result.details["total"] == 1
    assert result.details["one_point_total"] is True
    assert result.risk is None
    assert any("1 point" in c and "no level" in c for c in result.caveats)
    assert result.category == "TR2"  # documented decision: the more conservative neighbour
    assert result.management.startswith("No FNA")  # the same for TR1 and TR2


# --- size thresholds: maximum diameter, inclusive ---------------------------------------------------

TR3 = {**ZERO, "composition": "solid", "echogenicity": "isoechoic"}
TR4 = {**ZERO, "composition": "solid", "echogenicity": "hypoechoic"}
TR5 = {**ZERO, "composition": "solid", "echogenicity": "hypoechoic", "echogenic_foci": ["punctate"]}


@pytest.mark.parametrize(
    ("args", "size", "action"),
    [
        (TR3, 14.9, "none"),
        (TR3, 15.0, "follow"),
        (TR3, 24.9, "follow"),
        (TR3, 25.0, "fna"),
        (TR4, 9.9, "none"),
        (TR4, 10.0, "follow"),
        (TR4, 14.9, "follow"),
        (TR4, 15.0, "fna"),
        (TR5, 4.9, "none"),
        (TR5, 5.0, "follow"),
        (TR5, 9.9, "follow"),
        (TR5, 10.0, "fna"),
        (ZERO, 60.0, "none"),
        ({**ZERO, "composition": "mixed_cystic_solid", "echogenicity": "isoechoic"}, 60.0, "none"),
    ],
    ids=[
        "TR3-14.9",
        "TR3-15",
        "TR3-24.9",
        "TR3-25",
        "TR4-9.9",
        "TR4-10",
        "TR4-14.9",
        "TR4-15",
        "TR5-4.9",
        "TR5-5",
        "TR5-9.9",
        "TR5-10",
        "TR1-60",
        "TR2-60",
    ],
)
def test_fna_and_follow_up_thresholds(args: dict, size: float, action: str) -> None:
    management = run(**args, max_diameter_mm=size).management
    if action == "fna":
        assert management.startswith("FNA")
    elif action == "follow":
        assert management.startswith("No FNA; follow-up")
    else:
        assert management.startswith("No FNA")
        assert re.search(r"no (ultrasound )?follow-up", management)


@pytest.mark.parametrize(
    ("args", "schedule"),
    [
        (TR3, "1, 3 and 5 years"),
        (TR4, "1, 2, 3 and 5 years"),
        (TR5, "every year for up to 5 years"),
    ],
    ids=["TR3", "TR4", "TR5"],
)
def test_follow_up_schedules(args: dict, schedule: str) -> None:
    size = {"TR3": 20.0, "TR4": 12.0, "TR5": 7.0}[run(**args).category]
    assert schedule in run(**args, max_diameter_mm=size).management


def test_radulator_tr3_follow_up_is_1_3_5_years() -> None:
    management = run(**TR3, max_diameter_mm=20).management
    assert "1, 3 and 5 years" in management and "1, 2, 3" not in management


@pytest.mark.parametrize("size", [15.0, 20.0], ids=["1.5cm", "2.0cm"])
def test_radulator_tr3_1_5_and_2_cm_get_follow_up(size: float) -> None:
    assert run(**TR3, max_diameter_mm=size).management.startswith("No FNA; follow-up")


def test_radulator_rim_calcification_case_totals_9() -> None:
    result = run(
        composition="solid",
        echogenicity="hypoechoic",
        shape="taller_than_wide",
        margin="smooth",
        echogenic_foci=["peripheral_rim"],
    )
    assert result.details["total"] == 9
    assert result.category == "TR5"


def test_tr5_5_to_9_mm_mentions_selected_biopsy() -> None:
    result = run(**TR5, max_diameter_mm=7)
    assert any("selected cases" in c for c in result.caveats)


def test_size_not_given_spells_out_thresholds() -> None:
    result = run(**TR4)
    assert result.category == "TR4"
    assert "1.5 cm" in result.management and "1 cm" in result.management
    assert any("max_diameter_mm" in c for c in result.caveats)


def test_mixed_nodule_caveat() -> None:
    result = run(**{**TR3, "composition": "mixed_cystic_solid"})
    assert any("predominant solid component" in c for c in result.caveats)


# --- missing inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        ({}, ["composition", "echogenicity", "shape", "margin", "echogenic_foci"]),
        ({"composition": "solid"}, ["echogenicity", "shape", "margin", "echogenic_foci"]),
        ({**ZERO, "echogenic_foci": None}, ["echogenic_foci"]),
        (
            {
                "composition": "solid",
                "echogenicity": "hypoechoic",
                "shape": "wider_than_tall",
                "margin": "smooth",
            },
            ["echogenic_foci"],
        ),
    ],
    ids=["nothing", "composition-only", "foci-unknown-0-to-6", "foci-unknown-4-to-10"],
)
def test_missing_features(args: dict, missing: list[str]) -> None:
    args = {k: v for k, v in args.items() if v is not None}
    result = run(**args)
    assert result.category is None and result.missing == missing


def test_spongiform_needs_nothing_else() -> None:
    result = run(composition="spongiform")
    assert result.category == "TR1" and result.missing == []


def test_level_decided_when_unknown_features_cannot_change_it() -> None:
    result = run(composition="solid", echogenicity="very_hypoechoic", echogenic_foci=["punctate"])
    assert result.category == "TR5"
    assert any("shape" in c and "margin" in c and "whatever" in c for c in result.caveats)


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"composition": "complex"}, "composition"),
        ({"echogenicity": "hypo"}, "echogenicity"),
        ({"shape": "round"}, "shape"),
        ({"margin": "spiculated"}, "margin"),
        ({"echogenic_foci": ["microcalcifications"]}, "echogenic_foci"),
        ({"echogenic_foci": []}, "echogenic_foci"),
        ({"max_diameter_mm": -5}, "max_diameter_mm"),
        ({"max_diameter_mm": 0}, "max_diameter_mm"),
        ({"size_cm": 1.2}, "size_cm"),
    ],
    ids=[
        "composition-lexicon",
        "echogenicity-lexicon",
        "shape-lexicon",
        "margin-lexicon",
        "foci-lexicon",
        "foci-empty",
        "negative-size",
        "zero-size",
        "unknown-field",
    ],
)
def test_field_errors_name_the_field(args: dict, field: str) -> None:
    with pytest.raises(ToolInputError) as exc:
        run(**args)
    assert field in str(exc.value)


def test_lexicon_error_lists_allowed_values() -> None:
    with pytest.raises(ToolInputError) as exc:
        run(composition="complex")
    assert "'spongiform'" in str(exc.value) and "'mixed_cystic_solid'" in str(exc.value)


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ({"echogenic_foci": ["none", "punctate"]}, ("echogenic_foci",)),
        ({"composition": "solid", "echogenicity": "anechoic"}, ("echogenicity", "composition")),
        ({"composition": "mixed_cystic_solid", "echogenicity": "anechoic"}, ("echogenicity", "composition")),
    ],
    ids=["none-with-foci", "anechoic-solid", "anechoic-mixed"],
)
def test_contradictions_name_the_fields(args: dict, fields: tuple[str, ...]) -> None:
    with pytest.raises(ToolInputError) as exc:
        run(**args)
    for name in fields:
        assert name in str(exc.value)
