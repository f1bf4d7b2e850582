"""Gateway overhead and start-up time.

1. The same short completion through the litellm Router + `llamacpp/` provider and directly through
   llama-cpp-python (same loaded model, greedy decoding, alternated), median ratio (target <= 1.05).
2. Start-up time to ready in a fresh process: embedded PostgreSQL + migrations + model load
   (target <= 10 s warm, i.e. with the data directory and assembled model already in place).
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
MAX_TOKENS = 32
MESSAGES = [{"role": "user", "content": "List three indications for a chest CT."}]

STARTUP = """
import time, asyncio
t0 = time.perf_counter()
from common import offline
offline.apply()
from agent.settings import get_settings
from agent.runtime import open_runtime
async def main():
    async with open_runtime(get_settings()) as rt:
        rt.gateway.warm("default")
        print(time.perf_counter() - t0)
asyncio.run(main())
"""


def startup_seconds(home: Path) -> float:
    env = {**os.environ, "RADASSIST_HOME": str(home)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", STARTUP], env=env, capture_output=True, text=True, check=True)
    total = time.perf_counter() - start
    print(
        f"  start-up: {total:.2f} s wall (in-process to ready: {float(out.stdout.strip().splitlines()[-1]):.2f} s)"
    )
    return total


async def overhead(home: Path) -> dict[str, float]:
    from agent.gateway import Gateway
    from agent.settings import REPO_ROOT

    gateway = Gateway.from_file(REPO_ROOT / "models.yaml", model_dir=home / "models")
    params = gateway.config.entry("default").litellm_params
    loaded = gateway.llamacpp.load(params.model, params.model_dump())
    from agent.gateway.llamacpp import _messages_for, on_compute_thread

    direct_messages = _messages_for(loaded, MESSAGES)
    sampling = {"max_tokens": MAX_TOKENS, "temperature": 0.0, "seed": 1}

    def direct() -> int:
        def generate() -> Any:
            with loaded.lock:
                return loaded.llm.create_chat_completion(messages=direct_messages, **sampling)

        # On the provider's compute thread, as the gateway's own calls: another calling thread would give
        # llama.cpp a second OpenMP team and slow both paths (agent/gateway/llamacpp.py).
        return int(on_compute_thread(generate)["usage"]["completion_tokens"])

    async def routed() -> int:
        response = await gateway.router.acompletion(model="default", messages=MESSAGES, **sampling)
        return int(response.usage.completion_tokens)

    direct()  # warm both paths once
    await routed()
    d_times, r_times, ratios = [], [], []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        d_tokens = direct()
        d = time.perf_counter() - t
        t = time.perf_counter()
        r_tokens = await routed()
        r = time.perf_counter() - t
        d_times.append(d)
        r_times.append(r)
        ratios.append(r / d)
    print(f"  tokens per completion: direct {d_tokens}, routed {r_tokens}")
    return {
        "direct_median_ms": statistics.median(d_times) * 1000,
        "router_median_ms": statistics.median(r_times) * 1000,
        "median_ratio": statistics.median(ratios),
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="radassist-bench-"))
    print("start-up (first run assembles the model and initialises the database):")
    cold = startup_seconds(home)
    warm = [startup_seconds(home) for _ in range(3)]
    print(f"Router + llamacpp vs direct llama-cpp-python, {ROUNDS} alternated rounds, {MAX_TOKENS} tokens:")
    figures = asyncio.run(overhead(home))
    print(
        f"  direct {figures['direct_median_ms']:.1f} ms, router {figures['router_median_ms']:.1f} ms, "
        f"median ratio {figures['median_ratio']:.3f} (target <= 1.05)"
    )
    result = {
        **{k: round(v, 3) for k, v in figures.items()},
        "startup_cold_s": round(cold, 2),
        "startup_warm_median_s": round(statistics.median(warm), 2),
        "targets_met": figures["median_ratio"] <= 1.05 and statistics.median(warm) <= 10,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
