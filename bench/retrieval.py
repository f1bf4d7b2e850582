"""Guideline retrieval at scale, on the embedded PostgreSQL + pgvector, in a scratch database.

1. Ingestion vs raw embedding (real all-MiniLM-L6-v2, copies of the shipped corpus): chunks/s of
   `ingest_paths` against chunks/s of embedding the very same texts with no database at all, in
   alternating rounds. Target ratio >= 0.85: writing must hide behind embedding.
2. Synthetic scale at 10k and 100k chunks: texts built from the corpus's own sentences (so word
   frequencies are those of guideline prose), clustered unit vectors of the model's dimension, filter
   values spread over 10 systems / 5 regions / 4 modalities. Real questions from the retrieval set
   drive the full-text side; each query vector sits near a stored vector, as a real question sits
   near its passage. Half the queries carry a filter (~10 % or ~5 % of the chunks).
   - hybrid query latency (`hybrid_search`, the query the tool runs: fused SQL and reranking; embedding
     excluded), p50 / p95, unfiltered and filtered, over several passes; target p95 <= 30 ms at 100k on
     2 cores; the reranking stage is also timed on its own, giving the p95 without it in the same run;
   - HNSW recall@10 against an exact scan (numpy), at the search's ef_search; target >= 0.95.
This machine is shared, so wall-clock figures move with other processes' load: the bench also
reports CPU milliseconds per query and per ingest (database backends included), which do not, and
the load average. Readable lines first; the last line is one JSON object with every figure.

    .venv/bin/python bench/retrieval.py [--large 100000] [--queries 200] [--passes 3] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import dataclasses
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pgvector import HalfVector

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

P95_TARGET_MS = 30.0
RECALL_TARGET = 0.95
RATIO_TARGET = 0.85
SYSTEMS = [
    "fleischner",
    "lung_rads",
    "ti_rads",
    "li_rads",
    "bi_rads",
    "bosniak",
    "pi_rads",
    "o_rads",
    "adrenal",
    "renal",
]
REGIONS = ["chest", "abdomen", "pelvis", "neck", "breast"]
MODALITIES = ["ct", "mr", "us", "mg"]
CHUNKS_PER_SOURCE = 100
CLUSTERS_PER_10K = 100  # topic clusters; ~100 passages per topic, like sections of related guidelines

_HOME = Path(tempfile.mkdtemp(prefix="radassist-bench-retrieval-"))
atexit.register(shutil.rmtree, _HOME, True)  # registered first, so it runs after the server stops
os.environ["RADASSIST_HOME"] = str(_HOME)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("RADASSIST_DATABASE_URL", None)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# -- data --------------------------------------------------------------------------------------------------
def corpus_sentences() -> list[str]:
    from tools.knowledge.corpus import CORPUS_DIR
    from tools.knowledge.loaders import load_document

    sentences: list[str] = []
    for path in sorted(CORPUS_DIR.glob("*.md")):
        for section in load_document(path).sections:
            sentences.extend(
                s for s in re.split(r"(?<=[.;])\s+", " ".join(section.text.split())) if len(s) > 20
            )
    return sentences


def synthetic_texts(rng: np.random.Generator, sentences: list[str], n: int) -> list[str]:
    picks = rng.integers(0, len(sentences), size=(n, 4))
    return [" ".join(sentences[i] for i in row[: 2 + (j % 3)]) for j, row in enumerate(picks)]


def synthetic_vectors(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    """Unit vectors around topic centres: the low intrinsic dimension of real embeddings, not a uniform sphere."""
    labels = rng.integers(0, len(centers), size=n)
    noise = rng.normal(0.0, 1.0 / np.sqrt(centers.shape[1]), size=(n, centers.shape[1])).astype(np.float32)
    vectors = centers[labels] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def load_synthetic(conn: Any, first: int, texts: list[str], vectors: np.ndarray) -> None:
    """Bulk-load sources and chunks with binary COPY (indexes are dropped by the caller)."""
    from psycopg.types.json import Jsonb

    n_sources = len(texts) // CHUNKS_PER_SOURCE
    first_source = first // CHUNKS_PER_SOURCE
    async with conn.transaction():
        async with conn.cursor().copy(
            "COPY kb_sources (slug, path, title, society, year, sha256) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "text", "text", "text", "int4", "text"])
            for s in range(first_source, first_source + n_sources):
                await copy.write_row(
                    (f"syn-{s}", f"/synthetic/syn-{s}.md", f"Synthetic {s}", "Bench", 2024, "0" * 64)
                )
        cur = await conn.execute(
            "SELECT id FROM kb_sources WHERE slug = ANY(%s) ORDER BY substr(slug, 5)::int",
            ([f"syn-{s}" for s in range(first_source, first_source + n_sources)],),
        )
        source_ids = [r[0] for r in await cur.fetchall()]
        async with conn.cursor().copy(
            "COPY kb_chunks (source_id, chunk_index, heading_path, text, embedding, system, body_region, modality,"
            " metadata) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                ["int8", "int4", "text[]", "text", "halfvec", "text[]", "text[]", "text[]", "jsonb"]
            )
            empty = Jsonb({})
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                s = (first + i) // CHUNKS_PER_SOURCE
                await copy.write_row(
                    (
                        source_ids[s - first_source],
                        i % CHUNKS_PER_SOURCE,
                        [f"Synthetic {s}", f"Section {i % 7}"],
                        text,
                        HalfVector(vector),
                        [SYSTEMS[s % len(SYSTEMS)]],
                        [REGIONS[s % len(REGIONS)]],
                        [MODALITIES[s % len(MODALITIES)]],
                        empty,
                    )
                )


async def rebuild_indexes(conn: Any, definitions: list[str]) -> float:
    start = time.perf_counter()
    await conn.execute("SET maintenance_work_mem = '1GB'")
    for definition in definitions:
        await conn.execute(definition)
    await conn.execute("ANALYZE kb_chunks")
    return time.perf_counter() - start


async def drop_indexes(conn: Any) -> list[str]:
    cur = await conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'kb_chunks'"
        " AND indexname IN ('kb_chunks_embedding_hnsw', 'kb_chunks_tsv_gin')"
    )
    rows = await cur.fetchall()
    for name, _ in rows:
        await conn.execute(f"DROP INDEX {name}")
    return [definition for _, definition in rows]


# -- measurements ------------------------------------------------------------------------------------------
def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one PostgreSQL backend (the embedded server runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_latency(
    pool: Any, queries: list[tuple[str, np.ndarray, dict[str, str]]], passes: int
) -> dict[str, Any]:
    """Time every query in several passes; report the pass with the median p95 (the machine is shared).

    Wall-clock latency on a shared machine depends on who else runs; the CPU time one query costs (the
    database backend's plus this client's) does not, so it is reported too.
    """
    import tools.knowledge.search as search_module
    from tools.knowledge.search import hybrid_search

    # The reranking stage (its lexeme round trip and scoring) is timed on its own, so the cost it adds to
    # the fused query is measured in the same run, on the same queries.
    reranking: list[float] = []
    untimed = search_module.rerank

    async def timed_rerank(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await untimed(*args, **kwargs)
        finally:
            reranking.append((time.perf_counter() - start) * 1000)

    search_module.rerank = timed_rerank  # type: ignore[assignment]
    runs = []
    short = 0
    try:
        async with pool.connection() as conn:
            pid = conn.info.backend_pid
            for text, vector, filters in queries[:20]:  # warm caches and prepared statements
                await hybrid_search(conn, text, vector, k=5, filters=filters)
            for _ in range(passes):
                plain: list[float] = []
                filtered: list[float] = []
                without: list[float] = []
                parts: list[float] = []
                cpu_start = backend_cpu_seconds(pid) + time.process_time()
                for text, vector, filters in queries:
                    reranking.clear()
                    start = time.perf_counter()
                    hits = await hybrid_search(conn, text, vector, k=5, filters=filters)
                    elapsed = (time.perf_counter() - start) * 1000
                    (filtered if filters else plain).append(elapsed)
                    parts.append(sum(reranking))
                    without.append(elapsed - parts[-1])
                    short += len(hits) < 5
                cpu = backend_cpu_seconds(pid) + time.process_time() - cpu_start
                every = plain + filtered
                runs.append(
                    {
                        "p50_ms": percentile(every, 50),
                        "p95_ms": percentile(every, 95),
                        "p95_unfiltered_ms": percentile(plain, 95),
                        "p95_filtered_ms": percentile(filtered, 95),
                        "p95_without_reranking_ms": percentile(without, 95),
                        "reranking_ms_median": percentile(parts, 50),
                        "cpu_ms_per_query": cpu * 1000 / len(queries),
                    }
                )
    finally:
        search_module.rerank = untimed  # type: ignore[assignment]
    runs.sort(key=lambda run: run["p95_ms"])
    return {
        **runs[len(runs) // 2],
        "p95_ms_per_pass": [run["p95_ms"] for run in runs],
        "queries_with_fewer_than_k": short,
    }


async def measure_recall(pool: Any, vectors: np.ndarray, queries: np.ndarray, ef_search: int) -> float:
    """Recall@10 of the HNSW index against an exact scan of the same vectors."""
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = 0
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM kb_chunks ORDER BY id")
        ids = np.array([r[0] for r in await cur.fetchall()])
        for query, truth in zip(queries, exact, strict=True):
            async with conn.transaction():
                await conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
                cur = await conn.execute(
                    "SELECT id FROM kb_chunks ORDER BY embedding <=> %s LIMIT 10", (HalfVector(query),)
                )
                got = {r[0] for r in await cur.fetchall()}
            found += len(got & set(ids[truth].tolist()))
    return found / (10 * len(queries))


async def measure_ingest(pool: Any, embedder: Any, rounds: int) -> dict[str, Any]:
    """Chunks/s of a real ingest against chunks/s of embedding the same texts with no database.

    Each round ingests a fresh copy of the corpus (new file names, so nothing is skipped as unchanged)
    and embeds the same texts raw, right before or right after (alternating), and the ratio is of the
    summed times. The CPU seconds of both sides (this process, plus the database backends for the
    ingest) are reported as well: unlike wall-clock time they do not depend on what else runs here.
    """
    from tools.knowledge.chunking import chunk_sections, embedding_text
    from tools.knowledge.corpus import CORPUS_DIR
    from tools.knowledge.ingest import EMBED_BATCH, ingest_paths
    from tools.knowledge.loaders import load_document

    async def backend_pids() -> set[int]:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            return {row[0] for row in await cur.fetchall()}

    async def raw(texts: list[str]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), EMBED_BATCH):
            await embedder.embed(texts[i : i + EMBED_BATCH])
        return time.perf_counter() - wall, time.process_time() - cpu

    async def ingest(work: Path, expected: int) -> tuple[Any, float]:
        before = {pid: backend_cpu_seconds(pid) for pid in await backend_pids()}
        cpu = time.process_time()
        report = await ingest_paths(pool, embedder, [work], progress=False)
        cpu = time.process_time() - cpu
        cpu += sum(backend_cpu_seconds(pid) - before.get(pid, 0.0) for pid in await backend_pids())
        assert report.failed == [] and report.chunks_written == expected, report.summary()
        return report, cpu

    raw_wall = raw_cpu = ingest_wall = ingest_cpu = write_seconds = 0.0
    chunks = 0
    for r in range(rounds):
        work = Path(tempfile.mkdtemp(prefix=f"ingest-{r}-", dir=_HOME))
        for path in sorted(CORPUS_DIR.glob("*.md")):
            shutil.copy(path, work / f"{path.stem}-round{r}.md")
        texts = [
            embedding_text(chunk.heading_path, chunk.text)
            for path in sorted(work.glob("*.md"))
            for chunk in chunk_sections(load_document(path).sections)
        ]
        if r == 0:
            await embedder.embed(texts[: 2 * EMBED_BATCH])  # warm-up
        if r % 2 == 0:
            raw_times = await raw(texts)
            report, cpu = await ingest(work, len(texts))
        else:
            report, cpu = await ingest(work, len(texts))
            raw_times = await raw(texts)
        raw_wall += raw_times[0]
        raw_cpu += raw_times[1]
        ingest_wall += report.seconds
        ingest_cpu += cpu
        write_seconds += report.write_seconds
        chunks += len(texts)
    return {
        "chunks": chunks,
        "raw_embed_chunks_per_s": chunks / raw_wall,
        "ingest_chunks_per_s": chunks / ingest_wall,
        "ratio": raw_wall / ingest_wall,  # = ingest rate / raw embedding rate, same texts
        "cpu_ratio": raw_cpu / ingest_cpu,  # the same from CPU seconds (database backends included)
        "write_seconds": write_seconds,
        "ingest_seconds": ingest_wall,
    }


# -- main --------------------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg
    import yaml
    from psycopg.conninfo import make_conninfo

    from agent.db import database_url, migrate, open_pool
    from agent.gateway import Gateway
    from agent.settings import REPO_ROOT, Settings
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.search import DEFAULT_PARAMS
    from tools.knowledge.stats import forget_stats

    results: dict[str, Any] = {"params": dataclasses.asdict(DEFAULT_PARAMS)}
    base = database_url(Settings())
    name = f"bench_retrieval_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(base, dbname=name)
    pool = open_pool(url, max_size=4)
    try:
        migrate(url)
        await pool.open(wait=True)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'kb_chunks_embedding_hnsw'"
            )
            results["hnsw_index"] = (await cur.fetchone())[0].split(" USING ")[1]

        embedder = Embedder(Gateway.from_file(REPO_ROOT / "models.yaml"))
        dim = await embedder.dimension()
        print(f"embedding model {embedder.model} ({dim} dimensions); HNSW {results['hnsw_index']}")

        ingest = await measure_ingest(pool, embedder, args.rounds)
        results["ingest"] = ingest
        print(
            f"ingest: {ingest['chunks']} chunks, raw embedding {ingest['raw_embed_chunks_per_s']:.1f} chunks/s, "
            f"ingest {ingest['ingest_chunks_per_s']:.1f} chunks/s, ratio {ingest['ratio']:.3f} "
            f"(target >= {RATIO_TARGET}; from CPU seconds {ingest['cpu_ratio']:.3f}); database writes {ingest['write_seconds']:.2f} s, overlapped"
        )

        rng = np.random.default_rng(42)
        sentences = corpus_sentences()
        questions = [
            q["question"]
            for q in yaml.safe_load((REPO_ROOT / "tests/data/retrieval_questions.yaml").read_text())
        ]
        centers = unit_rows(rng, CLUSTERS_PER_10K * args.large // 10_000, dim)
        vectors = synthetic_vectors(rng, centers, args.large)
        texts = synthetic_texts(rng, sentences, args.large)
        async with pool.connection() as conn:
            await conn.execute("TRUNCATE kb_sources CASCADE")

        loaded = 0
        for size in (args.small, args.large):
            async with pool.connection() as conn:
                definitions = await drop_indexes(conn)
                start = time.perf_counter()
                await load_synthetic(conn, loaded, texts[loaded:size], vectors[loaded:size])
                load_seconds = time.perf_counter() - start
                index_seconds = await rebuild_indexes(conn, definitions)
            forget_stats()  # loaded behind ingest's back: drop the cached statistics
            loaded = size
            picks = rng.integers(0, size, size=args.queries)
            query_vectors = vectors[picks] + rng.normal(
                0, 0.5 / np.sqrt(dim), size=(args.queries, dim)
            ).astype(np.float32)
            query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
            queries = []
            for i, vector in enumerate(query_vectors):
                filters = {}
                if i % 4 == 1:
                    filters = {"system": SYSTEMS[i % len(SYSTEMS)]}  # ~10 % of chunks
                elif i % 4 == 3:
                    filters = {
                        "system": SYSTEMS[i % len(SYSTEMS)],
                        "modality": MODALITIES[i % len(MODALITIES)],
                    }
                queries.append((questions[i % len(questions)], vector, filters))
            latency = await measure_latency(pool, queries, args.passes)
            sweep = {
                ef: await measure_recall(pool, vectors[:size], query_vectors[: args.recall_queries], ef)
                for ef in sorted({40, 64, 100, DEFAULT_PARAMS.ef_search})
            }
            recall = sweep[DEFAULT_PARAMS.ef_search]
            results[f"n{size}"] = {
                "load_s": load_seconds,
                "index_build_s": index_seconds,
                **latency,
                "hnsw_recall_at_10": recall,
                "hnsw_recall_at_10_by_ef_search": sweep,
            }
            print(
                f"{size:>7} chunks: loaded in {load_seconds:.1f} s, indexes built in {index_seconds:.1f} s; hybrid query "
                f"p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms (unfiltered {latency['p95_unfiltered_ms']:.1f}, "
                f"filtered {latency['p95_filtered_ms']:.1f}; {latency['p95_without_reranking_ms']:.1f} without the "
                f"reranking stage, which takes {latency['reranking_ms_median']:.1f} ms median), "
                f"CPU {latency['cpu_ms_per_query']:.1f} ms/query; "
                f"{latency['queries_with_fewer_than_k']} queries short of k; "
                f"HNSW recall@10 {recall:.3f} at ef_search {DEFAULT_PARAMS.ef_search} "
                f"({', '.join(f'{ef}: {r:.3f}' for ef, r in sweep.items())})"
            )
        large = results[f"n{args.large}"]
        results["targets_met"] = {
            "p95_ms": large["p95_ms"] <= P95_TARGET_MS,
            "hnsw_recall_at_10": large["hnsw_recall_at_10"] >= RECALL_TARGET,
            "ingest_ratio": results["ingest"]["ratio"] >= RATIO_TARGET,
        }
        print(
            f"targets (p95 <= {P95_TARGET_MS} ms, recall >= {RECALL_TARGET}, ratio >= {RATIO_TARGET}): {results['targets_met']}"
        )
    finally:
        await pool.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="corpus copies ingested (ingestion figure)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the query set")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results = asyncio.run(run(args))
    results["bench_seconds"] = time.perf_counter() - started
    # Timings on a shared machine mean little without the competition: 1-minute load average vs cores.
    results["load_average"] = {"start": load_before, "end": os.getloadavg()[0], "cpus": os.cpu_count()}
    print(
        f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} at start, "
        f"{results['load_average']['end']:.1f} at end; bench took {results['bench_seconds']:.0f} s"
    )
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
