"""Everything a running radassist needs, opened once: settings, database, migrations, pool, models, tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from agent.db import database_url, migrate, open_pool
from agent.gateway import Gateway
from agent.progress import step
from agent.settings import Settings, get_settings
from tools.knowledge.corpus import ensure_corpus_loaded
from tools.registry import ToolContext, ToolRegistry, load_tools


@dataclass
class Runtime:
    """The process-wide resources, passed to the agent, the CLI commands and the chat UI."""

    settings: Settings
    database_url: str
    pool: AsyncConnectionPool
    gateway: Gateway
    registry: ToolRegistry
    tool_context: ToolContext = field(init=False)

    def __post_init__(self) -> None:
        self.tool_context = ToolContext(pool=self.pool, gateway=self.gateway, settings=self.settings)


_prepared: set[str] = set()


def prepare_database(settings: Settings) -> str:
    """Start or reach the database and apply pending migrations, once per process; return its URL.

    `radassist serve` prepares the database before starting the web server, whose start-up then opens
    the runtime in the same process: the second call finds the migrations already checked.
    """
    url = database_url(settings)
    if url not in _prepared:
        migrate(url)
        _prepared.add(url)
    return url


@asynccontextmanager
async def open_runtime(settings: Settings | None = None) -> AsyncIterator[Runtime]:
    """Open the database pool, the model gateway and the tool registry; close the pool on exit."""
    settings = settings or get_settings()
    gateway = Gateway.from_file(settings.models_file, model_dir=settings.model_dir)
    url = prepare_database(settings)
    registry = load_tools(settings.plugins)
    pool = open_pool(url)
    try:
        await pool.open(wait=True)  # inside the try: a cancelled start still closes the pool
        await ensure_corpus_loaded(pool, gateway, step)  # first start: load the shipped guideline summaries
        yield Runtime(settings=settings, database_url=url, pool=pool, gateway=gateway, registry=registry)
    finally:
        await pool.close()
