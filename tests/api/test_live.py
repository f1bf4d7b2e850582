"""Models swapped without a restart (agent/live.py), in-process on the real runtime and database.

The chat aliases are bound to a stub model on loopback that can hold a turn in the middle of its draft,
so a reload can happen while a turn is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agent.assistant import TurnResult, open_assistant
from agent.live import LiveAssistant, describe, serve_reloads
from agent.runtime import open_runtime
from agent.settings import Settings
from tests.api.helpers import FIRST, stub_models
from tests.security.stub_model import SAFE_DRAFT, StubModel

pytestmark = [pytest.mark.postgres]


@dataclass
class Setup:
    live: LiveAssistant
    models: Path
    stub: StubModel
    hold: threading.Event  # cleared: drafts wait
    drafting: threading.Event  # set when a draft reached the model
    db_url: str

    async def turn(self, message: str = FIRST) -> TurnResult:
        async with self.live.turn() as config:
            return await config.assistant.ask(message)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


@dataclass
class Base:
    runtime: Any
    assistant: Any
    models: Path
    stub: StubModel
    hold: threading.Event
    drafting: threading.Event


@pytest.fixture(scope="module")
async def base(api_db: str, tmp_path_factory: pytest.TempPathFactory, test_home: Path) -> AsyncIterator[Base]:
    """One runtime and assistant for the module, on a stub model that drafts while `hold` is set."""
    hold, drafting = threading.Event(), threading.Event()

    def reply(messages: list[dict[str, Any]]) -> str:
        drafting.set()
        hold.wait(60)
        return SAFE_DRAFT

    with StubModel(reply) as stub:
        models = tmp_path_factory.mktemp("live") / "models.yaml"
        models.write_text(stub_models(stub))
        settings = Settings(database_url=api_db, home=test_home, models_file=models)
        async with open_runtime(settings) as runtime, open_assistant(runtime) as assistant:
            yield Base(runtime, assistant, models, stub, hold, drafting)


@pytest.fixture
def setup(base: Base, api_db: str) -> Setup:
    """A server's live configuration, starting from the module's models.yaml each time."""
    base.models.write_text(stub_models(base.stub))
    base.hold.set()
    base.drafting.clear()
    live = LiveAssistant(base.runtime, base.assistant)
    return Setup(live, base.models, base.stub, base.hold, base.drafting, api_db)


async def until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        done = check()
        if await done if isinstance(done, Awaitable) else done:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def test_a_turn_in_flight_finishes_on_the_old_configuration(setup: Setup) -> None:
    old = setup.live.current.sha256
    setup.hold.clear()
    in_flight = asyncio.create_task(setup.turn())
    await asyncio.to_thread(setup.drafting.wait, 30)  # the turn is in its draft, on the old configuration
    setup.models.write_text(stub_models(setup.stub, max_tokens=40))
    outcome = await setup.live.reload(trigger="test")
    assert outcome.changed and outcome.error is None
    assert setup.live.current.sha256 == outcome.sha256 != old
    setup.hold.set()
    finished = await in_flight
    assert finished.provenance["models_config_sha256"] == old
    assert finished.provenance["sampling"]["default"]["max_tokens"] == 48
    new = await setup.turn()
    assert new.provenance["models_config_sha256"] == outcome.sha256
    assert new.provenance["sampling"]["default"]["max_tokens"] == 40
    trail = setup.rows(
        "SELECT result, detail->>'sha256', detail->>'previous' FROM audit_log WHERE action = 'models.reload'"
    )
    assert ("success", outcome.sha256, old) in trail


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda text: text.replace("model_list:", "model_list: [", 1), "not valid YAML"),
        (lambda text: text.replace("model: openai/stub", "model: opnai/stub", 1), "unknown provider 'opnai'"),
        (
            lambda text: text.replace("model_name: embedder", "model_name: embeddings", 1),
            "'embedder' is not defined",
        ),
    ],
)
async def test_an_invalid_file_is_refused_and_the_old_configuration_stays(
    setup: Setup, break_it: Callable[[str], str], message: str
) -> None:
    before = setup.live.current
    setup.models.write_text(break_it(setup.models.read_text()))
    outcome = await setup.live.reload(trigger="test")
    assert outcome.error is not None and message in outcome.error and "\n" not in outcome.error
    assert str(setup.models) in outcome.error
    assert setup.live.current is before
    result = await setup.turn()
    assert result.provenance["models_config_sha256"] == before.sha256
    failures = setup.rows(
        "SELECT detail->>'error' FROM audit_log WHERE action = 'models.reload' AND result = 'failure'"
    )
    assert any(message in (f[0] or "") for f in failures)


async def test_the_command_reaches_a_listening_server_and_the_file_watch_reloads_too(
    setup: Setup, set_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    set_env(DATABASE_URL=setup.db_url, RADASSIST_MODELS_FILE=str(setup.models))
    instance = setup.live.instance
    async with serve_reloads(setup.live, watch=False):
        assert setup.rows("SELECT models_sha256 FROM app_instances WHERE id = %s", instance) == [
            (setup.live.current.sha256,)
        ]
        setup.models.write_text(stub_models(setup.stub, max_tokens=40))
        status = await asyncio.to_thread(main, ["models", "reload", "--wait", "30"])
        out = capsys.readouterr().out
        assert status == 0, out
        assert f"{instance}: serving {setup.live.current.sha256[:12]}" in out
        assert "max_tokens: 40" in setup.models.read_text() and setup.live.current.sha256 in (
            r[0] for r in setup.rows("SELECT models_sha256 FROM app_instances")
        )
    assert setup.rows("SELECT count(*) FROM app_instances WHERE id = %s", instance) == [(0,)]

    async with serve_reloads(setup.live, watch=True):
        before = setup.live.current.sha256
        for _ in range(15):  # written again until seen: the watch may still be starting
            setup.models.write_text(stub_models(setup.stub, max_tokens=32))
            with contextlib.suppress(AssertionError):
                await until(lambda: setup.live.current.sha256 != before, timeout=2)
                break
        swapped = setup.live.current.sha256

        def audited() -> list[tuple[Any, ...]]:
            return setup.rows(
                "SELECT detail->>'sha256', detail->>'trigger' FROM audit_log WHERE action = 'models.reload'"
            )

        await until(lambda: (swapped, "file change") in audited())  # written just after the swap
        assert (before, "notify") in audited()
        setup.models.write_text("model_list: [")
        await until(
            lambda: bool(
                setup.rows("SELECT 1 FROM app_instances WHERE id = %s AND reload_error IS NOT NULL", instance)
            )
        )
        assert setup.live.current.sha256 == swapped, "the broken file was refused"
        shown = await describe(setup.live)
        assert swapped in shown and "expert-chest" in shown and "not valid YAML" in shown


@pytest.mark.gguf
async def test_local_models_only_the_old_configuration_used_are_freed(
    api_db: str, tmp_path: Path, test_home: Path
) -> None:
    def yaml(n_ctx: int) -> str:
        return (
            "model_list:\n"
            "  - model_name: default\n"
            f"    litellm_params: {{model: llamacpp/bundled/gemma3-270m, chat_format: gemma, n_ctx: {n_ctx}}}\n"
            "    model_info: {demo: true}\n"
            "  - model_name: embedder\n"
            "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
            "    model_info: {mode: embedding}\n"
        )

    experts = tmp_path / "experts"
    experts.mkdir()
    general = (Path(__file__).resolve().parents[2] / "experts" / "general.md").read_text()
    (experts / "general.md").write_text(general.replace("model: expert-general", "model: default"))
    models = tmp_path / "models.yaml"
    models.write_text(yaml(256))
    settings = Settings(database_url=api_db, home=test_home, models_file=models, experts_dir=experts)
    async with open_runtime(settings) as runtime, open_assistant(runtime) as assistant:
        live = LiveAssistant(runtime, assistant)
        runtime.gateway.warm("default")
        provider = runtime.gateway.loaded_provider()
        assert provider is not None and [dict(k[1])["n_ctx"] for k in provider._models] == [256]
        async with live.turn():  # a turn in flight keeps the old model loaded
            models.write_text(yaml(320))
            assert (await live.reload(trigger="test")).changed
            assert live.current.runtime.gateway.loaded_provider() is provider, "one provider across reloads"
            assert sorted(dict(k[1])["n_ctx"] for k in provider._models) == [256, 320]
        assert [dict(k[1])["n_ctx"] for k in provider._models] == [320], "freed when its last turn ended"
