"""Retrieval and moment quality: Hit@1, Hit@5, MRR, Recall@10, the default threshold's precision/recall and the
mean edge error (s), before and after each feature, on rendered shapes videos and on the labelled eval video.

    python bench/eval_moments.py                           # shapes videos, bundled tiny-shapes-clip
    python bench/eval_moments.py --model ~/models/vit-b-16 --eval   # also the labelled eval video (real CLIP)

Shapes videos (training/scene_videos.py): seeds 101-110 by default, none of which the method was tuned on (its
constants were chosen on seeds 1-16); new scenes and layouts, a small second shape sharing frames, moving
shapes, cuts at random frames (off the 2 fps sampling grid). Each "a {colour} {shape}" shown is a query; its
truth is every scene (across the library) showing it. Data is built with the product's own ingest.

Columns: ranking (frames mode, no threshold, each frame a prediction: Hit@k/MRR/Recall@10 over scenes); then, at
the default threshold, segments: precision (returned segments inside a true scene), recall (true scenes
covered), edge error (mean |start - cut| and |end - cut| of the segment covering each scene).
Configurations: `raw` = before (the model's cosine default, edges at the first/last matching sampled frame),
`calibrated` = the calibrated default threshold, `+edges` = moments snapped to detected cuts (what search
answers), `+ensemble` = the query embedded as the mean of prompt templates.
The labelled eval (../shared/media/eval) is meaningful only with a real pretrained CLIP.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from report import Row, add_output_args, emit  # noqa: E402

EVAL = ROOT.parent / "shared" / "media" / "eval"
TEMPLATES = ["a photo of {}", "a picture of {}", "an image of {}", "{}"]


def load_scorer(folder: Path):
    spec = importlib.util.spec_from_file_location("score_eval", folder / "score_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score


def run(store, embedder, query: str, **options):
    from framesearch.search.core import search
    from framesearch.search.models import SearchRequest
    from framesearch.settings import Settings

    return search(store, SearchRequest(q=query, limit=100, frames=True, **options), Settings(), embedder).results


def ranking(store, embedder, wanted: dict) -> dict[str, float]:
    hit1 = hit5 = rr = recall = 0.0
    for query, scenes in wanted.items():
        frames = run(store, embedder, query, mode="frames", threshold=-1.0)
        which = [[i for i, (v, a, b) in enumerate(scenes) if f.video_id == v and a <= f.timestamp < b] for f in frames]
        first = next((r for r, w in enumerate(which) if w), None)
        hit1 += first == 0
        hit5 += first is not None and first < 5
        rr += 0 if first is None else 1 / (first + 1)
        recall += len({i for w in which[:10] for i in w}) / len(scenes)
    n = len(wanted)
    return {"Hit@1": hit1 / n, "Hit@5": hit5 / n, "MRR": rr / n, "Recall@10": recall / n}


def moments(store, embedder, wanted: dict, raw: bool, snapped: bool) -> dict[str, float]:
    returned = inside = covered = 0
    errors: list[float] = []
    for query, scenes in wanted.items():
        options = {"threshold": embedder.default_threshold} if raw else {}
        segments = run(store, embedder, query, **options)
        edges = [(s.start, s.end) if snapped else (s.frames[0].timestamp, s.frames[-1].timestamp) for s in segments]
        returned += len(segments)
        pairs = list(zip(segments, edges, strict=True))
        inside += sum(any(s.video_id == v and e[0] < b and e[1] > a for v, a, b in scenes) for s, e in pairs)
        for v, a, b in scenes:
            over = [e for s, e in zip(segments, edges, strict=True) if s.video_id == v and e[0] < b and e[1] > a]
            covered += bool(over)
            if over:
                errors += [abs(min(e[0] for e in over) - a), abs(max(e[1] for e in over) - b)]
    total = sum(len(s) for s in wanted.values())
    edge_error = sum(errors) / max(len(errors), 1)
    return {"precision": inside / max(returned, 1), "recall": covered / total, "edge error (s)": edge_error}


def shapes(model: str, seeds: list[int], fps: float) -> dict[str, dict[str, float]]:
    from framesearch.embedders.resolve import load_embedder, resolve_model
    from framesearch.ingest.ids import file_video_id
    from framesearch.ingest.local import ingest_video
    from framesearch.settings import Settings
    from framesearch.store.edge import EdgeStore
    from training.scene_videos import random_script, render_video, truth

    embedder = load_embedder(model, Settings())
    with tempfile.TemporaryDirectory() as tmp:
        ensemble_dir = Path(tmp) / "ensemble"
        shutil.copytree(resolve_model(model), ensemble_dir)
        config = json.loads((ensemble_dir / "config.json").read_text())
        (ensemble_dir / "config.json").write_text(json.dumps({**config, "prompt_templates": TEMPLATES}))
        ensemble = load_embedder(str(ensemble_dir), Settings())
        wanted: dict[str, list] = {}
        with EdgeStore(Path(tmp) / "store") as store:
            for seed in seeds:
                script = random_script(seed)
                path = render_video(Path(tmp) / f"v{seed}.mp4", script)
                video_id = ingest_video(store, path, embedder=embedder, fps=fps).video_id
                assert video_id == file_video_id(path), (video_id, path)
                for query, ranges in truth(script).items():
                    wanted.setdefault(query, []).extend((video_id, a, b) for a, b in ranges)
            scenes = sum(len(s) for s in wanted.values())
            print(
                f"shapes: {len(seeds)} videos (seeds {seeds[0]}-{seeds[-1]}), {store.frame_count()} frames at {fps:g} fps, "
                f"{len(wanted)} queries, {scenes} scenes asked for; model {embedder.name}"
            )
            for name, emb in (("plain", embedder), ("+ensemble", ensemble)):
                print(f"  ranking {name:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in ranking(store, emb, wanted).items()))
            found = {}
            for name, emb, raw, snapped in (
                ("raw", embedder, True, False),
                ("calibrated", embedder, False, False),
                ("+edges", embedder, False, True),
                ("+ensemble", ensemble, False, True),
            ):
                found[name] = figures = moments(store, emb, wanted, raw, snapped)
                print(f"  moments {name:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()))
            return found


def labelled(model: str, fps: float, eval_dir: Path) -> None:
    from framesearch.embedders.resolve import load_embedder
    from framesearch.ingest.local import ingest_video
    from framesearch.settings import Settings
    from framesearch.store.edge import EdgeStore

    truth = json.loads((eval_dir / "eval_ground_truth.json").read_text())
    queries = [q["query"] for q in truth["queries"]]
    score = load_scorer(eval_dir)
    embedder = load_embedder(model, Settings())
    wanted = {q["query"]: [("eval", a, b) for a, b in q["intervals"]] for q in truth["queries"]}
    with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as store:
        record = ingest_video(store, eval_dir / "eval.mp4", embedder=embedder, fps=fps, video_id="eval")
        frames = {
            q: [[r.timestamp, r.score] for r in run(store, embedder, q, mode="frames", threshold=-1.0, limit=50)] for q in queries
        }
        segments = {q: [[r.peak_time, r.score] for r in run(store, embedder, q)] for q in queries}
        print(
            f"labelled eval: model {embedder.name}, {record.frames} frames at {fps:g} fps, {len(queries)} queries, "
            f"{len(record.cuts or [])} cuts detected"
        )
        for name, preds in (("frames", frames), ("segments", segments)):
            summary, _ = score(truth, preds)
            print(f"  ranking {name:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in summary.items()))
        for name, raw, snapped in (("raw", True, False), ("calibrated", False, False), ("+edges", False, True)):
            figures = moments(store, embedder, wanted, raw, snapped)
            print(f"  moments {name:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-shapes-clip")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--seeds", default="101-110", help="shapes video seeds, e.g. 101-110")
    parser.add_argument("--eval", action="store_true", help="also the labelled eval video (needs a real CLIP)")
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    add_output_args(parser)  # --quick: three shapes videos
    args = parser.parse_args()
    lo, _, hi = ("101-103" if args.quick else args.seeds).partition("-")
    found = shapes("tiny-shapes-clip", list(range(int(lo), int(hi or lo) + 1)), args.fps)
    emit(
        [
            Row(
                "moments",
                f"shapes videos: segment {metric} (search as answered)",
                value,
                "",
                found["raw"][metric],
                "raw threshold, unsnapped edges",
            )
            for metric, value in found["+edges"].items()
        ],
        args.json_out,
    )
    if args.eval:
        labelled(args.model, args.fps, args.eval_dir)
    else:
        print("labelled eval: skipped (--eval; it needs a real pretrained CLIP model folder, none is available here)")


if __name__ == "__main__":
    main()
