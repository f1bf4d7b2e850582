"""The audit trail: an append-only, hash-chained table of who did what, when, from where, with which result.

Recorded (action names): `login` (success and failure), `logout`, `thread.read`, `thread.list`,
`thread.delete`, `feedback.export`, `audit.export`, `users.add`, `users.disable`, `users.passwd`,
`sessions.revoke`, `models.loaded`, `models.test`, `model.phi_guard` and `purge`. A record holds names,
ids, addresses and counts, never message content (`detail` accepts only short strings, integers,
booleans and lists or mappings of them, and callers pass counts).

Integrity: records are numbered 1, 2, 3... under a transaction-level advisory lock, and each record's
`hash` is the SHA-256 of its own fields and the previous record's hash. `verify` recomputes the chain,
so a changed record, a removed record or a reordered record is found. The database refuses UPDATE,
DELETE and TRUNCATE on the table (migrations/0008_audit_log.sql); only someone who can bypass triggers
(a PostgreSQL superuser) can change it, and `verify` then shows where. Removing the newest records
leaves a valid shorter chain: keep the last hash printed by `radassist audit verify` (or an export)
elsewhere to detect that too.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from common.files import private_output

log = logging.getLogger(__name__)
Result = Literal["success", "failure", "denied"]
GENESIS = "0" * 64  # the "previous hash" of record 1
_LOCK = 7_310_442_002  # advisory lock key: one writer at a time extends the chain
_MAX_TEXT = 200

_INSERT = (
    "INSERT INTO audit_log (seq, at, actor, client, action, target, result, detail, prev_hash, hash)"
    " VALUES (%(seq)s, %(at)s, %(actor)s, %(client)s, %(action)s, %(target)s, %(result)s, %(detail)s,"
    " %(prev_hash)s, %(hash)s)"
)
_LAST = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    client: str
    action: str
    target: str
    result: Result
    detail: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def digest(self) -> str:
        """SHA-256 over every field but `hash`, in a canonical JSON form."""
        payload = [
            self.seq,
            self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            self.actor,
            self.client,
            self.action,
            self.target,
            self.result,
            self.detail,
            self.prev_hash,
        ]
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.astimezone(UTC).isoformat(timespec="microseconds")}


def _checked_detail(value: Any, depth: int = 0) -> Any:
    """Counts, flags, names and ids only: no floats (not stable through jsonb), no long text, no nesting bombs."""
    if depth > 3:
        raise ValueError("audit detail: nested too deeply")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise ValueError("audit detail: strings are limited to names and ids (no message content)")
        return value
    if isinstance(value, list | tuple):
        return [_checked_detail(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _checked_detail(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"audit detail: unsupported value of type {type(value).__name__}")


def _next(last: tuple[int, str] | None, **fields: Any) -> AuditRecord:
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    record = AuditRecord(
        seq=seq,
        at=datetime.now(UTC),
        actor=str(fields["actor"])[:_MAX_TEXT],
        client=str(fields["client"])[:_MAX_TEXT],
        action=fields["action"],
        target=str(fields.get("target") or "")[:_MAX_TEXT],
        result=fields.get("result", "success"),
        detail=_checked_detail(dict(fields.get("detail") or {})),
        prev_hash=prev_hash,
    )
    return AuditRecord(**{**asdict(record), "hash": record.digest()})


def _params(record: AuditRecord) -> dict[str, Any]:
    return {**asdict(record), "detail": Jsonb(record.detail)}


async def record(
    pool: AsyncConnectionPool,
    *,
    actor: str,
    client: str,
    action: str,
    target: str = "",
    result: Result = "success",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record (the server's way)."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        cur = await conn.execute(_LAST)
        last = await cur.fetchone()
        entry = _next(
            last, actor=actor, client=client, action=action, target=target, result=result, detail=detail
        )
        await conn.execute(_INSERT, _params(entry))
    return entry


async def record_or_log(
    pool: AsyncConnectionPool,
    *,
    actor: str,
    client: str,
    action: str,
    target: str = "",
    result: Result = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """`record`, for callers whose own outcome stands whatever happens to the trail (a login, a reload, an API
    call): a failure to write is logged (the action and the error type, no details), never raised."""
    try:
        await record(
            pool, actor=actor, client=client, action=action, target=target, result=result, detail=detail
        )
    except Exception as exc:
        log.error("audit record %r not written: %s", action, type(exc).__name__)


def record_sync(
    conn: psycopg.Connection,
    *,
    actor: str,
    client: str,
    action: str,
    target: str = "",
    result: Result = "success",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record on a synchronous connection (the command line's way)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        last = conn.execute(_LAST).fetchone()
        entry = _next(
            last, actor=actor, client=client, action=action, target=target, result=result, detail=detail
        )
        conn.execute(_INSERT, _params(entry))
    return entry


def _rows(conn: psycopg.Connection, since: datetime | None = None) -> Iterator[AuditRecord]:
    with conn.cursor(name="audit_scan", row_factory=dict_row) as cur:  # server-side: any size
        cur.execute(
            "SELECT seq, at, actor, client, action, target, result, detail, prev_hash, hash FROM audit_log"
            " WHERE %(since)s::timestamptz IS NULL OR at >= %(since)s ORDER BY seq",
            {"since": since},
        )
        for row in cur:
            yield AuditRecord(**row)


@dataclass
class Verification:
    records: int
    last_seq: int
    last_hash: str
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(conn: psycopg.Connection, *, max_problems: int = 20) -> Verification:
    """Recompute the whole chain; list every record that was changed, removed or reordered."""
    problems: list[str] = []
    count, prev_seq, prev_hash = 0, 0, GENESIS
    with conn.transaction():
        for entry in _rows(conn):
            count += 1
            if entry.seq != prev_seq + 1:
                missing = (
                    f"{prev_seq + 1}" if entry.seq == prev_seq + 2 else f"{prev_seq + 1}-{entry.seq - 1}"
                )
                problems.append(f"record {missing} is missing (record {entry.seq} follows record {prev_seq})")
            elif entry.prev_hash != prev_hash:
                problems.append(f"record {entry.seq}: does not continue the chain from record {prev_seq}")
            if entry.digest() != entry.hash:
                problems.append(
                    f"record {entry.seq}: its content does not match its hash (changed after writing)"
                )
            prev_seq, prev_hash = entry.seq, entry.hash
            if len(problems) >= max_problems:
                break
    return Verification(records=count, last_seq=prev_seq, last_hash=prev_hash, problems=problems)


def export(conn: psycopg.Connection, out: Path, since: datetime | None = None) -> int:
    """Write the records since `since` as JSON lines (mode 0600, all or nothing); return how many."""
    count = 0
    with private_output(out) as file, conn.transaction():
        for entry in _rows(conn, since):
            file.write(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def cli_actor() -> str:
    """Who runs a command: the operating-system account (the database does not know it otherwise)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in the environment or the password database
        return f"cli:uid {os.getuid()}"


def record_local(
    url: str,
    *,
    action: str,
    target: str = "",
    result: Result = "success",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record for an administrative command run on this machine."""
    from agent.db import connect

    with connect(url) as conn:
        return record_sync(
            conn,
            actor=cli_actor(),
            client="local",
            action=action,
            target=target,
            result=result,
            detail=detail,
        )
