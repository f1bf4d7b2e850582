"""Throughput of the OpenAI-compatible API with one and two llama.cpp model servers behind every chat alias.

Real parts: a `radassist serve` process on the embedded PostgreSQL (the Fleischner summary in its
guideline library), two `python -m llama_cpp.server` processes serving the bundled GGUF with one thread
each, and the official `openai` client. For each number of model servers (swapped in with
`radassist models reload`, no restart) and each concurrency (4 and 8 clients), TURNS new conversations
are answered; the figures are turns per minute, median and p95 latency. Ratios (two servers over one)
come from the same run. The last line is one JSON object with the figures.

    .venv/bin/python bench/scale_out.py [--turns 16] [--rounds 1]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.api.helpers: the test's model servers
HOME = Path(tempfile.mkdtemp(prefix="radassist-bench-scale-"))
os.environ["RADASSIST_HOME"] = str(HOME)  # before any settings are read: a home of its own
os.environ.pop("DATABASE_URL", None)
atexit.register(shutil.rmtree, HOME, True)

CONCURRENCY = (4, 8)
QUESTIONS = [
    f"{size} solid nodule, {risk} risk, what follow-up?"
    for size in ("4 mm", "7 mm", "12 mm", "5 mm")
    for risk in ("low", "high")
]


def prepare() -> tuple[str, str]:
    """Migrate the embedded database, load the Fleischner summary, make an account and its API key."""
    import asyncio

    from agent.api.keys import create_key, key_secret
    from agent.db import database_url, migrate, open_pool
    from agent.gateway import Gateway
    from agent.settings import REPO_ROOT, Settings
    from agent.ui.auth import add_user
    from tools.knowledge.corpus import CORPUS_DIR
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.ingest import ingest_paths

    settings = Settings()
    url = database_url(settings)
    migrate(url)

    async def library() -> None:
        pool = open_pool(url)
        await pool.open(wait=True)
        try:
            gateway = Gateway.from_file(REPO_ROOT / "models.yaml", model_dir=HOME / "models")
            await ingest_paths(pool, Embedder(gateway), [CORPUS_DIR / "fleischner-2017.md"])
        finally:
            await pool.close()

    asyncio.run(library())
    add_user(url, "bench.scale", "grey-lung-window-42")
    return url, create_key(url, key_secret(settings), "bench.scale", timedelta(days=1))[1]


def reload(env: dict[str, str]) -> None:
    """`radassist models reload`: every server on the database swaps to the file's new contents."""
    done = subprocess.run(
        [sys.executable, "-m", "agent", "models", "reload"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"models reload failed:\n{done.stdout}{done.stderr}")


def cell(base_url: str, key: str, concurrency: int, turns: int) -> dict[str, float]:
    """`turns` new conversations answered by `concurrency` clients at once."""
    import openai

    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=600)

    def one(i: int) -> float:
        start = time.perf_counter()
        response = client.chat.completions.create(
            model="radassist", messages=[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]
        )
        assert response.model_extra and response.model_extra["radassist"]["findings"], "no finding"
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(turns)))
    wall = time.perf_counter() - start
    return {
        "turns_per_minute": round(turns / wall * 60, 2),
        "median_s": round(statistics.median(latencies), 2),
        "p95_s": round(latencies[max(0, round(0.95 * len(latencies)) - 1)], 2),
    }


def main() -> None:
    from agent.gateway.gguf import resolve_gguf
    from tests.api.helpers import model_server, server_models
    from tests.server import running_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=16, help="conversations per cell (default 16)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over 1 and 2 servers (default 1)")
    args = parser.parse_args()

    url, key = prepare()
    gguf = resolve_gguf("bundled/gemma3-270m", base=None, model_dir=HOME / "models")
    logs = HOME / "logs"
    logs.mkdir()
    results: dict[int, dict[int, list[dict[str, float]]]] = {1: {}, 2: {}}
    with ExitStack() as stack:
        servers = [stack.enter_context(model_server(gguf, logs)) for _ in range(2)]
        models = HOME / "models.yaml"
        models.write_text(server_models(servers[:1]))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "RADASSIST_MODELS_FILE": str(models),
            "RADASSIST_MODELS_WATCH": "false",
            "RADASSIST_API_REQUESTS_PER_MINUTE": "10000",
        }
        app = stack.enter_context(running_server(logs, env=dict(env)))
        cell(app.url, key, 2, 2)  # warm: the app's embedder, both servers' first prompt
        for _ in range(args.rounds):
            for n in (1, 2):
                models.write_text(server_models(servers[:n]))
                reload(env)
                for c in CONCURRENCY:
                    row = cell(app.url, key, c, args.turns)
                    results[n].setdefault(c, []).append(row)
                    print(
                        f"{n} model server(s), concurrency {c}: {row['turns_per_minute']:6.1f} turns/min, "
                        f"median {row['median_s']:5.2f} s, p95 {row['p95_s']:5.2f} s"
                    )
    figures: dict[str, object] = {"turns_per_cell": args.turns, "rounds": args.rounds}
    for n, by_c in results.items():
        for c, rows in by_c.items():
            for name in ("turns_per_minute", "median_s", "p95_s"):
                figures[f"servers{n}_c{c}_{name}"] = statistics.median(r[name] for r in rows)
    for c in CONCURRENCY:
        ratio = float(figures[f"servers2_c{c}_turns_per_minute"]) / float(  # type: ignore[arg-type]
            figures[f"servers1_c{c}_turns_per_minute"]  # type: ignore[arg-type]
        )
        figures[f"throughput_ratio_2_over_1_c{c}"] = round(ratio, 3)
        print(f"concurrency {c}: two model servers give {ratio:.2f}x the turns per minute of one")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
