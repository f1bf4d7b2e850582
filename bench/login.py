"""A flood of wrong logins: what it costs the server, before and after the bounded hashing pool.

Part 1, in this process, both ways in the same run: 40 concurrent scrypt checks (N=2^17, 128 MiB each)
on the default thread pool (`asyncio.to_thread`, how logins were checked before) and on the
password-hashing pool (`PasswordHasher`: one thread, four waiting, the rest refused). While each flood
runs, a probe measures how long a small job on the default thread pool waits (where the model and the
database driver work) and how late the event loop wakes up; RSS is sampled every 20 ms.

Part 2, the real server (`radassist serve`, fresh embedded PostgreSQL under a temporary RADASSIST_HOME):
40 parallel wrong logins from 40 client addresses (X-Forwarded-For), with /health probed meanwhile;
the server process's RSS is sampled.

    .venv/bin/python bench/login.py

Readable lines first; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

FLOOD = 40

if "RADASSIST_HOME" not in os.environ:
    _HOME = Path(tempfile.mkdtemp(prefix="radassist-bench-login-"))
    atexit.register(shutil.rmtree, _HOME, True)
    os.environ["RADASSIST_HOME"] = str(_HOME)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("RADASSIST_DATABASE_URL", None)

import psutil  # noqa: E402

from agent.settings import REPO_ROOT  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))


async def _probe(stop: asyncio.Event, samples: dict[str, list[float]], rss: Callable[[], int]) -> None:
    """Until `stop`: default-pool job wait, event-loop lateness and RSS, every 20 ms."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.to_thread(lambda: None)
        samples["pool_wait_ms"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await asyncio.sleep(0.02)
        samples["loop_late_ms"].append((time.perf_counter() - start - 0.02) * 1000)
        samples["rss_mb"].append(rss() / 2**20)


async def _flood(check: Callable[[], Awaitable[Any]], rss: Callable[[], int]) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"pool_wait_ms": [], "loop_late_ms": [], "rss_mb": []}
    before = rss() / 2**20
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(stop, samples, rss))
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(check() for _ in range(FLOOD)), return_exceptions=True)
    elapsed = time.perf_counter() - start
    stop.set()
    await probe
    refused = sum(1 for o in outcomes if isinstance(o, Exception))
    return {
        "seconds": round(elapsed, 2),
        "hashed": FLOOD - refused,
        "refused": refused,
        "rss_growth_mb": round(max(samples["rss_mb"], default=before) - before, 1),
        "pool_wait_median_ms": round(statistics.median(samples["pool_wait_ms"] or [0]), 2),
        "pool_wait_max_ms": round(max(samples["pool_wait_ms"], default=0), 1),
        "loop_late_max_ms": round(max(samples["loop_late_ms"], default=0), 1),
    }


async def in_process() -> dict[str, Any]:
    from agent.security.throttle import PasswordHasher
    from agent.ui.auth import hash_password, verify_password

    stored = hash_password("the right passphrase 42")
    me = psutil.Process()
    hasher = PasswordHasher()
    old = await _flood(
        lambda: asyncio.to_thread(verify_password, "wrong password!", stored), lambda: me.memory_info().rss
    )
    new = await _flood(
        lambda: hasher.run(verify_password, "wrong password!", stored), lambda: me.memory_info().rss
    )
    return {"default_pool": old, "hashing_pool": new}


async def on_server(base_url: str, pid: int) -> dict[str, Any]:
    import httpx

    server = psutil.Process(pid)

    async def attempt(i: int) -> int:
        async with httpx.AsyncClient(
            base_url=base_url, timeout=120, headers={"X-Forwarded-For": f"10.9.0.{i}"}
        ) as http:
            return (
                await http.post("/login", data={"username": f"nobody{i}", "password": "wrong password!"})
            ).status_code

    health: list[float] = []
    rss: list[float] = []
    done = asyncio.Event()

    async def watch() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            while not done.is_set():
                start = time.perf_counter()
                await http.get("/health")
                health.append((time.perf_counter() - start) * 1000)
                rss.append(server.memory_info().rss / 2**20)
                await asyncio.sleep(0.05)

    before = server.memory_info().rss / 2**20
    watcher = asyncio.create_task(watch())
    start = time.perf_counter()
    statuses = await asyncio.gather(*(attempt(i) for i in range(FLOOD)))
    elapsed = time.perf_counter() - start
    done.set()
    await watcher
    return {
        "seconds": round(elapsed, 2),
        "status_401": statuses.count(401),
        "status_429": statuses.count(429),
        "rss_growth_mb": round(max(rss, default=before) - before, 1),
        "health_median_ms": round(statistics.median(health or [0]), 1),
        "health_max_ms": round(max(health, default=0), 1),
    }


def main() -> None:
    from agent.db import database_url, migrate
    from agent.settings import Settings
    from tests.server import running_server

    local = asyncio.run(in_process())
    old, new = local["default_pool"], local["hashing_pool"]
    for name, row in (("default thread pool (before)", old), ("hashing pool (now)", new)):
        print(
            f"{name:<30} {row['seconds']:6.2f} s  hashed {row['hashed']:2d}  refused {row['refused']:2d}  "
            f"RSS +{row['rss_growth_mb']:6.1f} MB  default-pool wait median {row['pool_wait_median_ms']:7.2f} ms "
            f"max {row['pool_wait_max_ms']:8.1f} ms  loop late max {row['loop_late_max_ms']:6.1f} ms"
        )
    home = Path(os.environ["RADASSIST_HOME"])
    url = database_url(Settings())
    migrate(url)
    log_dir = Path(tempfile.mkdtemp(prefix="radassist-bench-login-logs-"))
    atexit.register(shutil.rmtree, log_dir, True)
    with running_server(log_dir, env={"RADASSIST_HOME": str(home), "DATABASE_URL": url}) as server:
        remote = asyncio.run(on_server(server.url, server.process.pid))
    print(
        f"server: {FLOOD} parallel wrong logins in {remote['seconds']:.2f} s: {remote['status_401']} checked, "
        f"{remote['status_429']} refused (429); RSS +{remote['rss_growth_mb']:.1f} MB; "
        f"/health median {remote['health_median_ms']:.1f} ms, max {remote['health_max_ms']:.1f} ms"
    )
    figures = {
        "flood": FLOOD,
        "in_process": local,
        "rss_growth_ratio_new_to_old": round(new["rss_growth_mb"] / old["rss_growth_mb"], 3)
        if old["rss_growth_mb"]
        else None,
        "pool_wait_max_ratio_new_to_old": round(new["pool_wait_max_ms"] / old["pool_wait_max_ms"], 3)
        if old["pool_wait_max_ms"]
        else None,
        "server": remote,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
