"""LoRA adapters per alias in the `llamacpp/` provider, with a real adapter GGUF on the bundled model."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from agent.gateway import Gateway, load_models_config
from agent.gateway.llamacpp import LoadedModel
from common.errors import RadassistError
from tests.foundation.tiny_lora import write_lora

pytestmark = pytest.mark.gguf

BASE = "model: llamacpp/bundled/gemma3-270m, chat_format: gemma, n_ctx: 256, temperature: 0.0, max_tokens: 8"
PROMPT = b"A solid lung nodule of 6 mm"


def models_yaml(directory: Path, aliases: dict[str, str]) -> Path:
    entries = "\n".join(
        f"  - model_name: {alias}\n    litellm_params: {{{BASE}{extra}}}" for alias, extra in aliases.items()
    )
    path = directory / "models.yaml"
    path.write_text(
        f"model_list:\n{entries}\n"
        "  - model_name: embedder\n"
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
        "    model_info: {mode: embedding}\n"
    )
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, test_home: Path) -> Gateway:
    directory = tmp_path_factory.mktemp("lora")
    (directory / "adapters").mkdir()
    write_lora(directory / "adapters" / "chest.gguf", seed=0)
    write_lora(directory / "adapters" / "neuro.gguf", seed=1)
    path = models_yaml(
        directory,
        {
            "default": "",
            "expert-chest": ", lora_path: adapters/chest.gguf",  # relative to models.yaml
            "expert-gu": ", lora_path: adapters/chest.gguf, lora_scale: 1",  # the same adapter and scale
            "expert-neuro": ", lora_path: adapters/neuro.gguf",
            "expert-msk": ", lora_path: adapters/chest.gguf, lora_scale: 0.0",
        },
    )
    return Gateway.from_file(path, model_dir=test_home / "models")


def loaded(gateway: Gateway, alias: str) -> LoadedModel:
    params = gateway.config.entry(alias).litellm_params
    return gateway.llamacpp.load(params.model, params.model_dump())


def last_logits(model: LoadedModel) -> np.ndarray:
    llm = model.llm
    with model.lock:
        llm.reset()
        llm.eval(llm.tokenize(PROMPT))
        row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).copy()


def test_an_adapter_changes_the_logits_and_scale_zero_does_not(gateway: Gateway) -> None:
    base = last_logits(loaded(gateway, "default"))
    chest = last_logits(loaded(gateway, "expert-chest"))
    neuro = last_logits(loaded(gateway, "expert-neuro"))
    off = last_logits(loaded(gateway, "expert-msk"))
    assert np.abs(chest - base).max() > 0.5, "the chest adapter has no effect on the base model"
    assert np.abs(neuro - chest).max() > 0.5, "two different adapters gave the same model"
    assert np.array_equal(off, base), "lora_scale 0 must leave the base model unchanged"


def test_aliases_share_a_loaded_model_only_with_the_same_adapter_and_scale(gateway: Gateway) -> None:
    chest, gu = loaded(gateway, "expert-chest"), loaded(gateway, "expert-gu")
    assert chest is gu, "same base, adapter and scale: one loaded model"
    others = [loaded(gateway, a) for a in ("default", "expert-neuro", "expert-msk")]
    assert all(chest is not o for o in others)
    assert len({id(o) for o in others}) == 3


async def test_a_turn_through_the_router_records_the_adapter(gateway: Gateway) -> None:
    chest = loaded(gateway, "expert-chest")
    before = len(gateway.llamacpp._models)
    reply = await gateway.acomplete("expert-chest", [{"role": "user", "content": "Name one modality."}])
    assert reply.strip()
    assert len(gateway.llamacpp._models) == before, "litellm passed the alias's adapter options through"
    assert chest.llm.lora_path and chest.llm.lora_path.endswith("adapters/chest.gguf")
    described = gateway.describe("expert-chest")
    adapter = described["lora"]
    assert adapter["path"].endswith("adapters/chest.gguf") and adapter["scale"] == 1.0
    assert len(adapter["sha256"]) == 64
    assert "lora" not in gateway.describe("default")
    assert gateway.describe("expert-neuro")["lora"]["sha256"] != adapter["sha256"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", lora_path: adapters/missing.gguf", "LoRA adapter file not found:"),
        (", lora_scale: 0.5", "lora_scale is set but lora_path is not"),
        (", lora_path: adapters/chest.gguf, lora_scale: strong", "lora_scale must be a number"),
    ],
)
def test_adapter_mistakes_are_one_line(tmp_path: Path, extra: str, message: str) -> None:
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "chest.gguf").write_bytes(b"GGUF")
    path = models_yaml(tmp_path, {"default": "", "expert-chest": extra})
    with pytest.raises(RadassistError) as error:
        load_models_config(path)
    text = str(error.value)
    assert message in text and "expert-chest" in text and str(path) in text and "\n" not in text


def test_an_adapter_on_a_remote_provider_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: default\n"
        "    litellm_params: {model: openai/x, api_base: 'http://127.0.0.1:9/v1', lora_path: a.gguf}\n"
        "  - model_name: embedder\n"
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
    )
    with pytest.raises(RadassistError, match="lora_path works with the llamacpp/ provider only"):
        load_models_config(path)
