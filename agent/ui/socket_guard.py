"""Every Socket.IO event passes here before Chainlit's handler runs.

- The handshake (`connect`) is refused from an origin other than the public one, and without a login
  token whose server-side session is usable (agent/security/sessions.py).
- Every later event from the client counts as activity on that session and is refused, and the socket
  closed, once the session has ended (logout, password change, disabled account, revocation, idle
  timeout, lifetime).
- Events for features that are off in .chainlit/config.toml are refused (`edit_message` would rewrite
  a stored question; audio and favourites are off too), and so is any event Chainlit does not define.
- A chat message longer than RADASSIST_MAX_MESSAGE_CHARS is refused before Chainlit stores anything.
- A background check closes open sockets whose session ended, every `SWEEP_SECONDS`; logout closes
  the user's sockets at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from chainlit.config import config
from chainlit.session import WebsocketSession
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from agent.security.origins import PublicAddress
from agent.security.sessions import SessionPolicy, live_sessions, use_session

log = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0
UNAVAILABLE = "The database is unavailable right now. Nothing was lost; please try again in a moment."
# Chainlit's client events, and the configuration switch each needs (None: always allowed).
EVENTS: dict[str, Callable[[], bool] | None] = {
    "connection_successful": None,
    "clear_session": None,
    "stop": None,
    "client_message": None,
    "chat_settings_change": None,
    "chat_settings_edit": None,
    "window_message": None,
    "edit_message": lambda: bool(config.features.edit_message),
    "message_favorite": lambda: bool(config.features.favorites),
    "fetch_favorites": lambda: bool(config.features.favorites),
    "audio_start": lambda: bool(config.features.audio and config.features.audio.enabled),
    "audio_chunk": lambda: bool(config.features.audio and config.features.audio.enabled),
    "audio_end": lambda: bool(config.features.audio and config.features.audio.enabled),
}

Handler = Callable[..., Awaitable[Any]]


class SocketGuard:
    """Wraps the handlers of a python-socketio server (Chainlit's `sio`); see the module docstring."""

    def __init__(
        self,
        sio: Any,
        *,
        public: PublicAddress,
        policy: SessionPolicy,
        pool: Callable[[], Awaitable[AsyncConnectionPool]],
        session_of: Callable[[dict[str, Any]], str | None],
        max_message_chars: int,
    ) -> None:
        self.sio = sio
        self.public = public
        self.policy = policy
        self.pool = pool
        self.session_of = session_of  # the login session id carried by a handshake's cookie, if any
        self.max_message_chars = max_message_chars
        self.sockets: dict[str, str] = {}  # socket id -> login session id
        self._sweeper: asyncio.Task[None] | None = None

    def install(self) -> None:
        handlers: dict[str, Handler] = self.sio.handlers.setdefault("/", {})
        if getattr(handlers.get("connect"), "__radassist_guard__", False):
            return
        for event, handler in list(handlers.items()):
            if event == "connect":
                wrapped = self._connect(handler)
            elif event == "disconnect":
                wrapped = self._disconnect(handler)
            elif event in EVENTS:
                wrapped = self._event(event, handler)
            else:
                wrapped = self._unknown(event)
            wrapped.__radassist_guard__ = True  # type: ignore[attr-defined]
            handlers[event] = wrapped

    # -- the wrappers -------------------------------------------------------------------------------

    def _connect(self, handler: Handler) -> Handler:
        async def connect(sid: str, environ: dict[str, Any], *rest: Any) -> Any:
            origin = environ.get("HTTP_ORIGIN")
            if not self.public.allows(origin):
                log.warning("socket refused: origin not allowed")
                raise ConnectionRefusedError("origin not allowed")
            session_id = self.session_of(environ)
            if session_id is None or await self._check(session_id) is None:
                raise ConnectionRefusedError("session ended")
            accepted = await handler(sid, environ, *rest)
            if accepted is not False:
                self.sockets[sid] = session_id
                self._start_sweeper()
            return accepted

        return connect

    def _disconnect(self, handler: Handler) -> Handler:
        takes = len(inspect.signature(handler).parameters)

        async def disconnect(sid: str, *rest: Any) -> Any:
            self.sockets.pop(sid, None)
            return await handler(*(sid, *rest)[:takes])

        return disconnect

    def _event(self, event: str, handler: Handler) -> Handler:
        switch = EVENTS[event]

        async def guarded(sid: str, *args: Any) -> Any:
            session_id = self.sockets.get(sid)
            try:
                live = session_id is not None and await self._check(session_id) is not None
            except ConnectionRefusedError:  # the session cannot be checked: refuse, and say why
                await self._say(sid, UNAVAILABLE)
                return None
            if not live:
                log.warning("socket event refused: session ended")
                await self.kick(sid)
                return None
            if (
                switch is not None and not switch()
            ):  # the UI does not offer it (it asks for favourites anyway)
                log.info("socket event %r refused: the feature is off", event)
                return None
            if event == "client_message" and (refusal := self._too_long(args)):
                await self._toast(sid, refusal)
                await self.sio.emit("task_end", {}, to=sid)
                return None
            return await handler(sid, *args)

        return guarded

    def _unknown(self, event: str) -> Handler:
        async def refused(sid: str, *args: Any) -> None:
            log.warning("socket event %r refused: not a chat event", event)

        return refused

    # -- helpers ------------------------------------------------------------------------------------

    async def _check(self, session_id: str) -> Any:
        """The live session (activity recorded), None if it ended; ConnectionRefusedError without a database."""
        try:
            return await use_session(await self.pool(), session_id, self.policy)
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            log.error("socket session check failed: %s", type(exc).__name__)
            raise ConnectionRefusedError("the database is unavailable") from None

    async def _say(self, sid: str, text: str) -> None:
        """An error message in the chat that is not stored (the database may be the problem)."""
        session = WebsocketSession.get(sid)
        message = {
            "id": str(uuid.uuid4()),
            "threadId": session.thread_id if session else "",
            "name": "Error",
            "type": "assistant_message",
            "output": text,
            "isError": True,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        await self.sio.emit("new_message", message, to=sid)
        await self.sio.emit("task_end", {}, to=sid)

    def _too_long(self, args: tuple[Any, ...]) -> str | None:
        payload = args[0] if args else None
        message = payload.get("message") if isinstance(payload, dict) else None
        text = message.get("output") if isinstance(message, dict) else None
        if isinstance(text, str) and len(text) > self.max_message_chars:
            return (
                f"Message not sent: it has {len(text):,} characters and the limit is "
                f"{self.max_message_chars:,}. Shorten it (paste only the relevant findings) and send it again."
            )
        return None

    async def _toast(self, sid: str, message: str) -> None:
        await self.sio.emit("toast", {"message": message, "type": "error"}, to=sid)

    async def kick(self, sid: str) -> None:
        """Close a socket for good: its Chainlit session is discarded, not kept for a reconnect."""
        self.sockets.pop(sid, None)
        if session := WebsocketSession.get(sid):
            session.to_clear = True
        await self.sio.disconnect(sid)

    async def end(self, session_id: str) -> None:
        """Close every socket of a login session that just ended (logout)."""
        for sid in [s for s, owner in self.sockets.items() if owner == session_id]:
            await self.kick(sid)

    def _start_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception as exc:  # the database may be down for a moment; the next round retries
                log.warning("socket session check failed: %s", type(exc).__name__)

    async def sweep(self) -> None:
        """Close the sockets whose login session has ended (without counting as activity)."""
        if not self.sockets:
            return
        live = await live_sessions(await self.pool(), list(set(self.sockets.values())), self.policy)
        for sid, session_id in list(self.sockets.items()):
            if session_id not in live:
                log.info("closing a socket: its login session ended")
                await self.kick(sid)
