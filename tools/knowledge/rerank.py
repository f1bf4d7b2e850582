"""Reranking the fused candidates by how well each passage answers the question, and quoting it.

Fusion (search.py) finds the right neighbourhood: the passage that answers is nearly always among the
first dozen candidates, but often not first. The cosine of a whole passage blurs the one sentence that
answers, and BM25 rewards the rare words wherever they sit. A passage answers when the question's rare
words occur *together*, ideally in one sentence or in its heading. So each candidate gets a relevance:

    similarity * w_sim + coverage * w_cov + sentence * w_sent + heading * w_head
        - unknown * w_unknown - unfamiliar * w_unfamiliar

where coverage is the share of the question's idf weight (terms.py) found in the passage, sentence the
share found in its best single sentence (term proximity at sentence level), heading the share found in
its section headings, unknown the share carried by words no passage contains at all, and unfamiliar the
part of it that is not everyday English either (vocabulary.py). A question about something the library
does not cover ("amoxicillin dose for otitis") scores low on every passage: that is what the relevance
floor (search.py) is calibrated on. The two shares are the same for every passage of a question, so they
never change the order, only how far the best passage sits above the floor. The weights and the floor were tuned on one
half of the question set and checked on the other (bench/retrieval_quality.py).

The same sentence scores choose the quote: the most relevant run of whole sentences within a length budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.knowledge.sentences import Unit
from tools.knowledge.terms import QueryTerms

# A guideline paragraph or a short list: what a reader, and a small model's prompt, takes in at once.
QUOTE_CHARS = 600


@dataclass(frozen=True)
class RelevanceWeights:
    similarity: float = 1.0
    coverage: float = 0.0
    sentence: float = 0.0
    heading: float = 0.0
    # Penalties, the same for every passage of a question: they never reorder, only move it towards the floor.
    unknown: float = 0.0
    unfamiliar: float = 0.0


@dataclass(frozen=True)
class Evidence:
    """What the reranker knows about one candidate passage."""

    similarity: float
    coverage: float
    sentence: float
    heading: float
    unknown: float
    unfamiliar: float
    units: tuple[Unit, ...]
    unit_scores: tuple[float, ...]

    def relevance(self, weights: RelevanceWeights) -> float:
        return (
            weights.similarity * self.similarity
            + weights.coverage * self.coverage
            + weights.sentence * self.sentence
            + weights.heading * self.heading
            - weights.unknown * self.unknown
            - weights.unfamiliar * self.unfamiliar
        )


def evidence(
    terms: QueryTerms,
    similarity: float,
    units: list[Unit],
    unit_lexemes: list[list[str]],
    heading_lexemes: list[str],
) -> Evidence:
    """Score one passage from the lexemes of its units and of its section headings."""
    total = terms.weight
    wanted = set(terms.lexemes)

    def share(lexemes: set[str]) -> float:
        return sum(terms.idf(lex) for lex in lexemes & wanted) / total if total > 0 else 0.0

    unit_scores = tuple(share(set(lexemes)) for lexemes in unit_lexemes)
    everything = set(heading_lexemes).union(*map(set, unit_lexemes)) if unit_lexemes else set(heading_lexemes)
    return Evidence(
        similarity=similarity,
        coverage=share(everything),
        sentence=max(unit_scores, default=0.0),
        heading=share(set(heading_lexemes)),
        unknown=terms.unknown_share,
        unfamiliar=terms.unfamiliar_share,
        units=tuple(units),
        unit_scores=unit_scores,
    )


def quote(text: str, units: tuple[Unit, ...], scores: tuple[float, ...], limit: int = QUOTE_CHARS) -> str:
    """The passage itself when it is short; otherwise the run of whole consecutive sentences, within the
    limit, that carries the most relevance, opening on a relevant sentence (ties: the earlier run, which
    usually states the rule).

    A run keeps sentences in their context and needs no "…"; it never ends on a lead-in such as "two
    regimens are listed:" without what follows. When even the best single sentence is longer than the
    limit it is quoted whole: a cut sentence can say the opposite of the whole one.
    """
    if len(text) <= limit or not units:
        return text
    best: tuple[float, int, int] | None = None  # (relevance, -start, end)
    starts = [i for i, score in enumerate(scores) if score > 0] or list(range(len(units)))
    for start in starts:  # a run opens on a relevant sentence; what follows it is context
        for end in range(start, len(units)):
            if end > start and units[end].end - units[start].start > limit:
                break
            if units[end].text.rstrip().endswith(":") and end + 1 < len(units):
                continue
            candidate = (sum(scores[start : end + 1]), -start, end)
            if best is None or candidate[:2] > best[:2] or (candidate[:2] == best[:2] and end > best[2]):
                best = candidate
    if best is None:  # every run ends on a lead-in: the lead-in and what it introduces, whole
        return text
    _, negative_start, end = best
    return text[units[-negative_start].start : units[end].end]
