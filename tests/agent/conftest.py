"""Fast agent fixtures: real experts and classification tools, fake retrieval, scripted model, memory saver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.assistant import Assistant
from agent.context import AgentContext
from agent.gate import Gate
from agent.graph import build_graph
from agent.settings import REPO_ROOT
from experts import load_experts
from tests.agent.fakes import ScriptedLLM, hashing_embed
from tools import load_tools
from tools.guideline_search import GuidelineSearchInput, GuidelineSearchOutput
from tools.knowledge.search import GuidelineHit
from tools.registry import REGISTRY, ToolContext, ToolRegistry, tool

PASSAGES = {
    "fleischner": (
        "Single solid nodule",
        "A single solid nodule of 6 to 8 mm in a high-risk patient: CT at 6-12 months, then CT at 18-24 months "
        "(Fleischner 2017, Table 1). In a low-risk patient: CT at 6-12 months, then consider CT at 18-24 months.",
    ),
    "ti_rads": (
        "Levels",
        "TR5 nodules: FNA at 1 cm or more; follow-up at 0.5 cm or more (ACR TI-RADS 2017).",
    ),
    "mri": ("Zones", "MRI safety zone IV is the magnet room itself (ACR Manual on MR Safety 2020)."),
}


def fake_registry() -> ToolRegistry:
    """The real classification tools plus a retrieval tool that answers from PASSAGES."""
    load_tools()
    registry = ToolRegistry()
    for t in REGISTRY.all():
        if t.kind == "classification":
            registry.register(t)

    @tool(
        name="guideline_search",
        description="fake retrieval",
        version="test",
        kind="retrieval",
        registry=registry,
    )
    def search(inp: GuidelineSearchInput) -> GuidelineSearchOutput:
        hits = []
        text = inp.query.lower()
        for i, (key, (section, passage)) in enumerate(PASSAGES.items()):
            if key in (inp.system or "") or key.replace("_", "-") in text or (key == "mri" and "mri" in text):
                hits.append(
                    GuidelineHit(
                        chunk_id=i + 1,
                        source=key,
                        title=f"{key} summary",
                        society="Test",
                        year=2017,
                        heading_path=[f"{key} summary", section],
                        section=section,
                        text=passage,
                        quote=passage,
                        score=0.5,
                        semantic_similarity=0.6,
                    )
                )
        return GuidelineSearchOutput(query=inp.query, hits=hits, floor=0.0)

    return registry


@pytest.fixture(scope="session")
def registry() -> ToolRegistry:
    return fake_registry()


@pytest.fixture(scope="session")
def experts() -> dict[str, Any]:
    return load_experts(REPO_ROOT / "experts")


@pytest.fixture
def make_assistant(registry: ToolRegistry, experts: dict[str, Any]) -> Callable[[ScriptedLLM], Assistant]:
    def make(llm: ScriptedLLM, **kwargs: Any) -> Assistant:
        gate = Gate(experts, hashing_embed, registry)
        context = AgentContext(
            llm=llm, registry=registry, tool_context=ToolContext(), experts=experts, gate=gate, **kwargs
        )
        return Assistant(context, build_graph(checkpointer=InMemorySaver()))

    return make


# --- real parts: embedded PostgreSQL with the shipped corpus, real embeddings, real tools -------------


@pytest.fixture(scope="session")
async def real_runtime(pg_url: str) -> Any:
    """A runtime on a fresh migrated database with the shipped guideline corpus loaded (once per session)."""
    import os

    from agent.runtime import open_runtime
    from agent.settings import Settings
    from tests.conftest import create_database, drop_database

    url = create_database(pg_url)
    settings = Settings(database_url=url, home=os.environ["RADASSIST_HOME"])
    async with open_runtime(settings) as runtime:
        yield runtime
    drop_database(pg_url, url)


@pytest.fixture(scope="session")
async def real_context(real_runtime: Any) -> AgentContext:
    """Experts, the real gate (MiniLM embeddings) and tools over the real runtime, with the real GGUF."""
    from agent.assistant import build_context

    return await build_context(real_runtime)


@pytest.fixture
def scripted_assistant(real_context: AgentContext, real_runtime: Any) -> Callable[[ScriptedLLM], Assistant]:
    """Everything real except the chat model, which follows a script (planted claims, fixed drafts)."""
    from dataclasses import replace

    def make(llm: ScriptedLLM) -> Assistant:
        llm.provenance_from(real_runtime.gateway)
        context = replace(real_context, llm=llm, demo_aliases=frozenset())
        return Assistant(context, build_graph(checkpointer=InMemorySaver()), pool=real_runtime.pool)

    return make
