"""Figures for the project's report set (tests/data/reports.yaml): per-finding and branch accuracy, read by
the tools (`read_report`) and through the agent (each excerpt one turn: scripted model, fake retrieval).

The test `tests/classify/test_report_set.py` asserts the same figures; this prints them, with every miss.
The last line is one JSON object.

    .venv/bin/python bench/report_set.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.agent.report_set import run_set_through_agent
from tests.classify.test_report_set import HELD_OUT, _load, run_set


def main() -> int:
    score, ignored = run_set()
    print(f"reports: {len(_load())}; findings: {score.findings}")
    print(
        f"per-finding accuracy (system and category): {score.finding_accuracy:.3f} ({score.right}/{score.findings})"
    )
    print(f"system accuracy: {score.system_accuracy:.3f}")
    print(f"branch accuracy: {score.branch_accuracy:.3f} ({score.branches_right}/{score.branches})")
    print(f"wrong stated categories: {len(score.wrong_stated)}")
    for line in score.wrong_stated + score.misses + ignored:
        print("  -", line)
    held, held_ignored = run_set(HELD_OUT)
    print(
        f"held-out set: per-finding accuracy {held.finding_accuracy:.3f} ({held.right}/{held.findings}), "
        f"branch accuracy {held.branch_accuracy:.3f}, wrong stated {len(held.wrong_stated)}"
    )
    for line in held.wrong_stated + held.misses + held_ignored:
        print("  -", line)
    agent, agent_held = run_set_through_agent(), run_set_through_agent(HELD_OUT)
    same = (agent.right, agent.misses, agent_held.right, agent_held.misses) == (
        score.right, score.misses, held.right, held.misses
    )  # fmt: skip
    print(
        f"through the agent: per-finding accuracy {agent.finding_accuracy:.3f} ({agent.right}/{agent.findings}), "
        f"branch accuracy {agent.branch_accuracy:.3f}, wrong stated {len(agent.wrong_stated)}; held-out "
        f"{agent_held.finding_accuracy:.3f} ({agent_held.right}/{agent_held.findings}); same misses as the tools: {same}"
    )
    print(
        json.dumps(
            {
                "agent_finding_accuracy": round(agent.finding_accuracy, 3),
                "agent_branch_accuracy": round(agent.branch_accuracy, 3),
                "agent_wrong_stated": len(agent.wrong_stated),
                "agent_held_out_finding_accuracy": round(agent_held.finding_accuracy, 3),
                "agent_same_as_tools": same,
                "held_out_finding_accuracy": round(held.finding_accuracy, 3),
                "held_out_wrong_stated": len(held.wrong_stated),
                "reports": len(_load()),
                "findings": score.findings,
                "finding_accuracy": round(score.finding_accuracy, 3),
                "system_accuracy": round(score.system_accuracy, 3),
                "branch_accuracy": round(score.branch_accuracy, 3),
                "wrong_stated": len(score.wrong_stated),
                "ignored_misses": len(ignored),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
