"""Tools the agent, the CLI and the UI call: classification lookups, guideline search, verification.

Every tool registers itself with `tools.registry.tool`; `load_tools()` imports them all.
"""

from tools.registry import REGISTRY, Tool, ToolContext, ToolInputError, load_tools, tool

__all__ = ["REGISTRY", "Tool", "ToolContext", "ToolInputError", "load_tools", "tool"]
