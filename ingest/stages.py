"""The stages an ingest pipeline reports, shared by the CLI's progress display and the service's job records."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    """Where a video is in its pipeline; the values are what job records and progress lines show."""

    DOWNLOADING = "downloading"
    UPLOADING = "uploading"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running at Roboflow"
    SAVED = "results saved"
    EMBEDDING = "embedding frames"
    INDEXING = "indexing"
    RESUMED = "resumed after a restart"


OnStage = Callable[[Stage, dict[str, Any]], None]


def no_stage(stage: Stage, info: dict[str, Any]) -> None:
    """An OnStage that ignores every report."""
    return None
