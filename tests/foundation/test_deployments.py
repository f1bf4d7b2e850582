"""One alias on several model servers: litellm's Router spreads the calls, and each call records its server.

Two stub OpenAI-compatible servers on loopback stand in for llama.cpp servers (tests/api/test_scale_out.py
runs real `llama_cpp.server` processes); the spreading and the retry are the Router's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.gateway import Gateway, record_model_calls
from tests.security.stub_model import StubModel
from tests.server import free_port

pytestmark = pytest.mark.model_server


def two_deployments(a: str, b: str, *, retries: int = 0) -> str:
    entries = "".join(
        f"  - model_name: default\n    litellm_params: {{model: openai/stub, api_base: '{url}', api_key: k}}\n"
        for url in (a, b)
    )
    return (
        f"model_list:\n{entries}"
        "  - model_name: embedder\n"
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
        "    model_info: {mode: embedding}\n"
        f"router_settings: {{num_retries: {retries}, retry_after: 0, allowed_fails: 0, cooldown_time: 60}}\n"
    )


async def test_calls_spread_over_the_deployments_and_record_which_answered(tmp_path: Path) -> None:
    with StubModel() as a, StubModel() as b:
        path = tmp_path / "models.yaml"
        path.write_text(two_deployments(a.url, b.url))
        gateway = Gateway.from_file(path)
        messages = [{"role": "user", "content": "6 mm nodule?"}]
        with record_model_calls() as calls:
            for _ in range(12):
                await gateway.acomplete("default", messages)
                assert "".join([t async for t in gateway.astream("default", messages)])
        assert len(a.bodies) + len(b.bodies) == 24 and a.bodies and b.bodies, "both servers answered"
        answered = [c.api_base for c in calls]
        assert answered.count(a.url) == len(a.bodies) and answered.count(b.url) == len(b.bodies)


async def test_a_server_that_is_down_costs_no_call(tmp_path: Path) -> None:
    with StubModel() as a:
        gone = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connection refused
        path = tmp_path / "models.yaml"
        path.write_text(two_deployments(a.url, gone, retries=2))
        gateway = Gateway.from_file(path)
        messages = [{"role": "user", "content": "6 mm nodule?"}]
        with record_model_calls() as calls:
            for _ in range(6):
                assert await gateway.acomplete("default", messages)
        assert [c.api_base for c in calls] == [a.url] * 6 and len(a.bodies) == 6
