"""Drive the real chat UI in Debian Chromium through Playwright (shared by tests/ui/test_browser.py and bench/ui.py).

Playwright cannot download its own browser here, so it launches /usr/bin/chromium with flags that
keep it off the (closed) network. Chainlit 2.12's DOM facts used below: the login form's `#email` /
`#password`; `#chat-input`, which renders before the socket is ready (the settings button
`#chat-settings-open-modal` only appears once the chat session has started, so it is the readiness
signal); one `div[data-step-type=...]` per message or step, with `.message-content` holding the text.

A turn is watched from inside the page by a MutationObserver, not by polling from Python: it
records the length of the answer's text at every DOM change, and times (`performance.now()`, the
page's clock) from the Enter keydown to the first visible character and to the verified answer
("Verification:").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
ANSWER = 'div[data-step-type="assistant_message"]'
QUESTION = 'div[data-step-type="user_message"]'
VERIFIED = "Verification:"
READY = "#chat-settings-open-modal:not([disabled])"

# Installed before Enter is pressed; fills `window.__turn` as the new answer message changes. A change
# is timed at the next animation frame, when it is painted.
_WATCH_TURN = """
([answerSelector, doneMarker]) => {
  const before = document.querySelectorAll(answerSelector).length;
  const turn = {enter: null, first: null, done: null, samples: [], text: "", seenFirst: false, seenDone: false};
  window.__turn = turn;
  document.addEventListener('keydown', (e) => {
    const fromInput = e.target && e.target.id === 'chat-input';
    if (fromInput && e.key === 'Enter' && !e.shiftKey && turn.enter === null) turn.enter = performance.now();
  }, {capture: true});
  const painted = (key) => requestAnimationFrame(() => { turn[key] = performance.now(); });
  const record = () => {
    if (turn.seenDone) return;
    const messages = document.querySelectorAll(answerSelector);
    if (messages.length <= before) return;
    const content = messages[messages.length - 1].querySelector('.message-content');
    const text = content ? content.innerText.trim() : "";
    const last = turn.samples[turn.samples.length - 1];
    if (!last || last[1] !== text.length) turn.samples.push([performance.now(), text.length]);
    turn.text = text;
    if (text.length > 0 && !turn.seenFirst) { turn.seenFirst = true; painted('first'); }
    if (text.includes(doneMarker)) { turn.seenDone = true; observer.disconnect(); painted('done'); }
  };
  const observer = new MutationObserver(record);
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""


async def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium; each `launch` gets a fresh temporary profile from Playwright."""
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def log_in(browser: Browser, base_url: str, identifier: str, password: str) -> Page:
    """A fresh context (no shared cookies), logged in through the form, with the chat session ready."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(base_url + "/login")
    await page.locator("#email").fill(identifier)
    await page.locator("#password").fill(password)
    await page.locator("#password").press("Enter")
    await wait_until_ready(page)
    return page


async def wait_until_ready(page: Page, timeout_s: float = 60) -> None:
    """Wait until the chat input is there and the session has started (the settings were sent)."""
    await page.wait_for_selector("#chat-input", timeout=timeout_s * 1000)
    await page.wait_for_selector(READY, timeout=timeout_s * 1000)


@dataclass
class Turn:
    """One question as the browser saw it; times in seconds from the Enter keydown."""

    text: str
    first_token_s: float
    complete_s: float
    lengths: list[int]  # the answer's text length at each change, in order

    @property
    def partial_lengths(self) -> list[int]:
        """Distinct non-empty lengths seen before the verified answer."""
        return sorted({n for n in self.lengths[:-1] if n > 0})


async def ask(page: Page, question: str, timeout_s: float = 120) -> Turn:
    """Type the question like a user (click, type, check, Enter) and wait for the verified answer."""
    questions_before = await page.locator(QUESTION).count()
    await page.evaluate(_WATCH_TURN, [ANSWER, VERIFIED])
    box = page.locator("#chat-input")
    await box.click()
    await box.press_sequentially(question)
    value = await box.input_value()
    if value != question:
        raise AssertionError(f"the chat input holds {value!r}, not the typed question")
    await box.press("Enter")
    await page.locator(QUESTION).nth(questions_before).wait_for(timeout=30_000)
    try:
        await page.wait_for_function("() => window.__turn.done !== null", timeout=timeout_s * 1000)
    except PlaywrightTimeoutError:
        shown = await page.evaluate("() => window.__turn.text")
        raise AssertionError(
            f"no verified answer after {timeout_s:.0f} s; the answer shows: {shown!r}"
        ) from None
    turn: dict[str, Any] = await page.evaluate("() => window.__turn")
    enter = turn["enter"]
    return Turn(
        text=turn["text"],
        first_token_s=(turn["first"] - enter) / 1000,
        complete_s=(turn["done"] - enter) / 1000,
        lengths=[length for _, length in turn["samples"]],
    )


async def screenshot(page: Page, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=path, animations="disabled")
    return path
