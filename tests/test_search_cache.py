"""What a search keeps between requests: a text's query vector per model, and each query's calibration per library
version; a change to the library (a new video, a deletion) is seen by the next search."""

from __future__ import annotations

from fastapi.testclient import TestClient

from framesearch.search import background, calibration
from framesearch.search.core import search
from framesearch.search.models import SearchRequest
from framesearch.service.app import create_app
from framesearch.settings import Settings


def counting(monkeypatch, module, name: str) -> list[int]:
    """Count the calls of `module.name` (still calling it)."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def upload(client, video_id: str, path) -> None:
    answer = client.post(
        f"/videos/{video_id}/results",
        content=path.read_bytes(),
        params={"model": "tests/tiny-colour-clip"},
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 201, answer.text


def test_a_text_query_is_embedded_and_calibrated_once_per_library_version(tmp_path, tiny_clip, colour_results, monkeypatch):
    from framesearch.ingest.index import ingest_results
    from framesearch.ingest.results import load_results_file
    from framesearch.store.edge import EdgeStore

    embedded = counting(monkeypatch, tiny_clip, "embed_texts")
    calibrated = counting(monkeypatch, background, "_bank_calibration")
    settings = Settings(store=tmp_path / "s")
    with EdgeStore(tmp_path / "s") as store:
        ingest_results(store, load_results_file(colour_results("a", [("blue", 4.0), ("red", 2.0)])), "a", model="m")
        request = SearchRequest(q="red", min_confidence=0.0)
        first = search(store, request, settings, tiny_clip)
        assert [r.video_id for r in first.results] == ["a"]
        embeds, calibrations = len(embedded), len(calibrated)
        again = search(store, request, settings, tiny_clip)
        assert again == first and len(embedded) == embeds and len(calibrated) == calibrations  # nothing done twice
        ingest_results(store, load_results_file(colour_results("b", [("red", 3.0)])), "b", model="m")
        changed = search(store, request, settings, tiny_clip)
        assert {r.video_id for r in changed.results} == {"a", "b"}  # the new video is in the next answer
        assert len(calibrated) == calibrations + 1 and len(embedded) == embeds  # calibrated anew; the text not embedded
        store.delete_video("b")
        assert [r.video_id for r in search(store, request, settings, tiny_clip).results] == ["a"]


def test_a_vector_query_is_calibrated_once_per_library_version_over_http(tmp_path, tiny_clip, tiny_clip_dir, colour_results):
    """The library-relative scale of a vector query (its typical score over the library sample) is kept per library
    version: a new video that matches better changes the answer's confidences at once."""
    vector = tiny_clip.embed_texts(["red"])[0]
    body = {"vector": vector.tolist(), "mode": "frames", "min_confidence": 0.0, "limit": 100}
    with TestClient(create_app(Settings(store=tmp_path / "s", model=str(tiny_clip_dir)))) as client:
        upload(client, "a", colour_results("a", [("blue", 4.0), ("yellow", 4.0)]))
        before = client.post("/search", json=body).json()
        assert client.post("/search", json=body).json() == before
        store = client.app.state.framesearch.store  # type: ignore[attr-defined]
        kept = calibration._TYPICAL._kept[store]
        assert len(kept[1]) == 1  # one query, one library version: one entry
        upload(client, "b", colour_results("b", [("red", 2.0)]))
        after = client.post("/search", json=body).json()
        best = max(after["results"], key=lambda r: r["score"])
        assert best["video_id"] == "b" and best["confidence"] == 1.0
        a_before = {r["frame"]: r["confidence"] for r in before["results"]}
        a_after = {r["frame"]: r["confidence"] for r in after["results"] if r["video_id"] == "a"}
        assert a_after and all(a_after[f] < a_before[f] for f in a_after if a_before[f] > 0)  # a's frames rank lower now
        assert calibration._TYPICAL._kept[store][0] != kept[0]  # kept under the new version


def test_the_stamp_of_a_store_without_a_version_is_read_at_most_once_a_second(monkeypatch):
    """A store other processes write (a Qdrant server) has no version of its own: its stamp lists the library, so it is
    read again only after SHARED_STAMP_S, never once per search."""

    class Shared:
        listed = 0

        def library_version(self):
            return None

        def list_videos(self):
            self.listed += 1
            return []

        def frame_count(self):
            return 7

    store = Shared()
    clock = [100.0]
    monkeypatch.setattr(calibration.time, "monotonic", lambda: clock[0])
    stamps = {calibration.library_stamp(store) for _ in range(50)}  # type: ignore[arg-type]
    assert len(stamps) == 1 and store.listed == 1
    clock[0] += calibration.SHARED_STAMP_S
    calibration.library_stamp(store)  # type: ignore[arg-type]
    assert store.listed == 2
