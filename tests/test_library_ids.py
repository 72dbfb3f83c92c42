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


def test_a_file_is_one_video_through_any_folder_or_as_itself(tmp_path, folder):
    store = tmp_path / "s"
    single = outcomes(invoke(store, "ingest", "local", str(folder / "trips" / "shapes.mp4"), "--fps", "1", "--json"))
    assert list(single) == ["shapes.mp4"] and single["shapes.mp4"]["status"] == "indexed"
    inside = outcomes(invoke(store, "ingest", "local", str(folder / "trips"), "--fps", "1", "--json"))
    assert inside["shapes.mp4"]["status"] == "skipped"  # the same video, recognised under the same id
    nested = outcomes(invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1", "--json"))
    assert nested == {"shapes.mp4": nested["shapes.mp4"]} and nested["shapes.mp4"]["status"] == "skipped"  # not again
    assert set(listed(store)) == {"shapes.mp4"}


def test_the_id_given_first_stays_whichever_folder_comes_next(tmp_path, folder):
    store = tmp_path / "s"
    first = outcomes(invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1", "--json"))
    assert first["trips/shapes.mp4"]["status"] == "indexed"  # new: its path relative to the folder given
    for again in (folder / "trips", folder / "trips" / "shapes.mp4", folder / "trips" / ".." / "trips"):
        seen = outcomes(invoke(store, "ingest", "local", str(again), "--fps", "1", "--json"))
        assert {v: o["status"] for v, o in seen.items()} == {"trips/shapes.mp4": "skipped"}
    assert set(listed(store)) == {"trips/shapes.mp4"}


def test_a_moved_folder_is_relinked_without_embedding_and_plays_from_its_new_place(tmp_path, folder):
    store = tmp_path / "s"
    invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1")
    before = listed(store)["trips/shapes.mp4"]
    moved = folder.rename(tmp_path / "elsewhere")
    result = invoke(store, "ingest", "local", str(moved / "trips"), "--fps", "1", "--json")
    assert outcomes(result)["trips/shapes.mp4"]["status"] == "moved"
    after = listed(store)["trips/shapes.mp4"]
    assert after["ingest_run"] == before["ingest_run"] and after["frames"] == before["frames"]  # nothing re-embedded
    assert after["path"] == str((moved / "trips" / "shapes.mp4").resolve()) and after["paths"] == [after["path"]]
    clip = runner.invoke(
        app, ["--store", str(store), "clip", "trips/shapes.mp4", "--from", "1", "--to", "2", "-o", str(tmp_path / "c.mp4")]
    )
    assert clip.exit_code == 0, clip.output
    renamed = (moved / "trips" / "shapes.mp4").rename(moved / "renamed.mp4")
    again = outcomes(invoke(store, "ingest", "local", str(renamed), "--fps", "1", "--json"))
    assert again["trips/shapes.mp4"]["status"] == "moved" and set(listed(store)) == {"trips/shapes.mp4"}
    assert listed(store)["trips/shapes.mp4"]["path"] == str(renamed.resolve())


def test_a_copy_is_the_same_video_and_an_explicit_id_indexes_it_again_with_a_warning(tmp_path, folder):
    store = tmp_path / "s"
    invoke(store, "ingest", "local", str(folder / "trips" / "shapes.mp4"), "--fps", "1")
    copy = folder / "copy.mov"
    copy.write_bytes((folder / "trips" / "shapes.mp4").read_bytes())
    linked = outcomes(invoke(store, "ingest", "local", str(copy), "--fps", "1", "--json"))
    assert linked == {"shapes.mp4": linked["shapes.mp4"]} and linked["shapes.mp4"]["status"] == "linked"
    video = listed(store)["shapes.mp4"]
    assert video["paths"] == [str((folder / "trips" / "shapes.mp4").resolve()), str(copy.resolve())]
    (folder / "trips" / "shapes.mp4").unlink()  # the copy stands in: the video plays from it
    cut = ["clip", "shapes.mp4", "--from", "0", "--to", "1", "-o", str(folder / "c.mp4")]
    clip = runner.invoke(app, ["--store", str(store), *cut])
    assert clip.exit_code == 0, clip.output
    printed = invoke(store, "ingest", "local", str(copy), "--video-id", "third", "--fps", "1")
    assert "warning: the same bytes are already indexed as 'shapes.mp4'" in printed.output
    assert set(listed(store)) == {"shapes.mp4", "third"}


def test_an_edited_file_is_indexed_again_under_its_id_and_another_file_of_the_same_name_gets_its_own(
    tmp_path, folder, sample_video
):
    from tests.helpers.synthetic_video import write_shapes_video

    store = tmp_path / "s"
    invoke(store, "ingest", "local", str(folder / "trips"), "--fps", "1")
    write_shapes_video(folder / "trips" / "shapes.mp4", [("circle", "blue", "white", 2.0)])
    edited = outcomes(invoke(store, "ingest", "local", str(folder / "trips"), "--fps", "1", "--json"))
    assert edited["shapes.mp4"]["status"] == "indexed" and set(listed(store)) == {"shapes.mp4"}
    other = tmp_path / "other" / "trips"
    other.mkdir(parents=True)
    write_shapes_video(other / "shapes.mp4", [("square", "yellow", "black", 2.0)])
    named = outcomes(invoke(store, "ingest", "local", str(other), "--fps", "1", "--json"))
    assert named["trips/shapes.mp4"]["status"] == "indexed"  # `shapes.mp4` is another video, still on disk
    assert set(listed(store)) == {"shapes.mp4", "trips/shapes.mp4"}


def test_files_gone_from_a_folder_are_reported_and_pruned(tmp_path, folder):
    store = tmp_path / "s"
    (folder / "keep.mp4").write_bytes((folder / "trips" / "shapes.mp4").read_bytes()[:-1] + b"\x00")
    invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1")
    (folder / "trips" / "shapes.mp4").unlink()
    reported = invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1", "--json")
    assert reported.exit_code == 0, reported.output
    assert outcomes(reported)["trips/shapes.mp4"]["status"] == "missing" and "trips/shapes.mp4" in listed(store)
    info = json.loads(runner.invoke(app, ["--store", str(store), "store", "info", "--json"]).stdout)["totals"]
    frames = sum(v["frames"] for v in listed(store).values())
    assert info == {
        "videos": 2, "hours": info["hours"], "frames": frames, "video_bytes": (folder / "keep.mp4").stat().st_size, "missing": 1
    }  # fmt: skip
    assert info["hours"] == pytest.approx(20 / 3600, abs=1e-4)  # two 10 s videos
    table = runner.invoke(app, ["--store", str(store), "store", "info"], env={"COLUMNS": "200"}).output
    assert f"{frames:,} frames" in table and "1 gone from disk (videos delete --missing)" in table
    text = invoke(store, "ingest", "local", str(folder / "trips"), "--fps", "1")
    assert "gone from disk: --prune removes them" in text.output
    assert "missing" not in invoke(store, "ingest", "local", str(tmp_path), "--fps", "1").output  # not that folder
    pruned = outcomes(invoke(store, "ingest", "local", str(folder), "-r", "--fps", "1", "--prune", "--json"))
    assert pruned["trips/shapes.mp4"]["status"] == "removed" and pruned["trips/shapes.mp4"]["frames"] > 0
    assert set(listed(store)) == {"keep.mp4"}


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


def five_videos(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of five 1 s videos (two under holidays/) indexed into a store: (folder, store)."""
    from tests.helpers.synthetic_video import write_shapes_video

    root, store = tmp_path / "lib", tmp_path / "s"
    colours = {"a.mp4": "red", "b.mp4": "blue", "holidays/c.mp4": "green", "holidays/d.mp4": "yellow", "e.mp4": "white"}
    for name, colour in colours.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_shapes_video(root / name, [("circle", colour, "black", 1.0)])
    assert invoke(store, "ingest", "local", str(root), "-r", "--fps", "2").exit_code == 0
    return root, store


def test_videos_delete_takes_several_ids_the_missing_ones_and_a_prefix_after_asking(tmp_path):
    root, store = five_videos(tmp_path)
    some = runner.invoke(app, ["--store", str(store), "videos", "delete", "a.mp4", "nope.mp4", "e.mp4"])
    assert some.exit_code == 1 and "deleted a.mp4: 2 frames" in some.output and "deleted e.mp4" in some.output
    assert "error: no video 'nope.mp4'" in some.output
    (root / "b.mp4").unlink()
    gone = runner.invoke(app, ["--store", str(store), "videos", "delete", "--missing", "--yes", "--json"])
    assert gone.exit_code == 0 and json.loads(gone.stdout) == [{"video_id": "b.mp4", "deleted_frames": 2}]
    refused = runner.invoke(app, ["--store", str(store), "videos", "delete", "--under", "holidays/"], input="n\n")
    assert refused.exit_code == 1 and "delete 2 video(s) under 'holidays/'?" in refused.output
    assert set(listed(store)) == {"holidays/c.mp4", "holidays/d.mp4"}
    agreed = runner.invoke(app, ["--store", str(store), "videos", "delete", "--under", "holidays/"], input="y\n")
    assert agreed.exit_code == 0 and "deleted holidays/d.mp4" in agreed.output and listed(store) == {}
    none = runner.invoke(app, ["--store", str(store), "videos", "delete"])
    assert none.exit_code == 1 and "name the videos to delete" in none.output


def test_library_sync_relinks_moves_and_prunes_what_is_gone(tmp_path, folder):
    from tests.helpers.synthetic_video import write_shapes_video

    store = tmp_path / "s"
    write_shapes_video(folder / "gone.mp4", [("square", "blue", "white", 1.0)])
    first = outcomes(
        runner.invoke(app, ["--store", str(store), "--model", "tiny-shapes-clip", "library", "sync", str(folder), "--json"])
    )
    assert {v: o["status"] for v, o in first.items()} == {"gone.mp4": "indexed", "trips/shapes.mp4": "indexed"}
    (folder / "gone.mp4").unlink()
    (folder / "trips" / "shapes.mp4").rename(folder / "shapes-renamed.mp4")
    synced = runner.invoke(app, ["--store", str(store), "library", "sync", str(folder), "--prune", "--json"])
    assert synced.exit_code == 0, synced.output
    assert {v: o["status"] for v, o in outcomes(synced).items()} == {"trips/shapes.mp4": "moved", "gone.mp4": "removed"}
    assert set(listed(store)) == {"trips/shapes.mp4"}
    not_a_folder = runner.invoke(app, ["--store", str(store), "library", "sync", str(folder / "shapes-renamed.mp4")])
    assert not_a_folder.exit_code == 1 and "not a folder" in not_a_folder.output


def test_post_videos_delete_takes_ids_missing_and_a_prefix(tmp_path):
    from fastapi.testclient import TestClient

    from framesearch.service.app import create_app
    from framesearch.settings import Settings

    root, store = five_videos(tmp_path)
    (root / "b.mp4").unlink()
    with TestClient(create_app(Settings(store=store))) as client:
        some = client.post("/videos/delete", json={"video_ids": ["a.mp4", "nope.mp4"], "missing": True}).json()
        assert some == {"deleted": [{"video_id": "a.mp4", "deleted_frames": 2}, {"video_id": "b.mp4", "deleted_frames": 2}],
                        "not_found": ["nope.mp4"]}  # fmt: skip
        under = client.post("/videos/delete", json={"under": "holidays/"}).json()
        assert [d["video_id"] for d in under["deleted"]] == ["holidays/c.mp4", "holidays/d.mp4"]
        assert [v["video_id"] for v in client.get("/videos").json()["videos"]] == ["e.mp4"]
        for bad in ({}, {"under": ""}, {"video_ids": [""]}, {"missing": "maybe"}):
            answer = client.post("/videos/delete", json=bad)
            assert answer.status_code == 422 and answer.json()["error"] == "InvalidInput", bad


def test_a_store_made_before_the_video_indexes_gets_them_on_open(tmp_path, folder):
    import qdrant_edge

    from framesearch.store.edge import EdgeStore
    from framesearch.store.schema import VIDEO_INDEXED_FIELDS

    store = tmp_path / "s"
    invoke(store, "ingest", "local", str(folder / "trips"), "--fps", "1")
    with EdgeStore(store) as st:  # as a store written before these indexes existed
        for name in ("content_hash", "path", "paths"):
            st._shard("videos").update(qdrant_edge.UpdateOperation.delete_field_index(name))
        assert set(st._shard("videos").info().payload_schema) == {"video_id", "kind"}
    with EdgeStore(store) as st:
        assert set(st._shard("videos").info().payload_schema) == set(VIDEO_INDEXED_FIELDS)
        assert [r.video_id for r in st.videos_where(path=str((folder / "trips" / "shapes.mp4").resolve()))] == ["shapes.mp4"]
