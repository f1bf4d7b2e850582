"""A cited source opens to its whole section: the section's chunks joined back, overlaps removed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.knowledge.kbhelpers import write
from tools.knowledge.chunking import chunk_sections
from tools.knowledge.corpus import CORPUS_DIR
from tools.knowledge.ingest import ingest_paths
from tools.knowledge.loaders import load_document
from tools.knowledge.sections import join_chunks, section_texts


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_joined_chunks_give_back_every_shipped_section_exactly_once() -> None:
    """Over the whole shipped library: every section cut into several chunks joins back to its text."""
    several = 0
    for path in sorted(CORPUS_DIR.glob("*.md")):
        sections = load_document(path).sections
        chunks = chunk_sections(sections)
        for section in sections:
            texts = [
                c.text for c in chunks if c.heading_path == section.heading_path and c.page == section.page
            ]
            if len(texts) < 2:
                continue
            several += 1
            assert squeeze(join_chunks(texts)) == squeeze(section.text), (path.name, section.heading_path)
    assert several >= 5, "the library has sections long enough to be cut into several chunks"


def test_chunks_without_overlap_are_joined_as_paragraphs() -> None:
    assert join_chunks(["First paragraph.", "Second paragraph."]) == "First paragraph.\n\nSecond paragraph."
    assert join_chunks([]) == ""


LONG = "\n\n".join(
    f"Rule {i}: a nodule of {i} mm in this test guide is followed at {i + 2} months, then reviewed again."
    for i in range(1, 40)
)
GUIDE = f"""# Sections test guide

## Long section

{LONG}

## Short section

A short section stands alone.
"""


@pytest.mark.postgres
@pytest.mark.minilm
async def test_section_texts_returns_the_whole_section_of_each_chunk(
    kb_pool: Any, embedder: Any, tmp_path: Path
) -> None:
    write(tmp_path / "guides" / "sections-test.md", GUIDE)
    await ingest_paths(kb_pool, embedder, [tmp_path / "guides"])
    async with kb_pool.connection() as conn:
        cur = await conn.execute("SELECT id, heading_path FROM kb_chunks ORDER BY chunk_index")
        rows = await cur.fetchall()
    long_ids = [chunk_id for chunk_id, path in rows if path[-1] == "Long section"]
    short_ids = [chunk_id for chunk_id, path in rows if path[-1] == "Short section"]
    assert len(long_ids) >= 3 and len(short_ids) == 1
    texts = await section_texts(kb_pool, [long_ids[1], short_ids[0], 10**9])
    assert squeeze(texts[long_ids[1]]) == squeeze(LONG)
    assert texts[short_ids[0]] == "A short section stands alone."
    assert 10**9 not in texts, "an unknown chunk (removed since) has no section"
