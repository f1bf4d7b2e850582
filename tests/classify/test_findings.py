"""The glue from free text to a classification: system inference, extraction, model gap filling, classify_text."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

import tools
from common.errors import RadassistError
from tools.classify.base import ClassificationResult, Extraction
from tools.classify.findings import (
    NoSystemError,
    UnknownSystemError,
    classify_text,
    extract_findings,
    fill_gaps,
    infer_system,
    rank_systems,
)
from tools.classify.text import find_measurements
from tools.registry import Tool, ToolRegistry, tool

REGISTRY = tools.load_tools()


# --- a private registry of fake systems: inference must work for any registered tool ------------


class NoduleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size_mm: float | None = Field(default=None, gt=0, description="Nodule size in mm.")
    composition: Literal["solid", "part_solid", "ground_glass"] | None = Field(
        default=None, description="Type."
    )


class RequiredInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size_mm: float = Field(gt=0, description="Required size in mm.")
    lobe: str | None = Field(default=None, description="Free-text location.")


def _read_size(system: str, text: str) -> Extraction:
    found = Extraction(system=system)
    sizes = find_measurements(text)
    if sizes:
        found.inputs["size_mm"] = sizes[0].longest_mm
        found.evidence["size_mm"] = sizes[0].text
    else:
        found.undetermined.append("size_mm")
    return found


def _result(system: str, inp: BaseModel) -> ClassificationResult:
    size = getattr(inp, "size_mm", None)
    if size is None:
        return ClassificationResult(system=system, guideline="fake", citation="fake", missing=["size_mm"])
    return ClassificationResult(system=system, guideline="fake", citation="fake", category=f"size {size:g}")


def fleischner_like(inp: NoduleInput) -> ClassificationResult:
    return _result("fleischner", inp)


def lung_rads_like(inp: NoduleInput) -> ClassificationResult:
    return _result("lung_rads", inp)


def thyroid_like(inp: NoduleInput) -> ClassificationResult:
    return _result("thyroid_later", inp)


def twin_a(inp: NoduleInput) -> ClassificationResult:
    return _result("twin_a", inp)


def twin_b(inp: NoduleInput) -> ClassificationResult:
    return _result("twin_b", inp)


def strict_like(inp: RequiredInput) -> ClassificationResult:
    return _result("strict", inp)


def not_a_classifier(inp: NoduleInput) -> ClassificationResult:
    return _result("helper", inp)


def _broken_extractor(text: str) -> Extraction:
    raise RuntimeError("bug in a plugin extractor")


def _register(reg: ToolRegistry, func: Any, name: str, triggers: tuple[str, ...], **kw: Any) -> None:
    tool(
        name=name,
        description=f"fake {name}",
        version="fake 1",
        kind=kw.pop("kind", "classification"),
        extractor=kw.pop("extractor", lambda text: _read_size(name, text)),
        triggers=triggers,
        registry=reg,
    )(func)


@pytest.fixture
def lung() -> ToolRegistry:
    """Fleischner- and Lung-RADS-like systems sharing 'nodule' and 'lung', as the real ones do."""
    reg = ToolRegistry()
    _register(reg, fleischner_like, "fleischner", (r"\bfleischner\b", r"\b(?:pulmonary|lung) nodules?\b"))
    _register(
        reg, lung_rads_like, "lung_rads", (r"\blung-?rads\b", r"\b(?:pulmonary|lung) nodules?\b", r"\bLDCT\b")
    )
    return reg


def test_lung_nodule_without_screening_is_fleischner(lung: ToolRegistry) -> None:
    assert infer_system("Incidental 6 mm solid lung nodule.", registry=lung) == "fleischner"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Screening CT: 6 mm solid lung nodule.", id="screening"),
        pytest.param("Annual LDCT: 6 mm lung nodule.", id="LDCT"),
        pytest.param("Low-dose CT, 6 mm pulmonary nodule.", id="low-dose"),
    ],
)
def test_lung_nodule_in_screening_context_is_lung_rads(lung: ToolRegistry, text: str) -> None:
    assert infer_system(text, registry=lung) == "lung_rads"
    ranking = dict(rank_systems(text, registry=lung))
    assert ranking["lung_rads"] > ranking["fleischner"] > 0


def test_negated_screening_is_not_screening_context(lung: ToolRegistry) -> None:
    assert infer_system("Not a screening exam. 6 mm lung nodule.", registry=lung) == "fleischner"


def test_naming_the_system_wins_over_the_context_rule(lung: ToolRegistry) -> None:
    assert infer_system("Lung-RADS for this 6 mm lung nodule?", registry=lung) == "lung_rads"
    assert infer_system("Fleischner for a 6 mm lung nodule on screening CT?", registry=lung) == "fleischner"


def test_a_system_added_later_is_found_without_editing_findings(lung: ToolRegistry) -> None:
    text = "1.2 cm solid thyroid nodule."
    assert infer_system(text, registry=lung) is None
    _register(lung, thyroid_like, "thyroid_later", (r"\bthyroid\b",))
    assert infer_system(text, registry=lung) == "thyroid_later"
    assert extract_findings(text, registry=lung).inputs == {"size_mm": 12.0}


def test_nothing_matching_is_none_never_a_guess(lung: ToolRegistry) -> None:
    assert infer_system("Unremarkable examination, 6 mm.", registry=lung) is None
    assert rank_systems("Unremarkable examination, 6 mm.", registry=lung) == []


def test_a_word_shared_by_systems_counts_less_than_a_specific_one() -> None:
    reg = ToolRegistry()
    _register(reg, twin_a, "twin_a", (r"\bnodule\b", r"\badrenal\b"))
    _register(reg, twin_b, "twin_b", (r"\bnodule\b",))
    ranking = dict(rank_systems("adrenal nodule", registry=reg))
    assert ranking["twin_a"] > ranking["twin_b"]
    assert infer_system("adrenal nodule", registry=reg) == "twin_a"


def test_equal_fit_is_a_tie_and_not_a_guess() -> None:
    reg = ToolRegistry()
    _register(reg, twin_a, "twin_a", (r"\bnodule\b",))
    _register(reg, twin_b, "twin_b", (r"\bnodule\b",))
    assert [name for name, _ in rank_systems("a 6 mm nodule", registry=reg)] == ["twin_a", "twin_b"]
    assert infer_system("a 6 mm nodule", registry=reg) is None
    with pytest.raises(NoSystemError, match="twin_a and twin_b equally well"):
        extract_findings("a 6 mm nodule", registry=reg)


def test_inputs_found_break_a_trigger_tie() -> None:
    reg = ToolRegistry()
    _register(reg, twin_a, "twin_a", (r"\bnodule\b",))
    _register(reg, twin_b, "twin_b", (r"\bnodule\b",), extractor=lambda text: Extraction(system="twin_b"))
    assert infer_system("a 6 mm nodule", registry=reg) == "twin_a"


def test_negated_mention_counts_less() -> None:
    reg = ToolRegistry()
    _register(reg, twin_a, "twin_a", (r"\bthyroid\b",), extractor=lambda text: Extraction(system="twin_a"))
    _register(reg, twin_b, "twin_b", (r"\badrenal\b",), extractor=lambda text: Extraction(system="twin_b"))
    text = "No thyroid abnormality. Adrenal lesion."
    assert dict(rank_systems(text, registry=reg)) == {"twin_b": 1.0, "twin_a": 0.5}
    assert infer_system("No thyroid nodule.", registry=reg) == "twin_a"  # still about the thyroid


def test_broken_extractor_does_not_break_inference() -> None:
    reg = ToolRegistry()
    _register(reg, twin_a, "twin_a", (r"\bthyroid\b",), extractor=_broken_extractor)
    assert infer_system("thyroid nodule", registry=reg) == "twin_a"


def test_only_classification_tools_are_considered() -> None:
    reg = ToolRegistry()
    _register(reg, not_a_classifier, "helper", (r"\bthyroid\b",), kind="other")
    assert infer_system("thyroid nodule", registry=reg) is None
    with pytest.raises(UnknownSystemError, match="none registered"):
        extract_findings("thyroid nodule", "helper", registry=reg)


# --- the real registry -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "system"),
    [
        pytest.param(
            "1.8 cm left adrenal nodule measuring 8 HU on unenhanced CT.",
            "adrenal_incidentaloma",
            id="adrenal",
        ),
        pytest.param(
            "Homogeneous 2 cm renal mass measuring 35 HU on unenhanced CT.", "renal_incidentaloma", id="renal"
        ),
        pytest.param("Diagnostic mammogram: BI-RADS 4B irregular mass.", "bi_rads", id="bi-rads-named"),
        pytest.param("Irregular mass in the left breast.", "bi_rads", id="breast"),
        pytest.param(
            "No adrenal mass. 2 cm homogeneous renal lesion, 15 HU unenhanced.",
            "renal_incidentaloma",
            id="neg",
        ),
    ],
)
def test_infers_the_real_systems(text: str, system: str) -> None:
    assert infer_system(text) == system
    assert rank_systems(text)[0][0] == system


@pytest.mark.parametrize("text", ["Unremarkable examination.", "", "Patient tolerated the procedure well."])
def test_real_registry_does_not_guess(text: str) -> None:
    assert infer_system(text) is None
    with pytest.raises(NoSystemError, match="name the system or mention the organ"):
        extract_findings(text)


def test_extract_findings_with_a_named_system() -> None:
    found = extract_findings("2.5 cm adrenal mass, 8 HU unenhanced.", "adrenal_incidentaloma")
    assert found.system == "adrenal_incidentaloma"
    assert found.inputs == {"size_mm": 25.0, "unenhanced_hu": 8.0}


def test_extract_findings_infers_the_system() -> None:
    assert extract_findings("BI-RADS 4A on diagnostic mammography.").system == "bi_rads"


def test_unknown_system_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSystemError) as err:
        extract_findings("text", "birads")
    message = str(err.value)
    assert "'birads'" in message
    for name in ("bi_rads", "adrenal_incidentaloma", "renal_incidentaloma"):
        assert name in message
    assert isinstance(err.value, RadassistError) and isinstance(err.value, ValueError)


# --- fill_gaps: the model may only add what the text supports --------------------------------------


class FakeModel:
    """Returns scripted JSON and records what it was asked."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, prompt: str, schema: dict[str, Any]) -> Any:
        self.calls.append((prompt, schema))
        return self.answer


ADRENAL: Tool = REGISTRY.get("adrenal_incidentaloma")
ADRENAL_TEXT = (
    "Left adrenal nodule, 2.5 cm. Attenuation 35 and 90 HU. Previously 1.8 cm. "
    "Patient has a history of colon cancer. No macroscopic fat."
)


def adrenal_extraction(**inputs: Any) -> Extraction:
    undetermined = ["unenhanced_hu", "prior_imaging", "cancer_history", "macroscopic_fat", "enhanced_hu"]
    return Extraction(
        system="adrenal_incidentaloma",
        inputs={"size_mm": 25.0, **inputs},
        evidence={"size_mm": "2.5 cm"},
        undetermined=[u for u in undetermined if u not in inputs],
    )


async def test_model_is_asked_only_for_the_undetermined_fields() -> None:
    model = FakeModel({})
    await fill_gaps(ADRENAL_TEXT, adrenal_extraction(), ADRENAL, model)
    ((prompt, schema),) = model.calls
    assert set(schema["properties"]) == {
        "unenhanced_hu",
        "prior_imaging",
        "cancer_history",
        "macroscopic_fat",
        "enhanced_hu",
    }
    assert schema["additionalProperties"] is False and schema["required"] == []
    assert "colon cancer" in prompt  # the findings themselves are in the prompt
    json.dumps(schema)  # serialisable as given to a model


async def test_traceable_values_are_used_with_evidence() -> None:
    model = FakeModel(
        {"unenhanced_hu": 35, "cancer_history": True, "macroscopic_fat": False, "enhanced_hu": None}
    )
    filled = await fill_gaps(ADRENAL_TEXT, adrenal_extraction(), ADRENAL, model)
    assert filled.inputs == {
        "size_mm": 25.0,
        "unenhanced_hu": 35.0,
        "cancer_history": True,
        "macroscopic_fat": False,
    }
    assert filled.rejected == {}
    assert filled.undetermined == ["prior_imaging", "enhanced_hu"]
    assert (
        filled.evidence["unenhanced_hu"].startswith("model, traced to:")
        and "35" in filled.evidence["unenhanced_hu"]
    )
    assert "cancer" in filled.evidence["cancer_history"]
    assert "No macroscopic fat" in filled.evidence["macroscopic_fat"]


async def test_hallucinated_number_is_rejected() -> None:
    filled = await fill_gaps(ADRENAL_TEXT, adrenal_extraction(), ADRENAL, FakeModel({"unenhanced_hu": 8}))
    assert "unenhanced_hu" not in filled.inputs
    assert "8 does not appear in the text" in filled.rejected["unenhanced_hu"]
    assert "unenhanced_hu" in filled.undetermined


async def test_hallucinated_lexicon_value_is_rejected() -> None:
    filled = await fill_gaps(
        ADRENAL_TEXT, adrenal_extraction(), ADRENAL, FakeModel({"prior_imaging": "stable"})
    )
    assert "prior_imaging" not in filled.inputs
    assert "not in the text" in filled.rejected["prior_imaging"]


async def test_negated_words_do_not_support_a_value() -> None:
    text = "Adrenal nodule 2.5 cm. Not stable; no prior imaging comparison is possible."
    filled = await fill_gaps(text, adrenal_extraction(), ADRENAL, FakeModel({"prior_imaging": "stable"}))
    assert "prior_imaging" in filled.rejected


async def test_a_boolean_needs_its_words_unnegated_or_negated() -> None:
    model = FakeModel({"macroscopic_fat": True, "cancer_history": False})
    filled = await fill_gaps(ADRENAL_TEXT, adrenal_extraction(), ADRENAL, model)
    assert "macroscopic_fat" in filled.rejected  # the text says NO macroscopic fat
    assert "cancer_history" in filled.rejected  # the text states a history of cancer
    assert "macroscopic_fat" not in filled.inputs and "cancer_history" not in filled.inputs


async def test_extracted_values_are_never_overwritten() -> None:
    extraction = adrenal_extraction()
    filled = await fill_gaps(
        ADRENAL_TEXT, extraction, ADRENAL, FakeModel({"size_mm": 18, "unenhanced_hu": 35})
    )
    assert filled.inputs["size_mm"] == 25.0
    assert "extractor read 25.0" in filled.rejected["size_mm"]
    assert filled.inputs["unenhanced_hu"] == 35.0
    assert extraction.inputs == {"size_mm": 25.0}  # the input extraction is not mutated


async def test_fields_not_asked_for_are_rejected() -> None:
    filled = await fill_gaps(
        ADRENAL_TEXT, adrenal_extraction(), ADRENAL, FakeModel({"delayed_hu": 90, "age": 60})
    )
    assert "not asked for" in filled.rejected["delayed_hu"]
    assert "not asked for" in filled.rejected["age"]
    assert "delayed_hu" not in filled.inputs


async def test_invalid_values_are_rejected_with_the_validation_message() -> None:
    model = FakeModel({"prior_imaging": "older", "unenhanced_hu": "thirty-five"})
    filled = await fill_gaps(ADRENAL_TEXT, adrenal_extraction(), ADRENAL, model)
    assert "'none', 'stable' or 'new_or_enlarging'" in filled.rejected["prior_imaging"]
    assert "unenhanced_hu" in filled.rejected


async def test_sizes_need_a_unit_and_are_in_millimetres() -> None:
    extraction = Extraction(system="adrenal_incidentaloma", undetermined=["size_mm"])
    text = "Adrenal nodule 1.2 cm, 40 HU."
    ok = await fill_gaps(text, extraction, ADRENAL, FakeModel({"size_mm": 12}))
    assert ok.inputs == {"size_mm": 12.0} and ok.evidence["size_mm"].endswith("1.2 cm")
    unit_slip = await fill_gaps(text, extraction, ADRENAL, FakeModel({"size_mm": 1.2}))
    assert "not as a size with a unit" in unit_slip.rejected["size_mm"]
    bare = await fill_gaps(text, extraction, ADRENAL, FakeModel({"size_mm": 40}))
    assert "size_mm" in bare.rejected


async def test_sign_of_a_number_must_match_the_text() -> None:
    extraction = Extraction(system="adrenal_incidentaloma", undetermined=["unenhanced_hu"])
    text = "Adrenal nodule measuring -15 HU."
    flipped = await fill_gaps(text, extraction, ADRENAL, FakeModel({"unenhanced_hu": 15}))
    assert "opposite sign" in flipped.rejected["unenhanced_hu"]
    same = await fill_gaps(text, extraction, ADRENAL, FakeModel({"unenhanced_hu": -15}))
    assert same.inputs == {"unenhanced_hu": -15.0}


async def test_alternatives_in_a_lexicon_value_need_one_alternative_present() -> None:
    extraction = Extraction(system="adrenal_incidentaloma", undetermined=["prior_imaging"])
    filled = await fill_gaps(
        "The adrenal nodule is enlarging.",
        extraction,
        ADRENAL,
        FakeModel({"prior_imaging": "new_or_enlarging"}),
    )
    assert filled.inputs == {"prior_imaging": "new_or_enlarging"}


async def test_short_codes_must_stand_alone_and_not_be_a_measurement() -> None:
    bi_rads = REGISTRY.get("bi_rads")
    extraction = Extraction(system="bi_rads", undetermined=["assessment"])
    in_size = await fill_gaps("A 3 cm breast mass.", extraction, bi_rads, FakeModel({"assessment": "3"}))
    assert "assessment" in in_size.rejected
    stated = await fill_gaps(
        "Radiologist assessment: category 4A.", extraction, bi_rads, FakeModel({"assessment": "4A"})
    )
    assert stated.inputs == {"assessment": "4A"}


async def test_nothing_undetermined_means_no_model_call() -> None:
    model = FakeModel({"unenhanced_hu": 35})
    extraction = Extraction(system="adrenal_incidentaloma", inputs={"size_mm": 8.0})
    assert await fill_gaps("8 mm adrenal nodule", extraction, ADRENAL, model) == extraction
    assert model.calls == []


async def test_non_object_answer_is_rejected_whole() -> None:
    filled = await fill_gaps(ADRENAL_TEXT, adrenal_extraction(), ADRENAL, FakeModel(["35"]))
    assert filled.rejected == {"_response": "the model returned list, not a JSON object"}
    assert filled.inputs == {"size_mm": 25.0}


async def test_free_text_values_cannot_be_traced() -> None:
    reg = ToolRegistry()
    _register(reg, strict_like, "strict", (r"\bnodule\b",))
    extraction = Extraction(system="strict", undetermined=["lobe"])
    filled = await fill_gaps(
        "nodule in the right upper lobe",
        extraction,
        reg.get("strict"),
        FakeModel({"lobe": "right upper lobe"}),
    )
    assert "free-form" in filled.rejected["lobe"]


# --- classify_text ---------------------------------------------------------------------------------


def test_classify_text_end_to_end() -> None:
    extraction, result = classify_text("1.8 cm left adrenal nodule measuring 8 HU on unenhanced CT.")
    assert extraction.system == result.system == "adrenal_incidentaloma"
    assert result.category == "benign: lipid-rich adenoma (CT)"


def test_classify_text_lists_missing_inputs() -> None:
    extraction, result = classify_text("2.5 cm left adrenal nodule.", "adrenal_incidentaloma")
    assert result.category is None
    assert result.missing == ["prior_imaging"]
    assert extraction.undetermined == ["prior_imaging"]


def test_classify_text_with_nothing_read_lists_what_is_missing() -> None:
    _, result = classify_text("Breast.", "bi_rads")
    assert result.missing == ["assessment"]


def test_contradictory_findings_become_a_result_not_a_crash() -> None:
    extraction, result = classify_text("BI-RADS 3 with an estimated 30% likelihood of malignancy.")
    assert extraction.inputs == {"assessment": "3", "malignancy_likelihood_pct": 30.0}
    assert result.category is None
    assert set(result.missing) == {"assessment", "malignancy_likelihood_pct"}
    assert any("contradicts" in c for c in result.caveats)


def test_required_inputs_missing_from_the_text_become_missing() -> None:
    reg = ToolRegistry()
    _register(reg, strict_like, "strict", (r"\bnodule\b",))
    extraction, result = classify_text("a nodule", registry=reg)
    assert extraction.undetermined == ["size_mm"]
    assert result.category is None and result.missing == ["size_mm"]
    assert result.system == "strict" and result.guideline == "fake 1"


def test_classify_text_without_a_fitting_system_raises_a_clear_error() -> None:
    with pytest.raises(NoSystemError):
        classify_text("Unremarkable examination.")
