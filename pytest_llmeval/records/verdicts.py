"""A judge's verdicts as records: `Verdict` (one output judged) and `PairwiseVerdict` (two
compared), what `llm_eval.judge()` and `compare()` return."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
)

from pytest_llmeval.core.factories import empty_list
from pytest_llmeval.core.frozen import FrozenModel


class Verdict(FrozenModel):
    """A judge's decision on one output."""

    model_config = ConfigDict(populate_by_name=True)

    score: float = Field(ge=0.0, le=1.0, description="0 (fails the criteria) to 1 (meets them).")
    passed: bool = Field(
        validation_alias=AliasChoices("pass", "passed"),
        serialization_alias="pass",
        description="Whether the output passes (JSON key `pass`).",
    )
    reason: str = Field(description="The judge's reasoning.")
    model: str | None = Field(default=None, description="provider:model of the judge.")
    cost_usd: float | None = Field(default=None, description="Cost of the judge calls.")
    name: str | None = Field(default=None, description="Score name the verdict was recorded as.")
    kind: str | None = Field(
        default=None, description="Judge kind: rubric, correctness, faithfulness, relevance."
    )
    raw_score: float | None = Field(
        default=None, description="The judge's score on its own scale (mean over samples)."
    )
    samples: int = Field(default=1, description="How many times the judge was asked.")
    agreement: float | None = Field(
        default=None, description="Share of samples whose pass/fail vote matches the verdict."
    )
    evidence: list[str] | None = Field(
        default=None,
        description="The passages the judge quoted as its evidence (judges that quote it).",
    )
    evidence_missing: list[str] = Field(
        default_factory=empty_list,
        description="Quotes of the evidence that occur nowhere in the material.",
    )


class PairwiseVerdict(FrozenModel):
    """A judge's preference between two outputs, after running both orders."""

    model_config = ConfigDict(populate_by_name=True)

    winner: Literal["a", "b", "tie"] = Field(description="The better output, or a tie.")
    score: float = Field(ge=0.0, le=1.0, description="1 = a better, 0 = b better, 0.5 tie.")
    passed: bool = Field(
        validation_alias=AliasChoices("pass", "passed"),
        serialization_alias="pass",
        description="True when a wins or ties (JSON key `pass`).",
    )
    reason: str = Field(description="The judge's reasoning in both orders.")
    model: str | None = Field(default=None, description="provider:model of the judge.")
    cost_usd: float | None = Field(default=None, description="Cost of the judge calls.")
    name: str | None = Field(default=None, description="Score name the verdict was recorded as.")
    consistent: bool | None = Field(
        default=None, description="Whether both orders picked the same winner (else a tie)."
    )
