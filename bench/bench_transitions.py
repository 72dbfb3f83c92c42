"""Shot boundaries: which detector puts them where hard cuts, dissolves and fades are, at what CPU cost.

Detectors, each fed every decoded frame of the same decoding pass:
- `framesearch` (ingest/cuts.py `CutDetector`, the default): each frame's own planes sampled on a ~64-column grid,
  the mean absolute change judged against its neighbours (adaptive, as PySceneDetect's), plus the blend test
  for dissolves and fades;
- `PySceneDetect` (`SceneDetectCuts`, the [scenedetect] extra): PySceneDetect's AdaptiveDetector on 192 px
  frames (libswscale, OpenCV), plus the same blend test (the detector before);
- `ffmpeg scdet (T)`: ffmpeg's scene score through PyAV's filter graph (C, the whole picture), at its default
  threshold 10 and a lower 5, plus the same blend test on sampled frames (ffmpeg's score alone finds no dissolve).

Truth: a rendered 18 s, 25 fps video with a hard cut, dissolves of 0.4, 0.8 and 1.6 s and a 1 s fade through
black; with the shared media (../shared/media, a development checkout): the 22 hard cuts of the labelled eval
video (eval/eval.mp4, segment edges), the labelled cuts of big_buck_bunny_0_30.webm and bikes.mp4
(videos/README.md), and clips with no cut at all (static cameras, a time-lapse). A boundary within 0.5 s of a
true one finds it; others are false. CPU is the process's (user + system) over every video, decoding included,
against decoding alone.

    python bench/bench_transitions.py [--quick] [--json-out F]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit  # noqa: E402

SCENES = [
    ("circle", "red", "white", 3),
    ("square", "blue", "gray", 3),
    ("triangle", "green", "black", 3),
    ("star", "yellow", "white", 3),
    ("circle", "blue", "brown", 3),
    ("square", "red", "white", 3),
]
TRANSITIONS = [("cut", 0), ("dissolve", 0.8), ("fade", 1.0), ("dissolve", 0.4), ("dissolve", 1.6)]
MISSED = 0.5
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
LABELLED = {  # videos/README.md: cuts measured by looking at the frames
    "big_buck_bunny_0_30.webm": [11.80, 15.67, 22.96],
    "bikes.mp4": [1.20, 2.15, 3.04, 5.48, 7.48, 9.68],
}
NO_CUTS = ["car-detection.mp4", "vtest.avi", "bottle-detection.mp4", "box.mp4", "flower.mp4", "stream-of-water.mp4"]
QUICK_NO_CUTS = ["car-detection.mp4", "flower.mp4"]

Detector = Callable[[float | None], Any]


def detectors() -> dict[str, Detector]:
    from framesearch.ingest import cuts

    found: dict[str, Detector] = {"framesearch": cuts.CutDetector}
    try:
        cuts._scenedetect()
        found["PySceneDetect"] = cuts.SceneDetectCuts
    except cuts.MissingDependency:
        pass
    found["ffmpeg scdet (10)"] = lambda rate: Scdet(rate, 10.0)
    found["ffmpeg scdet (5)"] = lambda rate: Scdet(rate, 5.0)
    return found


class Scdet:
    """ffmpeg's scene score (`scdet`, through PyAV's filter graph) for hard cuts, the blend test for the rest."""

    def __init__(self, rate: float | None, threshold: float) -> None:
        from framesearch.ingest.cuts import FALLBACK_RATE, FrameSampler, GradualDetector

        self.rate = float(rate or FALLBACK_RATE)
        self.threshold = threshold
        self.graph: Any = None
        self.found: list[float] = []
        self.sample = FrameSampler()
        self.gradual = GradualDetector(self.rate)

    def feed(self, frame: Any, timestamp: float) -> None:
        import av

        if self.graph is None:
            self.graph = av.filter.Graph()
            source = self.graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=frame.time_base)
            detect = self.graph.add("scdet", f"threshold={self.threshold}")
            sink = self.graph.add("buffersink")
            source.link_to(detect)
            detect.link_to(sink)
            self.graph.configure()
        frame.pts = round(timestamp / frame.time_base) if frame.time_base else frame.pts
        self.graph.push(frame)
        while True:
            try:
                out = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            if "lavfi.scd.time" in out.metadata:
                self.found.append(round(float(out.metadata["lavfi.scd.time"]), 4))
        self.gradual.feed(self.sample(frame), timestamp)

    def cuts(self) -> list[float]:
        from framesearch.ingest.cuts import combine

        return combine([c for c in self.found if c > 0], self.gradual.transitions(), 1 / self.rate)


def run(path: Path, make: Detector) -> list[float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 25)
        detector = make(rate) if make is not None else None
        start = stream.start_time or 0
        for frame in container.decode(stream):
            if detector is not None:
                detector.feed(frame, round(float((frame.pts - start) * stream.time_base), 4))
    return detector.cuts() if detector is not None else []


def score(found: list[float], truth: list[float]) -> tuple[int, int, list[float]]:
    """(true boundaries found, false boundaries, errors of those found)."""
    errors, used = [], set()
    for t in truth:
        near = min((f for f in found if f not in used), key=lambda f: abs(f - t), default=None)
        if near is not None and abs(near - t) <= MISSED:
            errors.append(near - t)
            used.add(near)
    return len(errors), len([f for f in found if f not in used]), errors


def cases(tmp: Path, media: Path, quick: bool) -> list[tuple[str, Path, list[float]]]:
    from tests.helpers.synthetic_video import write_transition_video

    path, truth = write_transition_video(tmp / "t.mp4", SCENES, TRANSITIONS)
    found = [("rendered transitions", path, truth)]
    eval_truth = media / "eval" / "eval_ground_truth.json"
    if eval_truth.is_file():
        segments = json.loads(eval_truth.read_text())["segments"]
        found.append(("eval.mp4 (22 cuts)", media / "eval" / "eval.mp4", [s["start"] for s in segments[1:]]))
        found += [(name, media / "videos" / name, cuts) for name, cuts in LABELLED.items()]
        found += [(name, media / "videos" / name, []) for name in (QUICK_NO_CUTS if quick else NO_CUTS)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=MEDIA, help="the shared media folder (eval/ and videos/)")
    add_output_args(parser)
    args = parser.parse_args()
    chosen = detectors()
    with tempfile.TemporaryDirectory() as tmp:
        videos = cases(Path(tmp), args.media, args.quick)
        for _, path, _ in videos:
            run(path, None)  # once to warm up (file cache, imports)
        begin = time.process_time()
        for _, path, _ in videos:
            run(path, None)
        decode_cpu = time.process_time() - begin
        results: dict[str, dict[str, tuple[int, int, list[float]]]] = {}
        cpu: dict[str, float] = {}
        for name, make in chosen.items():
            begin = time.process_time()
            results[name] = {label: score(run(path, make), truth) for label, path, truth in videos}
            cpu[name] = time.process_time() - begin
    totals = {label: len(truth) for label, _, truth in videos}
    print(f"videos: {', '.join(f'{k} ({v})' for k, v in totals.items())}; decoding alone {decode_cpu:.2f} s CPU")
    for name, per in results.items():
        print(
            f"{name:20s} "
            + "; ".join(f"{label}: {hit}/{totals[label]} found, {false} false" for label, (hit, false, _) in per.items())
        )
    rows = []
    base = "PySceneDetect" if "PySceneDetect" in results else "framesearch"
    for name, per in results.items():
        synthetic = per["rendered transitions"]
        real = [v for k, v in per.items() if k != "rendered transitions"]
        errors = [abs(e) for _, _, es in per.values() for e in es]
        rows += [
            Row("transitions", f"{name}: rendered transitions found", synthetic[0], f"of {totals['rendered transitions']}"),
            Row(
                "transitions",
                f"{name}: real cuts found",
                sum(h for h, _, _ in real),
                f"of {sum(totals.values()) - totals['rendered transitions']}",
            ),
            Row("transitions", f"{name}: false boundaries", sum(f for _, f, _ in per.values())),
            Row("transitions", f"{name}: mean edge error", sum(errors) / max(len(errors), 1), "s"),
            Row("transitions", f"{name}: CPU with decoding", cpu[name], "s", decode_cpu, "decoding alone"),
            Row("transitions", f"{name}: CPU", cpu[name] - decode_cpu, "s", cpu[base] - decode_cpu, base),
        ]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
