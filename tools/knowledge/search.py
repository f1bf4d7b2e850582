"""Hybrid guideline retrieval: pgvector neighbours + BM25 full-text, fused by RRF, reranked, floored.

Embeddings find paraphrases ("how often to re-scan a small lung spot"); full-text finds exact terms the
embedding model blurs ("LR-5", "Bosniak IIF", "pacemaker"). The full-text side is scored with BM25 in
PostgreSQL: each matched word weighs by its rarity (terms.py, from statistics kept at ingestion) and a
word of the heading counts more than one of the body. Reciprocal rank fusion (k = 60) merges the two
ranked lists without calibrating their scores against each other. The first few fused candidates are
then reranked by how well each passage answers (rerank.py), and a relevance floor calibrated on the
question set decides when nothing in the library answers at all: then the search returns no hit, so the
agent says it cannot answer instead of citing the least bad passage.

Filters on system / body region / modality use pgvector 0.8 iterative index scans, so a selective filter
still returns k hits instead of the few that happened to be among the unfiltered nearest neighbours.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pgvector import HalfVector
from psycopg import sql
from pydantic import BaseModel, Field, computed_field

from common.errors import RadassistError
from tools.knowledge.embedder import Embedder
from tools.knowledge.loaders import FILTER_FIELDS
from tools.knowledge.rerank import Evidence, RelevanceWeights, evidence, quote
from tools.knowledge.sentences import split_units
from tools.knowledge.stats import element_stats
from tools.knowledge.store import EmbeddingModel, check_for_search
from tools.knowledge.terms import QUERY_TERMS, QueryTerms, query_terms, tsquery_text

RRF_K = 60


@dataclass(frozen=True)
class SearchParams:
    """Tuning knobs: latency measured in bench/retrieval.py, quality in bench/retrieval_quality.py."""

    # Per ranked list, before fusion (raised to k when k is larger). A filtered vector search costs about
    # candidates / selectivity heap checks: at 100k chunks 40 candidates made filtered queries ~35 %
    # slower than 20, while recall@5 on the shipped question set was the same for 10, 20, 30, 40, 60.
    candidates: int = 20
    # HNSW candidate queue; must be >= candidates or the index returns fewer rows. Recall@10 against an
    # exact scan (bench/retrieval.py, 10k and 100k chunks): 0.98-1.00 at 40, 0.99-1.00 at 64.
    ef_search: int = 64
    rrf_k: int = RRF_K
    # Chunks the full-text side may match and score (terms.py), ~3 µs of CPU each: at 100k chunks 2000
    # cost 8.4 ms of CPU per unfiltered query, 1000 cost 4.5 ms. Words in under 1 % of chunks (codes,
    # specific terms) stay in; words as common as 'nodule' never fit either budget.
    keyword_row_budget: int = 1000
    # A filter matching at most this many rows (estimated) is searched exactly: reading and comparing a
    # few thousand vectors beats an HNSW walk that must skip ~candidates / selectivity rows (at 100k
    # chunks: 1,000 matching rows took ~7 ms exact but ~80 ms through the index). Exact is also perfect.
    exact_filter_rows: int = 3000
    iterative_scan: str = "relaxed_order"  # 'off' only to show what filtered queries lose without it
    # BM25's term-frequency saturation and length normalisation (the usual values). Term frequency is
    # 1 for a word of the body and `heading_tf` for a word of the heading path, which names the topic.
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    heading_tf: float = 2.0
    # Fused candidates the reranker reads: on the question set the passage that answers was among the
    # first 12 for all but a few questions, and reading more only lets distant passages overtake it.
    rerank_candidates: int = 12
    # Tuned on the even-numbered halves of both question sets, checked on the odd-numbered halves
    # (bench/retrieval_quality.py, `calibrate`). Held out: top-1 0.948, recall@5 0.933, cannot-answer
    # precision 0.941 and recall 0.914 (the previous weights: 0.956, 0.933, 0.968, 0.857).
    weights: RelevanceWeights = field(
        default_factory=lambda: RelevanceWeights(
            similarity=1.0, coverage=0.25, sentence=0.5, heading=0.25, unknown=0.0, unfamiliar=0.2
        )
    )
    # Below this relevance a passage does not answer the question: search() drops it, and with no passage
    # left the agent says the library cannot answer. Calibrated with the weights above.
    floor: float = 0.6316


DEFAULT_PARAMS = SearchParams()


def section_below_title(heading_path: list[str], title: str | None) -> str:
    """The heading path without the document's own title ('Single solid nodule', 'Categories > 4A')."""
    headings = heading_path[1:] if heading_path[:1] == [title] else heading_path
    return " > ".join(headings)


class GuidelineHit(BaseModel):
    """One retrieved passage with everything needed to cite and quote it."""

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
    quote: str = Field(
        description="the passage at sentence boundaries: whole when short, else its most relevant sentences"
    )
    sentence_scores: list[float] = Field(
        default_factory=list,
        description="the relevance of each sentence, list item or table row of text (sentences.split_units), "
        "in order: what a shorter quote is chosen by",
    )
    score: float = Field(description="relevance to the question after reranking (higher is better)")
    semantic_rank: int | None = Field(default=None, description="rank among vector neighbours (1 = nearest)")
    semantic_similarity: float | None = Field(
        default=None, description="cosine similarity to the query, for every hit (also keyword-only ones)"
    )
    keyword_rank: int | None = Field(default=None, description="rank among full-text matches (1 = best)")
    keyword_score: float | None = Field(default=None, description="BM25 score of the full-text match")

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


@dataclass(frozen=True)
class SearchResult:
    """The passages that clear the relevance floor, best first, and how close the best one came."""

    hits: list[GuidelineHit]
    best_score: float | None  # relevance of the best candidate, kept or not; None when nothing was found
    floor: float

    @property
    def below_floor(self) -> bool:
        """True when passages were found but none is relevant enough to answer the question."""
        return not self.hits and self.best_score is not None


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
        SELECT id, {bm25} AS score
        FROM (
            SELECT id, tsv, %(k1)s * (1 - %(b)s + %(b)s * length(tsv) / %(average_length)s) AS norm
            FROM kb_chunks
            WHERE tsv @@ CAST(%(tsquery)s AS tsquery) {and_where}
        ) AS matched
        ORDER BY score DESC, id
        LIMIT %(candidates)s
    ) AS scored
), fused AS (
    SELECT coalesce(s.id, w.id) AS id, s.rank AS semantic_rank, w.rank AS keyword_rank,
           w.score AS keyword_score,
           coalesce(1.0::float8 / (%(rrf_k)s + s.rank), 0) + coalesce(1.0::float8 / (%(rrf_k)s + w.rank), 0)
               AS score
    FROM semantic AS s FULL OUTER JOIN keyword AS w ON s.id = w.id
    ORDER BY score DESC, id
    LIMIT %(k)s
)
SELECT f.id, f.semantic_rank, 1 - (c.embedding <=> %(vector)s) AS similarity, f.keyword_rank, f.keyword_score,
       c.heading_path, c.page, c.text, src.slug, src.title, src.society, src.year, src.version, src.url
FROM fused AS f
JOIN kb_chunks AS c ON c.id = f.id
JOIN kb_sources AS src ON src.id = c.source_id
ORDER BY f.score DESC, f.id
"""

# BM25 of one query word in a matched chunk: tf is `heading_tf` in the heading path (weight A), 1 in the body.
_BM25_TERM = (
    "{idf} * (CASE WHEN tsv @@ CAST({head} AS tsquery) THEN {heading_tf}"
    " WHEN tsv @@ CAST({body} AS tsquery) THEN 1.0 ELSE 0.0 END)"
    " * (%(k1)s + 1) / ((CASE WHEN tsv @@ CAST({head} AS tsquery) THEN {heading_tf}"
    " WHEN tsv @@ CAST({body} AS tsquery) THEN 1.0 ELSE 0.0 END) + norm)"
)

# The lexemes of each quotable unit and heading of the candidates, in order, in one round trip.
_UNIT_LEXEMES = (
    "SELECT tsvector_to_array(to_tsvector('english', u.text))"
    " FROM unnest(%s::text[]) WITH ORDINALITY AS u(text, i) ORDER BY u.i"
)

# The model check and the question's terms in one round trip.
_MODEL_AND_TERMS = f"""
SELECT m.model, m.dimension, terms.*
FROM ({QUERY_TERMS}) AS terms LEFT JOIN kb_embedding_model AS m ON true
"""


def normalise_filters(**values: str | None) -> dict[str, str]:
    """Keep the given filters, lower-cased as the indexed columns are."""
    unknown = set(values) - set(FILTER_FIELDS)
    if unknown:
        raise ValueError(f"unknown filter(s) {sorted(unknown)}; allowed: {', '.join(FILTER_FIELDS)}")
    return {name: v.strip().lower() for name, v in values.items() if v is not None and v.strip()}


def search_statement(filters: dict[str, str], exact: bool = False, terms: int = 0) -> sql.Composed:
    """The fused statement for these filters and a BM25 sum over `terms` query words (t0, t1, ...)."""
    conditions = [
        sql.SQL("{} @> ARRAY[{}]::text[]").format(sql.Identifier(name), sql.Placeholder(name))
        for name in filters
    ]
    joined = sql.SQL(" AND ").join(conditions)
    bm25 = sql.SQL(" + ").join(
        sql.SQL(_BM25_TERM).format(
            idf=sql.Placeholder(f"idf{i}"),
            head=sql.Placeholder(f"head{i}"),
            body=sql.Placeholder(f"body{i}"),
            heading_tf=sql.Placeholder("heading_tf"),
        )
        for i in range(terms)
    )
    return sql.SQL(_SEARCH).format(
        # `+ 0` hides the distance from the HNSW index, so the planner filters first and sorts exactly.
        order=sql.SQL("(embedding <=> %(vector)s) + 0" if exact else "embedding <=> %(vector)s"),
        where=sql.SQL("WHERE ") + joined if conditions else sql.SQL(""),
        and_where=sql.SQL("AND ") + joined if conditions else sql.SQL(""),
        bm25=bm25 if terms else sql.SQL("0.0"),
    )


def statement_arguments(terms: QueryTerms, chosen: list[str], params: SearchParams) -> dict[str, Any]:
    """BM25 parameters: per chosen word its idf and its heading-only and anywhere tsqueries."""
    arguments: dict[str, Any] = {
        "tsquery": tsquery_text(chosen),
        "k1": params.bm25_k1,
        "b": params.bm25_b,
        "heading_tf": params.heading_tf,
        "average_length": terms.average_length,
    }
    for i, lexeme in enumerate(chosen):
        arguments[f"idf{i}"] = terms.idf(lexeme)
        arguments[f"head{i}"] = tsquery_text([lexeme], "A")
        arguments[f"body{i}"] = tsquery_text([lexeme])
    return arguments


async def hybrid_search(
    conn: Any,
    query: str,
    vector: np.ndarray,
    *,
    k: int = 5,
    filters: dict[str, str] | None = None,
    params: SearchParams = DEFAULT_PARAMS,
    terms: QueryTerms | None = None,
) -> list[GuidelineHit]:
    """The k best passages by relevance, reranked and quoted, on one connection (no model check, no
    floor; see `search`). `terms` are the question's terms when the caller already has them."""
    ranked = await ranked_candidates(conn, query, vector, k=k, filters=filters, params=params, terms=terms)
    return [hit for hit, _ in ranked[:k]]


async def ranked_candidates(
    conn: Any,
    query: str,
    vector: np.ndarray,
    *,
    k: int = 5,
    filters: dict[str, str] | None = None,
    params: SearchParams = DEFAULT_PARAMS,
    terms: QueryTerms | None = None,
) -> list[tuple[GuidelineHit, Evidence]]:
    """Every fused candidate the reranker read (at least k), best first, with what it was scored on."""
    filters = filters or {}
    candidates = max(params.candidates, k)
    if terms is None:
        terms = await query_terms(conn, query)
    chosen = terms.matching(params.keyword_row_budget)
    exact = bool(filters) and await matching_rows(conn, filters) <= params.exact_filter_rows
    arguments = {
        "vector": HalfVector(vector),
        "candidates": candidates,
        "rrf_k": params.rrf_k,
        "k": max(k, params.rerank_candidates),
        **statement_arguments(terms, chosen, params),
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
            cur = await conn.execute(search_statement(filters, exact, len(chosen)), arguments)
        rows = await cur.fetchall()
    return await rerank(conn, terms, rows, params.weights)


async def rerank(
    conn: Any, terms: QueryTerms, rows: list[tuple[Any, ...]], weights: RelevanceWeights
) -> list[tuple[GuidelineHit, Evidence]]:
    """Score the fused candidates by relevance (rerank.py), best first, each hit with its quote."""
    units = [split_units(row[7]) for row in rows]
    headings = [section_below_title(list(row[5]), row[9]) for row in rows]
    lexemes = await unit_lexemes(conn, [u.text for unit_list in units for u in unit_list] + headings)
    scored = []
    position = 0
    for i, row in enumerate(rows):
        found = evidence(
            terms,
            float(row[2]),
            units[i],
            lexemes[position : position + len(units[i])],
            lexemes[len(lexemes) - len(rows) + i],
        )
        position += len(units[i])
        scored.append((_hit(row, found, weights), found))
    scored.sort(key=lambda pair: (-pair[0].score, pair[0].chunk_id))
    return scored


_LEXEMES: OrderedDict[str, list[str]] = OrderedDict()
LEXEME_CACHE_SIZE = 50_000  # sentences and headings; a few MB. The library's passages recur across questions.


async def unit_lexemes(conn: Any, texts: list[str]) -> list[list[str]]:
    """The English lexemes of each text, as PostgreSQL stems them; texts seen before come from a cache
    (a text's lexemes never change), so a warm search needs no second round trip."""
    missing = [text for text in dict.fromkeys(texts) if text not in _LEXEMES]
    for text in texts:
        if text in _LEXEMES:
            _LEXEMES.move_to_end(text)  # recently used: evicted last
    if missing:
        cur = await conn.execute(_UNIT_LEXEMES, (missing,))
        for text, (found,) in zip(missing, await cur.fetchall(), strict=True):
            _LEXEMES[text] = found
    found = {text: _LEXEMES[text] for text in texts}
    while len(_LEXEMES) > LEXEME_CACHE_SIZE:
        _LEXEMES.popitem(last=False)
    return [found[text] for text in texts]


async def matching_rows(conn: Any, filters: dict[str, str]) -> float:
    """Estimated rows passing the filters: those of the most selective one (an upper bound)."""
    return min([(await element_stats(conn, name)).estimated_rows(value) for name, value in filters.items()])


def _hit(row: tuple[Any, ...], found: Evidence, weights: RelevanceWeights) -> GuidelineHit:
    (chunk_id, s_rank, similarity, k_rank, k_score, heading_path, page, text, slug, title, society, year,
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
        quote=quote(text, found.units, found.unit_scores),
        sentence_scores=[round(score, 4) for score in found.unit_scores],
        score=found.relevance(weights),
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
) -> SearchResult:
    """The k best passages that clear the relevance floor, optionally filtered.

    An empty knowledge base gives no hit and no best score. Raises EmbeddingModelMismatch when the stored
    vectors come from another model, and UnknownFilterValue when a filter matches nothing because no
    chunk has that value at all.
    """
    filters = normalise_filters(system=system, body_region=body_region, modality=modality)
    vector = await embedder.embed_query(query)
    async with pool.connection() as conn:
        cur = await conn.execute(_MODEL_AND_TERMS, (query,))
        model, dimension, *term_row = await cur.fetchone()
        if not await check_for_search(EmbeddingModel(model, dimension) if model else None, embedder):
            return SearchResult([], None, params.floor)
        terms = QueryTerms.from_row(*term_row)
        hits = await hybrid_search(conn, query, vector, k=k, filters=filters, params=params, terms=terms)
        if not hits and filters:
            await _check_filter_values(conn, filters)
    best = hits[0].score if hits else None
    return SearchResult([h for h in hits if h.score >= params.floor], best, params.floor)


async def _check_filter_values(conn: Any, filters: dict[str, str]) -> None:
    for name, value in filters.items():
        statement = sql.SQL("SELECT DISTINCT unnest({}) FROM kb_chunks ORDER BY 1").format(
            sql.Identifier(name)
        )
        cur = await conn.execute(statement)
        allowed = [row[0] for row in await cur.fetchall()]
        if value not in allowed:
            raise UnknownFilterValue(name, value, allowed)
