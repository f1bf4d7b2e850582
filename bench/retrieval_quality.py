"""Retrieval quality on the question sets of tests/data, the reranker comparison and the floor calibration.

On the shipped corpus (real all-MiniLM-L6-v2, embedded PostgreSQL, a scratch database), every question of
tests/data is searched once; the fused candidates of each are kept with what the reranker scores them on,
so every variant below is measured on the very same candidates:

1. Rerankers, ranking only (no floor): top-1 source accuracy, recall@5 (source and section), and the share
   of first hits containing the answer's key phrase, on the tuning half, the held-out half and all.
   - fusion: RRF of the vector and BM25 lists, no reranking;
   - lexical (shipped): passage, best-sentence and heading coverage of the question's idf weight;
   - sentence embeddings: the cosine of the question to each candidate's best sentence (MiniLM), added to
     the passage cosine;
   - lexical + sentence embeddings.
   With the milliseconds each reranker adds per question (sentence embeddings: uncached).
2. The shipped search (reranking and relevance floor), as the tool runs it: the figures of the test, by half.
3. Calibration on the tuning half only: the reranker's weights (CALIBRATION_GRID) and the floor that maximise
   the smaller of cannot-answer precision and recall, then recall@5 + top-1; then the same figures held out.

No cross-encoder is compared: none of the packages on the index ships its weights (flashrank, swiftrank,
rerankers and small-hybrid-reranker download them at run time), and nothing may download weights here.

    .venv/bin/python bench/retrieval_quality.py
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.knowledge.question_sets: the test's own question sets and figures

_HOME = Path(tempfile.mkdtemp(prefix="radassist-bench-quality-"))
atexit.register(shutil.rmtree, _HOME, True)
os.environ["RADASSIST_HOME"] = str(_HOME)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("RADASSIST_DATABASE_URL", None)


@dataclasses.dataclass
class Candidate:
    hit: Any
    evidence: Any
    fused: float  # the RRF score of the fusion stage
    sentence_cosine: float = 0.0


@dataclasses.dataclass
class Collected:
    question: Any
    candidates: list[Candidate]
    search_ms: float  # the search with lexical reranking, embedding of the question excluded
    sentence_ms: float = 0.0  # what embedding the candidates' sentences would add


async def collect(pool: Any, embedder: Any, params: Any) -> list[Collected]:
    from tests.knowledge.question_sets import load_questions
    from tools.knowledge.search import ranked_candidates
    from tools.knowledge.terms import query_terms

    collected = []
    async with pool.connection() as conn:
        for question in load_questions():
            vector = await embedder.embed_query(question.question)
            terms = await query_terms(conn, question.question)
            start = time.perf_counter()
            ranked = await ranked_candidates(conn, question.question, vector, params=params, terms=terms)
            search_ms = (time.perf_counter() - start) * 1000
            candidates = [
                Candidate(
                    hit,
                    evidence,
                    sum(
                        1 / (params.rrf_k + r) for r in (hit.semantic_rank, hit.keyword_rank) if r is not None
                    ),
                )
                for hit, evidence in ranked
            ]
            item = Collected(question, candidates, search_ms)
            start = time.perf_counter()
            texts = [u.text for c in candidates for u in c.evidence.units]
            vectors = await embedder.embed(texts) if texts else np.empty((0, 0))
            item.sentence_ms = (time.perf_counter() - start) * 1000
            position = 0
            for c in candidates:
                n = len(c.evidence.units)
                c.sentence_cosine = float(np.max(vectors[position : position + n] @ vector)) if n else 0.0
                position += n
            collected.append(item)
    return collected


RERANKERS = {
    "fusion": lambda c, w: c.fused,
    "lexical (shipped)": lambda c, w: c.evidence.relevance(w),
    "sentence embeddings": lambda c, w: c.evidence.similarity + c.sentence_cosine,
    "lexical + sentence embeddings": lambda c, w: c.evidence.relevance(w) + 0.5 * c.sentence_cosine,
}


def outcomes_of(collected: list[Collected], key: Any, weights: Any, floor: float | None) -> list[Any]:
    """Outcome per question: the top 5 by `key`, all of them (floor None) or those clearing the floor."""
    from tests.knowledge.question_sets import K, Outcome

    result = []
    for item in collected:
        ranked = sorted(item.candidates, key=lambda c: -key(c, weights))[:K]
        hits = [c.hit for c in ranked if floor is None or c.evidence.relevance(weights) >= floor]
        result.append(Outcome(item.question, hits))
    return result


def ranking_figures(collected: list[Collected], name: str, weights: Any) -> dict[str, Any]:
    from tests.knowledge.question_sets import figures_by_split

    outcomes = outcomes_of(collected, RERANKERS[name], weights, None)
    keep = ("top1_source", "recall_at_5", "key_in_first_passage")
    return {split: {k: f[k] for k in keep} for split, f in figures_by_split(outcomes).items()}


CALIBRATION_GRID = {  # similarity stays 1.0: the scale the other weights are read against
    "coverage": (0.0, 0.25, 0.5),
    "sentence": (0.25, 0.5, 0.75),
    "heading": (0.25, 0.5, 0.75),
    "unknown": (0.0, 0.2, 0.4, 0.6),
    "unfamiliar": (0.0, 0.2, 0.4, 0.6, 0.8),
}


def _scored(items: list[Collected], weights: Any) -> tuple[np.ndarray, ...]:
    """Per question: the best relevance, the relevance of the answering section within the top K (or -inf),
    whether the first hit has the right source, and whether the question is answerable."""
    from tests.knowledge.question_sets import K

    best, right, top1, answerable = [], [], [], []
    for item in items:
        q = item.question
        ranked = sorted(item.candidates, key=lambda c: (-c.evidence.relevance(weights), c.hit.chunk_id))[:K]
        scores = [c.evidence.relevance(weights) for c in ranked]
        best.append(scores[0] if scores else -np.inf)
        found = [
            s for c, s in zip(ranked, scores, strict=True)
            if q.answerable and c.hit.source == q.source and q.section in c.hit.heading_path
        ]  # fmt: skip
        right.append(max(found, default=-np.inf))
        top1.append(bool(q.answerable and ranked and ranked[0].hit.source == q.source))
        answerable.append(q.answerable)
    return np.array(best), np.array(right), np.array(top1), np.array(answerable)


def _floor_figures(scored: tuple[np.ndarray, ...], floor: float) -> dict[str, float]:
    """The test's figures (question_sets.figures) for one floor, from `_scored`: fast enough for a grid."""
    best, right, top1, answerable = scored
    refused = best < floor
    correct = int((refused & ~answerable).sum())
    return {
        "top1_source": float((top1 & ~refused).sum() / answerable.sum()),
        "recall_at_5": float(((right >= floor) & answerable).sum() / answerable.sum()),
        "cannot_answer_precision": correct / int(refused.sum()) if refused.any() else 1.0,
        "cannot_answer_recall": correct / int((~answerable).sum()),
    }


def calibrate(collected: list[Collected], weights: Any) -> dict[str, Any]:
    """Weights and floor chosen on the tuning half only (the floor between two observed best scores):
    first the smaller of cannot-answer precision and recall, then recall@5 + top-1, then precision."""
    tune = [c for c in collected if c.question.split == "tune"]
    best: tuple[Any, ...] | None = None
    for values in itertools.product(*CALIBRATION_GRID.values()):
        trial = dataclasses.replace(weights, **dict(zip(CALIBRATION_GRID, values, strict=True)))
        scored = _scored(tune, trial)
        tops = np.unique(scored[0])
        for low, high in itertools.pairwise(tops):
            floor = float((low + high) / 2)
            f = _floor_figures(scored, floor)
            score = (
                round(min(f["cannot_answer_precision"], f["cannot_answer_recall"]), 3),
                f["recall_at_5"] + f["top1_source"],
                f["cannot_answer_precision"],
            )
            if best is None or score > best[0]:
                best = (score, trial, floor)
    assert best is not None
    _, chosen, floor = best
    return {**{name: getattr(chosen, name) for name in CALIBRATION_GRID}, "floor": round(floor, 4)}


def shipped_figures(collected: list[Collected], weights: Any, floor: float) -> dict[str, Any]:
    from tests.knowledge.question_sets import figures_by_split

    return figures_by_split(outcomes_of(collected, RERANKERS["lexical (shipped)"], weights, floor))


async def run() -> dict[str, Any]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    from agent.db import database_url, migrate, open_pool
    from agent.gateway import Gateway
    from agent.settings import Settings
    from tools.knowledge.corpus import ensure_corpus_loaded
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.search import DEFAULT_PARAMS

    base = database_url(Settings())
    name = f"bench_quality_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(base, dbname=name)
    pool = open_pool(url, max_size=2)
    results: dict[str, Any] = {}
    try:
        migrate(url)
        await pool.open(wait=True)
        gateway = Gateway.from_file(REPO / "models.yaml")
        embedder = Embedder(gateway)
        await ensure_corpus_loaded(pool, gateway)
        params = DEFAULT_PARAMS
        collected = await collect(pool, embedder, params)

        results["rerankers"] = {}
        print(
            f"{len(collected)} questions; rerankers on the same {params.rerank_candidates} fused candidates each:"
        )
        for reranker in RERANKERS:
            figures = ranking_figures(collected, reranker, params.weights)
            results["rerankers"][reranker] = figures
            line = "; ".join(
                f"{split} top-1 {f['top1_source']:.3f} recall@5 {f['recall_at_5']:.3f} "
                f"key first {f['key_in_first_passage']:.3f}"
                for split, f in figures.items()
            )
            print(f"  {reranker:30s} {line}")
        cost = {
            "search_ms_median": float(np.median([c.search_ms for c in collected])),
            "sentence_embedding_ms_median": float(np.median([c.sentence_ms for c in collected])),
        }
        results["cost"] = cost
        print(
            f"  cost per question (median, question embedding excluded): search with lexical reranking "
            f"{cost['search_ms_median']:.1f} ms; sentence embeddings would add "
            f"{cost['sentence_embedding_ms_median']:.0f} ms"
        )

        shipped = shipped_figures(collected, params.weights, params.floor)
        results["shipped"] = {"floor": params.floor, "weights": dataclasses.asdict(params.weights), **shipped}
        print(f"shipped search (floor {params.floor}):")
        for split, f in shipped.items():
            print(
                f"  {split:9s} top-1 source {f['top1_source']:.3f}, recall@5 {f['recall_at_5']:.3f}, "
                f"key in first passage {f['key_in_first_passage']:.3f}, cannot-answer precision "
                f"{f['cannot_answer_precision']:.3f} recall {f['cannot_answer_recall']:.3f} "
                f"({f['answerable']} answerable, {f['unanswerable']} unanswerable)"
            )
        chosen = calibrate(collected, params.weights)
        calibrated_weights = dataclasses.replace(
            params.weights, **{name: chosen[name] for name in CALIBRATION_GRID}
        )
        held = shipped_figures(collected, calibrated_weights, chosen["floor"])
        results["calibration"] = {"chosen_on_tune": chosen, **held}
        print(
            f"calibrated on the tuning half: {chosen} (shipped: {dataclasses.asdict(params.weights)}, floor "
            f"{params.floor}); held out: top-1 {held['held_out']['top1_source']:.3f}, recall@5 "
            f"{held['held_out']['recall_at_5']:.3f}, cannot-answer precision "
            f"{held['held_out']['cannot_answer_precision']:.3f} recall {held['held_out']['cannot_answer_recall']:.3f}"
        )
    finally:
        await pool.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main() -> None:
    started = time.perf_counter()
    results = asyncio.run(run())
    results["bench_seconds"] = time.perf_counter() - started
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
