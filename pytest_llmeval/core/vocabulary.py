"""The closed vocabularies shared across layers, as `Literal` types (stdlib only, so
settings.py can use them at plugin load and the lower layers without importing pytest)."""

from __future__ import annotations

from typing import Literal, get_args

#: Cassette record modes (--llmeval-record).
RecordMode = Literal["none", "once", "new", "all"]
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)

#: How a test's scores combine into its score (the marker's aggregate=).
Aggregate = Literal["mean", "min"]
AGGREGATES: tuple[Aggregate, ...] = get_args(Aggregate)

#: Who made a model call: the code under test, a judge, a simulated user, or the
#: evaluation's own helpers (an embedding scorer, code under `llm_eval.evaluating()`).
Role = Literal["app", "judge", "simulator", "evaluation"]
ROLES: tuple[Role, ...] = get_args(Role)

#: How a price found by model name alone (its host unknown to genai-prices) begins its
#: `price_source`: "by model name; host <host> unknown".
BY_MODEL_NAME = "by model name"
