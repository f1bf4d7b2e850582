"""The admins' Evaluation page (agent/ui/evaluation.py): admins see the latest report, nobody else does.

In process, against Chainlit's own ASGI app with the project's middleware (login callback, ownership
guard, security headers, the Evaluation link) and a real migrated database: accounts log in through
Chainlit's login form, exactly as the browser does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.ui.auth import add_user, disable_user

pytestmark = [pytest.mark.postgres]

PASSWORD = "grey-lung-window-42"
REPORT = "<!doctype html><title>radassist evaluation</title><p>REPORT-CANARY-51</p>"


@pytest.fixture
async def client(
    ui_db_url: str, tmp_path: Path, set_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    set_env(DATABASE_URL=ui_db_url, RADASSIST_HOME=str(tmp_path / "home"))
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 64)
    from chainlit.server import app

    import agent.ui.evaluation  # noqa: F401  (what agent/ui/app.py imports)
    import agent.ui.security as security

    # The data layer opens its pool on first use; point it at this module's database for this test.
    monkeypatch.setattr(security._layer, "_url", ui_db_url)
    monkeypatch.setattr(security._layer, "_pool", None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http
    await security._layer.close()


def publish_report(home: Path) -> Path:
    """What a complete `radassist eval` run leaves: a report and the latest.json pointing at it."""
    run = home / "eval" / "20260101-000000Z"
    run.mkdir(parents=True)
    (run / "report.html").write_text(REPORT, encoding="utf-8")
    pointer = {"report": str(run / "report.html"), "results": str(run / "results.json"), "finished_at": "x"}
    (home / "eval" / "latest.json").write_text(json.dumps(pointer), encoding="utf-8")
    return run / "report.html"


async def log_in(client: httpx.AsyncClient, name: str) -> httpx.Cookies:
    response = await client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.cookies


async def get_page(client: httpx.AsyncClient, cookies: httpx.Cookies | None = None) -> httpx.Response:
    client.cookies = cookies or httpx.Cookies()
    return await client.get("/project/evaluation")


async def test_only_enabled_admins_see_the_report(
    client: httpx.AsyncClient, ui_db_url: str, tmp_path: Path, make_user: Callable[..., str]
) -> None:
    publish_report(tmp_path / "home")
    admin, clinician, leaver = (f"{p}-{tmp_path.name[-6:]}" for p in ("admin", "clin", "leaver"))
    add_user(ui_db_url, admin, PASSWORD, role="admin")
    add_user(ui_db_url, clinician, PASSWORD, role="clinician")
    add_user(ui_db_url, leaver, PASSWORD, role="admin")

    anonymous = await get_page(client)
    assert anonymous.status_code == 401 and "CANARY" not in anonymous.text

    as_clinician = await get_page(client, await log_in(client, clinician))
    assert as_clinician.status_code == 403 and "CANARY" not in as_clinician.text

    as_admin = await get_page(client, await log_in(client, admin))
    assert as_admin.status_code == 200, as_admin.text
    assert "REPORT-CANARY-51" in as_admin.text
    assert as_admin.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in as_admin.headers["content-security-policy"]  # the app's CSP applies

    client.cookies = await log_in(client, admin)
    assert (await client.post("/logout")).status_code == 200
    logged_out = await client.get("/project/evaluation")  # the same token, its session ended
    assert logged_out.status_code == 401 and "CANARY" not in logged_out.text

    leaver_cookies = await log_in(client, leaver)
    assert (await get_page(client, leaver_cookies)).status_code == 200
    disable_user(ui_db_url, leaver)  # the login token still says "admin"; the database decides
    refused = await get_page(client, leaver_cookies)
    assert refused.status_code == 401 and "CANARY" not in refused.text


async def test_a_bearer_token_is_checked_like_the_cookie_and_a_forged_one_is_refused(
    client: httpx.AsyncClient, ui_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainlit.auth import create_jwt, decode_jwt, get_token_from_cookies

    publish_report(tmp_path / "home")
    admin = f"admin-{tmp_path.name[-6:]}b"
    add_user(ui_db_url, admin, PASSWORD, role="admin")
    token = get_token_from_cookies(dict(await log_in(client, admin)))
    client.cookies = httpx.Cookies()
    ok = await client.get("/project/evaluation", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and "REPORT-CANARY-51" in ok.text

    user = decode_jwt(token)  # the same claims (session included), signed with another key
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "t" * 64)
    forged = create_jwt(user)
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 64)
    refused = await client.get("/project/evaluation", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401 and "CANARY" not in refused.text


async def test_no_report_yet_says_how_to_make_one(
    client: httpx.AsyncClient, ui_db_url: str, tmp_path: Path
) -> None:
    admin = f"admin-{tmp_path.name[-6:]}c"
    add_user(ui_db_url, admin, PASSWORD, role="admin")
    response = await get_page(client, await log_in(client, admin))
    assert response.status_code == 404
    assert "radassist eval" in response.text


async def test_the_evaluation_link_is_offered_to_admins_only(
    client: httpx.AsyncClient, ui_db_url: str, tmp_path: Path
) -> None:
    from agent.ui.evaluation import LINK

    admin, clinician = f"admin-{tmp_path.name[-6:]}d", f"clin-{tmp_path.name[-6:]}d"
    add_user(ui_db_url, admin, PASSWORD, role="admin")
    add_user(ui_db_url, clinician, PASSWORD, role="clinician")

    async def header_links(name: str) -> list[dict[str, str]]:
        client.cookies = await log_in(client, name)
        response = await client.get("/project/settings")
        assert response.status_code == 200, response.text
        return response.json()["ui"].get("header_links") or []

    assert LINK in await header_links(admin)
    assert all(link["url"] != "/project/evaluation" for link in await header_links(clinician))


def synthetic_results() -> dict[str, Any]:
    """A small run with every section of the report: per-system accuracy, routing, RAG on/off, comparison."""
    from agent.eval import metrics

    def case(suite: str, ident: str, passed: bool, **extra: Any) -> dict[str, Any]:
        return {"suite": suite, "id": ident, "key": f"{suite}/{ident}", "passed": passed, "systems": [],
                "measures": {}, "error": None, "model": None, "rag": None, "expected": {}, "reasons": [],
                "file": "shipped:x.jsonl", "line": 1, "input": {}, "output": {}, "trace": {}, **extra}  # fmt: skip

    def turn(n: int, rag: str, high_risk: bool) -> dict[str, Any]:
        measures = {"unanswerable": n == 0, "answerable": n != 0, "refused": n == 0, "claims": 3, "kept": 2,
                    "supported": 2, "high_risk": high_risk, "delivered_high_risk": [], "drafted": True,
                    "ttft_ms": 300.0 + 40 * n, "turn_ms": 9000.0 + 500 * n, "decode_tokens": 150,
                    "decode_ms": 4000.0, "drafting_alias": ["expert-chest"]}  # fmt: skip
        key = f"a{n}"
        return case("answers", key, not high_risk, model="configured", rag=rag, measures=measures,
                    key=f"answers/{key}/configured/rag-{rag}",
                    reasons=["model draft: states lung_rads 1, but it is 4A"] if high_risk else [])  # fmt: skip

    cases = [case("classification", f"c{i}", i % 4 != 0, systems=["fleischner" if i % 2 else "lung_rads"],
                  reasons=[] if i % 4 else ["category 3, expected 4A"]) for i in range(12)]  # fmt: skip
    experts = ["chest", "neuro", "abdominal"]
    cases += [case("routing", f"r{i}", i != 4, expected={"expert": experts[i % 3]},
                   measures={"top1": "neuro" if i == 4 else experts[i % 3]}) for i in range(9)]  # fmt: skip
    cases += [turn(n, rag, rag == "off" and n == 2) for n in range(5) for rag in ("on", "off")]
    baseline = [dict(c, passed=True) for c in cases]
    return {
        "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:30:00+00:00", "complete": True,
        "project": {"version": "0.1.0"}, "cases": cases, "summary": metrics.summarize(cases),
        "comparison": {"baseline_file": "baseline/results.json", **metrics.compare(baseline, cases)},
        "models": {"expert-chest": {"model": "llamacpp/bundled/gemma3-270m", "local": True, "sha256": "ab" * 32}},
        "experts": [], "drafting": "Answers were drafted by the models under test.",
    }  # fmt: skip


@pytest.mark.browser
async def test_the_report_renders_in_chromium_under_the_apps_policy(
    client: httpx.AsyncClient, ui_db_url: str, tmp_path: Path
) -> None:
    """The exact bytes and headers the app serves an admin, in Debian Chromium: every plot shows, nothing
    is fetched, and a failure's link scrolls to its trace."""
    from playwright.async_api import async_playwright

    from agent.eval.report import render
    from agent.settings import REPO_ROOT
    from tests.ui.browser import launch

    home = tmp_path / "home"
    publish_report(home).write_text(render(synthetic_results()), encoding="utf-8")
    admin = f"admin-{tmp_path.name[-6:]}e"
    add_user(ui_db_url, admin, PASSWORD, role="admin")
    served = await get_page(client, await log_in(client, admin))
    assert served.status_code == 200
    url = "http://radassist.test/project/evaluation"
    requests: list[str] = []
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))

        async def serve(route: Any) -> None:
            if route.request.url != url:
                return await route.abort()
            headers = {k: v for k, v in served.headers.items() if k.lower() != "content-length"}
            await route.fulfill(status=200, headers=headers, body=served.content)

        await page.route("**/*", serve)
        await page.goto(url)
        images = await page.evaluate(
            "[...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        assert len(images) == 5 and all(ok for _, ok in images), images  # CSP allowed every inline plot
        first = page.locator('#failures a[href^="#trace-"]').first
        target = (await first.get_attribute("href")) or ""
        await first.click()
        assert await page.evaluate("location.hash") == target
        assert await page.locator(target.replace("/", "\\/")).is_visible()
        await page.evaluate("window.scrollTo(0, 0)")
        shots = REPO_ROOT / "test-artifacts" / "eval"
        shots.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=shots / "report-test.png", full_page=True)
        await browser.close()
    assert [r for r in requests if not r.startswith("data:")] == [url]  # nothing else was fetched
