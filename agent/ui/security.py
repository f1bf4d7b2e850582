"""Login, sessions, isolation, origins and response headers for the Chainlit app (imported once by app.py).

What Chainlit 2.12 checks by itself, read in chainlit/server.py and socket.py, and what this adds:

| Entry point (ids it takes)                        | Chainlit 2.12                                   | Added here |
|---------------------------------------------------|-------------------------------------------------|------------|
| GET /project/thread/{thread}                      | `is_thread_author` (401/404)                    | audited (`thread.read`) |
| GET /project/thread/{thread}/element/{element}    | author of {thread}; element looked up in it     | data layer matches element *and* thread |
| PUT, DELETE /project/thread (rename, delete)      | `is_thread_author`                              | data layer refuses non-owners too; delete erases provenance and checkpoints too, audited |
| POST /project/threads (history list)              | filter.userId forced to the caller              | cursor from another user's thread ignored; audited (`thread.list`) |
| PUT /project/thread/share, GET /project/share/{t} | share: author only, but ignores `allow_thread_sharing`; view: anyone, even anonymous, once shared | both refused (404): sharing is off |
| PUT /feedback                                     | **no ownership check**; the client's feedback id is upserted; `on_feedback` runs in the session named by the client's sessionId | step must be in the caller's thread, session must be the caller's; data layer ignores the client's feedback id |
| DELETE /feedback                                  | **no ownership check** (deletes any id)         | feedback must be the caller's (404) |
| PUT, DELETE /project/element                      | session must be the caller's, but the element's threadId and forId come from the client | element, its thread and its step must be in that session's thread; data layer refuses too |
| GET /project/file/{id}?session_id=                | session must be the caller's                    | - |
| POST /project/action, /mcp                        | session must be the caller's; MCP disabled      | /mcp refused outright |
| POST /auth/jwt, /auth/header, /auth/oauth/...     | mint a login cookie from another credential     | refused (404): password login only |
| /docs, /redoc, /openapi.json                      | FastAPI's defaults, public                      | refused (404) |
| any request with a login token                    | the token is valid until it expires (12 h), even after logout | its server-side session must be usable: logout, password change, disabled account, revocation, idle timeout and lifetime end it at once |
| any request with an Origin header                 | CORS echoes any origin with credentials (`allow_origins = ["*"]`) | only the public origin; others refused (403) |
| POST /login                                       | no throttling                                   | back-off per account and per client address, attempts per client address, bounded hashing pool: 429 + Retry-After; audited |
| socket handshake and events                       | no Origin check; events of disabled features handled | agent/ui/socket_guard.py |
| /v1/... (the OpenAI-compatible API)               | -                                               | passed to agent/api/routes.py: origin, API key, account state, rate, body size, audit |
| GET /project/thread/{thread}/export               | -                                               | agent/ui/export.py: owner only (404), audited (`thread.export`) |

The guard is a plain ASGI middleware (so a context variable it sets reaches the endpoint): it checks the
origin and the login session, the routes above, tells the data layer who is acting (agent/ui/data_layer.py
refuses writes to threads the actor does not own, whatever the entry point) and writes the audit records
of HTTP reads and deletions. `SecurityHeaders` adds the Content-Security-Policy (agent/ui/page.py) and
`Cache-Control: no-store` to every response that can carry patient data.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from http.cookies import SimpleCookie
from typing import Any

import chainlit as cl
import chainlit.auth.cookie
import chainlit.server
import chainlit.socket
import psycopg
from chainlit.auth.cookie import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt
from chainlit.config import config
from chainlit.data.base import BaseDataLayer
from chainlit.server import app, sio
from fastapi import HTTPException, Request, Response
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.middleware.cors import CORSMiddleware

from agent.security import audit
from agent.security.origins import public_address
from agent.security.sessions import (
    SESSION_CLAIM,
    SessionPolicy,
    account_state,
    end_session,
    live_sessions,
    open_session,
    use_session,
)
from agent.security.throttle import LoginThrottle, Throttled
from agent.settings import get_settings
from agent.ui.auth import authenticate
from agent.ui.data_layer import ANONYMOUS, PostgresDataLayer, acting_as
from agent.ui.page import Page
from agent.ui.socket_guard import SocketGuard

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_GUARDED_BODY = 256 * 1024  # feedback, element and thread requests are small; refuse anything larger
_GUARDED_PREFIXES = ("/project/", "/feedback", "/user", "/ws/", "/mcp", "/set-session-cookie")
_CLOSED_PREFIXES = ("/docs", "/redoc", "/openapi.json", "/auth/jwt", "/auth/header", "/auth/oauth")
_THREAD_READ = re.compile(r"^/project/thread/([^/]+)$")

if config.features.mcp.enabled or config.features.allow_thread_sharing:
    raise RuntimeError(
        ".chainlit/config.toml: radassist requires [features.mcp] enabled = false and "
        "allow_thread_sharing = false (MCP advisories; shared threads would bypass per-user isolation)"
    )

SETTINGS = get_settings()
PUBLIC = public_address(SETTINGS, port=int(os.environ.get("CHAINLIT_PORT") or SETTINGS.port))
POLICY = SessionPolicy.from_settings(SETTINGS)
THROTTLE = LoginThrottle(
    account_failures=SETTINGS.login_max_failures,
    client_failures=SETTINGS.login_max_failures_per_client,
    longest=SETTINGS.login_lockout_max,
    client_attempts_per_minute=SETTINGS.login_attempts_per_minute,
)

_layer = PostgresDataLayer()
_client: ContextVar[str] = ContextVar("radassist_client", default="")


@cl.data_layer
def data_layer() -> BaseDataLayer:
    return _layer


def use_pool(pool: AsyncConnectionPool) -> None:
    """Share the runtime's pool with the data layer (the app calls this at start-up)."""
    _layer.use_pool(pool)


def client_address() -> str:
    """The address of the client of the current request (behind a proxy: the one it forwarded)."""
    return _client.get()


@contextmanager
def _as_client(address: str) -> Iterator[None]:
    token = _client.set(address)
    try:
        yield
    finally:
        _client.reset(token)


async def record(
    action: str,
    *,
    actor: str,
    target: str = "",
    result: audit.Result = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the audit trail; a failure to write is logged (without details), never shown to the user."""
    await audit.record_or_log(
        await _layer.pool(),
        actor=actor,
        client=client_address(),
        action=action,
        target=target,
        result=result,
        detail=detail,
    )


# -- Chainlit's own settings: origins, cookies, token lifetime, docs --------------------------------------

config.project.allow_origins = list(PUBLIC.origins)
config.project.user_session_timeout = SETTINGS.session_lifetime  # the login token's and cookie's lifetime
for _middleware in app.user_middleware:
    if getattr(_middleware, "cls", None) is CORSMiddleware:
        _middleware.kwargs["allow_origins"] = list(PUBLIC.origins)
if PUBLIC.https:
    chainlit.auth.cookie._cookie_secure = True
sio.eio.cors_allowed_origins = list(PUBLIC.origins)  # engine.io refuses other origins' handshakes too
# engine.io drops the connection, without a word, on a packet over this size (1 MB by default): 2 MiB lets
# a pasted megabyte reach the socket guard, which refuses it with a message saying why.
sio.eio.max_http_buffer_size = 2 * 2**20
app.openapi_url = app.docs_url = app.redoc_url = None
app.router.routes = [r for r in app.router.routes if not getattr(r, "path", "").startswith(_CLOSED_PREFIXES)]

PAGE = Page(chainlit.server.get_html_template, PUBLIC.websocket_sources())
chainlit.server.get_html_template = PAGE.html  # the page is generated without external links


def _root_path() -> str:
    return os.getenv("CHAINLIT_PARENT_ROOT_PATH", "") + os.getenv("CHAINLIT_ROOT_PATH", "")


# -- login and logout ----------------------------------------------------------------------------------


def _session_id(token: str) -> tuple[str, str | None] | None:
    """(identifier, session id) of a validly signed, unexpired login token; None otherwise."""
    try:
        user = decode_jwt(token)
    except Exception:  # expired, forged or malformed: Chainlit itself answers 401
        return None
    session_id = (user.metadata or {}).get(SESSION_CLAIM)
    return user.identifier, session_id if isinstance(session_id, str) else None


@cl.password_auth_callback
async def password_login(username: str, password: str) -> cl.User | None:
    client = client_address()
    pool = await _layer.pool()
    try:
        await THROTTLE.check(pool, username, client)
        account = await authenticate(username, password, pool=pool)
    except Throttled as exc:
        await record("login", actor="", target="", result="denied", detail={"reason": exc.reason})
        raise HTTPException(
            status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None
    if account is None:
        await THROTTLE.failed(pool, username, client)
        log.info("login refused")  # never the user name: it may be a mistyped password
        known = await account_state(pool, username) != "unknown"  # name an account only if it exists
        await record("login", actor=username if known else "", result="failure")
        return None
    await THROTTLE.succeeded(pool, username)
    session_id = await open_session(pool, account.identifier, client)
    if session_id is None:  # disabled between the password check and now
        return None
    await record("login", actor=account.identifier)
    return cl.User(identifier=account.identifier, metadata={"role": account.role, SESSION_CLAIM: session_id})


# Chainlit wraps callbacks in a function that logs and swallows exceptions, which would turn the 429 above
# into a plain "wrong password" 401: the login route gets the function itself.
config.code.password_auth_callback = password_login


@cl.on_logout
async def logout(request: Request, response: Response) -> dict[str, bool]:
    """End the server-side session at once (the token is then useless) and close its sockets."""
    for token in _request_tokens(request.cookies, request.headers.get("authorization", "")):
        decoded = _session_id(token)
        if decoded is None:
            continue
        identifier, session_id = decoded
        if session_id is None:
            continue
        with _as_client(request.client.host if request.client else ""):
            if await end_session(await _layer.pool(), session_id, "logout"):
                await record("logout", actor=identifier)
        await SOCKETS.end(session_id)
    return {"success": True}


def _request_tokens(cookies: dict[str, str], authorization: str) -> list[str]:
    tokens = []
    if token := get_token_from_cookies(cookies):
        tokens.append(token)
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        tokens.append(credentials.strip())
    return tokens


def _session_of_handshake(environ: dict[str, Any]) -> str | None:
    """The login session id in a socket handshake's cookie (the browser sends no Authorization header)."""
    for token in _request_tokens(_cookies(environ.get("HTTP_COOKIE", "")), ""):
        decoded = _session_id(token)
        if decoded is not None and decoded[1] is not None:
            return decoded[1]
    return None


def _cookies(header: str) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed cookie header simply carries no token
        return {}
    return {k: m.value for k, m in jar.items()}


SOCKETS = SocketGuard(
    sio,
    public=PUBLIC,
    policy=POLICY,
    pool=_layer.pool,
    session_of=_session_of_handshake,
    max_message_chars=SETTINGS.max_message_chars,
)
SOCKETS.install()


# -- the guard ----------------------------------------------------------------------------------------


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _json(
    status: int, detail: str, send: Send, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    all_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*all_headers, *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _result(status: int) -> audit.Result:
    if 200 <= status < 300:
        return "success"
    return "denied" if status in (401, 403, 404) else "failure"


class OwnershipGuard:
    """ASGI middleware: origin, session and ownership checks Chainlit's endpoints miss (module docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        client = scope.get("client")
        with _as_client(client[0] if client else ""):
            await self._guard(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = config.run.root_path or ""
        path = scope["path"][len(root) :] if root and scope["path"].startswith(root) else scope["path"]
        headers = _headers(scope)
        if path == "/v1" or path.startswith("/v1/"):  # the API checks origins, keys, sizes and rates itself,
            return await self.app(
                scope, receive, send
            )  # answering in OpenAI's error shape (agent/api/routes.py)
        if not PUBLIC.allows(headers.get("origin")):
            return await self._refuse(scope, send, 403, "origin not allowed")
        if path.startswith(_CLOSED_PREFIXES):
            return await self._refuse(scope, send, 404, "Not found")
        if not path.startswith(_GUARDED_PREFIXES):
            return await self.app(scope, receive, send)

        user = None
        websocket = scope["type"] == "websocket" or path.startswith("/ws/")
        for token in _request_tokens(_cookies(headers.get("cookie", "")), headers.get("authorization", "")):
            decoded = _session_id(token)
            if decoded is None:
                continue  # not a valid token: Chainlit answers 401 itself
            identifier, session_id = decoded
            try:
                usable = session_id is not None and await self._usable(session_id, touch=not websocket)
            except (psycopg.Error, PoolTimeout, OSError) as exc:  # cannot check: refuse, and say why
                log.error("session check failed: %s", type(exc).__name__)
                return await self._refuse(
                    scope, send, 503, "the database is unavailable; try again in a moment"
                )
            if not usable:
                return await self._refuse(scope, send, 401, "session ended; please log in again")
            user = user or identifier

        if websocket:
            return await self.app(scope, receive, send)  # agent/ui/socket_guard.py checks each event

        method = scope["method"]
        if path.startswith("/project/share/") or path == "/project/thread/share" or path.startswith("/mcp"):
            return await _json(404, "Not found", send)
        body: dict[str, Any] = {}
        if (path, method) in {
            ("/feedback", "PUT"),
            ("/feedback", "DELETE"),
            ("/project/element", "PUT"),
            ("/project/element", "DELETE"),
            ("/project/thread", "DELETE"),
        }:
            if user is None:
                return await _json(401, "Unauthorized", send)
            parsed, receive = await _read_body(receive)
            if parsed is None:
                return await _json(413, "Request too large", send)
            body = parsed
            if path == "/feedback":
                refusal = await self._check_feedback(method, user, body)
            elif path == "/project/element":
                refusal = await self._check_element(method, user, body)
            else:
                refusal = None
            if refusal:
                return await _json(*refusal, send)

        audited = _audited(path, method, body)
        status = 0

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with acting_as(user if user is not None else ANONYMOUS):
            await self.app(scope, receive, observe if audited else send)
        if audited and user is not None:
            action, target = audited
            await record(action, actor=user, target=target, result=_result(status))

    @staticmethod
    async def _usable(session_id: str, *, touch: bool) -> bool:
        pool = await _layer.pool()
        if touch:
            return await use_session(pool, session_id, POLICY) is not None
        return session_id in await live_sessions(pool, [session_id], POLICY)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _json(status, detail, send)

    @staticmethod
    async def _check_feedback(method: str, user: str, body: dict[str, Any]) -> tuple[int, str] | None:
        if method == "DELETE":
            feedback_id = body.get("feedbackId")
            if not isinstance(feedback_id, str) or await _layer.feedback_owner(feedback_id) != user:
                return 404, "Feedback not found"
            return None
        feedback = body.get("feedback")
        step_id = feedback.get("forId") if isinstance(feedback, dict) else None
        if not isinstance(step_id, str) or await _layer.step_owner(step_id) != user:
            return 404, "Message not found"
        session = _session(body.get("sessionId"))
        if session is not None and (session.user is None or session.user.identifier != user):
            return 403, "Not your session"
        return None

    @staticmethod
    async def _check_element(method: str, user: str, body: dict[str, Any]) -> tuple[int, str] | None:
        session = _session(body.get("sessionId"))
        if session is None or session.user is None or session.user.identifier != user:
            return 403, "Not your session"
        given = body.get("element")
        element: dict[str, Any] = given if isinstance(given, dict) else {}
        if element.get("threadId") and element["threadId"] != session.thread_id:
            return 403, "Element is not in this session's thread"
        for kind, key in (("element", element.get("id")), ("step", element.get("forId"))):
            if isinstance(key, str) and key:
                thread_id = await _layer.thread_of(kind, key)
                if thread_id is not None and thread_id != session.thread_id:
                    return 403, "Element is not in this session's thread"
        return None


def _audited(path: str, method: str, body: dict[str, Any]) -> tuple[str, str] | None:
    """The audit action and target of a request that reads or deletes a conversation, else None."""
    if method == "GET" and (match := _THREAD_READ.match(path)):
        return "thread.read", match.group(1)
    if method == "POST" and path == "/project/threads":
        return "thread.list", ""
    if method == "DELETE" and path == "/project/thread":
        return "thread.delete", str(body.get("threadId", ""))[:100]
    return None


def _session(session_id: object) -> Any:
    from chainlit.session import WebsocketSession

    return WebsocketSession.get_by_id(session_id) if isinstance(session_id, str) else None


async def _read_body(receive: Receive) -> tuple[dict[str, Any] | None, Receive]:
    """Read a small JSON body and return it with a `receive` that replays it to the endpoint."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_GUARDED_BODY:
            return None, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    raw = b"".join(chunks)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return (parsed if isinstance(parsed, dict) else {}), replay


# -- response headers ---------------------------------------------------------------------------------

# Static files that never carry patient data may be cached; everything else (the page, every API answer,
# login and logout) carries `Cache-Control: no-store`.
_CACHEABLE_PREFIXES = ("/assets/", "/public/", "/avatars/")
_CACHEABLE_PATHS = ("/favicon", "/logo")  # exact: "/logout" must not count as "/logo"


class SecurityHeaders:
    """ASGI middleware: the Content-Security-Policy and other headers on every HTTP response."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(_CACHEABLE_PREFIXES) or scope["path"] in _CACHEABLE_PATHS
        added = [
            (b"content-security-policy", PAGE.content_security_policy(_root_path()).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if not cacheable:
            added.append((b"cache-control", b"no-store"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if cacheable or k.lower() != b"cache-control"
                ]
                message["headers"] = [*kept, *added]
            await send(message)

        await self.app(scope, receive, with_headers)


for _cls in (OwnershipGuard, SecurityHeaders):
    if not any(getattr(m, "cls", None) is _cls for m in app.user_middleware):
        app.add_middleware(_cls)
