"""Deleting several videos at once: by id, every one whose files are gone, every id under a prefix."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from framesearch.errors import NotFound
from framesearch.ingest.requests import DeleteVideos
from framesearch.store.base import VectorStore
from framesearch.store.pages import is_missing


class DeletedVideo(BaseModel):
    video_id: str
    deleted_frames: int
    path: str | None = Field(None, exclude=True)  # the file the record named (a service releases a kept upload)


class DeleteReport(BaseModel):
    """What a delete of several videos did: each one deleted (in order), and the ids the library did not hold."""

    deleted: list[DeletedVideo] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list)


def videos_to_delete(store: VectorStore, req: DeleteVideos) -> tuple[list[str], list[str]]:
    """The ids given, and those the request selects (gone from disk, under the prefix): (given, selected).
    Selecting reads the records once."""
    given = list(dict.fromkeys(req.video_ids))
    if not (req.missing or req.under):
        return given, []
    under = req.under
    records = store.list_videos()
    selected = [r.video_id for r in records if (req.missing and is_missing(r)) or (under and r.video_id.startswith(under))]
    return given, [v for v in selected if v not in given]


def delete_videos(store: VectorStore, video_ids: Iterable[str]) -> DeleteReport:
    """Delete each video, one run each (a crash leaves every video whole or gone), in one opening of the store."""
    report = DeleteReport()
    for video_id in video_ids:
        try:
            path = store.get_video(video_id).path
        except NotFound:
            path = None
        try:
            report.deleted.append(DeletedVideo(video_id=video_id, deleted_frames=store.delete_video(video_id), path=path))
        except NotFound:
            report.not_found.append(video_id)
    return report
