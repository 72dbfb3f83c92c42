"""Local indexing speed vs the embedder's own speed on the same frames, measured in one run.

    python bench/bench_local_ingest.py [--model tiny-shapes-clip] [--fps 3] [VIDEO ...]

Prints sampled frames per second for: decoding alone, embedding alone (frames already in memory, same batch
size), and the whole ingest (decode in a reader thread + embed + upsert into a fresh Qdrant Edge store). The
ratio ingest / embed shows what decode and plumbing cost on top of the model: near 1.0 means the model is the
bottleneck and decoding is hidden behind it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "videos"
DEFAULT_VIDEOS = ["big_buck_bunny_0_30.webm", "one-by-one-person-detection.mp4", "car-detection.mp4"]


def measure(videos: list[Path], model: str, fps: float, batch: int, repeat: int) -> dict[str, float]:
    from framesearch.embedders.resolve import load_embedder
    from framesearch.ingest.local import ingest_video
    from framesearch.ingest.video import sample_frames
    from framesearch.settings import Settings
    from framesearch.store.edge import EdgeStore

    embedder = load_embedder(model, Settings())
    size = embedder.config.image_size
    frames = [f.image for v in videos for f in sample_frames(v, fps, size)]
    embedder.embed_images(frames[:batch])  # load the session and warm up

    best = {"decode": float("inf"), "embed": float("inf"), "ingest": float("inf")}
    for _ in range(repeat):
        start = time.perf_counter()
        decoded = sum(1 for v in videos for _ in sample_frames(v, fps, size))
        best["decode"] = min(best["decode"], time.perf_counter() - start)

        start = time.perf_counter()
        for i in range(0, len(frames), batch):
            embedder.embed_images(frames[i : i + batch])
        best["embed"] = min(best["embed"], time.perf_counter() - start)

        with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as store:
            start = time.perf_counter()
            indexed = sum(ingest_video(store, v, embedder=embedder, fps=fps, batch_size=batch).frames for v in videos)
            best["ingest"] = min(best["ingest"], time.perf_counter() - start)
        assert decoded == indexed == len(frames), (decoded, indexed, len(frames))
    return {"frames": len(frames), **{k: len(frames) / v for k, v in best.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--model", default="tiny-shapes-clip")
    parser.add_argument("--fps", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    videos = args.videos or [MEDIA / name for name in DEFAULT_VIDEOS]
    r = measure(videos, args.model, args.fps, args.batch, args.repeat)
    print(f"model {args.model}, {len(videos)} videos, {r['frames']} frames sampled at {args.fps:g} fps, best of {args.repeat}")
    print(f"{'decode only':<28}{r['decode']:>10.1f} frames/s")
    print(f"{'embed only (same frames)':<28}{r['embed']:>10.1f} frames/s")
    print(f"{'ingest (decode+embed+store)':<28}{r['ingest']:>10.1f} frames/s")
    print(f"ratio ingest / embed: {r['ingest'] / r['embed']:.2f}")


if __name__ == "__main__":
    main()
