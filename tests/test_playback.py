"""GET /videos/{id}/play and GET /config through the app: originals browsers play are served as they are, other
codecs (Cinepak, MPEG-2, MS-MPEG4, rendered here) as an H.264 MP4 made once in the background, with ranges;
the page's threshold scale is the one searches apply."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from framesearch.ingest.video import sample_frames
from framesearch.service.app import create_app
from framesearch.service.playback import browser_playable
from framesearch.settings import Settings
from tests.helpers.codec_videos import write_old_codec_video
from tests.helpers.server import wait_until
from tests.helpers.web import index_videos

SCENES = [("square", "white", "black", 2.0), ("circle", "red", "white", 2.0), ("triangle", "green", "black", 2.0)]
OLD = ("cinepak", "mpeg2", "msmpeg4")


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_clip_dir, sample_video):
    root = tmp_path_factory.mktemp("play")
    videos = {f"old/{codec}": write_old_codec_video(root, codec, SCENES) for codec in OLD}
    videos["shapes.mp4"] = sample_video
    index_videos(root / "store", tiny_clip_dir, videos, fps=2.0)
    return root


@pytest.fixture
def client(library, tiny_clip_dir):
    with TestClient(create_app(Settings(store=library / "store", model=str(tiny_clip_dir)))) as c:
        yield c


def played(client, video_id: str, headers: dict | None = None, timeout: float = 60.0):
    """GET /play until it stops answering 202 (each 202 says how far the copy is); returns the final answer."""
    seen = []

    def ready():
        r = client.get(f"/videos/{video_id}/play", headers=headers or {})
        seen.append(r.status_code)
        if r.status_code == 202:
            body = r.json()
            assert body["status"] in ("preparing", "queued") and "preparing a browser-playable copy" in body["detail"]
            assert r.headers["retry-after"] == "1" and r.headers["cache-control"] == "no-store"
            return None
        return r

    answer = wait_until(ready, timeout, f"a playable copy of {video_id}", interval=0.05)
    return answer, seen


def test_a_video_browsers_play_is_served_as_it_is_with_ranges(client, sample_video):
    assert browser_playable(sample_video)
    r = client.get("/videos/shapes.mp4/play", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.headers["content-type"] == "video/mp4"
    assert r.content == sample_video.read_bytes()[:100]
    assert r.headers["content-range"] == f"bytes 0-99/{sample_video.stat().st_size}"


def test_h264_browsers_cannot_decode_is_not_served_as_it_is(tmp_path):
    import av
    import numpy as np

    path = tmp_path / "full-chroma.mp4"  # H.264 4:4:4: an .mp4 that browsers refuse
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24").reformat(format="yuv444p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert not browser_playable(path)


@pytest.mark.parametrize("codec", OLD)
def test_old_codecs_play_as_an_h264_copy_on_the_indexed_timeline(client, library, codec):
    import av

    original = library / next(p.name for p in library.iterdir() if p.name.startswith(codec))
    assert not browser_playable(original)
    answer, seen = played(client, f"old/{codec}")
    assert seen[0] == 202 and answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4" and answer.headers["accept-ranges"] == "bytes"
    copy = library / "copy.mp4"
    copy.write_bytes(answer.content)
    with av.open(str(copy)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        times = [round(f.time, 2) for f in container.decode(video=0)]
    indexed = [f.timestamp for f in sample_frames(original, 10)]
    assert times[0] == 0.0 and abs(times[-1] - indexed[-1]) <= 0.15  # same timeline as the index
    assert len(times) >= len(indexed) - 2
    ranged = client.get(f"/videos/old/{codec}/play", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == answer.content[10:20]  # made once, then cached


def test_a_file_that_cannot_be_decoded_says_so_in_words(tmp_path, tiny_clip_dir):
    broken = write_old_codec_video(tmp_path, "cinepak", SCENES)
    index_videos(tmp_path / "store", tiny_clip_dir, {"broken.avi": broken}, fps=1.0)
    broken.write_bytes(b"RIFF" + os.urandom(2000))
    with TestClient(create_app(Settings(store=tmp_path / "store", model=str(tiny_clip_dir)))) as client:
        answer, _ = played(client, "broken.avi")
    assert answer.status_code == 422 and answer.json()["error"] == "VideoNotPlayable"
    assert "browser-playable copy" in answer.json()["detail"] and "0x" not in answer.text
    assert not list((tmp_path / "store" / "cache" / "play").glob("*"))  # no partial copy left behind


def test_play_of_unknown_or_fileless_videos_is_404(client):
    assert client.get("/videos/nope/play").json()["error"] == "NotFound"
    assert client.get("/videos/../../etc/passwd/play").status_code == 404


def test_the_config_reports_the_threshold_searches_apply(client):
    config = client.get("/config").json()
    scale = config["threshold"]
    assert config["model"] == "tests/tiny-colour-clip" and config["videos"] == 4 and config["image_search"]
    assert (scale["kind"], scale["parameter"], scale["calibrated"]) == ("calibrated", "min_confidence", True)
    answer = client.get("/search", params={"q": "red"}).json()
    assert answer["threshold_kind"] == "calibrated" and answer["min_confidence"] == scale["default"]
    starts = [band["start"] for band in scale["bands"]]
    assert starts == sorted(starts) and starts[0] == scale["minimum"] and all(b["label"] for b in scale["bands"])
    assert config["cosine"]["parameter"] == "threshold"


def test_the_config_follows_a_cosine_threshold_setting_and_small_libraries(library, tiny_clip_dir, tmp_path):
    settings = Settings(store=library / "store", model=str(tiny_clip_dir), threshold=0.42)
    with TestClient(create_app(settings)) as client:
        scale = client.get("/config").json()["threshold"]
        answer = client.get("/search", params={"q": "red"}).json()
    assert (scale["kind"], scale["default"], answer["threshold"]) == ("cosine", 0.42, 0.42)
    assert "setting" in scale["source"]
    with TestClient(create_app(Settings(store=tmp_path / "empty", model=str(tiny_clip_dir)))) as client:
        config = client.get("/config").json()
    # text queries are scored on the model's absolute scale, which needs no library: an empty one is calibrated too
    assert (config["videos"], config["frames"], config["threshold"]["kind"]) == (0, 0, "calibrated")
    assert config["threshold"]["default"] == Settings().min_confidence
    labels = [band["start"] for band in config["threshold"]["bands"]]
    assert labels == sorted(labels) and labels[0] == config["threshold"]["minimum"]


def test_the_config_of_an_empty_library_without_a_model_names_none_yet(tmp_path):
    """No model is recorded until the first ingest (which takes the default one): the page says so, not an error."""
    with TestClient(create_app(Settings(store=tmp_path / "empty"))) as client:
        config = client.get("/config").json()
    assert config["model"] is None and (config["videos"], config["frames"]) == (0, 0)


def test_a_flood_of_distinct_playback_requests_keeps_the_cache_within_its_size(library, tmp_path, monkeypatch):
    """Three videos that need copies, asked for over and over: finished copies never take more than
    playback_cache_mb (a copy larger than the whole cache is refused, 422), and past MAX_WAITING copies waiting
    at once a request is told to come back (503 PlaybackBusy) rather than queued without end."""
    import time

    import framesearch.service.playback as playback

    sources = {codec: next(library.glob(f"{codec}.*")) for codec in OLD}
    sizes = {}
    for codec, source in sources.items():  # the size of each copy, made once
        playback.transcode(source, tmp_path / f"{codec}.mp4")
        sizes[codec] = (tmp_path / f"{codec}.mp4").stat().st_size
    limit = max(sizes.values()) * 1.5  # room for one copy, never for two of the larger ones
    monkeypatch.setattr(playback, "MAX_WAITING", 2)
    settings = Settings(store=library / "store", cache_dir=tmp_path / "cache", playback_cache_mb=limit / (1 << 20))
    folder = tmp_path / "cache" / "play"
    statuses: dict[str, set[int]] = {codec: set() for codec in OLD}
    peak, deadline = 0, time.monotonic() + 120
    with TestClient(create_app(settings)) as client:
        while time.monotonic() < deadline and not all(206 in seen for seen in statuses.values()):
            for codec in OLD:
                answer = client.get(f"/videos/old/{codec}/play", headers={"Range": "bytes=0-0"})
                statuses[codec].add(answer.status_code)
                assert answer.status_code in (202, 206, 503), answer.text
                if answer.status_code == 503:
                    assert answer.json()["error"] == "PlaybackBusy" and "ask again" in answer.json()["detail"]
            peak = max(peak, sum(p.stat().st_size for p in folder.glob("*.mp4")))
            assert peak <= limit, (peak, limit)
            time.sleep(0.02)
    assert all(206 in seen for seen in statuses.values()), statuses  # each was played in its turn
    assert any(503 in seen for seen in statuses.values()) and peak > 0
    tiny = Settings(store=library / "store", cache_dir=tmp_path / "tiny", playback_cache_mb=min(sizes.values()) / 2 / (1 << 20))
    with TestClient(create_app(tiny)) as client:
        answer, _ = played(client, "old/cinepak")
        assert answer.status_code == 422 and "more than the playback cache holds" in answer.json()["detail"]
        assert not list((tmp_path / "tiny" / "play").glob("*"))
