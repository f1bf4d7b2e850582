"""The mixture-of-experts gate: score every expert for a message, softmax, pick one or two.

Score = best cosine similarity between the message and the expert's description or examples,
plus keyword evidence (the expert's keywords and the triggers of its classification tools).
Deterministic and cheap (one embedding); an optional LLM gate (alias 'router') may reorder the top
candidates, never pick an expert the evidence ruled out.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agent.progress import step
from experts import Expert
from tools.registry import ToolRegistry

Embed = Callable[[list[str]], Awaitable[np.ndarray]]


class GateEmbeddingCache:
    """Expert vectors in PostgreSQL (table gate_embeddings), keyed by expert file sha256 and embedder.

    Embedding every expert's description and examples cost each CLI command about a second.
    """

    def __init__(self, pool: Any, embedder: str) -> None:
        self.pool = pool
        self.embedder = embedder

    async def load(self, experts: dict[str, Expert]) -> dict[str, np.ndarray]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT expert, expert_sha256, dimension, vectors FROM gate_embeddings WHERE embedder = %s",
                (self.embedder,),
            )
            rows = await cur.fetchall()
        found = {}
        for name, sha256, dimension, vectors in rows:
            expert = experts.get(name)
            if expert is not None and expert.sha256 == sha256:
                found[name] = np.frombuffer(bytes(vectors), dtype=np.float32).reshape(-1, dimension)
        return found

    async def save(self, experts: dict[str, Expert], vectors: dict[str, np.ndarray]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            for name, matrix in vectors.items():
                expert = experts[name]
                await conn.execute(  # older versions of this expert's file are of no further use
                    "DELETE FROM gate_embeddings WHERE expert = %s AND embedder = %s", (name, self.embedder)
                )
                await conn.execute(
                    "INSERT INTO gate_embeddings (expert, expert_sha256, embedder, dimension, vectors)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (name, expert.sha256, self.embedder, matrix.shape[1],
                     np.ascontiguousarray(matrix, dtype=np.float32).tobytes()),
                )  # fmt: skip


@dataclass(frozen=True)
class GateConfig:
    """Tuned on tests/data/routing_questions.yaml (see bench/turn.py for the accuracy it reaches)."""

    temperature: float = 0.05  # softmax temperature over scores
    margin: float = 0.2  # pick the second expert too when its weight is within this of the first
    keyword_bonus: float = 0.12  # per distinct keyword or tool trigger found
    keyword_cap: float = 0.3
    follow_up_bonus: float = 0.5  # for the previous turn's experts when the message names no domain


class ExpertScore(BaseModel, frozen=True):
    name: str
    weight: float
    similarity: float
    evidence: list[str]


class GateDecision(BaseModel):
    """Weights (highest first), the chosen expert(s) and why."""

    scores: list[ExpertScore]
    chosen: list[str]
    reason: str
    overridden: bool = False
    """The user chose the expert: the weights are reported, nothing may change the choice."""
    llm_choice: str | None = None
    notes: list[str] = Field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "experts": [{"name": s.name, "weight": round(s.weight, 4), "similarity": round(s.similarity, 4),
                         "evidence": s.evidence} for s in self.scores],
            "chosen": self.chosen,
            "reason": self.reason,
            "llm_choice": self.llm_choice,
            "notes": self.notes,
        }  # fmt: skip


def _keyword_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", re.IGNORECASE)


class Gate:
    """Routes messages to experts; `prepare()` embeds the experts once per process."""

    def __init__(
        self,
        experts: dict[str, Expert],
        embed: Embed,
        registry: ToolRegistry | None = None,
        config: GateConfig | None = None,
        cache: GateEmbeddingCache | None = None,
    ) -> None:
        self.experts = experts
        self.embed = embed
        self.cache = cache
        self.config = config or GateConfig()
        self._keywords = {n: [(k, _keyword_pattern(k)) for k in e.keywords] for n, e in experts.items()}
        self._triggers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        for name, expert in experts.items():
            triggers = []
            for tool_name in expert.tools:
                if registry is not None and tool_name in registry:
                    for pattern in registry.get(tool_name).triggers:
                        triggers.append((tool_name, re.compile(pattern, re.IGNORECASE)))
            self._triggers[name] = triggers
        self._vectors: dict[str, np.ndarray] | None = None

    async def prepare(self) -> None:
        if self._vectors is not None:
            return
        vectors = await self.cache.load(self.experts) if self.cache is not None else {}
        missing = [n for n in self.experts if n not in vectors]
        if missing:
            announce = f"embedding {len(missing)} expert(s) for the gate (new or changed expert files)"
            with step(announce) if self.cache is not None else contextlib.nullcontext():
                for name in missing:
                    expert = self.experts[name]
                    texts = [expert.description, *expert.examples]
                    vectors[name] = _normalise(np.asarray(await self.embed(texts), dtype=np.float32))
                if self.cache is not None:
                    await self.cache.save(self.experts, {n: vectors[n] for n in missing})
        self._vectors = vectors

    def evidence(self, name: str, message: str) -> list[str]:
        """The keywords and tool triggers of one expert found in the message."""
        found = [k for k, p in self._keywords[name] if p.search(message)]
        found += sorted({f"{tool} trigger" for tool, p in self._triggers[name] if p.search(message)})
        return found

    async def route(
        self, message: str, *, override: str | None = None, previous: Sequence[str] = ()
    ) -> GateDecision:
        """Score every expert for the message and choose; `override` (a user's choice) wins."""
        await self.prepare()
        assert self._vectors is not None
        query = _normalise(np.asarray(await self.embed([message]), dtype=np.float32))[0]
        names = list(self.experts)
        similarity = {n: float(np.max(self._vectors[n] @ query)) for n in names}
        evidence = {n: self.evidence(n, message) for n in names}
        cfg = self.config
        score = {n: similarity[n] + min(cfg.keyword_cap, cfg.keyword_bonus * len(evidence[n])) for n in names}
        reason = "similarity and keyword evidence"
        if previous and not any(evidence.values()):
            for n in previous:
                if n in score:
                    score[n] += cfg.follow_up_bonus
            reason = "follow-up: no domain words, previous expert kept in favour"
        weights = _softmax([score[n] / cfg.temperature for n in names])
        ranked = sorted(
            (
                ExpertScore(name=n, weight=w, similarity=similarity[n], evidence=evidence[n])
                for n, w in zip(names, weights, strict=True)
            ),
            key=lambda s: s.weight,
            reverse=True,
        )
        if override:
            if override not in self.experts:
                raise ValueError(f"unknown expert {override!r}; experts: {', '.join(names)}")
            return GateDecision(scores=ranked, chosen=[override], reason="user override", overridden=True)
        chosen = [ranked[0].name]
        if len(ranked) > 1 and ranked[0].weight - ranked[1].weight <= cfg.margin:
            chosen.append(ranked[1].name)
        return GateDecision(scores=ranked, chosen=chosen, reason=reason)

    @staticmethod
    def refine(decision: GateDecision, llm_choice: str | None) -> GateDecision:
        """Let an LLM gate reorder the top two; a choice outside them is recorded and ignored."""
        decision.llm_choice = llm_choice
        if not llm_choice or decision.overridden:
            return decision
        top = [s.name for s in decision.scores[:2]]
        if llm_choice in top:
            decision.chosen = [llm_choice] + [n for n in decision.chosen if n != llm_choice]
            decision.reason += "; LLM gate chose among the top two"
        else:
            decision.notes.append(f"LLM gate suggested {llm_choice!r}, outside the top two: ignored")
        return decision


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


__all__ = ["ExpertScore", "Gate", "GateConfig", "GateDecision", "GateEmbeddingCache"]
