"""The gate's expert embeddings are cached in PostgreSQL by expert file hash and embedding model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.db import open_pool
from agent.gate import Gate, GateEmbeddingCache
from tests.agent.fakes import hashing_embed
from tests.conftest import create_database

pytestmark = pytest.mark.postgres


class CountingEmbed:
    def __init__(self) -> None:
        self.texts = 0

    async def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return await hashing_embed(texts)


async def test_a_second_process_reuses_the_vectors_and_a_changed_expert_is_re_embedded(
    pg_url: str, experts: dict[str, Any]
) -> None:
    pool = open_pool(create_database(pg_url))
    await pool.open(wait=True)
    try:
        first, second, third = CountingEmbed(), CountingEmbed(), CountingEmbed()
        gate = Gate(experts, first, cache=GateEmbeddingCache(pool, "hashing/test"))
        decision = await gate.route("6 mm solid nodule, smoker")
        everything = sum(1 + len(e.examples) for e in experts.values())
        assert first.texts == everything + 1  # every expert, then the message

        again = Gate(experts, second, cache=GateEmbeddingCache(pool, "hashing/test"))
        assert (await again.route("6 mm solid nodule, smoker")).as_dict() == decision.as_dict()
        assert second.texts == 1, "only the message is embedded when the cache is warm"

        changed = dict(experts)
        changed["chest"] = experts["chest"].model_copy(update={"sha256": "0" * 64})
        other_model = Gate(changed, third, cache=GateEmbeddingCache(pool, "hashing/test"))
        await other_model.prepare()
        assert third.texts == 1 + len(experts["chest"].examples), "only the changed expert"
        fresh = CountingEmbed()
        await Gate(experts, fresh, cache=GateEmbeddingCache(pool, "another/model")).prepare()
        assert fresh.texts == everything, "another embedding model never reuses these vectors"
    finally:
        await pool.close()
