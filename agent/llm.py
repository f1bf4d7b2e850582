"""What the agent asks of a model gateway: `agent.gateway.Gateway` and the tests' scripted model both are one.

The graph calls models only through these methods, by alias; which model answers is the admin's
choice in models.yaml. A test model implements the same protocol, so the graph has no code path
that exists only for fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

Messages = list[dict[str, Any]]


class LLM(Protocol):
    """Chat, JSON and tool calls by alias, plus what answered (for provenance)."""

    def astream(self, alias: str, messages: Messages, **params: Any) -> AsyncIterator[str]:
        """Yield the reply text as it is generated."""
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
