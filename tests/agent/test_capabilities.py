"""The chat's starters and the "what I can classify" sentence come from the registry and the experts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agent.answer import cannot_answer
from agent.assistant import Assistant
from agent.capabilities import classification_systems, starters
from tests.agent.fakes import ScriptedLLM
from tools.classify.base import ClassificationResult
from tools.registry import ToolRegistry, load_tools, tool


def test_every_classification_tool_and_every_guideline_only_expert_has_a_starter(
    experts: dict[str, Any],
) -> None:
    registry = load_tools()
    pairs = starters(registry, experts)
    systems = registry.of_kind("classification")
    assert all(t.example for t in systems), "each shipped classification tool declares an example"
    assert pairs[: len(systems)] == [(t.title, t.example) for t in systems]
    assert pairs[len(systems) :] == [
        ("General radiology, contrast and safety", experts["general"].examples[0]),
        ("Musculoskeletal imaging", experts["msk"].examples[0]),
    ]
    assert ("Fleischner", "6 mm solid nodule, smoker, what follow-up?") in pairs


class WidgetInput(BaseModel):
    size_mm: float


def test_a_new_system_is_offered_and_named_without_editing_the_agent(experts: dict[str, Any]) -> None:
    registry = ToolRegistry()

    @tool(name="widget_rads", description="demo", version="demo 1", kind="classification", registry=registry,
          title="Widget-RADS", example="A 12 mm widget: Widget-RADS?")  # fmt: skip
    def widget(inp: WidgetInput) -> ClassificationResult:
        return ClassificationResult(system="widget_rads", guideline="demo", citation="demo")

    assert classification_systems(registry) == ["Widget-RADS"]
    assert starters(registry, experts)[0] == ("Widget-RADS", "A 12 mm widget: Widget-RADS?")
    assert "(Widget-RADS)" in cannot_answer([], classification_systems(registry))


async def test_the_agent_says_which_systems_it_can_classify(
    make_assistant: Callable[..., Assistant], registry: ToolRegistry
) -> None:
    result = await make_assistant(ScriptedLLM()).ask("What is the capital of France?")
    titles = [t.title for t in registry.of_kind("classification")]
    assert {"Fleischner", "Lung-RADS", "TI-RADS", "Adrenal incidentaloma"} <= set(titles)
    assert f"one of the classification systems covers ({', '.join(titles)})" in result.answer
