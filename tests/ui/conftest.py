"""Chat UI fixtures: the project's Chainlit config, a database per module, accounts, a data layer."""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

from agent.settings import REPO_ROOT

# Chainlit reads .chainlit/config.toml from its app root when first imported: use the project's.
os.environ.setdefault("CHAINLIT_APP_ROOT", str(REPO_ROOT))

import psycopg
import pytest

from tests.conftest import create_database, drop_database


@pytest.fixture(scope="module")
def ui_db_url(pg_url: str) -> Iterator[str]:
    """A migrated database shared by one test module (tests use their own accounts and ids)."""
    url = create_database(pg_url)
    yield url
    drop_database(pg_url, url)


@pytest.fixture
def make_user(ui_db_url: str) -> Callable[..., str]:
    """Insert an account without a password (the data layer never needs one); return its identifier."""

    def make(prefix: str = "user", *, disabled: bool = False, role: str = "clinician") -> str:
        identifier = f"{prefix}-{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ui_db_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users (identifier, role, disabled) VALUES (%s, %s, %s)",
                (identifier, role, disabled),
            )
        return identifier

    return make


@pytest.fixture(scope="module")
async def layer(ui_db_url: str) -> AsyncIterator[object]:
    from agent.ui.data_layer import PostgresDataLayer

    data_layer = PostgresDataLayer(ui_db_url)
    yield data_layer
    await data_layer.close()


@pytest.fixture
def probe() -> Iterator[list[str]]:
    """A loopback HTTP server recording every request it gets; the list starts with its URL (pop it)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"secret from an internal service")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hits.append(f"http://127.0.0.1:{server.server_address[1]}/")
    yield hits
    server.shutdown()
    server.server_close()
