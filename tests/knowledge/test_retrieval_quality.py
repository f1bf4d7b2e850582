"""Retrieval quality on the shipped corpus, over the question sets of tests/data (question_sets.py).

Every question is searched once, as the tool searches it (reranking and relevance floor included). The
figures are printed for the whole set and for its tuning and held-out halves; the targets are asserted on
the whole set. bench/retrieval_quality.py prints the same figures with the reranker comparison.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.db import open_pool
from tests.knowledge.kbhelpers import CorpusDatabase
from tests.knowledge.question_sets import (
    TARGETS,
    K,
    Outcome,
    figures_by_split,
    load_questions,
    misses,
)
from tools.knowledge.corpus import CORPUS_DIR, ensure_corpus_loaded
from tools.knowledge.search import search
from tools.knowledge.sentences import split_units

pytestmark = [pytest.mark.postgres, pytest.mark.minilm]  # the real database and MiniLM

QUESTIONS = load_questions()


@pytest.fixture(scope="module")
async def corpus_pool(corpus_db: CorpusDatabase) -> AsyncIterator[Any]:
    pool = open_pool(corpus_db.url, max_size=2)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="module")
async def outcomes(corpus_pool: Any, embedder: Any) -> list[Outcome]:
    return [Outcome(q, (await search(corpus_pool, embedder, q.question, k=K)).hits) for q in QUESTIONS]


def test_every_shipped_file_loads_on_first_start(corpus_db: CorpusDatabase) -> None:
    assert corpus_db.loaded == len(list(CORPUS_DIR.glob("*.md")))


def test_question_set_is_well_formed() -> None:
    slugs = {p.stem for p in CORPUS_DIR.glob("*.md")}
    answerable = [q for q in QUESTIONS if q.answerable]
    assert len(answerable) >= 180 and len(QUESTIONS) - len(answerable) >= 30
    assert all(q.source in slugs for q in answerable)
    assert {q.split for q in QUESTIONS} == {"tune", "held_out"}


def test_figures_reach_the_targets(outcomes: list[Outcome]) -> None:
    by_split = figures_by_split(outcomes)
    for name, figures in by_split.items():
        shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        print(f"\n{name}: {shown}")  # noqa: T201
    print("\n".join(misses(outcomes)))  # noqa: T201
    whole = by_split["all"]
    failed = {name: whole[name] for name, target in TARGETS.items() if whole[name] < target}
    assert not failed, f"below target {TARGETS}: {failed}\n" + "\n".join(misses(outcomes))


def test_the_failures_reported_in_issue_12_are_fixed(outcomes: list[Outcome]) -> None:
    by_question = {o.question.question: o for o in outcomes}
    pacemaker = by_question["Patient with an MR-conditional pacemaker, can we scan?"].hits[0]
    assert (pacemaker.source, pacemaker.heading_path[-1]) == (
        "mri-implants",
        "MR-conditional pacemakers and ICDs",
    )

    premedication = by_question[
        "How should a patient with a prior moderate reaction to iodinated contrast be premedicated?"
    ].hits[0]
    assert (premedication.source, premedication.heading_path[-1]) == (
        "contrast-reactions",
        "Elective premedication regimens",
    )
    assert "prednisone 50 mg by mouth at 13 hours, 7 hours and 1 hour before contrast" in premedication.quote

    assert by_question["xyzzy quux"].hits == []


def test_every_quote_is_a_run_of_whole_sentences_of_its_passage(outcomes: list[Outcome]) -> None:
    hits = {h.chunk_id: h for o in outcomes for h in o.hits}
    shortened = 0
    for hit in hits.values():
        assert hit.quote in hit.text
        if hit.quote == hit.text:
            continue
        shortened += 1
        units = split_units(hit.text)
        start = hit.text.index(hit.quote)
        assert start in {u.start for u in units}, f"quote starts mid-sentence: {hit.quote!r}"
        assert start + len(hit.quote) in {u.end for u in units}, f"quote ends mid-sentence: {hit.quote!r}"
        assert not hit.quote.endswith(":"), f"a lead-in without what it introduces: {hit.quote!r}"
    assert shortened > 0, "some long passages were reduced to their most relevant sentences"


async def test_a_second_start_leaves_the_loaded_corpus_alone(corpus_pool: Any, gateway: Any) -> None:
    async with corpus_pool.connection() as conn:
        cur = await conn.execute("SELECT max(xmin::text::bigint) FROM kb_chunks")
        before = await cur.fetchone()
    assert await ensure_corpus_loaded(corpus_pool, gateway) == 0
    async with corpus_pool.connection() as conn:
        cur = await conn.execute("SELECT max(xmin::text::bigint) FROM kb_chunks")
        assert await cur.fetchone() == before
