"""Accounts: password hashing, login checks, the `radassist users` helpers and the session-signing secret.

Passwords are hashed with the standard library's scrypt (no extra dependency), with OWASP's
Password Storage Cheat Sheet parameters (N=2^17, r=8, p=1) and a 16-byte random salt. The parameters
are stored in the hash string, so they can be raised later without invalidating existing accounts.
This module does not import Chainlit: `radassist serve` calls `ensure_auth_secret` before Chainlit
loads, and the CLI uses the account helpers without it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from agent.security.sessions import revoke_user_sessions
from agent.security.throttle import PASSWORD_HASHING, PasswordHasher
from agent.settings import Settings
from common.errors import RadassistError

Role = Literal["clinician", "admin"]
ROLES: tuple[Role, ...] = ("clinician", "admin")

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1  # OWASP Password Storage Cheat Sheet, scrypt minimum
_MAX_N = 2**20  # refuse hash strings that would make a login allocate more than 1 GiB
_SALT_BYTES, _KEY_BYTES = 16, 32
_HASH_FORMAT = re.compile(r"^scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # same rule as the users table's CHECK
MIN_PASSWORD_LENGTH = 12
# A few passwords every guessing list starts with; length alone lets most of them through.
_COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "passwordpassword",
        "password1234",
        "password12345",
        "qwertyuiopasdf",
        "qwertyuiop123",
        "iloveyou1234",
        "administrator",
        "letmeinletmein",
        "welcome12345",
        "changeme1234",
        "radiology1234",
        "radassist1234",
    }
)

SECRET_FILE = "chainlit-auth-secret"
_MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Account:
    """A user as stored in the users table (never with the password hash)."""

    id: str
    identifier: str
    role: Role
    disabled: bool
    created_at: datetime


# -- hashing ------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Return `scrypt$n=..,r=..,p=..$salt$key` for the password, with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, n, r, p)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * n * r * p + 2**20, dklen=_KEY_BYTES
    )


def verify_password(password: str, stored: str) -> bool:
    """True when the password matches the stored hash; comparison in constant time."""
    match = _HASH_FORMAT.match(stored or "")
    if not match:
        return False
    n, r, p = (int(g) for g in match.groups()[:3])
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    salt, expected = base64.b64decode(match.group(4)), base64.b64decode(match.group(5))
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


# Verified when the account does not exist, so that a wrong user name costs as much as a wrong password.
_DUMMY_HASH = "scrypt$n={},r={},p={}${}${}".format(
    SCRYPT_N, SCRYPT_R, SCRYPT_P, _b64(b"\0" * _SALT_BYTES), _b64(b"\0" * _KEY_BYTES)
)


def check_password_strength(password: str, identifier: str) -> None:
    """Raise RadassistError naming the rule a weak password breaks (NIST SP 800-63B: length, no lists)."""
    if not password or not password.strip():
        raise RadassistError("password: must not be empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RadassistError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters long")
    lowered = password.lower()
    if identifier.lower() in lowered:
        raise RadassistError("password: must not contain the user name")
    if len(set(password)) < 4 or lowered in _COMMON_PASSWORDS:
        raise RadassistError("password: too easy to guess; use a longer, less predictable passphrase")


def check_identifier(identifier: str) -> None:
    if not IDENTIFIER.match(identifier or ""):
        raise RadassistError(
            f"user name {identifier!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit"
        )


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise RadassistError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    return role


# -- login --------------------------------------------------------------------------------------------


async def authenticate(
    identifier: str, password: str, *, pool: AsyncConnectionPool, hasher: PasswordHasher = PASSWORD_HASHING
) -> Account | None:
    """Return the account when the identifier and password match an enabled account, else None.

    scrypt runs on the password-hashing pool (agent/security/throttle.py): a login never blocks the event
    loop for its ~0.3 s, and a flood of logins never takes the threads the model and the database use.
    Raises Throttled when that pool's queue is full.
    """
    row = None
    if IDENTIFIER.match(identifier or ""):
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, identifier, role, disabled, created_at, password_hash FROM users"
                " WHERE identifier = %s",
                (identifier,),
            )
            row = await cur.fetchone()
    stored = row["password_hash"] if row and row["password_hash"] else _DUMMY_HASH
    matches = await hasher.run(verify_password, password or "", stored)
    if row is None or row["disabled"] or not row["password_hash"] or not matches:
        return None
    return _account(row)


def _account(row: dict[str, Any]) -> Account:
    return Account(
        id=row["id"],
        identifier=row["identifier"],
        role=row["role"],
        disabled=row["disabled"],
        created_at=row["created_at"],
    )


# -- CLI helpers (synchronous) ------------------------------------------------------------------------


def add_user(url: str, identifier: str, password: str, role: str = "clinician") -> Account:
    """Create an account; refuse an invalid name, an unknown role, a weak password or an existing name."""
    check_identifier(identifier)
    role = check_role(role)
    check_password_strength(password, identifier)
    password_hash = hash_password(password)
    from agent.db import connect

    with connect(url, row_factory=dict_row) as conn:
        try:
            row = conn.execute(
                "INSERT INTO users (identifier, password_hash, role) VALUES (%s, %s, %s)"
                " RETURNING id, identifier, role, disabled, created_at",
                (identifier, password_hash, role),
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise RadassistError(f"user {identifier!r} already exists") from None
    assert row is not None
    return _account(row)


def list_users(url: str) -> list[Account]:
    from agent.db import connect

    with connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id, identifier, role, disabled, created_at FROM users ORDER BY identifier"
        ).fetchall()
    return [_account(row) for row in rows]


def disable_user(url: str, identifier: str) -> Account:
    """Disable an account: it can no longer log in, and its sessions end at once."""
    from agent.db import connect

    with connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "UPDATE users SET disabled = true WHERE identifier = %s"
            " RETURNING id, identifier, role, disabled, created_at",
            (identifier,),
        ).fetchone()
        revoke_user_sessions(conn, identifier, "account disabled")
    if row is None:
        raise RadassistError(f"no user named {identifier!r} (see `radassist users list`)")
    return _account(row)


def set_password(url: str, identifier: str, password: str) -> Account:
    """Replace an account's password (and re-enable it); its sessions end, so every device logs in again."""
    check_password_strength(password, identifier)
    password_hash = hash_password(password)
    from agent.db import connect

    with connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "UPDATE users SET password_hash = %s, disabled = false WHERE identifier = %s"
            " RETURNING id, identifier, role, disabled, created_at",
            (password_hash, identifier),
        ).fetchone()
        revoke_user_sessions(conn, identifier, "password changed")
    if row is None:
        raise RadassistError(f"no user named {identifier!r} (see `radassist users list`)")
    return _account(row)


INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"


def ensure_first_account(url: str, settings: Settings) -> str | None:
    """On a fresh install (no accounts), create 'admin' with a random password so `make run` needs no manual step.

    The password is written to RADASSIST_HOME/initial-admin-password (mode 0600) and returned, so the
    caller can print where to find it; None when accounts already exist.
    """
    if list_users(url):
        return None
    password = secrets.token_urlsafe(12)
    try:
        add_user(url, INITIAL_ADMIN, password, role="admin")
    except RadassistError:  # another process created it first
        return None
    path = settings.home / INITIAL_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(password + "\n")
    return str(path)


# -- session-signing secret ---------------------------------------------------------------------------


def ensure_auth_secret(settings: Settings) -> str:
    """Set CHAINLIT_AUTH_SECRET (which signs login cookies) and return it.

    Taken from the environment when set; otherwise read from RADASSIST_HOME/chainlit-auth-secret,
    which is created once, mode 0600, with 64 random characters. Keeping it in a file means logins
    survive a restart without anyone having to generate and paste a secret.
    """
    secret = os.environ.get("CHAINLIT_AUTH_SECRET", "")
    if not secret:
        secret = _secret_from_file(settings.home / SECRET_FILE)
        source = str(settings.home / SECRET_FILE)
    else:
        source = "CHAINLIT_AUTH_SECRET"
    if len(secret) < _MIN_SECRET_LENGTH:
        raise RadassistError(
            f"{source}: the login secret must be at least {_MIN_SECRET_LENGTH} characters "
            "(unset CHAINLIT_AUTH_SECRET to let radassist generate one)"
        )
    os.environ["CHAINLIT_AUTH_SECRET"] = secret
    return secret


def _secret_from_file(path: Path) -> str:
    from agent.security.secrets import private_file

    made = secrets.token_urlsafe(48).encode("ascii")  # 64 characters, 384 random bits
    return private_file(path, made).decode("ascii").strip()
