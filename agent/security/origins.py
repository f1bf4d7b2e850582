"""The public URL of the chat UI and the browser origins allowed to call it.

A browser sends an `Origin` header with every cross-origin request and every WebSocket handshake. Only
the origin clinicians actually open (RADASSIST_PUBLIC_URL) may call the server with their login cookie:
CORS allows exactly that origin, and requests or socket handshakes from any other origin are refused.
Unset, the public URL is the local address; then the loopback names of that address are all accepted
(`http://127.0.0.1:8000` and `http://localhost:8000` are the same server on this machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.settings import Settings
from common.errors import RadassistError

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class PublicAddress:
    """Where clinicians reach the server, and the origins that implies."""

    url: str
    origins: tuple[str, ...]

    @property
    def https(self) -> bool:
        """Login cookies are marked Secure when clinicians reach the server over TLS."""
        return self.url.startswith("https://")

    def allows(self, origin: str | None) -> bool:
        """True for an allowed origin; a request without an Origin header is not cross-origin."""
        return origin is None or origin in self.origins

    def websocket_sources(self) -> list[str]:
        """The CSP connect-src entries for the socket (ws:// or wss:// of each allowed origin).

        CSP host sources cannot name an IPv6 literal, so `[::1]` is left out (its page still has 'self').
        """
        return ["ws" + origin.removeprefix("http") for origin in self.origins if "[" not in origin]


def origin_of(url: str, *, source: str = "RADASSIST_PUBLIC_URL") -> str:
    """`scheme://host[:port]` of a URL, as a browser writes it in an Origin header."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RadassistError(f"{source}: {url!r} is not an http:// or https:// URL with a host name")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise RadassistError(f"{source}: {url!r} must not contain credentials, a query or a fragment")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError as exc:
        raise RadassistError(f"{source}: {url!r} has an invalid port") from exc
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def public_address(settings: Settings, port: int | None = None) -> PublicAddress:
    """The configured public URL, or the local address on `port` (default: the configured port)."""
    if settings.public_url:
        origin = origin_of(settings.public_url)
        return PublicAddress(url=settings.public_url.rstrip("/"), origins=(origin,))
    port = port or settings.port
    origins = tuple(f"http://{name}:{port}" for name in _LOOPBACK_NAMES)
    return PublicAddress(url=origins[0], origins=origins)
