"""Helpers for the knowledge-base tests: files, hand-written PDFs, a second embedding model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.knowledge.embedder import Embedder


@dataclass(frozen=True)
class CorpusDatabase:
    """A database the shipped corpus was loaded into by ensure_corpus_loaded."""

    url: str
    loaded: int  # sources ensure_corpus_loaded reported


class TruncatedEmbedder(Embedder):
    """A genuinely different embedding model for mismatch tests: MiniLM cut to 128 dimensions."""

    def __init__(self, inner: Embedder, dimension: int = 128) -> None:
        self.gateway = inner.gateway
        self.alias = inner.alias
        self.model = f"test/minilm-truncated-{dimension}"
        self._inner = inner
        self._dimension = dimension

    async def embed(self, texts: list[str]) -> np.ndarray:
        vectors = (await self._inner.embed(texts))[:, : self._dimension]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def minimal_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF with one Helvetica text line per string, one page per list (written by hand)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
