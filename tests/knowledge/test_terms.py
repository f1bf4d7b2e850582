"""Full-text term choice: rare words first, common ones dropped at scale, quoting that cannot break a query."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tools.knowledge.stats import ElementStats
from tools.knowledge.terms import choose_terms, tsquery_text

STATS = ElementStats({"nodul": 0.30, "mm": 0.25, "solid": 0.05, "smoker": 0.01}, floor=0.001, rows=100_000)


def test_rarest_terms_are_kept_within_the_row_budget() -> None:
    # estimated rows: fleischn (untracked) 100, smoker 1,000, solid 5,000, mm 25,000, nodul 30,000
    lexemes = ["nodul", "mm", "solid", "smoker", "fleischn"]
    assert choose_terms(lexemes, STATS, row_budget=1_099) == ["fleischn"]
    assert choose_terms(lexemes, STATS, row_budget=1_100) == ["fleischn", "smoker"]
    assert choose_terms(lexemes, STATS, row_budget=6_100) == ["fleischn", "smoker", "solid"]
    assert choose_terms(lexemes, STATS, row_budget=61_100) == ["fleischn", "smoker", "solid", "mm", "nodul"]


def test_a_query_of_only_common_words_has_no_keyword_side() -> None:
    assert choose_terms(["nodul", "mm"], STATS, row_budget=2_000) == []
    assert tsquery_text([]) is None


def test_without_statistics_every_term_is_kept() -> None:
    assert choose_terms(["b", "a", "a"], ElementStats({}, 0.0, 0.0), row_budget=1) == ["a", "b"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "lexeme", ["it's", "back\\slash", "a:b", "x&y", "!not", "(paren)", "'quoted'", "lr-5"]
)
def test_quoted_lexemes_reach_postgres_intact(pg_url: str, lexeme: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row: Any = conn.execute(
            "SELECT tsvector_to_array(%s::tsquery::text::tsvector), %s::tsquery @@ array_to_tsvector(%s)",
            (tsquery_text([lexeme]), tsquery_text([lexeme]), [lexeme]),
        ).fetchone()
    assert row == ([lexeme], True)
