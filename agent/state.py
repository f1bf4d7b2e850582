"""The LangGraph state: the input of a turn, conversation memory, and the turn being answered.

Memory (`Memory`) is what a thread carries from turn to turn; its shape is the one every earlier
version wrote, so threads checkpointed before stay resumable. Everything else is per turn (`Turn`):
the first node writes `new_turn()`, which empties the accumulators (tool calls, results, verification
rounds, tokens, timings) whose reducers then merge what later nodes add; every other per-turn field
is written by exactly one node on every path, so nothing stale survives from the previous turn.

Checkpoints hold plain values and the pydantic models in `CHECKPOINT_TYPES`, which the checkpoint
serializer allow-lists by name and rebuilds by validation; any other type is refused on load.
"""

from __future__ import annotations

from operator import add
from typing import Annotated, Any, Literal, TypedDict

from langgraph.types import Overwrite
from pydantic import BaseModel, ConfigDict, Field

from agent.gate import ExpertScore, GateDecision
from tools.classify.base import ClassificationResult, Extraction

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
    kind: str | None = Field(default=None, exclude=True)
    """The kind of the tool that ran ("classification", "retrieval", ...); not part of the record."""

    @property
    def label(self) -> str:
        return self.tool or "model tool choice"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for provenance, events and `ask --json`: unset optional fields are left out."""
        data = self.model_dump(exclude_none=True)
        data.update(tool=self.tool, output=self.output)
        return data


class Classification(BaseModel):
    """How this turn's findings were read for the deterministic classification (the result is in `results`)."""

    system: str
    how: str
    """Why this system: named or implied by the findings, a follow-up, or the chosen expert's system."""
    inputs: dict[str, Any]
    extraction: Extraction
    carried: dict[str, Any]
    """Inputs taken from earlier turns of the thread."""
    restated: str | None = None
    """The earlier finding with this message's new value, when a follow-up was read that way."""
    questions: list[str] = Field(default_factory=list)
    """Missing inputs, as questions a clinician can answer."""


def merge_timings(old: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """Add a node's timings to the turn's; a step that runs twice (verify, after a revision) adds up."""
    return {**old, **{step: old.get(step, 0) + ms for step, ms in new.items()}}


class TurnInput(TypedDict):
    """What `Assistant.ask` passes in for each turn."""

    message: str
    """The clinician's message."""
    expert_override: str | None
    """An expert the user chose; None lets the gate decide."""
    model_override: str | None
    """A model alias the user chose for the experts' drafts; None uses each expert's alias."""


class Memory(TypedDict, total=False):
    """Carried across the turns of a thread."""

    history: Annotated[list[dict[str, str]], add]
    """Past turns as chat messages (user question, final answer)."""
    findings: dict[str, dict[str, Any]]
    """Per classification system, the inputs in force (merged over follow-ups)."""
    finding_texts: dict[str, str]
    """Per system, the message that last set its findings (follow-ups restate it with a new size)."""
    last_systems: list[str]
    last_experts: list[str]


class Turn(TypedDict, total=False):
    """The turn being answered."""

    gate: GateDecision
    classification: Classification | None
    results: Annotated[list[ClassificationResult], add]
    """Every classification result of the turn: the deterministic one, then any a model's tool call ran."""
    tool_calls: Annotated[list[ToolCall], add]
    passages: list[dict[str, Any]]
    """Retrieved passages used as evidence (relevant hits), numbered [1].. in prompts and answer."""
    retrieved_chunk_ids: list[int]
    drafts: dict[str, str]
    rounds: Annotated[list[dict[str, Any]], add]
    """One verification round per draft (a revision adds the second): per expert, the claims' trace."""
    generated_tokens: Annotated[int, add]
    answer: str
    verdict: str
    verification: dict[str, Any]
    """The verdict, every claim, what was removed or flagged, and the rounds (written by finalize)."""
    citations: list[dict[str, Any]]
    timings_ms: Annotated[dict[str, float], merge_timings]


class AgentState(TurnInput, Memory, Turn):
    """Everything the graph reads and writes."""


def new_turn(**timings_ms: float) -> dict[str, Any]:
    """The accumulators of a new turn, emptied (LangGraph's Overwrite bypasses their reducers once)."""
    return {
        "results": Overwrite([]),
        "tool_calls": Overwrite([]),
        "rounds": Overwrite([]),
        "generated_tokens": Overwrite(0),
        "timings_ms": Overwrite(timings_ms),
    }


CHECKPOINT_TYPES: tuple[type[BaseModel], ...] = (
    ToolCall, Classification, GateDecision, ExpertScore, ClassificationResult, Extraction
)  # fmt: skip
"""The only non-plain types a checkpoint may hold: rebuilt by pydantic validation on load."""
