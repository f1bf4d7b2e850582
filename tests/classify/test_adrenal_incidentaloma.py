"""ACR adrenal incidentaloma white paper (Mayo-Smith 2017), from the project reference §9 flowchart summary."""

from __future__ import annotations

from typing import Any

import pytest

import tools
from tools.classify.base import ClassificationResult
from tools.registry import ToolInputError

TOOL = tools.load_tools().get("adrenal_incidentaloma")
NO_HISTORY = {"prior_imaging": "none", "cancer_history": False}


def run(**inputs: Any) -> ClassificationResult:
    result = TOOL.run(inputs)
    assert isinstance(result, ClassificationResult)
    return result


# --- size < 1 cm ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "category"),
    [
        pytest.param(9.9, "<1 cm", id="just-below-1cm"),
        pytest.param(10, "indeterminate 1–<2 cm", id="at-1cm"),
        pytest.param(10.1, "indeterminate 1–<2 cm", id="just-above-1cm"),
    ],
)
def test_masses_under_1_cm_need_no_work_up(size: float, category: str) -> None:
    result = run(size_mm=size, **NO_HISTORY)
    assert result.category == category
    if category == "<1 cm":
        assert result.management == "No further work-up."


def test_under_1_cm_needs_nothing_else() -> None:
    result = run(size_mm=8)
    assert result.category == "<1 cm" and result.missing == []


# --- diagnostic benign features ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hu", "category"),
    [
        pytest.param(9, "benign: lipid-rich adenoma (CT)", id="9HU-below"),
        pytest.param(9.9, "benign: lipid-rich adenoma (CT)", id="9.9HU-below"),
        pytest.param(10, "benign: lipid-rich adenoma (CT)", id="10HU-at-inclusive"),
        pytest.param(10.1, "indeterminate 1–<2 cm", id="10.1HU-above"),
        pytest.param(11, "indeterminate 1–<2 cm", id="11HU-above"),
        pytest.param(-5, "benign: lipid-rich adenoma (CT)", id="negative-HU"),
    ],
)
def test_unenhanced_ct_10_hu_or_less_is_lipid_rich_adenoma(hu: float, category: str) -> None:
    result = run(size_mm=15, unenhanced_hu=hu, **NO_HISTORY)
    assert result.category == category


def test_peer_mistake_exactly_10_hu_is_adenoma_with_a_caveat() -> None:
    """openradx/medreporter codes '< 10 HU'; the ACR white paper says <= 10 HU."""
    result = run(size_mm=25, unenhanced_hu=10)
    assert result.category == "benign: lipid-rich adenoma (CT)"
    assert result.management == "Benign; no further work-up."
    assert any("Exactly 10 HU" in c and "<10 HU" in c for c in result.caveats)


def test_9_hu_has_no_boundary_caveat() -> None:
    result = run(size_mm=25, unenhanced_hu=9)
    assert not any("Exactly 10 HU" in c for c in result.caveats)


def test_macroscopic_fat_is_myelolipoma_at_any_size() -> None:
    result = run(size_mm=80, macroscopic_fat=True)
    assert result.category == "benign: myelolipoma"
    assert result.management == "Benign; no further work-up."


def test_chemical_shift_signal_loss_is_lipid_rich_adenoma() -> None:
    result = run(size_mm=30, chemical_shift_signal_loss=True)
    assert result.category == "benign: lipid-rich adenoma (MRI)"


def test_no_signal_loss_is_not_a_benign_feature() -> None:
    result = run(size_mm=30, chemical_shift_signal_loss=False, **NO_HISTORY)
    assert result.category == "indeterminate 2–<4 cm"


@pytest.mark.parametrize("appearance", ["cyst", "hemorrhage", "calcified"])
def test_other_benign_appearances(appearance: str) -> None:
    result = run(size_mm=30, benign_appearance=appearance)
    assert result.category == f"benign: {appearance}"


def test_calcified_carries_a_caveat() -> None:
    result = run(size_mm=30, benign_appearance="calcified")
    assert any("calcif" in c.lower() for c in result.caveats[:-1])


# --- washout: APW = (E - D) / (E - U) x 100 >= 60 %, RPW = (E - D) / E x 100 >= 40 % -------------


@pytest.mark.parametrize(
    ("delayed", "absolute", "adenoma"),
    [
        pytest.param(64.6, 59.0, False, id="APW-59-below"),
        pytest.param(64, 60.0, True, id="APW-60-at"),
        pytest.param(63.4, 61.0, True, id="APW-61-above"),
    ],
)
def test_absolute_washout_60_percent(delayed: float, absolute: float, adenoma: bool) -> None:
    # U 40, E 100: RPW stays below 40 % (36-36.6 %), so only the absolute washout can decide.
    result = run(size_mm=25, unenhanced_hu=40, enhanced_hu=100, delayed_hu=delayed, **NO_HISTORY)
    assert result.details["absolute_washout_pct"] == absolute
    assert result.details["relative_washout_pct"] < 40
    assert (result.category == "benign: adenoma (washout)") is adenoma
    if not adenoma:
        assert result.category == "indeterminate 2–<4 cm"


@pytest.mark.parametrize(
    ("delayed", "relative", "adenoma"),
    [
        pytest.param(61, 39.0, False, id="RPW-39-below"),
        pytest.param(60, 40.0, True, id="RPW-40-at"),
        pytest.param(59, 41.0, True, id="RPW-41-above"),
    ],
)
def test_relative_washout_40_percent_without_unenhanced(
    delayed: float, relative: float, adenoma: bool
) -> None:
    result = run(size_mm=25, enhanced_hu=100, delayed_hu=delayed, **NO_HISTORY)
    assert result.details == {"relative_washout_pct": relative}
    assert (result.category == "benign: adenoma (washout)") is adenoma


def test_washout_figures_are_reported() -> None:
    result = run(size_mm=25, unenhanced_hu=20, enhanced_hu=120, delayed_hu=60)
    assert result.details == {"absolute_washout_pct": 60.0, "relative_washout_pct": 50.0}
    assert result.category == "benign: adenoma (washout)"
    assert any("absolute washout 60.0 %" in r and "relative washout 50.0 %" in r for r in result.rationale)


@pytest.mark.parametrize(
    ("inputs", "adenoma"),
    [
        pytest.param({"absolute_washout_pct": 59.9}, False, id="reported-APW-below"),
        pytest.param({"absolute_washout_pct": 60}, True, id="reported-APW-at"),
        pytest.param({"relative_washout_pct": 39.9}, False, id="reported-RPW-below"),
        pytest.param({"relative_washout_pct": 40}, True, id="reported-RPW-at"),
    ],
)
def test_reported_washout_percentages(inputs: dict[str, float], adenoma: bool) -> None:
    result = run(size_mm=25, **NO_HISTORY, **inputs)
    assert (result.category == "benign: adenoma (washout)") is adenoma


def test_washout_below_thresholds_stays_indeterminate_with_a_caveat() -> None:
    result = run(size_mm=25, unenhanced_hu=30, enhanced_hu=100, delayed_hu=90, **NO_HISTORY)
    assert result.category == "indeterminate 2–<4 cm"
    assert any("does not establish an adenoma" in c for c in result.caveats)


# --- indeterminate 1-4 cm ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "category", "management"),
    [
        pytest.param(19.9, "indeterminate 1–<2 cm", "consider a 12-month", id="19.9mm-below-2cm"),
        pytest.param(20, "indeterminate 2–<4 cm", "washout", id="20mm-at-2cm"),
        pytest.param(20.1, "indeterminate 2–<4 cm", "washout", id="20.1mm-above-2cm"),
        pytest.param(39.9, "indeterminate 2–<4 cm", "chemical-shift MRI", id="39.9mm-below-4cm"),
        pytest.param(40, "≥4 cm", "Consider resection", id="40mm-at-4cm"),
        pytest.param(40.1, "≥4 cm", "Consider resection", id="40.1mm-above-4cm"),
    ],
)
def test_size_bands_without_prior_imaging_or_cancer(size: float, category: str, management: str) -> None:
    result = run(size_mm=size, **NO_HISTORY)
    assert result.category == category
    assert result.management is not None and management in result.management


@pytest.mark.parametrize(
    ("months", "category"),
    [
        pytest.param(11.9, "indeterminate 2–<4 cm", id="stable-11.9-months-below"),
        pytest.param(12, "stable ≥1 year", id="stable-12-months-at"),
        pytest.param(12.1, "stable ≥1 year", id="stable-12.1-months-above"),
    ],
)
def test_stability_for_at_least_one_year_is_benign(months: float, category: str) -> None:
    result = run(size_mm=25, prior_imaging="stable", stable_months=months, cancer_history=False)
    assert result.category == category
    if category == "stable ≥1 year":
        assert result.management == "Benign; no further work-up."
    else:
        assert any("less than 1 year" in c for c in result.caveats)


def test_stable_one_year_is_benign_even_with_cancer_history() -> None:
    result = run(size_mm=25, prior_imaging="stable", stable_months=24, cancer_history=True)
    assert result.category == "stable ≥1 year"


@pytest.mark.parametrize(
    ("cancer", "management"),
    [
        pytest.param(False, "Adrenal-protocol CT (washout) or resection.", id="no-cancer-history"),
        pytest.param(True, "Biopsy or PET/CT.", id="cancer-history"),
    ],
)
def test_new_or_enlarging(cancer: bool, management: str) -> None:
    result = run(size_mm=25, prior_imaging="new_or_enlarging", cancer_history=cancer)
    assert result.category == "indeterminate 1–4 cm, new or enlarging"
    assert result.management == management


def test_cancer_history_without_prior_imaging_is_not_encoded() -> None:
    result = run(size_mm=15, prior_imaging="none", cancer_history=True)
    assert result.category == "indeterminate 1–4 cm, cancer history"
    assert result.management is not None and "not encoded" in result.management
    assert any("no pathway" in c for c in result.caveats)


@pytest.mark.parametrize(
    ("cancer", "management"),
    [
        pytest.param(False, "Consider resection.", id="no-cancer-history"),
        pytest.param(True, "PET/CT or biopsy.", id="cancer-history"),
    ],
)
def test_4_cm_or_more_without_benign_features(cancer: bool, management: str) -> None:
    result = run(size_mm=50, cancer_history=cancer)
    assert result.category == "≥4 cm"
    assert result.management == management


def test_large_mass_ignores_stability_with_a_caveat() -> None:
    result = run(size_mm=45, prior_imaging="stable", stable_months=24, cancer_history=False)
    assert result.category == "≥4 cm"
    assert any("not applied at ≥4 cm" in c for c in result.caveats)


# --- missing inputs, scope, validation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "missing"),
    [
        pytest.param({}, ["size_mm"], id="nothing"),
        pytest.param({"unenhanced_hu": 30}, ["size_mm"], id="no-size"),
        pytest.param({"size_mm": 15}, ["prior_imaging"], id="1-4cm-no-prior"),
        pytest.param({"size_mm": 15, "prior_imaging": "none"}, ["cancer_history"], id="1-4cm-no-history"),
        pytest.param({"size_mm": 15, "prior_imaging": "stable"}, ["stable_months"], id="stable-how-long"),
        pytest.param(
            {"size_mm": 15, "prior_imaging": "new_or_enlarging"}, ["cancer_history"], id="growing-history"
        ),
        pytest.param({"size_mm": 45}, ["cancer_history"], id="4cm-no-history"),
    ],
)
def test_missing_inputs_are_listed(inputs: dict[str, Any], missing: list[str]) -> None:
    result = run(**inputs)
    assert result.category is None
    assert result.missing == missing


@pytest.mark.parametrize("scope", [{"adult": False}, {"incidental": False}])
def test_out_of_scope_is_not_applicable(scope: dict[str, bool]) -> None:
    result = run(size_mm=25, **scope)
    assert result.category is None
    assert result.not_applicable is not None and "white paper covers" in result.not_applicable


@pytest.mark.parametrize(
    ("inputs", "fragments"),
    [
        pytest.param({"size_mm": 0}, ["size_mm", "greater than 0"], id="size-zero"),
        pytest.param({"size_mm": 301}, ["size_mm", "300"], id="size-too-large"),
        pytest.param(
            {"size_mm": 20, "prior_imaging": "old"}, ["prior_imaging", "'none'", "'stable'"], id="prior"
        ),
        pytest.param(
            {"size_mm": 20, "benign_appearance": "lipoma"}, ["benign_appearance", "'cyst'"], id="benign"
        ),
        pytest.param(
            {"size_mm": 20, "stable_months": 24}, ["stable_months", "prior_imaging"], id="months-no-prior"
        ),
        pytest.param(
            {"size_mm": 20, "prior_imaging": "none", "stable_months": 24},
            ["stable_months", "prior_imaging"],
            id="months-with-no-prior",
        ),
        pytest.param(
            {"size_mm": 20, "unenhanced_hu": 40, "enhanced_hu": 35, "delayed_hu": 30},
            ["enhanced_hu", "unenhanced_hu"],
            id="no-enhancement",
        ),
        pytest.param(
            {"size_mm": 20, "enhanced_hu": -5, "delayed_hu": -10}, ["enhanced_hu"], id="enhanced-not-positive"
        ),
        pytest.param(
            {
                "size_mm": 20,
                "unenhanced_hu": 40,
                "enhanced_hu": 100,
                "delayed_hu": 64,
                "absolute_washout_pct": 75,
            },
            ["absolute_washout_pct"],
            id="reported-APW-contradicts-HU",
        ),
        pytest.param({"size_mm": 20, "size": 20}, ["size", "Extra inputs"], id="unknown-field"),
    ],
)
def test_invalid_inputs_name_the_fields(inputs: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ToolInputError) as err:
        TOOL.run(inputs)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_every_result_is_cited_and_cautious() -> None:
    result = run(size_mm=25, **NO_HISTORY)
    assert "Mayo-Smith" in result.citation and "2017" in result.citation
    assert any("confirm against the white paper" in c for c in result.caveats)
    assert result.inputs == {"size_mm": 25.0, **NO_HISTORY}
