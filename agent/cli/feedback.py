"""`radassist feedback export`: clinicians' ratings with the question, the answer and its provenance.

One JSON object per line, oldest first. The file holds chat content (possibly PHI): it is written with
mode 0600, through a temporary file renamed into place, so a failure never leaves a partial export.
`--format sft|dpo` writes fine-tuning datasets instead, identifiers redacted (agent/training.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

# The rated step is the answer message, or (Chainlit 2.12's thumbs) the "on_message" run step whose
# child is the answer: the lateral join finds the answer either way. The question is the user message
# the answer replies to: Chainlit nests the answer under the run step, itself under the user message;
# a parent chain without one falls back to the thread's last user message before the answer.
EXPORT_QUERY = """
SELECT f.id AS feedback_id, f.value, f.comment, f.created_at AS rated_at, f.updated_at AS rating_updated_at,
       u.identifier AS user_identifier, f.thread_id, s.id AS message_id,
       s.output AS answer, s.created_at AS answered_at,
       COALESCE(
           (WITH RECURSIVE chain(id, parent_id, type, output, depth) AS (
                SELECT a.id, a.parent_id, a.type, a.output, 1 FROM steps a
                 WHERE a.id = s.parent_id AND a.thread_id = s.thread_id
                UNION ALL
                SELECT a.id, a.parent_id, a.type, a.output, chain.depth + 1 FROM steps a
                  JOIN chain ON a.id = chain.parent_id
                 WHERE a.thread_id = s.thread_id AND chain.type <> 'user_message' AND chain.depth < 8)
            SELECT output FROM chain WHERE type = 'user_message' ORDER BY depth LIMIT 1),
           (SELECT q.output FROM steps q
             WHERE q.thread_id = s.thread_id AND q.type = 'user_message' AND q.created_at <= s.created_at
             ORDER BY q.created_at DESC, q.seq DESC LIMIT 1),
           p.question
       ) AS question,
       p.verdict, p.provenance, p.created_at AS provenance_at, p.answer AS agent_answer
FROM feedback f
JOIN steps r ON r.id = f.step_id
JOIN LATERAL (
    SELECT x.id, x.output, x.created_at, x.parent_id, x.thread_id FROM (
        SELECT a.id, a.output, a.created_at, a.parent_id, a.thread_id, 0 AS rank, a.seq FROM steps a
         WHERE a.thread_id = r.thread_id AND a.type = 'assistant_message' AND (a.id = r.id OR a.parent_id = r.id)
        UNION ALL
        SELECT r.id, r.output, r.created_at, r.parent_id, r.thread_id, 1, r.seq
    ) x ORDER BY x.rank, x.created_at DESC, x.seq DESC LIMIT 1
) s ON true
JOIN users u ON u.id = f.user_id
LEFT JOIN answer_provenance p ON p.message_id = s.id
ORDER BY f.created_at, f.id
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feedback = sub.add_parser("feedback", help="clinician feedback on answers")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    export = feedback_sub.add_parser(
        "export",
        help="write every rating with its question, answer and provenance as JSON Lines",
        description="Each line: rating (up/down), comment, user, thread and message ids, the question, "
        "the answer, the verification verdict and provenance, and timestamps. The file contains chat "
        "content: it is created readable by its owner only.",
    )
    export.add_argument("--out", required=True, type=Path, metavar="FILE.jsonl")
    export.add_argument(
        "--format",
        choices=("ratings", "sft", "dpo"),
        default="ratings",
        help="ratings (default): every rating with its provenance; sft: answers rated up as chat examples; "
        "dpo: answers rated down with their verified revision. sft and dpo hold no user names or ids and "
        "pass every text through the patient-identifier redaction",
    )
    export.set_defaults(func=cmd_export)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "feedback_id": row["feedback_id"],
        "rating": "up" if row["value"] == 1 else "down",
        "value": row["value"],
        "comment": row["comment"],
        "user": row["user_identifier"],
        "thread_id": row["thread_id"],
        "message_id": row["message_id"],
        "question": row["question"],
        "answer": row["answer"],
        "verdict": row["verdict"],
        "provenance": row["provenance"],
        "answered_at": _iso(row["answered_at"]),
        "rated_at": _iso(row["rated_at"]),
        "rating_updated_at": _iso(row["rating_updated_at"]),
        "provenance_at": _iso(row["provenance_at"]),
    }


def export_records(url: str) -> Iterator[dict[str, Any]]:
    """Stream the export rows (a server-side cursor keeps memory flat for large exports)."""
    for row in _rows(url):
        yield _record(row)


def training_lines(url: str, fmt: str) -> tuple[list[dict[str, Any]], int]:
    """The SFT examples or DPO pairs of every rating, and how many rated-down answers had no pair."""
    from agent.training import dpo_pairs, sft_examples

    records = [{**_record(row), "agent_answer": row["agent_answer"]} for row in _rows(url)]
    if fmt == "sft":
        return sft_examples(records), 0
    pairs = dpo_pairs(records)
    return pairs.pairs, pairs.unpaired


def _rows(url: str) -> Iterator[dict[str, Any]]:
    from psycopg.rows import dict_row

    from agent.db import connect

    with connect(url) as conn, conn.cursor(name="feedback_export", row_factory=dict_row) as cur:
        cur.execute(EXPORT_QUERY)
        yield from cur


def write_export(url: str, out: Path, lines: Iterable[dict[str, Any]] | None = None) -> int:
    """Write the export (every rating, or the given lines) atomically; return the number of lines."""
    from common.files import private_output

    count = 0
    with private_output(out) as handle:
        for record in export_records(url) if lines is None else lines:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def cmd_export(args: argparse.Namespace) -> int:
    from agent.db import database_url, migrate
    from agent.settings import get_settings

    url = database_url(get_settings())
    migrate(url)
    from agent.security.audit import record_local

    if args.format == "ratings":
        count = write_export(url, args.out)
        record_local(url, action="feedback.export", detail={"records": count})
        print(f"exported {count} rating(s) to {args.out}")
        return 0
    lines, unpaired = training_lines(url, args.format)
    count = write_export(url, args.out, lines)
    record_local(url, action="feedback.export", detail={"records": count, "format": args.format})
    what = "SFT example(s) (answers rated up)" if args.format == "sft" else "DPO pair(s)"
    print(f"exported {count} {what} to {args.out}")
    if unpaired:
        print(f"{unpaired} answer(s) rated down had no verified revision in their thread and were left out")
    return 0
