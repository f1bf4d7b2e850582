"""Chainlit app: a chat that streams the default model's answer.

Started by `radassist serve`, which has already started the database and applied migrations.
"""

from __future__ import annotations

import chainlit as cl

import agent.ui.security  # noqa: F401  (login, persistence, isolation)
from agent.runtime import Runtime, open_runtime

_state: dict[str, object] = {}


@cl.on_app_startup
async def startup() -> None:
    manager = open_runtime()
    runtime = await manager.__aenter__()
    runtime.gateway.warm("default")
    _state.update(manager=manager, runtime=runtime)


@cl.on_app_shutdown
async def shutdown() -> None:
    manager = _state.pop("manager", None)
    if manager is not None:
        await manager.__aexit__(None, None, None)  # type: ignore[attr-defined]


@cl.on_message
async def on_message(message: cl.Message) -> None:
    runtime = _state["runtime"]
    assert isinstance(runtime, Runtime)
    answer = cl.Message(content="")
    async for token in runtime.gateway.astream("default", [{"role": "user", "content": message.content}]):
        await answer.stream_token(token)
    await answer.send()
