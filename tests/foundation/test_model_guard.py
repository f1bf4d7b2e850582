"""The guard that keeps tests honest: a test that claims to be fake cannot reach a real model."""

from __future__ import annotations

import pytest

from agent.gateway import Gateway
from agent.llm import ModelRequestsBlocked
from agent.settings import REPO_ROOT

QUESTION = [{"role": "user", "content": "Say yes."}]


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway.from_file(REPO_ROOT / "models.yaml")


async def test_a_test_without_markers_cannot_call_the_real_models(gateway: Gateway) -> None:
    with pytest.raises(ModelRequestsBlocked, match=r"real chat request to alias 'default'.*marked gguf"):
        await gateway.acomplete("default", QUESTION)
    with pytest.raises(ModelRequestsBlocked):
        await gateway.acomplete_json("default", QUESTION, {"type": "object"})
    with pytest.raises(ModelRequestsBlocked):
        await anext(gateway.astream("expert-chest", QUESTION))
    with pytest.raises(ModelRequestsBlocked):
        await gateway.acall_tools("expert-chest", QUESTION, [])
    with pytest.raises(ModelRequestsBlocked, match="real embedding request to alias 'embedder'"):
        await gateway.aembed("embedder", ["pulmonary nodule"])
    assert gateway.llamacpp._models == {}, "no model was even loaded"


@pytest.mark.minilm
async def test_a_test_marked_minilm_embeds_but_cannot_chat(gateway: Gateway) -> None:
    assert len((await gateway.aembed("embedder", ["pulmonary nodule"]))[0]) == 384
    with pytest.raises(ModelRequestsBlocked):
        await gateway.acomplete("default", QUESTION)
