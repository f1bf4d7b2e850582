"""The models configuration in force, swapped without a restart.

A running server holds one `Configuration`: the assistant built over one models.yaml (its gateway, the
experts bound to its aliases) with the file's sha256. A turn takes the configuration in force when it
starts (`LiveAssistant.turn()`) and keeps it to its end. `reload()` validates the file; when it is valid,
it builds a new assistant beside the old one (same database, same checkpointer: conversations keep their
memory) and swaps the reference, one assignment, so a turn sees the old configuration or the new one and
never a mix. Turns in flight finish on the old one; the local models only it used are freed when its last
turn ends. An invalid file is refused with the usual one-line error and changes nothing.

Two triggers, both on by default (`serve_reloads`): `radassist models reload`, which validates the file
and sends a PostgreSQL NOTIFY that every app process on the database hears, and a watch on the file's
directory (RADASSIST_MODELS_WATCH=false turns it off). Every process keeps a row in `app_instances` with
the hash it serves (or the error that kept its old configuration), which the command waits for and admins
see in the chat UI. Every reload, refused or done, is audited (`models.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.assistant import Assistant, assemble
from agent.gateway import Gateway, load_models_config
from agent.runtime import Runtime
from agent.security import audit
from common.errors import RadassistError

log = logging.getLogger(__name__)

CHANNEL = "radassist_models"
HEARTBEAT_SECONDS = 15
ALIVE_SECONDS = 60  # an instance not seen for this long is gone (killed without removing its row)


@dataclass(frozen=True)
class Configuration:
    """One models configuration and the assistant built over it; never changed once built."""

    assistant: Assistant
    runtime: Runtime
    sha256: str
    loaded_at: datetime

    @property
    def source(self) -> Path:
        return self.runtime.settings.models_file


@dataclass(frozen=True)
class Reloaded:
    """What a reload did: swapped (`changed`), found nothing new, or refused the file (`error`)."""

    sha256: str | None
    changed: bool = False
    error: str | None = None


class LiveAssistant:
    """Hands each turn the configuration in force; `reload()` swaps in a new one atomically."""

    def __init__(self, runtime: Runtime, assistant: Assistant) -> None:
        config = runtime.gateway.config
        self._current = Configuration(assistant, runtime, config.sha256 or "", datetime.now(UTC))
        self._checkpointer = assistant.graph.checkpointer
        self._busy: dict[int, int] = {}  # id(configuration) -> turns running on it
        self._retired: list[Configuration] = []
        self._reloading = asyncio.Lock()
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    @property
    def current(self) -> Configuration:
        return self._current

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[Configuration]:
        """The configuration for one turn: the one in force now, whatever a reload does meanwhile."""
        config = self._current
        self._busy[id(config)] = self._busy.get(id(config), 0) + 1
        try:
            yield config
        finally:
            self._busy[id(config)] -= 1
            if not self._busy[id(config)]:
                del self._busy[id(config)]
                if config in self._retired:
                    await self._release_idle()

    async def reload(self, *, trigger: str, client: str = "local") -> Reloaded:
        """Validate models.yaml and swap it in if it changed and is valid; audit the outcome."""
        async with self._reloading:
            old = self._current
            path = old.runtime.settings.models_file
            try:
                config = await asyncio.to_thread(
                    load_models_config, path, model_dir=old.runtime.settings.model_dir
                )
            except RadassistError as exc:
                return await self._refused(str(exc), _file_sha256(path), trigger, client)
            if config.sha256 == old.sha256:
                return Reloaded(config.sha256)
            previous = old.runtime.gateway.loaded_provider()
            gateway = Gateway(config, model_dir=old.runtime.settings.model_dir, llamacpp=previous)
            runtime = dataclasses.replace(old.runtime, gateway=gateway)
            try:
                assistant = await assemble(runtime, self._checkpointer)  # experts must name defined aliases
                if "default" in config.aliases():
                    await asyncio.to_thread(
                        gateway.warm, "default"
                    )  # the first turn does not wait for a load
            except RadassistError as exc:
                return await self._refused(str(exc), config.sha256, trigger, client)
            self._current = Configuration(assistant, runtime, config.sha256 or "", datetime.now(UTC))
            self._retired.append(old)
            await self._release_idle()
            log.warning("models configuration %s now serves (was %s)", config.sha256, old.sha256)
            await self._audit(trigger, client, "success", {"sha256": config.sha256, "previous": old.sha256})
            return Reloaded(config.sha256, changed=True)

    async def _refused(self, error: str, sha256: str | None, trigger: str, client: str) -> Reloaded:
        log.error("models reload refused: %s", error)
        await self._audit(trigger, client, "failure", {"sha256": sha256, "error": error[:200]})
        return Reloaded(sha256, error=error)

    async def _audit(self, trigger: str, client: str, result: audit.Result, detail: dict[str, Any]) -> None:
        config = self._current
        await audit.record_or_log(  # the reload's outcome stands whatever happens to the record
            config.runtime.pool,
            actor="system",
            client=client,
            action="models.reload",
            target=str(config.source),
            result=result,
            detail={**detail, "trigger": trigger, "instance": self.instance},
        )

    async def _release_idle(self) -> None:
        """Forget retired configurations without turns; free local models no remaining one uses."""
        self._retired = [c for c in self._retired if id(c) in self._busy]
        provider = self._current.runtime.gateway.loaded_provider()
        if provider is None:
            return
        keep = set().union(*(c.runtime.gateway.llamacpp_keys() for c in [self._current, *self._retired]))
        if freed := await asyncio.to_thread(provider.keep_only, keep):
            log.info("freed %d local model(s) the new configuration does not use", freed)


def _file_sha256(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# -- triggers and the instance row ---------------------------------------------------------------------


async def _record_instance(live: LiveAssistant, outcome: Reloaded | None = None) -> None:
    config = live.current
    async with config.runtime.pool.connection() as conn:
        if outcome is not None and outcome.error is not None:
            await conn.execute(
                "UPDATE app_instances SET seen_at = now(), reload_error = %s, reload_error_sha256 = %s,"
                " reload_error_at = now() WHERE id = %s",
                (outcome.error[:500], outcome.sha256, live.instance),
            )
            return
        await conn.execute(
            "INSERT INTO app_instances (id, host, pid, models_file, models_sha256, models_loaded_at)"
            " VALUES (%(id)s, %(host)s, %(pid)s, %(file)s, %(sha)s, %(at)s)"
            " ON CONFLICT (id) DO UPDATE SET seen_at = now(), models_file = EXCLUDED.models_file,"
            " models_sha256 = EXCLUDED.models_sha256, models_loaded_at = EXCLUDED.models_loaded_at,"
            " reload_error = CASE WHEN app_instances.reload_error_sha256 = EXCLUDED.models_sha256"
            "   THEN NULL ELSE app_instances.reload_error END",
            {
                "id": live.instance,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "file": str(config.source),
                "sha": config.sha256,
                "at": config.loaded_at,
            },
        )


async def _reload(live: LiveAssistant, trigger: str) -> None:
    outcome = await live.reload(trigger=trigger)
    await _record_instance(live, outcome)


async def _listen(live: LiveAssistant) -> None:
    """Reload on every NOTIFY on CHANNEL; reconnect after a database outage."""
    import psycopg

    reconnecting = False
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(live.current.runtime.database_url, autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if reconnecting:  # a reload may have been requested while we were not listening
                    await _reload(live, "notify")
                async for _ in conn.notifies():
                    await _reload(live, "notify")
        except (psycopg.Error, OSError) as exc:
            log.error("models reload listener: %s; retrying in 5 s", type(exc).__name__)
            reconnecting = True
            await asyncio.sleep(5)


async def _heartbeat(live: LiveAssistant) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        with contextlib.suppress(Exception):  # a database outage is reported by the requests themselves
            await _record_instance(live)


async def _watch(live: LiveAssistant) -> None:
    """Reload when models.yaml changes (its directory is watched: editors replace files by renaming)."""
    from watchfiles import awatch

    path = live.current.source.resolve()
    async for _ in awatch(path.parent, watch_filter=lambda _change, changed: Path(changed).name == path.name):
        await _reload(live, "file change")


@asynccontextmanager
async def serve_reloads(live: LiveAssistant, *, watch: bool) -> AsyncIterator[None]:
    """Run the reload triggers and the instance row for as long as the server runs."""
    await _record_instance(live)
    tasks = [asyncio.create_task(_listen(live)), asyncio.create_task(_heartbeat(live))]
    if watch:
        tasks.append(asyncio.create_task(_watch(live)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with live.current.runtime.pool.connection() as conn:
                await conn.execute("DELETE FROM app_instances WHERE id = %s", (live.instance,))


# -- what admins see ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    id: str
    host: str
    pid: int
    models_sha256: str
    models_loaded_at: datetime
    reload_error: str | None
    reload_error_sha256: str | None
    reload_error_at: datetime | None
    seen_at: datetime


async def instances(pool: Any) -> list[Instance]:
    """The app processes seen on this database in the last minute, with the configuration each serves."""
    from psycopg.rows import dict_row

    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, host, pid, models_sha256, models_loaded_at, reload_error, reload_error_sha256,"
            " reload_error_at, seen_at FROM app_instances"
            " WHERE seen_at > now() - make_interval(secs => %s) ORDER BY host, pid",
            (ALIVE_SECONDS,),
        )
        return [Instance(**row) for row in await cur.fetchall()]


async def describe(live: LiveAssistant) -> str:
    """Markdown for admins: the configuration this process serves, its aliases, and every process's hash."""
    config = live.current
    models = config.runtime.gateway.config
    lines = [
        f"**File** `{config.source}`",
        f"**sha256** `{config.sha256}`",
        f"**Loaded** {config.loaded_at:%Y-%m-%d %H:%M:%S} UTC on {live.instance}",
        "",
        "| Alias | Model | Where | Notes |",
        "|---|---|---|---|",
    ]
    for entry in models.model_list:
        params = entry.litellm_params
        notes = []
        if entry.is_demo:
            notes.append("demo")
        if lora := (params.model_extra or {}).get("lora_path"):
            notes.append(f"LoRA {lora} ×{(params.model_extra or {}).get('lora_scale', 1.0)}")
        if params.api_base:
            notes.append(params.api_base)
        where = "local" if entry.is_local else "REMOTE"
        lines.append(f"| {entry.model_name} | `{params.model}` | {where} | {', '.join(notes)} |")
    try:
        running = await instances(config.runtime.pool)
    except Exception:  # the page still shows this process's configuration
        running = []
    if running:
        lines += [
            "",
            "**App processes on this database**",
            "",
            "| Process | sha256 | Since | Last refused reload |",
        ]
        lines.append("|---|---|---|---|")
        for i in running:
            refused = (
                f"{i.reload_error_sha256 and i.reload_error_sha256[:12]}: {i.reload_error}"
                if i.reload_error
                else ""
            )
            lines.append(
                f"| {i.id} | `{i.models_sha256[:12]}` | {i.models_loaded_at:%Y-%m-%d %H:%M} | {refused} |"
            )
    return "\n".join(lines)


def notify_payload(sha256: str, actor: str) -> str:
    return json.dumps({"sha256": sha256, "actor": actor})
