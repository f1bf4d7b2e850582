"""Deterministic stand-ins for fast graph tests: a scripted chat model and a hashing embedder.

`ScriptedLLM` implements `agent.llm.LLM`, the protocol the gateway implements, so the graph has no
path that exists only for it. Drafts come from a list (one per call) or a function of the messages;
JSON replies (entailment, gap filling, the LLM gate) from a function of (messages, schema). It never
calls tools natively (subclasses do); what answered comes from the real gateway once
`provenance_from(gateway)` is called, else from a fixed fake description.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncGenerator, Callable
from typing import Any

import numpy as np

from agent.llm import LLM, ReplyStream

Messages = list[dict[str, Any]]
EXPERTS = ("abdominal", "breast", "chest", "general", "gu", "msk", "neuro")  # the shipped experts' aliases


class ScriptedLLM(LLM):
    def __init__(
        self,
        drafts: list[str] | Callable[[Messages], str] | None = None,
        json_reply: Callable[[Messages, dict[str, Any]], dict[str, Any]] | None = None,
        fail_with: Exception | None = None,
        cut_off: bool = False,
    ) -> None:
        self.drafts = drafts if drafts is not None else []
        self.cut_off = cut_off  # every draft ends at the token limit
        self.json_reply = json_reply or _all_yes
        self.fail_with = fail_with
        self.calls: list[dict[str, Any]] = []
        self.gateway: LLM | None = None

    def provenance_from(self, gateway: LLM) -> None:
        """Describe models, their sampling and the chat aliases as the real gateway does."""
        self.gateway = gateway

    def _next_draft(self, messages: Messages) -> str:
        if callable(self.drafts):
            return self.drafts(messages)
        return self.drafts.pop(0) if self.drafts else ""

    def astream(self, alias: str, messages: Messages, **params: Any) -> ReplyStream:
        return ReplyStream(lambda reply: self._stream(reply, alias, messages))

    async def _stream(self, reply: ReplyStream, alias: str, messages: Messages) -> AsyncGenerator[str, None]:
        self.calls.append({"kind": "stream", "alias": alias, "messages": messages})
        if self.fail_with is not None:
            raise self.fail_with
        for token in re.findall(r"\S+\s*", self._next_draft(messages)):
            yield token
        reply.cut_off = self.cut_off

    async def acomplete(self, alias: str, messages: Messages, **params: Any) -> str:
        self.calls.append({"kind": "complete", "alias": alias, "messages": messages})
        return self._next_draft(messages)

    async def acomplete_json(
        self, alias: str, messages: Messages, schema: dict[str, Any], **params: Any
    ) -> dict[str, Any]:
        self.calls.append({"kind": "json", "alias": alias, "messages": messages, "schema": schema})
        if self.fail_with is not None:
            raise self.fail_with
        return self.json_reply(messages, schema)

    async def acall_tools(
        self, alias: str, messages: Messages, tools: list[dict[str, Any]], **params: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        raise AssertionError("the scripted model does not call tools natively (supports_tools is False)")

    def supports_tools(self, alias: str) -> bool:
        return False

    def chat_aliases(self) -> list[str]:
        if self.gateway is not None:
            return self.gateway.chat_aliases()
        return ["default", *(f"expert-{name}" for name in EXPERTS)]

    def describe(self, alias: str) -> dict[str, Any]:
        if self.gateway is not None:
            return self.gateway.describe(alias)
        return {"alias": alias, "model": "scripted/fake", "local": True}

    def sampling(self, alias: str) -> dict[str, Any]:
        if self.gateway is not None:
            return self.gateway.sampling(alias)
        return {"temperature": 0.0}

    def drafted_for(self) -> list[str]:
        return [c["alias"] for c in self.calls if c["kind"] == "stream"]


def _all_yes(messages: Messages, schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    if "verdicts" in props:
        n = props["verdicts"]["minItems"]
        return {"verdicts": ["yes"] * n}
    return {}


async def hashing_embed(texts: list[str]) -> np.ndarray:
    """Bag-of-words vectors (256 buckets): similar wording, similar vector; no model needed."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
    return out
