"""Per-turn latency of the agent, broken down, against raw llama-cpp-python generation; gate accuracy.

Real parts: embedded PostgreSQL with the shipped corpus, MiniLM, the bundled GGUF, the PostgreSQL
checkpointer. For each question (alternated with a raw-generation run of the same number of tokens):
gate, retrieval, tools, verification, model generation (every model call of the turn) and
checkpointing. Targets: everything except model generation <= 150 ms median; a full turn <= 1.3 x
raw generation of the same number of tokens. `--repeat N` asks the questions N times (each time in a new
conversation) and takes the medians over every turn, since raw generation alone varies by about 20%
between runs on a shared 2-core machine. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

QUESTIONS = [
    "6 mm solid nodule, smoker, what follow-up?",
    "TI-RADS for a 1.4 cm solid hypoechoic thyroid nodule with punctate echogenic foci?",
    "LI-RADS for a 25 mm observation with nonrim APHE, nonperipheral washout and an enhancing capsule in cirrhosis?",
    "What are the MRI safety zones?",
    "How should a patient with a prior moderate reaction to iodinated contrast be premedicated?",
    "Peripheral zone lesion, DWI score 3, DCE positive: PI-RADS?",
    "Cystic renal mass with a 3 mm smooth enhancing septum on CT: Bosniak class?",
    "12 mm adrenal nodule measuring 8 HU on unenhanced CT, what next?",
]


def timed_saver(pool: Any) -> Any:
    """The PostgreSQL checkpointer, adding up the time spent writing checkpoints."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    class TimedSaver(AsyncPostgresSaver):
        seconds = 0.0

        async def aput(self, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await super().aput(*args, **kwargs)
            finally:
                TimedSaver.seconds += time.perf_counter() - start

        async def aput_writes(self, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await super().aput_writes(*args, **kwargs)
            finally:
                TimedSaver.seconds += time.perf_counter() - start

    return TimedSaver(pool)


async def gate_accuracy(gate: Any) -> tuple[float, int]:
    import yaml

    from agent.settings import REPO_ROOT

    questions = yaml.safe_load((REPO_ROOT / "tests/data/routing_questions.yaml").read_text())
    hits = 0
    for q in questions:
        chosen = (await gate.route(q["question"])).chosen[0]
        hits += chosen in {q["expected"], *(q.get("also_ok") or [])}
    return hits / len(questions), len(questions)


def raw_generation_seconds(llm: Any, tokens: int) -> float:
    """Time llama-cpp-python itself needs to evaluate a short prompt and generate `tokens` tokens.

    `Llama.generate` with the drafts' sampling (temperature 0.2 and llama-cpp-python's top-k, top-p and
    min-p), taking `tokens` tokens whatever they are: `create_completion` would need a logit bias against
    end-of-sequence to make exactly `tokens`, and llama-cpp-python applies one with a Python function over
    the 262,144 logits at every token (about 4% of the time here), a cost the agent's calls never pay.
    On the provider's compute thread, where the agent's own calls run: a call from any other thread
    would give llama.cpp a second OpenMP team and slow both (agent/gateway/llamacpp.py explains)."""
    from agent.gateway.llamacpp import on_compute_thread

    def generate() -> float:
        start = time.perf_counter()
        llm.set_seed(1)
        prompt = llm.tokenize(b"Summarise the follow-up of incidental lung nodules.")
        made: list[int] = []
        for token in llm.generate(prompt, temp=0.2, top_k=40, top_p=0.95, min_p=0.05, reset=True):
            made.append(token)
            if len(made) == tokens:
                break
        llm.detokenize(made)
        return time.perf_counter() - start

    return on_compute_thread(generate)


async def main(repeat: int) -> None:
    os.environ.setdefault("RADASSIST_HOME", tempfile.mkdtemp(prefix="radassist-bench-"))
    from agent.assistant import Assistant, build_context, prepare_drafting_experts
    from agent.db import open_checkpoint_pool
    from agent.graph import build_graph
    from agent.runtime import open_runtime

    print(f"RADASSIST_HOME={os.environ['RADASSIST_HOME']}")
    async with open_runtime() as runtime:
        pool = open_checkpoint_pool(runtime.database_url)
        await pool.open(wait=True)
        timed = timed_saver(pool)
        await timed.setup()
        context = await build_context(runtime)
        assistant = Assistant(context, build_graph(checkpointer=timed), pool=runtime.pool)
        params = runtime.gateway.config.entry("default").litellm_params
        llm = runtime.gateway.llamacpp.load(params.model, params.model_dump()).llm

        for prepared in prepare_drafting_experts(
            runtime.gateway, context
        ):  # as the chat server does at start-up
            prepared.result()
        accuracy, n_routing = await gate_accuracy(context.gate)
        print(f"gate accuracy: {accuracy:.3f} on {n_routing} routing questions")
        await assistant.ask("warm-up: 7 mm solid nodule, smoker")

        rows = []
        for question in QUESTIONS * repeat:
            before = timed.seconds
            start = time.perf_counter()
            result = await assistant.ask(question)  # a new conversation each time
            total = time.perf_counter() - start
            prov = result.provenance
            t = prov["timings_ms"]
            model_ms = sum(c["ms"] for c in prov["model_calls"])
            tokens = prov["model_tokens"]
            raw = raw_generation_seconds(llm, tokens) if tokens else 0.0
            row = {
                "gate_ms": t.get("gate", 0.0),
                "retrieval_ms": t.get("retrieval", 0.0),
                "tools_ms": t.get("tools", 0.0),  # includes a gap-filling model call when inputs are missing
                "verification_ms": t.get("verification", 0.0),
                "model_ms": model_ms,
                "checkpoint_ms": (timed.seconds - before) * 1000,
                "total_ms": total * 1000,
                "non_generation_ms": total * 1000 - model_ms,
                "tokens": tokens,
                "raw_generation_ms": raw * 1000,
                "ratio": (total / raw) if raw else None,
            }
            rows.append(row)
            print(
                f"{question[:60]:<60} total {row['total_ms']:7.0f} ms  model {model_ms:7.0f} ms "
                f"({tokens} tok)  non-gen {row['non_generation_ms']:5.0f} ms  raw {row['raw_generation_ms']:7.0f} ms"
                f"  ratio {row['ratio'] or 0:.2f}  [{result.verification['verdict']}]"
            )
        await pool.close()

    def median(key: str) -> float:
        values = [r[key] for r in rows if r[key] is not None]
        return round(statistics.median(values), 2) if values else 0.0

    figures: dict[str, Any] = {
        "gate_ms": median("gate_ms"),
        "retrieval_ms": median("retrieval_ms"),
        "tools_ms": median("tools_ms"),
        "verification_ms": median("verification_ms"),
        "checkpoint_ms": median("checkpoint_ms"),
        "model_generation_ms": median("model_ms"),
        "non_generation_ms": median("non_generation_ms"),
        "turn_ms": median("total_ms"),
        "raw_generation_ms": median("raw_generation_ms"),
        "turn_to_raw_ratio": median("ratio"),
        "gate_accuracy": round(accuracy, 3),
        "routing_questions": n_routing,
        "turns": len(rows),
        "repeat": repeat,
        "turn_to_raw_ratio_per_round": [
            round(statistics.median(r["ratio"] for r in rows[i : i + len(QUESTIONS)] if r["ratio"]), 2)
            for i in range(0, len(rows), len(QUESTIONS))
        ],
    }
    figures["targets_met"] = figures["non_generation_ms"] <= 150 and figures["turn_to_raw_ratio"] <= 1.3
    print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="ask the questions this many times")
    asyncio.run(main(parser.parse_args().repeat))
