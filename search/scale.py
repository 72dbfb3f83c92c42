"""The threshold scale in force, for people: which number a search's floor is, its default, and what its values mean.

The page's slider is built from this (GET /config), so it shows the threshold a search will really apply and
describes it in the terms of the library and model in use rather than one model's habits. By default the floor is
a calibrated confidence (search.background for text queries, search.calibration for image ones), whose bands mean
the same for every model; with a cosine `threshold` setting, or no model and a library too small to calibrate, it is
a raw cosine score, whose meaning differs per model (OpenAI
CLIP's matches score 0.25-0.35, the tiny shapes model's 0.7-0.87): those bands sit around the model's own default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.search.calibration import MIN_SAMPLE
from framesearch.search.core import default_threshold
from framesearch.settings import Settings
from framesearch.store.base import VectorStore

# (start, label) on the confidence scale (search/background.py; the evaluation's figures: docs/search.md)
CONFIDENCE_BANDS = (
    (0.0, "very loose: frames the background describes better pass too"),
    (0.3, "loose: more moments, some off-topic"),
    (0.5, "balanced: the query describes the frame at least as well as the background"),
    (0.75, "strict: only clear matches"),
    (0.9, "very strict: only frames the query describes far better than anything else"),
)
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
        kind="cosine",
        parameter="threshold",
        default=round(value, 4),
        calibrated=False,
        source=source,
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        bands=bands,
        help="Cosine similarity between your query and a frame: frames scoring below it are left out.",
    )


def confidence_scale(settings: Settings) -> ThresholdScale:
    """The calibrated scale: a confidence floor, its default the `min_confidence` setting."""
    return ThresholdScale(
        kind="calibrated",
        parameter="min_confidence",
        default=settings.min_confidence,
        calibrated=True,
        source="the service's min_confidence setting",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        bands=[ThresholdBand(start=start, label=label) for start, label in CONFIDENCE_BANDS],
        help="Confidence that a frame shows your query, against background captions for the same frame: the same "
        "scale for every query and library (0.5: as likely as the background); frames below it are left out.",
    )


def threshold_scale(settings: Settings, embedder: object | None, store: VectorStore) -> ThresholdScale:
    """The scale searches use by default with these settings, this model and this library."""
    if settings.threshold is not None:
        return cosine_scale(settings, embedder)
    if embedder is not None:  # text queries: the absolute scale (search/background.py), whatever the library's size
        return confidence_scale(settings)
    if store.frame_count() < MIN_SAMPLE:
        scale = cosine_scale(settings, embedder)
        scale.source += f" (a library of fewer than {MIN_SAMPLE} frames cannot be calibrated)"
        return scale
    return confidence_scale(settings)
