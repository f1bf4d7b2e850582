"""What every classification tool returns, and the extraction record its text extractor produces."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ClassificationResult(BaseModel):
    """A computed category with its management, the rules that fired, the citation and caveats.

    Exactly one of three states: a category; `not_applicable` (out-of-scope population, with the
    system to use instead); or `missing` inputs listed by field name so the agent can ask for them.
    """

    system: str = Field(description="Tool name, e.g. 'fleischner'.")
    guideline: str = Field(description="Guideline and version, e.g. 'Fleischner Society 2017'.")
    category: str | None = Field(default=None, description="Category in the system's own spelling.")
    modifiers: list[str] = Field(default_factory=list, description="Category modifiers, e.g. Lung-RADS 'S'.")
    management: str | None = None
    risk: str | None = Field(default=None, description="Published likelihood of malignancy, when given.")
    rationale: list[str] = Field(default_factory=list, description="Which inputs, which table row fired.")
    citation: str = Field(description="Publication and table the rule comes from.")
    caveats: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="Input fields needed to decide.")
    not_applicable: str | None = Field(
        default=None, description="Why the system does not apply and what to use."
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="Normalised inputs actually used.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="System-specific figures (points, ...)."
    )

    @property
    def decided(self) -> bool:
        return self.category is not None


class Extraction(BaseModel):
    """What a deterministic extractor read from free text for one system."""

    model_config = ConfigDict(extra="forbid")

    system: str
    inputs: dict[str, Any] = Field(default_factory=dict, description="Tool input keys -> values found.")
    evidence: dict[str, str] = Field(
        default_factory=dict, description="Input key -> the text that supports it."
    )
    undetermined: list[str] = Field(default_factory=list, description="Fields the text did not settle.")
    rejected: dict[str, str] = Field(
        default_factory=dict, description="Model-proposed values refused, and why."
    )
