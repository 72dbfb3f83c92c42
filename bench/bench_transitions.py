"""Gradual transitions: which detector puts shot boundaries where dissolves and fades are, at what CPU cost.

Renders a video of shapes scenes joined by a hard cut, dissolves (0.4-1.6 s) and a fade through black, and runs
on it: PySceneDetect's AdaptiveDetector (the cut detector alone), ffmpeg's scene score (the `scdet` filter,
through PyAV's filter graph, at its default threshold and a lower one), and framesearch's CutDetector (the
adaptive detector plus the blend test of ingest/cuts.py). Prints, for each, the error of the boundary nearest
each true one (missed beyond 0.5 s), the false boundaries, and CPU seconds. With --media, also counts the
boundaries each finds in the shared real clips (which have no gradual transitions).

    python bench/bench_transitions.py [--quick] [--json-out F] [--media /work/shared/media/videos]

Rows: each detector's mean boundary error over the transitions it found, how many it missed, and its CPU time,
against PySceneDetect's adaptive detector (the one before).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

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
MAX_FRAMES = 750  # of each real clip (30 s at 25 fps)


def adaptive_only(path: Path) -> list[float]:
    from framesearch.ingest.cuts import CutDetector

    detector = CutDetector(_rate(path))
    detector.gradual.feed = lambda *a: None  # type: ignore[method-assign]  # the PySceneDetect part alone
    _decode(path, detector.feed)
    return detector.cuts()


def framesearch_cuts(path: Path) -> list[float]:
    from framesearch.ingest.cuts import CutDetector

    detector = CutDetector(_rate(path))
    _decode(path, detector.feed)
    return detector.cuts()


def scdet(threshold: float):
    def run(path: Path) -> list[float]:
        import av

        found = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            graph = av.filter.Graph()
            source = graph.add_buffer(template=stream)
            detect = graph.add("scdet", f"threshold={threshold}")
            sink = graph.add("buffersink")
            source.link_to(detect)
            detect.link_to(sink)
            graph.configure()
            for n, frame in enumerate(container.decode(stream)):
                if n >= MAX_FRAMES:
                    break
                graph.push(frame)
                while True:
                    try:
                        out = graph.pull()
                    except (av.BlockingIOError, av.EOFError):
                        break
                    if "lavfi.scd.time" in out.metadata:
                        found.append(round(float(out.metadata["lavfi.scd.time"]), 4))
        return found

    return run


def _rate(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.streams.video[0].average_rate or 25)


def _decode(path: Path, feed) -> None:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for n, frame in enumerate(container.decode(stream)):
            if n >= MAX_FRAMES:
                break
            feed(frame, float(frame.pts * stream.time_base))


def score(found: list[float], truth: list[float]) -> tuple[list[float | None], int]:
    errors: list[float | None] = []
    used = set()
    for t in truth:
        near = min(found, key=lambda f: abs(f - t), default=None)
        if near is None or abs(near - t) > MISSED:
            errors.append(None)
        else:
            errors.append(round(near - t, 3))
            used.add(near)
    return errors, len([f for f in found if f not in used])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, help="a folder of real clips to count boundaries on")
    add_output_args(parser)  # --quick: the same video (it is small); --media is never part of it
    args = parser.parse_args()
    from tests.helpers.synthetic_video import write_transition_video

    detectors = {
        "PySceneDetect adaptive": adaptive_only,
        "ffmpeg scdet (10)": scdet(10.0),
        "ffmpeg scdet (3)": scdet(3.0),
        "framesearch (adaptive + blend)": framesearch_cuts,
    }
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        path, truth = write_transition_video(Path(tmp) / "t.mp4", SCENES, TRANSITIONS)
        print(f"truth: {truth} ({', '.join(f'{k} {s:g}s' for k, s in TRANSITIONS)})")
        for name, detect in detectors.items():
            detect(path)  # once to warm up (imports, first allocations)
            begin = time.process_time()
            found = detect(path)
            cpu = time.process_time() - begin
            errors, false = score(found, truth)
            measured[name] = (errors, false, cpu)
            print(f"{name:32s} errors (s) {errors}  false {false}  CPU {cpu:.2f} s")
    base_errors, base_false, base_cpu = measured["PySceneDetect adaptive"]
    rows = []
    for name, (errors, false, cpu) in measured.items():
        missed = sum(e is None for e in errors)
        rows += [
            Row("transitions", f"{name}: boundaries missed of {len(errors)}", missed, "", sum(e is None for e in base_errors)),
            Row("transitions", f"{name}: false boundaries", false, "", base_false),
            Row("transitions", f"{name}: CPU", cpu, "s", base_cpu, "PySceneDetect adaptive"),
        ]
    emit(rows, args.json_out)
    if args.media:
        print(f"boundaries found in the first {MAX_FRAMES} frames of real clips:")
        for video in sorted(args.media.iterdir()):
            counts = {name: len(detect(video)) for name, detect in detectors.items()}
            print(video.name, counts)


if __name__ == "__main__":
    main()
