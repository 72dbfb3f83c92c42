"""Copy a library between stores (a Qdrant Edge folder, a Qdrant server or cluster), then check the copy.

Videos are copied one at a time through the store interface, per library record, each as one run of the target
(`target.run()`, store/writes.py): a video's points first (in batches, exactly as stored), its record last, which
commits them, so a video is visible in the target only once whole, and a version it replaces stays visible
until then. An interrupted copy resumes by running it again: videos whose record and point count already
match are skipped. Afterwards
the point count of every video, its record and a sample of vectors are compared between the two stores.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import islice

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from framesearch.errors import NotFound, StoreError, TargetNotEmpty
from framesearch.store.base import QdrantStore, StoredPoint
from framesearch.store.schema import FRAME, VideoRecord

COPY_BATCH = 256
SAMPLE_KEEP = 64  # points kept per video while streaming it, to sample vectors from afterwards
VECTOR_TOLERANCE = 1e-5

Progress = Callable[[int, int | None], None]


class CopyRequest(BaseModel):
    """Copy the current library to another store."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(..., min_length=1, max_length=4096, description="A Qdrant Edge folder or a Qdrant server URL.")
    source: str | None = Field(
        default=None, min_length=1, max_length=4096, description="Copy from here (default: the current store)."
    )
    collection: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Target collection (default: the same)."
    )
    merge: bool = Field(
        default=False, description="Add to a target that holds other videos (a video in both: the source's wins)."
    )
    sample: int = Field(default=64, ge=0, le=100_000, description="Vectors compared after the copy.")


class CopyReport(BaseModel):
    """What a copy did and what its check found."""

    source: str
    target: str
    model: str
    videos: int = Field(description="Videos in the source library.")
    copied: int = Field(description="Videos written to the target.")
    skipped: int = Field(description="Videos already in the target (same record, same points): a resumed copy.")
    points: int = Field(description="Points written.")
    verified_videos: int = Field(description="Videos whose record and point count match in both stores.")
    sampled_vectors: int = Field(description="Vectors compared, equal within tolerance.")


def _batched(points: Iterator[StoredPoint], size: int) -> Iterator[list[StoredPoint]]:
    while batch := list(islice(points, size)):
        yield batch


def _check_target(source_records: dict[str, VideoRecord], target: QdrantStore, merge: bool) -> dict[str, VideoRecord]:
    """The target's records; refuses a target with other videos unless merging (a resumed copy is not 'other')."""
    existing = {r.video_id: r for r in target.list_videos()}
    foreign = sorted(v for v, r in existing.items() if source_records.get(v) != r)
    if foreign and not merge:
        raise TargetNotEmpty(
            f"{target.description} already holds {len(foreign)} video(s) that are not this library's "
            f"(e.g. {foreign[0]!r}): copying would mix two libraries"
        )
    return existing


def copy_library(
    source: QdrantStore, target: QdrantStore, *, merge: bool = False, sample: int = 64, progress: Progress | None = None
) -> CopyReport:
    """Copy every video (points, then record) from `source` to `target`, then verify; returns what was done."""
    info = source.info()
    if info is None:
        raise NotFound(f"{source.description} holds no library to copy")
    records = {r.video_id: r for r in source.list_videos()}
    existing = _check_target(records, target, merge)
    target.ensure_collection(info.model, info.dim, info.model_path)
    total, done, copied, points = source.frame_count(), 0, 0, 0
    kept: dict[str, list[StoredPoint]] = {}
    rng = random.Random(0)
    for video_id, record in records.items():
        count = source.frame_count(video_id)
        if existing.get(video_id) == record and target.frame_count(video_id) == count:
            done += count
            if progress:
                progress(done, total)
            continue
        reservoir: list[StoredPoint] = []
        seen = 0
        # a run replaces another version (merging) or what an interrupted copy left
        with target.run(video_id, frames=count, dim=info.dim) as run:
            for batch in _batched(source.video_points(video_id), COPY_BATCH):
                run.put_points(batch)
                for point in batch:
                    seen += 1
                    _keep(reservoir, point, seen, rng)
                done += len(batch)
                if progress:
                    progress(done, total)
            run.commit(record)  # names the source's run, which the copied points carry
        points += run.frames
        kept[video_id] = reservoir
        copied += 1
    target.flush()
    verified, sampled = verify_copy(source, target, records, kept, sample)
    return CopyReport(
        source=source.description,
        target=target.description,
        model=info.model,
        videos=len(records),
        copied=copied,
        skipped=len(records) - copied,
        points=points,
        verified_videos=verified,
        sampled_vectors=sampled,
    )


def _keep(reservoir: list[StoredPoint], point: StoredPoint, seen: int, rng: random.Random) -> None:
    """Reservoir sampling: every point streamed so far has the same chance to be kept."""
    if len(reservoir) < SAMPLE_KEEP:
        reservoir.append(point)
    else:
        slot = rng.randrange(seen)
        if slot < SAMPLE_KEEP:
            reservoir[slot] = point


def verify_copy(
    source: QdrantStore,
    target: QdrantStore,
    records: dict[str, VideoRecord],
    kept: dict[str, list[StoredPoint]],
    sample: int,
) -> tuple[int, int]:
    """Compare records and point counts of every video, and `sample` vectors; raises StoreError on a difference."""
    problems: list[str] = []
    for video_id, record in records.items():
        want, have = source.frame_count(video_id), target.frame_count(video_id)
        if want != have:
            problems.append(f"{video_id!r}: {have} points, the source has {want}")
        elif target.get_video(video_id) != record:
            problems.append(f"{video_id!r}: its record differs")
    candidates = [(v, p) for v in records for p in kept.get(v) or list(islice(source.video_points(v), 4))]
    chosen = random.Random(1).sample(candidates, min(sample, len(candidates)))
    for video_id, point in chosen:
        frame = int(point.payload[FRAME])
        if not np.allclose(target.frame_vector(video_id, frame), np.asarray(point.vector), atol=VECTOR_TOLERANCE):
            problems.append(f"{video_id!r} frame {frame}: the vector differs")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise StoreError(f"the copy in {target.description} does not match {source.description}: {shown}")
    return len(records), len(chosen)
