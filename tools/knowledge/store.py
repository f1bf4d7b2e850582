"""The knowledge base's record of its embedding model, checked before every read and write.

Vectors from two models (or two dimensions) are not comparable; mixing them returns confident
nonsense. So the database records the model and dimension its vectors came from, and every ingest
and search compares that with models.yaml's 'embedder'. Only `radassist reindex` changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import RadassistError
from tools.knowledge.embedder import Embedder

MAX_HNSW_DIMENSION = 4000  # pgvector's HNSW indexes `halfvec` columns up to 4000 dimensions
HNSW_INDEX = "kb_chunks_embedding_hnsw"


@dataclass(frozen=True)
class EmbeddingModel:
    model: str
    dimension: int


class EmbeddingModelMismatch(RadassistError):
    """The knowledge base holds vectors of another model or dimension than the configured embedder."""

    def __init__(self, stored: EmbeddingModel, configured: EmbeddingModel) -> None:
        self.stored = stored
        self.configured = configured
        super().__init__(
            f"the knowledge base was embedded with {stored.model!r} ({stored.dimension} dimensions) but "
            f"models.yaml alias 'embedder' is {configured.model!r} ({configured.dimension} dimensions); "
            "run `radassist reindex` to re-embed it with the configured model (or restore the previous one)"
        )


async def configured_model(embedder: Embedder) -> EmbeddingModel:
    """The configured embedder as the database records it; refuses dimensions HNSW cannot index."""
    dimension = await embedder.dimension()
    if dimension > MAX_HNSW_DIMENSION:
        raise RadassistError(
            f"embedding model {embedder.model!r} returns {dimension}-dimensional vectors; pgvector's HNSW "
            f"index takes at most {MAX_HNSW_DIMENSION}: choose a smaller embedding model in models.yaml"
        )
    return EmbeddingModel(embedder.model, dimension)


async def stored_model(conn: Any, *, lock: str = "") -> EmbeddingModel | None:
    """The recorded model, optionally locked (`FOR SHARE` by writers, `FOR UPDATE` by reindex)."""
    cur = await conn.execute(f"SELECT model, dimension FROM kb_embedding_model {lock}")
    row = await cur.fetchone()
    return EmbeddingModel(row[0], row[1]) if row else None


async def column_dimension(conn: Any) -> int:
    cur = await conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'kb_chunks'::regclass AND attname = 'embedding'"
    )
    row = await cur.fetchone()
    return int(row[0])


async def record_model(conn: Any, model: EmbeddingModel) -> None:
    await conn.execute(
        "INSERT INTO kb_embedding_model (model, dimension) VALUES (%s, %s) ON CONFLICT (singleton) "
        "DO UPDATE SET model = EXCLUDED.model, dimension = EXCLUDED.dimension, updated_at = now()",
        (model.model, model.dimension),
    )


async def check_for_search(stored: EmbeddingModel | None, embedder: Embedder) -> bool:
    """True when the stored vectors come from the configured model; False when there are none yet."""
    if stored is None:
        return False
    configured = await configured_model(embedder)
    if stored != configured:
        raise EmbeddingModelMismatch(stored, configured)
    return True


async def prepare_for_writing(pool: Any, embedder: Embedder) -> EmbeddingModel:
    """Make sure ingesting with the configured model is allowed, adopting it while no chunk exists.

    An empty knowledge base (first start, or every source deleted) takes the configured model,
    changing the vector column's dimension if needed; a non-empty one with another model is refused.
    """
    configured = await configured_model(embedder)
    async with pool.connection() as conn, conn.transaction():
        stored = await stored_model(conn, lock="FOR UPDATE")
        if stored == configured:
            return configured
        cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM kb_chunks)")
        has_chunks = (await cur.fetchone())[0]
        if stored is not None and has_chunks:
            raise EmbeddingModelMismatch(stored, configured)
        await conn.execute("LOCK TABLE kb_chunks IN ACCESS EXCLUSIVE MODE")
        if await column_dimension(conn) != configured.dimension:
            await set_vector_dimension(conn, configured.dimension)
        await record_model(conn, configured)
    return configured


async def check_while_writing(conn: Any, configured: EmbeddingModel) -> None:
    """Inside a write transaction: block a concurrent reindex and refuse if it changed the model."""
    stored = await stored_model(conn, lock="FOR SHARE")
    if stored != configured:
        raise EmbeddingModelMismatch(stored or EmbeddingModel("(none)", 0), configured)


async def set_vector_dimension(conn: Any, dimension: int) -> None:
    """Change the embedding column of an EMPTY chunk table to `dimension`, rebuilding the HNSW index.

    Call inside a transaction holding an exclusive lock on kb_chunks.
    """
    definition = await hnsw_definition(conn)
    await conn.execute(f"DROP INDEX {HNSW_INDEX}")
    await conn.execute(
        f"ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE halfvec({int(dimension)}) USING NULL"
    )
    await conn.execute(definition)


async def hnsw_definition(conn: Any) -> str:
    """The HNSW index's CREATE INDEX statement (with its m / ef_construction), to rebuild it as it was."""
    cur = await conn.execute("SELECT pg_get_indexdef(to_regclass(%s))", (HNSW_INDEX,))
    row = await cur.fetchone()
    if row is None or row[0] is None:
        raise RadassistError(f"index {HNSW_INDEX} is missing: the knowledge base schema was changed by hand")
    return str(row[0])
