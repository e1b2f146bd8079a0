"""The base of the plugin's records and file formats: a frozen pydantic model.

Every record the plugin makes or reads (results, calls, aggregates, baselines, reports,
cassettes) derives from `FrozenModel`: it never changes once made (records are shared
between a test, the session and every reporter), and a file naming a field the plugin
does not know is refused, not read past, so a typo or a newer writer is an error that
names the field instead of a value silently lost.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A pydantic model that is frozen and refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
