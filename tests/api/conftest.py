"""Fixtures for the API, models reload and scale-out tests: one database for the session, accounts, keys.

The database is shared by this directory's modules (each uses its own accounts): the first server on it
loads the shipped guideline library, which every later one finds there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from agent.settings import REPO_ROOT

os.environ.setdefault(
    "CHAINLIT_APP_ROOT", str(REPO_ROOT)
)  # the project's Chainlit config for in-process imports

import psycopg
import pytest

from tests.conftest import create_database, drop_database

PASSWORD = "grey-lung-window-42"


LIBRARY = ("fleischner-2017.md",)  # what these tests ask about; the whole library would take minutes to embed


async def _load_library(url: str, test_home: Path) -> None:
    """Ingest part of the shipped library: a server then finds a filled knowledge base and loads no more."""
    from agent.db import open_pool
    from agent.gateway import Gateway
    from tools.knowledge.corpus import CORPUS_DIR
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.ingest import ingest_paths

    pool = open_pool(url)
    try:
        await pool.open(wait=True)
        gateway = Gateway.from_file(REPO_ROOT / "models.yaml", model_dir=test_home / "models")
        report = await ingest_paths(pool, Embedder(gateway), [CORPUS_DIR / name for name in LIBRARY])
        assert not report.failed, report.failed
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def api_db(pg_url: str, test_home: Path) -> Iterator[str]:
    import asyncio

    url = create_database(pg_url)
    asyncio.run(_load_library(url, test_home))
    yield url
    drop_database(pg_url, url)


@pytest.fixture(scope="session")
def account(api_db: str) -> Callable[..., str]:
    """Create an account (with the test password) and return its name."""
    from agent.ui.auth import add_user

    def make(name: str, role: str = "clinician") -> str:
        with psycopg.connect(api_db) as conn:
            if conn.execute("SELECT 1 FROM users WHERE identifier = %s", (name,)).fetchone():
                return name
        add_user(api_db, name, PASSWORD, role)
        return name

    return make


@pytest.fixture(scope="session")
def api_key(api_db: str, test_home: Path) -> Callable[..., str]:
    """Make an API key for an account, with the secret the servers under test read (their RADASSIST_HOME)."""
    from agent.api.keys import create_key, key_secret
    from agent.settings import Settings

    secret = key_secret(Settings(home=test_home))

    def make(name: str, lifetime: timedelta | None = timedelta(days=1)) -> str:
        return create_key(api_db, secret, name, lifetime)[1]

    return make
