"""What radassist can do, told from the registry and the experts: the chat's starters and the
"what I can classify" sentence. A tool or an expert added through its door shows up here by itself.
"""

from __future__ import annotations

from experts import Expert
from tools.registry import ToolRegistry


def classification_systems(registry: ToolRegistry) -> list[str]:
    """The registered classification systems by their titles, in the registry's order."""
    return [t.label for t in registry.of_kind("classification")]


def starters(registry: ToolRegistry, experts: dict[str, Expert]) -> list[tuple[str, str]]:
    """(label, question) pairs: each classification tool's example, then the first example of every
    expert that has no classification tool (so guideline-only experts are shown too)."""
    systems = registry.of_kind("classification")
    pairs = [(t.label, t.example) for t in systems if t.example]
    names = {t.name for t in systems}
    pairs += [(e.title, e.examples[0]) for e in experts.values() if not names & set(e.tools)]
    return pairs
