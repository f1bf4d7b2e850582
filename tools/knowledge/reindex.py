"""`radassist reindex`: re-embed every chunk with the configured embedder, in one transaction.

Needed after models.yaml's 'embedder' changes: the stored vectors are meaningless to the new
model. The chunks' text stays; only vectors, the column dimension (if it changed), the HNSW index
and the recorded model are replaced, atomically: a failure leaves the old, consistent state.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from pgvector import HalfVector

from tools.knowledge.chunking import embedding_text
from tools.knowledge.embedder import Embedder
from tools.knowledge.ingest import EMBED_BATCH
from tools.knowledge.store import (
    HNSW_INDEX,
    column_dimension,
    configured_model,
    hnsw_definition,
    record_model,
    stored_model,
)

_INDEX_MEMORY = "512MB"  # an HNSW build much slower once the graph outgrows maintenance_work_mem


async def reindex(
    pool: Any, embedder: Embedder, *, batch_size: int = EMBED_BATCH, progress: bool | None = None
) -> int:
    """Re-embed all chunks and record the configured model; return the number of chunks re-embedded.

    The model row stays locked throughout, so a concurrent ingest waits and then sees the new model.
    """
    configured = await configured_model(embedder)
    async with pool.connection() as conn, conn.transaction():
        await stored_model(conn, lock="FOR UPDATE")
        cur = await conn.execute("SELECT id, heading_path, text FROM kb_chunks ORDER BY id")
        rows = await cur.fetchall()
        vectors = await _embed_all(embedder, [embedding_text(h, t) for _, h, t in rows], batch_size, progress)

        await conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (_INDEX_MEMORY,))
        definition = await hnsw_definition(conn)
        await conn.execute(f"DROP INDEX {HNSW_INDEX}")
        if await column_dimension(conn) != configured.dimension:
            await conn.execute("ALTER TABLE kb_chunks ALTER COLUMN embedding DROP NOT NULL")
            await conn.execute(
                f"ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE halfvec({configured.dimension}) USING NULL"
            )
        await conn.execute(
            f"CREATE TEMP TABLE kb_reindex (id bigint PRIMARY KEY, embedding halfvec({configured.dimension}))"
            " ON COMMIT DROP"
        )
        async with conn.cursor().copy("COPY kb_reindex (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "halfvec"])
            for (chunk_id, _, _), vector in zip(rows, vectors, strict=True):
                await copy.write_row((chunk_id, HalfVector(vector)))
        await conn.execute(
            "UPDATE kb_chunks AS c SET embedding = r.embedding FROM kb_reindex AS r WHERE c.id = r.id"
        )
        await conn.execute("ALTER TABLE kb_chunks ALTER COLUMN embedding SET NOT NULL")
        await conn.execute(definition)
        await record_model(conn, configured)
    return len(rows)


async def _embed_all(
    embedder: Embedder, texts: list[str], batch_size: int, progress: bool | None
) -> np.ndarray:
    from tqdm import tqdm

    dimension = await embedder.dimension()
    vectors = np.empty((len(texts), dimension), dtype=np.float32)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(
        total=len(texts), unit="chunk", desc="reindex", file=sys.stderr, disable=not show, delay=2.0
    ) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            vectors[start : start + len(batch)] = await embedder.embed(batch)
            bar.update(len(batch))
    return vectors
