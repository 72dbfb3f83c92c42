"""Bulk mode: index every video under a folder, skipping what is already indexed, never stopping on a bad file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from framesearch.embedders.base import ImageEmbedder, recorded_name
from framesearch.errors import FrameSearchError, InvalidInput, NotFound
from framesearch.ingest.identity import Identity, identify, resolved
from framesearch.ingest.ids import file_video_id, folder_video_id
from framesearch.ingest.local import BATCH, Progress, content_hash, ingest_video
from framesearch.ingest.video import VIDEO_EXTENSIONS
from framesearch.store.base import VectorStore
from framesearch.store.pages import is_missing
from framesearch.store.schema import VideoRecord

Status = Literal["indexed", "skipped", "moved", "linked", "failed", "missing", "removed"]
MOVED = "moved"  # the same bytes at a new path, the old one gone: re-linked, nothing embedded
LINKED = "linked"  # a copy of an indexed video: its path added to that video


@dataclass(frozen=True)
class LibraryItem:
    path: Path
    video_id: str  # the id by the library id rule; the library's own id for these bytes wins (ingest/identity.py)
    explicit: bool = False  # the id was given (--video-id): it wins


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
            items.append(LibraryItem(given, video_id or file_video_id(given), explicit=bool(video_id)))
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
    return up_to_date(record, digest, model, fps)


def up_to_date(record: VideoRecord | None, digest: str, model: str, fps: float) -> bool:
    return record is not None and record.content_hash == digest and record.model == model and record.fps == fps


def relink(store: VectorStore, ident: Identity, item: LibraryItem) -> Outcome:
    """Record the file's path on the video it is (a move or a copy): no frame is embedded again."""
    record = ident.record
    assert record is not None
    here = resolved(item.path)
    paths = ident.paths(here)
    store.put_video(record.model_copy(update={"path": paths[0], "paths": paths}))
    if ident.relation == "moved":
        was = ", ".join(record.known_paths()) or "no path"
        return Outcome(video_id=ident.video_id, path=str(item.path), status=MOVED, reason=f"moved from {was}")
    first = record.known_paths()[0]
    return Outcome(video_id=ident.video_id, path=str(item.path), status=LINKED, reason=f"the same video as {first}")


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
    """Index each item as the video it is (ingest/identity.py); failures are recorded and the run goes on."""
    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcomes.append(_ingest_item(store, item, embedder, fps, force, progress_for, batch_size))
        except (FrameSearchError, OSError) as exc:
            if isinstance(exc, FrameSearchError) and exc.http_status not in (404, 409, 422):
                raise
            outcomes.append(Outcome(video_id=item.video_id, path=str(item.path), status="failed", reason=str(exc)))
    return outcomes


def _ingest_item(
    store: VectorStore,
    item: LibraryItem,
    embedder: ImageEmbedder,
    fps: float,
    force: bool,
    progress_for: Callable[[LibraryItem], Progress | None],
    batch_size: int,
) -> Outcome:
    digest = content_hash(item.path)
    info = store.info()
    name = recorded_name(embedder, info.model if info else None)
    ident = identify(store, item.path, item.video_id, digest, explicit=item.explicit)
    if not force and up_to_date(ident.record, digest, name, fps):
        if ident.relation in ("moved", "copy"):
            return relink(store, ident, item)
        return Outcome(video_id=ident.video_id, path=str(item.path), status="skipped", reason="already indexed")
    warnings: list[str] = []
    named = LibraryItem(item.path, ident.video_id, item.explicit)
    record = ingest_video(
        store,
        item.path,
        embedder=embedder,
        fps=fps,
        video_id=ident.video_id,
        progress=progress_for(named),
        digest=digest,
        warn=warnings.append,
        batch_size=batch_size,
        paths=ident.paths(resolved(item.path)),
    )
    return Outcome(video_id=ident.video_id, path=str(item.path), status="indexed", frames=record.frames, warnings=warnings)


def gone_from(store: VectorStore, folders: Iterable[Path], recursive: bool) -> list[VideoRecord]:
    """Videos whose every file is gone from disk, one of them in one of `folders` (or below, when `recursive`).
    One read of the records per call (not per video)."""
    roots = [resolved(f).rstrip("/") for f in folders if f.is_dir()]
    if not roots:
        return []

    def inside(path: str) -> bool:
        parent = path.rsplit("/", 1)[0]
        return any(parent == root or (recursive and path.startswith(root + "/")) for root in roots)

    return [r for r in store.list_videos() if any(inside(p) for p in r.known_paths()) and is_missing(r)]


def prune_missing(store: VectorStore, records: Iterable[VideoRecord], remove: bool) -> list[Outcome]:
    """Outcomes for videos gone from disk: reported ("missing"), or deleted from the library ("removed")."""
    outcomes = []
    for record in records:
        where = ", ".join(record.known_paths())
        if remove:
            frames = store.delete_video(record.video_id)
            gone = Outcome(video_id=record.video_id, path=where, status="removed", frames=frames, reason="gone from disk")
            outcomes.append(gone)
        else:
            outcomes.append(
                Outcome(video_id=record.video_id, path=where, status="missing", reason="gone from disk (--prune removes it)")
            )
    return outcomes
