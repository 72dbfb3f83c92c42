"""Retrieval quality on the labelled eval video: index it, run its 23 text queries, score Hit@1/Hit@5/MRR/Recall@10.

    python bench/eval_moments.py --model ~/models/vit-b-16 [--fps 2]

Uses ../shared/media/eval (eval.mp4, eval_ground_truth.json, score_eval.py). Predictions are scored twice in
the same run: the 50 best raw frame hits (the baseline, no threshold) and framesearch's segments at the model's
default threshold (one prediction per moment, at its best frame), so the effect of grouping is visible.
Meaningful only with a real pretrained CLIP: the bundled tiny-shapes-clip knows nothing of these scenes and
scores near chance.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "media" / "eval"


def load_scorer(folder: Path):
    spec = importlib.util.spec_from_file_location("score_eval", folder / "score_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score


def predictions(store, embedder, queries: list[str], mode: str) -> dict[str, list[list[float]]]:
    from framesearch.search.core import search
    from framesearch.search.models import SearchRequest
    from framesearch.settings import Settings

    preds = {}
    for query in queries:
        threshold = -1.0 if mode == "frames" else None  # segments at the model's default floor, as a user searches
        request = SearchRequest(q=query, threshold=threshold, limit=50, mode=mode)
        found = search(store, request, Settings(), embedder).results
        key = "timestamp" if mode == "frames" else "peak_time"
        preds[query] = [[getattr(r, key), r.score] for r in found]
    return preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-shapes-clip")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--save", type=Path, help="write the segment predictions JSON here")
    add_output_args(parser)  # --quick is the same run: one 91 s video
    args = parser.parse_args()
    if not (args.eval_dir / "eval.mp4").is_file():
        raise SystemExit(f"no labelled eval video in {args.eval_dir} (the shared media of a development checkout)")

    from framesearch.embedders.resolve import load_embedder
    from framesearch.ingest.local import ingest_video
    from framesearch.settings import Settings
    from framesearch.store.edge import EdgeStore

    truth = json.loads((args.eval_dir / "eval_ground_truth.json").read_text())
    queries = [q["query"] for q in truth["queries"]]
    score = load_scorer(args.eval_dir)
    embedder = load_embedder(args.model, Settings())
    with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp)) as store:
        record = ingest_video(store, args.eval_dir / "eval.mp4", embedder=embedder, fps=args.fps)
        runs = {mode: predictions(store, embedder, queries, mode) for mode in ("frames", "segments")}
    print(f"model {embedder.name}: {record.frames} frames of eval.mp4 at {args.fps:g} fps, {len(queries)} queries")
    summaries = {mode: score(truth, preds)[0] for mode, preds in runs.items()}
    for mode, summary in summaries.items():
        figures = "  ".join(f"{k} {v:.3f}" for k, v in summary.items())
        print(f"{mode:<9} {figures}")
    emit([Row("moments", f"{metric}, segments ({embedder.name})", value, "", summaries["frames"][metric], "raw frames")
          for metric, value in summaries["segments"].items()], args.json_out)
    if args.save:
        args.save.write_text(json.dumps(runs["segments"]))


if __name__ == "__main__":
    main()
