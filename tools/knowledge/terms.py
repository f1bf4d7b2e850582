"""Full-text query terms chosen by rarity, so keyword search stays fast on a large knowledge base.

Questions are matched with OR semantics (a passage rarely contains every word of a question), but a
word such as 'nodule' or 'mm' occurs in a third of a radiology corpus: OR-ing it in makes PostgreSQL
fetch and rank tens of thousands of rows per query, and such a word tells passages apart poorly anyway
(it has a low inverse document frequency, in BM25 terms). So the query keeps its rarest words, up to
an estimated budget of matching rows. The frequencies come for free from PostgreSQL's own statistics:
ANALYZE records the most common lexemes of a tsvector column and their frequencies (pg_stats).
On a small knowledge base the budget is never reached and every word is kept.
"""

from __future__ import annotations

from typing import Any

from tools.knowledge.stats import ElementStats, element_stats


def choose_terms(lexemes: list[str], stats: ElementStats, row_budget: float) -> list[str]:
    """Rarest lexemes first, while their estimated matching rows fit the budget.

    When even the rarest word would match more rows than the budget, none is kept: a word that
    common cannot rank passages, and the vector side of the hybrid search carries the query.
    """
    chosen: list[str] = []
    total = 0.0
    for lexeme in sorted(set(lexemes), key=lambda lex: (stats.estimated_rows(lex), lex)):
        total += stats.estimated_rows(lexeme)
        if total > row_budget:
            break
        chosen.append(lexeme)
    return chosen


def tsquery_text(lexemes: list[str]) -> str | None:
    """An OR tsquery of already-normalised lexemes, quoted so no character is read as an operator."""
    if not lexemes:
        return None
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" for lex in lexemes)
    return " | ".join(quoted)


# A question's lexemes as the tsv column has them: English stemming, stop words dropped.
QUERY_LEXEMES = "tsvector_to_array(to_tsvector('english', %s))"


async def query_lexemes(conn: Any, text: str) -> list[str]:
    cur = await conn.execute(f"SELECT {QUERY_LEXEMES}", (text,))
    return list((await cur.fetchone())[0])


async def keyword_tsquery(conn: Any, lexemes: list[str], row_budget: float) -> str | None:
    """The OR tsquery of a question's lexemes, pruned to the row budget; None when nothing is left."""
    return tsquery_text(choose_terms(lexemes, await element_stats(conn, "tsv"), row_budget))
