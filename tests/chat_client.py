"""A minimal Chainlit Socket.IO client: connect, send one message, collect the streamed reply.

It speaks the same protocol as Chainlit's web client, so tests exercise the real server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import socketio


async def login(base_url: str, identifier: str, password: str) -> str:
    """Log in through Chainlit's password form (POST /login); return the `Cookie` header value to send."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post("/login", data={"username": identifier, "password": password})
    response.raise_for_status()
    return "; ".join(f"{name}={value}" for name, value in response.cookies.items())


class ChatClient:
    """One chat session against a running Chainlit server."""

    def __init__(
        self,
        base_url: str,
        *,
        cookie: str | None = None,
        thread_id: str | None = None,
        origin: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.cookie = cookie
        self.origin = origin  # the Origin header a browser would send (none by default, like a script)
        self.thread_id = thread_id or str(uuid.uuid4())
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._task_end = asyncio.Event()
        for name in (
            "stream_start",
            "stream_token",
            "new_message",
            "update_message",
            "task_start",
            "task_end",
            "toast",
        ):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def record(data: Any = None) -> None:
            self.events.append((name, data))
            if name == "task_end":
                self._task_end.set()

        return record

    async def connect(self) -> None:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if self.origin:
            headers["Origin"] = self.origin
        auth = {"clientType": "webapp", "sessionId": self.session_id, "threadId": self.thread_id}
        await self.sio.connect(
            self.base_url, socketio_path="/ws/socket.io", transports=["websocket"], auth=auth, headers=headers
        )
        await self.sio.emit("connection_successful")

    async def send(self, text: str, *, message_id: str | None = None) -> str:
        """Send a user message without waiting for anything; return its id."""
        self.events.clear()
        self._task_end.clear()
        message = {
            "id": message_id or str(uuid.uuid4()),
            "threadId": self.thread_id,
            "name": "User",
            "type": "user_message",
            "output": text,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        await self.sio.emit("client_message", {"message": message, "fileReferences": []})
        return str(message["id"])

    async def ask(self, text: str, *, timeout: float = 120, message_id: str | None = None) -> str:
        """Send a user message and return the assistant's final text once the task ends."""
        await self.send(text, message_id=message_id)
        await asyncio.wait_for(self._wait_for_answer(), timeout)
        return self.answer()

    async def _wait_for_answer(self) -> None:
        """Wait for the end of the task that sent a final assistant or error message (other tasks end too)."""
        while True:
            await self._task_end.wait()
            self._task_end.clear()
            if any(
                name in ("new_message", "update_message")
                and d
                and d.get("type") in ("assistant_message",)
                and d.get("output")
                for name, d in self.events
            ):
                return

    def answer(self) -> str:
        """The last assistant message's content, as the browser would show it."""
        messages = [d for n, d in self.events if n in ("new_message", "update_message") and d]
        assistant = [m for m in messages if m.get("type") == "assistant_message"]
        return (assistant or messages)[-1].get("output", "") if (assistant or messages) else ""

    def last_message(self, message_type: str = "assistant_message") -> dict[str, Any] | None:
        """The last message of that type as the server sent it (its id is the persisted step id)."""
        messages = [d for n, d in self.events if n in ("new_message", "update_message") and d]
        matching = [m for m in messages if m.get("type") == message_type]
        return matching[-1] if matching else None

    def streamed_tokens(self) -> list[str]:
        return [d["token"] for n, d in self.events if n == "stream_token"]

    async def close(self) -> None:
        await self.sio.disconnect()
        http = getattr(self.sio.eio, "http", None)  # left open when the server refused the connection
        if http is not None and not http.closed:
            await http.close()
