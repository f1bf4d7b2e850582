"""A small OpenAI-compatible chat server on loopback whose "models" behave in known ways, for `radassist eval`.

Served through litellm's `openai/` provider, exactly as an admin would configure llama.cpp's server:

* `good`: restates the computed result it is given ("The computed result is 4A (ACR Lung-RADS v2022).");
* `broken`: always answers "Lung-RADS 1.";
* `slow`: like `good`, half a second late (to interrupt a run in the middle).

JSON requests (the verifier's entailment check, gap filling) get JSON that fits the requested schema.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EXPERT_ALIASES = ("chest", "neuro", "abdominal", "breast", "msk", "gu", "general")


def reply(model: str, messages: list[dict[str, Any]]) -> str:
    if model == "broken":
        return "Lung-RADS 1."
    if model == "slow":
        time.sleep(0.5)
    found = re.search(r"\*\*(.+?): (.+?)\*\*", messages[-1]["content"])
    return (
        f"The computed result is {found.group(2)} ({found.group(1)})." if found else "See the passages [1]."
    )


def json_reply(schema: dict[str, Any]) -> dict[str, Any]:
    verdicts = schema.get("properties", {}).get("verdicts")
    return {"verdicts": ["yes"] * verdicts["minItems"]} if verdicts else {}


class _Handler(BaseHTTPRequestHandler):
    server: StubServer  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"].split("/")[-1]
        self.server.requests.append((model, "stream" if body.get("stream") else "complete"))
        base = {"id": "x", "created": int(time.time()), "model": model}
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            text = json.dumps(json_reply(fmt["json_schema"]["schema"]))
        else:
            text = reply(model, body["messages"])
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            usage = {"prompt_tokens": 1, "completion_tokens": len(text.split()), "total_tokens": 2}
            data = {**base, "object": "chat.completion", "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip
            return self._send(json.dumps(data).encode(), "application/json")
        events = [
            {**base, "object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            for word in re.findall(r"\S+\s*", text)
        ]  # fmt: skip
        events.append({**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})  # fmt: skip
        stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(stream.encode(), "text/event-stream")


class StubServer(ThreadingHTTPServer):
    requests: list[tuple[str, str]]


@contextmanager
def stub_models() -> Iterator[StubServer]:
    server = StubServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def models_yaml(directory: Path, port: int) -> Path:
    """Every alias the experts need on the stub's `good` model, plus `good`, `broken` and `slow`."""
    entry = "    litellm_params: {{model: openai/{model}, api_base: 'http://127.0.0.1:{port}/v1', api_key: none}}\n"
    lines = ["model_list:\n"]
    for alias, model in [("default", "good"), *((f"expert-{n}", "good") for n in EXPERT_ALIASES),
                         ("good", "good"), ("broken", "broken"), ("slow", "slow")]:  # fmt: skip
        lines += [f"  - model_name: {alias}\n", entry.format(model=model, port=port)]
    lines += [
        "  - model_name: embedder\n",
        "    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}\n",
        "    model_info: {mode: embedding}\n",
        "router_settings: {num_retries: 0, timeout: 30}\n",
    ]
    path = directory / "models.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path
