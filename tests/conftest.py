"""Test-wide set-up: an isolated RADASSIST_HOME, the real embedded PostgreSQL, fresh databases.

The environment is fixed before any project module is imported, so no test can touch the
developer's own data directory, an external DATABASE_URL or an installed plugin.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="radassist-test-home-"))
os.environ["RADASSIST_HOME"] = str(_HOME)


def stop_postgres(pgdata: Path) -> None:
    """Stop any PostgreSQL serving `pgdata` (a killed app process never releases its handle)."""
    import psutil

    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in cmdline:
            proc.send_signal(signal.SIGINT)  # fast shutdown of the postmaster
            with contextlib.suppress(psutil.Error):
                proc.wait(10)


def _remove_home() -> None:
    stop_postgres(_HOME / "pgdata")
    shutil.rmtree(_HOME, ignore_errors=True)


atexit.register(_remove_home)  # registered before the server starts, so it runs after its own cleanup
os.environ["RADASSIST_PLUGINS"] = ""
os.environ.pop("DATABASE_URL", None)
os.environ.pop("RADASSIST_DATABASE_URL", None)
os.environ.pop("RADASSIST_MODELS_FILE", None)

from common import offline  # noqa: E402

offline.apply()  # the tests are an entry point: set before any library (litellm, Hugging Face) is imported

import psycopg  # noqa: E402
import pytest  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

REAL_CHAT_MARKERS = {"gguf", "model_server"}
REAL_EMBEDDING_MARKERS = {"gguf", "postgres", "minilm", "model_server"}


@pytest.fixture(autouse=True)
def model_requests_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test reaches a real model only if its markers say so (agent.llm.ALLOW_MODEL_REQUESTS).

    A test that claims to be fake (no gguf marker) and still calls the real chat model, say through
    a fixture that forgot to swap it, fails with ModelRequestsBlocked instead of passing slowly.
    Session fixtures that build real parts are set up before this runs, with requests allowed.
    """
    from agent import llm

    markers = {m.name for m in request.node.iter_markers()}
    monkeypatch.setattr(llm, "ALLOW_MODEL_REQUESTS", bool(markers & REAL_CHAT_MARKERS))
    monkeypatch.setattr(llm, "ALLOW_EMBEDDING_REQUESTS", bool(markers & REAL_EMBEDDING_MARKERS))
    if "pg_url" in request.fixturenames and "postgres" not in markers:  # keeps `make check` database-free
        pytest.fail(f"{request.node.nodeid} uses the embedded PostgreSQL: mark it postgres")


@pytest.fixture(scope="session")
def test_home() -> Path:
    """The RADASSIST_HOME every test shares (embedded PostgreSQL data, assembled models)."""
    return _HOME


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URI of the embedded PostgreSQL's main radassist database, migrated."""
    from agent.db import database_url, migrate
    from agent.settings import Settings

    url = database_url(Settings())
    migrate(url)
    return url


def create_database(pg_url: str, *, migrated: bool = True) -> str:
    """Create an empty database on the embedded server (migrated by default) and return its conninfo."""
    from agent.db import migrate

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(pg_url, dbname=name)
    if migrated:
        migrate(url)
    return url


def drop_database(pg_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db_url(pg_url: str) -> Iterator[str]:
    """A new, fully migrated database for one test, dropped afterwards."""
    url = create_database(pg_url)
    yield url
    drop_database(pg_url, url)


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set (or, with None, unset) environment variables and re-read the settings."""
    from agent.settings import get_settings

    def apply(**values: str | None) -> None:
        for key, value in values.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()
