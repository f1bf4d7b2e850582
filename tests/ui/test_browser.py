"""The chat UI end to end in a real browser (issue 6): Debian Chromium, the real app, the bundled model.

`radassist serve` runs as a subprocess on a fresh database with two accounts. Alice asks a
Fleischner question and watches it stream; she opens the tool step and a cited source, rates the
answer, reloads the app, resumes the thread from the sidebar and asks a follow-up that only makes
sense with the first turn's memory (LangGraph checkpoints keyed by Chainlit's thread id). Bob, in
his own browser context, then opens Alice's thread URL and must see none of it.

Screenshots of every stage go to test-artifacts/browser/ (git-ignored), for a human to look at.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from agent.settings import REPO_ROOT
from agent.ui.auth import add_user
from tests.conftest import create_database, drop_database
from tests.server import Server, running_server
from tests.ui.browser import (
    ANSWER,
    QUESTION,
    VERIFIED,
    Turn,
    ask,
    launch,
    log_in,
    screenshot,
    wait_until_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.gguf, pytest.mark.postgres]

PASSWORD = "grey-lung-window-42"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
FIRST_QUESTION = "6 mm solid nodule, smoker, what follow-up?"
FOLLOW_UP = "and if it grew to 9 mm?"
# Fleischner 2017 Table 1 (solid, single nodule, high-risk patient): 6-8 mm, and >8 mm once it grew.
CATEGORY_6MM = "solid, single, 6-8 mm, high risk"
CATEGORY_9MM = "solid, single, >8 mm, high risk"
COMMENT = "The 18-24 month scan should be stressed more."
MODEL_TURN_S = 120.0
UI_MS = 30_000
THREAD_URL = re.compile(r"/thread/([0-9a-f-]{36})$")


@pytest.fixture(scope="module")
def db_url(pg_url: str) -> Iterator[str]:
    url = create_database(pg_url)
    for name in ("alice", "bob", "carol", "dave", "erin"):
        add_user(url, name, PASSWORD)
    add_user(url, "frank", PASSWORD, role="admin")
    yield url
    drop_database(pg_url, url)


def server_env(db_url: str, test_home: Path) -> dict[str, str | None]:
    return {"DATABASE_URL": db_url, "RADASSIST_HOME": str(test_home), "CHAINLIT_AUTH_SECRET": None}


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory, test_home: Path) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("browser"), env=server_env(db_url, test_home)) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


def last_answer(page: Page) -> Locator:
    return page.locator(ANSWER).last


async def expand_step(page: Page, name: str) -> str:
    """Open the latest step of that name (its button has id `step-<name>`) and return its body's text."""
    button = page.locator(f'[id="step-{name}"]').last
    await expect(button).to_be_visible(timeout=UI_MS)
    await button.click()
    await expect(button).to_have_attribute("aria-expanded", "true", timeout=UI_MS)
    body = page.locator(f'[id="{await button.get_attribute("aria-controls")}"]')
    await expect(body).to_be_visible(timeout=UI_MS)
    return await body.inner_text()


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cited_as(answer: str, n: int) -> list[str]:
    """Lines of the answer that cite [n], without the marker or an ellipsis: text quoted from source n."""
    marker = f"[{n}]"
    quotes = [
        squeeze(line.rstrip()[: -len(marker)]).rstrip("…").strip()
        for line in answer.splitlines()
        if line.rstrip().endswith(marker) and not line.lower().startswith(f"source {n}")
    ]
    return [q for q in quotes if len(q) >= 20]


def source_line(answer: str, n: int) -> str:
    """The citation the answer's source list gives for [n] (link text may be upper-cased by CSS)."""
    for line in answer.splitlines():
        found = re.match(rf"source {n} \[{n}\]: (.+)$", line.strip(), flags=re.I)
        if found:
            return found.group(1)
    raise AssertionError(f"no source [{n}] listed in the answer:\n{answer}")


def assert_streamed(turn: Turn) -> None:
    assert len(turn.partial_lengths) >= 2, f"the answer did not grow while streaming: {turn.lengths}"
    assert 0 < turn.first_token_s < turn.complete_s, turn


async def test_alice_asks_rates_resumes_and_bob_sees_nothing(server: Server, browser: Browser) -> None:
    page = await log_in(browser, server.url, "alice", PASSWORD)
    # A local-first app makes the clinician's browser contact nobody else: Chainlit's page template links
    # Google Fonts and a CDN stylesheet, which the app removes from the page (agent/ui/page.py), so the
    # browser does not even try (before, the CSP had to block them). The whole session runs under a
    # policy without 'unsafe-inline' scripts: any violation would show in the console.
    elsewhere: list[str] = []
    violations: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((server.url, "data:", "blob:")) else elsewhere.append(r.url),
    )
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        await alices_session(server, page, browser)
        assert elsewhere == [], f"the page contacted other hosts: {elsewhere}"
        assert violations == [], (
            f"the Content-Security-Policy refused part of the UI: {[v[:200] for v in violations]}"
        )
    except BaseException:
        await screenshot(page, ARTIFACTS, "failure-alice")
        (ARTIFACTS / "failure-server.log").write_text(server.output())
        raise


async def alices_session(server: Server, page: Page, browser: Browser) -> None:
    await screenshot(page, ARTIFACTS, "01-alice-logged-in")

    # -- the first question streams, then the verified answer replaces it ---------------------------
    turn = await ask(page, FIRST_QUESTION, timeout_s=MODEL_TURN_S)
    await screenshot(page, ARTIFACTS, "02-first-answer")
    (ARTIFACTS / "02-first-answer.txt").write_text(turn.text)
    assert_streamed(turn)
    assert CATEGORY_6MM in turn.text and VERIFIED in turn.text, turn.text
    await expect(page).to_have_url(THREAD_URL, timeout=UI_MS)
    thread_match = THREAD_URL.search(page.url)
    assert thread_match is not None
    thread_id = thread_match.group(1)

    tool_output = await expand_step(page, "Tool: fleischner")
    assert CATEGORY_6MM in tool_output, tool_output
    await screenshot(page, ARTIFACTS, "03-tool-step-expanded")

    # -- a source link shows the cited passage in the side view --------------------------------------
    quotes = cited_as(turn.text, 1)
    assert quotes, f"the answer cites nothing as [1]:\n{turn.text}"
    citation = source_line(turn.text, 1)
    source_1 = last_answer(page).locator("a.element-link").filter(has_text=re.compile(r"^Source 1$", re.I))
    await source_1.click(timeout=UI_MS)
    await expect(page.locator("#side-view-title")).to_have_text("Source 1", timeout=UI_MS)
    side = page.locator("#side-view-content")
    await expect(side).to_contain_text(citation, timeout=UI_MS)
    side_text = squeeze(await side.inner_text())
    assert any(q[:60] in side_text for q in quotes), f"no [1] quote {quotes} in the side view:\n{side_text}"
    await screenshot(page, ARTIFACTS, "04-source-1-side-view")

    # -- thumbs down with a comment ------------------------------------------------------------------
    await last_answer(page).locator(".negative-feedback-off").click(timeout=UI_MS)
    comment_box = page.get_by_placeholder("Your feedback...")
    await comment_box.fill(COMMENT)
    await screenshot(page, ARTIFACTS, "05-feedback-dialog")
    await page.locator("#submit-feedback").click()
    await expect(last_answer(page).locator(".negative-feedback-on")).to_have_count(1, timeout=UI_MS)
    await screenshot(page, ARTIFACTS, "06-feedback-given")

    # -- reload the app, resume the thread from the sidebar ------------------------------------------
    await page.goto(server.url + "/")  # a full page load: every client-side state is gone
    await wait_until_ready(page)
    await expect(page.locator(QUESTION)).to_have_count(0)
    thread_link = page.locator(f'a[href="/thread/{thread_id}"]')
    await thread_link.click(timeout=UI_MS)
    await expect(page).to_have_url(server.url + f"/thread/{thread_id}", timeout=UI_MS)
    await wait_until_ready(page)
    await expect(page.locator(QUESTION)).to_have_count(1, timeout=UI_MS)
    await expect(page.locator(QUESTION).first).to_contain_text(FIRST_QUESTION)
    await expect(page.locator(ANSWER)).to_have_count(1)
    await expect(last_answer(page)).to_contain_text(CATEGORY_6MM)
    await expect(last_answer(page)).to_contain_text(VERIFIED)
    await expect(last_answer(page).locator(".negative-feedback-on")).to_have_count(1, timeout=UI_MS)
    await expect(last_answer(page).locator(".negative-feedback-off")).to_have_count(0)
    await expect(page.locator('[id="step-Tool: fleischner"]')).to_have_count(1)  # the steps are history too
    await screenshot(page, ARTIFACTS, "07-resumed-thread")
    stored = await (await page.request.get(server.url + f"/project/thread/{thread_id}")).json()
    ratings = [
        (s["feedback"]["value"], s["feedback"]["comment"]) for s in stored["steps"] if s.get("feedback")
    ]
    assert ratings == [(0, COMMENT)], stored["steps"]

    # -- the follow-up only makes sense with the first turn's memory ----------------------------------
    follow_up = await ask(page, FOLLOW_UP, timeout_s=MODEL_TURN_S)
    await screenshot(page, ARTIFACTS, "08-follow-up-answer")
    (ARTIFACTS / "08-follow-up-answer.txt").write_text(follow_up.text)
    assert CATEGORY_9MM in follow_up.text and VERIFIED in follow_up.text, follow_up.text
    assert CATEGORY_9MM in await expand_step(page, "Tool: fleischner")
    await expect(page).to_have_url(server.url + f"/thread/{thread_id}")
    await screenshot(page, ARTIFACTS, "09-follow-up-tool-step")

    # -- Bob, in his own browser context, opens Alice's thread URL ------------------------------------
    bob = await log_in(browser, server.url, "bob", PASSWORD)
    try:
        await bobs_session(server, bob, thread_id)
    except BaseException:
        await screenshot(bob, ARTIFACTS, "failure-bob")
        raise
    finally:
        await bob.context.close()


async def bobs_session(server: Server, bob: Page, thread_id: str) -> None:
    log_before = len(server.output())
    async with bob.expect_response(lambda r: r.url.endswith("/project/threads"), timeout=UI_MS) as listed:
        await bob.goto(server.url + f"/thread/{thread_id}")
    history = await listed.value
    assert history.status == 200 and (await history.json())["data"] == [], "Bob's history is not empty"
    # The page joins the thread over the socket; the server must refuse (and says so in its log).
    await wait_for_log(server, "Authorization for the thread failed", after=log_before)
    direct = await bob.request.get(server.url + f"/project/thread/{thread_id}")
    assert direct.status in {401, 403, 404} and FIRST_QUESTION not in await direct.text()
    await screenshot(bob, ARTIFACTS, "10-bob-on-alices-thread-url")
    body = await bob.locator("body").inner_text()
    for leaked in (FOLLOW_UP, CATEGORY_6MM, CATEGORY_9MM, VERIFIED):  # the question is also a starter's label
        assert leaked not in body, f"Bob sees {leaked!r}"
    await expect(bob.locator(QUESTION)).to_have_count(0)
    await expect(bob.locator(ANSWER)).to_have_count(0)
    await expect(bob.locator('a[href^="/thread/"]')).to_have_count(0)


async def wait_for_log(server: Server, text: str, *, after: int, timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while text not in server.output()[after:]:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the server never logged {text!r}")
        await asyncio.sleep(0.2)


# -- a cited source on a resumed thread, after the server restarted (issue 12) -----------------------------------

PREMEDICATION = "How should a patient with a prior moderate reaction to iodinated contrast be premedicated?"


async def test_a_cited_source_opens_on_a_resumed_thread_after_a_restart(
    browser: Browser, db_url: str, tmp_path_factory: pytest.TempPathFactory, test_home: Path
) -> None:
    """Erin asks a guideline question; the server stops; a new server process shows her the thread, and
    Source 1 opens to its section (stored with the thread, read inline) under the app's CSP."""
    env = server_env(db_url, test_home)
    with running_server(tmp_path_factory.mktemp("before-restart"), env=env) as first:
        page = await log_in(browser, first.url, "erin", PASSWORD)
        try:
            turn = await ask(page, PREMEDICATION, timeout_s=MODEL_TURN_S)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)  # run alone, no screenshot has made it yet
            (ARTIFACTS / "13-before-restart.txt").write_text(turn.text)
            await expect(page).to_have_url(THREAD_URL, timeout=UI_MS)
            thread_match = THREAD_URL.search(page.url)
            assert thread_match is not None
        finally:
            await page.context.close()
    quotes, citation = cited_as(turn.text, 1), source_line(turn.text, 1)
    assert quotes, f"the answer quotes nothing as [1]:\n{turn.text}"
    assert "Verification: From the tools and guidelines only" in turn.text, "demo models draft nothing"

    with running_server(tmp_path_factory.mktemp("after-restart"), env=env) as second:
        page = await log_in(browser, second.url, "erin", PASSWORD)
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        try:
            await page.goto(second.url + f"/thread/{thread_match.group(1)}")
            await wait_until_ready(page)
            await expect(page.locator(ANSWER)).to_have_count(1, timeout=UI_MS)
            source_1 = (
                last_answer(page).locator("a.element-link").filter(has_text=re.compile(r"^Source 1$", re.I))
            )
            await source_1.click(timeout=UI_MS)
            await expect(page.locator("#side-view-title")).to_have_text("Source 1", timeout=UI_MS)
            side = page.locator("#side-view-content")
            await expect(side).to_contain_text(citation, timeout=UI_MS)
            side_text = squeeze(await side.inner_text())
            await screenshot(page, ARTIFACTS, "14-source-1-after-restart")
        except BaseException:
            await screenshot(page, ARTIFACTS, "failure-erin")
            (ARTIFACTS / "failure-server-after-restart.log").write_text(second.output())
            raise
        finally:
            await page.context.close()
    assert "error occurred" not in side_text.lower(), side_text
    assert any(q[:60] in side_text for q in quotes), f"no [1] quote {quotes} in the side view:\n{side_text}"
    assert violations == [], f"the Content-Security-Policy refused part of the UI: {violations}"


# -- the rating a clinician gives in the browser, as `radassist feedback export` writes it -------------------


@pytest.fixture(scope="module")
async def carols_rating(server: Server, browser: Browser) -> None:
    """Carol asks, rates the answer thumbs-up in the browser and sees the rating taken."""
    page = await log_in(browser, server.url, "carol", PASSWORD)
    try:
        await ask(page, FIRST_QUESTION, timeout_s=MODEL_TURN_S)
        await last_answer(page).locator(".positive-feedback-off").click(timeout=UI_MS)
        await page.locator("#submit-feedback").click(timeout=UI_MS)
        await expect(last_answer(page).locator(".positive-feedback-on")).to_have_count(1, timeout=UI_MS)
        await screenshot(page, ARTIFACTS, "11-carol-rated-thumbs-up")
    finally:
        await page.context.close()


async def test_a_rating_given_in_the_browser_is_exported_with_its_answer(
    carols_rating: None, db_url: str
) -> None:
    from agent.cli.feedback import export_records

    exported = [record for record in export_records(db_url) if record["user"] == "carol"]
    assert len(exported) == 1, exported
    record = exported[0]
    assert record["rating"] == "up" and record["question"] == FIRST_QUESTION, record
    assert CATEGORY_6MM in (record["answer"] or ""), record
    assert record["verdict"] is not None and record["provenance"], record


# -- the export button on a thread, and the models configuration admins see (issue 15) ----------------------


async def test_the_export_button_downloads_the_thread_and_an_admin_sees_the_models_hash(
    server: Server, browser: Browser
) -> None:
    sha256 = hashlib.sha256((REPO_ROOT / "models.yaml").read_bytes()).hexdigest()  # the file the server reads
    page = await log_in(browser, server.url, "frank", PASSWORD)
    ready = time.monotonic()
    try:
        sidebar = page.get_by_role("complementary")  # the element sidebar (its title is not rendered as text)
        await expect(sidebar).to_contain_text(sha256, timeout=UI_MS)
        await expect(sidebar).to_contain_text("expert-chest", timeout=UI_MS)
        shown_after = time.monotonic() - ready
        await screenshot(page, ARTIFACTS, "12-admin-models-configuration")
        await ask(page, FIRST_QUESTION, timeout_s=MODEL_TURN_S)
        await expect(page).to_have_url(THREAD_URL, timeout=UI_MS)
        thread_match = THREAD_URL.search(page.url)
        assert thread_match is not None
        thread_id = thread_match.group(1)
        await page.get_by_role("button", name="Export conversation").last.click(timeout=UI_MS)
        markdown = page.get_by_role("link", name="Markdown").last
        await expect(markdown).to_be_visible(timeout=UI_MS)
        href = await markdown.get_attribute("href")
        assert href == f"/project/thread/{thread_id}/export?format=md", href
        await screenshot(page, ARTIFACTS, "13-export-links")
        downloaded = await page.request.get(server.url + href)  # frank's login cookie goes along
        assert downloaded.status == 200 and "attachment" in downloaded.headers["content-disposition"]
        text = await downloaded.text()
        assert FIRST_QUESTION in text and CATEGORY_6MM in text, text
        as_json = await (
            await page.request.get(server.url + f"/project/thread/{thread_id}/export?format=json")
        ).json()
        assert as_json["owner"] == "frank" and as_json["messages"][0]["content"] == FIRST_QUESTION, as_json
    except BaseException:
        await screenshot(page, ARTIFACTS, "failure-frank")
        (ARTIFACTS / "failure-server.log").write_text(server.output())
        raise
    finally:
        await page.context.close()
    clinician = await log_in(browser, server.url, "dave", PASSWORD)
    try:  # a clinician's session, given three times as long as the admin's sidebar took, shows none of it
        await asyncio.sleep(max(2.0, 3 * shown_after))
        assert sha256 not in await clinician.content(), "a clinician is shown the models configuration"
    finally:
        await clinician.context.close()


# -- a page on another origin, in the clinician's own browser (issue 13) ---------------------------------------

EVIL_PAGE = b"""<!doctype html><title>elsewhere</title><script>
window.steal = async (base, threadId) => {
  const out = {};
  const read = async (key, path, init) => {
    try { const r = await fetch(base + path, {credentials: "include", ...init}); out[key] = r.status + " " + await r.text(); }
    catch (e) { out[key] = "blocked: " + e; }
  };
  await read("list", "/project/threads", {method: "POST", headers: {"content-type": "application/json"},
                                          body: JSON.stringify({pagination: {first: 20}, filter: {}})});
  await read("thread", "/project/thread/" + threadId, {});
  await read("user", "/user", {});
  out.socket = await new Promise((done) => {
    const ws = new WebSocket(base.replace("http", "ws") + "/ws/socket.io/?EIO=4&transport=websocket");
    ws.onopen = () => { done("open"); ws.close(); };
    ws.onerror = () => done("refused");
  });
  return out;
};
</script>"""


@pytest.fixture
def elsewhere() -> Iterator[str]:
    """A page served from another origin on this machine (another port), as any local web app could."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(EVIL_PAGE)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_address[1]}"
    site.shutdown()
    site.server_close()


async def test_a_page_on_another_origin_cannot_read_a_clinicians_history(
    server: Server, browser: Browser, db_url: str, elsewhere: str
) -> None:
    import psycopg

    thread_id, canary = str(uuid.uuid4()), "CANARY-Dremolkel nodule follow-up"
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO threads (id, user_id, name) SELECT %s, id, %s FROM users WHERE identifier = 'dave'",
            (thread_id, canary),
        )
    page = await log_in(browser, server.url, "dave", PASSWORD)
    try:
        own = await page.evaluate(
            "async ([base, id]) => (await fetch(base + '/project/thread/' + id, {credentials: 'include'})).text()",
            [server.url, thread_id],
        )
        assert canary in own, "positive control: the app's own page reads the thread with dave's cookie"
        await page.goto(elsewhere + "/")  # same browser context: dave's cookie goes along (same site)
        stolen = await page.evaluate("([base, id]) => window.steal(base, id)", [server.url, thread_id])
        await screenshot(page, ARTIFACTS, "12-other-origin-page")
    finally:
        await page.context.close()
    assert canary not in repr(stolen), f"a page on {elsewhere} read dave's history: {stolen}"
    assert all(stolen[key].startswith("blocked") for key in ("list", "thread", "user")), stolen
    assert stolen["socket"] == "refused", stolen


async def test_a_report_is_answered_with_a_rendered_table(
    server: Server, browser: Browser, db_url: str
) -> None:
    """Several findings in one message: the answer leads with the table, rendered as an HTML table."""
    from tests.agent.test_reports import EXPECTED, REPORT

    add_user(db_url, "gina", PASSWORD)
    page = await log_in(browser, server.url, "gina", PASSWORD)
    try:
        await ask(page, REPORT, timeout_s=MODEL_TURN_S)
        table = last_answer(page).locator("table").first
        await expect(table).to_be_visible(timeout=UI_MS)
        header = [squeeze(h) for h in await table.locator("th").all_inner_texts()]
        assert header == ["#", "Finding", "System", "Category", "Management", "Rule"]
        rows = table.locator("tbody tr")
        await expect(rows).to_have_count(len(EXPECTED), timeout=UI_MS)
        for i, (system, category) in enumerate(EXPECTED):
            cells = [squeeze(c) for c in await rows.nth(i).locator("td").all_inner_texts()]
            assert (cells[0], cells[2], cells[3]) == (str(i + 1), system, category), cells
        await table.scroll_into_view_if_needed()
        await screenshot(page, ARTIFACTS, "20-report-table")
    finally:
        await page.context.close()
