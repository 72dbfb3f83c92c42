"""A store check: every video record against its points, runs left unfinished, points no record owns.

`check_store` reports; with `repair` it fixes what can be fixed and checks again: abandoned runs are rolled
back and stale points of superseded runs deleted (neither was ever committed), records lost while their
points survive are rebuilt from the points, and frame counts are corrected to what the store holds. Committed
frames are never deleted. A damaged store (files the engine cannot read) is reported, not repaired: restore it
from a backup or re-ingest its videos.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from framesearch.errors import StoreDamaged
from framesearch.settings import Settings
from framesearch.store.base import QdrantStore
from framesearch.store.integrity import read_every_frame, vectorless_points
from framesearch.store.runs import RunMarker
from framesearch.store.schema import FPS, MODEL, RUN, SOURCE, VIDEO_ID, VideoRecord

ProblemKind = Literal[
    "unfinished_run",
    "orphan_points",
    "stale_points",
    "count_mismatch",
    "lost_vectors",
    "damaged",
]


class Problem(BaseModel):
    """One thing wrong with the store, and whether a repair fixed it."""

    kind: ProblemKind
    video_id: str | None = None
    detail: str
    points: int = Field(default=0, description="Frame points concerned (hidden, stray or missing).")
    repaired: bool = False


class RunInProgress(BaseModel):
    """A write whose writer is still at work (not a problem: it will commit or roll back)."""

    video_id: str
    op: str
    writer: str


class CheckReport(BaseModel):
    """What a store check found (and, with repair, fixed)."""

    store: str
    videos: int = 0
    searchable_frames: int = 0
    stored_points: int = 0
    problems: list[Problem] = Field(default_factory=list)
    in_progress: list[RunInProgress] = Field(default_factory=list)
    repair: bool = False

    @computed_field
    @property
    def remaining(self) -> int:
        """Problems not (or not yet) repaired."""
        return sum(not p.repaired for p in self.problems)

    @computed_field
    @property
    def ok(self) -> bool:
        return self.remaining == 0

    @computed_field
    @property
    def repairable(self) -> bool:
        """Whether a repair can fix every remaining problem (damaged files it cannot)."""
        return all(p.repaired or p.kind not in UNREPAIRABLE for p in self.problems)


def _unfinished(store: QdrantStore, markers: list[RunMarker], by_video: dict[str, int]) -> list[Problem]:
    problems = []
    for video_id in sorted({m.video_id for m in markers}):
        mine = [m for m in markers if m.video_id == video_id]
        counts = store.point_counts(RUN, video_id)
        hidden = by_video.get(video_id, 0) - sum(counts.get(r, 0) for r in store.committed_runs(video_id))
        first = mine[0]
        problems.append(
            Problem(
                kind="unfinished_run",
                video_id=video_id,
                points=hidden,
                detail=f"an {first.op} by {first.describe()} did not finish: {hidden} frame points of it are hidden "
                "from searches; the video keeps its committed version",
            )
        )
    return problems


def _video_problems(store: QdrantStore, record: VideoRecord, held: int) -> list[Problem]:
    """A recorded video: its run, stray points of other runs, and its frame count."""
    problems = []
    runs = store.point_counts(RUN, record.video_id) if held else {}
    committed = sum(runs.get(r, 0) for r in record.committed_runs())
    if held > committed:
        problems.append(
            Problem(
                kind="stale_points",
                video_id=record.video_id,
                points=held - committed,
                detail=f"{held - committed} frame points of other ingest runs than its committed one",
            )
        )
    if committed != record.frames:
        advice = "; re-ingest the video to restore the missing frames" if committed < record.frames else ""
        problems.append(
            Problem(
                kind="count_mismatch",
                video_id=record.video_id,
                points=abs(record.frames - committed),
                detail=f"its record lists {record.frames} frames but the store holds {committed}{advice}",
            )
        )
    return problems


def find_problems(store: QdrantStore, report: CheckReport) -> list[Problem]:
    """Fill the report's counts and in-progress runs; return the problems."""
    records = {r.video_id: r for r in store.list_videos()}
    markers = store.run_markers()
    live = [m for m in markers if store.is_live(m)]
    report.in_progress = [RunInProgress(video_id=m.video_id, op=m.op, writer=m.describe()) for m in live]
    busy = {m.video_id for m in live}
    by_video = store.point_counts(VIDEO_ID)
    report.videos, report.stored_points = len(records), store.stored_points()
    report.searchable_frames = store.frame_count()
    abandoned = [m for m in markers if m.video_id not in busy]
    problems = _unfinished(store, abandoned, by_video)
    marked = {m.video_id for m in markers}
    for video_id, held in sorted(by_video.items()):
        if video_id not in records and video_id not in marked:
            problems.append(
                Problem(
                    kind="orphan_points",
                    video_id=video_id,
                    points=held,
                    detail=f"{held} frame points of a video the library does not list (its record is lost); "
                    "repair rebuilds the record from them",
                )
            )
    for video_id, record in sorted(records.items()):
        if video_id not in marked:
            problems += _video_problems(store, record, by_video.get(video_id, 0))
    try:
        damaged = read_every_frame(store)
    except StoreDamaged as exc:
        problems.append(Problem(kind="damaged", detail=str(exc)))
        damaged = {}
    lost = vectorless_points(store)
    for video_id in sorted(set(damaged) | set(lost)):
        n = damaged.get(video_id, 0) + lost.get(video_id, 0)
        problems.append(
            Problem(
                kind="lost_vectors",
                video_id=video_id,
                points=n,
                detail=f"{n} of its frame points lost their vectors or hold damaged ones (damaged files), so searches "
                "miss or misrank them; re-ingest the video",
            )
        )
    return problems


def rebuild_record(store: QdrantStore, video_id: str) -> VideoRecord:
    """A record for frame points whose record was lost, from what their payloads say (the most common run's)."""
    runs = store.point_counts(RUN, video_id)
    if not runs:
        raise StoreDamaged(f"no frame points of video {video_id!r} to rebuild its record from")
    run = max(runs, key=lambda r: runs[r])
    hits = store.frame_hits(video_id, run=run)
    payload = store.frame_payload(video_id, run) or {}
    info = store.info()
    return VideoRecord(
        video_id=video_id,
        model=str(payload.get(MODEL) or (info.model if info else "unknown")),
        source=str(payload.get(SOURCE) or "results"),
        frames=len(hits),
        fps=payload.get(FPS),
        duration=max((h.timestamp for h in hits), default=None),
        ingest_run=run,
        indexed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        extra={"rebuilt_by_store_check": True},
    )


def _repair(store: QdrantStore, problem: Problem) -> None:
    video_id = problem.video_id or ""
    if problem.kind == "orphan_points":
        try:
            store.put_video(rebuild_record(store, video_id))
        except StoreDamaged:  # not frame points at all (no frame, no time): nothing to rebuild, nothing to keep
            pass
        store.tidy_video(video_id)
    elif problem.kind in ("unfinished_run", "stale_points"):
        store.tidy_video(video_id)
    elif problem.kind == "count_mismatch":
        record = store.get_video(video_id)
        counts = store.point_counts(RUN, video_id)
        held = sum(counts.get(r, 0) for r in record.committed_runs())
        if held == 0:
            store.delete_video(video_id)
        else:
            store.put_video(record.model_copy(update={"frames": held}))


UNREPAIRABLE = ("damaged", "lost_vectors")  # files the engine cannot read: restore a backup or re-ingest
REPAIR_ORDER = ("unfinished_run", "orphan_points", "stale_points", "count_mismatch")
REPAIR_PASSES = 3  # a repair can reveal another problem (a rolled-back run uncovers a record's wrong count)


def check_store(store: QdrantStore, repair: bool = False) -> CheckReport:
    """Check the store; with `repair`, fix what can be fixed and check again."""
    report = CheckReport(store=store.description, repair=repair)
    try:
        report.problems = find_problems(store, report)
        pending = report.problems
        for _ in range(REPAIR_PASSES if repair else 0):
            if not pending:
                break
            for problem in sorted(pending, key=lambda p: REPAIR_ORDER.index(p.kind) if p.kind in REPAIR_ORDER else 99):
                _repair(store, problem)
            store.flush()
            after = CheckReport(store=store.description)
            pending = find_problems(store, after)
            left = {(p.kind, p.video_id) for p in pending}
            known = {(p.kind, p.video_id) for p in report.problems}
            for problem in report.problems:
                problem.repaired = (problem.kind, problem.video_id) not in left
            report.problems += [p for p in pending if (p.kind, p.video_id) not in known]
            report.videos, report.searchable_frames = after.videos, after.searchable_frames
            report.stored_points, report.in_progress = after.stored_points, after.in_progress
    except StoreDamaged as exc:
        report.problems.append(Problem(kind="damaged", detail=str(exc)))
    return report


def check_settings(settings: Settings, repair: bool = False) -> CheckReport:
    """Open the store the settings name as it is (no rollback, no consistency check) and check it."""
    from framesearch.store.open import open_store

    try:
        store = open_store(settings, checks=False, create=False)
    except StoreDamaged as exc:
        where = settings.qdrant_url or str(settings.store)
        return CheckReport(store=where, problems=[Problem(kind="damaged", detail=str(exc))], repair=repair)
    with store:
        return check_store(store, repair)
