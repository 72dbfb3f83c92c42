"""Bounded disk use of the service's work folder: library media of failed or deleted videos, folders of uploads
cut off by a crash, and the history of finished jobs. Plain functions over paths; the job manager calls them."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MEDIA = "media"
JOB_FILE = "job.json"


def media_dir(work_dir: Path) -> Path:
    """Where the service keeps the videos it was sent (uploads and downloads of jobs), for playback."""
    return work_dir / MEDIA


def in_media(work_dir: Path, path: str | Path | None) -> bool:
    """Whether `path` is a file the service keeps (and may delete), not one of the user's own."""
    return bool(path) and Path(path).parent == media_dir(work_dir)


def release_media(work_dir: Path, path: str | Path | None) -> bool:
    """Delete a kept video that no record needs any more; files outside the media folder are never touched."""
    if not in_media(work_dir, path):
        return False
    Path(path).unlink(missing_ok=True)  # type: ignore[arg-type]
    return True


def sweep_media(work_dir: Path, needed: Iterable[str | None]) -> list[Path]:
    """Delete kept videos that neither a library record nor an unfinished job names (left by failures, deletes
    made elsewhere, crashes); returns what was deleted."""
    folder = media_dir(work_dir)
    if not folder.is_dir():
        return []
    keep = {Path(p).name for p in needed if p is not None and in_media(work_dir, p)}
    removed = [p for p in folder.iterdir() if p.is_file() and p.name not in keep]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def sweep_job_folders(root: Path) -> list[Path]:
    """Delete job folders without a job file (an upload cut off by a crash) and partial files in the others."""
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        if folder.is_dir() and not (folder / JOB_FILE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        elif folder.is_dir():
            for part in folder.glob("*.part"):
                part.unlink(missing_ok=True)
                removed.append(part)
    return removed


def _when(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text) if text else datetime.min.replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def expired_jobs(jobs: Iterable[Any], *, keep: int, days: float, now: datetime | None = None) -> list[str]:
    """Ids of finished jobs to forget: older than `days`, or past the newest `keep` finished ones."""
    now = now or datetime.now(UTC)
    finished = [j for j in jobs if j.status in ("done", "failed")]
    finished.sort(key=lambda j: _when(j.finished_at or j.updated_at), reverse=True)
    cutoff = now - timedelta(days=days)
    return [j.job_id for i, j in enumerate(finished) if i >= keep or _when(j.finished_at or j.updated_at) < cutoff]
