"""Nothing leaves the machine: the app starts and answers a message with every non-loopback connection refused."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from agent.ui.auth import add_user
from common.offline import OFFLINE_DEFAULTS
from tests.chat_client import ChatClient, login
from tests.server import running_server

GUARD_DIR = Path(__file__).parent / "netguard"

pytestmark = [pytest.mark.gguf, pytest.mark.postgres]
PASSWORD = "offline-Test-passw0rd!"


async def test_app_starts_and_answers_with_network_refused(tmp_path: Path, pg_url: str) -> None:
    name = f"offline-{uuid.uuid4().hex[:8]}"
    add_user(pg_url, name, PASSWORD)
    log = tmp_path / "netguard.log"
    log.touch()
    env: dict[str, str | None] = {
        "PYTHONPATH": os.pathsep.join([str(GUARD_DIR), os.environ.get("PYTHONPATH", "")]),
        "NETGUARD_LOG": str(log),
    }
    # The app must switch every library offline itself: do not let this test process do it for it.
    env.update({key: None for key in OFFLINE_DEFAULTS})
    with running_server(tmp_path, env=env) as server:
        client = ChatClient(server.url, cookie=await login(server.url, name, PASSWORD))
        await client.connect()
        try:
            answer = await client.ask("What is a pulmonary nodule?")
        finally:
            await client.close()
        output = server.output()
    assert answer.strip(), f"no answer streamed; server output:\n{output}"
    assert client.streamed_tokens(), "the answer was not streamed token by token"
    attempts = log.read_text()
    assert attempts == "", f"network attempts while starting and answering:\n{attempts}"
