"""The write side of a store: every write to a video is a run (store/runs.py), and `store.run(video_id)` owns it.

    with store.run(video_id, frames=n, dim=d) as run:   # claim the video, announce the run (VideoBusy if taken)
        run.write(batch)                                 # frame points, invisible to searches
        run.commit(record)                               # the record naming the run: searches switch at once

Leaving the block finishes the run: after a commit the old version's points and the marker go (a failure there
is logged, not raised: the next open or a store check finishes it); without a commit, or on an exception, what
the run wrote is rolled back. Only a run whose writer dies (a kill, a KeyboardInterrupt) or that hit a full disk
or a read-only store keeps its marker: the next open or a store check rolls it back.

Once a committed run is finished, the store's commit listeners (`store.on_commit(listener)`) hear of it: the video,
the run and the time range of the points it wrote (`Committed`), in the writer's thread. Every write of every kind
(a file, an upload, a library, a stream's chunk) goes through here, so this is where standing searches look at
new points (search/alerts.py; the listener is passed down by the CLI or the service, the store imports no search).

`open_run` is the protocol, written once over `RunStore` (the steps a store provides): `RunWrites` below, and the
service's HostedStore, which forwards each step to its store process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import numpy as np

from framesearch.errors import DiskFull, FrameSearchError, StoreReadOnly, VideoBusy
from framesearch.store.backend import Backend
from framesearch.store.filters import SearchFilter, StoredPoint
from framesearch.store.runs import HEARTBEAT_S, CommitListener, Committed, Op, RunMarker, marker_id, new_run
from framesearch.store.schema import BASE_RUN, RUN, TIMESTAMP, VIDEO_ID, FramePoint, VideoRecord, video_point_id
from framesearch.vectors import normalize

log = logging.getLogger(__name__)
EXPIRE_EPSILON = 1e-4  # stream times are stored to 4 decimals: a point at exactly the cut-off is kept


class RunStore(Protocol):
    """The steps of a run a store provides (driven by `open_run`, in this order)."""

    def begin_run(self, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> str: ...

    def upsert_frames(self, frames: Sequence[FramePoint], run: str) -> None: ...

    def put_points(self, points: Sequence[StoredPoint], run: str) -> None: ...

    def commit_run(self, record: VideoRecord) -> None: ...

    def commit_delete(self, video_id: str) -> None: ...

    def abandon_run(self, video_id: str, run: str, cause: BaseException) -> None: ...

    def end_run(self, video_id: str, run: str, committed: bool) -> None: ...

    def announce(self, done: Committed) -> None: ...


class Run:
    """One run in progress, as `store.run()` yields it: write its points, then commit them."""

    def __init__(self, store: RunStore, video_id: str, run_id: str) -> None:
        self._store = store
        self.video_id = video_id
        self.id = run_id
        self.frames = 0  # frame points written
        self.committed = False
        self.t_min: float | None = None  # the time range of the points written
        self.t_max: float | None = None

    def _span(self, times: Sequence[float]) -> None:
        if times:
            low, high = min(times), max(times)
            self.t_min = low if self.t_min is None else min(self.t_min, low)
            self.t_max = high if self.t_max is None else max(self.t_max, high)

    def write(self, frames: Sequence[FramePoint]) -> None:
        """Write frame points of the video (normalised, tagged with the run; invisible until the commit)."""
        if frames:
            self._store.upsert_frames(frames, self.id)
            self.frames += len(frames)
            self._span([float(f.timestamp) for f in frames])

    def put_points(self, points: Sequence[StoredPoint]) -> None:
        """Write points exactly as another store holds them (ids, payloads naming their own run, vectors)."""
        if points:
            self._store.put_points(points, self.id)
            self.frames += len(points)
            self._span([float(p.payload[TIMESTAMP]) for p in points if isinstance(p.payload.get(TIMESTAMP), (int, float))])

    def commit(self, record: VideoRecord) -> None:
        """Make the run the record names the video's searchable version: one write of the record."""
        self._store.commit_run(record)
        self.committed = True

    def commit_delete(self) -> None:
        """Make the video's deletion the committed state: its record goes (its points go when the run ends)."""
        self._store.commit_delete(self.video_id)
        self.committed = True


@contextmanager
def open_run(store: RunStore, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> Iterator[Run]:
    """The write protocol, once: begin (checking the disk takes `frames` points of `dim`), yield the run, then end
    it (finished after a commit, rolled back without one), or abandon it on an exception."""
    run = Run(store, video_id, store.begin_run(video_id, op, frames, dim))
    try:
        yield run
    except BaseException as exc:
        store.abandon_run(video_id, run.id, exc)
        raise
    store.end_run(video_id, run.id, run.committed)
    if run.committed:
        store.announce(Committed(video_id, run.id, op, run.frames, run.t_min, run.t_max))


class RunWrites(Backend):
    """Runs over the backend's primitives: claim a video, write its points, commit its record, finish (and repair
    what a crash left)."""

    def run(self, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> AbstractContextManager[Run]:
        """The one way to write a video (see the module's docstring)."""
        return open_run(self, video_id, op, frames, dim)

    def on_commit(self, listener: CommitListener) -> Callable[[], None]:
        """Tell `listener` of every run this store object commits from now on (see the module's docstring);
        returns what stops it."""
        return self._state.listeners.add(listener)

    def announce(self, done: Committed) -> None:
        self._state.listeners.announce(done)

    def begin_run(self, video_id: str, op: Op = "ingest", frames: int = 0, dim: int = 1) -> str:
        """Claim `video_id` for one write and announce its run (VideoBusy while another writer holds it)."""
        self._check_writable()
        self.ensure_space(frames, dim, f"writing video {video_id!r}")
        with self._state.claim:
            live = [m for m in self.run_markers(video_id) if self.is_live(m)]
            if live:
                raise VideoBusy(
                    f"video {video_id!r} is being written by {live[0].describe()}: one write per video at a time, "
                    "try again when it is done"
                )
            run = new_run()
            self._put_marker(RunMarker.mine(video_id, run, op))
            self._state.mine.add(run)
            self._state.beats[run] = time.monotonic()
        return run

    def heartbeat(self, video_id: str, run: str) -> None:
        """Tell other processes the run is alive (at most every HEARTBEAT_S seconds)."""
        if time.monotonic() - self._state.beats.get(run, 0.0) < HEARTBEAT_S:
            return
        found = self._retrieve("videos", [marker_id(run)])
        if found:
            marker = RunMarker.model_validate(found[0].payload)
            self._put_marker(marker.model_copy(update={"heartbeat": time.time()}))
        self._state.beats[run] = time.monotonic()

    def upsert_frames(self, frames: Sequence[FramePoint], run: str) -> None:
        """Write frame points of `run` (invisible to searches until the run is committed), once the disk is known
        to take them; keeps the run's marker alive."""
        if not frames:
            return
        self._check_writable()
        vectors = normalize(np.stack([f.vector for f in frames]))
        video_id = frames[0].video_id
        self.ensure_space(len(frames), int(vectors.shape[-1]), f"writing video {video_id!r}")
        self.heartbeat(video_id, run)
        self._upsert("frames", [f.point_id(run) for f in frames], vectors.tolist(), [f.payload(run) for f in frames])

    def put_points(self, points: Sequence[StoredPoint], run: str) -> None:
        """Write points exactly as another store holds them (same ids, payloads, vectors) within `run` of their
        video: they stay invisible until a record naming their own run commits them."""
        if not points:
            return
        self._check_writable()
        dim = len(points[0].vector or ())
        video_id = str(points[0].payload.get(VIDEO_ID, ""))
        self.ensure_space(len(points), max(dim, 1), f"writing video {video_id!r}")
        self.heartbeat(video_id, run)
        self._upsert("frames", [p.id for p in points], [list(p.vector or ()) for p in points], [p.payload for p in points])

    def commit_run(self, record: VideoRecord) -> None:
        """Make the run the record names the video's searchable version: one write of the record."""
        if not record.ingest_run:
            raise ValueError("a committed record names its ingest run")
        self._put_record(record)

    def commit_delete(self, video_id: str) -> None:
        """The commit of a delete: the video's record goes (its points go when the run finishes)."""
        self._check_writable()
        with self._writing_records():
            self._delete("videos", SearchFilter(video_ids=(video_id,), entries="records"))
            self._changed(gone=video_id)

    def _put_record(self, record: VideoRecord) -> None:
        self._check_writable()
        try:  # the record as a read gives it back (JSON), never the caller's object
            stored: VideoRecord | None = VideoRecord.model_validate_json(record.model_dump_json())
        except ValueError:  # not plain JSON: the listing is read again instead
            stored = None
        with self._writing_records():
            self._upsert("videos", [video_point_id(record.video_id)], [[1.0]], [record.to_payload()])
            self._changed(put=stored)

    @contextmanager
    def _writing_records(self) -> Iterator[None]:
        """A write of records and its change to the kept listing, one such write at a time (so that the listing
        takes them in the order the store did); a write that fails drops the listing (what it left is unknown)."""
        with self._state.records:
            try:
                yield
            except BaseException:
                self._changed()
                raise

    def finish_run(self, video_id: str, run: str | None = None) -> None:
        """After a commit (or instead of one): drop the video's points of runs that are neither committed nor still
        being written by a live writer elsewhere (all of them if it has no record and no such writer), then the
        markers of runs that are over. Idempotent; what repairs a crashed run."""
        self._check_writable()
        committed = set(self.committed_runs(video_id))
        live = {m.ingest_run for m in self.run_markers(video_id) if m.ingest_run != run and self.is_live(m)}
        keep = tuple(sorted(live | committed))
        self._delete("frames", SearchFilter(video_ids=(video_id,), keep_runs=keep))
        self._delete("videos", SearchFilter(video_ids=(video_id,), entries="markers", keep_runs=tuple(sorted(live))))
        self._state.mine.discard(run or "")
        self._state.beats.pop(run or "", None)
        self._changed(same_records=True)

    def end_run(self, video_id: str, run: str, committed: bool) -> None:
        """finish_run, whose failure is logged, not raised (a commit stands; its cleanup can wait), then, after a
        commit, a checkpoint (an embedded store flushes every so often; its write-ahead log holds the updates)."""
        try:
            self.finish_run(video_id, run)
        except Exception as exc:  # the next open or a store check finishes the run
            self._state.mine.discard(run)
            log.warning("%s: cleanup of run %s of %r left for later: %s", self.description, run, video_id, exc)
        if not committed:
            return
        try:
            self.checkpoint()
        except FrameSearchError as exc:  # committed and in the write-ahead log: a slow reopen at worst
            log.warning("%s: flush after writing %r failed: %s", self.description, video_id, exc)

    def abandon_run(self, video_id: str, run: str, cause: BaseException) -> None:
        """Undo a run as far as possible on an error; what is left stays invisible until a repair. After a full
        disk, on a read-only store, or when the writer is being stopped (not an Exception) nothing more is written."""
        if isinstance(cause, (DiskFull, StoreReadOnly)) or not isinstance(cause, Exception):
            self._state.mine.discard(run)
            return
        self.end_run(video_id, run, committed=False)

    def run_markers(self, video_id: str | None = None) -> list[RunMarker]:
        """Runs in progress or abandoned (of one video, or all)."""
        if self._read_info() is None:
            return []
        flt = SearchFilter(video_ids=(video_id,) if video_id is not None else (), entries="markers")
        return [RunMarker.model_validate(p.payload) for p in self._scroll("videos", flt)]

    def committed_run(self, video_id: str) -> str | None:
        """The run the video's record names (None without a record)."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        return found[0].payload.get(RUN) if found else None

    def committed_runs(self, video_id: str) -> tuple[str, ...]:
        """The runs whose points are the video's searchable version (a live stream's: its last chunk and base run)."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        if not found:
            return ()
        return tuple(dict.fromkeys(str(r) for r in (found[0].payload.get(RUN), found[0].payload.get(BASE_RUN)) if r))

    def id_run(self, video_id: str) -> str | None:
        """The run the video's point ids are made with: a stream's base run, else its committed run."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        return (found[0].payload.get(BASE_RUN) or found[0].payload.get(RUN)) if found else None

    def merge_chunks(self, video_id: str, expire_before: float | None = None) -> int:
        """Within a run of a live stream (before writing its chunk): the last committed chunk's points join the
        stream's base run, and with `expire_before` (stream time, s) the base run's older points move to that last
        chunk's run, which the commit of the run retires (its points are swept when the run ends). Every step keeps
        the committed points exactly as they were (both runs stay committed until the run commits), so a crash
        anywhere leaves a consistent store. Returns the frame points the stream keeps (to count in its record)."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        if not found:
            return 0
        record = VideoRecord.from_payload(found[0].payload)
        base, last = record.base_run, record.ingest_run
        if not base or not last:
            raise ValueError(f"video {video_id!r} is not a live stream (its record names no base run)")
        video = (video_id,)
        if last != base:
            self._check_writable()
            self._set_run(SearchFilter(video_ids=video, run=last, t_min=expire_before), base)
            if expire_before is not None:
                self._set_run(SearchFilter(video_ids=video, run=base, t_max=expire_before - EXPIRE_EPSILON), last)
            self._changed(same_records=True)  # frame points moved between runs: no record changed
        return self._count("frames", SearchFilter(video_ids=video, run=base))

    def is_live(self, marker: RunMarker) -> bool:
        """Whether a run's writer may still be at work (see RunMarker.is_live)."""
        return marker.is_live(self._state.mine)

    def tidy_video(self, video_id: str) -> bool:
        """Keep only the video's committed run (all of it gone without a record) unless a live writer holds it."""
        self._check_writable()
        with self._state.claim:
            if any(self.is_live(m) for m in self.run_markers(video_id)):
                return False
            self.finish_run(video_id)
            return True

    def recover(self) -> list[RunMarker]:
        """Finish every abandoned run (its points are removed, its video keeps its committed version)."""
        abandoned = [m for m in self.run_markers() if not self.is_live(m)]
        for video_id in sorted({m.video_id for m in abandoned}):
            self.tidy_video(video_id)
        return abandoned

    def point_counts(self, key: str, video_id: str | None = None) -> dict[str, int]:
        """Every stored frame point (committed or not) counted per value of `key` (video_id or ingest_run)."""
        if self._read_info() is None:
            return {}
        counts = self._facet(key, SearchFilter(video_ids=(video_id,) if video_id is not None else ()))
        return {value: n for value, n in counts.items() if n > 0}  # an index may list values of deleted points

    def _put_marker(self, marker: RunMarker) -> None:
        self._upsert("videos", [marker_id(marker.ingest_run)], [[1.0]], [marker.payload()])
        self._changed(same_records=True)
