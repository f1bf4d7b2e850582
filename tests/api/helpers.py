"""Shared by the API tests and bench/scale_out.py: questions, expected categories, models.yaml files, and
`python -m llama_cpp.server` model servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.security.stub_model import StubModel
from tests.server import free_port

EXPERTS = ("chest", "neuro", "abdominal", "breast", "msk", "gu", "general")
FIRST = "8 mm solid nodule, low risk, what follow-up?"
SIX_TO_EIGHT = "solid, single, 6-8 mm, low risk"
OVER_EIGHT = "solid, single, >8 mm, low risk"
UNDER_SIX = "solid, single, <6 mm, low risk"


def stub_models(stub: StubModel, *, max_tokens: int = 48) -> str:
    """Every chat alias on the local stub (not a demo model: it drafts), MiniLM embeddings."""
    entries = "\n".join(
        f"  - model_name: {alias}\n"
        f"    litellm_params: {{model: openai/stub, api_base: '{stub.url}', api_key: stub, max_tokens: {max_tokens}}}"
        for alias in ("default", *(f"expert-{e}" for e in EXPERTS))
    )
    return (
        f"model_list:\n{entries}\n"
        "  - model_name: embedder\n"
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
        "    model_info: {mode: embedding}\n"
        "router_settings:\n  num_retries: 0\n  timeout: 30\n"
    )


@dataclass
class ModelServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def chat_requests(self) -> int:
        """Chat completions this server answered (uvicorn's access log, written unbuffered)."""
        return self.log.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1" 200')


@contextmanager
def model_server(gguf: Path, log_dir: Path) -> Iterator[ModelServer]:
    """`python -m llama_cpp.server` on a free loopback port, one thread (two share this machine's cores)."""
    port = free_port()
    log = log_dir / f"llama-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--chat_format", "gemma"),
                *("--n_ctx", "4096", "--n_threads", "1", "--host", "127.0.0.1", "--port", str(port)),
                # By default a new request interrupts a streaming one: a shared server must finish each.
                *("--interrupt_requests", "False"),
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ModelServer(f"http://127.0.0.1:{port}/v1", process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited:\n{log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(server.url + "/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server not ready after 120 s") from None
                time.sleep(0.5)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def server_models(servers: list[ModelServer], *, max_tokens: int = 24) -> str:
    """Every expert's alias with one deployment per model server (not a demo: it drafts), MiniLM embeddings.

    `default` (the verifier, which asks for JSON by `json_schema`) runs in-process: llama_cpp.server
    accepts JSON mode only as `json_object` and answers a `json_schema` request with an error.
    """
    entries = [
        f"  - model_name: expert-{expert}\n"
        f"    litellm_params: {{model: openai/gemma, api_base: '{server.url}', api_key: none, "
        f"max_tokens: {max_tokens}}}"
        for expert in EXPERTS
        for server in servers
    ]
    return (
        "model_list:\n"
        "  - model_name: default\n"
        "    litellm_params: {model: llamacpp/bundled/gemma3-270m, chat_format: gemma, n_ctx: 2048, "
        f"max_tokens: {max_tokens}}}\n" + "\n".join(entries) + "\n"
        "  - model_name: embedder\n"
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n"
        "    model_info: {mode: embedding}\n"
        # The Router's own settings: each call to the server with the fewest calls in flight; a failed call
        # is retried, on the other deployment once this one rests.
        "router_settings:\n  routing_strategy: least-busy\n  num_retries: 3\n  retry_after: 0\n"
        "  allowed_fails: 0\n  cooldown_time: 60\n  timeout: 120\n"
    )
