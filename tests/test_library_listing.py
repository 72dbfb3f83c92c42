"""The listing of the library kept write by write (store/pages.py `Listing`, kept by the store: store/backend.py):
every page after a write shows it (added, changed, deleted), in every order, without the store reading every record
again: in the listing itself (hypothesis against sorting from scratch), in a Qdrant Edge store (random writes, a
writer and a reader at once), through the service's store process (the HTTP API) and with `serve` running (the CLI).
"""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from framesearch.cli import app as cli_app
from framesearch.errors import StoreError
from framesearch.service.app import create_app
from framesearch.settings import Settings
from framesearch.store.edge import EdgeStore
from framesearch.store.pages import SORTS, Listing, page_of
from framesearch.store.schema import FramePoint, VideoRecord
from tests.conftest import results_json

MODEL = "clip/listing"
DIM = 4


def rec(video_id: str, duration: float | None = None, indexed_at: str | None = None, path: str | None = None) -> VideoRecord:
    return VideoRecord(
        video_id=video_id, model=MODEL, source="results", frames=0, duration=duration, indexed_at=indexed_at, path=path
    )


# ---- the listing on its own ------------------------------------------------------------------------------

IDS = st.sampled_from([f"{folder}/v{i}" for folder in ("a", "b") for i in range(6)] + ["x", "a"])
RECORDS = st.builds(
    rec,
    IDS,
    duration=st.none() | st.sampled_from([0.0, 1.5, 3.0, 3.0, 10.0, float("nan")]),
    indexed_at=st.none() | st.sampled_from(["2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-02T00:00:00"]),
    path=st.none() | st.sampled_from(["/m/holiday.mp4", "/m/Work.mp4"]),
)
CHOICES = [(None, None), ("v1", None), ("WORK", None), (None, "a/"), ("holiday", "b/"), ("1\0/m", None), (None, "a"), ("V", "x")]
OPS = st.lists(st.tuples(st.booleans(), RECORDS), max_size=30)


@settings(max_examples=200, deadline=None)
@given(start=st.lists(RECORDS, max_size=8), ops=OPS)
def test_a_listing_changed_record_by_record_pages_as_sorting_every_record_does(start, ops):
    truth = {r.video_id: r for r in start}
    listing = Listing(truth.values())
    for put, record in ops:
        listing.page(match="v1", sort="duration")  # a matched list kept before the change must not outlive it
        if put:
            truth[record.video_id] = record
            listing.put(record)
        else:
            truth.pop(record.video_id, None)
            listing.drop(record.video_id)
        for sort in SORTS:
            for match, under in CHOICES:
                expected = page_of(truth.values(), match=match, under=under, sort=sort)
                assert listing.page(match=match, under=under, sort=sort) == expected, (sort, match, under)
            assert listing.page(limit=2, offset=1, sort=sort) == page_of(truth.values(), limit=2, offset=1, sort=sort)
        assert listing.records() == sorted(truth.values(), key=lambda r: r.video_id) and len(listing) == len(truth)


# ---- a Qdrant Edge store ------------------------------------------------------------------------------------


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def ingest(store, video_id: str, rng: np.random.Generator, duration: float, frames: int = 1) -> None:
    """One committed run, as ingest/index.py writes a video."""
    store.ensure_collection(MODEL, DIM)
    with store.run(video_id, frames=frames, dim=DIM) as run:
        run.write([FramePoint(video_id, i, i * 0.5, unit(rng), 2.0, MODEL, "results") for i in range(frames)])
        run.commit(rec(video_id, duration, f"2026-01-01T00:00:{len(video_id):02d}").model_copy(
            update={"frames": frames, "ingest_run": run.id}
        ))  # fmt: skip


def pages_as_read(store) -> dict:
    """Every order (and a matched list) as a fresh read of every record gives it."""
    records = store._read_videos()
    return {(s, m): page_of(records, match=m, sort=s) for s in SORTS for m in (None, "v1")}


def pages_kept(store) -> dict:
    return {(s, m): store.video_page(match=m, sort=s) for s in SORTS for m in (None, "v1")}


class RecordReads:
    """Counts the store's reads of every record (scrolls of the videos collection for records)."""

    def __init__(self, store, monkeypatch) -> None:
        self.count = 0
        scroll = store._scroll

        def counted(kind, flt, with_vectors=False):
            if kind == "videos" and flt.entries == "records" and not (flt.content_hash or flt.path):
                self.count += 1
            return scroll(kind, flt, with_vectors)

        monkeypatch.setattr(store, "_scroll", counted)


def test_every_write_shows_in_the_next_page_without_reading_every_record_again(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    with EdgeStore(tmp_path / "store") as store:
        for i in range(12):
            ingest(store, f"{'a' if i % 2 else 'b'}/v{i}", rng, duration=float(i % 4))
        store.video_page()  # the listing is read once
        reads = RecordReads(store, monkeypatch)
        names = [f"{'a' if i % 2 else 'b'}/v{i}" for i in range(12)]
        for step in range(40):
            reads.count = 0  # (the check below reads every record itself)
            op, name = rng.integers(4), names[int(rng.integers(len(names)))] + ("" if step % 3 else "x")
            if op == 0:
                ingest(store, name, rng, duration=float(rng.integers(6)), frames=int(rng.integers(1, 3)))
            elif op == 1 and name in {r.video_id for r in store.list_videos()}:
                old = store.get_video(name)
                store.put_video(old.model_copy(update={"duration": float(rng.integers(6)), "path": f"/m/{step}.mp4"}))
            elif op == 2 and name in {r.video_id for r in store.list_videos()}:
                store.delete_video(name)
            else:  # a run that fails changes nothing
                with pytest.raises(RuntimeError), store.run(name, frames=1, dim=DIM) as run:
                    run.write([FramePoint(name, 0, 0.0, unit(rng), 2.0, MODEL, "results")])
                    raise RuntimeError("stopped")
            kept = pages_kept(store)
            assert reads.count == 0, f"step {step}: a page after a write read every record again"
            assert kept == pages_as_read(store), f"step {step}: a page differs from the records stored"
            assert store.list_videos() == store._read_videos()
    with EdgeStore(tmp_path / "store") as reopened:  # what was kept is what was written
        assert pages_kept(reopened) == kept


def test_a_record_write_that_fails_drops_the_listing_and_the_next_page_reads_the_store(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    with EdgeStore(tmp_path / "store") as store:
        for name in ("a", "b"):
            ingest(store, name, rng, duration=1.0)
        assert store.video_page()[0] == 2
        upsert = store._upsert

        def half_done(kind, ids, vectors, payloads):  # the engine kept the write, then the call failed
            upsert(kind, ids, vectors, payloads)
            if kind == "videos" and "video_id" in payloads[0]:
                raise StoreError("the engine failed after writing")

        monkeypatch.setattr(store, "_upsert", half_done)
        with pytest.raises(StoreError):
            store.put_video(store.get_video("a").model_copy(update={"duration": 9.0}))
        monkeypatch.setattr(store, "_upsert", upsert)
        reads = RecordReads(store, monkeypatch)
        assert [r.duration for r in store.video_page(sort="duration")[1]] == [9.0, 1.0]
        assert reads.count == 1  # read again once, then kept
        store.video_page(sort="name")
        assert reads.count == 1


def test_a_reader_never_sees_a_page_older_than_the_writes_done_before_it(tmp_path):
    rng = np.random.default_rng(7)
    done: list[str] = []  # written (appended once the write returned)
    deleting: list[str] = []  # a delete begun (appended before it)
    gone: list[str] = []  # deleted (appended once the delete returned)
    failures: list[str] = []
    finished = threading.Event()
    with EdgeStore(tmp_path / "store") as store:
        ingest(store, "seed", rng, duration=1.0)

        def write() -> None:
            try:
                for i in range(40):
                    ingest(store, f"v{i:02d}", np.random.default_rng(i), duration=float(i))
                    done.append(f"v{i:02d}")
                for i in range(0, 40, 3):
                    deleting.append(f"v{i:02d}")
                    store.delete_video(f"v{i:02d}")
                    gone.append(f"v{i:02d}")
            except Exception as exc:
                failures.append(f"writer: {exc!r}")
            finally:
                finished.set()

        def read() -> None:
            while not finished.is_set() and not failures:
                written, deleted = set(done), set(gone)
                sort = SORTS[len(written) % len(SORTS)]
                total, page = store.video_page(sort=sort)
                deleted_by_now = set(deleting)
                shown = [r.video_id for r in page]
                if total != len(shown) or len(set(shown)) != len(shown):
                    failures.append(f"a page of {total} listed {shown}")
                if missing := written - deleted_by_now - set(shown):
                    failures.append(f"written before the page, missing from it: {sorted(missing)}")
                if stale := deleted & set(shown):
                    failures.append(f"deleted before the page, still in it: {sorted(stale)}")
                if shown != [r.video_id for r in page_of(page, sort=sort)[1]]:
                    failures.append(f"out of {sort} order: {shown}")

        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures, failures[:3]
        assert [r.video_id for r in store.video_page()[1]] == sorted({"seed", *done} - set(gone))
        assert pages_kept(store) == pages_as_read(store)


# ---- through the service ---------------------------------------------------------------------------------------


def results_body(frames: int, seed: int) -> dict:
    vectors = np.random.default_rng(seed).standard_normal((frames, 8)).round(4).tolist()
    return results_json([i * 12 for i in range(frames)], [i * 0.5 for i in range(frames)], vectors)


def ids(answer: dict) -> list[str]:
    return [v["video_id"] for v in answer["videos"]]


def test_the_api_lists_each_write_at_once_through_the_store_process(tmp_path):
    with TestClient(create_app(Settings(store=tmp_path / "store"))) as client:
        for name, frames in (("b", 2), ("c", 3)):
            added = client.post(f"/videos/{name}/results", params={"model": MODEL}, json=results_body(frames, 1))
            assert added.status_code == 201
        assert ids(client.get("/videos").json()) == ["b", "c"]  # the store process now keeps the listing
        assert ids(client.get("/videos", params={"q": "a"}).json()) == []
        assert client.post("/videos/a/results", params={"model": MODEL}, json=results_body(6, 2)).status_code == 201
        listed = client.get("/videos", params={"sort": "duration"}).json()
        assert ids(listed) == ["a", "c", "b"] and listed["total"] == 3
        assert ids(client.get("/videos", params={"q": "a"}).json()) == ["a"]  # the matched list did not outlive it
        assert client.post("/videos/b/results", params={"model": MODEL}, json=results_body(9, 3)).status_code == 201
        assert ids(client.get("/videos", params={"sort": "duration"}).json()) == ["b", "a", "c"]  # changed, moved
        assert client.delete("/videos/a").status_code == 200
        after = client.get("/videos", params={"sort": "duration", "limit": 1}).json()
        assert (ids(after), after["total"], after["next_cursor"]) == (["b"], 2, "1")
        assert ids(client.get("/videos", params={"q": "a"}).json()) == []
        assert client.post("/videos/delete", json={"under": "c"}).status_code == 200
        assert ids(client.get("/videos").json()) == ["b"]


@pytest.mark.slow
def test_with_serve_running_the_cli_and_the_api_list_each_write_at_once(tmp_path):
    from tests.helpers.server import running_service

    store = tmp_path / "store"
    files = {}
    for name, frames in (("one", 2), ("two", 4)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(results_body(frames, frames)))
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(cli_app, ["--store", str(store), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    def listed(*args: str) -> list[str]:
        return [v["video_id"] for v in json.loads(cli("videos", "list", "--json", *args))]

    with running_service({"FRAMESEARCH_STORE": str(store)}, tmp_path / "serve.log") as service:
        cli("ingest", "results", str(files["one"]), "--model", MODEL)
        assert listed() == ["one"] and ids(httpx.get(f"{service.base}/videos").json()) == ["one"]
        cli("ingest", "results", str(files["two"]), "--model", MODEL)
        assert listed("--sort", "duration") == ["two", "one"]
        assert ids(httpx.get(f"{service.base}/videos", params={"sort": "duration"}).json()) == ["two", "one"]
        cli("videos", "delete", "two")
        assert listed() == ["one"] and httpx.get(f"{service.base}/videos").json()["total"] == 1
        assert httpx.delete(f"{service.base}/videos/one").status_code == 200
        assert listed() == [] and httpx.get(f"{service.base}/videos").json()["total"] == 0
