"""Tools the expert's model chooses: native tool calling where the model supports it (an admin sets
`model_info: {supports_function_calling: true}` in models.yaml), grammar-constrained JSON otherwise.

Deterministic extraction has already run the classification tools the findings call for; the model
is offered the expert's remaining tools (for small models, only those without an extractor, such as a
developer's own tools). Every value it supplies must be traceable to the message, exactly as for
gap filling: a number must appear in it, a text value must be written in it. Anything else, and any
input the tool rejects, becomes a visible refusal or a question, never a crash. Each call is a
`ToolCall` that says whether it ran, was rejected before running, or failed.
"""

from __future__ import annotations

from typing import Any

from agent.state import ToolCall
from tools.classify.text import traceable_number
from tools.registry import Tool, ToolInputError

MAX_CALLS = 3


def openai_tool(tool: Tool) -> dict[str, Any]:
    """A registered tool in the OpenAI tools format litellm passes to models."""
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema()},
    }


def untraceable(arguments: dict[str, Any], message: str) -> list[str]:
    """Argument values that do not appear in the message (names the offending keys)."""
    lowered = message.lower()
    bad = []
    for key, value in arguments.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            if not traceable_number(float(value), message):
                bad.append(key)
        elif isinstance(value, str):
            if value.lower().replace("_", " ") not in lowered and value.lower() not in lowered:
                bad.append(key)
        else:
            bad.append(key)  # nested values are never taken on the model's word
    return bad


def _prompt(system_prompt: str, message: str, tools: list[Tool]) -> list[dict[str, str]]:
    listing = "\n".join(f"- {t.name}: {t.description}" for t in tools)
    return [
        {"role": "system", "content": system_prompt},
        {
            "role": "user",
            "content": f"Message: {message}\n\nTools:\n{listing}\n\n"
            "Call a tool only if the message states every input it needs; otherwise call none.",
        },
    ]


async def _json_proposals(
    llm: Any, alias: str, prompt: list[dict[str, str]], tools: list[Tool]
) -> list[tuple[str, dict[str, Any]]]:
    names = [t.name for t in tools]
    schema = {"type": "object", "properties": {"tool": {"enum": [*names, "none"]}}, "required": ["tool"]}
    choice = (await llm.acomplete_json(alias, prompt, schema, max_tokens=24, temperature=0.0)).get("tool")
    if choice not in names:
        return []
    tool = tools[names.index(choice)]
    ask = [*prompt, {"role": "assistant", "content": f"Tool: {choice}"},
           {"role": "user", "content": f"Give the arguments of {choice}, taken from the message only."}]  # fmt: skip
    return [
        (choice, await llm.acomplete_json(alias, ask, tool.input_schema(), max_tokens=128, temperature=0.0))
    ]


async def model_tool_calls(deps: Any, state: dict[str, Any]) -> list[ToolCall]:
    """Offer the chosen expert's remaining tools to its model; run what it proposes, if traceable and valid."""
    expert = deps.experts[state["gate"]["chosen"][0]]
    alias = state.get("model_override") or expert.model
    native = bool(getattr(deps.llm, "supports_tools", lambda _: False)(alias))
    called = {c["tool"] for c in state.get("tool_calls", [])}
    offered = [deps.registry.get(n) for n in expert.tools if n in deps.registry and n not in called]
    offered = [t for t in offered if t.kind != "retrieval" and (native or t.extractor is None)]
    if not offered:
        return []
    message = state["message"]
    prompt = _prompt(expert.prompt, message, offered)
    via = "model tool call (native)" if native else "model tool call (grammar-constrained JSON)"
    try:
        if native:
            proposals = await deps.llm.acall_tools(
                alias, prompt, [openai_tool(t) for t in offered], temperature=0.0
            )
        else:
            proposals = await _json_proposals(deps.llm, alias, prompt, offered)
    except Exception as exc:  # the model's choice is optional; the deterministic answer stands
        return [ToolCall(tool=None, status="failed", via=via, input={}, error=type(exc).__name__)]
    return [
        await _run_proposal(deps, offered, name, arguments, message, via)
        for name, arguments in proposals[:MAX_CALLS]
    ]


async def _run_proposal(
    deps: Any, offered: list[Tool], name: str, arguments: dict[str, Any], message: str, via: str
) -> ToolCall:
    """Run one proposed call if it was offered and every argument is in the message; otherwise say why not."""
    tool = next((t for t in offered if t.name == name), None)
    if tool is None:
        return ToolCall(tool=name, status="rejected", via=via, input=arguments,
                        error=f"{name!r} was not offered to this expert")  # fmt: skip
    if bad := untraceable(arguments, message):
        return ToolCall(tool=name, status="rejected", via=via, input=arguments,
                        error=f"rejected as unverifiable: {', '.join(bad)} not found in the message")  # fmt: skip
    try:
        output = await tool.arun(arguments, deps.tool_context)
    except ToolInputError as exc:
        return ToolCall(tool=name, status="rejected", via=via, input=arguments, error=str(exc),
                        question=f"{tool.name}: please check {'; '.join(exc.problems)}")  # fmt: skip
    except Exception as exc:  # a tool that breaks must not take the turn (and its classification) down
        return ToolCall(tool=name, status="failed", via=via, input=arguments, error=type(exc).__name__)
    return ToolCall(tool=name, status="ran", via=via, input=arguments, output=output.model_dump())
