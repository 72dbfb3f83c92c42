"""Standing searches: what they are (request and stored models) and where they live, per library.

A standing search ("alert") is a text query with a confidence floor, optional negative texts, optional videos, an
optional webhook and a cooldown. Each committed run of the library is checked against every one of them
(search/alert_check.py); each new moment becomes one `AlertEvent`, written once to the events log (what
`GET /alerts/events` and `framesearch alerts tail` follow) and, for an alert with a webhook, to the outbox (what the
delivery queue posts, service/alert_delivery.py).

Everything sits in `<store>/alerts.<collection>/` (a collection name holds no dot: no clash with a collection):
`alerts.json` (the alerts, with each webhook's signing secret: the folder is the owner's only), `state.json`
(per alert and video, the moments already told: a moment that goes on in the next chunk is the same moment),
`events.jsonl` (the log, newest last; the oldest are dropped past MAX_EVENTS) and `outbox/` (one file per delivery
still to make). Whole files are replaced atomically (framesearch/files.py); every change holds `lock` (filelock), so
the service and CLI ingests may write at once.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from framesearch.errors import InvalidInput, NotFound
from framesearch.files import write_atomic
from framesearch.search.models import MAX_NEGATIVES, Confidence
from framesearch.validation import MAX_LIMIT, QueryText, Seconds, VideoId, alerts_dir

MAX_ALERTS = 1000
MAX_EVENTS = 10_000  # events kept in the log (the oldest go first)
MAX_TOLD = 256  # moments remembered per alert and video (a re-ingest of the same video tells none of them again)
MAX_URL = 2000
SIGNATURE_HEADER = "X-Framesearch-Signature"  # "sha256=" + hex HMAC-SHA256 of the body with the alert's secret
EVENT_HEADER = "X-Framesearch-Event"  # the event's id: a receiver that sees it twice (a retry after a lost answer) drops it


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertRequest(BaseModel):
    """A standing search to create: the CLI's `alerts add` and `POST /alerts` validate through this."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: QueryText = Field(description="What to watch for, in words.")
    min_confidence: Confidence | None = Field(
        default=None, description="Calibrated confidence floor (0-1); default: the `min_confidence` setting."
    )
    video_id: list[VideoId] = Field(
        default_factory=list, max_length=MAX_LIMIT, description="Only these videos or streams (default: every one)."
    )
    webhook: str | None = Field(
        default=None, min_length=1, max_length=MAX_URL, description="http(s) URL that receives each new moment (JSON POST)."
    )
    negatives: list[QueryText] = Field(
        default_factory=list,
        alias="not",
        max_length=MAX_NEGATIVES,
        description="Leave out what matches any of these texts as well as the query (as a search's `not`).",
    )
    cooldown: Seconds = Field(default=0.0, description="Seconds after a told moment during which a new one is not told.")

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError("must be a URL without spaces or control characters")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        return value

    @model_validator(mode="after")
    def _texts(self) -> AlertRequest:
        self.q = self.q.strip()
        if not self.q:
            raise ValueError("the text query is blank")
        self.negatives = [n.strip() for n in self.negatives]
        if not all(self.negatives):
            raise ValueError("a negative text is blank")
        return self


class AlertView(BaseModel):
    """A standing search as listed (never with its secret)."""

    id: str
    q: str
    min_confidence: float | None = None
    video_id: list[str] = Field(default_factory=list)
    webhook: str | None = None
    negatives: list[str] = Field(default_factory=list, alias="not", description="Negative texts (as a search's `not`).")
    cooldown: float = 0.0
    created_at: str

    model_config = ConfigDict(populate_by_name=True)


class Alert(AlertView):
    """A standing search as stored: with the secret that signs its webhook's posts."""

    secret: str | None = None

    def view(self) -> AlertView:
        return AlertView.model_validate(self.model_dump(exclude={"secret"}))

    def watches(self, video_id: str) -> bool:
        return not self.video_id or video_id in self.video_id


class AlertCreated(AlertView):
    """The answer to creating a standing search: its `secret` is shown this once (it signs the webhook's posts)."""

    secret: str | None = Field(default=None, description="HMAC-SHA256 key of the webhook's signature header; shown once.")


class AlertEvent(BaseModel):
    """One new moment of one standing search: what is told once, to the webhook, the event stream and `alerts tail`."""

    id: str = Field(description="The event's id (also in the webhook's X-Framesearch-Event header).")
    seq: int = Field(default=0, description="Its place in the library's events log (1, 2, ...).")
    alert_id: str
    q: str
    video_id: str
    start: float = Field(description="Seconds into the video or stream where the moment starts.")
    end: float
    confidence: float | None = None
    score: float
    peak_time: float
    peak_frame: int
    start_utc: str | None = Field(default=None, description="Live streams: when the moment started (UTC).")
    end_utc: str | None = None
    run: str = Field(description="The ingest run (file, upload or stream chunk) that brought the moment.")
    detected_at: str


class AlertList(BaseModel):
    count: int
    alerts: list[AlertView]


class EventList(BaseModel):
    count: int
    events: list[AlertEvent]


class Told(BaseModel):
    """The moments of one alert in one video already told (start, end), and where the cooldown ends."""

    moments: list[tuple[float, float]] = Field(default_factory=list)
    quiet_until: float = -1.0


class AlertBook:
    """A library's standing searches, their state, events log and outbox (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.outbox = self.folder / "outbox"
        self.events_path = self.folder / "events.jsonl"

    @classmethod
    def of(cls, settings: Any) -> AlertBook:
        return cls(alerts_dir(settings.store, settings.collection))

    @contextmanager
    def locked(self) -> Iterator[None]:
        from filelock import FileLock

        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with FileLock(str(self.folder / "lock")):
            yield

    # the alerts

    def _read_json(self, name: str, default: Any) -> Any:
        try:
            return json.loads((self.folder / name).read_text())
        except FileNotFoundError:
            return default
        except (OSError, ValueError):  # unreadable: said once in the log by the caller's failure, never a crash here
            return default

    def _write_json(self, name: str, data: Any) -> None:
        write_atomic(self.folder / name, json.dumps(data, indent=1), durable=True)
        try:
            os.chmod(self.folder / name, 0o600)
        except OSError:
            pass

    def alerts(self) -> list[Alert]:
        """The standing searches, oldest first ([] when there are none, without touching the disk beyond a stat)."""
        if not (self.folder / "alerts.json").is_file():
            return []
        out = []
        for raw in self._read_json("alerts.json", {}).get("alerts", []):
            try:
                out.append(Alert.model_validate(raw))
            except ValidationError:
                continue
        return out

    def add(self, request: AlertRequest) -> AlertCreated:
        """Store a new standing search; with a webhook, a fresh signing secret (returned this once)."""
        alert = Alert.model_validate(
            {
                **request.model_dump(exclude={"q"}),
                "id": uuid.uuid4().hex[:12],
                "q": request.q,
                "created_at": now_text(),
                "secret": secrets.token_hex(32) if request.webhook else None,
            }
        )
        with self.locked():
            known = self.alerts()
            if len(known) >= MAX_ALERTS:
                raise InvalidInput(f"a library holds at most {MAX_ALERTS} standing searches: delete some first")
            self._write_json("alerts.json", {"alerts": [a.model_dump() for a in [*known, alert]]})
        return AlertCreated.model_validate(alert.model_dump())

    def get(self, alert_id: str) -> Alert:
        for alert in self.alerts():
            if alert.id == alert_id:
                return alert
        raise NotFound(f"no standing search {alert_id!r}")

    def delete(self, alert_id: str) -> AlertView:
        """Remove a standing search, its state and its deliveries not yet made."""
        with self.locked():
            known = self.alerts()
            gone = [a for a in known if a.id == alert_id]
            if not gone:
                raise NotFound(f"no standing search {alert_id!r}")
            self._write_json("alerts.json", {"alerts": [a.model_dump() for a in known if a.id != alert_id]})
            state = self._read_json("state.json", {})
            state.get("told", {}).pop(alert_id, None)
            self._write_json("state.json", state)
            for path in self.outbox.glob("*.json") if self.outbox.is_dir() else ():
                if self._read_outbox(path).get("alert_id") == alert_id:
                    path.unlink(missing_ok=True)
        return gone[0].view()

    # state: what each alert told, per video (call under `locked()`)

    def read_state(self) -> dict[str, Any]:
        state = self._read_json("state.json", {})
        return state if isinstance(state, dict) else {}

    def told(self, state: dict[str, Any], alert_id: str, video_id: str) -> Told:
        raw = state.get("told", {}).get(alert_id, {}).get(video_id)
        try:
            return Told.model_validate(raw) if raw else Told()
        except ValidationError:
            return Told()

    def set_told(self, state: dict[str, Any], alert_id: str, video_id: str, told: Told) -> None:
        told.moments = sorted(told.moments)[-MAX_TOLD:]
        state.setdefault("told", {}).setdefault(alert_id, {})[video_id] = told.model_dump()

    def write_state(self, state: dict[str, Any]) -> None:
        self._write_json("state.json", state)

    # the events log and the outbox (call `record` under `locked()`)

    def record(self, state: dict[str, Any], events: list[AlertEvent], alerts: dict[str, Alert]) -> list[AlertEvent]:
        """Number the events, append them to the log and put those of alerts with a webhook in the outbox."""
        seq = int(state.get("seq", 0))
        numbered = []
        for event in events:
            seq += 1
            numbered.append(event.model_copy(update={"seq": seq}))
        state["seq"] = seq
        self.folder.mkdir(parents=True, exist_ok=True)
        for event in numbered:
            alert = alerts[event.alert_id]
            if alert.webhook:
                entry = {"alert_id": alert.id, "event": event.model_dump(), "attempts": 0, "next_at": 0.0}
                write_atomic(self.outbox / f"{event.seq:012d}-{event.id}.json", json.dumps(entry), durable=True)
        with open(self.events_path, "a", encoding="utf-8") as log:
            for event in numbered:
                log.write(event.model_dump_json() + "\n")
            log.flush()
            os.fsync(log.fileno())
        self._trim()
        return numbered

    def _trim(self) -> None:
        try:
            if self.events_path.stat().st_size < 4 * 1024 * 1024:
                return
            lines = self.events_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        if len(lines) > MAX_EVENTS:
            write_atomic(self.events_path, "\n".join(lines[-MAX_EVENTS:]) + "\n")

    def events(self, after: int = 0, limit: int | None = None) -> list[AlertEvent]:
        """The logged events with a number above `after`, oldest first (the last `limit` of them)."""
        try:
            text = self.events_path.read_text(encoding="utf-8")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            try:
                event = AlertEvent.model_validate_json(line)
            except ValidationError:
                continue  # a line cut by a crash mid-append
            if event.seq > after:
                out.append(event)
        return out[-limit:] if limit else out

    def last_seq(self) -> int:
        events = self.events(limit=1)
        return events[-1].seq if events else 0

    def _read_outbox(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def pending(self) -> list[Path]:
        """The deliveries still to make, oldest first."""
        return sorted(self.outbox.glob("*.json")) if self.outbox.is_dir() else []
