"""An OpenAI-compatible chat endpoint on loopback that records every request body it receives.

It stands in for a remote model (declared `remote: true` in a test models.yaml) or for a local one. A
reply is a function of the request's messages, so a test can make the model misbehave on cue.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, Any]]], str]
SAFE_DRAFT = "For this finding the tool result applies [1]."


class StubModel:
    """Start with `with StubModel() as stub:`; `stub.bodies` holds the raw request bodies received."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply or (lambda messages: SAFE_DRAFT)
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stub._lock:
                    stub.bodies.append(raw)
                body = json.loads(raw or b"{}")
                text = "{}" if body.get("response_format") else stub.reply(body.get("messages", []))
                if body.get("stream"):
                    self._stream(text)
                else:
                    self._complete(text)

            def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": int(time.time()), "model": "stub",
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
                return f"data: {json.dumps(chunk)}\n\n".encode()

            def _stream(self, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in text.split(" "):
                    self.wfile.write(self._chunk({"content": piece + " "}, None))
                self.wfile.write(self._chunk({}, "stop"))
                self.wfile.write(b"data: [DONE]\n\n")

            def _complete(self, text: str) -> None:
                reply = {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": "stub",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> StubModel:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> str:
        """Everything received so far, as text (the canaries are ASCII, which JSON leaves as it is)."""
        with self._lock:
            return "\n".join(b.decode("utf-8", "replace") for b in self.bodies)


def models_yaml(
    remote: StubModel, local: StubModel, *, default_is_remote: bool = False, extra: str = ""
) -> str:
    """A models.yaml: `default` on the local stub, every expert on the remote one, MiniLM embeddings.

    With `default_is_remote`, `default` is declared remote too: the experts then have no local fallback.
    """
    info = {"remote": True}
    default_info = "\n    model_info: {remote: true}" if default_is_remote else ""
    experts = "\n".join(
        f"  - model_name: expert-{name}\n"
        f"    litellm_params: {{model: openai/remote-model, api_base: '{remote.url}', api_key: stub}}\n"
        f"    model_info: {json.dumps(info)}"
        for name in ("chest", "neuro", "abdominal", "breast", "msk", "gu", "general")
    )
    return f"""model_list:
  - model_name: default
    litellm_params: {{model: openai/local-model, api_base: '{local.url}', api_key: stub}}{default_info}
{experts}
  - model_name: embedder
    litellm_params: {{model: sentence_transformers/bundled/all-MiniLM-L6-v2}}
    model_info: {{mode: embedding}}
{extra}router_settings:
  num_retries: 0
  timeout: 30
"""
