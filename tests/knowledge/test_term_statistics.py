"""kb_terms / kb_term_totals (migration 0006) stay exact through ingest, re-ingest, delete, truncate, rollback."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agent.db import MIGRATIONS_DIR, migrate
from tests.conftest import create_database, drop_database
from tests.knowledge.kbhelpers import write
from tools.knowledge.ingest import delete_sources, ingest_paths
from tools.knowledge.sources import remove_source

pytestmark = [pytest.mark.postgres, pytest.mark.minilm]  # the real database and MiniLM

GUIDE = """---
title: "Stats guide"
---
# Stats guide

## Pacemakers

Pacemakers need a protocol before the scan.

## Zones

Zone four is the scanner room; the scan room is zone four.
"""


async def stored(pool: Any) -> tuple[dict[str, int], tuple[int, int]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT lexeme, chunks FROM kb_terms")
        terms = dict(await cur.fetchall())
        cur = await conn.execute("SELECT chunks, lexemes FROM kb_term_totals")
        totals = await cur.fetchone()
    return terms, totals


async def recounted(pool: Any) -> tuple[dict[str, int], tuple[int, int]]:
    """The same figures computed from scratch over kb_chunks."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT lexeme, count(*)::int FROM kb_chunks, unnest(tsvector_to_array(tsv)) AS lexeme GROUP BY lexeme"
        )
        terms = dict(await cur.fetchall())
        cur = await conn.execute("SELECT count(*), coalesce(sum(length(tsv)), 0) FROM kb_chunks")
        totals = await cur.fetchone()
    return terms, totals


async def test_statistics_follow_every_write(kb_pool: Any, embedder: Any, tmp_path: Path) -> None:
    assert await stored(kb_pool) == ({}, (0, 0))
    guide = write(tmp_path / "stats-guide.md", GUIDE)
    other = write(tmp_path / "other-guide.md", GUIDE.replace("Stats guide", "Other guide"))
    await ingest_paths(kb_pool, embedder, [tmp_path])
    terms, totals = await stored(kb_pool)
    assert (terms, totals) == await recounted(kb_pool)
    assert terms["pacemak"] == 2 and terms["zone"] == 2 and totals[0] == 4, "one chunk per section and file"

    write(guide, GUIDE.replace("Pacemakers", "Defibrillators"))
    report = await ingest_paths(kb_pool, embedder, [guide])
    assert report.updated == ["stats-guide"]
    terms, _ = await stored(kb_pool)
    assert (terms, _) == await recounted(kb_pool)
    assert terms["pacemak"] == 1 and terms["defibril"] == 1, "a changed file's old chunks are subtracted"

    await delete_sources(kb_pool, [other])
    assert await stored(kb_pool) == await recounted(kb_pool)
    assert "pacemak" not in (await stored(kb_pool))[0], "a word no chunk has any more is removed"
    await remove_source(kb_pool, "stats-guide")
    assert await stored(kb_pool) == ({}, (0, 0))


async def test_a_rolled_back_write_leaves_the_statistics_as_they_were(
    kb_pool: Any, embedder: Any, tmp_path: Path
) -> None:
    await ingest_paths(kb_pool, embedder, [write(tmp_path / "stats-guide.md", GUIDE)])
    before = await stored(kb_pool)
    async with kb_pool.connection() as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with conn.transaction():
                await conn.execute("DELETE FROM kb_chunks")
                await conn.execute("SELECT 1 / 0")
    assert await stored(kb_pool) == before


async def test_truncate_empties_them_and_chunk_text_cannot_change_in_place(
    kb_pool: Any, embedder: Any, tmp_path: Path
) -> None:
    await ingest_paths(kb_pool, embedder, [write(tmp_path / "stats-guide.md", GUIDE)])
    async with kb_pool.connection() as conn:
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="re-ingest the source"):
            await conn.execute("UPDATE kb_chunks SET text = 'changed'")
        await conn.execute("UPDATE kb_chunks SET metadata = '{}'")  # other columns may change
        await conn.execute("TRUNCATE kb_sources CASCADE")
    assert await stored(kb_pool) == ({}, (0, 0))


def test_the_migration_counts_chunks_that_already_exist(pg_url: str, tmp_path: Path) -> None:
    """Applied to a knowledge base filled before it, 0006 counts what is there and drops reference lists."""
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:4]) < 6:
            shutil.copy(path, earlier / path.name)
    url = create_database(pg_url, migrated=False)
    try:
        migrate(url, earlier)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO kb_sources (slug, path, title, sha256) VALUES ('s', '/s.md', 'S', 'x')")
            conn.execute(
                "INSERT INTO kb_chunks (source_id, chunk_index, heading_path, text, embedding)"
                " SELECT id, i, ARRAY['S', h], t, array_fill(0.1, ARRAY[384])::vector::halfvec"
                " FROM kb_sources, (VALUES (0, 'Rule', 'Scan the pacemaker.'),"
                " (1, 'Source publications', 'Author. Pacemaker paper (2020).')) AS v(i, h, t)"
            )
        migrate(url)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT heading_path[2] FROM kb_chunks").fetchall() == [("Rule",)]
            terms = dict(conn.execute("SELECT lexeme, chunks FROM kb_terms").fetchall())
            assert terms == {"pacemak": 1, "rule": 1, "scan": 1}  # "S" is a stop word
            assert conn.execute("SELECT chunks FROM kb_term_totals").fetchone() == (1,)
    finally:
        drop_database(pg_url, url)
