"""Per-user API keys: created by an admin on the command line, checked on every API call.

A key is `rak_` followed by 256 random bits (URL-safe base64). Only an HMAC-SHA256 of it is stored, keyed
with a secret kept in RADASSIST_HOME/api-key-secret (mode 0600), not in the database: a fast keyed hash
is enough for a high-entropy key (a slow password hash would only slow every request), and someone who
can write to the database but not read that file cannot mint a key of their own. The key is printed once,
at creation; `keys list` names keys by their first characters.

Every call checks the key and its account in one query: a revoked or expired key, and a disabled
account, are refused at once, whatever was true when the key was made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from agent.settings import Settings
from common.errors import RadassistError

KEY_PREFIX = "rak_"
SECRET_FILE = "api-key-secret"
_SHOWN = len(KEY_PREFIX) + 8  # `rak_` and 8 characters name a key without revealing it
DEFAULT_LIFETIME = timedelta(days=90)

Refusal = Literal["missing", "invalid", "revoked", "expired", "disabled"]


def key_secret(settings: Settings) -> bytes:
    """The HMAC key in RADASSIST_HOME/api-key-secret, created on first use (mode 0600).

    Every app process and the machine running `radassist keys create` need the same file (see the
    README, "More than one machine").
    """
    from agent.security.secrets import private_file

    made = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    raw = private_file(settings.home / SECRET_FILE, made).strip()
    try:
        secret = base64.b64decode(raw, validate=True)
    except ValueError:
        raise RadassistError(f"{settings.home / SECRET_FILE}: not a base64-encoded key") from None
    if len(secret) < 32:
        raise RadassistError(f"{settings.home / SECRET_FILE}: the key must be at least 32 bytes")
    return secret


def key_hash(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as `radassist keys list` shows it (never the key itself)."""

    id: str
    identifier: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    expired: bool
    disabled: bool

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expired:
            return "expired"
        return "account disabled" if self.disabled else "active"


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a presented key: the account it acts for, or why it is refused."""

    identifier: str | None = None
    role: str | None = None
    key_id: str | None = None
    prefix: str = ""
    refusal: Refusal | None = None
    expired_at: datetime | None = None


_SELECT = (
    "SELECT k.id, u.identifier, k.prefix, k.created_at, k.expires_at, k.last_used_at, k.revoked_at,"
    " COALESCE(k.expires_at <= now(), false) AS expired, u.disabled, u.role"
    " FROM api_keys k JOIN users u ON u.id = k.user_id"
)


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        identifier=row["identifier"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        expired=row["expired"],
        disabled=row["disabled"],
    )


def create_key(url: str, secret: bytes, identifier: str, lifetime: timedelta | None) -> tuple[ApiKey, str]:
    """Make a key for an enabled account; return it with the key text (shown once, never stored)."""
    from agent.db import connect

    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with connect(url, row_factory=dict_row) as conn:
        account = conn.execute(
            "SELECT id, disabled FROM users WHERE identifier = %s", (identifier,)
        ).fetchone()
        if account is None:
            raise RadassistError(f"no user named {identifier!r} (see `radassist users list`)")
        if account["disabled"]:
            raise RadassistError(f"user {identifier!r} is disabled: it cannot have a working API key")
        row = conn.execute(
            "INSERT INTO api_keys (user_id, prefix, hash, expires_at)"
            " VALUES (%s, %s, %s, now() + %s) RETURNING id",
            (account["id"], key[:_SHOWN], key_hash(secret, key), lifetime),
        ).fetchone()
        assert row is not None
        made = conn.execute(f"{_SELECT} WHERE k.id = %s", (row["id"],)).fetchone()
    assert made is not None
    return _key(made), key


def list_keys(url: str, identifier: str | None = None) -> list[ApiKey]:
    from agent.db import connect

    with connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            f"{_SELECT} WHERE %(who)s::text IS NULL OR u.identifier = %(who)s ORDER BY u.identifier, k.created_at",
            {"who": identifier},
        ).fetchall()
    return [_key(row) for row in rows]


def revoke_key(url: str, which: str) -> ApiKey:
    """Revoke a key named by its id or its shown prefix (`rak_` and 8 characters); refuse an ambiguous name."""
    from agent.db import connect

    which = which.strip()
    with connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(f"{_SELECT} WHERE k.id = %(w)s OR k.prefix = %(w)s", {"w": which}).fetchall()
        if not rows:
            raise RadassistError(f"no API key {which!r} (see `radassist keys list`)")
        if len(rows) > 1:
            raise RadassistError(
                f"{which!r} names {len(rows)} keys: revoke by id (see `radassist keys list`)"
            )
        conn.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = %s", (rows[0]["id"],)
        )
        row = conn.execute(f"{_SELECT} WHERE k.id = %s", (rows[0]["id"],)).fetchone()
    assert row is not None
    return _key(row)


def presented_key(authorization: str | None) -> str | None:
    """The key in an `Authorization: Bearer ...` header, or None."""
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


async def check_key(pool: AsyncConnectionPool, secret: bytes, key: str | None) -> KeyCheck:
    """Accept a key (recording its use) or say why not: missing, invalid, revoked, expired, disabled account."""
    if not key:
        return KeyCheck(refusal="missing")
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return KeyCheck(refusal="invalid")
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"{_SELECT} WHERE k.hash = %s", (key_hash(secret, key),))
        row = await cur.fetchone()
        if row is None:
            return KeyCheck(refusal="invalid")
        found = KeyCheck(
            identifier=row["identifier"], role=row["role"], key_id=row["id"], prefix=row["prefix"]
        )
        if row["revoked_at"] is not None:
            return KeyCheck(identifier=found.identifier, prefix=found.prefix, refusal="revoked")
        if row["expired"]:
            return KeyCheck(
                identifier=found.identifier,
                prefix=found.prefix,
                refusal="expired",
                expired_at=row["expires_at"],
            )
        if row["disabled"]:
            return KeyCheck(identifier=found.identifier, prefix=found.prefix, refusal="disabled")
        await cur.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (row["id"],))
    return found
