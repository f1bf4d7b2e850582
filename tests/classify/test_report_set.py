"""The project's own report set (tests/data/reports.yaml): every finding of multi-finding excerpts.

Figures (printed by `.venv/bin/python bench/report_set.py`, asserted below):
* per-finding accuracy: system and category (or the expected branches / not-applicable) right;
* branch accuracy: of the branches the set expects, how many the reading offers;
* wrong stated categories: a stated category that differs from the expected one. Must be zero: a tool may ask,
  never state a wrong category.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import load_tools
from tools.classify.report import Finding, ReportReading, read_report

REPORTS = Path(__file__).resolve().parents[1] / "data" / "reports.yaml"
HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "reports_heldout.yaml"
MIN_HELD_OUT_ACCURACY = 0.75  # first run (before any fix): 11/14 = 0.79
MIN_FINDING_ACCURACY = 0.9  # the set's figure at the time of writing is printed by the script; see the report
MIN_BRANCH_ACCURACY = 0.9


def _load(path: Path = REPORTS) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass
class Score:
    findings: int = 0
    right: int = 0
    system_right: int = 0
    branches: int = 0
    branches_right: int = 0
    wrong_stated: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def finding_accuracy(self) -> float:
        return self.right / self.findings

    @property
    def system_accuracy(self) -> float:
        return self.system_right / self.findings

    @property
    def branch_accuracy(self) -> float:
        return self.branches_right / self.branches if self.branches else 1.0


def _offered(actual: Finding, expected: dict[str, Any]) -> bool:
    return any(b.if_ == expected["if"] and b.category == expected["category"] for b in actual.branches)


def score_report(case: dict[str, Any], reading: ReportReading, score: Score) -> None:
    """Add one report's findings to the score (findings are matched in report order)."""
    for i, expected in enumerate(case["findings"]):
        score.findings += 1
        where = f"{case['id']} #{i + 1}"
        actual = reading.findings[i] if i < len(reading.findings) else None
        if actual is None:
            score.misses.append(f"{where}: not found")
            score.branches += len(expected.get("branches", []))
            continue
        system_ok = actual.system == expected["system"]
        score.system_right += system_ok
        want = expected.get("category")
        if actual.category is not None and (not system_ok or actual.category != want):
            score.wrong_stated.append(
                f"{where}: stated {actual.system} {actual.category!r}, expected {want!r}"
            )
        branches = expected.get("branches", [])
        offered = [b for b in branches if _offered(actual, b)] if system_ok else []
        score.branches += len(branches)
        score.branches_right += len(offered)
        if want is not None:
            ok = system_ok and actual.category == want
        elif expected.get("not_applicable"):
            ok = system_ok and actual.not_applicable is not None
        else:
            ok = system_ok and actual.category is None and len(offered) == len(branches)
        score.right += ok
        if not ok:
            shown = actual.category_text() if actual.not_applicable is None else "not applicable"
            score.misses.append(f"{where}: got {actual.system} {shown!r}, expected {want or branches}")


def run_set(path: Path = REPORTS) -> tuple[Score, list[str]]:
    registry = load_tools()
    score, ignored_misses = Score(), []
    for case in _load(path):
        reading = read_report(case["text"], registry=registry)
        score_report(case, reading, score)
        for words in case.get("ignored", []):
            if not any(words.lower() in i.text.lower() for i in reading.ignored):
                ignored_misses.append(f"{case['id']}: {words!r} not among ignored")
        extra = reading.findings[len(case["findings"]) :]
        score.misses += [f"{case['id']}: unexpected finding {f.system} {f.category_text()!r}" for f in extra]
    return score, ignored_misses


@pytest.fixture(scope="module")
def result() -> tuple[Score, list[str]]:
    return run_set()


def test_report_set_is_large_and_covers_the_brief() -> None:
    cases = _load()
    text = " ".join(c["text"] for c in cases)
    assert len(cases) >= 40
    for words in (
        "RUL",
        "LLL",
        "RLL",
        "ubcentimeter",
        "SPN",
        "AML",
        " cm",
        " mm",
        " x ",
        ".5",
        "No ",
        "prior",
    ):
        assert words in text, words
    no_lung_word = [
        c for c in cases if "lung" not in c["text"].lower() and "pulmonary" not in c["text"].lower()
    ]
    assert any(f["system"] == "fleischner" for c in no_lung_word for f in c["findings"])


def test_never_a_wrong_stated_category(result: tuple[Score, list[str]]) -> None:
    score, _ = result
    assert score.wrong_stated == []


def test_per_finding_accuracy(result: tuple[Score, list[str]]) -> None:
    score, _ = result
    assert score.finding_accuracy >= MIN_FINDING_ACCURACY, score.misses


def test_system_accuracy(result: tuple[Score, list[str]]) -> None:
    score, _ = result
    assert score.system_accuracy >= MIN_FINDING_ACCURACY


def test_branch_accuracy(result: tuple[Score, list[str]]) -> None:
    score, _ = result
    assert score.branches >= 8
    assert score.branch_accuracy >= MIN_BRANCH_ACCURACY


def test_negated_resolved_and_normal_findings_are_ignored(result: tuple[Score, list[str]]) -> None:
    _, ignored_misses = result
    assert ignored_misses == []


def test_held_out_reports() -> None:
    """Excerpts written after tuning: never a wrong stated category, and most findings right."""
    score, ignored_misses = run_set(HELD_OUT)
    assert score.wrong_stated == []
    assert score.finding_accuracy >= MIN_HELD_OUT_ACCURACY, score.misses
    assert ignored_misses == []
