"""The knowledge base's documents: list them with their provenance, remove one atomically."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from common.errors import RadassistError
from tools.knowledge.loaders import LOADERS
from tools.knowledge.stats import forget_stats

_LIST = """
SELECT s.slug, s.title, s.version, s.year, s.society, count(c.id), m.model, m.dimension, s.ingested_at, s.path
FROM kb_sources AS s
LEFT JOIN kb_chunks AS c ON c.source_id = s.id
LEFT JOIN kb_embedding_model AS m ON true
{where}
GROUP BY s.id, m.model, m.dimension
ORDER BY s.slug
"""


@dataclass(frozen=True)
class SourceInfo:
    """One ingested document: what it is, how many passages it gave, which model embedded them, when."""

    source: str
    title: str
    version: str | None
    year: int | None
    society: str | None
    chunks: int
    embedding_model: str | None  # the knowledge base's single embedding model (kb_embedding_model)
    embedding_dimension: int | None
    ingested_at: datetime
    path: str

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ingested_at": self.ingested_at.isoformat()}


class UnknownSource(RadassistError):
    """A source name that is not in the knowledge base; names the closest existing ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        listing = "; `radassist sources list` shows them" if known else "; the knowledge base is empty"
        super().__init__(f"no source {name!r} in the knowledge base{hint}{listing}")


def source_name(argument: str) -> str:
    """A source is named by its slug, or by the path of the file it was ingested from."""
    path = Path(argument)
    return path.stem if path.suffix.lower() in LOADERS else argument.strip()


async def list_sources(pool: Any) -> list[SourceInfo]:
    async with pool.connection() as conn:
        cur = await conn.execute(_LIST.format(where=""))
        return [SourceInfo(*row) for row in await cur.fetchall()]


async def remove_source(pool: Any, argument: str) -> SourceInfo:
    """Delete one source and its passages in one transaction (term statistics follow by trigger)."""
    name = source_name(argument)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT id FROM kb_sources WHERE slug = %s FOR UPDATE", (name,))
        if await cur.fetchone() is None:
            cur = await conn.execute("SELECT slug FROM kb_sources ORDER BY slug")
            raise UnknownSource(name, [r[0] for r in await cur.fetchall()])
        cur = await conn.execute(_LIST.format(where="WHERE s.slug = %s"), (name,))
        row = await cur.fetchone()
        await conn.execute("DELETE FROM kb_sources WHERE slug = %s", (name,))
    forget_stats()
    return SourceInfo(*row)
