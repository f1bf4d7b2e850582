"""What a clinician waits for in the chat UI: first token and verified answer, as seen in the browser.

The real app (`radassist serve` as a subprocess, the bundled model, the shipped guideline corpus) on a
fresh embedded PostgreSQL under a temporary RADASSIST_HOME, one account, driven in Debian Chromium.
For each question, in a new page (so a new thread), from the Enter keydown:
- first token: the first visible character of the assistant's answer message (the grounded preview);
- complete: "Verification:" shown, i.e. the verified answer has replaced the preview.
Times come from the page's own clock (`performance.now()` in a MutationObserver, read at the next
animation frame, when the change is painted). One warm-up question is not counted.
Target: median first token <= 2 s on this machine. Readable lines first; the last line is one JSON
object with the figures.

    .venv/bin/python bench/ui.py
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

FIRST_TOKEN_TARGET_S = 2.0
WARM_UP = "8 mm solid nodule, non-smoker, what follow-up?"
QUESTIONS = [
    ("fleischner", "6 mm solid nodule, smoker, what follow-up?"),
    ("ti_rads", "TI-RADS for a 1.2 cm solid hypoechoic thyroid nodule with punctate echogenic foci?"),
    ("li_rads", "Cirrhosis, 25 mm observation with nonrim APHE, nonperipheral washout and enhancing capsule: LI-RADS?"),
    ("bosniak", "Cystic renal mass on CT with a 3 mm smooth enhancing septum: Bosniak class?"),
    ("adrenal", "Incidental 1.5 cm adrenal nodule measuring 8 HU on unenhanced CT: next step?"),
    ("guideline only", "What are the ACR MRI safety zones?"),
]  # fmt: skip

if "RADASSIST_HOME" not in os.environ:
    _HOME = Path(tempfile.mkdtemp(prefix="radassist-bench-ui-"))
    atexit.register(shutil.rmtree, _HOME, True)  # registered first, so it runs after the database stops
    os.environ["RADASSIST_HOME"] = str(_HOME)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("RADASSIST_DATABASE_URL", None)

from agent.settings import REPO_ROOT  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))  # the browser driver and server helpers live with the tests


async def measure(base_url: str, password: str) -> list[dict[str, object]]:
    from playwright.async_api import async_playwright

    from tests.ui.browser import ask, launch, log_in, wait_until_ready

    rows: list[dict[str, object]] = []
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        first_page = await log_in(browser, base_url, "bench", password)
        warm = await ask(first_page, WARM_UP)
        print(
            f"warm-up (not counted): first token {warm.first_token_s:.2f} s, complete {warm.complete_s:.2f} s"
        )
        await first_page.close()
        for system, question in QUESTIONS:
            page = await first_page.context.new_page()  # same login, new chat: a new thread
            await page.goto(base_url + "/")
            await wait_until_ready(page)
            turn = await ask(page, question)
            await page.close()
            verdict = turn.text.rsplit("Verification:", 1)[-1].strip(" *\n")
            rows.append(
                {"system": system, "first_token_s": turn.first_token_s, "complete_s": turn.complete_s}
            )
            print(
                f"{system:<15} first token {turn.first_token_s:5.2f} s   complete {turn.complete_s:6.2f} s   "
                f"{len(turn.lengths):4d} visible updates   [{verdict}]"
            )
        await browser.close()
    return rows


def main() -> None:
    from agent.db import database_url, migrate
    from agent.settings import Settings
    from agent.ui.auth import add_user
    from tests.server import running_server

    home = Path(os.environ["RADASSIST_HOME"])
    print(f"RADASSIST_HOME={home}")
    url = database_url(Settings())
    migrate(url)
    password = secrets.token_urlsafe(16)
    add_user(url, "bench", password)
    log_dir = Path(tempfile.mkdtemp(prefix="radassist-bench-ui-logs-"))
    atexit.register(shutil.rmtree, log_dir, True)
    env = {"RADASSIST_HOME": str(home), "DATABASE_URL": url, "CHAINLIT_AUTH_SECRET": None}
    with running_server(log_dir, env=env) as server:
        print(f"server: {server.url}")
        rows = asyncio.run(measure(server.url, password))

    def median(key: str) -> float:
        return round(statistics.median(float(r[key]) for r in rows), 3)  # type: ignore[arg-type]

    figures = {
        "first_token_median_s": median("first_token_s"),
        "complete_median_s": median("complete_s"),
        "first_token_max_s": round(max(float(r["first_token_s"]) for r in rows), 3),  # type: ignore[arg-type]
        "complete_max_s": round(max(float(r["complete_s"]) for r in rows), 3),  # type: ignore[arg-type]
        "questions": len(rows),
        "systems": [r["system"] for r in rows],
    }
    figures["targets_met"] = figures["first_token_median_s"] <= FIRST_TOKEN_TARGET_S
    print(
        f"median first token {figures['first_token_median_s']:.2f} s (target <= {FIRST_TOKEN_TARGET_S} s), "
        f"median complete {figures['complete_median_s']:.2f} s over {len(rows)} questions"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
