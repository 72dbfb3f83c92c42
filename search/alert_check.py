"""The check of a committed run against every standing search: a search over just the run's new points.

A store tells its commit listeners of each committed run (store/writes.py `Committed`: the video, the run, the time
range its points cover). `AlertChecker.check` runs each standing search that watches the video as a search would
(search/core.py `search_vector`: the same absolute confidence, the same negatives, the same moments), filtered on
that video and that time range, so its cost follows the new points, not the library. Each moment found is then
compared with what the alert already told in that video (search/alerts.py `Told`):

- a moment that overlaps a told one, or starts within the moment gap (GAP_FACTOR sampling intervals: the gap
  between two frames of one moment of a search) of one's end, continues it: the told moment grows, nothing new is
  told (a moment that goes on across two chunks of a stream is one alert; a re-ingest of a video tells nothing
  again);
- a moment starting before `quiet_until` (the end of the last told moment plus the alert's cooldown) is not told;
- any other moment is new: one AlertEvent, logged and (with a webhook) put in the outbox, all under the book's lock.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from framesearch.errors import FrameSearchError
from framesearch.search.alerts import Alert, AlertBook, AlertEvent, Told, now_text
from framesearch.search.core import search_vector
from framesearch.search.models import SearchFilters, Segment
from framesearch.search.prompts import query_vector
from framesearch.search.segments import GAP_FACTOR
from framesearch.settings import Settings
from framesearch.store.base import VectorStore
from framesearch.store.runs import Committed
from framesearch.validation import DEFAULT_FPS, MAX_LIMIT

log = logging.getLogger(__name__)
EPS = 1e-3


@dataclass
class AlertChecker:
    """Checks committed runs of `store` against the standing searches of `book` (text vectors cached per model).
    `embedder`: a callable giving the query embedder of the collection's model (loaded only once an alert exists);
    `told`: called with the new events once they are logged (the delivery queue wakes up)."""

    store: VectorStore
    book: AlertBook
    settings: Settings
    embedder: Callable[[], object]
    told: Callable[[list[AlertEvent]], None] = lambda events: None
    found: int = 0  # new moments told by this checker
    _vectors: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, done: Committed) -> None:
        """The commit listener: check the run, never raise (a failed check is logged; the ingest stands)."""
        if done.op != "ingest" or not done.frames:
            return
        try:
            events = self.check(done)
        except (FrameSearchError, OSError, ValueError) as exc:
            log.warning("standing searches: the check of run %s of %r failed: %s", done.run, done.video_id, exc)
            return
        if events:
            self.found += len(events)
            self.told(events)

    def _vector(self, embedder: object, text: str) -> np.ndarray:
        info = self.store.info()
        key = (info.model if info else "", text)
        with self._lock:
            if key not in self._vectors:
                self._vectors[key] = query_vector(embedder, text)
            return self._vectors[key]

    def moments(self, alert: Alert, done: Committed, embedder: object) -> list[Segment]:
        """The alert's moments among the run's points (video `done.video_id`, times `done.t_min`..`done.t_max`)."""
        filters = SearchFilters(
            video_id=[done.video_id],
            t_min=done.t_min,
            t_max=done.t_max,
            min_confidence=alert.min_confidence,
            limit=MAX_LIMIT,
        )
        vector = self._vector(embedder, alert.q)
        negatives = [self._vector(embedder, n) for n in alert.negatives]
        response = search_vector(self.store, vector, filters, self.settings, embedder, query=alert.q, negatives=negatives)
        return sorted((r for r in response.results if isinstance(r, Segment)), key=lambda s: s.start)

    def check(self, done: Committed) -> list[AlertEvent]:
        """The new moments of the committed run, for every standing search watching its video (logged and queued)."""
        alerts = [a for a in self.book.alerts() if a.watches(done.video_id)]
        if not alerts or done.t_min is None:
            return []
        embedder = self.embedder()
        found = [(alert, self.moments(alert, done, embedder)) for alert in alerts]
        if not any(moments for _, moments in found):
            return []
        gap = GAP_FACTOR * self._interval(done.video_id)
        with self.book.locked():
            state = self.book.read_state()
            events: list[AlertEvent] = []
            for alert, moments in found:
                told = self.book.told(state, alert.id, done.video_id)
                events += [_event(alert, m, done) for m in moments if _is_new(told, m, gap, alert.cooldown)]
                self.book.set_told(state, alert.id, done.video_id, told)
            current = {a.id: a for a in self.book.alerts()}  # an alert deleted meanwhile tells nothing
            events = [e for e in events if e.alert_id in current]
            logged = self.book.record(state, events, current)
            self.book.write_state(state)
        return logged

    def _interval(self, video_id: str) -> float:
        try:
            fps = self.store.get_video(video_id).fps
        except FrameSearchError:
            fps = None
        return 1.0 / (fps or DEFAULT_FPS)


def _is_new(told: Told, moment: Segment, gap: float, cooldown: float) -> bool:
    """Whether `moment` is new to `told` (updating it: a continued moment grows; a new one is remembered)."""
    for i, (start, end) in enumerate(told.moments):
        if moment.start <= end + gap + EPS and moment.end >= start - gap - EPS:
            grown = (min(start, moment.start), max(end, moment.end))
            told.moments[i] = grown
            if grown[1] > end and end + cooldown >= told.quiet_until - EPS:
                told.quiet_until = grown[1] + cooldown
            return False
    if moment.start < told.quiet_until - EPS:
        return False
    told.moments.append((moment.start, moment.end))
    told.quiet_until = moment.end + cooldown
    return True


def _event(alert: Alert, moment: Segment, done: Committed) -> AlertEvent:
    return AlertEvent(
        id=uuid.uuid4().hex,
        alert_id=alert.id,
        q=alert.q,
        video_id=moment.video_id,
        start=moment.start,
        end=moment.end,
        confidence=moment.confidence,
        score=moment.score,
        peak_time=moment.peak_time,
        peak_frame=moment.peak_frame,
        start_utc=moment.start_utc,
        end_utc=moment.end_utc,
        run=done.run,
        detected_at=now_text(),
    )
