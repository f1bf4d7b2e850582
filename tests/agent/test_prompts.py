"""The revision's feedback: which statements were unsupported, whole, within a budget."""

from __future__ import annotations

from agent.prompts import FEEDBACK_CHARS, expert_messages, feedback_of


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
