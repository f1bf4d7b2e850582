"""The answer's citations and verdict: only cited passages are sources, numbered as a reader meets them."""

from __future__ import annotations

from typing import Any

import pytest

from agent.answer import (
    VERDICT_LABELS,
    VERDICT_WORDS,
    cited_sources,
    grounded_answer,
    kept_commentary,
    quoted_passages,
    renumber,
    sources_block,
    verdict_of,
)
from agent.prompts import prompt_quote


def passage(chunk_id: int, source: str, section: str, text: str, quote: str | None = None) -> dict[str, Any]:
    return {
        "chunk_id": chunk_id, "source": source, "title": f"{source} summary", "society": "ACR", "year": 2023,
        "heading_path": [f"{source} summary", section], "section": section, "page": None, "url": None,
        "text": text, "quote": quote if quote is not None else text,
    }  # fmt: skip


PASSAGES = [
    passage(1, "contrast", "Premedication", "Premedicate with oral prednisone 13, 7 and 1 hour before."),
    passage(2, "contrast", "Shellfish", "Shellfish allergy is not a contraindication to iodinated contrast."),
    passage(3, "mri-safety", "Zones", "Zone IV is the magnet room."),
    passage(4, "contrast", "Premedication", "Diphenhydramine 50 mg is given 1 hour before."),
]


def test_only_cited_passages_are_sources_numbered_as_first_cited() -> None:
    cited = cited_sources(
        ["Zone IV is the magnet room [3].", "Prednisone is given [1], shellfish aside [2]."], PASSAGES
    )
    assert cited.texts == ["Zone IV is the magnet room [1].", "Prednisone is given [2], shellfish aside [3]."]
    assert [(c["n"], c["chunk_id"]) for c in cited.citations] == [(1, 3), (2, 1), (3, 2)]
    assert cited.numbers == {3: 1, 1: 2, 2: 3}


def test_two_passages_of_one_section_are_one_source() -> None:
    cited = cited_sources(["Prednisone [1] and diphenhydramine [4]; both [1, 4]."], PASSAGES)
    assert cited.texts == ["Prednisone [1] and diphenhydramine [1]; both [1]."]
    assert [c["chunk_id"] for c in cited.citations] == [1]


def test_nothing_cited_means_no_sources() -> None:
    cited = cited_sources(["The category is TR3.", ""], PASSAGES)
    assert cited.citations == [] and sources_block(cited.citations) == ""


def test_a_marker_naming_no_passage_is_left_as_written() -> None:
    cited = cited_sources(["Unknown [9], and zones [3]."], PASSAGES)
    assert cited.texts == ["Unknown [9], and zones [1]."]
    assert renumber("mixed [3, 9]", cited.numbers) == "mixed [3, 9]"


def test_sources_block_lists_the_citations_in_their_order() -> None:
    cited = cited_sources(["[3] then [1]"], PASSAGES)
    block = sources_block(cited.citations)
    assert block.splitlines()[1].startswith("- Source 1 [1]: ACR (2023), mri-safety summary, Zones")
    assert block.splitlines()[2].startswith("- Source 2 [2]: ACR (2023), contrast summary, Premedication")


def test_citation_opens_to_the_whole_section_when_known() -> None:
    whole = dict(PASSAGES[0], section_text="Whole section: prednisone. Diphenhydramine.")
    (source,) = cited_sources(["[1]"], [whole]).citations
    assert source["section_text"] == "Whole section: prednisone. Diphenhydramine."
    (fallback,) = cited_sources(["[1]"], PASSAGES[:1]).citations
    assert fallback["section_text"] == PASSAGES[0]["text"]


def test_quotes_are_the_searchs_sentence_bounded_quotes_one_per_section() -> None:
    long = passage(
        7, "gad", "Retention", "First sentence. " * 60, quote="The relevant sentence. Its context."
    )
    text = quoted_passages([long, PASSAGES[0], PASSAGES[3], PASSAGES[2]])
    assert text.splitlines() == [
        "From the guideline library:",
        "- The relevant sentence. Its context. [1]",
        "- Premedicate with oral prednisone 13, 7 and 1 hour before. [2]",
    ]
    assert "…" not in text


def test_a_quoted_list_stays_a_list() -> None:
    listed = passage(
        8, "contrast", "Regimens", "Two regimens:\n- prednisone 50 mg\n- methylprednisolone 32 mg"
    )
    assert quoted_passages([listed]).splitlines()[1:] == [
        "- Two regimens:",
        "  - prednisone 50 mg",
        "  - methylprednisolone 32 mg [1]",
    ]


def test_grounded_answer_without_passages_is_the_tool_results_only() -> None:
    assert grounded_answer([], []) == ""


def claim(text: str, status: str, passage_index: int | None = None) -> dict[str, Any]:
    return {"text": text, "status": status, "passage": passage_index}


def test_kept_commentary_counts_what_verification_did() -> None:
    commentary = kept_commentary({
        "chest": {"claims": [
            claim("CT at 6-12 months.", "supported", 0),
            claim("PET now.", "contradicted"),
            claim("Zone IV is the magnet room [3].", "flagged", 2),
            claim("CT at 6-12 months [1].", "supported", 0),  # a near-duplicate of the first
        ]},
    })  # fmt: skip
    assert commentary.text == "CT at 6-12 months [1]. Zone IV is the magnet room [3]. ⚠ (not verified)"
    assert (commentary.kept, commentary.removed, commentary.flagged) == (3, 1, 1)


@pytest.mark.parametrize(
    ("answered", "used", "removed", "flagged", "verdict"),
    [
        (False, False, 0, 0, "cannot_answer"),
        (True, False, 0, 0, "grounded"),  # no draft, or the draft was dropped
        (True, False, 5, 0, "grounded"),  # everything the model said was removed
        (True, True, 0, 0, "verified"),
        (True, True, 2, 0, "partial"),
        (True, True, 0, 1, "partial"),
    ],
)
def test_verdicts_mean_what_they_say(
    answered: bool, used: bool, removed: int, flagged: int, verdict: str
) -> None:
    assert verdict_of(answered=answered, commentary_used=used, removed=removed, flagged=flagged) == verdict


def test_every_verdict_has_words_for_a_clinician() -> None:
    assert set(VERDICT_LABELS) == set(VERDICT_WORDS) == {"verified", "grounded", "partial", "cannot_answer"}


def test_a_model_reads_whole_sentences_of_the_quote() -> None:
    sentences = [f"Sentence {i} says that the interval is {i} months." for i in range(1, 30)]
    long = passage(9, "fleischner", "Solid", " ".join(sentences), quote=" ".join(sentences[3:15]))
    shown = prompt_quote(long, limit=120)
    assert shown == " ".join(sentences[3:5]), "the quote's opening sentences within the limit, none cut"
    one = passage(
        10, "fleischner", "Solid", "x", quote="A single sentence much longer than the limit, kept whole."
    )
    assert prompt_quote(one, limit=10) == "A single sentence much longer than the limit, kept whole."
    assert prompt_quote(PASSAGES[0]) == PASSAGES[0]["quote"]


def test_quoted_table_rows_stay_rows_of_their_own() -> None:
    table = passage(
        9,
        "fleischner",
        "Single solid nodule",
        "Management by size and risk (Fleischner 2017, Table 1):\n\nRisk: Low; <6 mm: No routine follow-up\n\n"
        "Risk: High; <6 mm: Optional CT at 12 months",
    )
    assert quoted_passages([table]).splitlines()[1:] == [
        "- Management by size and risk (Fleischner 2017, Table 1):",
        "",
        "  Risk: Low; <6 mm: No routine follow-up",
        "",
        "  Risk: High; <6 mm: Optional CT at 12 months [1]",
    ]


def test_a_wrapped_line_joins_its_paragraph() -> None:
    wrapped = passage(10, "contrast", "Metformin", "Metformin need not be stopped\nbefore contrast.")
    assert quoted_passages([wrapped]).splitlines()[1:] == [
        "- Metformin need not be stopped before contrast. [1]"
    ]
