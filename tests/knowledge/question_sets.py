"""The retrieval question sets of tests/data and the figures computed on them.

Shared by tests/knowledge/test_retrieval_quality.py and bench/retrieval_quality.py, so the test and the
bench measure the same thing. Three files:

- retrieval_questions.yaml: questions across the whole library, classification systems included, each
  with the source file and the section heading that answers it;
- guideline_questions.yaml: questions no classification tool answers, each also with a key phrase the
  answering passage must contain;
- unanswerable_questions.yaml: questions the library cannot answer (nonsense, other specialties, billing,
  radiology outside the library, nothing medical).

The split is fixed by position, before any tuning: in every file the entries at even positions (0, 2, ...)
tune the ranking weights and the relevance floor; the entries at odd positions are held out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parents[1] / "data"
ANSWERABLE_FILES = ("retrieval_questions.yaml", "guideline_questions.yaml", "guideline_questions_2.yaml")
UNANSWERABLE_FILES = ("unanswerable_questions.yaml", "unanswerable_questions_2.yaml")
SPLITS = ("tune", "held_out")
K = 5

TARGETS = {
    "top1_source": 0.85,
    "recall_at_5": 0.95,
    "cannot_answer_precision": 0.9,
    "cannot_answer_recall": 0.9,
}


@dataclass(frozen=True)
class Question:
    question: str
    origin: str  # the file it comes from
    position: int
    source: str | None = None  # None: the library cannot answer it
    section: str | None = None
    key: str | None = None
    kind: str | None = None  # what kind of unanswerable question

    @property
    def split(self) -> str:
        return SPLITS[self.position % 2]

    @property
    def answerable(self) -> bool:
        return self.source is not None


def load_file(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    assert isinstance(data, list), f"{name} must be a YAML list"
    return data


def load_questions() -> list[Question]:
    questions = [
        Question(origin=name, position=i, **entry)
        for name in (*ANSWERABLE_FILES, *UNANSWERABLE_FILES)
        for i, entry in enumerate(load_file(name))
    ]
    return questions


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def contains(text: str, key: str) -> bool:
    return normalise(key) in normalise(text)


@dataclass(frozen=True)
class Outcome:
    """What the search returned for one question: the hits that cleared the floor, best first."""

    question: Question
    hits: list[Any]  # GuidelineHit-like: source, heading_path, text, quote

    @property
    def refused(self) -> bool:
        return not self.hits

    @property
    def top1_source(self) -> bool:
        return bool(self.hits) and self.hits[0].source == self.question.source

    @property
    def top1_section(self) -> bool:
        return self.top1_source and self.question.section in self.hits[0].heading_path

    @property
    def found_in_5(self) -> bool:
        q = self.question
        return any(h.source == q.source and q.section in h.heading_path for h in self.hits[:K])

    @property
    def key_first(self) -> bool:
        return (
            bool(self.hits)
            and self.question.key is not None
            and contains(self.hits[0].text, self.question.key)
        )

    @property
    def key_first_quoted(self) -> bool:
        return (
            bool(self.hits)
            and self.question.key is not None
            and contains(self.hits[0].quote, self.question.key)
        )


def figures(outcomes: list[Outcome]) -> dict[str, float | int]:
    """Top-1 source accuracy, recall@5 (source and section), the share of first hits containing the key
    phrase (passage, and quote), and cannot-answer precision and recall (a refusal is an empty result)."""
    answerable = [o for o in outcomes if o.question.answerable]
    keyed = [o for o in answerable if o.question.key is not None]
    refused = [o for o in outcomes if o.refused]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    correct_refusals = sum(not o.question.answerable for o in refused)

    def share(count: int, total: int) -> float:
        return count / total if total else 1.0

    return {
        "answerable": len(answerable),
        "with_key": len(keyed),
        "unanswerable": len(unanswerable),
        "top1_source": share(sum(o.top1_source for o in answerable), len(answerable)),
        "top1_section": share(sum(o.top1_section for o in answerable), len(answerable)),
        "recall_at_5": share(sum(o.found_in_5 for o in answerable), len(answerable)),
        "key_in_first_passage": share(sum(o.key_first for o in keyed), len(keyed)),
        "key_in_first_quote": share(sum(o.key_first_quoted for o in keyed), len(keyed)),
        "cannot_answer_precision": share(correct_refusals, len(refused)),
        "cannot_answer_recall": share(correct_refusals, len(unanswerable)),
    }


def figures_by_split(outcomes: list[Outcome]) -> dict[str, dict[str, float | int]]:
    return {
        "all": figures(outcomes),
        **{split: figures([o for o in outcomes if o.question.split == split]) for split in SPLITS},
    }


def misses(outcomes: list[Outcome]) -> list[str]:
    """One line per question answered wrongly: refused, wrong source first, or right section not in 5."""
    lines = []
    for o in outcomes:
        q = o.question
        got = [f"{h.source}/{h.heading_path[-1] if h.heading_path else ''}" for h in o.hits[:K]]
        if not q.answerable and not o.refused:
            lines.append(f"  [{q.split}] answered an unanswerable question: {q.question!r} -> {got[:1]}")
        elif q.answerable and (o.refused or not o.top1_source or not o.found_in_5):
            lines.append(f"  [{q.split}] {q.source} / {q.section}: {q.question!r} -> {got or 'refused'}")
    return lines
