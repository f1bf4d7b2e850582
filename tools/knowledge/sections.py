"""The whole section a passage comes from, as a reader opens a cited source.

A passage is one chunk: a section cut to the embedding model's budget, each chunk repeating the last
whole sentences of the one before (chunking.py). A reader who opens a source wants the section itself,
so the chunks of the passage's section (same document, same heading path) are joined back in order with
the repeated sentences removed.
"""

from __future__ import annotations

from typing import Any

_SECTIONS = """
SELECT wanted.id, array_agg(c.text ORDER BY c.chunk_index)
FROM kb_chunks AS wanted
JOIN kb_chunks AS c ON c.source_id = wanted.source_id AND c.heading_path = wanted.heading_path
WHERE wanted.id = ANY(%s)
GROUP BY wanted.id
"""


async def section_texts(pool: Any, chunk_ids: list[int]) -> dict[int, str]:
    """For each chunk id, the text of its whole section."""
    if not chunk_ids:
        return {}
    async with pool.connection() as conn:
        cur = await conn.execute(_SECTIONS, (list(chunk_ids),))
        rows = await cur.fetchall()
    return {chunk_id: join_chunks(list(texts)) for chunk_id, texts in rows}


def join_chunks(texts: list[str]) -> str:
    """Consecutive chunks of one section as one text: each chunk's repeated opening is dropped."""
    if not texts:
        return ""
    joined = texts[0]
    for text in texts[1:]:
        repeated = _overlap(joined, text)
        joined += text[repeated:] if repeated else "\n\n" + text
    return joined


def _overlap(before: str, after: str) -> int:
    """Length of the longest start of `after` that ends `before`: whole units on both sides (it starts a
    word in `before` and ends a sentence, a line or the chunk in `after`)."""
    for size in range(min(len(before), len(after)), 0, -1):
        if size < len(before) and not before[-size - 1].isspace():
            continue
        if size < len(after) and not _ends_unit(after, size):
            continue
        if before.endswith(after[:size]):
            return size
    return 0


def _ends_unit(text: str, at: int) -> bool:
    """True when a sentence, list item or line of `text` ends at `at` (whitespace follows)."""
    if not text[at].isspace():
        return False
    return text[at] == "\n" or text[:at].rstrip("\"')]").endswith((".", "!", "?", ":", ";"))
