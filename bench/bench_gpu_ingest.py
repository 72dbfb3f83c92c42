"""Local ingest with a real-size model: ONNX Runtime's CUDA provider against the CPU, on the same videos, in one run.

    python bench/bench_gpu_ingest.py [--model DIR] [--videos 3] [--seconds 60] [--fps 3]
                                     [--batches 8,16,32,64,128,256] [--work DIR] [--quick] [--json-out F]

Without --model it makes a ViT-B/16-shaped model folder with random weights through the product's export path
(bench/make_vitb16.py; needs torch and transformers) under --work, and reuses it on later runs. It renders
--videos synthetic videos (640x360, 30 fps, H.264) of --seconds each, samples them at --fps, and then, for each
execution provider (CPU always; CUDA when this onnxruntime has it, i.e. onnxruntime-gpu on a machine with a GPU,
else skipped with the reason): tunes the batch size on embedding alone (frames already decoded, in memory),
then runs the whole local ingest (`ingest_video`: decode in a reader thread, embed, write to a Qdrant Edge store)
with the best batch. Set the `embed_batch` setting (FRAMESEARCH_EMBED_BATCH) to the batch it reports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

CPU = ["CPUExecutionProvider"]
CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def render_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    """H.264 videos of drifting colour fields and shapes, 640x360 at 30 fps (scene changes every few seconds)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:360, 0:640]
    paths = []
    for n in range(count):
        path = folder / f"video{n}.mp4"
        paths.append(path)
        if path.is_file():
            continue
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "26", "g": "60"}
            for i in range(int(seconds * 30)):
                if i % 120 == 0:
                    base = rng.integers(0, 255, size=3)
                    cx, cy, colour = rng.integers(100, 540), rng.integers(80, 280), rng.integers(0, 255, size=3)
                shift = i % 120
                image = np.empty((360, 640, 3), np.uint8)
                image[:] = (base + (xs[..., None] + shift) * 0.2).astype(np.uint8) % 255
                disc = (xs - cx - shift) ** 2 + (ys - cy) ** 2 < 60**2
                image[disc] = colour
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return paths


def providers_available() -> tuple[list[list[str]], str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return [CPU, CUDA], ""
    return [CPU], (
        f"CUDA skipped: this onnxruntime ({ort.__version__}) offers {', '.join(available)}; "
        "install onnxruntime-gpu on a machine with an NVIDIA GPU"
    )


def gpu_name() -> str:
    try:
        return (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            or "no GPU"
        )
    except (OSError, subprocess.TimeoutExpired):
        return "no GPU (no nvidia-smi)"


def embed_rate(embedder, frames: list[np.ndarray], batch: int) -> float:
    """Frames per second embedding `frames` in batches of `batch` (after one warm-up batch)."""
    embedder.embed_images(frames[:batch])
    start = time.perf_counter()
    for i in range(0, len(frames), batch):
        embedder.embed_images(frames[i : i + batch])
    return len(frames) / (time.perf_counter() - start)


def tune(embedder, frames: list[np.ndarray], batches: list[int]) -> tuple[int, dict[int, float]]:
    """The batch size with the highest embedding rate (stops growing it once the rate falls twice in a row)."""
    rates: dict[int, float] = {}
    falls = 0
    for batch in batches:
        try:
            rates[batch] = embed_rate(embedder, frames, batch)
        except Exception as exc:  # out of GPU memory and the like: larger batches will not do better
            print(f"  batch {batch}: {type(exc).__name__}: {str(exc)[:120]}")
            break
        print(f"  batch {batch:>4}: {rates[batch]:8.1f} frames/s", flush=True)
        falls = falls + 1 if len(rates) > 1 and rates[batch] < max(rates.values()) else 0
        if falls >= 2:
            break
    return max(rates, key=rates.get), rates


def whole_ingest(embedder, videos: list[Path], fps: float, batch: int) -> float:
    """Frames per second of the product's local ingest of every video into a fresh Qdrant Edge store."""
    from framesearch.ingest.local import content_hash, ingest_video
    from framesearch.store.edge import EdgeStore

    digests = {v: content_hash(v) for v in videos}
    with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as store:
        start = time.perf_counter()
        frames = sum(
            ingest_video(store, v, embedder=embedder, fps=fps, batch_size=batch, digest=digests[v]).frames for v in videos
        )
        return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model folder (default: a random ViT-B/16 made under --work)")
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=3.0)
    parser.add_argument("--batches", default="8,16,32,64,128,256,512")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "framesearch-gpu-bench")
    add_output_args(parser)
    args = parser.parse_args()
    seconds = 20.0 if args.quick else args.seconds
    print(f"# bench_gpu_ingest: {machine()}; GPU: {gpu_name()}", flush=True)
    kinds, note = providers_available()
    if note and args.quick:
        raise SystemExit(note)  # the quick run is for machines with a GPU; the full one measures the CPU alone too

    from framesearch.embedders.onnx_clip import OnnxClip
    from framesearch.ingest.video import sample_frames

    model = args.model
    if model is None:
        model = args.work / "vit-b-16-random"
        if not (model / "config.json").is_file():
            from make_vitb16 import make_random_vit_b16

            print(f"making {model} (random ViT-B/16 through the export path) ...", flush=True)
            make_random_vit_b16(model)
    videos = render_videos(args.work / f"videos-{seconds:g}s", args.videos, seconds)
    size = OnnxClip(model).config.image_size
    start = time.perf_counter()
    frames = [f.image for v in videos for f in sample_frames(v, args.fps, size)]
    decode = len(frames) / (time.perf_counter() - start)
    print(f"{len(videos)} videos x {seconds:g} s, {len(frames)} frames at {args.fps:g} fps; decode alone {decode:.0f}/s")
    if note:
        print(note)
    batches = [int(b) for b in args.batches.split(",")]
    results = {}
    for kind in kinds:
        name = "CUDA" if kind == CUDA else "CPU"
        embedder = OnnxClip(model, providers=kind)
        print(f"{name}: tuning the batch size on {len(frames)} frames", flush=True)
        best, rates = tune(embedder, frames, batches if name == "CUDA" else [b for b in batches if b <= 64])
        ingest = whole_ingest(embedder, videos, args.fps, best)
        results[name] = {"batch": best, "embed": rates[best], "ingest": ingest}
        print(
            f"{name}: best batch {best}, embed {rates[best]:.1f}/s, whole ingest {ingest:.1f}/s "
            f"({ingest / min(decode, rates[best]):.2f} of the slower stage)",
            flush=True,
        )
    rows = []
    for name, r in results.items():
        rows += [
            Row("gpu ingest", f"ViT-B/16 embed, {name}, best batch {r['batch']}", r["embed"], "frames/s"),
            Row(
                "gpu ingest",
                f"whole local ingest, {name} (batch {r['batch']})",
                r["ingest"],
                "frames/s",
                min(decode, r["embed"]),
                "slower of decode / embed alone",
                "ratio >= 0.8",
                r["ingest"] >= 0.8 * min(decode, r["embed"]),
            ),
        ]
    if "CUDA" in results:
        rows.append(
            Row(
                "gpu ingest",
                "whole local ingest, CUDA vs CPU",
                results["CUDA"]["ingest"],
                "frames/s",
                results["CPU"]["ingest"],
                "CPU, same videos",
            )
        )
    emit(rows, args.json_out)
    if "CUDA" in results:
        print(f"set FRAMESEARCH_EMBED_BATCH={results['CUDA']['batch']} for this GPU")


if __name__ == "__main__":
    main()
