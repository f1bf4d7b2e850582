"""What the chat UI shows under an answer and in its side view: the verdict in words, whole sections."""

from __future__ import annotations

from agent.ui.render import retrieval_markdown, source_text, verification_line


def test_the_verdict_is_told_in_words_with_what_verification_removed() -> None:
    line = verification_line({"verdict": "partial", "removed": 2, "flagged": 1})
    assert line.startswith("Partly verified: some of the model's statements were checked and kept")
    assert "2 unsupported statement(s) of the model removed" in line and "1 statement(s) marked" in line
    grounded = verification_line({"verdict": "grounded", "removed": 0, "flagged": 0})
    assert grounded.startswith("From the tools and guidelines only: ") and "removed" not in grounded
    assert verification_line({"verdict": "cannot_answer"}).startswith(
        "Cannot answer from the guideline library"
    )


def test_a_source_opens_to_its_whole_section_with_its_citation() -> None:
    citation = {
        "n": 2, "citation": "ACR (2023), Contrast summary, Premedication", "text": "Prednisone 50 mg.",
        "section_text": "Prednisone 50 mg. Diphenhydramine 50 mg.", "url": "https://example.org/acr",
    }  # fmt: skip
    assert source_text(citation) == (
        "**ACR (2023), Contrast summary, Premedication**\n\nPrednisone 50 mg. Diphenhydramine 50 mg."
        "\n\nhttps://example.org/acr"
    )


def test_the_retrieval_step_says_why_no_passage_was_used() -> None:
    note = "no passage is relevant enough to answer (best relevance 0.10, floor 0.30)"
    assert retrieval_markdown({"hits": [], "note": note}) == f"No passage used: {note}."
    hit = {"title": "Fleischner", "heading_path": ["Fleischner", "Solid", "Single"], "score": 0.61}
    assert (
        retrieval_markdown({"hits": [hit], "note": None})
        == "- [1] **Fleischner** › Solid › Single (relevance 0.61)"
    )
