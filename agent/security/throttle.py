"""Throttling (login back-off, attempt and request rates) and the password-hashing pool.

Three limits, each answered with HTTP 429 and a Retry-After header by the caller:
- `Backoff`: after `limit` failed logins for one key (an account, a client address), the key is locked,
  for `base` seconds, then twice as long after each further failure, up to `longest`. A quiet period
  as long as `longest` forgets the failures.
- `RequestRate`: at most `limit` attempts per key within `window` seconds, whatever their outcome
  (a token bucket); it bounds how much hashing one client address can ask for, and how many turns one
  API user can start.
- `PasswordHasher`: scrypt (128 MiB, ~0.3 s per call) runs on its own small thread pool with a bounded
  queue. A flood of logins waits there or is refused; it never occupies the event loop or the default
  thread pool, where the model and the database driver work.

The back-off and rate state lives in PostgreSQL (migrations/0014_throttle.sql), so every app process on
the database counts the same attempts: behind a load balancer with N processes an attacker still gets
the configured number of tries, not N times as many, and a restart forgets nothing. Each check is one
statement on a row locked by it, so concurrent attempts cannot both take the last token. Times are the
database's clock (every process agrees on it); tests pass their own. The hashing pool stays per process
on purpose: it protects the CPU of the process it runs in.
Nothing here knows about HTTP or Chainlit, so the chat UI and the API use the same objects.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")
Clock = Callable[[], datetime] | None
"""Returns the current time for tests; None (production) uses the database's clock."""


class Throttled(Exception):
    """Refused for now; try again after `retry_after` seconds (an integer, as Retry-After wants)."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = max(1, math.ceil(retry_after))
        self.reason = reason


_NOW = "COALESCE(%(at)s::timestamptz, now())"


class Backoff:
    """Exponential back-off after repeated failures, per key of one scope, shared through PostgreSQL."""

    def __init__(
        self, scope: str, limit: int, *, base: float = 30.0, longest: float = 900.0, clock: Clock = None
    ) -> None:
        self.scope, self.limit, self.base, self.longest, self.clock = (
            scope,
            limit,
            min(base, longest),
            longest,
            clock,
        )

    def _params(self, key: str) -> dict[str, object]:
        return {
            "scope": self.scope,
            "key": key,
            "at": self.clock() if self.clock else None,
            "longest": self.longest,
        }

    async def wait(self, pool: AsyncConnectionPool, key: str) -> float:
        """Seconds until `key` may try again (0: now)."""
        async with pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT failures, extract(epoch FROM {_NOW} - last_at)::float8 FROM throttle_failures"
                " WHERE scope = %(scope)s AND key = %(key)s",
                self._params(key),
            )
            row = await cur.fetchone()
        if row is None:
            return 0.0
        failures, quiet = int(row[0]), float(row[1])
        if quiet > self.longest or failures < self.limit:
            return 0.0
        lock = min(self.longest, self.base * 2.0 ** (failures - self.limit))
        return max(0.0, lock - quiet)

    async def failed(self, pool: AsyncConnectionPool, key: str) -> None:
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO throttle_failures AS f (scope, key, failures, last_at)"
                f" VALUES (%(scope)s, %(key)s, 1, {_NOW}) ON CONFLICT (scope, key) DO UPDATE SET"
                " failures = CASE WHEN EXCLUDED.last_at - f.last_at > make_interval(secs => %(longest)s)"
                " THEN 1 ELSE f.failures + 1 END, last_at = EXCLUDED.last_at",
                self._params(key),
            )

    async def succeeded(self, pool: AsyncConnectionPool, key: str) -> None:
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM throttle_failures WHERE scope = %(scope)s AND key = %(key)s", self._params(key)
            )


class RequestRate:
    """At most `limit` attempts per key within `window` seconds (a token bucket per key), shared."""

    def __init__(self, scope: str, limit: int, window: float, *, clock: Clock = None) -> None:
        self.scope, self.limit, self.window, self.clock = scope, limit, window, clock

    async def take(self, pool: AsyncConnectionPool, key: str) -> float:
        """Use one attempt; return 0 when allowed, else the seconds until one is available."""
        rate = self.limit / self.window
        refill = "least(%(limit)s, b.tokens + greatest(0, extract(epoch FROM EXCLUDED.at - b.at)) * %(rate)s)"
        async with pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO throttle_buckets AS b (scope, key, tokens, allowed, at)"
                f" VALUES (%(scope)s, %(key)s, %(limit)s - 1, true, {_NOW})"
                f" ON CONFLICT (scope, key) DO UPDATE SET allowed = {refill} >= 1,"
                f" tokens = {refill} - CASE WHEN {refill} >= 1 THEN 1 ELSE 0 END, at = EXCLUDED.at"
                " RETURNING tokens, allowed",
                {
                    "scope": self.scope,
                    "key": key,
                    "limit": float(self.limit),
                    "rate": rate,
                    "at": self.clock() if self.clock else None,
                },
            )
            row = await cur.fetchone()
        assert row is not None
        tokens, allowed = float(row[0]), bool(row[1])
        return 0.0 if allowed else (1 - tokens) / rate


async def forget_quiet(pool: AsyncConnectionPool, older_than: float) -> None:
    """Delete throttling rows untouched for `older_than` seconds (they no longer change any decision)."""
    async with pool.connection() as conn:
        await conn.execute(
            "DELETE FROM throttle_failures WHERE last_at < now() - make_interval(secs => %(s)s)",
            {"s": older_than},
        )
        await conn.execute(
            "DELETE FROM throttle_buckets WHERE at < now() - make_interval(secs => %(s)s)", {"s": older_than}
        )


class PasswordHasher:
    """Password hashing on a dedicated pool: `workers` at a time, at most `queue` more waiting."""

    def __init__(self, workers: int = 1, queue: int = 4) -> None:
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="radassist-password")
        self._admitted = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` on the pool; raise Throttled at once when the pool and its queue are full."""
        if self._admitted >= self.workers + self.queue:
            raise Throttled(1, "too many logins in progress")
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._admitted -= 1


PASSWORD_HASHING = PasswordHasher()


class LoginThrottle:
    """The login checks: per-client attempt rate, per-account and per-client back-off (shared state)."""

    def __init__(
        self,
        *,
        account_failures: int,
        client_failures: int,
        longest: float,
        client_attempts_per_minute: int = 30,
        clock: Clock = None,
    ) -> None:
        self.accounts = Backoff("login-account", account_failures, longest=longest, clock=clock)
        self.clients = Backoff("login-client", client_failures, longest=longest, clock=clock)
        self.rate = RequestRate("login-rate", client_attempts_per_minute, 60.0, clock=clock)
        self._swept = 0.0

    async def check(self, pool: AsyncConnectionPool, account: str, client: str) -> None:
        """Raise Throttled when this login attempt must not be processed now (it costs no hashing)."""
        await self._sweep(pool)
        wait = max(
            await self.accounts.wait(pool, _account_key(account)), await self.clients.wait(pool, client)
        )
        if wait > 0:
            raise Throttled(wait, "too many failed logins")
        if (wait := await self.rate.take(pool, client)) > 0:
            raise Throttled(wait, "too many login attempts")

    async def failed(self, pool: AsyncConnectionPool, account: str, client: str) -> None:
        await self.accounts.failed(pool, _account_key(account))
        await self.clients.failed(pool, client)

    async def succeeded(self, pool: AsyncConnectionPool, account: str) -> None:
        """A correct password clears the account's failures (not the client address's)."""
        await self.accounts.succeeded(pool, _account_key(account))

    async def _sweep(self, pool: AsyncConnectionPool) -> None:
        """At most once a minute per process, drop rows that can no longer lock anything."""
        if time.monotonic() - self._swept > 60:
            self._swept = time.monotonic()
            await forget_quiet(pool, max(self.accounts.longest, self.rate.window))


def _account_key(identifier: str) -> str:
    return identifier.strip().lower()[:64]  # "Alice" and "alice" are one account
