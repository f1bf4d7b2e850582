"""The chat UI's HTML page without external links, and the Content-Security-Policy that fits it.

Chainlit builds its page from a template (`chainlit.server.get_html_template`) that links Google Fonts
and a KaTeX stylesheet on a CDN, and carries two small inline scripts. A local-first app must not make
the clinician's browser contact anyone else, so the page is generated here from Chainlit's template with
every tag that points outside removed (the UI then uses the system font; LaTeX is off). This happens
where the page is made, not by rewriting responses, so compression and caching cannot undo it.

The inline scripts are allowed by their SHA-256 hashes: the policy has no 'unsafe-inline' in
script-src. Sockets may connect only to the public origins (agent/security/origins.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

_EXTERNAL = r"(?:https?:)?//(?!127\.0\.0\.1[:/]|localhost[:/])"
# <link ... href="https://...">, <meta ... content="https://..."> (og:image, og:url) and <script src="https://...">
_EXTERNAL_TAG = re.compile(
    rf"""<(?:link|meta|script)\b[^>]*?\b(?:href|content|src)\s*=\s*["']{_EXTERNAL}[^"']*["'][^>]*>(?:\s*</script>)?\s*""",
    re.IGNORECASE,
)
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL)


def local_page(html: str) -> str:
    """The page without any tag that makes the browser fetch from, or point at, another host."""
    return _EXTERNAL_TAG.sub("", html)


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-...') for every inline script of the page."""
    hashes = []
    for body in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    return sorted(set(hashes))


class Page:
    """Chainlit's page made local, cached per root path, and the policy allowing exactly its scripts."""

    def __init__(self, template: Callable[[str], str], websocket_sources: list[str]) -> None:
        self._template = template
        self._pages: dict[str, str] = {}
        self._policies: dict[str, str] = {}
        self._websockets = websocket_sources

    def html(self, root_path: str) -> str:
        if root_path not in self._pages:
            self._pages[root_path] = local_page(self._template(root_path))
        return self._pages[root_path]

    def content_security_policy(self, root_path: str = "") -> str:
        if root_path not in self._policies:
            self._policies[root_path] = self._policy(root_path)
        return self._policies[root_path]

    def _policy(self, root_path: str) -> str:
        scripts = " ".join(["'self'", *inline_script_hashes(self.html(root_path))])
        # data: lets the UI read the sources stored inline with a thread (agent/ui/data_layer.py); a
        # data: URL is read in the browser, it reaches no server.
        sockets = " ".join(["'self'", "data:", *self._websockets])
        return (
            f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:; font-src 'self' data:; connect-src {sockets}; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
        )


_PAGE_ROUTE = "/{full_path:path}"


def add_before_page(app: Any, route: Any) -> None:
    """Add a route in front of Chainlit's catch-all page route (which answers every other GET with the page).

    FastAPI may keep Chainlit's routes inside an included-router entry: the route goes before that entry.
    """
    routes = app.router.routes
    if any(getattr(r, "path", None) == route.path and type(r) is type(route) for r in routes):
        return

    def serves_page(r: Any) -> bool:
        inner = getattr(getattr(r, "original_router", None), "routes", [])
        return getattr(r, "path", None) == _PAGE_ROUTE or any(
            getattr(i, "path", None) == _PAGE_ROUTE for i in inner
        )

    index = next((i for i, r in enumerate(routes) if serves_page(r)), len(routes))
    routes.insert(index, route)
