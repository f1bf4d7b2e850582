"""Password hashing, login checks against the users table, and the login-secret file."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import psycopg
import pytest

from agent.db import open_pool
from agent.settings import Settings
from agent.ui import auth
from agent.ui.auth import (
    SECRET_FILE,
    add_user,
    authenticate,
    check_password_strength,
    disable_user,
    ensure_auth_secret,
    hash_password,
    list_users,
    verify_password,
)
from common.errors import RadassistError

PASSWORD = "grey-lung-window-42"


# -- hashing ------------------------------------------------------------------------------------------


def test_hash_records_scrypt_parameters_and_a_random_salt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    match = re.fullmatch(r"scrypt\$n=131072,r=8,p=1\$([A-Za-z0-9+/=]{24})\$([A-Za-z0-9+/=]{44})", first)
    assert match, first
    assert first != second, "each hash has its own salt"
    assert PASSWORD not in first


def test_verify_accepts_the_password_and_rejects_others() -> None:
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)
    assert not verify_password(PASSWORD.upper(), stored)
    assert not verify_password("", stored)


def test_verify_uses_the_parameters_stored_in_the_hash() -> None:
    cheap = hash_password(PASSWORD, n=2**10, r=4, p=1)
    assert cheap.startswith("scrypt$n=1024,r=4,p=1$")
    assert verify_password(PASSWORD, cheap)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "scrypt$n=131072,r=8,p=1$c2FsdA==",  # missing key
        "scrypt$n=1000,r=8,p=1$c2FsdA==$a2V5",  # n not a power of two
        "scrypt$n=2097152,r=8,p=1$c2FsdA==$a2V5",  # n above the allowed maximum (2^20)
        "bcrypt$2b$12$abcdefghijklmnopqrstuv",
    ],
)
def test_malformed_or_foreign_hashes_never_verify(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    verify_password("wrong password!!", hash_password(PASSWORD, n=2**10))
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("", "must not be empty"),
        ("            ", "must not be empty"),
        ("short-pw1", "at least 12 characters"),
        ("xx-alice-xx-2026", "must not contain the user name"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("password1234", "too easy to guess"),
        ("PasswordPassword", "too easy to guess"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule(password: str, rule: str) -> None:
    with pytest.raises(RadassistError, match=rule):
        check_password_strength(password, "alice")


def test_a_long_passphrase_is_accepted() -> None:
    check_password_strength(PASSWORD, "alice")
    check_password_strength("a" * 11 + "bcd", "alice")  # 14 characters, 4 distinct: just accepted


# -- accounts and login -----------------------------------------------------------------------------------


@pytest.fixture
async def pool(fresh_db_url: str):  # type: ignore[no-untyped-def]
    pool = open_pool(fresh_db_url, max_size=2)
    await pool.open(wait=True)
    yield pool
    await pool.close()


postgres = pytest.mark.postgres


@postgres
async def test_authenticate_checks_password_and_disabled_flag(fresh_db_url: str, pool) -> None:
    created = add_user(fresh_db_url, "alice", PASSWORD, "admin")
    assert (created.identifier, created.role, created.disabled) == ("alice", "admin", False)
    account = await authenticate("alice", PASSWORD, pool=pool)
    assert account is not None and (account.id, account.role) == (created.id, "admin")
    assert await authenticate("alice", PASSWORD + "!", pool=pool) is None
    assert await authenticate("ALICE", PASSWORD, pool=pool) is None, "names are exact"
    assert await authenticate("bob", PASSWORD, pool=pool) is None
    assert await authenticate("", "", pool=pool) is None
    assert await authenticate("alice'; --", PASSWORD, pool=pool) is None
    disable_user(fresh_db_url, "alice")
    assert await authenticate("alice", PASSWORD, pool=pool) is None, "a disabled account cannot log in"


@postgres
async def test_account_without_password_cannot_log_in(fresh_db_url: str, pool) -> None:
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (identifier) VALUES ('sso-user')")
    assert await authenticate("sso-user", "", pool=pool) is None
    assert await authenticate("sso-user", PASSWORD, pool=pool) is None


@postgres
def test_add_user_refuses_duplicates_bad_names_roles_and_weak_passwords(fresh_db_url: str) -> None:
    add_user(fresh_db_url, "alice", PASSWORD)
    with pytest.raises(RadassistError, match="already exists"):
        add_user(fresh_db_url, "alice", PASSWORD + "2")
    with pytest.raises(RadassistError, match="already exists"):
        add_user(fresh_db_url, "Alice", PASSWORD + "2")  # names differing only in case are one account
    with pytest.raises(RadassistError, match="user name"):
        add_user(fresh_db_url, "bad name", PASSWORD)
    with pytest.raises(RadassistError, match="role 'root'"):
        add_user(fresh_db_url, "bob", PASSWORD, "root")
    with pytest.raises(RadassistError, match="at least 12"):
        add_user(fresh_db_url, "bob", "short")
    assert [a.identifier for a in list_users(fresh_db_url)] == ["alice"]
    with psycopg.connect(fresh_db_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE identifier = 'alice'").fetchone()[0]
    assert stored.startswith("scrypt$") and PASSWORD not in stored


@postgres
def test_disable_unknown_user_names_it(fresh_db_url: str) -> None:
    with pytest.raises(RadassistError, match="no user named 'ghost'"):
        disable_user(fresh_db_url, "ghost")


# -- login secret -----------------------------------------------------------------------------------------


def test_secret_file_is_created_once_with_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET", raising=False)
    settings = Settings(home=tmp_path / "home")
    secret = ensure_auth_secret(settings)
    path = tmp_path / "home" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 64 and path.read_text() == secret
    assert os.environ["CHAINLIT_AUTH_SECRET"] == secret
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET")
    assert ensure_auth_secret(settings) == secret, "the same secret after a restart"
    assert sorted(p.name for p in path.parent.iterdir()) == [SECRET_FILE], "no temporary file left"
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET")
    other = ensure_auth_secret(Settings(home=tmp_path / "other"))
    assert other != secret, "each installation gets its own random secret"


def test_environment_secret_wins_and_no_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 40)
    assert ensure_auth_secret(Settings(home=tmp_path)) == "s" * 40
    assert not (tmp_path / SECRET_FILE).exists()


def test_short_environment_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "changeme")
    with pytest.raises(RadassistError, match="at least 32 characters"):
        ensure_auth_secret(Settings(home=tmp_path))


def test_secret_file_readable_by_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET", raising=False)
    path = tmp_path / SECRET_FILE
    path.write_text("x" * 64)
    path.chmod(0o644)
    with pytest.raises(RadassistError, match="readable by other users"):
        ensure_auth_secret(Settings(home=tmp_path))
    assert "CHAINLIT_AUTH_SECRET" not in os.environ
