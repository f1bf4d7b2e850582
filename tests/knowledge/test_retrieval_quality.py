"""Retrieval quality on the shipped corpus: recall@5 over the curated question set must be at least 0.9.

A question counts as found when one of the top 5 hits comes from the expected source file and has
the expected section heading in its heading path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from agent.db import open_pool
from agent.settings import REPO_ROOT
from tests.knowledge.kbhelpers import CorpusDatabase
from tools.knowledge.corpus import CORPUS_DIR, ensure_corpus_loaded
from tools.knowledge.search import search

pytestmark = [pytest.mark.postgres, pytest.mark.minilm]  # the real database and MiniLM

QUESTIONS = yaml.safe_load(
    (REPO_ROOT / "tests" / "data" / "retrieval_questions.yaml").read_text(encoding="utf-8")
)
K = 5
MIN_RECALL = 0.9


@pytest.fixture(scope="module")
async def corpus_pool(corpus_db: CorpusDatabase) -> AsyncIterator[Any]:
    pool = open_pool(corpus_db.url, max_size=2)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def test_every_shipped_file_loads_on_first_start(corpus_db: CorpusDatabase) -> None:
    assert corpus_db.loaded == len(list(CORPUS_DIR.glob("*.md")))


def test_question_set_is_well_formed() -> None:
    assert len(QUESTIONS) >= 40
    slugs = {p.stem for p in CORPUS_DIR.glob("*.md")}
    for q in QUESTIONS:
        assert set(q) == {"question", "source", "section"}, q
        assert q["source"] in slugs, q


async def test_recall_at_5(corpus_pool: Any, embedder: Any) -> None:
    found = 0
    misses = []
    for q in QUESTIONS:
        hits = await search(corpus_pool, embedder, q["question"], k=K)
        if any(h.source == q["source"] and q["section"] in h.heading_path for h in hits):
            found += 1
        else:
            misses.append(
                f"  {q['source']} / {q['section']}: {q['question']!r} -> {[(h.source, h.heading_path[-1:]) for h in hits]}"
            )
    recall = found / len(QUESTIONS)
    print(f"\nrecall@{K} = {recall:.3f} ({found}/{len(QUESTIONS)})")  # noqa: T201  (the figure is the point)
    print("\n".join(misses))  # noqa: T201
    assert recall >= MIN_RECALL, f"recall@{K} {recall:.3f} < {MIN_RECALL}:\n" + "\n".join(misses)


async def test_a_second_start_leaves_the_loaded_corpus_alone(corpus_pool: Any, gateway: Any) -> None:
    async with corpus_pool.connection() as conn:
        cur = await conn.execute("SELECT max(xmin::text::bigint) FROM kb_chunks")
        before = await cur.fetchone()
    assert await ensure_corpus_loaded(corpus_pool, gateway) == 0
    async with corpus_pool.connection() as conn:
        cur = await conn.execute("SELECT max(xmin::text::bigint) FROM kb_chunks")
        assert await cur.fetchone() == before
