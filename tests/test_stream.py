"""Live ingest (`framesearch ingest stream`): chunks committed through the store's run protocol, retention, gaps,
wall-clock times in results, and real live sources on loopback (HLS served over HTTP, MPEG-TS over UDP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from framesearch.errors import InvalidInput
from framesearch.ingest.stream import ChunkWriter, parse_duration, stream_video_id
from framesearch.ingest.stream_source import check_source, shown_url
from framesearch.search.core import search_vector
from framesearch.search.models import SearchRequest
from framesearch.search.segments import utc_text
from framesearch.settings import Settings
from framesearch.store.check import check_store
from tests.conftest import unit
from tests.helpers.crash import ROOT, check, crash_env, invoke_json

DIM = 8
EPOCH = 1_800_000_000.0  # a wall clock (Unix seconds) the chunks below aired at


def axis(i: int) -> np.ndarray:
    return unit([1.0 if k == i else 0.0 for k in range(DIM)])


def chunk(start: float, seconds: float, vector: np.ndarray, fps: float = 2.0) -> tuple[list[float], list[np.ndarray]]:
    """Frames that aired from `start` (s after EPOCH) for `seconds`, all showing `vector`."""
    walls = [EPOCH + start + i / fps for i in range(round(seconds * fps))]
    return walls, [vector] * len(walls)


def writer(store, keep: float | None = None) -> ChunkWriter:
    store.ensure_collection("tests/random", DIM)
    return ChunkWriter(store, "live", url="udp://user:secret@127.0.0.1:5000", fps=2.0, keep=keep, model="tests/random")


def checked(store):
    """A store check of `store` (in its store process, for a hosted one)."""
    return store.apply(check_store) if hasattr(store, "apply") else check_store(store)


def moments(store, vector: np.ndarray) -> list:
    request = SearchRequest(vector=vector.tolist(), threshold=0.9, limit=20, frames=True)
    return search_vector(store, vector, request, Settings()).results


def test_each_chunk_is_one_commit_of_its_new_frames_and_retention_retires_old_chunks(store_factory):
    store = store_factory()
    chunks = writer(store, keep=12.0)
    a = chunks.commit(*chunk(0, 4, axis(0)))
    assert (a.frames, a.base_run) == (8, a.ingest_run)
    b = chunks.commit(*chunk(4, 4, axis(1)))
    c = chunks.commit(*chunk(8, 4, axis(2)))
    for record in (b, c):  # what a commit added: the frames of the run it names
        assert record.base_run == a.ingest_run != record.ingest_run
    assert len(store.frame_hits("live", run=c.ingest_run)) == 8
    assert store.frame_count("live") == c.frames == 24
    d = chunks.commit(*chunk(21, 4, axis(3)))  # newest frame at 24.5 s: keep 12 s retires what aired before 12.5 s
    assert d.frames == store.frame_count("live") == 8
    assert moments(store, axis(0)) == [] and moments(store, axis(2)) == []
    assert [m.start for m in moments(store, axis(3))] == [pytest.approx(21.0, abs=0.3)]
    report = checked(store)
    assert report.ok, report.problems
    assert report.stored_points == report.searchable_frames == 8
    assert store.get_video("live").extra["stream"]["url"] == "udp://127.0.0.1:5000"  # no password kept
    reopened = store_factory()
    assert reopened.frame_count("live") == 8 and reopened.get_video("live").frames == 8


def test_a_gap_in_the_stream_is_a_gap_in_the_index_and_results_carry_the_wall_clock(store_factory):
    store = store_factory()
    chunks = writer(store)
    chunks.commit(*chunk(0, 5, axis(0)))
    walls, vectors = chunk(5.5, 4.5, axis(0))  # one sampled frame missing (5.0 s): within the documented bridge
    chunks.commit(walls, vectors)
    chunks.commit(*chunk(30, 5, axis(0)))  # the source was down 20 s: never one moment with what came before
    found = sorted(moments(store, axis(0)), key=lambda m: m.start)
    assert [(m.start, m.end) for m in found] == [
        (pytest.approx(0.0, abs=0.3), pytest.approx(10.0, abs=0.3)),
        (pytest.approx(30.0, abs=0.3), pytest.approx(35.0, abs=0.3)),
    ]
    assert found[1].start_utc == utc_text(EPOCH + found[1].start) and found[1].start_utc.startswith("2027-01-15T08:00:29")
    assert found[1].end_utc == utc_text(EPOCH + found[1].end)
    offset = found[1].frames[0].wall_time - found[1].frames[0].timestamp
    assert offset == pytest.approx(EPOCH, abs=0.01)
    frames = search_vector(store, axis(0), SearchRequest(vector=axis(0).tolist(), threshold=0.9, mode="frames"), Settings())
    assert all(f.utc and f.utc.endswith("Z") for f in frames.results)
    assert checked(store).ok


def test_a_stream_restarted_later_continues_its_clock_and_frame_numbers(store_factory):
    store = store_factory()
    first = writer(store)
    first.commit(*chunk(0, 2, axis(0)))
    again = ChunkWriter(store, "live", url="udp://127.0.0.1:5000", fps=2.0, model="tests/random", record=store.get_video("live"))
    record = again.commit(*chunk(60, 2, axis(1)))
    hits = store.frame_hits("live")
    assert [h.frame for h in hits] == list(range(8)) and record.frames == 8
    assert hits[-1].timestamp == pytest.approx(61.5)


def test_durations_sources_and_ids():
    assert [parse_duration(t) for t in ("90", "90s", "15m", "24h", "7d", "1.5h")] == [90, 90, 900, 86400, 604800, 5400]
    for bad in ("", "h", "-3h", "0", "24x", "24 hours"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)
    assert check_source("udp://127.0.0.1:5000") == "udp://127.0.0.1:5000"
    assert check_source("/tmp/growing.ts") == "file:/tmp/growing.ts"
    with pytest.raises(InvalidInput):
        check_source("gopher://example/x")
    with pytest.raises(InvalidInput):
        check_source(" ")
    assert shown_url("rtsp://me:pw@10.0.0.1:554/cam") == "rtsp://10.0.0.1:554/cam"
    assert stream_video_id("http://127.0.0.1:8000/live/index.m3u8") == "stream-127.0.0.1-live-index.m3u8"


# ---- real live sources (loopback), each test runs for tens of seconds


def live_cli(store: Path, url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "framesearch", "--store", str(store), "ingest", "stream", url, "--model", "tiny-shapes-clip"]
    return subprocess.Popen(
        [*cmd, *args], env={**os.environ, **(env or {})}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


@pytest.fixture
def hls(tmp_path):
    from tests.helpers.live_source import FolderServer, LiveShapes

    folder = tmp_path / "hls"
    folder.mkdir()
    source = LiveShapes(str(folder / "live.m3u8")).start()
    server = FolderServer(folder).start()
    assert wait_for(lambda: (folder / "live.m3u8").exists(), 10)
    yield source, server, folder
    source.stop()
    server.stop()


def text_search(store, embedder, text: str) -> list:
    from framesearch.search.core import search as core_search

    return core_search(store, SearchRequest(q=text, limit=10), Settings(), embedder).results


@pytest.mark.slow
def test_hls_stream_is_searchable_seconds_after_a_scene_airs_and_a_dropped_source_reconnects(tmp_path, hls):
    from framesearch.embedders.resolve import image_embedder, text_embedder
    from framesearch.ingest.stream import StreamIngest, StreamOptions
    from tests.helpers.live_source import LiveShapes

    source, server, folder = hls
    settings = Settings(store=tmp_path / "store", model="tiny-shapes-clip")
    from framesearch.store.open import open_store

    said: list[str] = []
    with open_store(settings) as store:
        embedder = image_embedder(settings, None)
        options = StreamOptions(url=server.url("live.m3u8"), video_id="channel", fps=2.0, chunk_s=1.0, stop_after=60)
        ingest = StreamIngest(store, embedder, options, say=said.append)
        worker = threading.Thread(target=ingest.run)
        worker.start()
        try:
            assert wait_for(lambda: store.frame_count() >= 4, 20), said
            aired = source.show("circle", "red", "white")
            texts = text_embedder(settings, store.info())
            found = wait_for(lambda: text_search(store, texts, "a red circle"), 20, step=0.25)
            seen = time.time()
            assert found and found[0].video_id == "channel"
            assert seen - aired < 10  # searchable within seconds of airing (HLS segments of 1 s, chunks of 1 s)
            start = datetime.fromisoformat(found[0].start_utc.replace("Z", "+00:00")).timestamp()
            assert aired - 1 <= start <= aired + 6  # when it aired, on the wall clock (plus the HLS latency)

            # the source drops: the server and the encoder stop for 6 s, then a new encoder plays
            source.stop()
            server.stop()
            down = time.time()
            assert wait_for(lambda: any("reconnecting" in s for s in said), 20), said
            time.sleep(max(0.0, 6 - (time.time() - down)))
            for name in os.listdir(folder):
                (folder / name).unlink()
            restarted = LiveShapes(str(folder / "live.m3u8"), scene=("circle", "red", "white")).start()
            server.start()
            try:
                before = store.frame_count()
                assert wait_for(lambda: store.frame_count() >= before + 4, 40), said
                up = [s for s in said if "playing" in s]
                assert len(up) >= 2, said
                red = text_search(store, texts, "a red circle")
                spans = sorted((m.start, m.end) for m in red if m.video_id == "channel")
                assert len(spans) >= 2, spans  # before and after the outage: two moments, never one across the gap
                hits = store.frame_hits("channel")
                gaps = np.diff([h.timestamp for h in hits])
                assert gaps.max() >= 5.0  # the outage is a gap in the index
            finally:
                ingest.stop.set()
                worker.join(30)
                restarted.stop()
        finally:
            ingest.stop.set()
            worker.join(30)
        assert ingest.report.drops >= 1
        assert check_store(store).ok


@pytest.mark.slow
def test_retention_over_a_live_stream_keeps_only_the_last_seconds(tmp_path, hls):
    _, server, _ = hls
    store = tmp_path / "store"
    done = live_cli(store, server.url("live.m3u8"), "--keep", "6s", "--chunk", "1", "--stop-after", "16", "--json")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    report = json.loads(out)
    assert report["expired"] > 0 and report["frames"] > report["expired"]
    hits = invoke_json(store, "videos", "list")
    assert len(hits) == 1 and hits[0]["frames"] <= 6 * 2 + 2 * 2  # 6 s kept, plus the chunk not yet retired
    code, checked = check(store)
    assert code == 0 and checked["ok"], checked


def udp_source():
    from tests.helpers.live_source import LiveShapes, free_udp_port

    url = f"udp://127.0.0.1:{free_udp_port()}"
    return url, LiveShapes(url).start()


@pytest.mark.slow
def test_sigterm_commits_what_was_embedded(tmp_path):
    url, source = udp_source()
    try:
        store = tmp_path / "store"
        proc = live_cli(store, url, "--chunk", "600", "--json")  # no commit before the signal
        time.sleep(14)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        source.stop()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["chunks"] == 1 and report["frames"] >= 2, (report, err)
    listed = invoke_json(store, "videos", "list")
    assert [v["frames"] for v in listed] == [report["frames"]]
    code, checked = check(store)
    assert code == 0 and checked["ok"], checked


@pytest.mark.slow
@pytest.mark.parametrize(
    "crash",
    [
        "framesearch.store.writes:RunWrites.put_points:4",  # a chunk written, not committed
        "framesearch.store.edge:EdgeStore._set_run:3",  # between merging the last chunk and retiring old ones
    ],
)
def test_a_killed_stream_ingest_leaves_a_consistent_store(tmp_path, crash):
    url, source = udp_source()
    try:
        store = tmp_path / "store"
        proc = live_cli(store, url, "--chunk", "1", "--keep", "2s", env=crash_env(crash))
        proc.communicate(timeout=90)
    finally:
        source.stop()
    assert proc.returncode == -9
    before = check(store)[1]
    assert {p["kind"] for p in before["problems"]} <= {"unfinished_run"}, before
    listed = invoke_json(store, "videos", "list")  # this open rolled the unfinished chunk back
    code, checked = check(store)
    assert code == 0 and checked["ok"], checked
    assert checked["searchable_frames"] == checked["stored_points"] == sum(v["frames"] for v in listed)


@pytest.mark.slow
def test_a_growing_file_is_indexed_as_it_grows(tmp_path):
    from tests.helpers.live_source import LiveShapes

    growing = tmp_path / "recording.ts"
    source = LiveShapes(str(growing), scene=("star", "yellow", "blue")).start()
    try:
        assert wait_for(growing.exists, 10)
        proc = live_cli(tmp_path / "store", str(growing), "--video-id", "recording", "--chunk", "1", "--stop-after", "12")
        out, err = proc.communicate(timeout=120)
    finally:
        source.stop()
    assert proc.returncode == 0, err
    assert "playing" in err
    listed = invoke_json(tmp_path / "store", "videos", "list")
    assert listed[0]["video_id"] == "recording" and listed[0]["frames"] >= 8, (listed, err)
    found = invoke_json(tmp_path / "store", "search", "a yellow star")["results"]
    assert found and found[0]["video_id"] == "recording" and found[0]["start_utc"]
