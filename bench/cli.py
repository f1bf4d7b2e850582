"""Wall time per CLI command, cold and warm, and the share spent before the command's own work.

Each command runs as a fresh process, as a user runs it. `cold` is the command's first run on a new
data directory of its own (database creation, migrations, corpus embedding, gate embeddings, model
assembly: whatever that command's first run costs); `warm` is the median of the runs after it. The command marks where its own work starts
(`agent.progress.ready`, enabled by RADASSIST_TRACE_STARTUP); everything before that is start-up.
`ask` runs with drafting off (the bundled model is a demo model), the target configuration, as an account
made before its cold run (a conversation belongs to an account; that first command creates the database).

    .venv/bin/python bench/cli.py [--runs 5]

Targets on 2 cores: search warm <= 4 s, ask warm (drafting off) <= 6 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RADASSIST = str(Path(sys.prefix) / "bin" / "radassist")
COMMANDS = {
    "classify --text": ["classify", "fleischner", "--text", "7 x 5 mm solid nodule RUL, former smoker"],
    "search": ["search", "contrast premedication regimen", "--k", "3"],
    "ask": ["ask", "--user", "bench", "6 mm solid nodule, smoker, what follow-up?"],
}
SETUP = {"ask": ["users", "add", "bench", "--password-stdin"]}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, seconds before the command's own work started) of one fresh process."""
    start = time.time()
    done = subprocess.run([RADASSIST, *args], env=env, capture_output=True, text=True, timeout=900)
    wall = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {done.stderr[-500:]}")
    marks = [line for line in done.stderr.splitlines() if line.startswith("radassist-startup: ready at ")]
    if not marks:
        raise SystemExit(f"{args[0]} printed no start-up mark")
    return wall, float(marks[0].rsplit(" ", 1)[1]) - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="warm runs per command")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name, command in COMMANDS.items():
        with tempfile.TemporaryDirectory(prefix="radassist-bench-cli-") as home:
            env = {**os.environ, "RADASSIST_HOME": home, "RADASSIST_TRACE_STARTUP": "1"}
            env.pop("DATABASE_URL", None)
            env.pop("RADASSIST_DRAFT_WITH_DEMO_MODELS", None)
            if name in SETUP:
                subprocess.run([RADASSIST, *SETUP[name]], env=env, input="timing-run-password-7\n", text=True,
                               capture_output=True, check=True, timeout=900)  # fmt: skip
            cold_wall, cold_before = timed(command, env)
            warm = [timed(command, env) for _ in range(args.runs)]
        walls = [w for w, _ in warm]
        results[name] = {
            "cold_s": round(cold_wall, 2),
            "cold_share_before_own_work": round(cold_before / cold_wall, 3),
            "warm_median_s": round(statistics.median(walls), 2),
            "warm_before_own_work_median_s": round(statistics.median(b for _, b in warm), 2),
            "warm_share_before_own_work": round(statistics.median(b / w for w, b in warm), 3),
        }
        print(f"{name:<16} cold {cold_wall:6.2f} s   warm median {statistics.median(walls):5.2f} s"
              f"   start-up share (warm) {results[name]['warm_share_before_own_work']:.0%}")  # fmt: skip
    results["targets"] = {"search_warm_s": 4.0, "ask_warm_drafting_off_s": 6.0}
    results["met"] = {
        "search": results["search"]["warm_median_s"] <= 4.0,
        "ask": results["ask"]["warm_median_s"] <= 6.0,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
