"""Which passages a turn finds, asked through the agent: the retrieval questions of tests/data, each with the
section that answers it, on the shipped corpus (real MiniLM, embedded PostgreSQL, a scratch RADASSIST_HOME),
no model drafting (the tools and the search only).

Two ways to build the turn's search (agent.graph.supporting_query), on the same questions:
- any result (the way before): with results of one system, search that system's guideline for the message,
  the guideline and the category, whether or not a category was computed;
- computed category (shipped): only a computed category confines the search to its system, and the search
  also names the category's management.

Figures: how often the expected section is the first passage, and among the first two (what a classification
turn's draft is shown). The last line is one JSON object with the figures.

    .venv/bin/python bench/supporting_passages.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.knowledge.question_sets: the test's own question sets


def any_result(message: str, results: list[Any]) -> tuple[str, str | None]:
    """The search before computed categories decided it (kept here to compare against)."""
    system = results[0].system if len({r.system for r in results}) == 1 else None
    if system:
        return f"{message} {results[0].guideline} {results[0].category or ''}".strip(), system
    return message, None


async def main() -> None:
    home = tempfile.mkdtemp(prefix="radassist-bench-support-")
    os.environ["RADASSIST_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("RADASSIST_DATABASE_URL", None)
    from langgraph.checkpoint.memory import InMemorySaver

    import agent.graph as graph
    from agent.assistant import Assistant, build_context
    from agent.runtime import open_runtime
    from tests.knowledge.question_sets import load_file

    questions = load_file("retrieval_questions.yaml")
    shipped = graph.supporting_query
    figures: dict[str, Any] = {"questions": len(questions)}
    try:
        async with open_runtime() as runtime:
            context = await build_context(runtime)
            assistant = Assistant(context, graph.build_graph(checkpointer=InMemorySaver()), pool=runtime.pool)
            for name, rule in (("any_result", any_result), ("computed_category", shipped)):
                graph.supporting_query = rule  # the retrieve node looks it up on every turn
                first = in_two = 0
                for q in questions:
                    result = await assistant.ask(q["question"])
                    search = next(c for c in result.tool_calls if c["tool"] == "guideline_search")
                    hits = (search.get("output") or {}).get("hits", [])[:2]
                    right = [h["source"] == q["source"] and q["section"] in h["heading_path"] for h in hits]
                    first += bool(right and right[0])
                    in_two += any(right)
                figures[f"{name}_first"] = first
                figures[f"{name}_in_first_two"] = in_two
                print(f"{name:<17}: expected section first {first}/{len(questions)}, "
                      f"in the first two {in_two}/{len(questions)}")  # fmt: skip
    finally:
        graph.supporting_query = shipped
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
