"""Clean edges (issue 10): migrations run once per process, and the chat history uses the runtime's pool."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent import runtime as runtime_module
from agent.settings import Settings


def test_migrations_run_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`serve` prepares the database, then its web server's start-up opens the runtime in the same process."""
    calls: list[str] = []
    monkeypatch.setattr(runtime_module, "database_url", lambda settings: "postgresql:///once-test")
    monkeypatch.setattr(runtime_module, "migrate", lambda url: calls.append(url) or [])
    settings = Settings(home=tmp_path)
    assert runtime_module.prepare_database(settings) == runtime_module.prepare_database(settings)
    assert calls == ["postgresql:///once-test"]


async def test_the_chat_history_uses_the_runtimes_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.ui import app, security

    pool = SimpleNamespace(name="the runtime's pool")
    config = SimpleNamespace(
        source=None,
        sha256=None,
        aliases=lambda: [],
        leaves_machine=lambda a: False,
        allows_phi=lambda a: True,
    )
    fake_runtime = SimpleNamespace(
        pool=pool,
        gateway=SimpleNamespace(warm=lambda alias: None, config=config),
        settings=SimpleNamespace(models_watch=False),
    )

    @asynccontextmanager
    async def opened(value: Any, *args: Any) -> Any:
        yield value

    monkeypatch.setattr(app, "open_runtime", lambda: opened(fake_runtime))
    assistant = SimpleNamespace(context=SimpleNamespace(name="the assistant's context"))
    monkeypatch.setattr(app, "open_assistant", lambda runtime: opened(assistant, runtime))
    prepared: list[tuple[Any, Any]] = []  # the drafting experts' prompts, prepared at start-up
    monkeypatch.setattr(
        app, "prepare_drafting_experts", lambda gateway, context: prepared.append((gateway, context))
    )
    # the reload triggers and the API need a real database; this test is about the chat history's pool
    monkeypatch.setattr(app, "LiveAssistant", lambda runtime, assistant: SimpleNamespace())
    monkeypatch.setattr(app, "serve_reloads", lambda live, watch: opened(None))
    monkeypatch.setattr(app.api, "serve", lambda live, public: None)
    recorded: list[str] = []

    async def record(action: str, **kwargs: Any) -> None:
        recorded.append(action)

    monkeypatch.setattr(security, "record", record)
    monkeypatch.setattr(security._layer, "_pool", None)
    monkeypatch.setattr(security._layer, "_owns_pool", True)
    await app.startup()
    try:
        assert await security._layer.pool() is pool, "the data layer opened a pool of its own"
        assert recorded == ["models.loaded"]
        assert prepared == [(fake_runtime.gateway, assistant.context)]
    finally:
        await app._state.pop("stack").aclose()
        app._state.clear()
