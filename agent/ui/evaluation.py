"""The admins' Evaluation page: the latest `radassist eval` report, for admins only.

GET /project/evaluation returns the report.html of the latest complete evaluation run (a self-contained
file: inline CSS and images, no script, so the app's Content-Security-Policy serves it as is). The path is
under /project/, so the session guard of agent/ui/security.py checks the login session first (logged
out, revoked or expired: 401). Then the role is read from the users table, never from the login token
(a token keeps the role its holder had at login): no or an invalid token, or a disabled or unknown
account, is 401; an account that is not an admin is 403.

Admins find it under an "Evaluation" link in the header: Chainlit's UI reads its header links from
GET /project/settings, and this module's middleware adds the link to that response for admins only.
Registered by one import in agent/ui/app.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from chainlit.auth import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt
from chainlit.data import get_data_layer
from chainlit.server import app
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from agent.eval.run import latest_report
from agent.settings import get_settings

PATH = "/project/evaluation"
_SETTINGS = "/project/settings"
_ICON = (  # a small bar chart, inline (the app's CSP allows data: images, and nothing is fetched)
    "data:image/svg+xml,"
    + quote(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#7a8494" '
        'stroke-width="2"><path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/></svg>'
    )
)
LINK = {
    "name": "Evaluation",
    "display_name": "Evaluation",
    "icon_url": _ICON,
    "url": PATH,
    "target": "_blank",
}
_NO_REPORT = (
    "<!doctype html><meta charset=utf-8><title>No evaluation yet</title>"
    "<p>No evaluation report yet. Run <code>radassist eval</code> on the server; the latest complete run "
    "is shown here.</p>"
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _token(cookies: dict[str, str], authorization: str) -> str | None:
    """The login token as Chainlit reads it: the cookie first, then a bearer header."""
    token = get_token_from_cookies(cookies)
    if token:
        return token
    scheme, _, credentials = authorization.partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


async def _role(cookies: dict[str, str], authorization: str) -> str | None:
    """The caller's role from the users table; None for no token, a bad one, or a disabled or unknown account."""
    token = _token(cookies, authorization)
    if token is None:
        return None
    try:
        identifier = decode_jwt(token).identifier
    except Exception:  # expired, forged or malformed
        return None
    layer = get_data_layer()
    account = await layer.get_user(identifier) if layer is not None else None  # enabled accounts only
    return str((account.metadata or {}).get("role")) if account is not None else None


async def evaluation_page(request: Request) -> Response:
    role = await _role(dict(request.cookies), request.headers.get("authorization", ""))
    if role is None:
        return JSONResponse({"detail": "Unauthorized"}, status_code=401)
    if role != "admin":
        return JSONResponse({"detail": "The evaluation report is for admins only"}, status_code=403)
    report = latest_report(get_settings())
    if report is None:
        return HTMLResponse(_NO_REPORT, status_code=404, headers={"Cache-Control": "no-store"})
    return HTMLResponse(report.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


class EvaluationLink:
    """ASGI middleware: adds the Evaluation header link to GET /project/settings for admins."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].endswith(_SETTINGS):
            return await self.app(scope, receive, send)
        request = Request(scope)
        if await _role(dict(request.cookies), request.headers.get("authorization", "")) != "admin":
            return await self.app(scope, receive, send)
        # Ask the app below for plain JSON (its gzip middleware would otherwise compress it).
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        start: Message | None = None
        chunks: list[bytes] = []

        async def add_link(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                try:
                    settings = json.loads(body)
                    ui = settings.setdefault("ui", {})
                    ui["header_links"] = [*(ui.get("header_links") or []), LINK]
                    body = json.dumps(settings).encode()
                except (ValueError, AttributeError):
                    pass  # not the JSON we expected: pass it on untouched
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, add_link)


def _install() -> None:
    """Register the page first: Chainlit's catch-all route would otherwise serve the chat UI at any path."""
    routes = app.router.routes
    if any(getattr(r, "path", None) == PATH for r in routes):
        return
    routes.insert(0, Route(PATH, evaluation_page, methods=["GET"]))
    if not any(getattr(m, "cls", None) is EvaluationLink for m in app.user_middleware):
        app.add_middleware(EvaluationLink)


_install()
