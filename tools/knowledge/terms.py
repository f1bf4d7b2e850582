"""A question's full-text terms with their rarity: BM25 weights, and the choice of words worth matching.

BM25 weighs a word by its inverse document frequency: "pacemaker", in 3 chunks of 500, tells passages
apart; "patient", in 150, hardly does. The document frequencies come from kb_terms, which triggers keep
exact as chunks are written and deleted (migrations/0006), so the rare words that matter most are counted
exactly rather than estimated from a sample.

The full-text side matches a question with OR semantics (a passage rarely contains every word of a
question), but OR-ing in a word that occurs in a third of a large corpus makes PostgreSQL fetch and rank
tens of thousands of rows per query. So the query keeps its rarest words, up to a budget of matching rows;
on a small knowledge base the budget is never reached and every word is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.knowledge.vocabulary import is_common

# A question's lexemes as the tsv column has them (English stemming, stop words dropped), the words of the
# question each came from, their document frequencies (0 for a word no chunk has) and the chunk totals.
QUERY_TERMS = """
WITH words AS (
    SELECT lexeme, string_agg(DISTINCT lower(d.token), ' ') AS words
    FROM ts_debug('english', %s) AS d, unnest(d.lexemes) AS lexeme
    GROUP BY lexeme
)
SELECT coalesce((SELECT array_agg(lexeme ORDER BY lexeme) FROM words), '{}'),
       coalesce((SELECT array_agg(words ORDER BY lexeme) FROM words), '{}'),
       coalesce((SELECT array_agg(coalesce(t.chunks, 0) ORDER BY w.lexeme)
                 FROM words AS w LEFT JOIN kb_terms AS t USING (lexeme)), '{}'),
       tot.chunks, tot.lexemes
FROM (SELECT) AS one LEFT JOIN kb_term_totals AS tot ON true
"""


@dataclass(frozen=True)
class QueryTerms:
    """The question's distinct lexemes, the words they came from, how many chunks contain each, and the
    knowledge base's size."""

    lexemes: tuple[str, ...]
    words: dict[str, tuple[str, ...]]
    chunks_with: dict[str, int]
    chunks: int
    average_length: float

    @classmethod
    def from_row(
        cls, lexemes: list[str], words: list[str], frequencies: list[int], chunks: Any, length: Any
    ) -> QueryTerms:
        total = int(chunks or 0)
        return cls(
            lexemes=tuple(lexemes),
            words={lex: tuple(w.split()) for lex, w in zip(lexemes, words, strict=True)},
            chunks_with=dict(zip(lexemes, frequencies, strict=True)),
            chunks=total,
            average_length=float(length or 0) / total if total else 1.0,
        )

    def idf(self, lexeme: str) -> float:
        """BM25's inverse document frequency (the non-negative form); a word no chunk has weighs most."""
        n = self.chunks_with.get(lexeme, 0)
        return math.log(1.0 + (self.chunks - n + 0.5) / (n + 0.5))

    @property
    def weight(self) -> float:
        """The summed idf of every query word, known or not: the denominator of coverage."""
        return sum(self.idf(lex) for lex in self.lexemes)

    @property
    def unknown_share(self) -> float:
        """The share of the question's weight carried by words no chunk contains (1.0 for no words)."""
        return self._share(lambda lex: self.chunks_with[lex] == 0)

    @property
    def unfamiliar_share(self) -> float:
        """The share carried by words no chunk contains that are not everyday English either
        (vocabulary.py): most often the very topic of a question the library does not cover."""
        return self._share(
            lambda lex: self.chunks_with[lex] == 0 and not any(is_common(w) for w in self.words[lex])
        )

    def _share(self, chosen: Callable[[str], bool]) -> float:
        total = self.weight
        return sum(self.idf(lex) for lex in self.lexemes if chosen(lex)) / total if total > 0 else 1.0

    def matching(self, row_budget: float) -> list[str]:
        """Rarest words first, while the chunks they match fit the budget; words no chunk has are left out.

        When even the rarest word matches more chunks than the budget, none is kept: a word that common
        cannot rank passages, and the vector side of the hybrid search carries the question.
        """
        chosen: list[str] = []
        total = 0
        for lexeme in sorted(self.lexemes, key=lambda lex: (self.chunks_with[lex], lex)):
            if self.chunks_with[lexeme] == 0:
                continue
            total += self.chunks_with[lexeme]
            if total > row_budget:
                break
            chosen.append(lexeme)
        return chosen


def tsquery_text(lexemes: list[str], weight: str = "") -> str | None:
    """An OR tsquery of already-normalised lexemes, quoted so no character is read as an operator.

    `weight` restricts the match to lexemes of that weight ('A': words of the heading path).
    """
    if not lexemes:
        return None
    suffix = f":{weight}" if weight else ""
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" + suffix for lex in lexemes)
    return " | ".join(quoted)


async def query_terms(conn: Any, text: str) -> QueryTerms:
    cur = await conn.execute(QUERY_TERMS, (text,))
    return QueryTerms.from_row(*(await cur.fetchone()))
