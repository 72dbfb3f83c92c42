"""Library ids: one rule for every entry point, and a warning when the same bytes come in under another id.

A video's id is its file name with the extension (`flower.mp4`); inside a folder given to an ingest, its
path relative to that folder (`trips/2024/flower.mp4`); for a URL, the last segment of its path. A results
JSON stands for a video: its id is the video named inside it (`framesearch infer` records it), else the
results file's name without `.json`. An explicit id always wins.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from framesearch.store.base import VectorStore

RESULTS_SUFFIX = ".json"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def file_video_id(path: Path | str) -> str:
    """The id of a single video file: its name, extension included."""
    return Path(path).name or str(path)


def folder_video_id(root: Path, path: Path) -> str:
    """The id of a video found in a folder: its path relative to that folder, extension included."""
    return path.relative_to(root).as_posix()


def source_video_id(source: str) -> str:
    """The id of a video named by a file path or an http(s) URL (the URL's last path segment)."""
    if is_url(source):
        name = PurePosixPath(unquote(urlsplit(source).path).rstrip("/")).name
        return name or source
    return file_video_id(source)


def results_video_id(path: Path | str, recorded_video: str | None = None) -> str:
    """The id of the video a results file stands for: the video it names, else the file's name less `.json`."""
    if recorded_video:
        return file_video_id(recorded_video)
    name = Path(path).name
    return name[: -len(RESULTS_SUFFIX)] if name.lower().endswith(RESULTS_SUFFIX) and len(name) > 5 else name


def same_bytes_warning(store: VectorStore, video_id: str, digest: str | None, what: str = "bytes") -> str | None:
    """A warning when a video with these very bytes (or results, `what`) is already in the library under another id."""
    if not digest:
        return None
    others = [r.video_id for r in store.videos_where(content_hash=digest) if r.video_id != video_id]  # one index lookup
    if not others:
        return None
    named = ", ".join(repr(o) for o in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return (
        f"the same {what} are already indexed as {named}; {video_id!r} adds them again under another id "
        "(delete one of them to keep a single copy)"
    )
