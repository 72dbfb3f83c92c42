"""The threshold scale in force, for people: which number a search's floor is, its default, and what its values mean.

The page's slider is built from this (GET /config), so it shows the threshold a search will really apply and
describes it in the terms of the model in use rather than one model's habits. Raw cosine scores mean different
things per model (OpenAI CLIP's matches score 0.25-0.35, the tiny shapes model's 0.7-0.87): the bands of a
cosine scale are placed around the model's own default threshold.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.search.core import default_threshold
from framesearch.settings import Settings

# (offset from the default threshold, label): a band runs from default + offset up to the next band
COSINE_BANDS = (
    (-1.0, "very loose: most frames pass"),
    (-0.08, "loose: more moments, some off-topic"),
    (-0.02, "balanced: the model's usual floor for a match"),
    (0.04, "strict: only clear matches"),
    (0.12, "very strict: text queries rarely score this high; image and “more like this” queries do"),
)


class ThresholdBand(BaseModel):
    """Values from `start` up to the next band's start mean `label`."""

    start: float
    label: str


class ThresholdScale(BaseModel):
    """The number a search's floor is given as, its default, its range and what its values mean."""

    kind: Literal["calibrated", "cosine"] = Field(
        description="`calibrated`: a confidence (0-1) comparable across queries and models; `cosine`: a raw score."
    )
    parameter: Literal["min_confidence", "threshold"] = Field(description="The search field that sets it.")
    default: float = Field(description="The value in force when a search names none.")
    calibrated: bool = Field(description="Whether the default is a calibrated confidence.")
    source: str = Field(description="Where the default comes from, in words.")
    minimum: float
    maximum: float
    step: float
    bands: list[ThresholdBand]
    help: str = Field(description="One sentence saying what the number is.")


def cosine_scale(settings: Settings, embedder: object | None) -> ThresholdScale:
    """The raw cosine scale, its default the `threshold` setting or the model's own (CLIP's without a model)."""
    value = default_threshold(settings, embedder)
    if settings.threshold is not None:
        source = "the service's threshold setting"
    elif embedder is not None and hasattr(embedder, "default_threshold"):
        source = f"model {getattr(embedder, 'name', 'in use')}'s default"
    else:
        source = f"CLIP's usual default ({DEFAULT_THRESHOLD:g}); no model is loaded"
    bands = [
        ThresholdBand(start=round(max(0.0, value + offset), 2) if offset > -1 else 0.0, label=label)
        for offset, label in COSINE_BANDS
    ]
    return ThresholdScale(
        kind="cosine", parameter="threshold", default=round(value, 4), calibrated=False, source=source,
        minimum=0.0, maximum=1.0, step=0.01, bands=bands,
        help="Cosine similarity between your query and a frame: frames scoring below it are left out.",
    )


def threshold_scale(settings: Settings, embedder: object | None) -> ThresholdScale:
    """The scale searches use by default with this model and these settings."""
    return cosine_scale(settings, embedder)
