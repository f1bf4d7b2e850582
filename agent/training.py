"""Fine-tuning datasets from clinicians' ratings: SFT examples and DPO preference pairs, as JSON Lines.

Only what users marked goes in, and no identifier: every question and answer passes through the same
redaction the gateway applies before a remote model (agent/gateway/phi.py: names after a title or label,
MRNs, accession numbers, dates, phone numbers, addresses, e-mail, SSNs, DICOM UIDs, long ID numbers);
user names, thread and message ids are left out. The answer is the agent's answer as provenance stored
it (without the chat UI's footer and notices).

- SFT (`{"messages": [user, assistant]}`, the chat format of TRL's SFTTrainer, Axolotl, LLaMA-Factory and
  OpenAI fine-tuning): every answer rated up.
- DPO (`{"prompt": [user], "chosen": [assistant], "rejected": [assistant]}`, TRL's conversational
  preference format): a rated-down answer paired with its verified revision. A verified revision of a
  rated-down answer is a later answer in the same thread that the same user rated up, whose provenance
  verdict is `verified` (every claim checked against a tool result or a passage, none removed or flagged),
  and that answers the same question: the same question text (ignoring case and spacing), or the same
  classification tools called with the same inputs, as the provenance records them. The earliest such
  answer is chosen. A rated-down answer without one is left out (and counted): nothing the user approved
  says what should have been answered instead.

Each example is one question and one answer: a follow-up ("and if it were 10 mm?") is exported as asked,
without the earlier turns its answer drew on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from agent.gateway.phi import redact

Format = Literal["sft", "dpo"]


def _clean(text: str | None) -> str:
    return redact((text or "").strip())


def _answer(record: dict[str, Any]) -> str:
    return _clean(record.get("agent_answer") or record["answer"])


def sft_examples(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chat example per answer rated up (with its question)."""
    return [
        {
            "messages": [
                {"role": "user", "content": _clean(r["question"])},
                {"role": "assistant", "content": _answer(r)},
            ]
        }
        for r in records
        if r["value"] == 1 and r.get("question") and r.get("answer")
    ]


def _question_key(record: dict[str, Any]) -> str:
    return " ".join((record.get("question") or "").lower().split())


def _tool_inputs(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The classification calls of an answer: (tool, its input) pairs, from the provenance."""
    import json

    calls = (record.get("provenance") or {}).get("tool_calls") or []
    return sorted(
        (str(c.get("tool")), json.dumps(c.get("input"), sort_keys=True))
        for c in calls
        if c.get("tool") != "guideline_search" and c.get("output")
    )


def _same_question(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if _question_key(a) and _question_key(a) == _question_key(b):
        return True
    inputs = _tool_inputs(a)
    return bool(inputs) and inputs == _tool_inputs(b)


@dataclass
class Pairs:
    pairs: list[dict[str, Any]]
    unpaired: int
    """Rated-down answers left out: no verified revision in their thread."""


def dpo_pairs(records: Iterable[dict[str, Any]]) -> Pairs:
    """Each rated-down answer with its verified revision (see the module docstring)."""
    rows = [r for r in records if r.get("question") and r.get("answer")]
    pairs, unpaired = [], 0
    for rejected in (r for r in rows if r["value"] == 0):
        revisions = sorted(
            (
                r
                for r in rows
                if r["value"] == 1
                and r["thread_id"] == rejected["thread_id"]
                and r["user"] == rejected["user"]
                and r.get("verdict") == "verified"
                and (r["answered_at"] or "") > (rejected["answered_at"] or "")
                and _same_question(rejected, r)
            ),
            key=lambda r: r["answered_at"] or "",
        )
        if not revisions:
            unpaired += 1
            continue
        chosen = revisions[0]
        pairs.append(
            {
                "prompt": [{"role": "user", "content": _clean(rejected["question"])}],
                "chosen": [{"role": "assistant", "content": _answer(chosen)}],
                "rejected": [{"role": "assistant", "content": _answer(rejected)}],
            }
        )
    return Pairs(pairs, unpaired)
