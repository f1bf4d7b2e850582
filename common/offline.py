"""Keep every library quiet and offline: the environment the entry points set before anything else.

litellm fetches a price map at import unless LITELLM_LOCAL_MODEL_COST_MAP is exactly "true";
Hugging Face libraries try the hub unless told they are offline. So each entry point (the
`radassist` command, the Chainlit app, the tests' conftest, every bench script) calls `apply()` before
it imports them. Importing a package of this project changes no environment variable.
"""

import os

OFFLINE_DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "true",
    "LITELLM_LOG": "ERROR",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "false",
    "OTEL_SDK_DISABLED": "true",
    "TRACELOOP_TELEMETRY": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "LANGGRAPH_STRICT_MSGPACK": "true",  # checkpoints hold plain data; refuse anything else on load
}


def apply() -> None:
    """Set the offline defaults without overriding what an admin set explicitly."""
    for key, value in OFFLINE_DEFAULTS.items():
        if not os.environ.get(key):
            os.environ[key] = value
