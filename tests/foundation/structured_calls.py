"""The agent's own grammar-constrained calls on a fixed message: entailment, tool choice, two tools' inputs,
and a forced value. One list for test_grammar_sampler.py (same output both ways) and bench/json_calls.py
(how long each way takes)."""

from __future__ import annotations

from typing import Any

from agent import prompts
from tools.registry import load_tools

Call = tuple[list[dict[str, str]], dict[str, Any]]

NODULE = "6 mm solid nodule in a smoker, what follow-up?"
THYROID = "TI-RADS for a 1.4 cm solid hypoechoic thyroid nodule with punctate echogenic foci?"


def structured_calls() -> dict[str, Call]:
    """By kind: the chat messages and the JSON schema the agent would send."""
    registry = load_tools()
    fleischner, ti_rads = registry.get("fleischner"), registry.get("ti_rads")
    chest = prompts.tool_choice_messages("You are the chest imaging expert.", NODULE, [fleischner])
    neck = prompts.tool_choice_messages("You are the neuro and head-and-neck expert.", THYROID, [ti_rads])
    return {
        "entailment (2 claims)": (
            prompts.entailment_messages(
                ["A 12 mm adrenal nodule of 8 HU is a lipid-rich adenoma.", "No further work-up is needed."],
                ["An adrenal mass of 10 HU or less on unenhanced CT is a lipid-rich adenoma (ACR 2017)."],
            ),
            prompts.entailment_schema(2),
        ),
        "tool choice": (chest, prompts.tool_choice_schema(registry.names())),
        "fleischner inputs": (
            prompts.tool_arguments_messages(chest, "fleischner"),
            fleischner.input_schema(),
        ),
        "ti_rads inputs": (prompts.tool_arguments_messages(neck, "ti_rads"), ti_rads.input_schema()),
        "forced value": (
            [{"role": "user", "content": "Say hello."}],
            {"type": "object", "properties": {"animal": {"enum": ["zebra"]}}, "required": ["animal"]},
        ),
    }
