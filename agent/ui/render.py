"""Markdown and elements for the chat UI's steps: gate weights, retrieval hits, verification, sources."""

from __future__ import annotations

from typing import Any

import chainlit as cl

from agent.answer import source_name, verdict_text


def gate_markdown(data: dict[str, Any], active_model: str) -> str:
    rows = [
        f"| {'**' + e['name'] + '**' if e['name'] in data['chosen'] else e['name']} | {e['weight']:.3f} | "
        f"{e['similarity']:.2f} | {', '.join(e['evidence']) or '—'} |"
        for e in data["experts"]
    ]
    notes = "".join(f"\n- {n}" for n in data.get("notes", []))
    return (
        f"Chosen: **{', '.join(data['chosen'])}** ({data['reason']}); drafting model: `{active_model}`{notes}\n\n"
        "| expert | weight | similarity | keyword evidence |\n|---|---|---|---|\n" + "\n".join(rows)
    )


def retrieval_markdown(data: dict[str, Any]) -> str:
    """The passages that cleared the search's relevance floor, best first, or why there are none."""
    lines = []
    for rank, h in enumerate(data["hits"], 1):
        section = " › ".join(h["heading_path"][1:] or h["heading_path"][-1:])
        lines.append(f"- [{rank}] **{h['title']}** › {section} (relevance {h['score']:.2f})")
    if not lines:
        return f"No passage used: {data['note']}." if data.get("note") else "No passage found."
    return "\n".join(lines)


def verification_markdown(data: dict[str, Any]) -> str:
    icons = {"supported": "✅", "flagged": "⚠️", "unsupported": "❌", "contradicted": "⛔"}
    lines = []
    for expert, v in data["experts"].items():
        lines.append(f"**{expert}**: {v['supported_ratio']:.0%} of claims supported"
                     + (" (too little support)" if v["needs_revision"] else ""))  # fmt: skip
        for c in v["claims"]:
            why = "; ".join(c["reasons"] or c["evidence"])
            lines.append(
                f"- {icons[c['status']]} {c['status']}: {c['text']}" + (f" — *{why}*" if why else "")
            )
    return "\n".join(lines) or "No claims to check (no draft)."


def verification_line(v: dict[str, Any]) -> str:
    """One line under the answer saying what verification did, in plain words (agent.answer.VERDICT_WORDS)."""
    counts = []
    if v.get("removed"):
        counts.append(f"{v['removed']} unsupported statement(s) of the model removed")
    if v.get("flagged"):
        counts.append(f"{v['flagged']} statement(s) marked not verified")
    return verdict_text(v["verdict"]) + "".join(f"; {c}" for c in counts)


def source_elements(citations: list[dict[str, Any]]) -> list[cl.Element]:
    """One side element per cited source; its name appears in the answer, so it becomes a link.

    Its text is stored with the thread and served inline (no server fetch), so it opens the same on a
    resumed thread, also after a restart.
    """
    return [cl.Text(name=source_name(c["n"]), content=source_text(c), display="side") for c in citations]


def source_text(citation: dict[str, Any]) -> str:
    """What a source opens to: the document, section and page, then the whole section and the link."""
    body = citation.get("section_text") or citation["text"]
    return f"**{citation['citation']}**\n\n{body}" + (f"\n\n{citation['url']}" if citation.get("url") else "")
