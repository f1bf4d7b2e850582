"""radassist runtime: settings, database, model gateway, the LangGraph agent, CLI and chat UI."""
