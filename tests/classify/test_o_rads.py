"""O-RADS US v2022, written from the risk stratification and management table (project reference §6)."""

from __future__ import annotations

from typing import Any

import pytest

import tools.classify.o_rads  # noqa: F401  (registers the tool)
from tools.classify.base import ClassificationResult
from tools.registry import REGISTRY, ToolInputError

TOOL = REGISTRY.get("o_rads")
NO_ASCITES = {"ascites_or_peritoneal_nodules": False}


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run({**NO_ASCITES, **inputs})
    assert isinstance(result, ClassificationResult)
    return result


# --- O-RADS 0 and 1 ------------------------------------------------------------------------------------------


def test_incomplete_evaluation_is_0_before_anything_else() -> None:
    result = run(incomplete_evaluation=True, lesion_type="solid")
    assert result.category == "0"
    assert result.management is not None and "Repeat ultrasound or MRI" in result.management


def test_incomplete_evaluation_with_ascites_flags_the_unsettled_order() -> None:
    """Which comes first is not in the table: 0 is kept, with a caveat naming the O-RADS 5 criterion."""
    result = run(incomplete_evaluation=True, ascites_or_peritoneal_nodules=True, lesion_type="solid")
    assert result.category == "0"
    assert any("O-RADS 5 criterion" in c for c in result.caveats)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param({"lesion_type": "corpus_luteum", "max_diameter_mm": 30}, "1", id="corpus-luteum-3cm"),
        pytest.param(
            {"lesion_type": "corpus_luteum", "max_diameter_mm": 31}, None, id="corpus-luteum-over-3cm"
        ),
    ],
)
def test_corpus_luteum(inputs: dict[str, Any], expected: str | None) -> None:
    result = run(**inputs)
    assert result.category == expected and result.missing == []


# --- simple cysts and the 10 cm threshold ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diameter_mm", "menopause", "expected"),
    [
        pytest.param(20, "premenopausal", "1", id="pre-2cm-follicle"),
        pytest.param(30, "premenopausal", "1", id="pre-at-3cm-follicle"),
        pytest.param(30.1, "premenopausal", "2", id="pre-just-over-3cm"),
        pytest.param(60, "premenopausal", "2", id="pre-6cm"),
        pytest.param(99.9, "premenopausal", "2", id="pre-just-under-10cm"),
        pytest.param(100, "premenopausal", "3", id="pre-at-10cm"),
        pytest.param(100.1, "premenopausal", "3", id="pre-just-over-10cm"),
        pytest.param(20, "postmenopausal", "2", id="post-2cm"),
        pytest.param(30, "postmenopausal", "2", id="post-at-3cm"),
        pytest.param(60, "postmenopausal", "2", id="post-6cm"),
        pytest.param(100, "postmenopausal", "3", id="post-at-10cm"),
    ],
)
def test_simple_cyst(diameter_mm: float, menopause: str, expected: str) -> None:
    result = run(lesion_type="simple_cyst", max_diameter_mm=diameter_mm, menopausal_status=menopause)
    assert result.category == expected


def test_peer_mistake_simple_cyst_of_exactly_10cm_is_3_not_2() -> None:
    """Radulator: `size <= 10` -> O-RADS 2; v2022: >=10 cm -> O-RADS 3."""
    assert (
        run(lesion_type="simple_cyst", max_diameter_mm=100, menopausal_status="premenopausal").category == "3"
    )


def test_menopausal_status_is_needed_only_for_small_simple_cysts() -> None:
    assert run(lesion_type="simple_cyst", max_diameter_mm=25).missing == ["menopausal_status"]
    assert run(lesion_type="simple_cyst", max_diameter_mm=60).category == "2"


# --- cysts without solid component ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "wall", "diameter_mm", "color_score", "expected"),
    [
        pytest.param("unilocular_cyst", "smooth", 50, None, "2", id="uni-smooth-5cm"),
        pytest.param("unilocular_cyst", "smooth", 99, None, "2", id="uni-smooth-just-under-10cm"),
        pytest.param("unilocular_cyst", "smooth", 100, None, "3", id="uni-smooth-at-10cm"),
        pytest.param("unilocular_cyst", "irregular", 20, None, "3", id="uni-irregular-small"),
        pytest.param("unilocular_cyst", "irregular", 150, None, "3", id="uni-irregular-large"),
        pytest.param("bilocular_cyst", "smooth", 99, None, "2", id="bi-smooth-just-under-10cm"),
        pytest.param("bilocular_cyst", "smooth", 100, None, "3", id="bi-smooth-at-10cm"),
        pytest.param("multilocular_cyst", "smooth", 50, 1, "3", id="multi-smooth-lt10-CS1"),
        pytest.param("multilocular_cyst", "smooth", 99, 3, "3", id="multi-smooth-just-under-10-CS3"),
        pytest.param("multilocular_cyst", "smooth", 100, 1, "4", id="multi-smooth-at-10-CS1"),
        pytest.param("multilocular_cyst", "smooth", 150, 3, "4", id="multi-smooth-gt10-CS3"),
        pytest.param("multilocular_cyst", "smooth", 50, 4, "4", id="multi-smooth-small-CS4"),
        pytest.param("multilocular_cyst", "smooth", 150, 4, "4", id="multi-smooth-large-CS4"),
        pytest.param("multilocular_cyst", "irregular", 30, 1, "4", id="multi-irregular-small-CS1"),
        pytest.param("multilocular_cyst", "irregular", 150, 4, "4", id="multi-irregular-large-CS4"),
    ],
)
def test_cysts_without_solid_component(
    kind: str, wall: str, diameter_mm: float, color_score: int | None, expected: str
) -> None:
    inputs = {
        "lesion_type": kind,
        "solid_component": False,
        "inner_wall": wall,
        "max_diameter_mm": diameter_mm,
    }
    if color_score is not None:
        inputs["color_score"] = color_score
    assert run(**inputs).category == expected


def test_peer_mistake_unilocular_nonsimple_cyst_of_exactly_10cm_is_3() -> None:
    """Radulator: unilocular non-simple `size > 10` -> 3 (so exactly 10 cm -> 2); v2022: >=10 cm -> 3."""
    result = run(
        lesion_type="unilocular_cyst", solid_component=False, inner_wall="smooth", max_diameter_mm=100
    )
    assert result.category == "3"


def test_open_point_bilocular_cyst_with_irregular_inner_wall_is_not_determined() -> None:
    result = run(
        lesion_type="bilocular_cyst", solid_component=False, inner_wall="irregular", max_diameter_mm=50
    )
    assert result.category is None and result.missing == [] and result.not_applicable is None
    assert any("open" in line for line in result.rationale)
    assert any("open point" in c for c in result.caveats)


# --- cysts with solid component --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("projections", "expected"),
    [
        pytest.param(0, "4", id="0-projections-other-solid"),
        pytest.param(1, "4", id="1-projection"),
        pytest.param(3, "4", id="3-projections"),
        pytest.param(4, "5", id="4-projections"),
        pytest.param(6, "5", id="6-projections"),
    ],
)
def test_unilocular_cyst_with_solid_component(projections: int, expected: str) -> None:
    result = run(lesion_type="unilocular_cyst", solid_component=True, papillary_projections=projections)
    assert result.category == expected


@pytest.mark.parametrize("kind", ["bilocular_cyst", "multilocular_cyst"])
@pytest.mark.parametrize(("color_score", "expected"), [(1, "4"), (2, "4"), (3, "5"), (4, "5")])
def test_bi_and_multilocular_cyst_with_solid_component(kind: str, color_score: int, expected: str) -> None:
    result = run(lesion_type=kind, solid_component=True, color_score=color_score, max_diameter_mm=60)
    assert result.category == expected


def test_papillary_projections_imply_a_solid_component() -> None:
    result = run(lesion_type="unilocular_cyst", papillary_projections=2)
    assert result.category == "4" and result.inputs["solid_component"] is True


# --- solid lesions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contour", "color_score", "shadowing", "expected"),
    [
        pytest.param("irregular", 1, False, "5", id="irregular-CS1"),
        pytest.param("irregular", 4, False, "5", id="irregular-CS4"),
        pytest.param("smooth", 1, False, "3", id="smooth-CS1"),
        pytest.param("smooth", 1, True, "3", id="smooth-CS1-shadowing"),
        pytest.param("smooth", 2, False, "4", id="smooth-CS2"),
        pytest.param("smooth", 3, False, "4", id="smooth-CS3"),
        pytest.param("smooth", 2, True, "3", id="smooth-CS2-shadowing"),
        pytest.param("smooth", 3, True, "3", id="smooth-CS3-shadowing"),
        pytest.param("smooth", 4, False, "5", id="smooth-CS4"),
        pytest.param("smooth", 4, True, None, id="smooth-CS4-shadowing-open"),
    ],
)
def test_solid_lesions(contour: str, color_score: int, shadowing: bool, expected: str | None) -> None:
    result = run(lesion_type="solid", outer_contour=contour, color_score=color_score, shadowing=shadowing)
    assert result.category == expected and result.missing == []


def test_irregular_solid_lesion_needs_no_colour_score() -> None:
    result = run(lesion_type="solid", outer_contour="irregular")
    assert result.category == "5" and result.missing == []


def test_unstated_shadowing_is_absent_with_a_caveat() -> None:
    result = run(lesion_type="solid", outer_contour="smooth", color_score=2)
    assert result.category == "4"
    assert any("shadowing" in c and "O-RADS 3" in c for c in result.caveats)


# --- classic benign lesions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hemorrhagic_cyst", "dermoid", "endometrioma"])
@pytest.mark.parametrize(("diameter_mm", "expected"), [(99.9, "2"), (100, "3"), (120, "3")])
def test_classic_benign_lesions_by_size(kind: str, diameter_mm: float, expected: str) -> None:
    assert run(lesion_type=kind, max_diameter_mm=diameter_mm).category == expected


@pytest.mark.parametrize("kind", ["paraovarian_cyst", "peritoneal_inclusion_cyst", "hydrosalpinx"])
def test_extraovarian_classic_benign_lesions_are_2(kind: str) -> None:
    result = run(lesion_type=kind)
    assert result.category == "2" and result.missing == []


# --- ascites / peritoneal nodules ------------------------------------------------------------------------------------


def test_ascites_or_peritoneal_nodules_make_5() -> None:
    result = run(lesion_type="simple_cyst", max_diameter_mm=40, ascites_or_peritoneal_nodules=True)
    assert result.category == "5"


def test_unstated_ascites_is_absent_with_a_caveat() -> None:
    result = TOOL.run({"lesion_type": "simple_cyst", "max_diameter_mm": 40})
    assert result.category == "2"
    assert any("ascites_or_peritoneal_nodules" in c and "O-RADS 5" in c for c in result.caveats)


# --- management and risk per category --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "category", "management", "risk"),
    [
        pytest.param({"lesion_type": "dermoid", "max_diameter_mm": 40}, "2", "not determined", "<1%", id="2"),
        pytest.param(
            {"lesion_type": "dermoid", "max_diameter_mm": 120}, "3", "within 6 months", "1 to <10%", id="3"
        ),
        pytest.param(
            {"lesion_type": "unilocular_cyst", "papillary_projections": 1}, "4", "MRI", "10 to <50%", id="4"
        ),
        pytest.param(
            {"lesion_type": "solid", "outer_contour": "irregular"},
            "5",
            "gynaecologic oncologist",
            ">=50%",
            id="5",
        ),
    ],
)
def test_management_and_risk(inputs: dict[str, Any], category: str, management: str, risk: str) -> None:
    result = run(**inputs)
    assert result.category == category
    assert result.management is not None and management in result.management
    assert result.risk == f"{risk} risk of malignancy"
    assert "Radiology 2023;308" in result.citation


def test_o_rads_2_interval_is_an_open_point_where_not_encoded() -> None:
    result = run(lesion_type="dermoid", max_diameter_mm=40)
    assert result.category == "2"
    assert any("open point" in c for c in result.caveats)
    assert result.management is not None and "month" not in result.management  # no invented interval


# Issue 11: O-RADS 2 follow-up by lesion type, size and menopausal status (O-RADS US management table).
@pytest.mark.parametrize(
    ("lesion", "size_mm", "menopause", "expected"),
    [
        ("simple_cyst", 31, "premenopausal", "No follow-up imaging."),
        ("simple_cyst", 50, "premenopausal", "No follow-up imaging."),
        ("simple_cyst", 51, "premenopausal", "Follow-up ultrasound in 8-12 weeks."),
        ("simple_cyst", 99, "premenopausal", "Follow-up ultrasound in 8-12 weeks."),
        ("simple_cyst", 30, "postmenopausal", "No follow-up imaging."),
        ("simple_cyst", 31, "postmenopausal", "Follow-up ultrasound at 1 year"),
        ("simple_cyst", 60, "postmenopausal", "Follow-up ultrasound at 1 year"),
        ("unilocular_cyst", 30, "premenopausal", "No follow-up imaging."),
        ("unilocular_cyst", 31, "premenopausal", "Follow-up ultrasound in 8-12 weeks"),
    ],
)
def test_o_rads_2_follow_up_by_size_and_menopause(
    lesion: str, size_mm: float, menopause: str, expected: str
) -> None:
    extra = {"solid_component": False, "inner_wall": "smooth"} if lesion == "unilocular_cyst" else {}
    result = run(lesion_type=lesion, max_diameter_mm=size_mm, menopausal_status=menopause, **extra)
    assert result.category == "2"
    assert result.management is not None and expected in result.management


def test_o_rads_2_without_menopausal_status_gives_both_rows() -> None:
    result = run(lesion_type="simple_cyst", max_diameter_mm=40)
    assert result.category == "2"
    assert result.management == (
        "Almost certainly benign. Premenopausal: no follow-up imaging; Postmenopausal: follow-up ultrasound at 1 "
        "year to show stability or decrease in size."
    )


# --- missing inputs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "missing"),
    [
        pytest.param({}, ["lesion_type"], id="nothing"),
        pytest.param({"lesion_type": "simple_cyst"}, ["max_diameter_mm"], id="simple-cyst-without-size"),
        pytest.param(
            {"lesion_type": "unilocular_cyst", "solid_component": True},
            ["papillary_projections"],
            id="uni-solid-count",
        ),
        pytest.param(
            {"lesion_type": "multilocular_cyst", "solid_component": True},
            ["color_score"],
            id="multi-solid-CS",
        ),
        pytest.param({"lesion_type": "solid"}, ["color_score", "outer_contour"], id="solid-contour-and-CS"),
        pytest.param(
            {
                "lesion_type": "multilocular_cyst",
                "inner_wall": "smooth",
                "max_diameter_mm": 50,
                "color_score": 3,
            },
            ["solid_component"],
            id="solid-component-decides-3-or-5",
        ),
    ],
)
def test_missing_inputs(inputs: dict[str, Any], missing: list[str]) -> None:
    result = run(**inputs)
    assert result.category is None and result.missing == missing


def test_an_input_that_cannot_change_the_category_is_not_asked() -> None:
    """Multilocular smooth 12 cm CS 2: without solid component -> 4; with one (CS 1-2) -> 4."""
    result = run(lesion_type="multilocular_cyst", inner_wall="smooth", max_diameter_mm=120, color_score=2)
    assert result.category == "4" and result.missing == []
    assert any("Not stated: solid_component" in line for line in result.rationale)


# --- validation errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "field", "allowed"),
    [
        pytest.param(
            {"lesion_type": "complex_cyst"}, "lesion_type", "'simple_cyst'", id="lesion-type-lexicon"
        ),
        pytest.param({"color_score": 0}, "color_score", "greater than or equal to 1", id="CS-0"),
        pytest.param({"color_score": 5}, "color_score", "less than or equal to 4", id="CS-5"),
        pytest.param({"color_score": True}, "color_score", "not a boolean", id="CS-boolean"),
        pytest.param({"max_diameter_mm": 0}, "max_diameter_mm", "greater than 0", id="size-zero"),
        pytest.param({"max_diameter_mm": float("nan")}, "max_diameter_mm", "finite", id="size-nan"),
        pytest.param({"max_diameter_mm": "6 cm"}, "max_diameter_mm", "valid number", id="size-with-unit"),
        pytest.param({"inner_wall": "rough"}, "inner_wall", "'smooth' or 'irregular'", id="wall-lexicon"),
        pytest.param(
            {"menopausal_status": "perimenopausal"},
            "menopausal_status",
            "'premenopausal'",
            id="perimenopausal",
        ),
        pytest.param(
            {"papillary_projections": -1},
            "papillary_projections",
            "greater than or equal to 0",
            id="PP-negative",
        ),
        pytest.param({"size_cm": 6}, "size_cm", "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_validation_errors_name_the_field_and_what_is_allowed(
    inputs: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(ToolInputError) as err:
        run(**inputs)
    assert field in str(err.value) and allowed in str(err.value)


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        pytest.param(
            {"lesion_type": "unilocular_cyst", "papillary_projections": 2, "solid_component": False},
            ("papillary_projections", "solid_component"),
            id="projections-without-solid-component",
        ),
        pytest.param(
            {"lesion_type": "simple_cyst", "solid_component": True},
            ("simple_cyst", "solid_component"),
            id="simple-with-solid",
        ),
        pytest.param(
            {"lesion_type": "simple_cyst", "inner_wall": "irregular"},
            ("simple_cyst", "inner_wall"),
            id="simple-irregular",
        ),
        pytest.param(
            {"lesion_type": "corpus_luteum", "menopausal_status": "postmenopausal"},
            ("corpus_luteum", "menopausal_status"),
            id="corpus-luteum-postmenopausal",
        ),
        pytest.param(
            {"lesion_type": "solid", "papillary_projections": 2},
            ("papillary_projections", "solid"),
            id="projections-on-solid",
        ),
    ],
)
def test_contradictions_name_the_fields(inputs: dict[str, Any], fields: tuple[str, ...]) -> None:
    with pytest.raises(ToolInputError) as err:
        run(**inputs)
    assert all(f in str(err.value) for f in fields)
