"""What the graph's nodes depend on, handed to each run as LangGraph's runtime context.

Nodes are plain top-level functions that receive this through `Runtime[AgentContext]`, so a test
builds the graph once and runs it with fakes by passing another context, never by rebuilding closures.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.gate import Gate
from agent.llm import LLM
from experts import Expert
from tools.registry import ToolContext, ToolRegistry


@dataclass(frozen=True)
class AgentContext:
    """Models, tools, experts and the gate, plus the few settings the graph reads."""

    llm: LLM
    """The model gateway (tests: a scripted model implementing the same protocol)."""
    registry: ToolRegistry
    tool_context: ToolContext
    """What tools that need the database or the models receive (pool, gateway, settings)."""
    experts: dict[str, Expert]
    gate: Gate
    router_alias: str | None = None
    """An LLM gate that may reorder the deterministic gate's top two ('router' in models.yaml)."""
    verifier_alias: str = "default"
    retrieval_k: int = 5
    fill_gaps_with_model: bool = True
    demo_aliases: frozenset[str] = frozenset()
    """Aliases marked `demo: true` in models.yaml: they draft nothing unless `draft_with_demo_models`."""
    draft_with_demo_models: bool = False
    retrieval: bool = True
    """False skips guideline_search, so `radassist eval --rag off` measures a model without retrieval."""
    models_config_sha256: str | None = None
    """The sha256 of the models.yaml this context was built from, recorded in each answer's provenance."""

    def drafts_with(self, alias: str) -> bool:
        """Whether an expert on this alias drafts: a demo model's commentary would only be removed by
        verification, so it drafts only when `draft_with_demo_models` says so."""
        return alias not in self.demo_aliases or self.draft_with_demo_models
