"""A chat server evaluates each drafting expert's system prompt at start-up (`prepare_drafting_experts`).

The real provider's side (the prompt evaluated once, the first call evaluating only its own question) is
tested with the real GGUF in tests/foundation/test_llamacpp_provider.py.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, cast

from agent.assistant import prepare_drafting_experts
from agent.context import AgentContext
from agent.gate import Gate
from agent.gateway import Gateway
from tests.agent.fakes import ScriptedLLM, hashing_embed
from tools.registry import ToolContext, ToolRegistry


class PreparingGateway:
    def __init__(self) -> None:
        self.prepared: list[tuple[str, str]] = []

    def prepare_system_prompt(self, alias: str, system: str) -> Future[None] | None:
        self.prepared.append((alias, system))
        done: Future[None] = Future()
        done.set_result(None)
        return done


def _context(experts: dict[str, Any], registry: ToolRegistry, **kwargs: Any) -> AgentContext:
    gate = Gate(experts, hashing_embed, registry)
    return AgentContext(llm=ScriptedLLM(), registry=registry, tool_context=ToolContext(), experts=experts,
                        gate=gate, **kwargs)  # fmt: skip


def test_each_drafting_expert_is_prepared_with_its_own_prompt(
    experts: dict[str, Any], registry: ToolRegistry
) -> None:
    gateway = PreparingGateway()
    futures = prepare_drafting_experts(cast(Gateway, gateway), _context(experts, registry))
    assert sorted(gateway.prepared) == sorted((e.model, e.prompt) for e in experts.values())
    assert len(futures) == len(experts)


def test_experts_on_a_demo_model_draft_nothing_so_nothing_is_prepared(
    experts: dict[str, Any], registry: ToolRegistry
) -> None:
    demo = frozenset({experts["chest"].model})
    gateway = PreparingGateway()
    prepare_drafting_experts(cast(Gateway, gateway), _context(experts, registry, demo_aliases=demo))
    assert experts["chest"].model not in {alias for alias, _ in gateway.prepared}
    assert gateway.prepared, "the other experts are prepared"

    gateway = PreparingGateway()
    context = _context(experts, registry, demo_aliases=demo, draft_with_demo_models=True)
    prepare_drafting_experts(cast(Gateway, gateway), context)
    assert (experts["chest"].model, experts["chest"].prompt) in gateway.prepared
