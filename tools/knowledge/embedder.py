"""`Embedder`: the gateway's 'embedder' alias, with the model name and dimension the database records."""

from __future__ import annotations

from typing import Any

import numpy as np

from common.errors import RadassistError

EMBEDDER_ALIAS = "embedder"
_PROBE = "dimension probe"


class Embedder:
    """Embed texts through `Gateway.aembed`, returning float32 arrays of one known dimension.

    `model` is the alias's `litellm_params.model` string from models.yaml: it is what the knowledge
    base records next to its vectors, so swapping the model is noticed, never silently mixed.
    """

    def __init__(self, gateway: Any, alias: str = EMBEDDER_ALIAS) -> None:
        self.gateway = gateway
        self.alias = alias
        self.model: str = gateway.config.entry(alias).litellm_params.model
        self._dimension: int | None = None

    async def dimension(self) -> int:
        """Return the vector size, embedding a short probe the first time (works for any provider)."""
        if self._dimension is None:
            probe = await self.gateway.aembed(self.alias, [_PROBE])
            self._dimension = len(probe[0])
        return self._dimension

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dimension) float32 array; a provider answering with the wrong shape is an error."""
        if not texts:
            return np.empty((0, await self.dimension()), dtype=np.float32)
        vectors = np.asarray(await self.gateway.aembed(self.alias, texts), dtype=np.float32)
        expected = await self.dimension()
        if vectors.ndim != 2 or vectors.shape != (len(texts), expected):
            raise RadassistError(
                f"embedding model {self.model!r} (alias {self.alias!r}) returned vectors of shape "
                f"{vectors.shape}, expected ({len(texts)}, {expected})"
            )
        return vectors

    async def embed_query(self, text: str) -> np.ndarray:
        """Return one query vector."""
        return np.asarray((await self.embed([text]))[0])
