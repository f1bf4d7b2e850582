"""`radassist ingest | reindex | search`: manage and query the guideline knowledge base."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import cast


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = sub.add_parser(
        "ingest",
        help="add or update guideline files (Markdown, text, HTML, PDF) in the knowledge base",
        description="Unchanged files are skipped; a changed file's passages are replaced atomically. "
        "Sources are identified by file name.",
    )
    ingest.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or directories (searched recursively)"
    )
    ingest.add_argument(
        "--delete", action="store_true", help="remove these sources (by path or name) instead"
    )
    ingest.set_defaults(func=cmd_ingest)

    reindex = sub.add_parser(
        "reindex", help="re-embed the knowledge base after changing the 'embedder' model in models.yaml"
    )
    reindex.set_defaults(func=cmd_reindex)

    search = sub.add_parser(
        "search", help="search the guideline knowledge base (vector + BM25, reranked, with a relevance floor)"
    )
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--k", type=int, default=5, help="number of passages (default 5)")
    search.add_argument("--system", help="only sources for this classification system, e.g. fleischner")
    search.add_argument("--body-region", help="only sources for this body region, e.g. chest")
    search.add_argument("--modality", help="only sources for this modality, e.g. CT")
    search.add_argument("--json", action="store_true", help="print the hits as one JSON object")
    search.set_defaults(func=cmd_search)


def cmd_ingest(args: argparse.Namespace) -> int:
    from agent.runtime import open_runtime
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.ingest import IngestReport, delete_sources, ingest_paths

    async def run() -> IngestReport:
        async with open_runtime() as runtime:
            if args.delete:
                return await delete_sources(runtime.pool, args.paths)
            return await ingest_paths(runtime.pool, Embedder(runtime.gateway), args.paths)

    report = asyncio.run(run())
    for label, slugs in (("added", report.added), ("updated", report.updated), ("deleted", report.deleted)):
        for slug in slugs:
            print(f"{label}: {slug}")
    for slug in report.not_found:
        print(f"not in the knowledge base: {slug}", file=sys.stderr)
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed or report.not_found else 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from agent.runtime import open_runtime
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.reindex import reindex

    async def run() -> tuple[int, str]:
        async with open_runtime() as runtime:
            embedder = Embedder(runtime.gateway)
            count = await reindex(runtime.pool, embedder)
            return count, f"{embedder.model} ({await embedder.dimension()} dimensions)"

    count, model = asyncio.run(run())
    print(f"re-embedded {count} chunks with {model}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from agent.progress import ready
    from agent.runtime import open_runtime
    from common.errors import RadassistError
    from tools.guideline_search import GuidelineSearchOutput
    from tools.registry import ToolInputError

    request = {
        "query": args.query,
        "k": args.k,
        "system": args.system,
        "body_region": args.body_region,
        "modality": args.modality,
    }

    async def run() -> GuidelineSearchOutput:
        async with open_runtime() as runtime:
            ready()
            result = await runtime.registry.get("guideline_search").arun(request, runtime.tool_context)
            return cast(GuidelineSearchOutput, result)  # the registry checked the output type

    try:
        result = asyncio.run(run())
    except ToolInputError as exc:
        raise RadassistError(str(exc)) from None
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        return 0
    if not result.hits:
        print(result.note)
    for number, hit in enumerate(result.hits, start=1):
        print(f"[{number}] {hit.citation}  (relevance {hit.score:.2f})")
        print(f"    {' '.join(hit.quote.split())}")
    return 0
