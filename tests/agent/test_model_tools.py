"""Tools chosen by the model: native tool calling, grammar-constrained JSON, traceability, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel, ConfigDict, Field

from agent.assistant import Assistant
from agent.context import AgentContext
from agent.gate import Gate
from agent.graph import build_graph
from tests.agent.conftest import fake_registry
from tests.agent.fakes import ScriptedLLM, hashing_embed
from tools.registry import ToolContext, ToolRegistry, tool


class ConvertInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value_cm: float = Field(gt=0, description="A length in centimetres.")


class ConvertOutput(BaseModel):
    value_mm: float


def registry_with_converter() -> ToolRegistry:
    registry = fake_registry()

    @tool(
        name="unit_convert", description="Convert centimetres to millimetres.", version="1", registry=registry
    )
    def convert(inp: ConvertInput) -> ConvertOutput:
        return ConvertOutput(value_mm=inp.value_cm * 10)

    return registry


class ToolLLM(ScriptedLLM):
    """Scripted replies for the tool choice (JSON or native) and nothing to draft."""

    def __init__(self, arguments: dict[str, Any], native: bool = False) -> None:
        super().__init__(lambda m: "", json_reply=self.reply)
        self.arguments, self.native = arguments, native

    def reply(self, messages: Any, schema: dict[str, Any]) -> dict[str, Any]:
        properties = schema.get("properties", {})
        if "tool" in properties:
            return {"tool": "unit_convert"}
        if "value_cm" in properties:
            return dict(self.arguments)
        return {"verdicts": ["yes"] * properties["verdicts"]["minItems"]} if "verdicts" in properties else {}

    def supports_tools(self, alias: str) -> bool:
        return self.native

    async def acall_tools(self, alias: str, messages: Any, tools: list[dict[str, Any]], **params: Any) -> Any:
        self.calls.append({"kind": "tools", "alias": alias, "tools": [t["function"]["name"] for t in tools]})
        return [("unit_convert", dict(self.arguments))]


def assistant_for(llm: ScriptedLLM, experts: dict[str, Any]) -> Assistant:
    registry = registry_with_converter()
    general = experts["general"].model_copy(update={"tools": ["guideline_search", "unit_convert"]})
    team = {**experts, "general": general}
    context = AgentContext(llm=llm, registry=registry, tool_context=ToolContext(), experts=team,
                           gate=Gate(team, hashing_embed, registry))  # fmt: skip
    return Assistant(context, build_graph(checkpointer=InMemorySaver()))


def fleischner_call(result: Any) -> dict[str, Any]:
    return next(c for c in result.tool_calls if c["tool"] == "fleischner")


def converter_call(result: Any) -> dict[str, Any]:
    return next(c for c in result.tool_calls if c["tool"] == "unit_convert")


@pytest.mark.parametrize("native", [False, True], ids=["grammar-json", "native-tool-calling"])
async def test_model_calls_a_developer_tool(experts: dict[str, Any], native: bool) -> None:
    llm = ToolLLM({"value_cm": 1.2}, native=native)
    result = await assistant_for(llm, experts).ask("Convert 1.2 cm to mm please", expert="general")
    call = converter_call(result)
    assert call["output"] == {"value_mm": 12.0}
    assert call["via"].endswith("(native)" if native else "(grammar-constrained JSON)")
    assert "**unit_convert**" in result.answer and "value_mm: 12.0" in result.answer
    if native:
        assert any(c["kind"] == "tools" and c["tools"] == ["unit_convert"] for c in llm.calls)


async def test_a_value_not_in_the_message_is_rejected(experts: dict[str, Any]) -> None:
    result = await assistant_for(ToolLLM({"value_cm": 3.4}), experts).ask("Convert 1.2 cm", expert="general")
    call = converter_call(result)
    assert call["output"] is None
    assert call["error"] == "rejected as unverifiable: value_cm not found in the message"
    assert "value_mm" not in result.answer


async def test_invalid_arguments_become_a_question(experts: dict[str, Any]) -> None:
    result = await assistant_for(ToolLLM({"value_cm": 0}), experts).ask("Convert 0 cm", expert="general")
    call = converter_call(result)
    assert call["output"] is None and "value_cm" in call["error"]
    assert "unit_convert: please check value_cm: Input should be greater than 0" in result.answer


async def test_classification_tools_are_left_to_the_extractor_for_small_models(
    experts: dict[str, Any],
) -> None:
    llm = ToolLLM({"value_cm": 1.2})
    result = await assistant_for(llm, experts).ask("7 mm solid nodule, smoker")
    assert [c["tool"] for c in result.tool_calls] == ["fleischner", "guideline_search"]
    assert not any(c["kind"] == "json" and "tool" in c["schema"].get("properties", {}) for c in llm.calls)


class UnreliableToolLLM(ToolLLM):
    """Native tool calling that fails the way real models do: a timeout, or a tool nobody offered."""

    def __init__(self, *, raises: Exception | None = None, proposes: str = "cad_rads") -> None:
        super().__init__({}, native=True)
        self.raises, self.proposes = raises, proposes

    async def acall_tools(self, alias: str, messages: Any, tools: list[dict[str, Any]], **params: Any) -> Any:
        self.calls.append({"kind": "tools", "alias": alias, "tools": [t["function"]["name"] for t in tools]})
        if self.raises is not None:
            raise self.raises
        return [(self.proposes, {"score": 7})]


@pytest.mark.parametrize(
    ("llm", "status", "error"),
    [
        (UnreliableToolLLM(raises=TimeoutError("model took too long")), "failed", "TimeoutError"),
        (UnreliableToolLLM(proposes="cad_rads"), "rejected", "'cad_rads' was not offered to this expert"),
        (UnreliableToolLLM(proposes="fleischner"), "rejected", "'fleischner' was not offered to this expert"),
    ],
    ids=["timeout", "unknown-tool", "tool-not-offered"],
)
async def test_a_failed_or_wrong_tool_choice_keeps_the_classification(
    experts: dict[str, Any], llm: UnreliableToolLLM, status: str, error: str
) -> None:
    """Issue 9: the model's tool choice is optional; its failure must never lose the computed answer."""
    result = await assistant_for(llm, experts).ask("7 mm solid nodule, smoker, what follow-up?")
    assert any(c["kind"] == "tools" and "lung_rads" in c["tools"] for c in llm.calls), (
        "the choice was offered"
    )
    assert "Fleischner Society 2017: solid, single, 6-8 mm, high risk" in result.answer
    assert fleischner_call(result)["status"] == "ran"
    choice = result.tool_calls[-1]
    assert (choice["status"], choice["error"], choice["output"]) == (status, error, None)
    assert choice["via"] == "model tool call (native)"
    assert choice["tool"] == (None if status == "failed" else llm.proposes)
    assert set(result.provenance["tool_versions"]) == {"fleischner", "guideline_search"}, (
        "only registered tools have versions"
    )
