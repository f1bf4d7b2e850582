"""Run turns of the agent: wiring (runtime -> graph with a PostgreSQL checkpointer), streaming, provenance.

`Assistant.ask()` is what the CLI and the chat UI call. Every answer is stored with its provenance:
models (alias, GGUF sha256 or Ollama digest), expert prompt versions, gate weights, retrieved chunk
ids, tool calls with inputs and outputs, sampling settings and timings.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from psycopg.types.json import Jsonb

from agent.context import AgentContext
from agent.gate import Gate, GateEmbeddingCache
from agent.gateway import Gateway, ModelsConfig, record_model_calls
from agent.graph import RECURSION_LIMIT, build_graph
from agent.runtime import Runtime
from agent.state import AgentState, TurnInput
from experts import Expert, load_experts
from tools.knowledge.embedder import Embedder

log = logging.getLogger(__name__)

OnEvent = Callable[[dict[str, Any]], Awaitable[None]]
MAX_MESSAGE_CHARS = 8000  # a long report fits; a pasted megabyte is refused, not fed to the model


@dataclass
class TurnResult:
    """One answered message, in the shape `radassist ask --json` prints, plus provenance."""

    answer: str
    experts: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    verification: dict[str, Any]
    thread_id: str
    provenance: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "verdict": self.verification["verdict"],
            "experts": self.experts,
            "tool_calls": [
                {"tool": c["tool"], "status": c["status"], "input": c["input"], "output": c["output"]}
                for c in self.tool_calls
            ],
            "citations": self.citations,
            "verification": self.verification,
            "thread_id": self.thread_id,
        }


def demo_notice(config: ModelsConfig, experts: dict[str, Expert], draft_with_demo: bool) -> str | None:
    """One line for the CLI and the UI when experts are bound to a demo model, naming the file to edit."""
    demo = sorted({e.model for e in experts.values()} & config.demo_aliases())
    if not demo:
        return None
    models = sorted({config.entry(a).litellm_params.model for a in demo})
    effect = (
        "its drafts are verified before anything is shown"
        if draft_with_demo
        else "answers come from the classification tools and the guideline library only"
    )
    return (
        f"{', '.join(demo)} {'is' if len(demo) == 1 else 'are'} bound to a demo model ({', '.join(models)}): "
        f"it proves the path, not the quality, so {effect}. "
        f"Bind a capable model in {config.source or 'models.yaml'} for commentary."
    )


class Assistant:
    """The compiled graph and the context its runs get; one per process."""

    def __init__(
        self,
        context: AgentContext,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        pool: Any = None,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        notice: str | None = None,
    ) -> None:
        self.context = context
        self.graph = graph
        self.pool = pool
        self.max_message_chars = max_message_chars
        self.notice = notice
        """Said once per CLI command or chat session (a demo model is configured), else None."""

    async def ask(
        self,
        message: str,
        *,
        thread_id: str | None = None,
        expert: str | None = None,
        model: str | None = None,
        on_event: OnEvent | None = None,
        message_id: str | None = None,
    ) -> TurnResult:
        """Answer one message in a thread (a new thread when None), streaming events to `on_event`."""
        if not message.strip():
            raise ValueError("the message is empty")
        if len(message) > self.max_message_chars:
            raise ValueError(
                f"the message is too long ({len(message)} characters; at most {self.max_message_chars})"
            )
        if expert is not None and expert not in self.context.experts:
            raise ValueError(f"unknown expert {expert!r}; experts: {', '.join(self.context.experts)}")
        if model is not None and model not in self.chat_aliases():
            raise ValueError(f"unknown model alias {model!r}; chat aliases: {', '.join(self.chat_aliases())}")
        thread_id = thread_id or str(uuid.uuid4())
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id},
            "recursion_limit": RECURSION_LIMIT,
        }
        turn: TurnInput = {"message": message, "expert_override": expert, "model_override": model}
        started = time.perf_counter()
        with record_model_calls() as calls:
            async for mode, chunk in self.graph.astream(
                turn, config, context=self.context, stream_mode=["custom", "updates"]
            ):
                if mode == "custom" and on_event is not None and isinstance(chunk, dict):
                    await on_event(chunk)
        state = cast(AgentState, (await self.graph.aget_state(config)).values)
        total_ms = round((time.perf_counter() - started) * 1000, 2)
        result = self._result(state, thread_id, total_ms)
        result.provenance["model_calls"] = [c.as_json() for c in calls]
        result.provenance["model_tokens"] = sum(c.tokens for c in calls)
        await self._store(result, message, message_id)
        return result

    def chat_aliases(self) -> list[str]:
        """Aliases in models.yaml that answer chat (not embeddings), for the UI's model setting."""
        return self.context.llm.chat_aliases()

    def _result(self, state: AgentState, thread_id: str, total_ms: float) -> TurnResult:
        ctx, decision = self.context, state["gate"]
        gate = decision.as_dict()
        experts = [{"name": e["name"], "weight": e["weight"]} for e in gate["experts"]]
        used = [ctx.experts[n] for n in decision.chosen]
        model_override = state.get("model_override")
        drafting = {model_override} if model_override else {e.model for e in used}
        aliases = drafting | {ctx.verifier_alias, "embedder"}
        if ctx.router_alias:
            aliases.add(ctx.router_alias)
        tool_calls = [c.as_dict() for c in state.get("tool_calls", [])]
        provenance = {
            "created_at": datetime.now(UTC).isoformat(),
            "thread_id": thread_id,
            "models_config_sha256": ctx.models_config_sha256,
            "models": {alias: ctx.llm.describe(alias) for alias in sorted(aliases)},
            "sampling": {alias: ctx.llm.sampling(alias) for alias in sorted(aliases)},
            "experts": [
                {"name": e.name, "version": e.version, "sha256": e.sha256, "model": e.model} for e in used
            ],
            "gate": gate,
            "retrieved_chunk_ids": state.get("retrieved_chunk_ids", []),
            "evidence_chunk_ids": [p["chunk_id"] for p in state.get("passages", [])],
            "tool_calls": tool_calls,
            "tool_versions": {  # a model may have named a tool that does not exist: only registered ones
                c.tool: ctx.registry.get(c.tool).version
                for c in state.get("tool_calls", [])
                if c.tool is not None and c.tool in ctx.registry
            },
            "verification": state.get("verification", {}),
            "generated_tokens": state.get("generated_tokens", 0),
            "timings_ms": {**state.get("timings_ms", {}), "total": total_ms},
        }
        verification = dict(state.get("verification", {}))
        verification.pop("experts", None)
        verification.pop("rounds", None)  # the same claims, flattened in "claims"
        return TurnResult(
            answer=state["answer"],
            experts=experts,
            tool_calls=tool_calls,
            citations=state.get("citations", []),
            verification=verification,
            thread_id=thread_id,
            provenance=provenance,
        )

    async def _store(self, result: TurnResult, question: str, message_id: str | None) -> None:
        if self.pool is None:
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO answer_provenance (thread_id, message_id, question, answer, verdict, provenance)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (result.thread_id, message_id, question, result.answer, result.verification["verdict"],
                 Jsonb(result.provenance)),
            )  # fmt: skip


async def build_context(runtime: Runtime) -> AgentContext:
    """Experts, gate and tools over the runtime's gateway, pool and registry."""
    experts = load_experts(
        runtime.settings.experts_dir, tool_names=runtime.registry.names(), models=runtime.gateway.config
    )
    embedder = Embedder(runtime.gateway)
    cache = GateEmbeddingCache(runtime.pool, embedder.model)
    gate = Gate(experts, embedder.embed, runtime.registry, cache=cache)
    await gate.prepare()
    router = "router" if "router" in runtime.gateway.config.aliases() else None
    return AgentContext(
        llm=runtime.gateway,
        registry=runtime.registry,
        tool_context=runtime.tool_context,
        experts=experts,
        gate=gate,
        router_alias=router,
        demo_aliases=runtime.gateway.config.demo_aliases(),
        draft_with_demo_models=runtime.settings.draft_with_demo_models,
        models_config_sha256=runtime.gateway.config.sha256,
    )


def prepare_drafting_experts(gateway: Gateway, context: AgentContext) -> list[Future[None]]:
    """Evaluate each drafting expert's system prompt ahead of its first turn, in the background.

    For a server (its first turn per expert then evaluates only the question and evidence); a one-shot
    command skips it, since it would queue every expert's prompt before its one answer.
    """
    futures = []
    for expert in context.experts.values():
        if not context.drafts_with(expert.model):
            continue
        if (future := gateway.prepare_system_prompt(expert.model, expert.prompt)) is not None:
            future.add_done_callback(_log_if_failed)
            futures.append(future)
    return futures


def _log_if_failed(future: Future[None]) -> None:
    if (
        not future.cancelled() and (exc := future.exception()) is not None
    ):  # its first turn evaluates it instead
        log.warning("preparing an expert's system prompt failed: %s", type(exc).__name__)


@asynccontextmanager
async def open_assistant(runtime: Runtime) -> AsyncIterator[Assistant]:
    """The assistant with memory checkpointed in PostgreSQL (its own pool, as LangGraph requires),
    encrypted at rest with the key in RADASSIST_HOME (agent/security/checkpoints.py)."""
    from agent.db import open_checkpoint_pool
    from agent.security.checkpoints import EncryptedPostgresSaver, checkpoint_key, encrypted_serde

    serde = encrypted_serde(checkpoint_key(runtime.settings))
    pool = open_checkpoint_pool(runtime.database_url)
    try:
        await pool.open(wait=True)  # inside the try: a cancelled start still closes the pool
        saver = EncryptedPostgresSaver(pool, serde=serde)
        await saver.setup()
        yield await assemble(runtime, saver)
    finally:
        await pool.close()


async def assemble(runtime: Runtime, checkpointer: Any) -> Assistant:
    """An assistant over the runtime's models, experts and tools, remembering through `checkpointer`.

    `open_assistant` builds the first one; a models reload (agent/live.py) builds the next one over a
    runtime with the new gateway and the same checkpointer, so conversations keep their memory.
    """
    context = await build_context(runtime)
    notice = demo_notice(runtime.gateway.config, context.experts, context.draft_with_demo_models)
    # RADASSIST_MAX_MESSAGE_CHARS; the UI refuses longer ones unstored
    limit = runtime.settings.max_message_chars
    return Assistant(
        context,
        build_graph(checkpointer=checkpointer),
        pool=runtime.pool,
        max_message_chars=limit,
        notice=notice,
    )
