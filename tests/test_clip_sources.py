"""`clip` on every kind of source the library plays, through the CLI and the HTTP endpoint: an odd-sized MPEG-2
(scaled to even), Cinepak into .mp4 (re-encoded, not copied), an AVI with dropped frames (lasts what was asked),
`--to` left out (to the end) or past the end (the real range is reported), and errors without file paths."""

from __future__ import annotations

import json
import shutil

import av
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.service.app import create_app
from framesearch.settings import Settings
from tests.helpers.clip_sources import cinepak, frame_times, mpeg2_odd, sparse_avi

runner = CliRunner()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip-sources")
    return {"mpeg2": mpeg2_odd(folder), "cinepak": cinepak(folder), "sparse": sparse_avi(folder)}


def clip(*args: str) -> dict:
    result = runner.invoke(app, ["clip", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def size_and_rate(path) -> tuple[int, int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height, float(stream.guessed_rate or 0)


def lasts(path) -> float:
    """Seconds on screen: from the first frame to the end of the last."""
    times = frame_times(path)
    return times[-1] - times[0] + 1 / size_and_rate(path)[2]


def test_an_odd_sized_mpeg2_is_scaled_to_even(sources, tmp_path):
    report = clip(str(sources["mpeg2"]), "--from", "0.5", "--to", "2", "-o", str(tmp_path / "a.mp4"))
    assert (report["start"], report["end"], report["method"]) == (0.5, 2.0, "reencode")
    assert size_and_rate(tmp_path / "a.mp4")[:2] == (720, 404)
    assert len(frame_times(tmp_path / "a.mp4")) == report["frames"] == 15


def test_cinepak_into_mp4_is_reencoded_and_to_past_the_end_reports_the_real_range(sources, tmp_path):
    report = clip(str(sources["cinepak"]), "--from", "1", "--to", "99", "-o", str(tmp_path / "b.mp4"))
    assert (report["start"], report["end"], report["method"]) == (1.0, 8.0, "reencode")
    assert abs(lasts(tmp_path / "b.mp4") - 7.0) < 1e-6
    table = runner.invoke(app, ["clip", str(sources["cinepak"]), "--from", "1", "--to", "99", "-o", str(tmp_path / "c.mp4")])
    assert table.exit_code == 0 and "1.00-8.00 s" in table.output
    # from the keyframe at 0 s a stream copy would do, but MP4 cannot hold Cinepak: re-encoded; AVI can
    into_mp4 = clip(str(sources["cinepak"]), "--from", "0", "--to", "3", "-o", str(tmp_path / "c0.mp4"))
    assert into_mp4["method"] == "reencode" and size_and_rate(tmp_path / "c0.mp4")[:2] == (64, 48)
    copied = clip(str(sources["cinepak"]), "--from", "0", "--to", "3", "-o", str(tmp_path / "c.avi"))
    assert copied["method"] == "copy" and (copied["start"], copied["end"]) == (0.0, 3.0)
    assert abs(lasts(tmp_path / "c0.mp4") - 3.0) < 1e-6 and len(frame_times(tmp_path / "c.avi")) == 15


def test_to_is_optional_and_means_the_end(sources, tmp_path):
    report = clip(str(sources["mpeg2"]), "--from", "1", "-o", str(tmp_path / "d.mp4"))
    assert (report["start"], report["end"]) == (1.0, 3.0) and report["frames"] == 20


@pytest.mark.parametrize(("start", "end"), [(2, 5), (1.5, 6.5), (0.9, 1.9)])
def test_a_sparse_avi_cut_lasts_what_was_asked_to_the_frame(sources, tmp_path, start, end):
    out = tmp_path / "e.mp4"
    report = clip(str(sources["sparse"]), "--from", str(start), "--to", str(end), "-o", str(out))
    assert abs(lasts(out) - (end - start)) <= 1 / 30 + 1e-6
    assert abs(report["end"] - report["start"] - (end - start)) <= 1 / 30 + 1e-6


def test_errors_name_no_paths(sources, tmp_path):
    late = runner.invoke(app, ["clip", str(sources["mpeg2"]), "--from", "5", "-o", str(tmp_path / "f.mp4")])
    assert late.exit_code == 1 and "odd.mpg is 3.00 s long" in late.output and str(tmp_path) not in late.output
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF....AVI not really")
    bad = runner.invoke(app, ["clip", str(broken), "--from", "0", "-o", str(tmp_path / "g.mp4")])
    assert bad.exit_code == 1 and "broken.avi" in bad.output and str(tmp_path) not in bad.output
    assert not list(tmp_path.glob(".*partial*"))


@pytest.fixture(scope="module")
def client(sources, tmp_path_factory):
    root = tmp_path_factory.mktemp("clip-library")
    for source in sources.values():
        shutil.copy(source, root / source.name)
    store = root / "store"
    args = ["--store", str(store), "ingest", "local", str(root), "--fps", "1", "--model", "tiny-shapes-clip"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with TestClient(create_app(Settings(store=store))) as c:
        yield c


def test_http_clips_every_source_with_the_real_range(client, tmp_path):
    for video_id, params, wanted in [
        ("odd.mpg", {"start": 0.5, "end": 2}, (0.5, 2.0)),
        ("cinepak.avi", {"start": 1, "end": 99}, (1.0, 8.0)),
        ("sparse.avi", {"start": 2, "end": 5}, (2.0, 5.0)),
        ("odd.mpg", {"start": 1}, (1.0, 3.0)),
    ]:
        got = client.get(f"/videos/{video_id}/clip", params=params)
        assert got.status_code == 200, got.text
        assert (float(got.headers["x-clip-start"]), float(got.headers["x-clip-end"])) == wanted
        assert f"-{wanted[0]:.2f}-{wanted[1]:.2f}.mp4" in got.headers["content-disposition"]
        (tmp_path / "h.mp4").write_bytes(got.content)
        assert abs(lasts(tmp_path / "h.mp4") - (wanted[1] - wanted[0])) <= 1 / 30 + 1e-6, video_id


def test_http_clip_errors_show_no_server_or_temporary_path(client):
    late = client.get("/videos/odd.mpg/clip", params={"start": 10})
    assert late.status_code == 422 and "odd.mpg is 3.00 s long" in late.json()["detail"]
    assert "/" not in late.json()["detail"]
