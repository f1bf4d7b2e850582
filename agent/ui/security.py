"""Login, persisted history and per-user isolation for the Chainlit app (imported once by app.py).

What Chainlit 2.12 checks by itself, read in chainlit/server.py and socket.py, and what this adds:

| Entry point (ids it takes)                        | Chainlit 2.12                                   | Added here |
|---------------------------------------------------|-------------------------------------------------|------------|
| GET /project/thread/{thread}                      | `is_thread_author` (401/404)                    | - |
| GET /project/thread/{thread}/element/{element}    | author of {thread}; element looked up in it     | data layer matches element *and* thread |
| PUT, DELETE /project/thread (rename, delete)      | `is_thread_author`                              | data layer refuses non-owners too |
| POST /project/threads (history list)              | filter.userId forced to the caller              | cursor from another user's thread ignored |
| PUT /project/thread/share, GET /project/share/{t} | share: author only, but ignores `allow_thread_sharing`; view: anyone, even anonymous, once shared | both refused (404): sharing is off |
| PUT /feedback                                     | **no ownership check**; the client's feedback id is upserted; `on_feedback` runs in the session named by the client's sessionId | step must be in the caller's thread, session must be the caller's; data layer ignores the client's feedback id |
| DELETE /feedback                                  | **no ownership check** (deletes any id)         | feedback must be the caller's (404) |
| PUT, DELETE /project/element                      | session must be the caller's, but the element's threadId and forId come from the client | element, its thread and its step must be in that session's thread; data layer refuses too |
| GET /project/file/{id}?session_id=                | session must be the caller's                    | - |
| POST /project/action, /mcp                        | session must be the caller's; MCP disabled      | /mcp refused outright |
| socket connect (auth.threadId, auth.sessionId)    | refuses another user's thread (via `get_thread`) and session (since 2.10.1) | data layer never lets a session write into, or take over, another user's thread |
| any request from a disabled account               | its login cookie stays valid until it expires   | refused (401) on every API and socket request |

The guard is a plain ASGI middleware (so a context variable it sets reaches the endpoint): it decodes
the login token like Chainlit does, refuses tokens of disabled accounts, checks the routes above, and
tells the data layer who is acting (agent/ui/data_layer.py refuses writes to threads the actor does
not own, whatever the entry point).

Not handled here (security-and-reliability.md T9): /logout only clears the cookie, so a copied login
token stays valid until it expires (12 h, `user_session_timeout`); there is no login throttling.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

import chainlit as cl
from chainlit.auth import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt
from chainlit.config import config
from chainlit.data.base import BaseDataLayer
from chainlit.server import app

from agent.ui.auth import authenticate
from agent.ui.data_layer import ANONYMOUS, PostgresDataLayer, acting_as

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_GUARDED_BODY = 256 * 1024  # feedback and element requests are small; refuse anything larger
_GUARDED_PREFIXES = ("/project/", "/feedback", "/user", "/ws/", "/mcp", "/auth/jwt", "/set-session-cookie")

if config.features.mcp.enabled or config.features.allow_thread_sharing:
    raise RuntimeError(
        ".chainlit/config.toml: radassist requires [features.mcp] enabled = false and "
        "allow_thread_sharing = false (MCP advisories; shared threads would bypass per-user isolation)"
    )

_layer = PostgresDataLayer()


@cl.data_layer
def data_layer() -> BaseDataLayer:
    return _layer


@cl.password_auth_callback
async def password_login(username: str, password: str) -> cl.User | None:
    account = await authenticate(username, password, pool=await _layer.pool())
    if account is None:
        log.info("login refused")  # never the user name: it may be a mistyped password
        return None
    return cl.User(identifier=account.identifier, metadata={"role": account.role})


# -- the guard ----------------------------------------------------------------------------------------


def _tokens(scope: Scope) -> list[str]:
    """The login tokens a request carries: the cookie first (as Chainlit reads it), then a bearer header."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    tokens = []
    if cookie_header := headers.get("cookie"):
        jar = SimpleCookie()
        try:
            jar.load(cookie_header)
        except Exception:  # a malformed cookie header simply carries no token
            jar = SimpleCookie()
        if token := get_token_from_cookies({k: m.value for k, m in jar.items()}):
            tokens.append(token)
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        tokens.append(credentials.strip())
    return tokens


def _identifier(token: str) -> str | None:
    try:
        return decode_jwt(token).identifier
    except Exception:  # expired, forged or malformed: Chainlit itself answers 401
        return None


async def _json(status: int, detail: str, send: Send) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class OwnershipGuard:
    """ASGI middleware: the checks Chainlit's endpoints miss (see the module docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        root = config.run.root_path or ""
        path = scope["path"][len(root) :] if root and scope["path"].startswith(root) else scope["path"]
        if not path.startswith(_GUARDED_PREFIXES):
            return await self.app(scope, receive, send)

        identities = [i for i in (_identifier(t) for t in _tokens(scope)) if i is not None]
        for identity in dict.fromkeys(identities):
            if not await _layer.is_active(identity):
                return await self._refuse(scope, send, 401, "account disabled or unknown")
        user = identities[0] if identities else None

        if scope["type"] == "websocket" or path.startswith("/ws/"):
            return await self.app(scope, receive, send)  # Chainlit's socket handlers see the session user

        method = scope["method"]
        if path.startswith("/project/share/") or path == "/project/thread/share" or path.startswith("/mcp"):
            return await _json(404, "Not found", send)
        if (path, method) in {("/feedback", "PUT"), ("/feedback", "DELETE")} | {
            ("/project/element", "PUT"),
            ("/project/element", "DELETE"),
        }:
            if user is None:
                return await _json(401, "Unauthorized", send)
            body, receive = await _read_body(receive)
            if body is None:
                return await _json(413, "Request too large", send)
            check = self._check_feedback if path == "/feedback" else self._check_element
            if refusal := await check(method, user, body):
                return await _json(*refusal, send)

        with acting_as(user if user is not None else ANONYMOUS):
            await self.app(scope, receive, send)

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
        element = given if isinstance(given, dict) else {}
        if element.get("threadId") and element["threadId"] != session.thread_id:
            return 403, "Element is not in this session's thread"
        for kind, key in (("element", element.get("id")), ("step", element.get("forId"))):
            if isinstance(key, str) and key:
                thread_id = await _layer.thread_of(kind, key)
                if thread_id is not None and thread_id != session.thread_id:
                    return 403, "Element is not in this session's thread"
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


# starlette types Middleware.cls as a factory protocol that a middleware class is only at run time
if not any(m.cls is OwnershipGuard for m in app.user_middleware):  # type: ignore[comparison-overlap]
    app.add_middleware(OwnershipGuard)


# -- response headers ---------------------------------------------------------------------------------

# Only this server may serve scripts, styles, fonts and data to the page: Chainlit's index.html links
# Google Fonts and a KaTeX stylesheet on a CDN, which a local-first app must not make the clinician's
# browser fetch; external images in rendered markdown (an exfiltration channel) are blocked too.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


# Chainlit's index.html links Google Fonts and a CDN stylesheet; the page is served without them.
_EXTERNAL_LINK = re.compile(rb"<link\b[^>]*\bhref=\"https?://(?!127\.0\.0\.1|localhost)[^\"]*\"[^>]*>\s*")


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response; external links removed from HTML pages."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in message["headers"]):
                    start = message  # hold it until the (small) page is complete
                    return
            elif start is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = _EXTERNAL_LINK.sub(b"", b"".join(body))
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


if not any(m.cls is SecurityHeaders for m in app.user_middleware):  # type: ignore[comparison-overlap]  # see above
    app.add_middleware(SecurityHeaders)
