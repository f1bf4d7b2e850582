"""Knowledge-base fixtures: the real embedding model (loaded once per session) and pools on fresh databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.db import open_pool
from agent.gateway import Gateway
from agent.settings import REPO_ROOT
from tests.conftest import create_database, drop_database
from tests.knowledge.kbhelpers import CorpusDatabase, TruncatedEmbedder
from tools.knowledge.corpus import ensure_corpus_loaded
from tools.knowledge.embedder import Embedder


@pytest.fixture(scope="session")
def gateway() -> Gateway:
    """The project's gateway from the shipped models.yaml: 'embedder' is the bundled MiniLM."""
    return Gateway.from_file(REPO_ROOT / "models.yaml")


@pytest.fixture(scope="session")
async def embedder(gateway: Gateway) -> Embedder:
    """The real embedder, its model loaded once (~5 s) by the dimension probe."""
    embedder = Embedder(gateway)
    assert await embedder.dimension() == 384
    return embedder


@pytest.fixture(scope="session")
def truncated_embedder(embedder: Embedder) -> TruncatedEmbedder:
    return TruncatedEmbedder(embedder)


@pytest.fixture(scope="session")
async def corpus_db(pg_url: str, gateway: Gateway) -> AsyncIterator[CorpusDatabase]:
    """A database filled the way a first start fills it (ensure_corpus_loaded), shared by the session.

    Loading the shipped corpus embeds a few hundred passages, so it happens once, not per module.
    """
    url = create_database(pg_url)
    pool = open_pool(url, max_size=4)
    await pool.open(wait=True)
    try:
        loaded = await ensure_corpus_loaded(pool, gateway)
    finally:
        await pool.close()
    yield CorpusDatabase(url, loaded)
    drop_database(pg_url, url)


@pytest.fixture
async def kb_pool(fresh_db_url: str) -> AsyncIterator[object]:
    """An open application pool (pgvector registered) on a fresh, migrated database."""
    pool = open_pool(fresh_db_url, max_size=4)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()
