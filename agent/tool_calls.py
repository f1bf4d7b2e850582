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

from agent import prompts
from agent.context import AgentContext
from agent.llm import LLM, Messages
from agent.state import ToolCall, ToolCallStatus
from experts import Expert
from tools.classify.base import ClassificationResult
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


async def _json_proposals(
    llm: LLM, alias: str, prompt: Messages, tools: list[Tool]
) -> list[tuple[str, dict[str, Any]]]:
    names = [t.name for t in tools]
    choice = (
        await llm.acomplete_json(
            alias, prompt, prompts.tool_choice_schema(names), max_tokens=24, temperature=0.0
        )
    ).get("tool")
    if not isinstance(choice, str) or choice not in names:
        return []
    tool = tools[names.index(choice)]
    ask = prompts.tool_arguments_messages(prompt, choice)
    return [
        (choice, await llm.acomplete_json(alias, ask, tool.input_schema(), max_tokens=128, temperature=0.0))
    ]


async def model_tool_calls(
    ctx: AgentContext, expert: Expert, alias: str, message: str, called: set[str]
) -> list[tuple[ToolCall, ClassificationResult | None]]:
    """Offer the expert's tools not yet `called` to its model; run what it proposes, if traceable and valid.

    Each call comes with the classification result it computed, if the tool is a classification.
    """
    native = ctx.llm.supports_tools(alias)
    offered = [ctx.registry.get(n) for n in expert.tools if n in ctx.registry and n not in called]
    offered = [t for t in offered if t.kind != "retrieval" and (native or t.extractor is None)]
    if not offered:
        return []
    prompt = prompts.tool_choice_messages(expert.prompt, message, offered)
    via = "model tool call (native)" if native else "model tool call (grammar-constrained JSON)"
    try:
        if native:
            proposals = await ctx.llm.acall_tools(
                alias, prompt, [openai_tool(t) for t in offered], temperature=0.0
            )
        else:
            proposals = await _json_proposals(ctx.llm, alias, prompt, offered)
    except Exception as exc:  # the model's choice is optional; the deterministic answer stands
        return [(ToolCall(tool=None, status="failed", via=via, input={}, error=type(exc).__name__), None)]
    return [
        await _run_proposal(ctx, offered, name, arguments, message, via)
        for name, arguments in proposals[:MAX_CALLS]
    ]


async def _run_proposal(
    ctx: AgentContext, offered: list[Tool], name: str, arguments: dict[str, Any], message: str, via: str
) -> tuple[ToolCall, ClassificationResult | None]:
    """Run one proposed call if it was offered and every argument is in the message; otherwise say why not."""
    tool = next((t for t in offered if t.name == name), None)

    def refused(status: ToolCallStatus, error: str, question: str | None = None) -> tuple[ToolCall, None]:
        kind = tool.kind if tool else None
        call = ToolCall(
            tool=name, status=status, via=via, input=arguments, error=error, question=question, kind=kind
        )
        return call, None

    if tool is None:
        return refused("rejected", f"{name!r} was not offered to this expert")
    if bad := untraceable(arguments, message):
        return refused("rejected", f"rejected as unverifiable: {', '.join(bad)} not found in the message")
    try:
        output = await tool.arun(arguments, ctx.tool_context)
    except ToolInputError as exc:
        return refused("rejected", str(exc), question=f"{tool.name}: please check {'; '.join(exc.problems)}")
    except Exception as exc:  # a tool that breaks must not take the turn (and its classification) down
        return refused("failed", type(exc).__name__)
    call = ToolCall(
        tool=name, status="ran", via=via, input=arguments, output=output.model_dump(), kind=tool.kind
    )
    return call, output if isinstance(output, ClassificationResult) else None
