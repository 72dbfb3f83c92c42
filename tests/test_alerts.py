"""Standing searches (issue 25): every committed run is checked against them, each new moment is told exactly once
(a signed webhook POST, the server-sent event stream, `alerts tail`), never a moment that does not match; a moment
going on across two chunks is one alert; a dead or slow webhook never holds up an ingest; webhooks follow the URL
jobs' SSRF rules. Real matches: shapes videos indexed with the bundled tiny-shapes-clip."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hypothesis.strategies as st
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.embedders.resolve import image_embedder, load_embedder
from framesearch.errors import InvalidInput
from framesearch.ingest.index import index_frames
from framesearch.ingest.local import embedded_batches
from framesearch.ingest.video import sample_frames
from framesearch.search.alerts import SIGNATURE_HEADER, AlertBook, AlertRequest
from framesearch.service.alert_delivery import alerting
from framesearch.service.app import create_app
from framesearch.settings import Settings
from framesearch.store.open import open_store
from framesearch.store.schema import FramePoint, VideoRecord
from framesearch.validation import build
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
MODEL = "tiny-shapes-clip"
FPS = 2.0
CIRCLES = [  # two moments of a red circle, and no star anywhere
    ("circle", "red", "white", 3.0),
    ("square", "blue", "yellow", 3.0),
    ("circle", "red", "white", 3.0),
    ("triangle", "green", "black", 2.0),
]


class Receiver:
    """A webhook receiver on loopback: records each POST (headers, body); `hold` keeps answers back until set."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.entered.set()
                receiver.hold.wait(60)
                receiver.posts.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, seconds: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return [json.loads(body) for _, body in self.posts]

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def circles(tmp_path_factory) -> Path:
    return write_shapes_video(tmp_path_factory.mktemp("alerts") / "circles.mp4", CIRCLES)


def cli(store: Path, *args: str, env: dict | None = None):
    result = runner.invoke(app, ["--store", str(store), *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get(SIGNATURE_HEADER, ""), expected)


ALLOW = {"FRAMESEARCH_URL_ALLOW_HOSTS": "127.0.0.1"}


@pytest.mark.slow
def test_each_new_moment_is_posted_once_signed_and_never_a_moment_that_does_not_match(tmp_path, circles, receiver):
    store = tmp_path / "store"
    made = json.loads(cli(store, "alerts", "add", "a red circle", "--webhook", receiver.url, "--json", env=ALLOW).stdout)
    star = json.loads(cli(store, "alerts", "add", "a yellow star", "--webhook", receiver.url, "--json", env=ALLOW).stdout)
    assert made["secret"] and star["secret"] and made["secret"] != star["secret"]
    cli(store, "ingest", "local", str(circles), "--fps", str(FPS), "--model", MODEL, "--json", env=ALLOW)
    posts = receiver.wait(2)
    time.sleep(0.5)  # nothing more comes
    found = json.loads(cli(store, "search", "a red circle", "--json").stdout)["results"]
    assert len(found) == 2
    assert len(receiver.posts) == 2
    for headers, body in receiver.posts:
        assert verify(made["secret"], headers, body)
        assert not verify(star["secret"], headers, body)
    assert {p["alert_id"] for p in posts} == {made["id"]}  # the star matches nothing: never told
    assert sorted((p["start"], p["end"]) for p in posts) == sorted((m["start"], m["end"]) for m in found)
    assert all(p["confidence"] >= 0.6 for p in posts)
    # indexing the same video again tells nothing again
    cli(store, "ingest", "local", str(circles), "--fps", str(FPS), "--model", MODEL, "--force", "--json", env=ALLOW)
    time.sleep(1.0)
    assert len(receiver.posts) == 2
    # alerts tail shows both, newest last
    tail = cli(store, "alerts", "tail", "--no-follow", "--json").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in tail] == [1, 2]
    # and nothing waits in the outbox
    assert AlertBook.of(Settings(store=store)).pending() == []


def frame_points(video: Path, video_id: str, embedder) -> list[FramePoint]:
    frames = sample_frames(video, FPS, embedder.input_size)
    out = []
    for batch, vectors in embedded_batches(frames, embedder):
        pairs = zip(batch, vectors, strict=True)
        out += [FramePoint(video_id, f.index, f.timestamp, v, FPS, embedder.name, "local") for f, v in pairs]
    return out


def write_chunks(store, points: list[FramePoint], cut_at: list[float], embedder) -> None:
    """Commit the frames as runs of one video, one per chunk (as a live stream commits its chunks)."""
    edges = [0.0, *cut_at, float("inf")]
    for low, high in zip(edges, edges[1:], strict=False):
        chunk = [p for p in points if low <= p.timestamp < high]
        record = VideoRecord(video_id=chunk[0].video_id, model=embedder.name, source="local", frames=0, fps=FPS)
        index_frames(store, record, [chunk], model_path=embedder.model_path)


@pytest.fixture(scope="module")
def shapes_embedder():
    return load_embedder(MODEL, Settings())


def test_a_moment_across_two_chunks_is_one_alert_and_cooldown_holds_back_the_next(tmp_path, shapes_embedder):
    video = write_shapes_video(
        tmp_path / "live.mp4",
        [("circle", "red", "white", 4.0), ("square", "blue", "yellow", 1.0), ("circle", "red", "white", 2.0)],
    )
    points = frame_points(video, "live", shapes_embedder)
    results = {}
    for cooldown in (0.0, 30.0):
        settings = Settings(store=tmp_path / f"store{cooldown:g}", model=MODEL)
        AlertBook.of(settings).add(AlertRequest(q="a red circle", cooldown=cooldown))
        with open_store(settings) as store, alerting(store, settings, lambda: shapes_embedder) as checker:
            write_chunks(store, points, [2.0, 4.5], shapes_embedder)  # the first moment goes on across the first cut
        results[cooldown] = AlertBook.of(settings).events()
        assert checker.found == len(results[cooldown])
    told = [(e.start, e.end) for e in results[0.0]]
    assert len(told) == 2, told  # 0-4 s across two chunks is one moment; 5-7 s is the second
    assert told[0][0] == pytest.approx(0.0, abs=0.5) and told[0][1] < 3.0  # told when first seen, in chunk one
    assert told[1][0] == pytest.approx(5.0, abs=0.6)
    assert len(results[30.0]) == 1  # the second comes within the cooldown


def test_a_webhook_that_does_not_answer_does_not_hold_up_the_ingest(tmp_path, shapes_embedder, receiver):
    video = write_shapes_video(tmp_path / "one.mp4", [("circle", "red", "white", 2.0)])
    points = frame_points(video, "one", shapes_embedder)
    settings = Settings(store=tmp_path / "store", model=MODEL, url_allow_hosts=["127.0.0.1"])
    AlertBook.of(settings).add(AlertRequest(q="a red circle", webhook=receiver.url))
    receiver.hold.clear()  # the receiver takes the post and answers nothing until told
    with open_store(settings) as store, alerting(store, settings, lambda: shapes_embedder) as checker:
        write_chunks(store, points, [], shapes_embedder)
        assert checker.found == 1  # the ingest and its check are over...
        assert receiver.entered.wait(20)  # ...while the webhook still holds the post
        assert receiver.posts == []
        receiver.hold.set()
        assert len(receiver.wait(1)) == 1


def test_the_event_stream_shows_each_new_moment(tmp_path, shapes_embedder):
    video = write_shapes_video(tmp_path / "sse.mp4", [("circle", "red", "white", 2.0), ("square", "blue", "yellow", 1.0)])
    settings = Settings(store=tmp_path / "store", model=MODEL)
    with TestClient(create_app(settings)) as client:
        made = client.post("/alerts", json={"q": "a red circle", "min_confidence": 0.6})
        assert made.status_code == 201, made.text
        assert made.json()["secret"] is None  # no webhook, no secret
        listed = client.get("/alerts").json()
        assert listed["count"] == 1 and "secret" not in listed["alerts"][0]
        store = client.app.state.framesearch.store  # type: ignore[attr-defined]
        write_chunks(store, frame_points(video, "sse", shapes_embedder), [], shapes_embedder)
        with client.stream("GET", "/alerts/events", params={"after": 0, "limit": 1, "timeout": 20}) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in answer.iter_lines() if line.startswith("data: ")]
        event = json.loads(lines[0].removeprefix("data: "))
        assert event["alert_id"] == made.json()["id"] and event["video_id"] == "sse" and event["seq"] == 1
        assert event["start"] == pytest.approx(0.0, abs=0.5)
        assert client.get("/alerts/events", params={"stream": False, "after": 0}).json()["count"] == 1
        assert client.delete(f"/alerts/{made.json()['id']}").status_code == 200
        assert client.get("/alerts").json()["count"] == 0
        assert client.delete(f"/alerts/{made.json()['id']}").status_code == 404


def test_webhooks_follow_the_url_jobs_ssrf_rules(tmp_path):
    settings = Settings(store=tmp_path / "store")
    with TestClient(create_app(settings)) as client:
        refused = client.post("/alerts", json={"q": "a logo", "webhook": "http://127.0.0.1:9/hook"})
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        for bad in ("file:///etc/passwd", "ftp://example.com/x", "http://", "http://exa mple.com/"):
            answer = client.post("/alerts", json={"q": "a logo", "webhook": bad})
            assert answer.status_code == 422 and answer.json()["error"] == "InvalidInput"
    result = runner.invoke(app, ["--store", str(tmp_path / "s"), "alerts", "add", "a logo", "--webhook", "http://localhost:1/x"])
    assert result.exit_code == 1 and "refusing" in result.output


def test_alerts_cli_add_list_delete(tmp_path):
    store = tmp_path / "store"
    first = json.loads(cli(store, "alerts", "add", "an advert", "--min-confidence", "0.8", "--not", "a logo", "--json").stdout)
    cli(store, "alerts", "add", "a red circle", "--video-id", "cam-1", "--video-id", "cam-2", "--cooldown", "60")
    listed = json.loads(cli(store, "alerts", "list", "--json").stdout)
    assert listed["count"] == 2
    assert listed["alerts"][0]["not"] == ["a logo"] and listed["alerts"][0]["min_confidence"] == 0.8
    assert listed["alerts"][1]["video_id"] == ["cam-1", "cam-2"] and listed["alerts"][1]["cooldown"] == 60
    assert "an advert" in cli(store, "alerts", "list").stdout
    cli(store, "alerts", "delete", first["id"])
    assert json.loads(cli(store, "alerts", "list", "--json").stdout)["count"] == 1
    missing = runner.invoke(app, ["--store", str(store), "alerts", "delete", first["id"]])
    assert missing.exit_code == 1 and "no standing search" in missing.output
    blank = runner.invoke(app, ["--store", str(store), "alerts", "add", "   "])
    assert blank.exit_code == 1 and "blank" in blank.output
    assert cli(store, "alerts", "tail", "--no-follow").stdout == ""
    folder = AlertBook.of(Settings(store=store)).folder
    assert (folder / "alerts.json").stat().st_mode & 0o077 == 0  # secrets: the owner's only


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["q", "min_confidence", "video_id", "webhook", "not", "cooldown", "by", "t_min", "since", "until", "format"]


@given(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_request_models_take_any_json_and_answer_valid_or_invalid_input(data):
    from framesearch.search.screen_time import StatsRequest

    for schema in (AlertRequest, StatsRequest):
        try:
            built = build(schema, **data)
        except InvalidInput as exc:
            assert str(exc)
            continue
        assert built.q.strip() == built.q and built.q


def test_a_failing_check_never_fails_the_ingest(tmp_path, shapes_embedder):
    video = write_shapes_video(tmp_path / "x.mp4", [("circle", "red", "white", 1.0)])
    settings = Settings(store=tmp_path / "store", model=MODEL)
    AlertBook.of(settings).add(AlertRequest(q="a red circle"))

    def broken():
        raise InvalidInput("no model here")

    with open_store(settings) as store, alerting(store, settings, broken) as checker:
        write_chunks(store, frame_points(video, "x", shapes_embedder), [], shapes_embedder)
        assert store.get_video("x").frames == 2 and checker.found == 0


def test_image_embedder_is_not_needed_for_the_check(tmp_path):
    """The checker asks for a query embedder only once an alert exists: a library without alerts loads nothing."""
    settings = Settings(store=tmp_path / "store", model=MODEL)
    calls = []
    with open_store(settings) as store, alerting(store, settings, lambda: calls.append(1)):
        embedder = image_embedder(settings, None)
        video = write_shapes_video(tmp_path / "y.mp4", [("circle", "red", "white", 1.0)])
        write_chunks(store, frame_points(video, "y", embedder), [], embedder)
    assert calls == []


@pytest.mark.slow
def test_a_running_service_streams_events_and_stops_promptly_with_a_stream_open(tmp_path):
    """The event stream of `framesearch serve` (httpx against the process) shows an event logged by another
    process; SIGTERM with a stream still open stops the service at once (uvicorn waits for open responses)."""
    import httpx

    from framesearch.search.alerts import AlertEvent
    from tests.helpers.server import running_service

    store = tmp_path / "store"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": MODEL}
    cli(store, "alerts", "add", "a red circle")
    book = AlertBook.of(Settings(store=store))
    with running_service(env, tmp_path / "serve.log") as service:
        with httpx.stream("GET", f"{service.base}/alerts/events", params={"after": 0}, timeout=30) as answer:
            lines = answer.iter_lines()
            assert next(lines).startswith("retry:")
            event = AlertEvent(
                id="e1", alert_id=book.alerts()[0].id, q="a red circle", video_id="v", start=1.0, end=2.0, score=0.3,
                peak_time=1.5, peak_frame=3, run="r", detected_at="2026-12-07T00:00:00Z",
            )  # fmt: skip
            with book.locked():
                state = book.read_state()
                book.record(state, [event], {a.id: a for a in book.alerts()})
                book.write_state(state)
            data = next(line for line in lines if line.startswith("data: "))
            assert json.loads(data.removeprefix("data: "))["video_id"] == "v"
            started = time.monotonic()
            assert service.proc is not None
            service.proc.terminate()
            service.proc.wait(timeout=20)
            assert time.monotonic() - started < 10


def test_a_live_streams_chunks_alert_once_per_moment_with_when_it_aired(tmp_path, shapes_embedder):
    """Chunks committed as `ingest stream` commits them (ingest/stream.py ChunkWriter): the moment going on across
    chunks is one alert, told with its wall-clock time; screen time by hour splits it where the hour turns."""
    from datetime import UTC, datetime

    from framesearch.ingest.stream import ChunkWriter
    from framesearch.search.screen_time import StatsRequest, screen_time

    video = write_shapes_video(
        tmp_path / "live.mp4",
        [("circle", "red", "white", 4.0), ("square", "blue", "yellow", 1.0), ("circle", "red", "white", 2.0)],
    )
    points = frame_points(video, "news", shapes_embedder)
    epoch = datetime(2026, 12, 7, 9, 59, 58, tzinfo=UTC).timestamp()
    settings = Settings(store=tmp_path / "store", model=MODEL)
    AlertBook.of(settings).add(AlertRequest(q="a red circle"))
    with open_store(settings) as store, alerting(store, settings, lambda: shapes_embedder):
        store.ensure_collection(shapes_embedder.name, shapes_embedder.dim, shapes_embedder.model_path)
        writer = ChunkWriter(store, "news", url="udp://127.0.0.1:1234", fps=FPS, model=shapes_embedder.name)
        for low, high in ((0.0, 2.0), (2.0, 4.5), (4.5, 9.0)):
            chunk = [p for p in points if low <= p.timestamp < high]
            writer.commit([epoch + p.timestamp for p in chunk], [p.vector for p in chunk])
        total = screen_time(store, StatsRequest(q="a red circle", by="hour"), settings, shapes_embedder)
    events = AlertBook.of(settings).events()
    assert len(events) == 2, [(e.start, e.end) for e in events]
    assert events[0].start_utc is not None and events[0].start_utc.startswith("2026-12-07T09:59:58")
    assert [row.key for row in total.rows] == ["2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"]
    assert total.rows[0].seconds == pytest.approx(2.0, abs=0.3)  # 09:59:58 to the hour


def test_a_standing_search_added_while_an_ingest_writes_checks_its_next_runs(tmp_path, shapes_embedder):
    """An ingest that began with no standing searches loads no alert machinery, yet one added meanwhile (a long
    stream) checks the runs committed after it; before it, nothing was checked."""
    from framesearch.cli.alerts import writing_store
    from framesearch.search.alerts import AlertRequest

    video = write_shapes_video(tmp_path / "late.mp4", [("circle", "red", "white", 2.0), ("square", "blue", "yellow", 1.0)])
    settings = Settings(store=tmp_path / "store", model=MODEL)
    book = AlertBook.of(settings)
    points = frame_points(video, "late", shapes_embedder)
    with writing_store(settings, quiet=True) as store:
        write_chunks(store, [p for p in points if p.timestamp < 1.0], [], shapes_embedder)
        assert not book.folder.exists()  # nothing of the alerts written or loaded
        made = book.add(AlertRequest(q="a red circle"))
        write_chunks(store, points, [], shapes_embedder)  # the whole video again: a new run, checked
    events = book.events()
    assert [e.alert_id for e in events] == [made.id] and events[0].video_id == "late"
