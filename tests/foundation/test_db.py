"""The embedded PostgreSQL, the migration runner and the pool, against the real server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agent.cli import main
from agent.db import MIGRATIONS_DIR, discover_migrations, migrate, open_pool
from common.errors import RadassistError
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_db(pg_url: str):  # type: ignore[no-untyped-def]
    url = create_database(pg_url, migrated=False)
    yield url
    drop_database(pg_url, url)


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(sql)


def test_embedded_server_has_pgvector_08(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    assert int(version) >= 160000
    assert tuple(int(p) for p in ext.split(".")) >= (0, 8, 0)
    host = conninfo_to_dict(pg_url).get("host", "")
    assert host.startswith("/"), "the embedded server listens on a Unix socket only, never on a network port"


def test_every_migration_is_recorded_once(fresh_db_url: str) -> None:
    with psycopg.connect(fresh_db_url) as conn:
        rows = conn.execute("SELECT version, name, sha256 FROM schema_migrations ORDER BY version").fetchall()
    expected = [(m.version, m.path.name, m.sha256) for m in discover_migrations(MIGRATIONS_DIR)]
    assert rows == expected
    assert migrate(fresh_db_url) == []


def test_migrations_apply_in_order_and_a_failure_leaves_nothing_half_written(
    empty_db: str, tmp_path: Path
) -> None:
    mig = tmp_path / "m"
    write(mig, "0001_a.sql", "CREATE TABLE a (id int);")
    write(mig, "0002_b.sql", "CREATE TABLE b (id int); INSERT INTO b VALUES (1); SELECT 1/0;")
    with pytest.raises(RadassistError, match=r"0002_b\.sql: migration failed"):
        migrate(empty_db, mig)
    with psycopg.connect(empty_db) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        applied = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    assert "a" in tables and "b" not in tables
    assert applied == ["0001_a.sql"]
    write(mig, "0002_b.sql", "CREATE TABLE b (id int);")
    assert migrate(empty_db, mig) == ["0002_b.sql"]


def test_concurrent_starts_apply_each_migration_once(empty_db: str, tmp_path: Path) -> None:
    mig = tmp_path / "m"
    write(mig, "0001_slow.sql", "CREATE TABLE once (id int); SELECT pg_sleep(0.3);")
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(empty_db, mig))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], ["0001_slow.sql"]]


def test_editing_an_applied_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    mig = tmp_path / "m"
    write(mig, "0001_a.sql", "CREATE TABLE a (id int);")
    migrate(empty_db, mig)
    write(mig, "0001_a.sql", "CREATE TABLE a (id bigint);")
    with pytest.raises(RadassistError, match="already applied with different content"):
        migrate(empty_db, mig)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1_a.sql": "SELECT 1;"}, "must be named NNNN_name.sql"),
        ({"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"}, "migration number 1 is also used by"),
    ],
)
def test_bad_migration_files_are_named(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, sql in files.items():
        write(tmp_path, name, sql)
    with pytest.raises(RadassistError, match=message):
        discover_migrations(tmp_path)


def test_unreachable_database_url_is_one_line(
    set_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(DATABASE_URL="postgresql://radassist:s3cret@127.0.0.1:9/radassist")
    assert main(["db", "migrate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "cannot connect to the database" in err and "(DATABASE_URL)" in err
    assert "s3cret" not in err, "the password must not be printed"


def test_database_without_pgvector_is_refused(
    pg_url: str, set_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    url = create_database(pg_url, migrated=False)
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(pg_url, autocommit=True) as conn:  # PostgreSQL 18: hide every extension from it
        conn.execute(f"ALTER DATABASE \"{name}\" SET extension_control_path = '/nonexistent'")
    try:
        set_env(DATABASE_URL=url)
        assert main(["db", "migrate"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "has no pgvector extension" in err and "DATABASE_URL" in err
    finally:
        drop_database(pg_url, url)


def test_db_migrate_command_uses_database_url(
    empty_db: str, set_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(DATABASE_URL=empty_db)
    assert main(["db", "migrate"]) == 0
    out = capsys.readouterr().out
    assert f"applied {len(discover_migrations())} migration(s)" in out
    assert main(["db", "migrate"]) == 0
    assert "applied 0 migration(s)" in capsys.readouterr().out


async def test_pool_round_trips_vectors(fresh_db_url: str) -> None:
    pool = open_pool(fresh_db_url)
    await pool.open()
    try:
        async with pool.connection() as conn:
            await conn.execute("CREATE TEMP TABLE v (e vector(3))")
            await conn.execute("INSERT INTO v VALUES (%s)", (np.array([1.0, 2.0, 3.0]),))
            row = await (await conn.execute("SELECT e FROM v")).fetchone()
    finally:
        await pool.close()
    assert list(row[0].to_list() if hasattr(row[0], "to_list") else row[0]) == [1.0, 2.0, 3.0]


def test_make_conninfo_keeps_socket_host(pg_url: str) -> None:
    assert conninfo_to_dict(make_conninfo(pg_url, dbname="x"))["host"] == conninfo_to_dict(pg_url)["host"]
