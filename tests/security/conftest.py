"""Security tests: the project's Chainlit config (read when Chainlit is first imported)."""

from __future__ import annotations

import os

from agent.settings import REPO_ROOT

os.environ.setdefault("CHAINLIT_APP_ROOT", str(REPO_ROOT))
