"""Greedy grammar-constrained calls check the model's best tokens first and give the same output.

The real bundled GGUF, loaded twice: once as llama-cpp-python's own `Llama` (the grammar applied to the
whole vocabulary at every step) and once as the provider loads it (`GrammarCheckingLlama`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import llama_cpp
import pytest

from agent.gateway import Gateway
from agent.gateway.gguf import resolve_gguf
from agent.gateway.grammar_sampler import GrammarCheckingLlama, GreedyGrammarSampler
from agent.settings import REPO_ROOT
from tests.foundation.structured_calls import structured_calls

pytestmark = pytest.mark.gguf


@pytest.fixture(scope="module")
def models(test_home: Path) -> tuple[Any, GrammarCheckingLlama]:
    path = str(resolve_gguf("bundled/gemma3-270m", base=None, model_dir=test_home / "models"))
    options: dict[str, Any] = {"n_ctx": 2048, "chat_format": "gemma", "seed": 7, "verbose": False}
    return llama_cpp.Llama(model_path=path, **options), GrammarCheckingLlama(model_path=path, **options)


def _json_call(llm: Any, messages: list[dict[str, str]], schema: dict[str, Any], **params: Any) -> str:
    llm.reset()
    out = llm.create_chat_completion(
        messages, max_tokens=96, response_format={"type": "json_object", "schema": schema}, **params
    )
    return str(out["choices"][0]["message"]["content"])


def test_greedy_json_calls_give_the_same_tokens_and_take_every_path(
    models: tuple[Any, GrammarCheckingLlama],
) -> None:
    plain, checking = models
    steps = past_best = whole = 0
    for messages, schema in structured_calls().values():
        expected = _json_call(plain, messages, schema, temperature=0.0)
        assert _json_call(checking, messages, schema, temperature=0.0) == expected
        sampler = checking.last_sampler
        assert isinstance(sampler, GreedyGrammarSampler)
        steps, past_best, whole = (
            steps + sampler.steps,
            past_best + sampler.past_best,
            whole + sampler.whole_vocabulary,
        )
    # Each way of finding the token was taken: the best token, the shortlist and the whole vocabulary.
    assert steps > past_best > whole > 0, (steps, past_best, whole)


def test_sampling_calls_keep_llama_cpps_own_sampler(models: tuple[Any, GrammarCheckingLlama]) -> None:
    _, checking = models
    messages, schema = structured_calls()["entailment (2 claims)"]
    checking.last_sampler = None
    _json_call(checking, messages, schema, temperature=0.7, seed=3)  # not greedy: the shortcut is not exact
    _json_call(checking, messages, schema, temperature=0.0, repeat_penalty=1.3)  # penalties reorder tokens
    assert checking.last_sampler is None
    checking.reset()
    checking.create_chat_completion(messages, max_tokens=4, temperature=0.0)  # no grammar at all
    assert checking.last_sampler is None


def test_the_provider_loads_models_that_check_the_best_tokens_first(test_home: Path) -> None:
    gateway = Gateway.from_file(REPO_ROOT / "models.yaml", model_dir=test_home / "models")
    params = gateway.config.entry("default").litellm_params
    assert isinstance(gateway.llamacpp.load(params.model, params.model_dump()).llm, GrammarCheckingLlama)
