"""Library ids (one rule for every entry point) and honest durations of local ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.ingest.ids import results_video_id, source_video_id
from framesearch.ingest.video import DecodeTrack, truncation_warning
from tests.helpers.synthetic_video import write_colour_video

runner = CliRunner()


def invoke(store: Path, *args: str):
    return runner.invoke(app, ["--store", str(store), "--model", "tiny-shapes-clip", *args])


def outcomes(result) -> dict:
    assert result.exit_code in (0, 1), result.output
    return {o["video_id"]: o for o in json.loads(result.stdout)}


def listed(store: Path) -> dict:
    return {v["video_id"]: v for v in json.loads(runner.invoke(app, ["--store", str(store), "videos", "list", "--json"]).output)}


@pytest.fixture
def folder(tmp_path, sample_video) -> Path:
    root = tmp_path / "library"
    (root / "trips").mkdir(parents=True)
    (root / "trips" / "shapes.mp4").write_bytes(sample_video.read_bytes())
    return root


def test_a_file_gets_the_same_id_alone_and_in_its_folder(tmp_path, folder):
    store = tmp_path / "s"
    single = outcomes(invoke(store, "ingest", "local", str(folder / "trips" / "shapes.mp4"), "--fps", "1", "--json"))
    assert list(single) == ["shapes.mp4"] and single["shapes.mp4"]["status"] == "indexed"
    inside = outcomes(invoke(store, "ingest", "local", str(folder / "trips"), "--fps", "1", "--json"))
    assert inside["shapes.mp4"]["status"] == "skipped"  # the same video, recognised under the same id
    nested = outcomes(invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1", "--json"))
    assert list(nested) == ["trips/shapes.mp4"]  # relative to the folder given
    assert set(listed(store)) == {"shapes.mp4", "trips/shapes.mp4"}


def test_the_same_bytes_under_another_id_warn(tmp_path, folder):
    store = tmp_path / "s"
    invoke(store, "ingest", "local", str(folder / "trips" / "shapes.mp4"), "--fps", "1")
    copy = folder / "copy.mov"
    copy.write_bytes((folder / "trips" / "shapes.mp4").read_bytes())
    result = invoke(store, "ingest", "local", str(copy), "--fps", "1", "--json")
    warned = outcomes(result)["copy.mov"]["warnings"]
    assert warned and "the same bytes are already indexed as 'shapes.mp4'" in warned[0]
    printed = invoke(store, "ingest", "local", str(copy), "--video-id", "third", "--fps", "1")
    assert "warning: the same bytes are already indexed as 'copy.mov', 'shapes.mp4'" in printed.output
    assert set(listed(store)) == {"shapes.mp4", "copy.mov", "third"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/videos/flower.mp4", "flower.mp4"),
        ("clip.final.webm", "clip.final.webm"),
        ("https://example.com/a/city%20walk.mp4?x=1", "city walk.mp4"),
        ("https://example.com/", "https://example.com/"),
    ],
)
def test_ids_of_files_and_urls_keep_the_extension(source, expected):
    assert source_video_id(source) == expected


def test_a_results_file_stands_for_its_video():
    assert results_video_id("/r/flower.json") == "flower"
    assert results_video_id("/r/flower.mp4.json") == "flower.mp4"
    assert results_video_id("/r/out.json", recorded_video="/elsewhere/flower.mp4") == "flower.mp4"
    assert results_video_id("/r/.json") == ".json"


def test_a_truncated_video_is_indexed_with_a_warning_and_its_decoded_end(tmp_path):
    from tests.helpers.synthetic_video import write_shapes_video

    whole = write_shapes_video(tmp_path / "whole.mkv", [("square", "white", "black", 4.0), ("circle", "red", "white", 4.0)])
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 4 // 10])
    result = invoke(tmp_path / "s", "ingest", "local", str(whole), str(cut), "--fps", "2")
    assert result.exit_code == 0, result.output
    assert "warning: cut.mkv: only" in result.output and "of 8.00 s could be decoded" in result.output
    assert "whole.mkv:" not in result.output
    videos = listed(tmp_path / "s")
    assert videos["whole.mkv"]["duration"] == videos["whole.mkv"]["decoded_until"] == 8.0
    assert videos["cut.mkv"]["duration"] == 8.0 and 1.0 < videos["cut.mkv"]["decoded_until"] < 6.0
    assert videos["cut.mkv"]["frames"] < videos["whole.mkv"]["frames"]


def test_a_decoding_error_after_some_frames_is_said_with_how_far_it_got():
    track = DecodeTrack()
    assert not track.stopped(ValueError("bad packet"))  # nothing decoded: the caller fails the file
    track.saw(0.0, 0.04)
    track.saw(1.5, 0.04)
    assert track.stopped(ValueError("bad packet")) and track.until == 1.54
    message = truncation_warning(Path("a.mp4"), 8.1, track, 0.04)
    assert message == "a.mp4: decoding stopped at 1.54 s of 8.10 s (bad packet); indexed what was read"
    whole = DecodeTrack(frames=200, until=8.08)
    assert truncation_warning(Path("a.mp4"), 8.1, whole, 0.04) is None


def test_a_webm_without_a_duration_lasts_until_its_last_frame_ends(tmp_path):
    from framesearch.ingest.video import VideoInfo

    # written as into a pipe, so its header names no duration (like the shared media's edge-no-duration.webm)
    path = write_colour_video(tmp_path / "no-duration.webm", [("black", 4.9)], codec="libvpx", seekable=False)
    assert VideoInfo.from_video_path(path).duration is None
    result = invoke(tmp_path / "s", "ingest", "local", str(path), "--fps", "1")
    assert result.exit_code == 0, result.output
    video = listed(tmp_path / "s")["no-duration.webm"]
    assert video["duration"] == video["decoded_until"] == pytest.approx(4.9, abs=0.01)  # 49 frames of 0.1 s
    assert "warning" not in result.output
