"""Scale-out on real parts: two app processes on one embedded PostgreSQL, two llama.cpp servers behind one alias.

The model servers are `python -m llama_cpp.server` (llama-cpp-python's server extra) serving the bundled
GGUF; every chat alias in models.yaml has one deployment on each, and litellm's Router spreads calls
over them and retries a call on the other when one is down (its own `num_retries`). The app processes are
real `radassist serve` subprocesses on the session's database, reached through the OpenAI-compatible
API. Each test names what the issue asks: calls spread over both servers, a conversation started on one
app process continues with its memory on the other, and killing a model server mid-run loses no turn.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import psycopg
import pytest

from tests.api.helpers import (
    FIRST,
    OVER_EIGHT,
    SIX_TO_EIGHT,
    UNDER_SIX,
    ModelServer,
    model_server,
    server_models,
)
from tests.server import Server, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.gguf, pytest.mark.model_server]

SIZES = {"4 mm": UNDER_SIX, "7 mm": SIX_TO_EIGHT, "12 mm": OVER_EIGHT}


@dataclass
class Cluster:
    apps: list[Server]
    models: list[ModelServer]
    db_url: str
    key: str

    def client(self, app: int) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.apps[app].url}/v1", api_key=self.key, max_retries=0, timeout=600
        )

    def ask(self, app: int, messages: list[dict[str, str]], **headers: str) -> Any:
        return self.client(app).chat.completions.create(
            model="radassist-chest", messages=messages, extra_headers=headers or None
        )

    def drafted_by(self, response: Any) -> str | None:
        """The model server that streamed the turn's draft, as its stored provenance records it."""
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(
                "SELECT provenance->'model_calls' FROM answer_provenance WHERE id = %s",
                (response.model_extra["radassist"]["provenance_id"],),
            ).fetchone()
        assert row is not None, "the answer has no stored provenance"
        drafts = [c for c in row[0] if c["kind"] == "stream" and c["tokens"] > 0]
        return drafts[0].get("api_base") if drafts else None


@pytest.fixture(scope="module")
def cluster(
    api_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    test_home: Path,
    account: Callable[..., str],
    api_key: Callable[..., str],
) -> Iterator[Cluster]:
    from agent.gateway.gguf import resolve_gguf

    directory = tmp_path_factory.mktemp("scale-out")
    gguf = resolve_gguf("bundled/gemma3-270m", base=None, model_dir=test_home / "models")
    with ExitStack() as stack:
        models = [stack.enter_context(model_server(gguf, directory)) for _ in range(2)]
        models_file = directory / "models.yaml"
        models_file.write_text(server_models(models))
        env = {
            "DATABASE_URL": api_db,
            "RADASSIST_HOME": str(test_home),
            "RADASSIST_MODELS_FILE": str(models_file),
            "RADASSIST_MODELS_WATCH": "false",
            "RADASSIST_API_REQUESTS_PER_MINUTE": "120",
            "CHAINLIT_AUTH_SECRET": None,
        }
        apps = [stack.enter_context(running_server(directory, env=env)) for _ in range(2)]
        yield Cluster(apps, models, api_db, api_key(account("scale.out")))


def question(size: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{size} solid nodule, low risk, what follow-up?"}]


def category(response: Any) -> str:
    findings = response.model_extra["radassist"]["findings"]
    return str(next(f for f in findings if f["tool"] == "fleischner")["output"]["category"])


def test_a_conversation_started_on_one_app_process_continues_on_the_other(cluster: Cluster) -> None:
    first = cluster.ask(0, [{"role": "user", "content": FIRST}])
    thread = first.model_extra["radassist"]["thread_id"]
    history = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": first.choices[0].message.content},
    ]
    # Derived from the conversation: B finds A's thread in the shared database and its memory in the checkpoint.
    follow = cluster.ask(1, [*history, {"role": "user", "content": "and if it were 10 mm?"}])
    assert follow.model_extra["radassist"]["thread_id"] == thread
    assert category(follow) == OVER_EIGHT, "'low risk' came from the memory written by the other process"
    # Named by the header: back on A, with only the new question.
    again = cluster.ask(
        0, [{"role": "user", "content": "and if it were 7 mm?"}], **{"X-Radassist-Thread": thread}
    )
    assert again.model_extra["radassist"]["thread_id"] == thread and category(again) == SIX_TO_EIGHT


def test_concurrent_conversations_spread_over_both_model_servers(cluster: Cluster) -> None:
    before = [m.chat_requests() for m in cluster.models]
    sizes = ["4 mm", "7 mm", "12 mm", "7 mm"]  # two at once on each app process
    with ThreadPoolExecutor(len(sizes)) as pool:
        responses = list(pool.map(lambda i: cluster.ask(i % 2, question(sizes[i])), range(len(sizes))))
    assert [category(r) for r in responses] == [SIZES[s] for s in sizes]
    drafted_by = [cluster.drafted_by(r) for r in responses]
    assert None not in drafted_by, "every turn had its draft from a model server"
    assert all(r.model_extra["radassist"]["model_errors"] == [] for r in responses)
    assert set(drafted_by) == {m.url for m in cluster.models}, drafted_by
    served = [m.chat_requests() - b for m, b in zip(cluster.models, before, strict=True)]
    assert all(n > 0 for n in served), f"chat requests per model server (their own logs): {served}"


def test_killing_a_model_server_mid_run_loses_no_turn(cluster: Cluster) -> None:
    sizes = ["4 mm", "7 mm", "12 mm", "7 mm"]
    victim = cluster.models[1]
    with ThreadPoolExecutor(len(sizes)) as pool:
        running = [pool.submit(cluster.ask, i % 2, question(sizes[i])) for i in range(len(sizes))]
        started = victim.chat_requests()
        deadline = time.monotonic() + 120
        while victim.chat_requests() == started and time.monotonic() < deadline:
            time.sleep(0.2)  # kill it once it has answered during this run: it is busy with more
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        during = [f.result() for f in running]
        after = [pool.submit(cluster.ask, i, question(s)) for i, s in enumerate(["12 mm", "4 mm"])]
        later = [f.result() for f in after]
    assert [category(r) for r in during] == [SIZES[s] for s in sizes], "every turn in flight was answered"
    for r in during:  # a draft streaming when its server died is cut off, and the answer says so
        assert cluster.drafted_by(r) or r.model_extra["radassist"]["model_errors"] == ["chest"]
    assert [category(r) for r in later] == [OVER_EIGHT, UNDER_SIX]
    survivor = cluster.models[0].url
    assert [cluster.drafted_by(r) for r in later] == [survivor] * len(later), "new turns go to the survivor"
    assert all(r.model_extra["radassist"]["model_errors"] == [] for r in later)
