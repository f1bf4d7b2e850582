"""Grammar-constrained (JSON) model calls: the grammar on the whole vocabulary vs the best tokens first.

The agent's structured calls (tests/foundation/structured_calls.py) on the bundled GGUF,
loaded twice with the same options: llama-cpp-python's own `Llama`, whose grammar checks all 262,144 tokens
at every step, and the provider's `GrammarCheckingLlama` (agent/gateway/grammar_sampler.py), which checks
the model's best token, then its best 512, and the whole vocabulary only when all are rejected. The two
are alternated call by call; the outputs must be identical. Figures: per call kind, median seconds both
ways and their ratio; over all calls, the median ratio and the share of steps that needed the whole
vocabulary. The last line is one JSON object with the figures.

    .venv/bin/python bench/json_calls.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # tests.foundation.structured_calls: the test's calls


def main() -> None:
    import llama_cpp

    from agent.gateway.gguf import resolve_gguf
    from agent.gateway.grammar_sampler import GrammarCheckingLlama
    from tests.foundation.structured_calls import structured_calls

    models = Path(tempfile.mkdtemp(prefix="radassist-bench-json-"))
    path = str(resolve_gguf("bundled/gemma3-270m", base=None, model_dir=models))
    options: dict[str, Any] = {"n_ctx": 2048, "chat_format": "gemma", "seed": 7, "verbose": False}
    both = {
        "whole vocabulary": llama_cpp.Llama(path, **options),
        "best first": GrammarCheckingLlama(path, **options),
    }

    def call(llm: Any, messages: list[dict[str, str]], schema: dict[str, Any]) -> tuple[float, str, int]:
        llm.reset()  # each call evaluates its whole prompt, as a first call does
        start = time.perf_counter()
        out = llm.create_chat_completion(
            messages,
            max_tokens=128,
            temperature=0.0,
            response_format={"type": "json_object", "schema": schema},
        )
        return (
            time.perf_counter() - start,
            out["choices"][0]["message"]["content"],
            out["usage"]["completion_tokens"],
        )

    seconds: dict[tuple[str, str], list[float]] = {}
    tokens: dict[str, int] = {}
    steps = whole = 0
    for _ in range(ROUNDS):
        for kind, (messages, schema) in structured_calls().items():
            outputs = {}
            for way, llm in both.items():
                elapsed, outputs[way], tokens[kind] = call(llm, messages, schema)
                seconds.setdefault((kind, way), []).append(elapsed)
            assert len(set(outputs.values())) == 1, f"{kind}: the outputs differ: {outputs}"
            sampler = both["best first"].last_sampler
            steps, whole = steps + sampler.steps, whole + sampler.whole_vocabulary

    figures: dict[str, Any] = {"rounds": ROUNDS, "calls": {}}
    ratios = []
    for kind in structured_calls():
        full = statistics.median(seconds[(kind, "whole vocabulary")])
        best = statistics.median(seconds[(kind, "best first")])
        ratios += [
            b / f
            for f, b in zip(seconds[(kind, "whole vocabulary")], seconds[(kind, "best first")], strict=True)
        ]
        figures["calls"][kind] = {
            "tokens": tokens[kind],
            "whole_vocabulary_s": round(full, 3),
            "best_first_s": round(best, 3),
        }
        print(
            f"{kind:<22} {tokens[kind]:3} tokens: whole vocabulary {full:.3f} s, best first {best:.3f} s ({best / full:.2f}x)"
        )
    figures["median_ratio"] = round(statistics.median(ratios), 3)
    figures["whole_vocabulary_step_share"] = round(whole / steps, 3)
    print(
        f"median ratio (best first / whole vocabulary), call by call: {figures['median_ratio']:.2f}; "
        f"steps needing the whole vocabulary: {whole}/{steps}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
