"""What a draft's prompt shows: the most relevant run of each passage, and a revision's feedback."""

from __future__ import annotations

from agent.prompts import (
    FEEDBACK_CHARS,
    PASSAGE_CHARS,
    PASSAGE_CHARS_WITH_RESULTS,
    expert_messages,
    feedback_of,
    prompt_quote,
)
from tools.classify.base import ClassificationResult
from tools.knowledge.sentences import split_units


def test_feedback_keeps_whole_statements_in_order_within_the_budget() -> None:
    problems = ["CT at 3 months.", "PET/CT is needed.", "x" * FEEDBACK_CHARS]
    assert feedback_of(problems) == "CT at 3 months.; PET/CT is needed."


def test_a_long_first_statement_is_cut_to_the_budget() -> None:
    text = feedback_of(["word " * 100, "second"])
    assert len(text) == FEEDBACK_CHARS and text.endswith("…") and "second" not in text


def test_no_named_statement_still_asks_for_support() -> None:
    assert feedback_of([]) == "too little support"


def test_the_revision_prompt_extends_the_draft_prompt() -> None:
    """A revision re-evaluates only what follows the draft's prompt: the KV cache keeps the shared prefix."""
    draft = expert_messages("system", "6 mm nodule?", [], [], [])
    revision = expert_messages("system", "6 mm nodule?", [], [], [], feedback_of(["CT at 3 months."]))
    assert revision[0] == draft[0]
    assert revision[1]["content"].startswith(draft[1]["content"])
    assert "CT at 3 months." in revision[1]["content"]


TABLE = "Levels with their FNA thresholds (chart):\n\n" + "\n\n".join(
    f"Level: TR{n}; FNA if: {'no FNA' if n < 3 else f'{n / 2} cm or more'}" for n in range(1, 6)
)


def test_a_model_reads_the_row_asked_about_not_the_first_rows() -> None:
    """The search's sentence scores choose the run: here the TR5 row, the passage's last unit."""
    units = split_units(TABLE)
    scores = [0.0] * (len(units) - 1) + [0.9]
    hit = {"text": TABLE, "quote": TABLE, "sentence_scores": scores}
    shown = prompt_quote(hit, limit=60)
    assert shown == "Level: TR5; FNA if: 2.5 cm or more"


def test_a_lead_in_is_never_shown_without_what_it_introduces() -> None:
    units = split_units(TABLE)
    scores = [0.9] + [0.0] * (len(units) - 1)
    shown = prompt_quote({"text": TABLE, "quote": TABLE, "sentence_scores": scores}, limit=80)
    assert shown.startswith("Levels with their FNA thresholds (chart):\n\nLevel: TR1")


def test_hits_stored_without_sentence_scores_show_the_opening_of_their_quote() -> None:
    hit = {"text": "A. " * 10, "quote": "First sentence here. Second sentence here. Third one."}
    assert prompt_quote(hit, limit=45) == "First sentence here. Second sentence here."


def test_passages_beside_a_computed_result_are_shorter() -> None:
    """A computed result answers and its passages only support it; without one, the passages answer."""
    text = " ".join(f"Sentence number {n} says something about follow-up." for n in range(20))
    hit = {"text": text, "quote": text, "sentence_scores": [0.5] * 20, "section": "Follow-up"}
    result = ClassificationResult(system="widget_rads", guideline="demo", category="W3", citation="demo")

    def shown(results: list[ClassificationResult]) -> str:
        content = expert_messages("system", "question?", results, [hit], [])[1]["content"]
        return content.split("[1] Follow-up\n", 1)[1]

    assert 0 < len(shown([result])) <= PASSAGE_CHARS_WITH_RESULTS < PASSAGE_CHARS - 100
    assert PASSAGE_CHARS - 100 < len(shown([])) <= PASSAGE_CHARS
