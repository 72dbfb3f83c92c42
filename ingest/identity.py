"""Stable video identity: a video is its content, known under its path(s) (docs/ingest.md, "Library ids").

- A video's id is given once, when it is first indexed: by the library id rule (ingest/ids.py: its path relative
  to the folder given, or its file name), or `--video-id`. It never changes after that.
- From then on the library knows the video by its bytes (SHA-256, the record's `content_hash`) and by the paths it
  was found at (`path`, `paths`). The same file reached through any folder or as a single file is that video.
- The same bytes at a new path while every known path is gone: the file moved or was renamed; its record is
  re-linked to the new path, nothing is embedded again.
- The same bytes at a new path while a known one still exists: a copy, added to the video's paths.
- New bytes at a known path (an edited file): indexed again under its id.
- A new file whose default id belongs to another video still on disk gets the shortest free id made of the end of
  its own path (`b/clip.mp4`, then `x/b/clip.mp4`, ...).

Every lookup is by payload index (content hash, path, id), so it costs the same in a library of any size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from framesearch.errors import NotFound
from framesearch.store.base import VectorStore
from framesearch.store.pages import is_missing
from framesearch.store.schema import VideoRecord

Relation = Literal["new", "same", "moved", "copy", "changed"]


@dataclass(frozen=True)
class Identity:
    """Which video of the library a file is, and how it relates to what the library knows of it."""

    video_id: str
    relation: Relation
    record: VideoRecord | None = None

    def paths(self, here: str) -> list[str]:
        """The paths the video's record should list once this file is (re)indexed or linked, playback's first."""
        if self.record is None or self.relation == "changed":
            return [here]
        keep = [p for p in self.record.known_paths() if p == here or on_disk(p)]
        return keep + ([here] if here not in keep else [])


def on_disk(path: str) -> bool:
    return os.path.exists(path)


def resolved(path: Path) -> str:
    return str(Path(path).resolve())


def relation(record: VideoRecord, here: str, digest: str) -> Relation:
    """How a file (absolute path, content hash) relates to an existing record."""
    if record.content_hash != digest:
        return "changed"
    if here in record.known_paths():
        return "same"
    return "moved" if not any(on_disk(p) for p in record.known_paths()) else "copy"


def identify(store: VectorStore, path: Path, default_id: str, digest: str, explicit: bool = False) -> Identity:
    """The video a file is (see the module's rule); `explicit`: `default_id` was given by the user and wins."""
    here = resolved(path)
    if explicit:
        record = _record(store, default_id)
        return Identity(default_id, relation(record, here, digest) if record else "new", record)
    same_bytes = store.videos_where(content_hash=digest)
    for record in same_bytes:
        if here in record.known_paths():
            return Identity(record.video_id, "same", record)
    at_path = store.videos_where(path=here)
    if at_path:
        return Identity(at_path[0].video_id, "changed", at_path[0])
    if same_bytes:
        gone = [r for r in same_bytes if not any(on_disk(p) for p in r.known_paths())]
        record = (gone or same_bytes)[0]
        return Identity(record.video_id, "moved" if gone else "copy", record)
    return _free_id(store, here, default_id, digest)


def _record(store: VectorStore, video_id: str) -> VideoRecord | None:
    try:
        return store.get_video(video_id)
    except NotFound:
        return None


def _free_id(store: VectorStore, here: str, default_id: str, digest: str) -> Identity:
    """A new file's id: its default, unless another video still on disk holds it (then more of its own path)."""
    parts = Path(here).parts[1:]
    longer = ["/".join(parts[-n:]) for n in range(default_id.count("/") + 2, len(parts) + 1)]
    for candidate in [default_id, *longer, *(f"{default_id} ({n})" for n in range(2, 10))]:
        record = _record(store, candidate)
        if record is None:
            return Identity(candidate, "new")
        if is_missing(record):  # its file is gone: this one takes its place
            return Identity(candidate, "changed", record)
    return Identity(f"{default_id} ({digest[:12]})", "new")
