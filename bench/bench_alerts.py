"""Standing searches on a live stream: the CPU the check of every committed chunk costs, per stream-second, against
the embedding of that stream-second (the baseline, measured in the same run), with the bundled model at 2 fps.

    python bench/bench_alerts.py [--alerts 50] [--seconds 60] [--chunk 4] [--library 20000] [--quick] [--json-out F]

A shapes video (ingest/shapes.py) stands for the stream: its frames are sampled at 2 fps and embedded with
tiny-shapes-clip (timed: the embedding's CPU per stream-second), then committed chunk after chunk (`--chunk` s
each) as runs of one video into a Qdrant Edge store that already holds `--library` frames of other videos, with
`--alerts` standing searches hung on the store's commits (service/alert_delivery.py `alerting`, as an ingest does).
The check's CPU per chunk is timed inside the commit listener. The run is done twice, over a library of SMALL frames
(past the 1,024-frame calibration sample every search scores its captions on) and over one of `--library`
frames: a check searches just the new points, so its cost must not follow the library's size.
Goal: embedding + check together under one CPU-second per stream-second (real time on one of the 2 cores).
--quick: 12 s of stream, a 5,000-frame library.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report import Row, add_output_args, emit, machine  # noqa: E402

FPS = 2.0
SMALL = 2_000
SHAPES = ("circle", "square", "triangle", "star")
COLOURS = ("red", "blue", "green", "yellow", "white")
BACKGROUNDS = ("white", "yellow", "black", "blue")


def texts(count: int) -> list[str]:
    """`count` standing-search texts: every colour and shape (some on screen, most not), then variants."""
    base = [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    more = [f"a small {c} {s}" for c in COLOURS for s in SHAPES] + [f"a {s} on {b}" for s in SHAPES for b in BACKGROUNDS]
    return (base + more)[:count]


def stream_points(seconds: float, folder: Path, embedder) -> tuple[list, float]:
    """The stream's frame points and the CPU seconds their embedding took."""
    from framesearch.ingest.local import embedded_batches
    from framesearch.ingest.shapes import write_shapes_video
    from framesearch.ingest.video import sample_frames
    from framesearch.store.schema import FramePoint

    scenes, t, i = [], 0.0, 0
    while t < seconds:
        scenes.append((SHAPES[i % 4], COLOURS[i % 5], BACKGROUNDS[(i + 1) % 4], 3.0))
        t, i = t + 3.0, i + 1
    video = write_shapes_video(folder / "stream.mp4", scenes)
    frames = list(sample_frames(video, FPS, embedder.input_size))
    start = time.process_time()
    points = []
    for batch, vectors in embedded_batches(frames, embedder, batch_size=8):
        pairs = zip(batch, vectors, strict=True)
        points += [FramePoint("stream", f.index, f.timestamp, v, FPS, embedder.name, "local") for f, v in pairs]
    return points, time.process_time() - start


def fill_library(store, frames: int, dim: int, model: str) -> None:
    """`frames` random unit vectors as 1,000-frame videos (other videos of the library)."""
    from framesearch.ingest.index import index_frames
    from framesearch.store.schema import FramePoint, VideoRecord

    rng = np.random.default_rng(0)
    for v in range(frames // 1000):
        vectors = rng.standard_normal((1000, dim)).astype(np.float32)
        points = [FramePoint(f"old-{v}", i, i / FPS, vectors[i], FPS, model, "local") for i in range(1000)]
        index_frames(store, VideoRecord(video_id=f"old-{v}", model=model, source="local", frames=0, fps=FPS), [points])


def run(points: list, chunk: float, alerts: int, library: int, folder: Path, embedder) -> tuple[float, float, int]:
    """Commit the stream chunk by chunk; returns the check's CPU seconds, the commits' CPU seconds and moments told."""
    from framesearch.ingest.index import index_frames
    from framesearch.search.alerts import AlertBook, AlertRequest
    from framesearch.service.alert_delivery import alerting
    from framesearch.settings import Settings
    from framesearch.store.open import open_store
    from framesearch.store.schema import VideoRecord

    settings = Settings(store=folder / f"store-{library}", model="tiny-shapes-clip")
    book = AlertBook.of(settings)
    for text in texts(alerts):
        book.add(AlertRequest(q=text))
    spent = {"check": 0.0}
    with open_store(settings) as store:
        store.ensure_collection(embedder.name, embedder.dim, embedder.model_path)
        fill_library(store, library, embedder.dim, embedder.name)
        with alerting(store, settings, lambda: embedder) as checker:
            inner = checker.check

            def timed(done):
                start = time.process_time()
                try:
                    return inner(done)
                finally:
                    spent["check"] += time.process_time() - start

            checker.check = timed  # type: ignore[method-assign]
            _warm(checker, book, embedder)
            start = time.process_time()
            end = max(p.timestamp for p in points)
            t = 0.0
            while t <= end:
                part = [p for p in points if t <= p.timestamp < t + chunk]
                record = VideoRecord(video_id="stream", model=embedder.name, source="local", frames=0, fps=FPS)
                if part:
                    index_frames(store, record, [part], model_path=embedder.model_path)
                t += chunk
            total = time.process_time() - start
            return spent["check"], total - spent["check"], checker.found


def _warm(checker, book, embedder) -> None:
    """What a running ingest has done once before its first chunk: the query vectors and the caption bank."""
    from framesearch.search.background import bank_for

    bank_for(embedder)
    for alert in book.alerts():
        checker._vector(embedder, alert.q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--chunk", type=float, default=4.0)
    parser.add_argument("--library", type=int, default=20_000)
    add_output_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.library = 12.0, 5_000
    from framesearch.embedders.resolve import load_embedder
    from framesearch.settings import Settings

    embedder = load_embedder("tiny-shapes-clip", Settings())
    setup = f"{args.alerts} standing searches, {args.seconds:g} s of stream at {FPS:g} fps in {args.chunk:g}-s chunks"
    print(f"Machine: {machine()}. {setup}.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        points, embed_cpu = stream_points(args.seconds, folder, embedder)
        seconds = len(points) / FPS
        small_check, _, told = run(points, args.chunk, args.alerts, SMALL, folder, embedder)
        full_check, full_write, told_full = run(points, args.chunk, args.alerts, args.library, folder, embedder)
    embed = embed_cpu / seconds
    check, check_small = full_check / seconds, small_check / seconds
    print(f"moments told: {told} (library of {SMALL:,} frames), {told_full} (library of {args.library:,} frames)")
    name = "alerts"
    rows = [
        Row(name, f"check of {args.alerts} standing searches, CPU per stream-second", check, "s", embed, "embedding"),
        Row(
            name,
            f"check over a library of {args.library:,} frames",
            check,
            "s",
            check_small,
            f"library of {SMALL:,} frames",
            "ratio near 1: the cost follows the new points",
        ),
        Row(name, "commit (write) CPU per stream-second", full_write / seconds, "s", embed, "embedding"),
        Row(
            name,
            "embedding + write + check, CPU per stream-second",
            embed + (full_write + full_check) / seconds,
            "s",
            1.0,
            "real time on one core",
            "< 1 (keeps up in real time)",
            embed + (full_write + full_check) / seconds < 1.0,
        ),
    ]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
