"""`guideline_search`: cited guideline passages from the knowledge base, or none when nothing answers."""

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
    """The passages that answer, best first, each with its citation and quote; or none, and why."""

    query: str
    hits: list[GuidelineHit]
    below_floor: bool = Field(
        default=False,
        description="passages were found but none is relevant enough: the library cannot answer this question",
    )
    best_score: float | None = Field(
        default=None, description="relevance of the best passage found, kept or not (None: nothing found)"
    )
    floor: float = Field(description="the relevance a passage needs to be returned")
    note: str | None = Field(default=None, description="why there are no hits, in words")


@tool(
    name="guideline_search",
    description=(
        "Search the guideline knowledge base for passages answering a radiology question; every hit "
        "carries its citation (society, year, title, section, page, url) and a quote at sentence "
        "boundaries. Returns no hits when no passage is relevant enough (below_floor). Optional filters: "
        "system, body_region, modality."
    ),
    version="2.0.0",
    kind="retrieval",
)
async def guideline_search(inp: GuidelineSearchInput, ctx: ToolContext) -> GuidelineSearchOutput:
    if ctx.pool is None or ctx.gateway is None:
        raise RadassistError("guideline_search needs the database pool and the model gateway (ToolContext)")
    embedder = ctx.cache.get(_EMBEDDER_KEY)
    if embedder is None:
        embedder = ctx.cache[_EMBEDDER_KEY] = Embedder(ctx.gateway)
    try:
        result = await search(
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
    note = None
    if result.below_floor:
        note = (
            f"no passage is relevant enough to answer (best relevance {result.best_score:.2f}, "
            f"floor {result.floor:.2f}): the guideline library does not cover this question"
        )
    elif result.best_score is None:
        note = "no passage found: the knowledge base is empty or no passage matches the filters"
    return GuidelineSearchOutput(
        query=inp.query,
        hits=result.hits,
        below_floor=result.below_floor,
        best_score=result.best_score,
        floor=result.floor,
        note=note,
    )
