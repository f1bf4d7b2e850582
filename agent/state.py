"""The LangGraph state: conversation memory (kept across turns) and the current turn (overwritten).

Only plain JSON-like data lives here, so checkpoints are portable and safe to deserialise.
"""

from __future__ import annotations

from operator import add
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict

ToolCallStatus = Literal["ran", "rejected", "failed"]


class ToolCall(BaseModel):
    """One tool call of a turn: what ran, what was refused before running, and what failed.

    `tool` is the name as registered or as a model proposed it (a proposed name may be unknown), and
    None when the model's tool choice itself failed before naming a tool. Code that needs the tool
    must check the name against the registry: a recorded call is a record, not a reference.
    """

    model_config = ConfigDict(frozen=True)

    tool: str | None
    status: ToolCallStatus
    via: str
    input: dict[str, Any]
    output: dict[str, Any] | None = None
    error: str | None = None
    question: str | None = None
    """For invalid input: what to ask the user."""
    carried: dict[str, Any] | None = None
    evidence: dict[str, str] | None = None
    rejected: dict[str, str] | None = None
    """For a deterministic extraction: inputs carried over, the text behind each input, refused values."""

    @property
    def label(self) -> str:
        return self.tool or "model tool choice"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for state, provenance and `ask --json`: unset optional fields are left out."""
        data = self.model_dump(exclude_none=True)
        data.update(tool=self.tool, output=self.output)
        return data


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
    """Every tool call, as `ToolCall.as_dict()`."""
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
