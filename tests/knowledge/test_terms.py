"""Query terms: BM25 idf from exact counts, rare words first within the row budget, unknown-word shares."""

from __future__ import annotations

import math
from typing import Any

import psycopg
import pytest

from tools.knowledge.terms import QUERY_TERMS, QueryTerms, tsquery_text


def terms(counts: dict[str, int], chunks: int = 100_000, words: dict[str, str] | None = None) -> QueryTerms:
    lexemes = sorted(counts)
    surface = [(words or {}).get(lex, lex) for lex in lexemes]
    return QueryTerms.from_row(lexemes, surface, [counts[lex] for lex in lexemes], chunks, chunks * 40)


def test_rarest_terms_are_kept_within_the_row_budget() -> None:
    t = terms({"nodul": 30_000, "mm": 25_000, "solid": 5_000, "smoker": 1_000, "fleischn": 100})
    assert t.matching(1_099) == ["fleischn"]
    assert t.matching(1_100) == ["fleischn", "smoker"]
    assert t.matching(6_100) == ["fleischn", "smoker", "solid"]
    assert t.matching(61_100) == ["fleischn", "smoker", "solid", "mm", "nodul"]


def test_common_words_and_words_no_chunk_has_leave_no_keyword_side() -> None:
    assert terms({"nodul": 30_000, "mm": 25_000}).matching(2_000) == []
    assert terms({"xyzzy": 0, "quux": 0}).matching(1_000_000) == []
    assert tsquery_text([]) is None


def test_idf_is_bm25s_and_rarer_words_weigh_more() -> None:
    t = terms({"pacemak": 3, "patient": 150, "unseen": 0}, chunks=500)
    assert t.idf("pacemak") == pytest.approx(math.log(1 + (500 - 3 + 0.5) / 3.5))
    assert t.idf("unseen") > t.idf("pacemak") > t.idf("patient") > 0
    assert t.average_length == 40


def test_unknown_and_unfamiliar_shares() -> None:
    # 'amoxicillin' is neither in the library nor everyday English; 'tomorrow' is only missing from the library
    t = terms({"amoxicillin": 0, "tomorrow": 0, "contrast": 50}, chunks=500)
    weight = t.idf("amoxicillin") + t.idf("tomorrow") + t.idf("contrast")
    assert t.unknown_share == pytest.approx((t.idf("amoxicillin") + t.idf("tomorrow")) / weight)
    assert t.unfamiliar_share == pytest.approx(t.idf("amoxicillin") / weight)
    assert terms({}).unknown_share == 1.0, "a question with no words at all is entirely unknown"


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


@pytest.mark.postgres
def test_heading_only_tsquery_matches_heading_words_only(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row: Any = conn.execute(
            "SELECT v @@ %(head)s::tsquery, v @@ %(any)s::tsquery, v @@ %(body_head)s::tsquery"
            " FROM (SELECT setweight(to_tsvector('english', 'Pacemakers'), 'A')"
            "       || setweight(to_tsvector('english', 'scan the patient'), 'B') AS v) AS t",
            {
                "head": tsquery_text(["pacemak"], "A"),
                "any": tsquery_text(["scan"]),
                "body_head": tsquery_text(["scan"], "A"),
            },
        ).fetchone()
    assert row == (True, True, False)


@pytest.mark.postgres
def test_query_terms_come_from_postgres_with_their_words(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row: Any = conn.execute(QUERY_TERMS, ("Which ICD-10 codes for the patients?",)).fetchone()
        empty: Any = conn.execute(QUERY_TERMS, ("?? the !!",)).fetchone()
    t = QueryTerms.from_row(*row)
    assert t.lexemes == ("-10", "code", "icd", "patient")
    assert t.words["code"] == ("codes",) and t.words["icd"] == ("icd",)
    assert QueryTerms.from_row(*empty).lexemes == ()
