"""Markdown and elements for the chat UI's steps: gate weights, retrieval hits, verification, sources."""

from __future__ import annotations

from typing import Any

import chainlit as cl

from agent.answer import source_name


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
    used = set(data.get("used", []))
    lines = []
    for h in data["hits"]:
        mark = "✓ used" if h["chunk_id"] in used else "not relevant enough"
        similarity = h.get("semantic_similarity")
        sim = f"{similarity:.2f}" if similarity is not None else "—"
        lines.append(f"- **{h['title']}** › {h['heading_path'][-1]} (similarity {sim}, {mark})")
    return "\n".join(lines) or "No passage found."


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
    """One line under the answer saying what verification did, in plain words."""
    verdict = v["verdict"].replace("_", " ")
    if v["verdict"] == "unverified":
        return "unverified: no tool result or guideline passage supports an answer"
    if v.get("fallback_to_grounded"):
        return (f"{verdict}: the model's commentary could not be verified ({v.get('removed', 0)} claim(s) "
                "removed), so the answer is the tool results and cited passages only")  # fmt: skip
    flagged = f"; {v['flagged']} statement(s) marked not verified" if v.get("flagged") else ""
    removed = f"; {v['removed']} unsupported claim(s) removed" if v.get("removed") else ""
    return f"{verdict}{removed}{flagged}"


def source_elements(citations: list[dict[str, Any]]) -> list[cl.Element]:
    """One side element per cited passage; its name appears in the answer, so it becomes a link."""
    return [
        cl.Text(
            name=source_name(c["n"]),
            content=f"**{c['citation']}**\n\n{c['text']}" + (f"\n\n{c['url']}" if c.get("url") else ""),
            display="side",
        )
        for c in citations
    ]
