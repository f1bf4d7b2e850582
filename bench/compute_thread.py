"""Why every in-process llama.cpp evaluation runs on one thread (agent/gateway/llamacpp.py).

llama.cpp's OpenMP gives each OS thread that calls into it a team of `n_threads`. Once the process holds
more OpenMP threads than CPUs, libgomp stops spinning between parallel regions, so every token then waits
for sleeping threads to wake. Before the provider had its own compute thread, each model call of a turn ran
on whichever worker thread asyncio handed it, so a few turns were enough.

One process, the bundled model: raw generation of the same tokens on the compute thread, first while it is
the only thread that ever called llama.cpp, then after a few calls from the workers of a thread pool that
stays alive (as asyncio's default executor made them; a thread that exits frees its team). Medians of
ROUNDS runs each, and their ratio. The last line is one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
TOKENS = 200
OTHER_THREADS = 4


def generate(llm: Any, tokens: int) -> float:
    start = time.perf_counter()
    out = llm.create_completion(
        "Summarise the follow-up of incidental lung nodules.", max_tokens=tokens, temperature=0.2,
        logit_bias={llm.token_eos(): -100.0}, seed=1,
    )  # fmt: skip
    assert out["usage"]["completion_tokens"] == tokens, out["usage"]
    return time.perf_counter() - start


def main() -> None:
    from agent.gateway import Gateway
    from agent.gateway.llamacpp import on_compute_thread
    from agent.settings import REPO_ROOT

    home = Path(os.environ.get("RADASSIST_HOME") or tempfile.mkdtemp(prefix="radassist-bench-"))
    gateway = Gateway.from_file(REPO_ROOT / "models.yaml", model_dir=home / "models")
    params = gateway.config.entry("default").litellm_params
    llm = gateway.llamacpp.load(params.model, params.model_dump()).llm

    def rounds() -> list[float]:
        return [on_compute_thread(lambda: generate(llm, TOKENS)) for _ in range(ROUNDS)]

    on_compute_thread(lambda: generate(llm, 8))  # warm-up
    alone = rounds()
    one_at_a_time = threading.Lock()  # a Llama object is not thread-safe

    def from_a_worker() -> int:
        with one_at_a_time:
            generate(llm, 8)
        return threading.get_ident()

    with ThreadPoolExecutor(OTHER_THREADS) as pool:  # submitted at once: one call from each of its workers
        workers = {f.result() for f in [pool.submit(from_a_worker) for _ in range(OTHER_THREADS)]}
        after = rounds()  # while the pool's workers (and their OpenMP teams) are alive
    figures = {
        "tokens": TOKENS,
        "rounds": ROUNDS,
        "other_threads": len(workers),
        "one_calling_thread_median_s": round(statistics.median(alone), 2),
        "after_calls_from_other_threads_median_s": round(statistics.median(after), 2),
        "slowdown": round(statistics.median(after) / statistics.median(alone), 2),
    }
    print(f"raw generation of {TOKENS} tokens, median of {ROUNDS}: only the compute thread ever called llama.cpp "
          f"{figures['one_calling_thread_median_s']} s; after calls from {len(workers)} other live threads "
          f"{figures['after_calls_from_other_threads_median_s']} s ({figures['slowdown']}x)")  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
