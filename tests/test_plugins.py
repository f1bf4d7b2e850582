"""A tool shipped by another package is discovered through the `radassist.tools` entry point and used by the agent."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.assistant import Assistant
from agent.context import AgentContext
from agent.gate import Gate
from agent.graph import build_graph
from agent.settings import REPO_ROOT
from experts import load_experts
from tests.agent.conftest import fake_registry
from tests.agent.fakes import ScriptedLLM, hashing_embed
from tools.registry import REGISTRY, ToolContext, load_tools

# A deliberately non-clinical demo: the point is the plugin mechanism, not a guideline.
PLUGIN = '''
"""Demo plugin: sorts widgets by size."""
from pydantic import BaseModel, ConfigDict, Field

from tools.classify.base import ClassificationResult, Extraction
from tools.classify.text import find_measurements
from tools.registry import tool


class WidgetInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size_mm: float | None = Field(default=None, gt=0, description="Widget size in mm.")


def extract(text: str) -> Extraction:
    sizes = find_measurements(text)
    if not sizes:
        return Extraction(system="widget", undetermined=["size_mm"])
    return Extraction(system="widget", inputs={"size_mm": sizes[0].longest_mm}, evidence={"size_mm": sizes[0].text})


@tool(name="widget", description="Sort a widget by size (demo plugin).", version="demo 1.0",
      kind="classification", extractor=extract, triggers=(r"\\bwidgets?\\b",))
def classify(inp: WidgetInput) -> ClassificationResult:
    base = dict(system="widget", guideline="Widget demo 1.0", citation="demo plugin")
    if inp.size_mm is None:
        return ClassificationResult(**base, missing=["size_mm"])
    category = "large widget" if inp.size_mm >= 10 else "small widget"
    return ClassificationResult(**base, category=category, management="none (demo)",
                                rationale=[f"size {inp.size_mm:g} mm against 10 mm"], inputs=inp.model_dump())
'''


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[None]:
    """Install a plugin package the way pip would: a module plus a dist-info with the entry point."""
    (tmp_path / "radassist_widget_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "radassist_widget_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: radassist-widget-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[radassist.tools]\nwidget = radassist_widget_plugin\n")
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("radassist_widget_plugin", None)
    REGISTRY._tools.pop("widget", None)


def test_installed_plugin_is_not_loaded_unless_allowed(installed_plugin: None) -> None:
    assert "widget" not in load_tools(plugins="")


async def test_allowed_plugin_is_discovered_and_called_by_the_agent(installed_plugin: None) -> None:
    registry = load_tools(plugins="widget")
    assert "widget" in registry
    assert registry.get("widget").run({"size_mm": 12}).category == "large widget"

    agent_tools = fake_registry()
    experts = load_experts(REPO_ROOT / "experts")
    context = AgentContext(
        llm=ScriptedLLM(lambda m: ""), registry=agent_tools, tool_context=ToolContext(), experts=experts,
        gate=Gate(experts, hashing_embed, agent_tools),
    )  # fmt: skip
    result = await Assistant(context, build_graph(checkpointer=InMemorySaver())).ask("a widget of 12 mm?")
    call = next(c for c in result.tool_calls if c["tool"] == "widget")
    assert call["input"] == {"size_mm": 12.0}
    assert call["output"]["category"] == "large widget"
    assert "Widget demo 1.0: large widget" in result.answer
