"""What of a model's streamed draft may reach the browser: no links, no images, no copy of the system prompt.

The draft streams into a collapsible step before verification has seen it, so it is untrusted text
shown to the clinician. Three things never reach the page:
- URLs of any scheme (http, javascript, data...), `www.` addresses, e-mail addresses and the targets of
  markdown links: a rendered link or image is how injected instructions exfiltrate data (an image URL
  with the conversation in its query string is fetched without a click);
- markdown images, inline or reference-style;
- a run of `ECHO_WORDS` or more consecutive words of the expert's system prompt (a prompt-extraction
  attempt).

Tokens arrive in arbitrary pieces, so the filter holds back what might still become one of these: the
word being written, an unfinished `[text](target)` or `<...>`, and the last `ECHO_WORDS - 1` words.
The output is the same however the draft was split into tokens.
"""

from __future__ import annotations

import re

ECHO_WORDS = 8
_GIVE_UP = 400  # an unfinished bracket this long is not a link: release it
ECHO_MARK = "[…] "
LINK_MARK = "[link removed]"

_IMAGE = re.compile(r"!\[[^\]\n]*\](?:\([^)\n]*\)|\[[^\]\n]*\])")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_URL = re.compile(
    r"<?\b(?:[a-z][a-z0-9+.-]*):(?://)?[^\s<>()\[\]]+>?"  # any scheme: http:, javascript:, data:, mailto:
    r"|<?\bwww\.[^\s<>()\[\]]+>?"
    r"|(?<![\w:])//[\w-]+(?:\.[\w-]+)+[^\s<>()\[\]]*"
    r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    re.IGNORECASE,
)
_SCHEMES = ("http", "https", "ftp", "file", "javascript", "data", "vbscript", "mailto", "blob", "ws", "wss")


def _replace_url(match: re.Match[str]) -> str:
    text = match.group(0)
    scheme = text.lstrip("<").split(":", 1)[0].lower()
    if ":" in text and not text.lstrip("<").lower().startswith("www.") and "@" not in text:
        if scheme not in _SCHEMES and not text.lstrip("<").split(":", 1)[1].startswith("//"):
            return text  # "Category:4" or "ratio:2" is not a URL
    return LINK_MARK


def sanitize(text: str) -> str:
    """Remove images, link targets and URLs (also those of reference definitions) from markdown text."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    return _URL.sub(_replace_url, text)


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


def _grams(text: str) -> set[tuple[str, ...]]:
    words = [w for w in (_norm(w) for w in text.split()) if w]
    return {tuple(words[i : i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1)}


def _hold_from(text: str) -> int:
    """Where an unfinished link, image or tag starts (text before it is settled), else len(text)."""
    start = text.rfind("[")
    if start != -1 and len(text) - start < _GIVE_UP:
        tail = text[start:]
        match = re.match(r"\[[^\]\n]*(\])?(\()?([^)\s]*)(\))?", tail)
        assert match is not None
        closed, paren, _, end = match.groups()
        unfinished = (
            (closed is None and "\n" not in tail)
            or (closed is not None and match.end() == len(tail) and paren is None)
            or (paren is not None and end is None and match.end() == len(tail))
        )
        if unfinished:
            return start - 1 if start > 0 and text[start - 1] == "!" else start
    start = text.rfind("<")
    if start != -1 and ">" not in text[start:] and len(text) - start < _GIVE_UP:
        return start
    return len(text)


class DraftFilter:
    """Feed it tokens; it returns the part that is safe to show now. `flush()` returns the rest."""

    def __init__(self, system_prompts: list[str]) -> None:
        self._grams: set[tuple[str, ...]] = set().union(*(_grams(p) for p in system_prompts))
        self._raw = ""  # received, not yet settled
        self._pieces: list[tuple[str, str]] = []  # settled words not yet shown: (text, normalised)
        self._echo: set[int] = set()  # indexes into self._pieces that repeat the prompt
        self._last_was_echo = False

    def feed(self, token: str) -> str:
        self._raw += token
        cut = max(self._raw.rfind(" "), self._raw.rfind("\n"), self._raw.rfind("\t")) + 1
        cut = min(cut, _hold_from(self._raw[:cut]))
        settled, self._raw = self._raw[:cut], self._raw[cut:]
        if settled:
            self._add(sanitize(settled))
        return self._release(final=False)

    def flush(self) -> str:
        if self._raw:
            self._add(sanitize(self._raw))
            self._raw = ""
        return self._release(final=True)

    def _add(self, text: str) -> None:
        for piece in re.findall(r"\S+\s*|\s+", text):
            self._pieces.append((piece, _norm(piece)))
            if self._grams:
                self._mark_echo()

    def _mark_echo(self) -> None:
        window: list[int] = []
        for i in range(len(self._pieces) - 1, -1, -1):
            if self._pieces[i][1]:
                window.append(i)
                if len(window) == ECHO_WORDS:
                    break
        if len(window) == ECHO_WORDS and tuple(self._pieces[i][1] for i in reversed(window)) in self._grams:
            self._echo.update(range(window[-1], window[0] + 1))

    def _release(self, *, final: bool) -> str:
        """Show every piece that no future word can turn into part of an echo."""
        ready = len(self._pieces)
        if not final:  # hold back the last ECHO_WORDS - 1 words: an echo may still begin among them
            words = 0
            while ready > 0 and words < ECHO_WORDS - 1:
                ready -= 1
                words += bool(self._pieces[ready][1])
        out = []
        for i in range(ready):
            if i in self._echo:
                if not self._last_was_echo:
                    out.append(ECHO_MARK)
                self._last_was_echo = True
            else:
                out.append(self._pieces[i][0])
                self._last_was_echo = self._last_was_echo and not self._pieces[i][1]
        self._pieces = self._pieces[ready:]
        self._echo = {i - ready for i in self._echo if i >= ready}
        return "".join(out)
