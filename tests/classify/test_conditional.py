"""What a missing input would change (tools.classify.conditional), and each system's rule for unstated inputs.

The rule, per system: an unstated descriptor is read as absent only when stated words imply it (grounded) or
when absence can never give a lower category (conservative); otherwise it becomes a branch or a question.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tools import load_tools
from tools.classify.base import ClassificationResult
from tools.classify.conditional import ReadAsAbsent, rank, read_as_absent, resolve, severity
from tools.classify.findings import classify_inputs
from tools.classify.report import read_report
from tools.registry import ToolRegistry, tool

REGISTRY = load_tools()


def _resolve(system: str, inputs: dict[str, Any], text: str = ""):  # type: ignore[no-untyped-def]
    t = REGISTRY.get(system)
    from tools.classify.base import Extraction

    result = classify_inputs(t, inputs, Extraction(system=system, inputs=inputs))
    return resolve(t, inputs, result, text)


# --- PI-RADS: DCE is never assumed negative ---------------------------------------------------------------


def test_pirads_unstated_dce_is_a_branch_not_an_assumption() -> None:
    res = _resolve("pi_rads", {"zone": "peripheral", "dwi_score": 3})
    assert res.result.category is None and res.assumptions == []
    assert [(b.if_, b.category) for b in res.branches] == [
        ("dce = negative or not performed", "3"),
        ("dce = positive", "4"),
    ]
    assert res.ask == ["dce"] and res.at_least == "3"
    assert read_as_absent(REGISTRY.get("pi_rads")) == ()


def test_pirads_dce_does_not_matter_outside_dwi_3() -> None:
    res = _resolve("pi_rads", {"zone": "peripheral", "dwi_score": 4})
    assert res.result.category == "4" and res.branches == [] and res.ask == []


# --- Bosniak: absent only when the words imply it ---------------------------------------------------------


def test_bosniak_simple_appearing_states_no_septa_and_a_thin_smooth_wall() -> None:
    text = "Simple-appearing 2 cm right renal cyst measuring 10 HU on noncontrast CT."
    (f,) = read_report(text, registry=REGISTRY).findings
    assert f.category == "II"
    assert any(
        "septa not stated: read as no septa (stated as 'Simple-appearing')" in a for a in f.assumptions
    )


def test_bosniak_does_not_assume_no_septa_without_such_words() -> None:
    text = "2 cm right renal cyst measuring 10 HU on noncontrast CT."
    (f,) = read_report(text, registry=REGISTRY).findings
    assert f.category is None
    assert not any("septa" in a for a in f.assumptions)
    assert "septa" in f.missing


def test_bosniak_thick_enhancing_septum_is_at_least_iii() -> None:
    res = _resolve(
        "bosniak",
        {
            "septa_thickness_mm": 4,
            "septa_enhancing": True,
            "protrusion": True,
            "protrusion_margins": "obtuse",
            "protrusion_enhancing": True,
        },
    )
    assert res.at_least == "III"
    assert {(b.if_, b.category) for b in res.branches} == {
        ("protrusion_mm = ≤3 mm", "III"),
        ("protrusion_mm = ≥4 mm", "IV"),
    }


# --- O-RADS: a smooth unilocular cyst states no solid component -------------------------------------------


def test_orads_smooth_unilocular_cyst_states_no_solid_component() -> None:
    text = "Pelvic US, premenopausal. Smooth unilocular left ovarian cyst measuring 4.5 cm."
    (f,) = read_report(text, registry=REGISTRY).findings
    assert f.category == "2" and f.inputs["solid_component"] is False


def test_orads_unilocular_cyst_without_smooth_wall_is_not_assumed_solid_free() -> None:
    text = "Pelvic US, premenopausal. Unilocular left ovarian cyst measuring 4.5 cm."
    (f,) = read_report(text, registry=REGISTRY).findings
    assert "solid_component" not in f.inputs and f.category is None


# --- thyroid (ACR 2015): an unstated limited life expectancy is read as normal -----------------------------


def test_thyroid_normal_life_expectancy_is_read_because_it_cannot_lower() -> None:
    res = _resolve("thyroid_incidental", {"size_mm": 17, "age": 45, "suspicious_features": False})
    assert res.result.category == "≥35 y, ≥1.5 cm"
    assert res.assumptions == [
        "limited life expectancy not stated: read as normal life expectancy (its presence could not lower the "
        "category)."
    ]


def test_thyroid_suspicious_features_are_never_assumed_absent() -> None:
    res = _resolve("thyroid_incidental", {"size_mm": 9, "age": 45, "limited_life_expectancy": False})
    assert res.result.category is None
    assert {(b.if_, b.category) for b in res.branches} == {
        ("suspicious_features = false", "≥35 y, <1.5 cm"),
        ("suspicious_features = true", "suspicious features"),
    }


# --- the engine's rule, on a system that declares an unsafe reading ---------------------------------------


class _DemoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spiculated: bool | None = None
    calcified: bool | None = None


def _demo_registry() -> ToolRegistry:
    registry = ToolRegistry()

    @tool(name="demo_absent", description="test only", version="0", kind="classification", registry=registry)
    def demo(inp: _DemoInput) -> ClassificationResult:
        base: dict[str, Any] = {"system": "demo_absent", "guideline": "demo", "citation": "demo"}
        if inp.spiculated is None or inp.calcified is None:
            missing = [n for n in ("spiculated", "calcified") if getattr(inp, n) is None]
            return ClassificationResult(**base, missing=missing)
        if inp.calcified:  # a benign calcification lowers the concern ...
            return ClassificationResult(**base, category="low")
        return ClassificationResult(**base, category="high" if inp.spiculated else "mid")

    return registry


READ_AS_ABSENT = (
    ReadAsAbsent("spiculated", False, "not spiculated"),  # absence lowers: must never be applied
    ReadAsAbsent("calcified", False, "no calcification"),  # absence raises: conservative, applied
)
SEVERITY = ("low", "mid", "high")


def test_absent_is_assumed_only_where_it_cannot_lower_the_category() -> None:
    registry = _demo_registry()
    t = registry.get("demo_absent")
    t.func.__module__ = __name__  # this module declares READ_AS_ABSENT and SEVERITY for the demo system
    from tools.classify.base import Extraction

    result = classify_inputs(t, {}, Extraction(system="demo_absent"))
    res = resolve(t, {}, result)
    assert res.assumptions == [
        "calcified not stated: read as no calcification (its presence could not lower the category)."
    ]
    assert {(b.if_, b.category) for b in res.branches} == {
        ("spiculated = false", "mid"),
        ("spiculated = true", "high"),
    }
    assert res.ask == ["spiculated"]


def test_severity_rank_prefers_exact_labels() -> None:
    order = severity(REGISTRY.get("bosniak"))
    assert [rank(order, c) for c in ("I", "II", "IIF", "III", "IV")] == [0, 1, 2, 3, 4]
    fleischner = severity(REGISTRY.get("fleischner"))
    assert rank(fleischner, "solid, multiple, >8 mm, high risk") > rank(
        fleischner, "solid, single, 6-8 mm, low risk"
    )


def test_every_shipped_system_writes_its_rule_for_unstated_inputs() -> None:
    import importlib

    for t in REGISTRY.of_kind("classification"):
        module = importlib.import_module(t.func.__module__)
        assert hasattr(module, "READ_AS_ABSENT"), t.name
        for rule in module.READ_AS_ABSENT:
            assert rule.field in t.input_model.model_fields, (t.name, rule.field)
            if not rule.grounds:  # a conservative reading needs an order to be checked against
                assert module.SEVERITY, t.name


def test_an_all_that_apply_input_is_explored_value_by_value_not_dropped() -> None:
    """TI-RADS echogenic foci is a list: its values must be tried, or only the leaves that skip it survive.

    Solid (2) + hypoechoic (2) with shape, margin and foci unstated is TR4 (4 points) when the nodule is wider
    than tall with a smooth margin and no foci, and TR5 with punctate foci (ACR TI-RADS 2017, Tessler 2017
    Figure 1): never "TR5" stated as if every value gave it.
    """
    (finding,) = read_report(
        "1.2 cm solid hypoechoic thyroid nodule on ultrasound", registry=load_tools()
    ).findings
    assert finding.system == "ti_rads" and finding.category is None
    offered = {(b.if_, b.category) for b in finding.branches}
    assert ("shape = wider_than_tall and margin = smooth and echogenic_foci = none or comet_tail or "
            "macrocalcifications or peripheral_rim", "TR4") in offered  # fmt: skip
    assert finding.at_least == "TR4"
