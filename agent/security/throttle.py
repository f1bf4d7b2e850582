"""Login throttling and the password-hashing pool.

Three limits, each answered with HTTP 429 and a Retry-After header by the caller:
- `Backoff`: after `limit` failed logins for one key (an account, a client address), the key is locked,
  for `base` seconds, then twice as long after each further failure, up to `longest`. A quiet period
  as long as `longest` forgets the failures.
- `RequestRate`: at most `limit` attempts per key within `window` seconds, whatever their outcome
  (a token bucket); it bounds how much hashing one client address can ask for.
- `PasswordHasher`: scrypt (128 MiB, ~0.3 s per call) runs on its own small thread pool with a bounded
  queue. A flood of logins waits there or is refused; it never occupies the event loop or the default
  thread pool, where the model and the database driver work.

The state is in memory: it is per process and starts empty after a restart (radassist serves from one
process). Nothing here knows about HTTP or Chainlit, so an API can use the same objects.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_MAX_KEYS = 50_000  # bound the memory an attacker can make us spend on keys


class Throttled(Exception):
    """Refused for now; try again after `retry_after` seconds (an integer, as Retry-After wants)."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = max(1, math.ceil(retry_after))
        self.reason = reason


@dataclass
class _Failures:
    count: int
    last: float


class Backoff:
    """Exponential back-off after repeated failures, per key."""

    def __init__(
        self,
        limit: int,
        *,
        base: float = 30.0,
        longest: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.base, self.longest, self.clock = limit, min(base, longest), longest, clock
        self._keys: dict[str, _Failures] = {}

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again (0: now)."""
        record = self._current(key)
        if record is None or record.count < self.limit:
            return 0.0
        lock = min(self.longest, self.base * 2.0 ** (record.count - self.limit))
        return max(0.0, record.last + lock - self.clock())

    def failed(self, key: str) -> None:
        record = self._current(key)
        now = self.clock()
        if record is None:
            if len(self._keys) >= _MAX_KEYS:
                self._forget_quiet()
            self._keys[key] = _Failures(1, now)
        else:
            record.count, record.last = record.count + 1, now

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)

    def _current(self, key: str) -> _Failures | None:
        record = self._keys.get(key)
        if record is not None and self.clock() - record.last > self.longest:
            del self._keys[key]
            return None
        return record

    def _forget_quiet(self) -> None:
        now = self.clock()
        for key in [k for k, r in self._keys.items() if now - r.last > self.longest]:
            del self._keys[key]
        while len(self._keys) >= _MAX_KEYS:  # still full: drop the oldest records
            del self._keys[min(self._keys, key=lambda k: self._keys[k].last)]


class RequestRate:
    """At most `limit` attempts per key within `window` seconds (a token bucket per key)."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str) -> float:
        """Use one attempt; return 0 when allowed, else the seconds until one is available."""
        now = self.clock()
        rate = self.limit / self.window
        tokens, when = self._buckets.get(key, (float(self.limit), now))
        tokens = min(float(self.limit), tokens + (now - when) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        if len(self._buckets) >= _MAX_KEYS:
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.window}
        self._buckets[key] = (tokens - 1, now)
        return 0.0


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
    """The login checks of one server: per-client attempt rate, per-account and per-client back-off."""

    def __init__(
        self,
        *,
        account_failures: int,
        client_failures: int,
        longest: float,
        client_attempts_per_minute: int = 30,
    ) -> None:
        self.accounts = Backoff(account_failures, longest=longest)
        self.clients = Backoff(client_failures, longest=longest)
        self.rate = RequestRate(client_attempts_per_minute, 60.0)

    def check(self, account: str, client: str) -> None:
        """Raise Throttled when this login attempt must not be processed now (it costs no hashing)."""
        wait = max(self.accounts.wait(_account_key(account)), self.clients.wait(client))
        if wait > 0:
            raise Throttled(wait, "too many failed logins")
        if (wait := self.rate.take(client)) > 0:
            raise Throttled(wait, "too many login attempts")

    def failed(self, account: str, client: str) -> None:
        self.accounts.failed(_account_key(account))
        self.clients.failed(client)

    def succeeded(self, account: str) -> None:
        """A correct password clears the account's failures (not the client address's)."""
        self.accounts.succeeded(_account_key(account))


def _account_key(identifier: str) -> str:
    return identifier.strip().lower()[:64]  # "Alice" and "alice" are one account
