"""Ingest on the real database with the real embedding model: idempotent, atomic, failures isolated."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import psycopg
import pytest

import tools.knowledge.ingest as ingest_module
from tests.knowledge.kbhelpers import minimal_pdf, write
from tools.knowledge.chunking import chunk_sections
from tools.knowledge.ingest import delete_sources, ingest_paths
from tools.knowledge.loaders import load_document
from tools.knowledge.reindex import reindex
from tools.knowledge.search import DEFAULT_PARAMS, search
from tools.knowledge.store import EmbeddingModelMismatch

pytestmark = [pytest.mark.postgres, pytest.mark.minilm]  # the real database and MiniLM

ADRENAL = """---
title: "Adrenal test guide"
society: "Test Society"
year: 2017
version: "1"
url: "https://example.org/adrenal"
licence: "CC-BY-4.0"
system: adrenal_incidentaloma
body_region: abdomen
modality: CT
---
# Adrenal test guide

## Washout

Absolute washout of 60 % or more on a 15-minute delayed CT suggests an adenoma.

## Size

A nodule under 1 cm needs no further imaging in this test guide.
"""

THYROID = """# Thyroid test guide

## Points

Composition, echogenicity, shape, margin and echogenic foci add up to the point total.
"""


async def rows(pool: Any, sql: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql)
        return await cur.fetchall()


async def snapshot(pool: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every source and chunk row with its xmin: any write, even an identical one, changes xmin."""
    sources = await rows(pool, "SELECT id, xmin::text, slug, sha256 FROM kb_sources ORDER BY id")
    chunks = await rows(pool, "SELECT id, xmin::text, source_id, chunk_index FROM kb_chunks ORDER BY id")
    return sources, chunks


@pytest.fixture
def guide_dir(tmp_path: Path) -> Path:
    write(tmp_path / "guides" / "adrenal-test.md", ADRENAL)
    write(tmp_path / "guides" / "thyroid-test.md", THYROID)
    return tmp_path / "guides"


async def test_ingest_stores_sources_chunks_and_model(kb_pool: Any, embedder: Any, guide_dir: Path) -> None:
    report = await ingest_paths(kb_pool, embedder, [guide_dir])
    assert sorted(report.added) == ["adrenal-test", "thyroid-test"]
    assert report.failed == [] and report.updated == [] and report.unchanged == []
    expected_chunks = sum(len(chunk_sections(load_document(p).sections)) for p in guide_dir.iterdir())
    assert report.chunks_written == expected_chunks

    [source] = await rows(
        kb_pool,
        "SELECT title, society, year, version, url, licence, path FROM kb_sources WHERE slug = 'adrenal-test'",
    )
    assert source == (
        "Adrenal test guide",
        "Test Society",
        2017,
        "1",
        "https://example.org/adrenal",
        "CC-BY-4.0",
        str((guide_dir / "adrenal-test.md").resolve()),
    )
    chunks = await rows(
        kb_pool,
        "SELECT c.chunk_index, c.heading_path, c.system, c.body_region, c.modality, c.metadata, "
        "vector_dims(c.embedding) FROM kb_chunks c JOIN kb_sources s ON s.id = c.source_id "
        "WHERE s.slug = 'adrenal-test' ORDER BY c.chunk_index",
    )
    assert [c[1] for c in chunks] == [["Adrenal test guide", "Washout"], ["Adrenal test guide", "Size"]]
    assert chunks[0][2:5] == (["adrenal_incidentaloma"], ["abdomen"], ["ct"])
    assert chunks[0][5] == {
        "system": ["adrenal_incidentaloma"],
        "body_region": ["abdomen"],
        "modality": ["CT"],
    }
    assert chunks[0][6] == 384
    assert await rows(kb_pool, "SELECT model, dimension FROM kb_embedding_model") == [
        ("sentence_transformers/bundled/all-MiniLM-L6-v2", 384)
    ]


async def test_reingesting_unchanged_files_changes_no_row(
    kb_pool: Any, embedder: Any, guide_dir: Path
) -> None:
    await ingest_paths(kb_pool, embedder, [guide_dir])
    before = await snapshot(kb_pool)
    report = await ingest_paths(kb_pool, embedder, [guide_dir])
    assert sorted(report.unchanged) == ["adrenal-test", "thyroid-test"]
    assert report.added == report.updated == report.failed == []
    assert report.chunks_written == 0
    assert await snapshot(kb_pool) == before


async def test_a_changed_file_replaces_its_chunks_only(kb_pool: Any, embedder: Any, guide_dir: Path) -> None:
    await ingest_paths(kb_pool, embedder, [guide_dir])
    sources_before, chunks_before = await snapshot(kb_pool)
    write(
        guide_dir / "adrenal-test.md", ADRENAL + "\n## Lipid-rich adenoma\n\nUnder 10 HU on unenhanced CT.\n"
    )

    report = await ingest_paths(kb_pool, embedder, [guide_dir])
    assert report.updated == ["adrenal-test"] and report.unchanged == ["thyroid-test"]
    sources_after, chunks_after = await snapshot(kb_pool)
    source_ids = {slug: sid for sid, _, slug, _ in sources_after}
    assert [s[0] for s in sources_after] == [s[0] for s in sources_before], "source ids are stable"
    thyroid_before = [c for c in chunks_before if c[2] == source_ids["thyroid-test"]]
    thyroid_after = [c for c in chunks_after if c[2] == source_ids["thyroid-test"]]
    assert thyroid_after == thyroid_before, "the unchanged source was not touched"
    adrenal_before = {c[0] for c in chunks_before if c[2] == source_ids["adrenal-test"]}
    adrenal_after = [c for c in chunks_after if c[2] == source_ids["adrenal-test"]]
    assert len(adrenal_after) == 3 and not adrenal_before & {c[0] for c in adrenal_after}
    assert [c[3] for c in adrenal_after] == [0, 1, 2]


async def test_a_failure_mid_replacement_leaves_the_old_version_whole(
    kb_pool: Any, embedder: Any, guide_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingest_paths(kb_pool, embedder, [guide_dir / "adrenal-test.md"])
    before = await snapshot(kb_pool)
    real_copy = ingest_module.copy_chunks

    async def copy_half_then_fail(
        conn: Any, source_id: int, doc: Any, chunks: list[Any], vectors: Any
    ) -> None:
        if doc.slug != "adrenal-test":
            return await real_copy(conn, source_id, doc, chunks, vectors)
        await real_copy(conn, source_id, doc, chunks[:1], vectors[:1])  # old chunks already deleted here
        raise psycopg.OperationalError("simulated crash while copying")

    monkeypatch.setattr(ingest_module, "copy_chunks", copy_half_then_fail)
    write(guide_dir / "adrenal-test.md", ADRENAL.replace("60 %", "65 %") + "\n## More\n\nExtra.\n")
    report = await ingest_paths(kb_pool, embedder, [guide_dir])

    [(path, reason)] = report.failed
    assert path.endswith("adrenal-test.md") and "simulated crash" in reason
    assert report.added == ["thyroid-test"], "the rest of the batch still lands"
    sources, chunks = await snapshot(kb_pool)
    assert [s for s in sources if s[2] == "adrenal-test"] == before[0]
    adrenal_id = before[0][0][0]
    assert [c for c in chunks if c[2] == adrenal_id] == before[1], "old chunks intact, none half-written"
    assert (await rows(kb_pool, "SELECT count(*) FROM kb_chunks WHERE text LIKE '%65 %%'")) == [(0,)]
    monkeypatch.undo()
    report = await ingest_paths(kb_pool, embedder, [guide_dir])  # the old hash is kept, so it retries
    assert report.updated == ["adrenal-test"]


async def test_bad_files_are_reported_and_the_rest_lands(
    kb_pool: Any, embedder: Any, guide_dir: Path
) -> None:
    (guide_dir / "corrupt.pdf").write_bytes(minimal_pdf([["Some text."]])[:200])
    (guide_dir / "empty.md").write_bytes(b"")
    (guide_dir / "latin1.txt").write_bytes("Sch\u00e4del".encode("latin-1"))
    (guide_dir / "report.pdf").write_bytes(
        minimal_pdf([["Renal cysts on page one."], ["Masses on page two."]])
    )

    report = await ingest_paths(kb_pool, embedder, [guide_dir, guide_dir / "missing.md"])
    failed = {Path(p).name: reason for p, reason in report.failed}
    assert set(failed) == {"corrupt.pdf", "empty.md", "latin1.txt", "missing.md"}
    assert "not a readable PDF" in failed["corrupt.pdf"]
    assert failed["empty.md"] == "empty file"
    assert "not UTF-8" in failed["latin1.txt"]
    assert failed["missing.md"] == "no such file or directory"
    assert sorted(report.added) == ["adrenal-test", "report", "thyroid-test"]
    assert [r[0] for r in await rows(kb_pool, "SELECT slug FROM kb_sources ORDER BY slug")] == [
        "adrenal-test",
        "report",
        "thyroid-test",
    ]
    pages = await rows(
        kb_pool,
        "SELECT c.page FROM kb_chunks c JOIN kb_sources s ON s.id = c.source_id WHERE s.slug = 'report' ORDER BY 1",
    )
    assert pages == [(1,), (2,)]


async def test_delete_removes_sources_and_their_chunks(kb_pool: Any, embedder: Any, guide_dir: Path) -> None:
    await ingest_paths(kb_pool, embedder, [guide_dir])
    report = await delete_sources(kb_pool, [guide_dir / "adrenal-test.md", "no-such-guide"])
    assert report.deleted == ["adrenal-test"] and report.not_found == ["no-such-guide"]
    assert await rows(kb_pool, "SELECT slug FROM kb_sources") == [("thyroid-test",)]
    assert await rows(kb_pool, "SELECT count(*) FROM kb_chunks c LEFT JOIN kb_sources s ON s.id = c.source_id "
                               "WHERE s.id IS NULL OR s.slug <> 'thyroid-test'") == [(0,)]  # fmt: skip
    (guide_dir / "thyroid-test.md").unlink()  # a file already gone can still be removed by its path
    assert (await delete_sources(kb_pool, [guide_dir / "thyroid-test.md"])).deleted == ["thyroid-test"]


async def test_the_same_name_from_another_file_is_refused(
    kb_pool: Any, embedder: Any, guide_dir: Path, tmp_path: Path
) -> None:
    await ingest_paths(kb_pool, embedder, [guide_dir / "thyroid-test.md"])
    other = write(tmp_path / "elsewhere" / "thyroid-test.md", "# Another guide\n\nDifferent content.\n")
    report = await ingest_paths(kb_pool, embedder, [other])
    [(path, reason)] = report.failed
    assert path == str(other) and "already used by" in reason
    assert await rows(kb_pool, "SELECT title FROM kb_sources") == [("Thyroid test guide",)]


async def test_another_embedding_model_is_refused_until_reindex(
    kb_pool: Any, embedder: Any, truncated_embedder: Any, guide_dir: Path
) -> None:
    await ingest_paths(kb_pool, embedder, [guide_dir])
    before = await snapshot(kb_pool)
    write(guide_dir / "thyroid-test.md", THYROID + "\nChanged.\n")
    with pytest.raises(
        EmbeddingModelMismatch, match=r"all-MiniLM-L6-v2.*384.*minilm-truncated-128.*128.*radassist reindex"
    ):
        await ingest_paths(kb_pool, truncated_embedder, [guide_dir])
    with pytest.raises(EmbeddingModelMismatch, match="radassist reindex"):
        await search(kb_pool, truncated_embedder, "adrenal washout")
    assert await snapshot(kb_pool) == before

    assert await reindex(kb_pool, truncated_embedder) == len(before[1])
    assert await rows(kb_pool, "SELECT model, dimension FROM kb_embedding_model") == [
        ("test/minilm-truncated-128", 128)
    ]
    assert await rows(kb_pool, "SELECT DISTINCT vector_dims(embedding) FROM kb_chunks") == [(128,)]
    assert await rows(
        kb_pool, "SELECT indexdef LIKE '%hnsw%' FROM pg_indexes WHERE indexname = 'kb_chunks_embedding_hnsw'"
    ) == [(True,)]
    # The relevance floor is calibrated for the configured MiniLM; another model's cosines sit elsewhere.
    any_relevance = dataclasses.replace(DEFAULT_PARAMS, floor=float("-inf"))
    hits = (
        await search(kb_pool, truncated_embedder, "adrenal washout percentage", k=2, params=any_relevance)
    ).hits
    assert hits[0].source == "adrenal-test"
    with pytest.raises(EmbeddingModelMismatch):
        await search(kb_pool, embedder, "adrenal washout")

    assert await reindex(kb_pool, embedder) == len(before[1])  # and back again
    assert (await search(kb_pool, embedder, "adrenal washout percentage", k=1)).hits[
        0
    ].source == "adrenal-test"


async def test_an_empty_knowledge_base_adopts_the_configured_model(
    kb_pool: Any, embedder: Any, truncated_embedder: Any, guide_dir: Path
) -> None:
    empty = await search(kb_pool, truncated_embedder, "anything")
    assert empty.hits == [] and empty.best_score is None and not empty.below_floor
    report = await ingest_paths(kb_pool, truncated_embedder, [guide_dir / "thyroid-test.md"])
    assert report.added == ["thyroid-test"]
    assert await rows(kb_pool, "SELECT model, dimension FROM kb_embedding_model") == [
        ("test/minilm-truncated-128", 128)
    ]
    await delete_sources(kb_pool, ["thyroid-test"])  # empty again: the next model is adopted, nothing to mix
    assert (await ingest_paths(kb_pool, embedder, [guide_dir])).failed == []
    assert await rows(kb_pool, "SELECT DISTINCT vector_dims(embedding) FROM kb_chunks") == [(384,)]
