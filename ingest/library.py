"""Bulk mode: index every video under a folder, skipping what is already indexed, never stopping on a bad file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from framesearch.embedders.base import ImageEmbedder, recorded_name
from framesearch.errors import FrameSearchError, InvalidInput, NotFound
from framesearch.ingest.ids import file_video_id, folder_video_id
from framesearch.ingest.local import BATCH, Progress, content_hash, ingest_video
from framesearch.ingest.video import VIDEO_EXTENSIONS
from framesearch.store.base import VectorStore

Status = Literal["indexed", "skipped", "failed"]


@dataclass(frozen=True)
class LibraryItem:
    path: Path
    video_id: str


class Outcome(BaseModel):
    """What became of one video of a library ingest."""

    video_id: str
    path: str
    status: Status
    frames: int = 0
    reason: str = ""
    warnings: list[str] = Field(default_factory=list)


def find_videos(root: Path, recursive: bool = True) -> list[Path]:
    """Video files under `root` by extension, in a stable order."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def library_items(inputs: Iterable[Path], recursive: bool, video_id: str | None = None) -> list[LibraryItem]:
    """Files and folders given on the command line → (file, video id), by the library id rule (ingest/ids.py):
    a file's name, or its path relative to the folder given, extension included."""
    items: list[LibraryItem] = []
    for given in inputs:
        if given.is_dir():
            if video_id:
                raise InvalidInput("a video id names one video; it cannot be given with a folder")
            items += [LibraryItem(p, folder_video_id(given, p)) for p in find_videos(given, recursive)]
        elif given.exists():
            items.append(LibraryItem(given, video_id or file_video_id(given)))
        else:
            raise InvalidInput(f"{given}: no such file or folder")
    if video_id and len(items) > 1:
        raise InvalidInput("a video id names one video; give one file")
    seen: dict[str, Path] = {}
    for item in items:
        if item.video_id in seen:
            raise InvalidInput(f"video id {item.video_id!r} is given by both {seen[item.video_id]} and {item.path}")
        seen[item.video_id] = item.path
    return items


def already_indexed(store: VectorStore, video_id: str, digest: str, model: str, fps: float) -> bool:
    """Same bytes, same model, same sampling rate: nothing new to do."""
    try:
        record = store.get_video(video_id)
    except NotFound:
        return False
    return record.content_hash == digest and record.model == model and record.fps == fps


def ingest_library(
    store: VectorStore,
    items: list[LibraryItem],
    *,
    embedder: ImageEmbedder,
    fps: float,
    force: bool = False,
    progress_for: Callable[[LibraryItem], Progress | None] = lambda item: None,
    batch_size: int = BATCH,
) -> list[Outcome]:
    """Index each item; failures are recorded and the run goes on."""
    outcomes: list[Outcome] = []
    for item in items:
        try:
            digest = content_hash(item.path)
            info = store.info()
            name = recorded_name(embedder, info.model if info else None)
            if not force and already_indexed(store, item.video_id, digest, name, fps):
                outcomes.append(Outcome(video_id=item.video_id, path=str(item.path), status="skipped", reason="already indexed"))
                continue
            warnings: list[str] = []
            record = ingest_video(
                store,
                item.path,
                embedder=embedder,
                fps=fps,
                video_id=item.video_id,
                progress=progress_for(item),
                digest=digest,
                warn=warnings.append,
                batch_size=batch_size,
            )
            outcomes.append(
                Outcome(video_id=item.video_id, path=str(item.path), status="indexed", frames=record.frames, warnings=warnings)
            )
        except (FrameSearchError, OSError) as exc:
            if isinstance(exc, FrameSearchError) and exc.http_status not in (404, 409, 422):
                raise
            outcomes.append(Outcome(video_id=item.video_id, path=str(item.path), status="failed", reason=str(exc)))
    return outcomes
