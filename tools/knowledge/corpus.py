"""The curated guideline corpus shipped with radassist, loaded into an empty knowledge base on first start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from tools.knowledge.embedder import Embedder
from tools.knowledge.ingest import ingest_paths

log = logging.getLogger(__name__)
Announce = Callable[[str], AbstractContextManager[None]]


def _quiet(what: str) -> AbstractContextManager[None]:
    return nullcontext()


CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
_CORPUS_LOCK = 7_310_442_003  # advisory lock: two processes starting together load the corpus once


async def ensure_corpus_loaded(pool: Any, gateway: Any, announce: Announce = _quiet) -> int:
    """Ingest the shipped corpus if the knowledge base has no source at all; return sources added.

    A knowledge base the admin has already filled (or emptied on purpose and refilled) is left alone.
    `announce(what)` wraps the ingestion (the CLI prints a first-run progress line with it).
    """
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_CORPUS_LOCK,))
        try:
            cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM kb_sources)")
            if (await cur.fetchone())[0]:
                return 0
            with announce("loading the shipped guideline library into the knowledge base (first run)"):
                report = await ingest_paths(pool, Embedder(gateway), [CORPUS_DIR], progress=None)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_CORPUS_LOCK,))
    for path, reason in report.failed:
        log.warning("shipped corpus file %s was not loaded: %s", path, reason)
    log.info("loaded the shipped guideline corpus: %s", report.summary())
    return len(report.added)
