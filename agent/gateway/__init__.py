"""The model gateway: models.yaml -> a litellm Router with our two in-process providers.

The rest of the app calls only `Gateway` methods with an alias ('default', 'router', 'embedder',
an expert's alias); which model answers is the admin's choice in models.yaml. Every method first asks
the egress guard (agent/gateway/phi.py) where the call may go: text with patient identifiers never
reaches an alias whose calls leave this machine, unless models.yaml allows it.

litellm and llama-cpp-python are imported when the first chat call needs them, not before: a CLI
command that only searches or classifies never pays for them. Local embeddings go straight to the
in-process model; chat goes through litellm's Router (its timeouts, retries and fallbacks).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agent.gateway.config import ModelEntry, ModelsConfig, load_models_config
from agent.gateway.embeddings import LocalEmbeddings, litellm_provider
from agent.gateway.gguf import file_sha256, resolve_adapter, resolve_gguf
from agent.gateway.phi import PhiWithheld, decide, message_texts, record_egress
from agent.llm import LLM, ReplyStream, check_allow_model_requests
from common.errors import RadassistError

if TYPE_CHECKING:
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
    from litellm.router import Router
    from litellm.types.llms.openai import AllMessageValues
    from litellm.types.utils import ModelResponse

    from agent.gateway.llamacpp import LlamaCppProvider

__all__ = [
    "Gateway",
    "ModelCall",
    "ModelEntry",
    "ModelsConfig",
    "PhiWithheld",
    "load_models_config",
    "record_egress",
    "record_model_calls",
]


@dataclass
class ModelCall:
    """One chat call: which alias, how many tokens it generated, how long it took (for provenance and benches),
    and, for a model server, which one answered (an alias may have several deployments)."""

    alias: str
    kind: str
    tokens: int
    seconds: float
    first_token_seconds: float | None = None
    """Streams only: from the request to the first token (prompt processing; `radassist eval` reports it)."""
    api_base: str | None = None
    """The deployment that answered (an alias may have several: litellm Router deployments)."""

    def as_json(self) -> dict[str, Any]:
        """As recorded in an answer's provenance (times in ms)."""
        data: dict[str, Any] = {"alias": self.alias, "kind": self.kind, "tokens": self.tokens}
        data["ms"] = round(self.seconds * 1000, 2)
        if self.first_token_seconds is not None:
            data["first_token_ms"] = round(self.first_token_seconds * 1000, 2)
        if self.api_base:
            data["api_base"] = self.api_base
        return data


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


def _record(
    alias: str,
    kind: str,
    tokens: int,
    start: float,
    response: object = None,
    first_token: float | None = None,
) -> None:
    calls = _calls.get()
    if calls is not None:
        hidden = getattr(response, "_hidden_params", None) or {}  # litellm: the deployment that answered
        api_base = hidden.get("api_base") if isinstance(hidden, dict) else None
        first = None if first_token is None else first_token - start
        calls.append(ModelCall(alias, kind, tokens, time.perf_counter() - start, first, api_base))


_SAFE_LITELLM_SETTINGS = ("drop_params", "request_timeout")
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
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

    def __init__(
        self, config: ModelsConfig, *, model_dir: Path | None = None, llamacpp: LlamaCppProvider | None = None
    ) -> None:
        """`llamacpp`: the provider of the gateway this one replaces (a models reload), so a GGUF both
        configurations load with the same options stays loaded once."""
        self.config = config
        self.model_dir = model_dir
        self.base = config.source.parent if config.source else None
        self.embeddings = LocalEmbeddings(base=self.base)
        self._lock = threading.RLock()
        self._llamacpp: LlamaCppProvider | None = llamacpp
        self._router: Router | None = None
        self._gguf: dict[str, tuple[Path, str]] = {}

    @property
    def llamacpp(self) -> LlamaCppProvider:
        """The in-process llama.cpp provider (imports llama-cpp-python and litellm on first use)."""
        with self._lock:
            if self._llamacpp is None:
                from agent.gateway.llamacpp import LlamaCppProvider

                self._llamacpp = LlamaCppProvider(base=self.base, model_dir=self.model_dir)
            return self._llamacpp

    @property
    def router(self) -> Router:
        """litellm's Router over models.yaml, with our two in-process providers registered."""
        with self._lock:
            if self._router is None:
                self._router = self._build_router()
            return self._router

    def _build_router(self) -> Router:
        import litellm
        from litellm.router import Router
        from litellm.utils import custom_llm_setup

        ours = {"llamacpp": self.llamacpp, "sentence_transformers": litellm_provider(self.embeddings)}
        litellm.custom_provider_map = [
            p for p in litellm.custom_provider_map if p["provider"] not in ours
        ] + [{"provider": name, "custom_handler": handler} for name, handler in ours.items()]
        custom_llm_setup()
        litellm.suppress_debug_info = True
        litellm.turn_off_message_logging = True  # no prompts (possible PHI) in litellm's callbacks
        for name in _LITELLM_LOGGERS:  # its debug lines print whole requests: never below WARNING,
            logging.getLogger(name).setLevel(logging.WARNING)  # whatever level the root logger has
        for key in _SAFE_LITELLM_SETTINGS:
            if key in self.config.litellm_settings:
                setattr(litellm, key, self.config.litellm_settings[key])
        try:
            router: Router = Router(
                model_list=[e.model_dump(exclude_none=True) for e in self.config.model_list],
                **self.config.router_settings,
            )
        except TypeError as exc:
            raise RadassistError(f"{self.config.source}: router_settings: {exc}") from exc
        return router

    @classmethod
    def from_file(cls, path: Path, *, model_dir: Path | None = None) -> Gateway:
        return cls(load_models_config(path, model_dir=model_dir), model_dir=model_dir)

    # -- where a call may go --------------------------------------------------------------------
    def _egress(self, alias: str, texts: list[str], *, may_fall_back: bool = True) -> str:
        """The alias that may receive these texts (the alias itself, or its local fallback); else PhiWithheld."""
        self.config.entries(alias)
        decision = decide(self.config, alias, texts, may_fall_back=may_fall_back)
        if decision.sent_to is None:
            raise PhiWithheld(decision)
        return decision.sent_to

    # -- chat --------------------------------------------------------------------------------
    async def acomplete(self, alias: str, messages: list[dict[str, Any]], **params: Any) -> str:
        """Return the whole reply text of one chat completion."""
        alias = self._egress(alias, message_texts(messages))
        check_allow_model_requests("chat", alias)
        start = time.perf_counter()
        response = _reply(await self.router.acompletion(model=alias, messages=_openai(messages), **params))
        usage = getattr(response, "usage", None)
        _record(alias, "complete", int(getattr(usage, "completion_tokens", 0) or 0), start, response)
        return response.choices[0].message.content or ""

    def astream(self, alias: str, messages: list[dict[str, Any]], **params: Any) -> ReplyStream:
        """The reply text as it is generated, then whether it was cut off at the token limit."""
        return ReplyStream(lambda reply: self._stream(reply, alias, messages, **params))

    async def _stream(
        self, reply: ReplyStream, alias: str, messages: list[dict[str, Any]], **params: Any
    ) -> AsyncGenerator[str, None]:
        alias = self._egress(alias, message_texts(messages))
        check_allow_model_requests("chat", alias)
        start, tokens = time.perf_counter(), 0
        first: float | None = None
        from litellm.types.utils import ModelResponse

        response = await self.router.acompletion(
            model=alias, messages=_openai(messages), stream=True, **params
        )
        if isinstance(response, ModelResponse):
            raise TypeError(f"model {alias!r}: a streaming call returned a whole reply")
        try:
            async for chunk in response:
                if chunk.choices and chunk.choices[0].finish_reason == "length":
                    reply.cut_off = True
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    tokens += 1
                    first = first or time.perf_counter()
                    yield delta
        finally:
            _record(alias, "stream", tokens, start, response, first)

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
        alias = self._egress(alias, message_texts(messages))
        check_allow_model_requests("chat", alias)
        start = time.perf_counter()
        response = _reply(
            await self.router.acompletion(
                model=alias, messages=_openai(messages), tools=tools, tool_choice="auto", **params
            )
        )
        usage = getattr(response, "usage", None)
        _record(alias, "tools", int(getattr(usage, "completion_tokens", 0) or 0), start, response)
        from litellm.types.utils import ChatCompletionMessageToolCall

        calls: list[tuple[str, dict[str, Any]]] = []
        for call in response.choices[0].message.tool_calls or []:
            if not isinstance(call, ChatCompletionMessageToolCall) or not call.function.name:
                continue  # a free-form "custom" tool call: only function tools are ever offered
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except json.JSONDecodeError:
                arguments = None
            calls.append((call.function.name, arguments if isinstance(arguments, dict) else {}))
        return calls

    # -- embeddings --------------------------------------------------------------------------
    async def aembed(self, alias: str, texts: list[str]) -> list[list[float]]:
        """Embed texts with the model behind `alias` (default: the bundled MiniLM).

        No fallback here: another model's vectors would not match the knowledge base's.
        """
        alias = self._egress(alias, list(texts), may_fall_back=False)
        params = self.config.entry(alias).litellm_params
        check_allow_model_requests("embedding", alias)
        if params.provider == "sentence_transformers":  # in-process: no Router, no litellm import
            return await asyncio.to_thread(self.embeddings.encode, params.target, texts)
        inputs: list[object] = list(texts)
        response = await self.router.aembedding(model=alias, input=inputs)
        return [item["embedding"] for item in response.data]

    # -- what answered -----------------------------------------------------------------------
    def describe(self, alias: str) -> dict[str, Any]:
        """Return the resolved model behind an alias for provenance (GGUF sha256 once loaded)."""
        entry = self.config.entry(alias)
        params = entry.litellm_params
        info: dict[str, Any] = {"alias": alias, "model": params.model, "local": entry.is_local}
        if params.provider == "llamacpp":
            path, sha256 = self._gguf_file(params.target)
            info.update(path=str(path), sha256=sha256, chat_format=params.model_dump().get("chat_format"))
            if lora := (params.model_extra or {}).get("lora_path"):
                adapter = resolve_adapter(str(lora), base=self.base)
                scale = (params.model_extra or {}).get("lora_scale", 1.0)
                info["lora"] = {"path": str(adapter), "sha256": file_sha256(adapter), "scale": float(scale)}
        elif params.provider in ("ollama", "ollama_chat"):
            info.update(api_base=params.api_base, digest=_ollama_digest(params.target, params.api_base))
        elif params.api_base:
            info["api_base"] = params.api_base
        return info

    def _gguf_file(self, target: str) -> tuple[Path, str]:
        """The GGUF behind a target and its sha256, found once per process without loading the model."""
        with self._lock:
            if target not in self._gguf:
                path = resolve_gguf(target, base=self.base, model_dir=self.model_dir)
                self._gguf[target] = (path, file_sha256(path))
            return self._gguf[target]

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

    def loaded_provider(self) -> LlamaCppProvider | None:
        """The in-process llama.cpp provider if something created it (None: no GGUF was needed yet)."""
        return self._llamacpp

    def llamacpp_keys(self) -> set[tuple[Any, ...]]:
        """The load keys of every llamacpp/ deployment in this configuration (what a reload keeps loaded)."""
        if self._llamacpp is None:
            return set()
        return {
            self._llamacpp.load_key(e.litellm_params.model, e.litellm_params.model_dump())
            for e in self.config.model_list
            if e.litellm_params.provider == "llamacpp"
        }

    def prepare_system_prompt(self, alias: str, system: str) -> Future[None] | None:
        """Evaluate a system prompt ahead of its first call, where the alias's local model caches them
        (`system_prefix_cache`); None otherwise."""
        params = self.config.entry(alias).litellm_params
        if params.provider != "llamacpp":
            return None
        return self.llamacpp.prepare_system_prompt(params.model, params.model_dump(), system)

    def warm(self, alias: str) -> None:
        """Load a local model ahead of the first message (no-op for remote or Ollama models)."""
        params = self.config.entry(alias).litellm_params
        if params.provider == "llamacpp":
            self.llamacpp.load(params.model, params.model_dump())


def _openai(messages: list[dict[str, Any]]) -> list[AllMessageValues]:
    """Our messages are OpenAI chat messages as plain dicts; litellm types them as TypedDicts."""
    return cast("list[AllMessageValues]", messages)


def _reply(response: ModelResponse | CustomStreamWrapper) -> ModelResponse:
    """A non-streaming call's reply (litellm types every acompletion as either)."""
    from litellm.types.utils import ModelResponse

    if not isinstance(response, ModelResponse):
        raise TypeError("a non-streaming model call returned a stream")
    return response


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
