"""Throttling: back-off per key, attempts per client, shared through PostgreSQL; the bounded hashing pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from agent.db import open_pool
from agent.security.throttle import (
    Backoff,
    LoginThrottle,
    PasswordHasher,
    RequestRate,
    Throttled,
    forget_quiet,
)
from tests.conftest import create_database, drop_database


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def db_url(pg_url: str) -> Iterator[str]:
    url = create_database(pg_url)
    yield url
    drop_database(pg_url, url)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """The module's database, with no throttling state left by an earlier test."""
    opened = open_pool(db_url, max_size=4)
    await opened.open(wait=True)
    async with opened.connection() as conn:
        await conn.execute("TRUNCATE throttle_failures, throttle_buckets")
    yield opened
    await opened.close()


@pytest.mark.postgres
async def test_backoff_locks_after_the_limit_and_doubles_up_to_the_longest(pool: AsyncConnectionPool) -> None:
    clock = Clock()
    backoff = Backoff("test", 3, base=30, longest=100, clock=clock)
    for _ in range(2):
        await backoff.failed(pool, "alice")
        assert await backoff.wait(pool, "alice") == 0
    waits = []
    for _ in range(4):
        await backoff.failed(pool, "alice")
        waits.append(await backoff.wait(pool, "alice"))
    assert waits == [30, 60, 100, 100]
    clock.advance(99)
    assert await backoff.wait(pool, "alice") == pytest.approx(1)
    assert await backoff.wait(pool, "bob") == 0, "keys are independent"
    assert await Backoff("other", 3, clock=clock).wait(pool, "alice") == 0, "scopes are independent"
    clock.advance(2)
    assert await backoff.wait(pool, "alice") == 0
    await backoff.failed(pool, "alice")
    assert await backoff.wait(pool, "alice") == 0, (
        "a quiet period as long as the longest lock forgets the failures"
    )


@pytest.mark.postgres
async def test_success_clears_the_account(pool: AsyncConnectionPool) -> None:
    backoff = Backoff("test", 2, clock=Clock())
    await backoff.failed(pool, "alice")
    await backoff.succeeded(pool, "alice")
    await backoff.failed(pool, "alice")
    assert await backoff.wait(pool, "alice") == 0


@pytest.mark.postgres
async def test_request_rate_allows_a_burst_then_one_per_interval(pool: AsyncConnectionPool) -> None:
    clock = Clock()
    rate = RequestRate("test", 3, 60, clock=clock)
    assert [await rate.take(pool, "10.0.0.1") for _ in range(3)] == [0, 0, 0]
    assert await rate.take(pool, "10.0.0.1") == pytest.approx(20)
    assert await rate.take(pool, "10.0.0.2") == 0
    clock.advance(20)
    assert await rate.take(pool, "10.0.0.1") == 0
    assert await rate.take(pool, "10.0.0.1") == pytest.approx(20), "a refused attempt does not use a token"


@pytest.mark.postgres
async def test_concurrent_attempts_cannot_share_the_last_token(pool: AsyncConnectionPool) -> None:
    rate = RequestRate("test", 5, 3600)
    waits = await asyncio.gather(*(rate.take(pool, "10.0.0.1") for _ in range(12)))
    assert sorted(w == 0 for w in waits).count(True) == 5


@pytest.mark.postgres
async def test_two_processes_share_one_count(pool: AsyncConnectionPool, db_url: str) -> None:
    """Two throttles on two pools (two app processes) lock the account after the limit in total."""
    other = open_pool(db_url, max_size=2)
    await other.open(wait=True)
    try:
        a = LoginThrottle(account_failures=4, client_failures=20, longest=900)
        b = LoginThrottle(account_failures=4, client_failures=20, longest=900)
        for throttle, connections in ((a, pool), (b, other), (a, pool), (b, other)):
            await throttle.check(connections, "erin", "10.0.0.1")
            await throttle.failed(connections, "erin", "10.0.0.1")
        for throttle, connections in ((a, pool), (b, other)):
            with pytest.raises(Throttled, match="too many failed logins"):
                await throttle.check(connections, "erin", "10.0.0.2")
    finally:
        await other.close()


@pytest.mark.postgres
async def test_login_throttle_refuses_with_a_retry_after_without_hashing(pool: AsyncConnectionPool) -> None:
    throttle = LoginThrottle(account_failures=5, client_failures=20, longest=900, clock=Clock())
    for _ in range(5):
        await throttle.check(pool, "carol", "10.0.0.1")
        await throttle.failed(pool, "carol", "10.0.0.1")
    with pytest.raises(Throttled) as locked:
        await throttle.check(pool, "Carol", "10.0.0.9")  # another address, same account (case-insensitive)
    assert locked.value.retry_after == 30
    await throttle.check(pool, "dave", "10.0.0.1")  # the address itself is not locked yet


@pytest.mark.postgres
async def test_many_accounts_from_one_address_lock_the_address(pool: AsyncConnectionPool) -> None:
    throttle = LoginThrottle(account_failures=5, client_failures=4, longest=900, clock=Clock())
    for i in range(4):
        await throttle.check(pool, f"user{i}", "10.0.0.1")
        await throttle.failed(pool, f"user{i}", "10.0.0.1")
    with pytest.raises(Throttled):
        await throttle.check(pool, "someone-else", "10.0.0.1")


@pytest.mark.postgres
async def test_attempts_per_address_are_limited_even_when_they_succeed(pool: AsyncConnectionPool) -> None:
    throttle = LoginThrottle(
        account_failures=5, client_failures=20, longest=900, client_attempts_per_minute=3, clock=Clock()
    )
    for _ in range(3):
        await throttle.check(pool, "alice", "10.0.0.1")
        await throttle.succeeded(pool, "alice")
    with pytest.raises(Throttled, match="too many login attempts"):
        await throttle.check(pool, "alice", "10.0.0.1")


@pytest.mark.postgres
async def test_quiet_rows_are_forgotten(pool: AsyncConnectionPool) -> None:
    await Backoff("test", 3).failed(pool, "old")
    await RequestRate("test", 3, 60).take(pool, "old")
    async with pool.connection() as conn:
        await conn.execute("UPDATE throttle_failures SET last_at = now() - interval '2 hours'")
        await conn.execute("UPDATE throttle_buckets SET at = now() - interval '2 hours'")
    await Backoff("test", 3).failed(pool, "new")
    await forget_quiet(pool, 3600)
    async with pool.connection() as conn:
        failures = await (await conn.execute("SELECT key FROM throttle_failures")).fetchall()
        buckets = await (await conn.execute("SELECT count(*) FROM throttle_buckets")).fetchone()
    assert failures == [("new",)] and buckets == (0,)


async def test_hashing_runs_on_its_own_bounded_pool_and_never_on_the_default_one() -> None:
    hasher = PasswordHasher(workers=1, queue=2)
    release = threading.Event()
    running: list[str] = []

    def slow_hash() -> str:
        running.append(threading.current_thread().name)
        release.wait(10)
        return "done"

    admitted = [asyncio.create_task(hasher.run(slow_hash)) for _ in range(3)]
    await asyncio.sleep(0.1)
    with pytest.raises(Throttled) as refused:  # the fourth attempt is refused at once, not queued
        await hasher.run(slow_hash)
    assert refused.value.retry_after == 1
    # Meanwhile the default executor (the model's and the database driver's threads) is free.
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "model work"), timeout=5) == "model work"
    assert len(running) == 1, "only one hash at a time"
    release.set()
    assert await asyncio.gather(*admitted) == ["done"] * 3
    assert set(running) == {running[0]} and running[0].startswith("radassist-password")
