"""Hybrid guideline retrieval: pgvector nearest neighbours + PostgreSQL full-text, fused by RRF.

Embeddings find paraphrases ("how often to re-scan a small lung spot"); full-text finds exact terms
the embedding model blurs ("LR-5", "Bosniak IIF", "APHE"). Reciprocal rank fusion (k = 60) merges
the two ranked lists without having to calibrate their scores against each other. The full-text
side matches any of the question's rarer words (terms.py keeps it fast at scale). Filters on
system / body region / modality use pgvector 0.8 iterative index scans, so a selective filter still
returns k hits instead of the few that happened to be among the unfiltered nearest neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pgvector import HalfVector
from psycopg import sql
from pydantic import BaseModel, Field, computed_field

from common.errors import RadassistError
from tools.knowledge.embedder import Embedder
from tools.knowledge.loaders import FILTER_FIELDS
from tools.knowledge.stats import element_stats
from tools.knowledge.store import EmbeddingModel, check_for_search
from tools.knowledge.terms import QUERY_LEXEMES, keyword_tsquery, query_lexemes

RRF_K = 60


@dataclass(frozen=True)
class SearchParams:
    """Tuning knobs, measured in bench/retrieval.py."""

    # Per ranked list, before fusion (raised to k when k is larger). A filtered vector search costs about
    # candidates / selectivity heap checks: at 100k chunks 40 candidates made filtered queries ~35 %
    # slower than 20, while recall@5 on the shipped question set was the same for 10, 20, 30, 40, 60.
    candidates: int = 20
    # HNSW candidate queue; must be >= candidates or the index returns fewer rows. Recall@10 against an
    # exact scan (bench/retrieval.py, 10k and 100k chunks): 0.98-1.00 at 40, 0.99-1.00 at 64.
    ef_search: int = 64
    rrf_k: int = RRF_K
    # Estimated rows the full-text side may fetch and rank (terms.py), ~3 µs of CPU each: at 100k chunks
    # 2000 cost 8.4 ms of CPU per unfiltered query, 1000 cost 4.5 ms. Words in under 1 % of chunks
    # (codes, specific terms) stay in; words as common as 'nodule' never fit either budget.
    keyword_row_budget: int = 1000
    # A filter matching at most this many rows (estimated) is searched exactly: reading and comparing a
    # few thousand vectors beats an HNSW walk that must skip ~candidates / selectivity rows (at 100k
    # chunks: 1,000 matching rows took ~7 ms exact but ~80 ms through the index). Exact is also perfect.
    exact_filter_rows: int = 3000
    iterative_scan: str = "relaxed_order"  # 'off' only to show what filtered queries lose without it


DEFAULT_PARAMS = SearchParams()


def section_below_title(heading_path: list[str], title: str | None) -> str:
    """The heading path without the document's own title ('Single solid nodule', 'Categories > 4A')."""
    headings = heading_path[1:] if heading_path[:1] == [title] else heading_path
    return " > ".join(headings)


class GuidelineHit(BaseModel):
    """One retrieved passage with everything needed to cite it."""

    chunk_id: int
    source: str = Field(description="slug of the source file, its stable identifier")
    title: str
    society: str | None = None
    year: int | None = None
    version: str | None = None
    url: str | None = None
    heading_path: list[str]
    section: str = Field(description="the heading path joined with ' > '")
    page: int | None = None
    text: str
    score: float = Field(description="reciprocal rank fusion score (higher is better)")
    semantic_rank: int | None = Field(default=None, description="rank among vector neighbours (1 = nearest)")
    semantic_similarity: float | None = Field(
        default=None, description="cosine similarity to the query, for every hit (also keyword-only ones)"
    )
    keyword_rank: int | None = Field(default=None, description="rank among full-text matches (1 = best)")
    keyword_score: float | None = Field(default=None, description="ts_rank of the full-text match")

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects decorated properties; pydantic documents this
    @property
    def citation(self) -> str:
        """A one-line human citation: society (year), title, section, page, url."""
        who = " ".join(p for p in (self.society, f"({self.year})" if self.year else None) if p)
        section = section_below_title(self.heading_path, self.title)
        parts = [p for p in (who, self.title, f"section '{section}'" if section else None) if p]
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.url:
            parts.append(self.url)
        return ", ".join(parts)


class UnknownFilterValue(RadassistError):
    """A filter value no chunk carries; lists the values that exist so the caller can correct it."""

    def __init__(self, field: str, value: str, allowed: list[str]) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(
            f"{field}: no guideline in the knowledge base has {field} {value!r}; "
            f"known values: {', '.join(allowed) or '(none)'}"
        )


_SEARCH = """
WITH semantic AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
    FROM (
        SELECT id, embedding <=> %(vector)s AS distance
        FROM kb_chunks {where}
        ORDER BY {order}
        LIMIT %(candidates)s
    ) AS nearest
), keyword AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM (
        SELECT id, ts_rank(tsv, query, 1) AS score  -- 1: divide by log(length), long chunks match more words
        FROM kb_chunks, CAST(%(tsquery)s AS tsquery) AS query
        WHERE tsv @@ query {and_where}
        ORDER BY score DESC, id
        LIMIT %(candidates)s
    ) AS matched
), fused AS (
    SELECT coalesce(s.id, w.id) AS id, s.rank AS semantic_rank, w.rank AS keyword_rank,
           w.score AS keyword_score,
           coalesce(1.0::float8 / (%(rrf_k)s + s.rank), 0) + coalesce(1.0::float8 / (%(rrf_k)s + w.rank), 0)
               AS score
    FROM semantic AS s FULL OUTER JOIN keyword AS w ON s.id = w.id
    ORDER BY score DESC, id
    LIMIT %(k)s
)
SELECT f.id, f.score, f.semantic_rank, 1 - (c.embedding <=> %(vector)s) AS similarity, f.keyword_rank, f.keyword_score,
       c.heading_path, c.page, c.text, src.slug, src.title, src.society, src.year, src.version, src.url
FROM fused AS f
JOIN kb_chunks AS c ON c.id = f.id
JOIN kb_sources AS src ON src.id = c.source_id
ORDER BY f.score DESC, f.id
"""


# The model check and the query's lexemes in one round trip.
_MODEL_AND_LEXEMES = f"SELECT m.model, m.dimension, {QUERY_LEXEMES} FROM (SELECT) AS one LEFT JOIN kb_embedding_model AS m ON true"


def normalise_filters(**values: str | None) -> dict[str, str]:
    """Keep the given filters, lower-cased as the indexed columns are."""
    unknown = set(values) - set(FILTER_FIELDS)
    if unknown:
        raise ValueError(f"unknown filter(s) {sorted(unknown)}; allowed: {', '.join(FILTER_FIELDS)}")
    return {name: v.strip().lower() for name, v in values.items() if v is not None and v.strip()}


def search_statement(filters: dict[str, str], exact: bool = False) -> sql.Composed:
    conditions = [
        sql.SQL("{} @> ARRAY[{}]::text[]").format(sql.Identifier(name), sql.Placeholder(name))
        for name in filters
    ]
    joined = sql.SQL(" AND ").join(conditions)
    return sql.SQL(_SEARCH).format(
        # `+ 0` hides the distance from the HNSW index, so the planner filters first and sorts exactly.
        order=sql.SQL("(embedding <=> %(vector)s) + 0" if exact else "embedding <=> %(vector)s"),
        where=sql.SQL("WHERE ") + joined if conditions else sql.SQL(""),
        and_where=sql.SQL("AND ") + joined if conditions else sql.SQL(""),
    )


async def hybrid_search(
    conn: Any,
    query: str,
    vector: np.ndarray,
    *,
    k: int = 5,
    filters: dict[str, str] | None = None,
    params: SearchParams = DEFAULT_PARAMS,
    lexemes: list[str] | None = None,
) -> list[GuidelineHit]:
    """Run the fused query on one connection (no model check; see `search`).

    `lexemes` are the query's full-text lexemes when the caller already has them (saves a round trip).
    """
    filters = filters or {}
    candidates = max(params.candidates, k)
    if lexemes is None:
        lexemes = await query_lexemes(conn, query)
    exact = bool(filters) and await matching_rows(conn, filters) <= params.exact_filter_rows
    arguments = {
        "vector": HalfVector(vector),
        "tsquery": await keyword_tsquery(conn, lexemes, params.keyword_row_budget),
        "candidates": candidates,
        "rrf_k": params.rrf_k,
        "k": k,
        **filters,
    }
    # Pipelined: BEGIN, the settings, the query and COMMIT go out together instead of one round trip
    # each; on a busy machine every round trip is another wait for the scheduler.
    async with conn.pipeline():
        async with conn.transaction():
            # Iterative scans keep walking the HNSW graph until enough rows pass the filters.
            # JIT compiling pays off for long analytic queries, never for a 10 ms lookup.
            await conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true),"
                " set_config('jit', 'off', true)",
                (str(max(params.ef_search, candidates)), params.iterative_scan),
            )
            cur = await conn.execute(search_statement(filters, exact), arguments)
        rows = await cur.fetchall()
    return [_hit(row) for row in rows]


async def matching_rows(conn: Any, filters: dict[str, str]) -> float:
    """Estimated rows passing the filters: those of the most selective one (an upper bound)."""
    return min([(await element_stats(conn, name)).estimated_rows(value) for name, value in filters.items()])


def _hit(row: tuple[Any, ...]) -> GuidelineHit:
    (chunk_id, score, s_rank, similarity, k_rank, k_score, heading_path, page, text, slug, title, society, year,
     version, url) = row  # fmt: skip
    return GuidelineHit(
        chunk_id=chunk_id,
        source=slug,
        title=title,
        society=society,
        year=year,
        version=version,
        url=url,
        heading_path=list(heading_path),
        section=" > ".join(heading_path),
        page=page,
        text=text,
        score=float(score),
        semantic_rank=s_rank,
        semantic_similarity=float(similarity),
        keyword_rank=k_rank,
        keyword_score=None if k_score is None else float(k_score),
    )


async def search(
    pool: Any,
    embedder: Embedder,
    query: str,
    *,
    k: int = 5,
    system: str | None = None,
    body_region: str | None = None,
    modality: str | None = None,
    params: SearchParams = DEFAULT_PARAMS,
) -> list[GuidelineHit]:
    """Return the k best passages for a question, optionally filtered; [] for an empty knowledge base.

    Raises EmbeddingModelMismatch when the stored vectors come from another model, and
    UnknownFilterValue when a filter matches nothing because no chunk has that value at all.
    """
    filters = normalise_filters(system=system, body_region=body_region, modality=modality)
    vector = await embedder.embed_query(query)
    async with pool.connection() as conn:
        cur = await conn.execute(_MODEL_AND_LEXEMES, (query,))
        model, dimension, lexemes = await cur.fetchone()
        if not await check_for_search(EmbeddingModel(model, dimension) if model else None, embedder):
            return []
        hits = await hybrid_search(conn, query, vector, k=k, filters=filters, params=params, lexemes=lexemes)
        if not hits and filters:
            await _check_filter_values(conn, filters)
    return hits


async def _check_filter_values(conn: Any, filters: dict[str, str]) -> None:
    for name, value in filters.items():
        statement = sql.SQL("SELECT DISTINCT unnest({}) FROM kb_chunks ORDER BY 1").format(
            sql.Identifier(name)
        )
        cur = await conn.execute(statement)
        allowed = [row[0] for row in await cur.fetchall()]
        if value not in allowed:
            raise UnknownFilterValue(name, value, allowed)
