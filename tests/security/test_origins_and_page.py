"""The public URL, the origins it allows, and the chat page without external links or inline-script exemptions."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from agent.security.origins import origin_of, public_address
from agent.settings import Settings
from agent.ui.page import Page, inline_script_hashes, local_page
from common.errors import RadassistError


def test_unset_public_url_allows_the_local_address_under_its_loopback_names() -> None:
    address = public_address(Settings(home=Path("/tmp")), port=8123)
    assert address.url == "http://127.0.0.1:8123" and not address.https
    assert address.allows("http://localhost:8123") and address.allows("http://127.0.0.1:8123")
    assert not address.allows("http://127.0.0.1:9999"), "another port is another origin"
    assert not address.allows("null") and not address.allows("https://127.0.0.1:8123")
    assert address.allows(None), "a request without an Origin header is not cross-origin"


def test_a_public_url_is_the_only_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADASSIST_PUBLIC_URL", "https://radassist.hospital.example/")
    address = public_address(Settings(home=Path("/tmp")))
    assert address.origins == ("https://radassist.hospital.example",) and address.https
    assert not address.allows("http://radassist.hospital.example")
    assert address.websocket_sources() == ["wss://radassist.hospital.example"]


def test_ipv6_loopback_is_allowed_but_not_written_into_the_policy() -> None:
    address = public_address(Settings(home=Path("/tmp")), port=8123)
    assert address.allows("http://[::1]:8123")
    assert address.websocket_sources() == ["ws://127.0.0.1:8123", "ws://localhost:8123"]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://a.example:443/chat", "https://a.example"),
        ("http://a.example:8080", "http://a.example:8080"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("HTTPS://A.Example", "https://a.example"),
    ],
)
def test_origin_is_written_as_a_browser_writes_it(url: str, origin: str) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "url", ["radassist.example", "ftp://a.example", "https://user:pw@a.example", "https://a.example/?x=1"]
)
def test_a_bad_public_url_is_named(url: str) -> None:
    with pytest.raises(RadassistError, match="RADASSIST_PUBLIC_URL"):
        origin_of(url)


def test_empty_public_url_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADASSIST_PUBLIC_URL", "  ")  # compose passes ${RADASSIST_PUBLIC_URL:-}
    assert Settings(home=Path("/tmp")).public_url is None


CHAINLIT_TEMPLATE = """<!doctype html><html><head>
    <link rel="preconnect" href="https://fonts.googleapis.com" />
    <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin />
    <!-- FONT START -->
    <link
      href="https://fonts.googleapis.com/css2?family=Inter:wght@400;500;700&display=swap"
      rel="stylesheet"
    />
    <!-- FONT END -->
    <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.22/dist/katex.min.css" />
    <meta property="og:image" content="https://chainlit-cloud.s3.eu-west-3.amazonaws.com/logo/x.png">
    <script src="//cdn.example/x.js"></script>
    <script>
      const global = globalThis;
    </script>
    <script type="module" crossorigin src="/assets/index.js"></script>
    <link rel="stylesheet" crossorigin href="/assets/index.css">
</head><body><div id="root"></div></body></html>"""


def test_external_tags_are_removed_and_local_ones_kept() -> None:
    page = local_page(CHAINLIT_TEMPLATE)
    assert not re.search(r"(https?:)?//[a-z]", page), page
    assert '<script type="module" crossorigin src="/assets/index.js"></script>' in page
    assert 'href="/assets/index.css"' in page and "const global = globalThis;" in page


def test_the_policy_allows_exactly_the_inline_scripts_by_hash() -> None:
    body = "\n      const global = globalThis;\n    "
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert inline_script_hashes(CHAINLIT_TEMPLATE) == [f"'sha256-{digest}'"]
    policy = Page(lambda root: CHAINLIT_TEMPLATE, ["wss://radassist.example"]).content_security_policy()
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert script_src == f"script-src 'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in policy
    assert "connect-src 'self' data: wss://radassist.example;" in policy
    assert " ws:" not in policy and " wss:;" not in policy, "no socket to any host"


def test_chainlits_own_template_is_made_local() -> None:
    import chainlit.server

    page = Page(chainlit.server.get_html_template, [])
    html = page.html("")
    assert "http://" not in html and "https://" not in html, "an external link is left in Chainlit's page"
    assert len(inline_script_hashes(html)) >= 1
