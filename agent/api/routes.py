"""The OpenAI-compatible API, served by the chat UI's process under /v1.

- `GET /v1/models`: the experts as models: `radassist` (the gate chooses the expert) and
  `radassist-<expert>` (that expert answers).
- `POST /v1/chat/completions`: one turn of the agent for the conversation's last user message, with
  `stream: true` (server-sent events in OpenAI's chunk format, ending with `data: [DONE]`) or not. The
  content is the verified final answer; a `radassist` field (ignored by standard clients) carries the
  findings, citations, verdict, thread and provenance ids. The thread is the `X-Radassist-Thread` header's,
  or derived from the conversation (agent/api/conversations.py); it is returned in the same header.

Closed by default, like the chat UI: every call needs an API key of an enabled account (agent/api/keys.py),
checked on every call; calls per account are rate-limited and wrong keys per client address back off,
both shared by every app process (agent/security/throttle.py); requests from a browser origin other than
the public URL are refused; bodies over 1 MiB and messages over RADASSIST_MAX_MESSAGE_CHARS are refused
before anything runs; every call is audited (`api.models`, `api.chat`). Errors are OpenAI-shaped:
`{"error": {"message", "type", "param", "code"}}` with 400, 401, 403, 404, 413, 429 or 500. A streamed
answer is computed to its end even when the client goes away, so the chat history, the memory and the
provenance are never left half-written. The answer streams once verified: unverified drafts never reach
an API client; while the turn runs, SSE comments keep proxies from timing the connection out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from agent.api.conversations import HEADER, THREAD_ID, Thread, remember, resolve
from agent.api.keys import check_key, key_secret, presented_key
from agent.history import History, Message, ThreadRefused
from agent.live import LiveAssistant
from agent.security import audit
from agent.security.origins import PublicAddress
from agent.security.throttle import Backoff, RequestRate
from agent.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "/v1"
MODEL = "radassist"
MAX_BODY = 1 << 20  # a long conversation sent back whole fits; a flood does not
KEEPALIVE_SECONDS = 5.0
_running: set[asyncio.Task[Any]] = set()  # turns finish even when their client leaves


class ApiError(Exception):
    """An OpenAI-shaped error response."""

    def __init__(
        self, status: int, message: str, kind: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class Service:
    """What the routes need, handed over by the chat UI's start-up (`serve`)."""

    live: LiveAssistant
    settings: Settings
    public: PublicAddress
    secret: bytes
    history: History
    rate: RequestRate
    bad_keys: Backoff


_service: Service | None = None


def serve(live: LiveAssistant, public: PublicAddress) -> None:
    """Start answering: called once the runtime and the assistant are open."""
    global _service
    settings = live.current.runtime.settings
    _service = Service(
        live=live,
        settings=settings,
        public=public,
        secret=key_secret(settings),
        history=History(live.current.runtime.pool),
        rate=RequestRate("api", settings.api_requests_per_minute, 60.0),
        bad_keys=Backoff(
            "api-client", settings.login_max_failures_per_client, longest=settings.login_lockout_max
        ),
    )


def _svc() -> Service:
    if _service is None:
        raise ApiError(503, "the server is starting; try again in a moment", "server_error", "starting")
    return _service


api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def route() -> Mount:
    """The API as one route, for the chat UI's app (agent/ui/app.py puts it before the page route)."""
    return Mount(PREFIX, app=api)


@api.exception_handler(ApiError)
async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    return ApiError(exc.status_code, str(exc.detail), kind, str(exc.status_code)).response()


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return ApiError(400, "invalid request", "invalid_request_error", "invalid_request").response()


# -- the request --------------------------------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            if any(p.type != "text" for p in self.content):
                raise ApiError(
                    400, "only text content is supported", "invalid_request_error", "unsupported_content"
                )
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields radassist uses; other OpenAI parameters (temperature, ...) are accepted and ignored:
    each expert's sampling is the admin's choice in models.yaml."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    user: str | None = Field(default=None, max_length=200)
    stream_options: dict[str, Any] | None = None


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


async def _audit(
    request: Request, action: str, actor: str, result: audit.Result, target: str = "", **detail: Any
) -> None:
    await audit.record_or_log(
        _svc().live.current.runtime.pool,
        actor=actor,
        client=_client(request),
        action=action,
        target=target,
        result=result,
        detail=detail,
    )


_REFUSALS = {
    "missing": (401, "missing API key: send 'Authorization: Bearer <key>' (an admin makes one with "
               "`radassist keys create USER`)", "invalid_request_error", "missing_api_key"),
    "invalid": (401, "invalid API key", "invalid_request_error", "invalid_api_key"),
    "revoked": (401, "this API key was revoked", "invalid_request_error", "revoked_api_key"),
    "expired": (401, "this API key has expired", "invalid_request_error", "expired_api_key"),
    "disabled": (403, "the account of this API key is disabled", "permission_error", "account_disabled"),
}  # fmt: skip


@dataclass(frozen=True)
class Caller:
    identifier: str
    key: str


async def _authorize(request: Request, action: str) -> Caller:
    """Origin, key, account state and rate, in that order; every refusal audited."""
    service = _svc()
    pool = service.live.current.runtime.pool
    client = _client(request)
    if not service.public.allows(request.headers.get("origin")):
        await _audit(request, action, "", "denied", reason="origin")
        raise ApiError(403, "origin not allowed", "permission_error", "origin_not_allowed")
    if (wait := await service.bad_keys.wait(pool, client)) > 0:
        await _audit(request, action, "", "denied", reason="too many invalid keys")
        raise _throttled(wait, "too many requests with invalid API keys from this address")
    check = await check_key(pool, service.secret, presented_key(request.headers.get("authorization")))
    if check.refusal is not None:
        if check.refusal in ("missing", "invalid"):
            await service.bad_keys.failed(pool, client)
        await _audit(
            request, action, check.identifier or "", "denied", reason=check.refusal, key=check.prefix
        )
        status, message, kind, code = _REFUSALS[check.refusal]
        if check.expired_at is not None:
            message += f" ({check.expired_at:%Y-%m-%d %H:%M %Z})"
        raise ApiError(status, message, kind, code)
    assert check.identifier is not None
    if (wait := await service.rate.take(pool, check.identifier)) > 0:
        await _audit(request, action, check.identifier, "denied", reason="rate", key=check.prefix)
        raise _throttled(
            wait, f"at most {service.settings.api_requests_per_minute} requests a minute per account"
        )
    return Caller(check.identifier, check.prefix)


def _throttled(wait: float, message: str) -> ApiError:
    seconds = max(1, int(wait + 0.999))
    return ApiError(
        429,
        f"{message}; retry in {seconds} s",
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": str(seconds)},
    )


async def _body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(
            413, f"request body over {MAX_BODY} bytes", "invalid_request_error", "request_too_large"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(
                413, f"request body over {MAX_BODY} bytes", "invalid_request_error", "request_too_large"
            )
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"null")
    except ValueError:
        raise ApiError(400, "the body is not valid JSON", "invalid_request_error", "invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "invalid_request_error", "invalid_json")
    return body


def _parse(body: dict[str, Any]) -> ChatRequest:
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise ApiError(400, f"{where}: {err['msg']}", "invalid_request_error", "invalid_request") from None


# -- models -------------------------------------------------------------------------------------------


def _models(live: LiveAssistant) -> dict[str, str | None]:
    """Model id -> expert (None: the gate chooses)."""
    experts = live.current.assistant.context.experts
    return {MODEL: None, **{f"{MODEL}-{name}": name for name in experts}}


@api.get("/models")
async def list_models(request: Request) -> JSONResponse:
    caller = await _authorize(request, "api.models")
    live = _svc().live
    created = int(live.current.loaded_at.timestamp())
    data = [{"id": m, "object": "model", "created": created, "owned_by": MODEL} for m in _models(live)]
    await _audit(request, "api.models", caller.identifier, "success", key=caller.key)
    return JSONResponse({"object": "list", "data": data})


# -- chat completions ---------------------------------------------------------------------------------


@dataclass
class Turn:
    """One answered request: what the response and the audit record need."""

    request: ChatRequest
    thread_id: str
    answer_id: str
    result: Any
    provenance_id: int | None
    model_errors: list[str]
    """Experts whose model failed (down, timed out): their answer came from the tools and passages only."""

    def extension(self) -> dict[str, Any]:
        r = self.result
        findings = [
            {"tool": c["tool"], "via": c.get("via"), "input": c.get("input"), "output": c.get("output")}
            for c in r.tool_calls
            if c["tool"] != "guideline_search" and c.get("output")
        ]
        return {
            "thread_id": self.thread_id,
            "message_id": self.answer_id,
            "provenance_id": self.provenance_id,
            "verdict": r.verification.get("verdict"),
            "findings": findings,
            "citations": r.citations,
            "experts": r.experts,
            "models_config_sha256": r.provenance.get("models_config_sha256"),
            "model_errors": self.model_errors,
        }

    def usage(self) -> dict[str, int]:
        tokens = int(self.result.provenance.get("model_tokens", 0))
        return {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens}


def _prepare(chat: ChatRequest, live: LiveAssistant) -> tuple[str | None, str, list[tuple[str, str]]]:
    """(expert, question, earlier user/assistant turns) of a request, or a clear 400/404."""
    models = _models(live)
    if chat.model not in models:
        raise ApiError(
            404,
            f"model {chat.model!r} does not exist; models: {', '.join(models)}",
            "not_found_error",
            "model_not_found",
        )
    turns: list[tuple[str, str]] = [
        (m.role, m.text()) for m in chat.messages if m.role in ("user", "assistant")
    ]
    if not turns or chat.messages[-1].role != "user":
        raise ApiError(
            400, "messages: the last message must be the user's", "invalid_request_error", "invalid_messages"
        )
    question = turns[-1][1]
    limit = live.current.assistant.max_message_chars
    if not question.strip():
        raise ApiError(
            400, "messages: the last user message is empty", "invalid_request_error", "empty_message"
        )
    if len(question) > limit:
        raise ApiError(
            400,
            f"messages: the last user message is too long ({len(question)} characters; at most {limit})",
            "invalid_request_error",
            "message_too_long",
        )
    return models[chat.model], question, turns[:-1]


async def _thread(chat: ChatRequest, caller: Caller, header: str | None) -> Thread:
    """The request's thread: its header's (the caller's or new), or the one its conversation continues."""
    service = _svc()
    config = service.live.current  # every configuration shares the database and the checkpointer
    _, _, prior = _prepare(chat, service.live)
    try:
        return await resolve(
            config.runtime.pool,
            config.assistant.graph.checkpointer,
            service.secret,
            caller.identifier,
            chat.user,
            prior,
            header,
        )
    except ThreadRefused:
        raise ApiError(404, f"thread {header!r} not found", "not_found_error", "thread_not_found") from None


async def _answer(chat: ChatRequest, caller: Caller, thread: Thread) -> Turn:
    """Run one turn in `thread`, then write the chat history, the conversation hash and find the provenance."""
    service = _svc()
    expert, question, prior = _prepare(chat, service.live)
    async with service.live.turn() as config:  # this turn keeps this configuration, whatever a reload does
        asked = Message("user", question)
        answer_id = str(uuid.uuid4())
        failed: list[str] = []

        async def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "model_error":  # the error text stays out: it may quote the request
                failed.append(str(event.get("expert")))

        try:
            result = await config.assistant.ask(
                question, thread_id=thread.id, expert=expert, message_id=answer_id, on_event=on_event
            )
        except ValueError as exc:  # input the caller can fix
            raise ApiError(400, str(exc), "invalid_request_error", "invalid_message") from None
        pool, checkpointer = config.runtime.pool, config.assistant.graph.checkpointer
    answered = Message("assistant", result.answer, id=answer_id)
    await service.history.record(
        thread.id, caller.identifier, [*thread.record, asked, answered], new=thread.new
    )
    conversation = [*prior, ("user", question), ("assistant", result.answer)]
    await remember(pool, checkpointer, service.secret, caller.identifier, chat.user, conversation, thread.id)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM answer_provenance WHERE message_id = %s", (answer_id,))
        row = await cur.fetchone()
    return Turn(chat, thread.id, answer_id, result, int(row[0]) if row else None, sorted(set(failed)))


def _thread_header(request: Request) -> str | None:
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not THREAD_ID.match(value):
        raise ApiError(
            400,
            f"{HEADER}: use 1-100 letters, digits, '.', '_' or '-'",
            "invalid_request_error",
            "invalid_thread_id",
        )
    return value


@api.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    caller = await _authorize(request, "api.chat")
    try:
        chat = _parse(await _body(request))
        thread = await _thread(
            chat, caller, _thread_header(request)
        )  # bad input is refused before anything runs
    except ApiError as exc:
        await _audit(request, "api.chat", caller.identifier, "failure", key=caller.key, status=exc.status)
        raise
    task = asyncio.create_task(_answer(chat, caller, thread))
    _running.add(task)
    task.add_done_callback(_running.discard)
    if chat.stream:
        return StreamingResponse(
            _events(request, caller, chat, task),
            media_type="text/event-stream",
            headers={HEADER: thread.id, "X-Accel-Buffering": "no"},  # nginx: pass each event on at once
        )
    try:
        turn = await asyncio.shield(task)
    except ApiError as exc:
        await _audit(request, "api.chat", caller.identifier, "failure", key=caller.key, status=exc.status)
        raise
    except Exception as exc:
        await _audit(request, "api.chat", caller.identifier, "failure", key=caller.key, status=500)
        raise _failure(exc) from None
    await _audit(
        request, "api.chat", caller.identifier, "success", turn.thread_id, key=caller.key, stream=False
    )
    body = {
        "id": f"chatcmpl-{turn.answer_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": turn.result.answer},
                "finish_reason": "stop",
            }
        ],
        "usage": turn.usage(),
        "radassist": turn.extension(),
    }
    return JSONResponse(body, headers={HEADER: turn.thread_id})


def _failure(exc: BaseException) -> ApiError:
    name = type(exc).__name__
    log.error("API turn failed: %s", name)  # never the message: it may hold patient data
    if "Operational" in name or "Pool" in name or "Connection" in name:
        return ApiError(
            503, "the database is unavailable; nothing was lost, try again", "server_error", "unavailable"
        )
    return ApiError(500, f"the turn failed ({name}); try again", "server_error", "turn_failed")


def _sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()


_PIECE = re.compile(r"\S+\s*|\s+")


async def _events(
    request: Request, caller: Caller, chat: ChatRequest, task: asyncio.Task[Turn]
) -> AsyncIterator[bytes]:
    """OpenAI chunks: the role at once, keep-alive comments while the turn runs, then the verified answer."""
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})  # fmt: skip

    yield chunk({"role": "assistant", "content": ""})
    while not task.done():
        done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_SECONDS)
        if not done:
            yield b": the answer is being computed and verified\n\n"
    try:
        turn = task.result()
    except Exception as exc:
        error = exc if isinstance(exc, ApiError) else _failure(exc)
        await _audit(request, "api.chat", caller.identifier, "failure", key=caller.key, status=error.status)
        yield _sse(
            {"error": {"message": error.message, "type": error.kind, "param": None, "code": error.code}}
        )
        yield _sse("[DONE]")
        return
    words = _PIECE.findall(turn.result.answer)
    for start in range(0, len(words), 8):
        yield chunk({"content": "".join(words[start : start + 8])})
    yield chunk({}, "stop", radassist=turn.extension())
    if (chat.stream_options or {}).get("include_usage"):
        yield _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                    "choices": [], "usage": turn.usage()})  # fmt: skip
    yield _sse("[DONE]")
    await _audit(
        request, "api.chat", caller.identifier, "success", turn.thread_id, key=caller.key, stream=True
    )
