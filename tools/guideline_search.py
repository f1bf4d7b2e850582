"""`guideline_search`: cited guideline passages from the knowledge base (hybrid vector + full-text)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from common.errors import RadassistError
from tools.knowledge.embedder import Embedder
from tools.knowledge.search import GuidelineHit, UnknownFilterValue, search
from tools.registry import ToolContext, ToolInputError, tool

_EMBEDDER_KEY = "knowledge.embedder"
MAX_K = 20


class GuidelineSearchInput(BaseModel):
    """A question and optional filters; filter values are those of the sources' front matter."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    query: str = Field(min_length=2, max_length=2000, description="the question or topic to look up")
    k: int = Field(default=5, ge=1, le=MAX_K, description="number of passages to return")
    system: str | None = Field(
        default=None,
        max_length=64,
        description="classification system tool name, e.g. 'fleischner', 'li_rads'",
    )
    body_region: str | None = Field(default=None, max_length=64, description="e.g. 'chest', 'abdomen'")
    modality: str | None = Field(default=None, max_length=32, description="e.g. 'CT', 'MR', 'US'")


class GuidelineSearchOutput(BaseModel):
    """The passages found, best first, each with its citation (source, section, page, url)."""

    query: str
    hits: list[GuidelineHit]


@tool(
    name="guideline_search",
    description=(
        "Search the guideline knowledge base for passages answering a radiology question; every hit "
        "carries its citation (society, year, title, section, page, url). Optional filters: system, "
        "body_region, modality."
    ),
    version="1.0.0",
    kind="retrieval",
)
async def guideline_search(inp: GuidelineSearchInput, ctx: ToolContext) -> GuidelineSearchOutput:
    if ctx.pool is None or ctx.gateway is None:
        raise RadassistError("guideline_search needs the database pool and the model gateway (ToolContext)")
    embedder = ctx.cache.get(_EMBEDDER_KEY)
    if embedder is None:
        embedder = ctx.cache[_EMBEDDER_KEY] = Embedder(ctx.gateway)
    try:
        hits = await search(
            ctx.pool,
            embedder,
            inp.query,
            k=inp.k,
            system=inp.system,
            body_region=inp.body_region,
            modality=inp.modality,
        )
    except UnknownFilterValue as exc:
        allowed = ", ".join(repr(v) for v in exc.allowed) or "(none)"
        raise ToolInputError(
            "guideline_search", [f"{exc.field}: unknown value {exc.value!r}; allowed: {allowed}"]
        ) from exc
    return GuidelineSearchOutput(query=inp.query, hits=hits)
