"""The LangGraph state: conversation memory (kept across turns) and the current turn (overwritten).

Only plain JSON-like data lives here, so checkpoints are portable and safe to deserialise.
"""

from __future__ import annotations

from operator import add
from typing import Annotated, Any, TypedDict


class AgentState(TypedDict, total=False):
    # --- input of a turn
    message: str
    """The clinician's message."""
    expert_override: str | None
    """An expert the user chose; None lets the gate decide."""
    model_override: str | None
    """A model alias the user chose for the experts' drafts; None uses each expert's alias."""

    # --- memory, carried across turns of a thread
    history: Annotated[list[dict[str, str]], add]
    """Past turns as chat messages (user question, final answer)."""
    findings: dict[str, dict[str, Any]]
    """Per classification system, the inputs in force (merged over follow-ups)."""
    finding_texts: dict[str, str]
    """Per system, the message that last set its findings (follow-ups restate it with a new size)."""
    last_systems: list[str]
    last_experts: list[str]

    # --- the current turn
    gate: dict[str, Any]
    extraction: dict[str, Any] | None
    carried: dict[str, Any]
    restated: str | None
    tool_calls: list[dict[str, Any]]
    """Every tool call: {"tool", "input", "output", "via", "error"}."""
    passages: list[dict[str, Any]]
    """Retrieved passages used as evidence (relevant hits), numbered [1].. in prompts and answer."""
    retrieved_chunk_ids: list[int]
    questions: list[str]
    drafts: dict[str, str]
    verification: dict[str, Any]
    revised: bool
    answer: str
    verdict: str
    citations: list[dict[str, Any]]
    generated_tokens: int
    timings_ms: dict[str, float]
