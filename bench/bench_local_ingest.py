"""Local indexing: decoding against FFmpeg, and the whole ingest against its slower stage, measured in one run.

    python bench/bench_local_ingest.py [--model tiny-shapes-clip | --real-size] [--fps 3] [--repeat 3] [VIDEO ...]
                                       [--quick] [--json-out F]

Whole ingest CPU: CPU seconds (user + system, best of --repeat) of `ingest_video` (decoding, shot-cut detection on
every frame, embedding, store writes) over the videos, against `ffmpeg -vf fps=N -f null -` on the same videos.
Decode CPU: CPU seconds (user + system, best of --repeat) of framesearch's sampling at --fps, pixels at the
model's input size, against `ffmpeg -vf fps=N -f null -` on the same videos (which decodes every frame but
converts none). Stages: sampled frames per second of decoding alone, of embedding alone (frames already in
memory, same batch size), and of the whole ingest (decoding in a reader thread while the model embeds, then
the store writes); the whole ingest is compared with the slower of the two stages. The ingest's own decoding stage differs from
decoding alone: it decodes every frame (shot-cut detection and the truncation check see each one) where the
sampler alone skips what it does not keep; a second row compares the ingest with that stage, run alone, to
show what the overlap achieves. With the bundled tiny model
decoding is the slower stage; `--real-size` embeds with a random-weight ViT-B/16 made through the export path
(bench/make_vitb16.py, needs torch and transformers; kept under ~/.cache/framesearch-bench), at 1 fps on two
videos, where embedding is the slower stage as with a real CLIP on a CPU.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "videos"
DEFAULT_VIDEOS = ["big_buck_bunny_0_30.webm", "one-by-one-person-detection.mp4", "car-detection.mp4"]
REAL_SIZE_VIDEOS = ["big_buck_bunny_0_30.webm", "car-detection.mp4"]


def cpu_seconds(children: bool = False) -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_cpu(videos: list[Path], fps: float, size: int, repeat: int) -> tuple[float, float]:
    """Best CPU seconds of framesearch's sampling and of `ffmpeg -vf fps=N -f null -`, over all videos."""
    from framesearch.ingest.video import sample_frames

    ours = ffmpeg = float("inf")
    for _ in range(repeat):
        start = cpu_seconds()
        for video in videos:
            for _ in sample_frames(video, fps, size):
                pass
        ours = min(ours, cpu_seconds() - start)
        start = cpu_seconds(children=True)
        for video in videos:
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-vf", f"fps={fps:g}", "-f", "null", "-"], check=True)
        ffmpeg = min(ffmpeg, cpu_seconds(children=True) - start)
    return ours, ffmpeg


def stages(videos: list[Path], model: str, fps: float, batch: int, repeat: int) -> dict[str, float]:
    """Sampled frames per second of decoding alone, embedding alone and the whole ingest (best of `repeat`)."""
    from framesearch.embedders.resolve import load_embedder
    from framesearch.ingest.local import content_hash, ingest_video
    from framesearch.ingest.video import sample_frames
    from framesearch.settings import Settings
    from framesearch.store.edge import EdgeStore

    embedder = load_embedder(model, Settings())
    size = embedder.config.image_size
    frames = [f.image for v in videos for f in sample_frames(v, fps, size)]
    embedder.embed_images(frames[:batch])  # load the session and warm up
    digests = {v: content_hash(v) for v in videos}  # the library ingest hashes files before deciding to index them
    best = {"decode": float("inf"), "decode_all": float("inf"), "embed": float("inf"), "ingest": float("inf")}
    ingest_cpu = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        decoded = sum(1 for v in videos for _ in sample_frames(v, fps, size))
        best["decode"] = min(best["decode"], time.perf_counter() - start)
        start = time.perf_counter()
        assert sum(ingest_decoding(v, fps, size) for v in videos) == decoded
        best["decode_all"] = min(best["decode_all"], time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(0, len(frames), batch):
            embedder.embed_images(frames[i : i + batch])
        best["embed"] = min(best["embed"], time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as store:
            start, cpu = time.perf_counter(), cpu_seconds()
            indexed = sum(
                ingest_video(store, v, embedder=embedder, fps=fps, batch_size=batch, digest=digests[v]).frames for v in videos
            )
            best["ingest"] = min(best["ingest"], time.perf_counter() - start)
            ingest_cpu = min(ingest_cpu, cpu_seconds() - cpu)
        assert decoded == indexed == len(frames), (decoded, indexed, len(frames))
    return {"frames": len(frames), "size": size, "ingest_cpu": ingest_cpu, **{k: len(frames) / v for k, v in best.items()}}


def ingest_decoding(video: Path, fps: float, size: int) -> int:
    """The ingest's decoding stage alone (ingest/local.py): every frame decoded, seen by the cut detector in its
    thread and by the truncation check; returns the frames sampled."""
    from framesearch.ingest.local import decoding
    from framesearch.ingest.video import DecodeTrack, VideoInfo

    with decoding(video, VideoInfo.from_video_path(video), fps, size, DecodeTrack()) as (frames, detector):
        count = sum(1 for _ in frames)
        detector.cuts()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--model", default="tiny-shapes-clip")
    parser.add_argument("--real-size", action="store_true", help="a random-weight ViT-B/16 at 1 fps on two videos")
    parser.add_argument("--fps", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    add_output_args(parser)
    args = parser.parse_args()
    videos = args.videos or [MEDIA / name for name in (REAL_SIZE_VIDEOS if args.real_size else DEFAULT_VIDEOS)]
    missing = [v for v in videos if not v.is_file()]
    if missing:
        raise SystemExit(f"missing videos: {', '.join(map(str, missing))} (the shared media of a development checkout)")
    repeat = 2 if args.quick else args.repeat
    label = args.model
    if args.real_size:
        from make_vitb16 import cached_vit_b16

        args.model, args.fps, label = str(cached_vit_b16()), 1.0, "ViT-B/16 size, random weights"
    print(f"# bench_local_ingest: {machine()}", flush=True)
    r = stages(videos, args.model, args.fps, args.batch, repeat)
    ours, ffmpeg = decode_cpu(videos, args.fps, r["size"], repeat) if not args.real_size else (float("nan"),) * 2
    slower = min(r["decode"], r["embed"])
    print(
        f"model {label}, {len(videos)} videos, {r['frames']} frames sampled at {args.fps:g} fps, best of {repeat}: "
        f"decode {r['decode']:.0f}/s (every frame, with cut detection: {r['decode_all']:.0f}/s), embed {r['embed']:.0f}/s, "
        f"ingest {r['ingest']:.0f}/s"
    )
    rows = [
        Row(
            "local ingest",
            f"whole ingest CPU ({label}), {len(videos)} videos at {args.fps:g} fps",
            r["ingest_cpu"],
            "s",
            ffmpeg,
            "ffmpeg -vf fps=N -f null -",
            "ratio <= 1.5",
            r["ingest_cpu"] <= 1.5 * ffmpeg,
        ),
        Row(
            "local ingest",
            f"decode CPU, {len(videos)} videos at {args.fps:g} fps",
            ours,
            "s",
            ffmpeg,
            "ffmpeg -vf fps=N -f null -",
            "ratio <= 1.0",
            ours <= ffmpeg,
        ),
        Row(
            "local ingest",
            f"whole ingest ({label})",
            r["ingest"],
            "frames/s",
            slower,
            "slower of decode / embed alone",
            "ratio >= 0.8",
            r["ingest"] >= 0.8 * slower,
        ),
        Row(
            "local ingest",
            f"whole ingest ({label}) vs its own stages",
            r["ingest"],
            "frames/s",
            min(r["decode_all"], r["embed"]),
            "slower of its decoding (every frame, cuts) / embed alone",
        ),
    ]
    emit(rows[2:] if args.real_size else rows, args.json_out)


if __name__ == "__main__":
    main()
