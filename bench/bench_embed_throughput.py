"""Image embedding throughput of CLIP ViT-B/32 and ViT-B/16 on this machine's CPU cores, per core and all cores.

    python bench/bench_embed_throughput.py [--models B-32 B-16] [--images 96] [--repeat 3] [--quick] [--json-out F]

--quick: ViT-B/16 only, 32 frames, one run, on the folder bench/make_vitb16.py keeps under
~/.cache/framesearch-bench (the one bench_local_ingest --real-size uses, so it is exported once).

No pretrained weights can be fetched here, and speed does not depend on the weights' values: the bench builds
Hugging Face CLIPs with OpenAI's ViT-B/32 and ViT-B/16 shapes and RANDOM weights, turns them into model folders
with the product's own `framesearch model export`, and times `OnnxClip.embed_images` (preprocessing included) on
224-px frames in batches of 32, with ONNX Runtime on 1 thread and on every core. The bundled tiny model is the
baseline measured in the same run. Then it times decoding alone (`sample_frames`) on a 720p clip, the other half
of an ingest. Needs the `export` extra (torch, transformers). Figures feed docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "videos"

# Vision towers of OpenAI's CLIP ViT-B models (the text tower is kept small: only images are timed).
SHAPES = {
    "B-32": {"patch_size": 32, "projection_dim": 512},
    "B-16": {"patch_size": 16, "projection_dim": 512},
}


def build_hf_clip(folder: Path, patch: int, projection: int) -> Path:
    """save_pretrained a random CLIPModel with a ViT-B vision tower (12 layers, width 768) and a tiny text tower."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizerFast

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' hand-written CLIP vocabulary
    from tests.helpers.tiny_hf_clip import MERGES, clip_vocab

    folder.mkdir(parents=True, exist_ok=True)
    vocab = clip_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    text = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "vocab_size": len(vocab),
        "max_position_embeddings": 77,
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": 2,
        "pad_token_id": 1,
    }
    vision = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 224,
        "patch_size": patch,
    }
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection)).save_pretrained(str(folder))
    CLIPTokenizerFast.from_pretrained(str(folder)).save_pretrained(str(folder))
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(str(folder))
    return folder


def export(source: Path, out: Path, name: str) -> Path:
    from typer.testing import CliRunner

    from framesearch.cli import app

    result = CliRunner().invoke(app, ["model", "export", str(source), "-o", str(out), "--name", name])
    if result.exit_code != 0:
        raise SystemExit(f"export failed: {result.output}")
    return out


def images_per_second(folder: Path, threads: int, images: int, repeat: int) -> float:
    from framesearch.embedders.onnx_clip import OnnxClip

    model = OnnxClip(folder, threads=threads)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (224, 398, 3), dtype=np.uint8) for _ in range(images)]  # 16:9 at 224 px
    model.embed_images(frames[:32])  # load and warm up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, images, 32):
            model.embed_images(frames[i : i + 32])
        best = min(best, time.perf_counter() - start)
    return images / best


def decode_rates(video: Path, repeat: int) -> dict[float, float]:
    """Sampled frames per second that decoding alone delivers (every frame is decoded to find the sampled ones)."""
    from framesearch.ingest.video import sample_frames

    rates = {}
    for fps in (1.0, 3.0):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            kept = sum(1 for _ in sample_frames(video, fps, 224))
            best = min(best, time.perf_counter() - start)
        rates[fps] = kept / best
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Keep the exported folders here (default: a temporary folder).")
    parser.add_argument(
        "--decode",
        type=Path,
        default=MEDIA / "scenedetect-testvideo.mp4",
        help="A video to time decoding on (default: a 720p H.264 clip of the shared media).",
    )
    add_output_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.models, args.images, args.repeat = [], 32, 1
    print(f"# bench_embed_throughput: {machine()}", flush=True)
    cores = os.cpu_count() or 1
    rows = []
    from framesearch.embedders.resolve import bundled_models

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        folders = {"tiny-shapes-clip": bundled_models()["tiny-shapes-clip"]}
        for key in args.models:
            out = root / f"vit-{key.lower()}-random"
            if not (out / "config.json").is_file():
                source = build_hf_clip(root / f"hf-{key}", SHAPES[key]["patch_size"], SHAPES[key]["projection_dim"])
                export(source, out, f"ViT-{key}/random")
            folders[f"ViT-{key} (random weights)"] = out
        if args.quick:
            from make_vitb16 import cached_vit_b16

            folders["ViT-B-16 (random weights)"] = cached_vit_b16()
        print(f"{cores} cores, {args.images} frames of 224x398 per run, batches of 32, best of {args.repeat}")
        base = None
        for label, folder in folders.items():
            one = images_per_second(folder, 1, args.images, args.repeat)
            every = images_per_second(folder, cores, args.images, args.repeat)
            base = base or one
            rows += [
                Row("embedding", f"{label}: frames/s on 1 thread", one, "frames/s"),
                Row("embedding", f"{label}: frames/s on {cores} threads", every, "frames/s", one, "1 thread"),
            ]
            print(
                f"{label:<30} 1 thread {one:8.1f} img/s   {cores} threads {every:8.1f} img/s   "
                f"scaling x{every / one:.2f}   vs tiny {one / base:.4f}"
            )
    if args.decode.is_file():
        from framesearch.ingest.video import VideoInfo

        info = VideoInfo.from_video_path(args.decode)
        rates = decode_rates(args.decode, args.repeat)
        print(
            f"decoding {args.decode.name} ({info.width}x{info.height} {info.codec} at {info.fps:.2f} fps, all cores): "
            + ", ".join(f"{r:.1f} sampled frames/s at {f:g} fps" for f, r in rates.items())
        )
        rows += [Row("embedding", f"decoding alone, {args.decode.name} at {f:g} fps", r, "frames/s") for f, r in rates.items()]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
