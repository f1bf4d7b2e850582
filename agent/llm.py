"""What the agent asks of a model gateway: `agent.gateway.Gateway` and the tests' scripted model both are one.

The graph calls models only through these methods, by alias; which model answers is the admin's
choice in models.yaml. A test model implements the same protocol, so the graph has no code path
that exists only for fakes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal, Protocol

Messages = list[dict[str, Any]]
RequestKind = Literal["chat", "embedding"]

ALLOW_MODEL_REQUESTS = True
"""Chat, JSON and tool-call requests may reach a real model (pydantic-ai's switch of the same name).
The tests' conftest turns it off for every test not marked `gguf`, so a test that claims to use a
fake model cannot make a real call by accident."""
ALLOW_EMBEDDING_REQUESTS = True
"""The same for embedding requests (MiniLM); the tests allow them only when marked as using it."""


class ModelRequestsBlocked(RuntimeError):
    """A real model request where none may happen (a test that claims to be fake)."""


def check_allow_model_requests(kind: RequestKind, alias: str) -> None:
    """Raise unless real requests of this kind are allowed; the gateway calls it before every request."""
    allowed = ALLOW_MODEL_REQUESTS if kind == "chat" else ALLOW_EMBEDDING_REQUESTS
    if not allowed:
        marker = "gguf" if kind == "chat" else "minilm (or postgres)"
        raise ModelRequestsBlocked(
            f"a real {kind} request to alias {alias!r} where model requests are off; a test that means to "
            f"use the real model is marked {marker}"
        )


class ReplyStream:
    """A reply streamed as it is generated; once spent, `cut_off` says whether the model stopped at its
    token limit, where its last sentence may be unfinished (and a cut sentence can say the opposite of the
    whole: "the nodule does not need follow-up unless ...")."""

    def __init__(self, deltas: Callable[[ReplyStream], AsyncGenerator[str, None]]) -> None:
        self.cut_off = False
        self._deltas = deltas(self)  # the generator sets `cut_off` on the reply it is given

    def __aiter__(self) -> ReplyStream:
        return self

    async def __anext__(self) -> str:
        return await anext(self._deltas)

    async def aclose(self) -> None:
        """Stop generating (a stream abandoned before its end releases the model)."""
        await self._deltas.aclose()


class LLM(Protocol):
    """Chat, JSON and tool calls by alias, plus what answered (for provenance)."""

    def astream(self, alias: str, messages: Messages, **params: Any) -> ReplyStream:
        """The reply text as it is generated, then whether it was cut off at the token limit."""
        ...

    async def acomplete_json(
        self, alias: str, messages: Messages, schema: dict[str, Any], **params: Any
    ) -> dict[str, Any]:
        """Return a JSON object that matches `schema`; invalid JSON raises ValueError."""
        ...

    async def acall_tools(
        self, alias: str, messages: Messages, tools: list[dict[str, Any]], **params: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        """Let a model with native tool calling choose tools: (name, arguments) pairs, unvalidated."""
        ...

    def supports_tools(self, alias: str) -> bool:
        """True when the alias's model calls tools natively (else the agent uses constrained JSON)."""
        ...

    def chat_aliases(self) -> list[str]:
        """The aliases that answer chat (not embeddings), for the UI's model setting."""
        ...

    def describe(self, alias: str) -> dict[str, Any]:
        """The resolved model behind an alias, for provenance."""
        ...

    def sampling(self, alias: str) -> dict[str, Any]:
        """The sampling settings configured for an alias, for provenance."""
        ...
