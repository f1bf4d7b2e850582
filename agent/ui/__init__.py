"""The Chainlit chat UI (the only package that imports chainlit)."""
