"""The write side of a store: a video's write is a run, begun, written, committed and finished (store/runs.py).

`RunWrites` is mixed into `VectorStore` (store/base.py), whose primitives (`_upsert`, `_delete`, `_retrieve`,
`_scroll`, `_facet`) and library methods (`put_video`, `_record`, `_changed`) it uses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from framesearch.errors import DiskFull, StoreReadOnly, VideoBusy
from framesearch.store.filters import SearchFilter
from framesearch.store.runs import HEARTBEAT_S, Op, RunMarker, Visibility, marker_id, new_run
from framesearch.store.schema import RUN, FramePoint, VideoRecord, video_point_id
from framesearch.vectors import normalize

log = logging.getLogger(__name__)


class RunWrites:
    """Runs: claim a video, write its frames, commit its record, finish (and repair what a crash left)."""

    # state shared by the run protocol (created lazily: backends need not call a base __init__)

    @property
    def _runs(self) -> _RunState:
        state = self.__dict__.get("_run_state")
        if state is None:
            state = self.__dict__.setdefault("_run_state", _RunState())
        return state

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly(f"{self.description} is read-only: it can be searched, not written")

    # runs: begin, write frames, commit the record, finish (see store/runs.py)

    def begin_run(self, video_id: str, op: Op = "ingest") -> str:
        """Claim `video_id` for one write and announce its run (VideoBusy while another writer holds it)."""
        self._check_writable()
        self.ensure_space(0, 1, f"writing video {video_id!r}")
        with self._runs.claim:
            live = [m for m in self.run_markers(video_id) if m.is_live(self._runs.mine)]
            if live:
                raise VideoBusy(
                    f"video {video_id!r} is being written by {live[0].describe()}: one write per video at a time, "
                    "try again when it is done"
                )
            self.adopt_legacy_record(video_id)
            run = new_run()
            self._put_marker(RunMarker.mine(video_id, run, op))
            self._runs.mine.add(run)
            self._runs.beats[run] = time.monotonic()
        return run

    def heartbeat(self, video_id: str, run: str) -> None:
        """Tell other processes the run is alive (at most every HEARTBEAT_S seconds)."""
        if time.monotonic() - self._runs.beats.get(run, 0.0) < HEARTBEAT_S:
            return
        found = self._retrieve("videos", [marker_id(run)])
        if found:
            marker = RunMarker.model_validate(found[0].payload)
            self._put_marker(marker.model_copy(update={"heartbeat": time.time()}))
        self._runs.beats[run] = time.monotonic()

    def upsert_frames(self, frames: Sequence[FramePoint], run: str) -> None:
        """Write frame points of ingest `run` (invisible to searches until the run is committed)."""
        if not frames:
            return
        self._check_writable()
        vectors = normalize(np.stack([f.vector for f in frames]))
        self._upsert("frames", [f.point_id(run) for f in frames], vectors.tolist(), [f.payload(run) for f in frames])

    def sweep_stale(self, video_id: str, run: str) -> None:
        """Delete the video's points that `run` did not write (the older protocol's sweep; finish_run does it now)."""
        self._check_writable()
        self._delete("frames", SearchFilter(video_ids=(video_id,), not_run=run))

    def commit_run(self, record: VideoRecord) -> None:
        """Make the run the record names the video's searchable version: one write of the record."""
        if not record.ingest_run:
            raise ValueError("a committed record names its ingest run")
        self.put_video(record)

    def finish_run(self, video_id: str, run: str | None = None) -> None:
        """After a commit (or instead of one): drop the video's points of runs that are neither committed nor still
        being written by a live writer elsewhere (all of them if it has no record and no such writer), then the
        markers of runs that are over. Idempotent; what repairs a crashed run."""
        self._check_writable()
        committed = self.committed_run(video_id)
        live = {m.ingest_run for m in self.run_markers(video_id) if m.ingest_run != run and self.is_live(m)}
        keep = tuple(sorted(live | ({committed} if committed else set())))
        self._delete("frames", SearchFilter(video_ids=(video_id,), keep_runs=keep))
        self._delete("videos", SearchFilter(video_ids=(video_id,), entries="markers", keep_runs=tuple(sorted(live))))
        self._runs.mine.discard(run or "")
        self._runs.beats.pop(run or "", None)
        self._changed()

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

    def is_live(self, marker: RunMarker) -> bool:
        """Whether a run's writer may still be at work (see RunMarker.is_live)."""
        return marker.is_live(self._runs.mine)

    def tidy_video(self, video_id: str) -> bool:
        """Keep only the video's committed run (all of it gone without a record) unless a live writer holds it."""
        self._check_writable()
        with self._runs.claim:
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
        self._changed()

    def adopt_legacy_record(self, video_id: str) -> str | None:
        """A record written before records named their run gets the run its points carry (the most common);
        returns the run adopted, if any."""
        found = self._retrieve("videos", [video_point_id(video_id)]) if self._read_info() else []
        if not found or found[0].payload.get(RUN):
            return None
        runs = self.point_counts(RUN, video_id)
        if not runs:
            return None
        run = Counter(runs).most_common(1)[0][0]
        self.put_video(self._record(found[0].payload).model_copy(update={"ingest_run": run}))
        return run

    def abandon_run(self, video_id: str, run: str, cause: BaseException) -> None:
        """Undo an uncommitted run as far as possible; what is left stays invisible until a repair.
        After a full disk or on a read-only store nothing more is written."""
        if isinstance(cause, (DiskFull, StoreReadOnly)) or not isinstance(cause, Exception):
            self._runs.mine.discard(run)
            return
        self.finish_run_after_commit(video_id, run)

    def finish_run_after_commit(self, video_id: str, run: str) -> None:
        """finish_run, whose failure is logged, not raised: the write is committed, its cleanup can wait."""
        try:
            self.finish_run(video_id, run)
        except Exception as exc:  # the commit stands; the next open or a store check finishes the run
            self._runs.mine.discard(run)
            log.warning("%s: cleanup of run %s of %r left for later: %s", self.description, run, video_id, exc)


class _RunState:
    """This process's runs in progress and the cached visibility."""

    def __init__(self) -> None:
        self.claim = threading.RLock()
        self.lock = threading.Lock()
        self.mine: set[str] = set()
        self.beats: dict[str, float] = {}
        self.visibility: Visibility | None = None
        self.generation = 0  # bumped by every marker or record write, so a cache is never older than one
