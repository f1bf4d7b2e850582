"""Ingest files into the knowledge base: idempotent by content hash, one transaction per file.

An unchanged file (same slug, same sha256) is skipped without a write. A changed one has its source
row updated and its chunks replaced in a single transaction, so a failure leaves the previous
version whole. Files that cannot be read are collected with their reason and reported at the end;
the others still land. Embedding the next batch overlaps with writing the previous file (COPY), so
the database is not what the user waits for.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import psycopg
from pgvector import HalfVector
from psycopg.types.json import Jsonb

from common.errors import RadassistError
from tools.knowledge.chunking import Chunk, chunk_sections, embedding_text
from tools.knowledge.embedder import Embedder
from tools.knowledge.loaders import LOADERS, LoadedDocument, LoaderError, load_document
from tools.knowledge.stats import forget_stats
from tools.knowledge.store import EmbeddingModel, check_while_writing, prepare_for_writing

log = logging.getLogger(__name__)

EMBED_BATCH = 64  # texts per embedding call; sentence-transformers encodes them in batches of 32
_QUEUE_FILES = 4  # embedded files waiting for the writer before embedding pauses
_COPY = (
    "COPY kb_chunks (source_id, chunk_index, heading_path, page, text, embedding, system, body_region,"
    " modality, metadata) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ["int8", "int4", "text[]", "int4", "text", "halfvec", "text[]", "text[]", "text[]", "jsonb"]
_UPSERT_SOURCE = """
INSERT INTO kb_sources (slug, path, title, society, year, version, url, licence, sha256, metadata)
VALUES (%(slug)s, %(path)s, %(title)s, %(society)s, %(year)s, %(version)s, %(url)s, %(licence)s,
        %(sha256)s, %(metadata)s)
ON CONFLICT (slug) DO UPDATE SET
    path = EXCLUDED.path, title = EXCLUDED.title, society = EXCLUDED.society, year = EXCLUDED.year,
    version = EXCLUDED.version, url = EXCLUDED.url, licence = EXCLUDED.licence, sha256 = EXCLUDED.sha256,
    metadata = EXCLUDED.metadata, ingested_at = now()
RETURNING id, (xmax = 0) AS inserted
"""


@dataclass
class IngestReport:
    """What one ingest or delete run did, by source slug; `failed` holds (path, reason)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_written: int = 0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0

    def summary(self) -> str:
        counts = {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "not found": len(self.not_found),
            "failed": len(self.failed),
        }
        parts = [f"{n} {label}" for label, n in counts.items() if n or label in ("added", "failed")]
        return f"{', '.join(parts)}; {self.chunks_written} chunks written in {self.seconds:.1f} s"


@dataclass
class _Job:
    """One parsed file whose chunks are being embedded."""

    doc: LoadedDocument
    chunks: list[Chunk]
    vectors: np.ndarray
    remaining: int


def find_files(paths: Iterable[str | Path], report: IngestReport) -> list[Path]:
    """Expand directories (recursively, supported types, no hidden files); record missing paths."""
    found: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in LOADERS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                report.failed.append((str(path), f"no {', '.join(sorted(LOADERS))} files in this directory"))
            for p in files:
                found.setdefault(p.resolve(), p)
        elif path.is_file():
            found.setdefault(path.resolve(), path)
        else:
            report.failed.append((str(path), "no such file or directory"))
    return list(found.values())


async def ingest_paths(
    pool: Any,
    embedder: Embedder,
    paths: Iterable[str | Path],
    *,
    batch_size: int = EMBED_BATCH,
    progress: bool | None = None,
) -> IngestReport:
    """Ingest files and directories; return what happened to each. Raises only for whole-run problems
    (embedding model mismatch, embedding failure), never for one bad file."""
    started = perf_counter()
    report = IngestReport()
    files = find_files(paths, report)
    if files:
        model = await prepare_for_writing(pool, embedder)
        known = await _known_sources(pool)
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=_QUEUE_FILES)
        with _progress_bar(progress) as bar:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(_write_jobs(pool, queue, model, report, bar))
                    group.create_task(
                        _embed_jobs(files, known, embedder, model, queue, report, batch_size, bar)
                    )
            except BaseExceptionGroup as errors:
                raise errors.exceptions[0] from None
        if report.chunks_written:
            await _refresh_statistics(pool)
    report.seconds = perf_counter() - started
    return report


async def delete_sources(pool: Any, targets: Iterable[str | Path]) -> IngestReport:
    """Remove sources (and, by cascade, their chunks) named by file path, directory or slug."""
    started = perf_counter()
    report = IngestReport()
    slugs: list[str] = []
    for raw in targets:
        path = Path(raw).expanduser()
        if path.is_dir():
            slugs.extend(p.stem for p in find_files([path], IngestReport()))
        else:
            slugs.append(path.stem if path.suffix.lower() in LOADERS else path.name)
    slugs = list(dict.fromkeys(slugs))
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM kb_sources WHERE slug = ANY(%s) RETURNING slug", (slugs,))
        deleted = {row[0] for row in await cur.fetchall()}
    report.deleted = [s for s in slugs if s in deleted]
    report.not_found = [s for s in slugs if s not in deleted]
    report.seconds = perf_counter() - started
    return report


async def _refresh_statistics(pool: Any) -> None:
    """ANALYZE now rather than whenever autovacuum gets to it: search prunes common words using the
    lexeme frequencies ANALYZE records, and the planner needs row counts to choose index scans."""
    async with pool.connection() as conn:
        await conn.execute("ANALYZE kb_chunks")
    forget_stats()


@dataclass(frozen=True)
class _Known:
    sha256: str
    path: str


async def _known_sources(pool: Any) -> dict[str, _Known]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT slug, sha256, path FROM kb_sources")
        return {slug: _Known(sha, path) for slug, sha, path in await cur.fetchall()}


def _is_other_file(stored_path: str, path: Path) -> bool:
    """True when the slug already belongs to a different file that still exists (not a moved one)."""
    old = Path(stored_path)
    try:
        return old.exists() and not old.samefile(path)
    except OSError:
        return False


async def _embed_jobs(
    files: list[Path],
    known: dict[str, _Known],
    embedder: Embedder,
    model: EmbeddingModel,
    queue: asyncio.Queue[_Job | None],
    report: IngestReport,
    batch_size: int,
    bar: Any,
) -> None:
    """Parse changed files and embed their chunks in fixed-size batches across file boundaries;
    hand each file to the writer as soon as all its chunks have vectors."""
    jobs: deque[_Job] = deque()
    pending: list[tuple[_Job, int, str]] = []
    seen: dict[str, Path] = {}
    for path in files:
        job = await _parse(path, known, seen, model, report)
        if job is None:
            continue
        jobs.append(job)
        bar.total += len(job.chunks)
        bar.refresh()
        pending.extend((job, c.index, embedding_text(c.heading_path, c.text)) for c in job.chunks)
        while len(pending) >= batch_size:
            await _embed_batch(embedder, pending[:batch_size], report)
            del pending[:batch_size]
            await _release_ready(jobs, queue)
    if pending:
        await _embed_batch(embedder, pending, report)
    await _release_ready(jobs, queue)
    await queue.put(None)


async def _parse(
    path: Path, known: dict[str, _Known], seen: dict[str, Path], model: EmbeddingModel, report: IngestReport
) -> _Job | None:
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        report.failed.append((str(path), f"cannot read: {exc.strerror or exc}"))
        return None
    slug = path.stem
    if slug in seen:
        report.failed.append(
            (str(path), f"same file name as {seen[slug]}: sources are identified by file name")
        )
        return None
    seen[slug] = path
    stored = known.get(slug)
    if stored is not None and stored.sha256 == hashlib.sha256(data).hexdigest():
        report.unchanged.append(slug)
        return None
    if stored is not None and _is_other_file(stored.path, path):
        report.failed.append(
            (
                str(path),
                f"the name {slug!r} is already used by {stored.path}; rename one of them or delete it",
            )
        )
        return None
    try:
        doc = await asyncio.to_thread(load_document, path, data)
        chunks = chunk_sections(doc.sections)
    except LoaderError as exc:
        report.failed.append((str(path), str(exc)))
        return None
    except Exception as exc:  # a parser bug on a hostile file must not sink the whole batch
        log.debug("loader crashed on %s", path, exc_info=True)
        report.failed.append((str(path), f"could not parse: {type(exc).__name__}: {exc}"))
        return None
    if not chunks:
        report.failed.append((str(path), "no text found"))
        return None
    vectors = np.empty((len(chunks), model.dimension), dtype=np.float32)
    return _Job(doc=doc, chunks=chunks, vectors=vectors, remaining=len(chunks))


async def _embed_batch(embedder: Embedder, batch: list[tuple[_Job, int, str]], report: IngestReport) -> None:
    started = perf_counter()
    try:
        vectors = await embedder.embed([text for _, _, text in batch])
    except RadassistError:
        raise
    except Exception as exc:  # litellm / provider errors: one line naming the model, not a traceback
        raise RadassistError(
            f"embedding with {embedder.model!r} (models.yaml alias {embedder.alias!r}) failed: "
            f"{type(exc).__name__}: {exc}; files embedded before this point were written"
        ) from exc
    for (job, index, _), vector in zip(batch, vectors, strict=True):
        job.vectors[index] = vector
        job.remaining -= 1
    report.embed_seconds += perf_counter() - started


async def _release_ready(jobs: deque[_Job], queue: asyncio.Queue[_Job | None]) -> None:
    while jobs and jobs[0].remaining == 0:
        await queue.put(jobs.popleft())


async def _write_jobs(
    pool: Any, queue: asyncio.Queue[_Job | None], model: EmbeddingModel, report: IngestReport, bar: Any
) -> None:
    """Write each embedded file in its own transaction: upsert the source, replace its chunks."""
    async with pool.connection() as conn:
        while (job := await queue.get()) is not None:
            started = perf_counter()
            try:
                async with conn.transaction():
                    await check_while_writing(conn, model)
                    inserted = await write_source(conn, job.doc, job.chunks, job.vectors)
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                report.failed.append((str(job.doc.path), f"database error, nothing written: {reason}"))
            else:
                (report.added if inserted else report.updated).append(job.doc.slug)
                report.chunks_written += len(job.chunks)
            report.write_seconds += perf_counter() - started
            bar.update(len(job.chunks))


async def write_source(conn: Any, doc: LoadedDocument, chunks: list[Chunk], vectors: np.ndarray) -> bool:
    """Upsert the source row and replace its chunks; call inside a transaction. True if it was new."""
    meta = doc.meta
    cur = await conn.execute(
        _UPSERT_SOURCE,
        {
            "slug": doc.slug,
            "path": str(doc.path.resolve()),
            "title": meta.title,
            "society": meta.society,
            "year": meta.year,
            "version": meta.version,
            "url": meta.url,
            "licence": meta.licence,
            "sha256": doc.sha256,
            "metadata": Jsonb(meta.extra_metadata()),
        },
    )
    source_id, inserted = await cur.fetchone()
    await conn.execute("DELETE FROM kb_chunks WHERE source_id = %s", (source_id,))
    await copy_chunks(conn, source_id, doc, chunks, vectors)
    return bool(inserted)


async def copy_chunks(
    conn: Any, source_id: int, doc: LoadedDocument, chunks: list[Chunk], vectors: np.ndarray
) -> None:
    """Bulk-load one source's chunks with binary COPY (several times faster than INSERTs)."""
    filters = doc.meta.filters()
    metadata = Jsonb({name: getattr(doc.meta, name) for name in filters})
    async with conn.cursor().copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for chunk, vector in zip(chunks, vectors, strict=True):
            await copy.write_row(
                (
                    source_id,
                    chunk.index,
                    list(chunk.heading_path),
                    chunk.page,
                    chunk.text,
                    HalfVector(vector),
                    filters["system"],
                    filters["body_region"],
                    filters["modality"],
                    metadata,
                )
            )


def _progress_bar(progress: bool | None) -> Any:
    """A chunk counter on stderr: shown when asked, or automatically on a terminal for runs over 2 s."""
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(
        total=0, unit="chunk", desc="ingest", file=sys.stderr, disable=not show, delay=2.0, leave=False
    )
