"""`radassist eval`'s own overhead per case: everything the evaluation adds to the deployment's work.

Real parts: embedded PostgreSQL with the shipped corpus, MiniLM, the tools, the gate and (for a few answer
turns) the bundled GGUF drafting. Each shipped case's deployment output is computed once (classification,
report reading, routing, retrieval, a real turn); then the suite functions run again with that output
replayed instantly, so their time is the evaluation's alone: judging, the outcome and its trace, the
answer metrics. Writing results.json and rendering report.html are timed on the full run's results and
shared over its cases. Model time and the deployment's own work are excluded by construction; a real
turn's time is printed beside it for scale. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

ANSWER_TURNS = 8  # real turns recorded (the model drafts), then replayed
REPEATS = 5


def words(item: Any) -> str:
    """A case's input: a report or finding text, or a question."""
    return str(getattr(item.case, "text", None) or item.case.question)


def _median_us(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e6, 1)


class Replay:
    """Stands in for the deployment part a suite calls, returning what it returned for the same case."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    async def route(self, question: str, **_: Any) -> Any:
        return self.answers[question]

    def get(self, name: str) -> Any:
        return self

    async def arun(self, args: dict[str, Any], ctx: Any = None) -> Any:
        return self.answers[args["query"]]

    async def ask(self, question: str, **_: Any) -> Any:
        return self.answers[question]


async def timed(call: Any, repeats: int = REPEATS) -> float:
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        if asyncio.iscoroutine(result):
            await result
        best.append(time.perf_counter() - start)
    return statistics.median(best)


async def main() -> None:
    os.environ.setdefault("RADASSIST_HOME", tempfile.mkdtemp(prefix="radassist-bench-"))
    from langgraph.checkpoint.memory import InMemorySaver

    import tools.classify.findings as findings_module
    import tools.classify.report as report_module
    from agent.assistant import Assistant, build_context
    from agent.eval import report, suites
    from agent.eval.cases import shipped
    from agent.eval.run import Options, Results
    from agent.graph import build_graph
    from agent.runtime import open_runtime

    print(f"RADASSIST_HOME={os.environ['RADASSIST_HOME']}")
    per_suite: dict[str, list[float]] = {}
    outcomes: list[Any] = []
    turn_seconds: list[float] = []
    async with open_runtime() as runtime:
        agent_context = await build_context(runtime)
        registry, context = runtime.registry, runtime.tool_context

        cases = shipped("classification")
        real: dict[str, Any] = {}
        for c in cases:
            try:
                real[words(c)] = findings_module.classify_text(words(c), registry=registry)
            except findings_module.FindingsError as exc:  # no system: replayed as raised
                real[words(c)] = exc

        def replayed_classify(text: str, **_: Any) -> Any:
            if isinstance(real[text], Exception):
                raise real[text]
            return real[text]

        original = findings_module.classify_text
        findings_module.classify_text = replayed_classify
        try:
            per_suite["classification"] = [
                await timed(lambda c=c: suites.classification(c, registry)) for c in cases
            ]
            outcomes += [suites.classification(c, registry) for c in cases]
        finally:
            findings_module.classify_text = original

        cases = shipped("findings")
        readings = {words(c): report_module.read_report(words(c), registry=registry) for c in cases}
        original_read = report_module.read_report
        report_module.read_report = lambda text, **_: readings[text]  # type: ignore[assignment]
        try:
            per_suite["findings"] = [await timed(lambda c=c: suites.findings(c, registry)) for c in cases]
            outcomes += [suites.findings(c, registry) for c in cases]
        finally:
            report_module.read_report = original_read

        cases = shipped("routing")
        gate = Replay({words(c): await agent_context.gate.route(words(c)) for c in cases})
        per_suite["routing"] = [await timed(lambda c=c: suites.routing(c, gate)) for c in cases]
        outcomes += [await suites.routing(c, gate) for c in cases]

        cases = shipped("retrieval")
        search = registry.get("guideline_search")
        hits = {words(c): await search.arun({"query": words(c), "k": 5}, context) for c in cases}
        replayed_search: Any = Replay(hits)  # a registry whose guideline_search answers from `hits`
        per_suite["retrieval"] = [
            await timed(lambda c=c: suites.retrieval(c, replayed_search, context)) for c in cases
        ]
        outcomes += [await suites.retrieval(c, replayed_search, context) for c in cases]

        cases = shipped("answers")[:ANSWER_TURNS]
        runtime.gateway.warm("expert-chest")
        recorder = suites.DraftRecorder(agent_context.llm, agent_context.experts)
        drafting = replace(agent_context, draft_with_demo_models=True, llm=recorder)
        assistant = Assistant(drafting, build_graph(checkpointer=InMemorySaver()))
        turns, drafts = {}, {}
        for c in cases:
            start = time.perf_counter()
            turns[words(c)] = await assistant.ask(words(c))
            turn_seconds.append(time.perf_counter() - start)
            drafts[words(c)], _ = recorder.take()
        replay = suites.DraftRecorder(recorder, agent_context.experts)  # never called: drafts are set below

        async def ask(question: str, **_: Any) -> Any:
            replay._drafts = list(drafts[question].items())  # as if the model had streamed them again
            return turns[question]

        replayed = SimpleNamespace(context=SimpleNamespace(llm=replay, registry=registry), ask=ask)
        per_suite["answers"] = [
            await timed(lambda c=c: suites.answer(c, replayed, None, True)) for c in cases
        ]
        outcomes += [await suites.answer(c, replayed, None, True) for c in cases]

    directory = Path(tempfile.mkdtemp(prefix="radassist-bench-eval-"))
    results = Results(directory / "results.json", {"started_at": "bench"}, None, Options())
    for outcome in outcomes:
        results.data["cases"].append(outcome.as_json())
    save = await timed(lambda: results.save(complete=True), repeats=3)
    render = await timed(lambda: report.render(results.data), repeats=3)
    n = len(outcomes)
    judged = sum(sum(v) for v in per_suite.values())  # the suites' own time, all cases
    saves_per_run = len(per_suite)  # one write per suite (plus one every 10 s on long runs)
    figures = {
        **{f"{suite}_us": _median_us(v) for suite, v in per_suite.items()},
        "results_write_ms": round(save * 1000, 2),
        "report_render_ms": round(render * 1000, 1),
        "cases": n,
        "overhead_per_case_ms": round((judged + saves_per_run * save + render) / n * 1000, 3),
        "real_answer_turn_ms": round(statistics.median(turn_seconds) * 1000, 1),
        "results_json_kb": round((directory / "results.json").stat().st_size / 1024, 1),
    }
    for suite, values in per_suite.items():
        print(
            f"{suite:<15} {len(values):3} cases, eval's own time per case: median {_median_us(values):9.1f} µs"
        )
    print(
        f"results.json ({n} cases): {figures['results_write_ms']} ms; report.html: {figures['report_render_ms']} ms"
    )
    print(f"a real answer turn (bundled model drafting): median {figures['real_answer_turn_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
