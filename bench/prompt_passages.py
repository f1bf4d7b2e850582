"""Does a draft's prompt show the answer? Guideline questions whose prompt passages contain the answer key.

On the shipped corpus (real all-MiniLM-L6-v2, embedded PostgreSQL, a scratch RADASSIST_HOME), every question
of tests/data with a key phrase is searched as the agent searches it; the first 2 and 3 passages are then
cut as a draft's prompt cuts them (agent/prompts.prompt_quote), two ways, at the same length budget:

- opening: the opening whole sentences of the search's quote (the way before sentence scores);
- relevance (shipped): the run of whole sentences with the most relevance, by the search's sentence scores.

Figures: the share of questions whose prompt passages contain the key, and the median prompt-passage length in
characters. The last line is one JSON object with the figures.

    .venv/bin/python bench/prompt_passages.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import offline

offline.apply()  # an entry point: every library stays offline and quiet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.knowledge.question_sets: the test's own question sets


async def main() -> None:
    home = tempfile.mkdtemp(prefix="radassist-bench-prompt-")
    os.environ["RADASSIST_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("RADASSIST_DATABASE_URL", None)
    from agent.prompts import PASSAGE_CHARS, prompt_quote
    from agent.runtime import open_runtime
    from tests.knowledge.question_sets import contains, load_questions
    from tools.knowledge.embedder import Embedder
    from tools.knowledge.search import search

    questions = [q for q in load_questions() if q.key]
    found: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        async with open_runtime() as runtime:
            embedder = Embedder(runtime.gateway)
            for q in questions:
                result = await search(runtime.pool, embedder, q.question, k=5)
                found.append((str(q.key), [h.model_dump() for h in result.hits]))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    figures: dict[str, Any] = {"questions": len(found), "passage_chars": PASSAGE_CHARS}
    for shown in (2, 3):
        for name in ("opening", "relevance"):
            hits_with_key, lengths = 0, []
            for key, hits in found:
                cut = [dict(h, sentence_scores=[]) if name == "opening" else h for h in hits[:shown]]
                text = "\n".join(prompt_quote(h) for h in cut)
                hits_with_key += contains(text, key)
                lengths.append(len(text))
            share, chars = hits_with_key / len(found), statistics.median(lengths)
            figures[f"{name}_{shown}_key_share"] = round(share, 3)
            figures[f"{name}_{shown}_median_chars"] = chars
            print(f"{shown} passages, {name:<9}: key in prompt {hits_with_key}/{len(found)} = {share:.3f}, "
                  f"median {chars:.0f} chars")  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
