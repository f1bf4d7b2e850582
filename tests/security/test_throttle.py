"""Login throttling: back-off per key, attempts per client, and the bounded password-hashing pool."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agent.security.throttle import Backoff, LoginThrottle, PasswordHasher, RequestRate, Throttled


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_locks_after_the_limit_and_doubles_up_to_the_longest() -> None:
    clock = Clock()
    backoff = Backoff(3, base=30, longest=100, clock=clock)
    for _ in range(2):
        backoff.failed("alice")
        assert backoff.wait("alice") == 0
    waits = []
    for _ in range(4):
        backoff.failed("alice")
        waits.append(backoff.wait("alice"))
    assert waits == [30, 60, 100, 100]
    clock.now += 99
    assert backoff.wait("alice") == pytest.approx(1)
    assert backoff.wait("bob") == 0, "keys are independent"
    clock.now += 2
    assert backoff.wait("alice") == 0
    backoff.failed("alice")
    assert backoff.wait("alice") == 0, "a quiet period as long as the longest lock forgets the failures"


def test_success_clears_the_account() -> None:
    backoff = Backoff(2, clock=Clock())
    backoff.failed("alice")
    backoff.succeeded("alice")
    backoff.failed("alice")
    assert backoff.wait("alice") == 0


def test_request_rate_allows_a_burst_then_one_per_interval() -> None:
    clock = Clock()
    rate = RequestRate(3, 60, clock=clock)
    assert [rate.take("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    assert rate.take("10.0.0.1") == pytest.approx(20)
    assert rate.take("10.0.0.2") == 0
    clock.now += 20
    assert rate.take("10.0.0.1") == 0


def test_login_throttle_refuses_with_a_retry_after_without_hashing() -> None:
    throttle = LoginThrottle(account_failures=5, client_failures=20, longest=900)
    for _ in range(5):
        throttle.check("carol", "10.0.0.1")
        throttle.failed("carol", "10.0.0.1")
    with pytest.raises(Throttled) as locked:
        throttle.check("Carol", "10.0.0.9")  # another address, same account (names are case-insensitive)
    assert locked.value.retry_after == 30
    throttle.check("dave", "10.0.0.1")  # the address itself is not locked yet


def test_many_accounts_from_one_address_lock_the_address() -> None:
    throttle = LoginThrottle(account_failures=5, client_failures=4, longest=900)
    for i in range(4):
        throttle.check(f"user{i}", "10.0.0.1")
        throttle.failed(f"user{i}", "10.0.0.1")
    with pytest.raises(Throttled):
        throttle.check("someone-else", "10.0.0.1")


def test_attempts_per_address_are_limited_even_when_they_succeed() -> None:
    throttle = LoginThrottle(
        account_failures=5, client_failures=20, longest=900, client_attempts_per_minute=3
    )
    for _ in range(3):
        throttle.check("alice", "10.0.0.1")
        throttle.succeeded("alice")
    with pytest.raises(Throttled, match="too many login attempts"):
        throttle.check("alice", "10.0.0.1")


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
