"""Shared by the API tests: questions, expected categories and a models.yaml on a stub model."""

from __future__ import annotations

from tests.security.stub_model import StubModel

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
