"""radassist runtime: settings, database, model gateway, the LangGraph agent, CLI and chat UI."""

from agent import offline as _offline  # noqa: F401  (must run before litellm / transformers are imported)
