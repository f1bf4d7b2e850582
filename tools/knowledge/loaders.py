"""File loaders: Markdown (with YAML front matter), plain text, HTML and PDF -> titled, sectioned text.

Every loader returns the same `LoadedDocument`: the source's citation metadata and its text as
`Section`s, each with the heading path it sits under (and the page, for PDFs), so chunks can cite
where they came from. Anything that makes a file unusable raises `LoaderError` with the reason.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FILTER_FIELDS = ("system", "body_region", "modality")


class LoaderError(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


class SourceMeta(BaseModel):
    """Citation metadata of one source (Markdown front matter; derived from the file otherwise).

    The filter fields accept one value or a list; unknown front-matter keys are kept as metadata.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    society: str | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    version: str | None = None
    url: str | None = None
    licence: str | None = None
    system: list[str] = Field(default_factory=list)
    body_region: list[str] = Field(default_factory=list)
    modality: list[str] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @field_validator(*FILTER_FIELDS, mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    def filters(self) -> dict[str, list[str]]:
        """The filter values as stored in the indexed columns: stripped, lower-case, without duplicates."""
        return {
            name: list(dict.fromkeys(v.strip().lower() for v in getattr(self, name) if v.strip()))
            for name in FILTER_FIELDS
        }

    def extra_metadata(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@dataclass(frozen=True)
class Section:
    """Text under one heading path (paragraphs separated by blank lines), on one page for PDFs."""

    heading_path: tuple[str, ...]
    text: str
    page: int | None = None


@dataclass(frozen=True)
class LoadedDocument:
    """A parsed file: `slug` (file name without extension) identifies it in the knowledge base."""

    path: Path
    slug: str
    sha256: str
    meta: SourceMeta
    sections: list[Section] = field(default_factory=list)


def load_document(path: Path, data: bytes | None = None) -> LoadedDocument:
    """Parse one file (read now unless its bytes are given); raise LoaderError naming the reason."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoaderError(
            f"unsupported file type {path.suffix or '(none)'!r} (supported: {', '.join(sorted(LOADERS))})"
        )
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LoaderError(f"cannot read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise LoaderError("empty file")
    meta, sections = loader(data, path)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise LoaderError("no text found")
    return LoadedDocument(
        path=path, slug=path.stem, sha256=hashlib.sha256(data).hexdigest(), meta=meta, sections=sections
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"not UTF-8 text (byte {exc.start})") from exc


def _make_meta(values: dict[str, Any]) -> SourceMeta:
    try:
        return SourceMeta.model_validate(values)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "front matter"
        raise LoaderError(f"front matter field {where}: {err['msg']}") from exc


# -- plain text --------------------------------------------------------------------------------------
def load_text(data: bytes, path: Path) -> tuple[SourceMeta, list[Section]]:
    """A text file is one untitled section; its title is the file name."""
    text = _normalise_newlines(_decode(data))
    return _make_meta({"title": path.stem}), [Section((), text.strip())]


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- Markdown ----------------------------------------------------------------------------------------
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_BLOCKQUOTE = re.compile(r"^ {0,3}(?:> ?)+")


def load_markdown(data: bytes, path: Path) -> tuple[SourceMeta, list[Section]]:
    """Split Markdown at ATX and setext headings, outside fenced code; front matter gives the metadata."""
    text = _normalise_newlines(_decode(data))
    front: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1) or "") or {}
        except yaml.YAMLError as exc:
            raise LoaderError(f"front matter is not valid YAML: {exc}".replace("\n", " ")) from exc
        if not isinstance(loaded, dict):
            raise LoaderError("front matter must be a YAML mapping")
        front = {str(k): v for k, v in loaded.items()}
        text = text[match.end() :]
    # HTML comments are invisible when rendered: text hidden there must not reach the model.
    sections = _markdown_sections(_HTML_COMMENT.sub("", text))
    if "title" not in front:
        first = next((s.heading_path[0] for s in sections if s.heading_path), None)
        front["title"] = first or path.stem
    return _make_meta(front), sections


def _markdown_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    headings: list[tuple[int, str]] = []
    lines: list[str] = []
    header: list[str] = []  # column headers of the table being read
    fence: str | None = None

    def flush() -> None:
        body = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
        if body:
            sections.append(Section(tuple(h for _, h in headings), body))
        lines.clear()

    def open_heading(level: int, title: str) -> None:
        flush()
        while headings and headings[-1][0] >= level:
            headings.pop()
        if title:
            headings.append((level, title))

    for line in text.split("\n"):
        fence_match = _FENCE.match(line)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
            else:
                lines.append(line)
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        atx = _ATX.match(line)
        if atx:
            open_heading(len(atx.group(1)), clean_inline(atx.group(2) or ""))
            continue
        if _TABLE_RULE.match(line) and lines and _is_table_row(lines[-1]):
            header = _table_cells(lines.pop())
            continue
        setext = _SETEXT.match(line)
        if setext and lines and lines[-1].strip():
            open_heading(1 if setext.group(1)[0] == "=" else 2, clean_inline(lines.pop()))
            continue
        if header and _is_table_row(line):
            lines.extend(["", _table_row_text(header, _table_cells(line)), ""])
            continue
        header = []
        lines.append(clean_inline(_BLOCKQUOTE.sub("", line.rstrip())))
    flush()
    return sections


def _is_table_row(line: str) -> bool:
    return line.strip().startswith("|") and line.strip().count("|") >= 2


def _table_cells(line: str) -> list[str]:
    return [clean_inline(c) for c in line.strip().strip("|").split("|")]


def _table_row_text(header: list[str], cells: list[str]) -> str:
    """One table row as its own paragraph, each cell labelled with its column header.

    A row split from its header is meaningless ("High | Optional CT at 12 months"); labelled, it
    reads as a statement and survives chunking on its own.
    """
    parts = []
    for i, cell in enumerate(cells):
        label = header[i] if i < len(header) else ""
        if cell:
            parts.append(f"{label}: {cell}" if label else cell)
    return "; ".join(parts)


def clean_inline(text: str) -> str:
    """Drop Markdown inline markup (links keep their text, images their alt text), keep the words."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    for _ in range(2):  # nested emphasis such as ***bold italic***
        text = _EMPHASIS.sub(r"\2", text)
    return text.strip()


# -- HTML --------------------------------------------------------------------------------------------
_HIDDEN_TAGS = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "tr", "table", "section", "article", "main", "header", "footer", "nav",
    "aside", "blockquote", "pre", "dd", "dt", "dl", "figure", "figcaption", "caption", "br", "hr", "body",
}  # fmt: skip
_CELL_TAGS = {"td", "th"}
_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0", re.I)


class _HTMLSections(HTMLParser):
    """Collect paragraphs under their headings, skipping anything a reader would not see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.title = ""
        self._headings: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._words: list[str] = []
        self._heading: tuple[int, list[str]] | None = None
        self._in_title = False
        self._hidden: tuple[str, int] | None = None  # (tag, nesting depth of that tag)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._hidden is not None:
            if tag == self._hidden[0]:
                self._hidden = (tag, self._hidden[1] + 1)
            return
        if tag == "title":
            self._in_title = True
            return
        values = dict(attrs)
        if tag in _HIDDEN_TAGS or "hidden" in values or _HIDDEN_STYLE.search(values.get("style") or ""):
            if tag not in {"br", "hr", "img", "input", "meta", "link"}:
                self._hidden = (tag, 1)
            return
        if tag in _HEADING_TAGS:
            self._end_paragraph()
            self._heading = (_HEADING_TAGS[tag], [])
        elif tag in _BLOCK_TAGS:
            self._end_paragraph()
        elif tag in _CELL_TAGS and self._words:
            self._words.append("|")

    def handle_endtag(self, tag: str) -> None:
        if self._hidden is not None:
            if tag == self._hidden[0]:
                depth = self._hidden[1] - 1
                self._hidden = (tag, depth) if depth else None
            return
        if tag == "title":
            self._in_title = False
        elif tag in _HEADING_TAGS and self._heading is not None:
            level, words = self._heading
            self._heading = None
            self._end_section()
            while self._headings and self._headings[-1][0] >= level:
                self._headings.pop()
            title = " ".join(" ".join(words).split())
            if title:
                self._headings.append((level, title))
        elif tag in _BLOCK_TAGS:
            self._end_paragraph()

    def handle_data(self, data: str) -> None:
        if self._hidden is not None:
            return
        if self._in_title:
            self.title += data
        elif self._heading is not None:
            self._heading[1].append(data)
        else:
            self._words.append(data)

    def _end_paragraph(self) -> None:
        paragraph = " ".join(" ".join(self._words).split())
        if paragraph:
            self._paragraphs.append(paragraph)
        self._words.clear()

    def _end_section(self) -> None:
        self._end_paragraph()
        if self._paragraphs:
            self.sections.append(Section(tuple(h for _, h in self._headings), "\n\n".join(self._paragraphs)))
        self._paragraphs.clear()

    def close(self) -> None:
        super().close()
        self._end_section()


def load_html(data: bytes, path: Path) -> tuple[SourceMeta, list[Section]]:
    """Headings h1-h6 become the heading path; hidden elements, scripts and styles are left out."""
    parser = _HTMLSections()
    parser.feed(_decode(data))
    parser.close()
    title = " ".join(parser.title.split())
    if not title:
        title = next((s.heading_path[0] for s in parser.sections if s.heading_path), path.stem)
    return _make_meta({"title": title}), parser.sections


# -- PDF ---------------------------------------------------------------------------------------------
_HYPHEN_BREAK = re.compile(r"([A-Za-z])-\n([a-z])")  # letters only: "6-\n8 mm" is a range
_LINE_WRAP = re.compile(r"(?<!\n)[ \t]*\n[ \t]*(?!\n)")


def load_pdf(data: bytes, path: Path) -> tuple[SourceMeta, list[Section]]:
    """One section per page (1-based page numbers) so every chunk can cite its page."""
    try:
        import pypdf
        from pypdf.errors import PyPdfError
    except ImportError as exc:  # pragma: no cover - pypdf is a declared dependency
        raise LoaderError("PDF support needs the 'pypdf' package") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings repeat the reason we report
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoaderError("encrypted PDF (remove the password first)")
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = _HYPHEN_BREAK.sub(r"\1\2", _normalise_newlines(page.extract_text() or ""))
            text = _LINE_WRAP.sub(" ", text)  # PDF lines are layout, not paragraphs
            sections.append(Section((), text.strip(), page=number))
        title = (reader.metadata.title if reader.metadata else None) or path.stem
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise LoaderError(f"not a readable PDF: {exc or type(exc).__name__}") from exc
    if not any(s.text for s in sections):
        raise LoaderError("no extractable text in the PDF (a scanned document needs OCR first)")
    return _make_meta({"title": str(title).strip() or path.stem}), sections


LOADERS: dict[str, Callable[[bytes, Path], tuple[SourceMeta, list[Section]]]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}
