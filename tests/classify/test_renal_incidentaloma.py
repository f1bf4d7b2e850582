"""ACR incidental renal mass white paper (Herts 2018), from the project reference §10 summary."""

from __future__ import annotations

from typing import Any

import pytest

import tools
from tools.classify.base import ClassificationResult
from tools.registry import ToolInputError

TOOL = tools.load_tools().get("renal_incidentaloma")
SIMPLE = "benign: simple cyst"
HYPERDENSE = "benign: hyperdense cyst"
INDETERMINATE = "indeterminate (21-69 HU)"
AML = "angiomyolipoma (macroscopic fat)"


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run(inputs)
    assert isinstance(result, ClassificationResult)
    return result


@pytest.mark.parametrize(
    ("hu", "category"),
    [
        pytest.param(-11, AML, id="-11HU-fat"),
        pytest.param(-10.1, AML, id="-10.1HU-fat"),
        pytest.param(-10, SIMPLE, id="-10HU-simple-at"),
        pytest.param(-9, SIMPLE, id="-9HU-simple"),
        pytest.param(19, SIMPLE, id="19HU-simple"),
        pytest.param(20, SIMPLE, id="20HU-simple-at"),
        pytest.param(21, INDETERMINATE, id="21HU-indeterminate-at"),
        pytest.param(69, INDETERMINATE, id="69HU-indeterminate-at"),
        pytest.param(70, HYPERDENSE, id="70HU-hyperdense-at"),
        pytest.param(71, HYPERDENSE, id="71HU-hyperdense"),
    ],
)
def test_homogeneous_mass_at_unenhanced_ct(hu: float, category: str) -> None:
    result = run(homogeneous=True, unenhanced_hu=hu)
    assert result.category == category


@pytest.mark.parametrize("category", [SIMPLE, HYPERDENSE])
def test_benign_cysts_need_no_follow_up(category: str) -> None:
    hu = 10 if category == SIMPLE else 80
    result = run(homogeneous=True, unenhanced_hu=hu)
    assert result.category == category
    assert result.management is not None and "no follow-up" in result.management


def test_indeterminate_goes_to_renal_mass_ct_or_mri() -> None:
    result = run(homogeneous=True, unenhanced_hu=45)
    assert result.management == "Indeterminate: renal-mass protocol CT or MRI."


@pytest.mark.parametrize("hu", [20.5, 69.5])
def test_decimal_values_between_published_ranges_are_indeterminate_with_a_caveat(hu: float) -> None:
    result = run(homogeneous=True, unenhanced_hu=hu)
    assert result.category == INDETERMINATE
    assert any("between the published whole-HU ranges" in c for c in result.caveats)


@pytest.mark.parametrize(
    ("enhancement", "category"),
    [
        pytest.param(9, "non-enhancing", id="9HU-none"),
        pytest.param(10, "non-enhancing", id="10HU-none-at"),
        pytest.param(10.1, "equivocal enhancement", id="10.1HU-equivocal"),
        pytest.param(11, "equivocal enhancement", id="11HU-equivocal"),
        pytest.param(19, "equivocal enhancement", id="19HU-equivocal"),
        pytest.param(19.9, "equivocal enhancement", id="19.9HU-equivocal"),
        pytest.param(20, "enhancing", id="20HU-enhancing-at"),
        pytest.param(21, "enhancing", id="21HU-enhancing"),
        pytest.param(-3, "non-enhancing", id="negative-change"),
    ],
)
def test_enhancement_thresholds(enhancement: float, category: str) -> None:
    assert run(enhancement_hu=enhancement).category == category


@pytest.mark.parametrize(
    ("enhanced", "category"),
    [
        pytest.param(40, "non-enhancing", id="computed-10"),
        pytest.param(41, "equivocal enhancement", id="computed-11"),
        pytest.param(49, "equivocal enhancement", id="computed-19"),
        pytest.param(50, "enhancing", id="computed-20"),
    ],
)
def test_enhancement_is_computed_from_unenhanced_and_enhanced(enhanced: float, category: str) -> None:
    result = run(unenhanced_hu=30, enhanced_hu=enhanced)
    assert result.category == category
    assert result.details["enhancement_hu"] == enhanced - 30


def test_enhancement_outranks_unenhanced_attenuation() -> None:
    """A mass in the simple-cyst range that enhances by 25 HU is an enhancing mass, not a cyst."""
    result = run(homogeneous=True, unenhanced_hu=15, enhanced_hu=40)
    assert result.category == "enhancing"
    assert result.management is not None and "not encoded" in result.management


def test_equivocal_enhancement_is_characterised_further() -> None:
    result = run(enhancement_hu=15)
    assert result.management is not None and "renal-mass protocol CT or MRI" in result.management


def test_macroscopic_fat_is_angiomyolipoma_before_anything_else() -> None:
    result = run(macroscopic_fat=True, cystic=True, enhancement_hu=40)
    assert result.category == AML
    assert result.management is not None and "not encoded" in result.management


def test_cystic_mass_goes_to_bosniak() -> None:
    result = run(cystic=True, unenhanced_hu=15, homogeneous=True)
    assert result.category is None
    assert result.not_applicable is not None and "bosniak" in result.not_applicable.lower()


def test_non_cystic_mass_is_classified() -> None:
    assert run(cystic=False, homogeneous=True, unenhanced_hu=15).category == SIMPLE


@pytest.mark.parametrize(
    ("inputs", "missing"),
    [
        pytest.param({}, ["unenhanced_hu", "enhancement_hu"], id="nothing"),
        pytest.param({"enhanced_hu": 60}, ["unenhanced_hu", "enhancement_hu"], id="enhanced-only"),
        pytest.param({"unenhanced_hu": 30}, ["homogeneous"], id="homogeneity-unknown"),
        pytest.param({"unenhanced_hu": 30, "homogeneous": False}, ["enhancement_hu"], id="heterogeneous"),
        pytest.param({"homogeneous": False}, ["enhancement_hu"], id="heterogeneous-no-values"),
    ],
)
def test_missing_inputs_are_listed(inputs: dict[str, Any], missing: list[str]) -> None:
    result = run(**inputs)
    assert result.category is None and result.not_applicable is None
    assert result.missing == missing


@pytest.mark.parametrize(
    ("inputs", "fragments"),
    [
        pytest.param(
            {"macroscopic_fat": False, "unenhanced_hu": -30}, ["macroscopic_fat", "unenhanced_hu"], id="fat"
        ),
        pytest.param(
            {"unenhanced_hu": 30, "enhanced_hu": 60, "enhancement_hu": 10},
            ["enhancement_hu", "enhanced_hu", "unenhanced_hu"],
            id="enhancement-contradicts-values",
        ),
        pytest.param({"unenhanced_hu": -2000}, ["unenhanced_hu", "-1024"], id="below-ct-scale"),
        pytest.param({"cystic": "maybe"}, ["cystic"], id="cystic-not-bool"),
        pytest.param({"bosniak": "II"}, ["bosniak", "Extra inputs"], id="unknown-field"),
    ],
)
def test_invalid_inputs_name_the_fields(inputs: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ToolInputError) as err:
        TOOL.run(inputs)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_enhancement_within_rounding_of_the_values_is_accepted() -> None:
    assert run(unenhanced_hu=30, enhanced_hu=60, enhancement_hu=30.5).category == "enhancing"


def test_every_result_is_cited_and_cautious() -> None:
    result = run(homogeneous=True, unenhanced_hu=10)
    assert "Herts" in result.citation and "2018" in result.citation
    assert any("confirm against the white paper" in c for c in result.caveats)
