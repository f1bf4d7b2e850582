"""The model gateway: models.yaml -> a litellm Router with our two in-process providers.

The rest of the app calls only `Gateway` methods with an alias ('default', 'router', 'embedder',
an expert's alias); which model answers is the admin's choice in models.yaml.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.gateway.config import ModelEntry, ModelsConfig, load_models_config
from agent.gateway.embeddings import SentenceTransformersProvider
from agent.gateway.llamacpp import LlamaCppProvider
from agent.llm import LLM, check_allow_model_requests
from common.errors import RadassistError

__all__ = ["Gateway", "ModelCall", "ModelEntry", "ModelsConfig", "load_models_config", "record_model_calls"]


@dataclass
class ModelCall:
    """One chat call: which alias, how many tokens it generated, how long it took (for provenance and benches)."""

    alias: str
    kind: str
    tokens: int
    seconds: float


_calls: ContextVar[list[ModelCall] | None] = ContextVar("radassist_model_calls", default=None)


@contextmanager
def record_model_calls() -> Iterator[list[ModelCall]]:
    """Collect every chat call made in this context (a turn of the agent) into the yielded list."""
    calls: list[ModelCall] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def _record(alias: str, kind: str, tokens: int, start: float) -> None:
    calls = _calls.get()
    if calls is not None:
        calls.append(ModelCall(alias, kind, tokens, time.perf_counter() - start))


_SAFE_LITELLM_SETTINGS = ("drop_params", "request_timeout")
_SAMPLING_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_tokens",
    "seed",
    "repeat_penalty",
    "num_ctx",
    "n_ctx",
)


class Gateway(LLM):
    """One per process: owns the Router and the loaded local models (the agent's `LLM`)."""

    def __init__(self, config: ModelsConfig, *, model_dir: Path | None = None) -> None:
        import litellm
        from litellm.router import Router
        from litellm.utils import custom_llm_setup

        self.config = config
        base = config.source.parent if config.source else None
        self.llamacpp = LlamaCppProvider(base=base, model_dir=model_dir)
        self.embeddings = SentenceTransformersProvider(base=base)
        ours = {"llamacpp": self.llamacpp, "sentence_transformers": self.embeddings}
        litellm.custom_provider_map = [
            p for p in litellm.custom_provider_map if p["provider"] not in ours
        ] + [{"provider": name, "custom_handler": handler} for name, handler in ours.items()]
        custom_llm_setup()
        litellm.suppress_debug_info = True
        litellm.turn_off_message_logging = True  # no prompts (possible PHI) in litellm's logs
        for key in _SAFE_LITELLM_SETTINGS:
            if key in config.litellm_settings:
                setattr(litellm, key, config.litellm_settings[key])
        try:
            self.router = Router(
                model_list=[e.model_dump(exclude_none=True) for e in config.model_list],
                **config.router_settings,
            )
        except TypeError as exc:
            raise RadassistError(f"{config.source}: router_settings: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path, *, model_dir: Path | None = None) -> Gateway:
        return cls(load_models_config(path, model_dir=model_dir), model_dir=model_dir)

    # -- chat --------------------------------------------------------------------------------
    async def acomplete(self, alias: str, messages: list[dict[str, Any]], **params: Any) -> str:
        """Return the whole reply text of one chat completion."""
        self.config.entries(alias)
        check_allow_model_requests("chat", alias)
        start = time.perf_counter()
        response = await self.router.acompletion(model=alias, messages=messages, **params)
        usage = getattr(response, "usage", None)
        _record(alias, "complete", int(getattr(usage, "completion_tokens", 0) or 0), start)
        return response.choices[0].message.content or ""

    async def astream(self, alias: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[str]:
        """Yield the reply text as it is generated."""
        self.config.entries(alias)
        check_allow_model_requests("chat", alias)
        start, tokens = time.perf_counter(), 0
        response = await self.router.acompletion(model=alias, messages=messages, stream=True, **params)
        try:
            async for chunk in response:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    tokens += 1
                    yield delta
        finally:
            _record(alias, "stream", tokens, start)

    async def acomplete_json(
        self, alias: str, messages: list[dict[str, Any]], schema: dict[str, Any], **params: Any
    ) -> dict[str, Any]:
        """Return JSON that matches `schema` (a grammar constrains local models); invalid JSON raises ValueError."""
        fmt = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        text = await self.acomplete(alias, messages, response_format=fmt, **params)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"model {alias!r} returned invalid JSON") from exc
        if not isinstance(value, dict):
            raise ValueError(f"model {alias!r} returned JSON that is not an object")
        return value

    async def acall_tools(
        self, alias: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], **params: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        """Let a model with native tool calling choose tools; returns (name, arguments) pairs, unvalidated."""
        self.config.entries(alias)
        check_allow_model_requests("chat", alias)
        start = time.perf_counter()
        response = await self.router.acompletion(
            model=alias, messages=messages, tools=tools, tool_choice="auto", **params
        )
        usage = getattr(response, "usage", None)
        _record(alias, "tools", int(getattr(usage, "completion_tokens", 0) or 0), start)
        calls = []
        for call in response.choices[0].message.tool_calls or []:
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except json.JSONDecodeError:
                arguments = None
            calls.append((call.function.name, arguments if isinstance(arguments, dict) else {}))
        return calls

    # -- embeddings --------------------------------------------------------------------------
    async def aembed(self, alias: str, texts: list[str]) -> list[list[float]]:
        """Embed texts with the model behind `alias` (default: the bundled MiniLM)."""
        self.config.entries(alias)
        check_allow_model_requests("embedding", alias)
        response = await self.router.aembedding(model=alias, input=texts)
        return [item["embedding"] for item in response.data]

    # -- what answered -----------------------------------------------------------------------
    def describe(self, alias: str) -> dict[str, Any]:
        """Return the resolved model behind an alias for provenance (GGUF sha256 once loaded)."""
        entry = self.config.entry(alias)
        params = entry.litellm_params
        info: dict[str, Any] = {"alias": alias, "model": params.model, "local": entry.is_local}
        if params.provider == "llamacpp":
            loaded = self.llamacpp.load(params.model, params.model_dump())
            info.update(path=str(loaded.path), sha256=loaded.sha256, chat_format=loaded.chat_format)
        elif params.provider in ("ollama", "ollama_chat"):
            info.update(api_base=params.api_base, digest=_ollama_digest(params.target, params.api_base))
        elif params.api_base:
            info["api_base"] = params.api_base
        return info

    def sampling(self, alias: str) -> dict[str, Any]:
        """The sampling settings configured for an alias (recorded with every answer)."""
        params = self.config.entry(alias).litellm_params.model_dump()
        return {k: params[k] for k in _SAMPLING_KEYS if params.get(k) is not None}

    def chat_aliases(self) -> list[str]:
        """Aliases in models.yaml that answer chat (not embeddings), for the UI's model setting."""
        config = self.config
        return [a for a in config.aliases() if config.entry(a).model_info.get("mode", "chat") == "chat"]

    def supports_tools(self, alias: str) -> bool:
        """True when the admin declared native tool calling for the alias (model_info.supports_function_calling)."""
        return bool(self.config.entry(alias).model_info.get("supports_function_calling"))

    def warm(self, alias: str) -> None:
        """Load a local model ahead of the first message (no-op for remote or Ollama models)."""
        params = self.config.entry(alias).litellm_params
        if params.provider == "llamacpp":
            self.llamacpp.load(params.model, params.model_dump())


def _ollama_digest(model: str, api_base: str | None) -> str | None:
    """The digest Ollama reports for a model (what makes an Ollama answer reproducible); None if unreachable."""
    import ollama

    try:
        listing = ollama.Client(host=api_base or "http://127.0.0.1:11434", timeout=2).list()
    except Exception:  # provenance is best effort: an unreachable Ollama must not fail the answer
        return None
    wanted = model if ":" in model else f"{model}:latest"
    for item in listing.models:
        if item.model in (model, wanted):
            return item.digest
    return None
