"""Sentence units, relevance evidence and quotes (no database, no model)."""

from __future__ import annotations

import pytest

from tools.knowledge.rerank import RelevanceWeights, evidence, quote
from tools.knowledge.sentences import split_units
from tools.knowledge.terms import QueryTerms

PASSAGE = (
    "Premedication is considered after a previous allergic-like reaction (ACR Manual 2021, selection chapter). "
    "It is not indicated e.g. for vomiting, see Kanal et al. Radiology 2017. Done!\n"
    "- Prednisone 50 mg by mouth at 13 hours, 7 hours and 1 hour before contrast (ACR 2021).\n"
    "- Methylprednisolone 32 mg by mouth at 12 hours and 2 hours (ACR 2021).\n\n"
    "Severity: Mild; Allergic-like examples: Limited urticaria. Physiologic: nausea."
)


def test_units_are_sentences_list_items_and_rows_as_exact_spans() -> None:
    units = split_units(PASSAGE)
    assert [u.text for u in units] == [
        "Premedication is considered after a previous allergic-like reaction (ACR Manual 2021, selection chapter).",
        "It is not indicated e.g. for vomiting, see Kanal et al. Radiology 2017.",
        "Done!",
        "- Prednisone 50 mg by mouth at 13 hours, 7 hours and 1 hour before contrast (ACR 2021).",
        "- Methylprednisolone 32 mg by mouth at 12 hours and 2 hours (ACR 2021).",
        "Severity: Mild; Allergic-like examples: Limited urticaria.",
        "Physiologic: nausea.",
    ]
    assert all(PASSAGE[u.start : u.end] == u.text for u in units)


def test_a_sentence_wrapped_over_two_lines_is_one_unit() -> None:
    text = "A sentence wrapped\nat the margin. Next one."
    assert [u.text for u in split_units(text)] == ["A sentence wrapped\nat the margin.", "Next one."]


def terms(weights: dict[str, int], chunks: int = 100) -> QueryTerms:
    lexemes = sorted(weights)
    return QueryTerms.from_row(lexemes, lexemes, [weights[x] for x in lexemes], chunks, chunks * 30)


def test_evidence_shares_of_the_question_weight() -> None:
    t = terms({"pacemak": 2, "scan": 40, "tomorrow": 0})
    units = split_units("Pacemakers need a protocol. Every scan is booked.")
    found = evidence(t, 0.6, units, [["pacemak", "protocol"], ["scan", "book"]], ["pacemak"])
    weight = t.idf("pacemak") + t.idf("scan") + t.idf("tomorrow")
    assert found.coverage == pytest.approx((t.idf("pacemak") + t.idf("scan")) / weight)
    assert found.sentence == pytest.approx(t.idf("pacemak") / weight), "the best single sentence"
    assert found.heading == pytest.approx(t.idf("pacemak") / weight)
    assert found.unknown == pytest.approx(t.idf("tomorrow") / weight) and found.unfamiliar == 0.0
    weights = RelevanceWeights(similarity=1.0, coverage=0.5, sentence=0.5, heading=0.5, unknown=1.0)
    assert found.relevance(weights) == pytest.approx(
        0.6 + 0.5 * (found.coverage + found.sentence + found.heading) - found.unknown
    )


def test_a_short_passage_is_quoted_whole() -> None:
    units = tuple(split_units(PASSAGE))
    assert quote(PASSAGE, units, tuple(0.0 for _ in units), limit=len(PASSAGE)) == PASSAGE


def test_a_long_passage_is_quoted_as_its_most_relevant_run_of_whole_sentences() -> None:
    units = tuple(split_units(PASSAGE))
    scores = (0.1, 0.0, 0.0, 0.9, 0.2, 0.0, 0.0)
    quoted = quote(PASSAGE, units, scores, limit=200)
    assert quoted == units[3].text + "\n" + units[4].text
    # Never cut: a best sentence longer than the limit is quoted whole.
    assert quote(PASSAGE, units, scores, limit=20) == units[3].text


def test_a_quote_never_ends_on_a_lead_in() -> None:
    text = "Unrelated opening sentence here. Two regimens are listed:\n- Regimen A at 13 hours.\n- Regimen B."
    units = tuple(split_units(text))
    assert units[1].text == "Two regimens are listed:"
    quoted = quote(text, units, (0.0, 0.9, 0.1, 0.1), limit=60)
    assert quoted.startswith("Two regimens are listed:") and not quoted.endswith(":")
