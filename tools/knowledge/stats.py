"""Element frequencies of kb_chunks' filter columns, read from PostgreSQL's own statistics.

ANALYZE records, for array columns, the most common elements and the fraction of rows containing each
(pg_stats.most_common_elems / most_common_elem_freqs). Search uses them to estimate how many rows a
filter value matches before choosing between an exact scan and the HNSW index (search.py). Words are
counted exactly instead (kb_terms, terms.py): the sample ANALYZE keeps says little about rare words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

STATS_TTL_SECONDS = 60.0  # statistics change only when an ingest runs ANALYZE
_COLUMNS = frozenset({"system", "body_region", "modality"})


@dataclass(frozen=True)
class ElementStats:
    """Fraction of chunks containing each common element; an untracked one counts as `floor`."""

    frequencies: dict[str, float]
    floor: float
    rows: float

    def estimated_rows(self, element: str) -> float:
        return self.frequencies.get(element, self.floor) * self.rows


NO_STATS = ElementStats({}, 0.0, 0.0)  # never analysed: every estimate is 0 (a new, small table)
_cache: dict[tuple[Any, ...], tuple[float, ElementStats]] = {}


async def element_stats(conn: Any, column: str) -> ElementStats:
    """The column's element statistics for this database, cached for a minute per process."""
    if column not in _COLUMNS:
        raise ValueError(f"no element statistics for column {column!r}")
    key = (conn.info.host, conn.info.port, conn.info.dbname, column)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < STATS_TTL_SECONDS:
        return cached[1]
    cur = await conn.execute(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples"
        " FROM pg_class AS c LEFT JOIN pg_stats AS s"
        "   ON s.schemaname = current_schema() AND s.tablename = 'kb_chunks' AND s.attname = %s"
        " WHERE c.oid = 'kb_chunks'::regclass",
        (column,),
    )
    row = await cur.fetchone()
    stats = NO_STATS
    if row is not None and row[0]:
        elements, freqs, rows = row
        # The frequency array ends with extra entries (min, max, ...). An untracked element is rarer than
        # every tracked one: like the planner (ts_selfuncs.c, array_selfuncs.c), take half the lowest.
        frequencies = dict(zip(elements, freqs[: len(elements)], strict=True))
        stats = ElementStats(frequencies, min(frequencies.values()) / 2, max(float(rows), 0.0))
    elif row is not None:
        stats = ElementStats({}, 0.0, max(float(row[2]), 0.0))
    _cache[key] = (time.monotonic(), stats)
    return stats


def forget_stats() -> None:
    """Drop cached statistics (after this process changed the knowledge base)."""
    _cache.clear()
