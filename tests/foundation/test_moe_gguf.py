"""A Mixtral-compatible MoE GGUF (written here with the gguf package) runs through the Router + `llamacpp/`."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.gateway import Gateway
from tests.foundation.tiny_moe import N_EXPERT, N_EXPERT_USED, write_tiny_moe

pytestmark = pytest.mark.gguf


async def test_tiny_mixtral_reports_experts_and_generates(tmp_path: Path) -> None:
    write_tiny_moe(tmp_path / "tiny-moe.gguf")
    assert (tmp_path / "tiny-moe.gguf").stat().st_size < 1_000_000
    (tmp_path / "models.yaml").write_text(
        """
model_list:
  - model_name: default
    litellm_params: {model: llamacpp/tiny-moe.gguf, chat_format: mistral-instruct, n_ctx: 256}
  - model_name: expert-abdominal
    litellm_params: {model: llamacpp/tiny-moe.gguf, chat_format: mistral-instruct, n_ctx: 256}
  - model_name: embedder
    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}
    model_info: {mode: embedding}
"""
    )
    gateway = Gateway.from_file(tmp_path / "models.yaml", model_dir=tmp_path)
    response = await gateway.router.acompletion(
        model="expert-abdominal",
        messages=[{"role": "user", "content": "the lung"}],
        max_tokens=8,
        temperature=0.8,
    )
    assert response.usage.completion_tokens > 0

    params = gateway.config.entry("expert-abdominal").litellm_params
    metadata = gateway.llamacpp.load(params.model, params.model_dump()).metadata
    assert metadata["general.architecture"] == "llama"
    assert int(metadata["llama.expert_count"]) == N_EXPERT == 4
    assert int(metadata["llama.expert_used_count"]) == N_EXPERT_USED == 2
    assert gateway.describe("expert-abdominal")["sha256"]
