"""Shot cuts, detected while a video is sampled, on every decoded frame, in the same decoding pass.

The default detector (`CutDetector`) reads each decoded frame's own planes (no conversion, no scaling): a grid of
about 64 columns of small patches of luma and chroma, averaged and turned into RGB (a few thousand numbers,
tens of microseconds a frame). Its hard-cut score is the mean absolute difference from the previous frame (what
ffmpeg's scene score, `scdet`, computes over the whole picture), judged against the scores of its neighbours as
PySceneDetect's AdaptiveDetector does (a cut scores well above the frames around it, so camera motion, which
changes every frame, does not read as a cut). A cut is the time of the first frame of a new shot.
bench/bench_transitions.py measures it against PySceneDetect's AdaptiveDetector and ffmpeg's `scdet` on labelled
cuts and transitions (docs/search.md). PySceneDetect's detector stays available (`SceneDetectCuts`, chosen with
FRAMESEARCH_CUT_DETECTOR=scenedetect; it needs the `[scenedetect]` extra, OpenCV).
`BackgroundCuts` runs a detector in its own thread, so an ingest decodes, detects cuts and embeds at once.

Gradual transitions (dissolves, fades to and from black) change the picture a little on every frame, which
neither PySceneDetect's detectors nor ffmpeg's scene score mark (docs/search.md has the measurement).
`GradualDetector` finds them on the same small frames: a run of frames that each change a little, whose
end differs from its start as much as two shots do, and whose every frame in between is a blend of the run's
first and last (f = (1 - a) * first + a * last, a rising from 0 to 1, little left over): a dissolve is exactly
that, a fade is a blend with black, while motion (a pan, a moving object) leaves large residuals. The boundary
is where the blend is half way (a fade out and in: the black between them); a hard cut detected inside a
transition gives way to it. Sampling a frame's planes keeps that: a blend of two frames is, point by point, a
blend of their samples.
"""

from __future__ import annotations

import os
import queue
import threading
from functools import cache
from typing import Any, Protocol

from framesearch.errors import InvalidInput, MissingDependency

DETECT_WIDTH = 192
MIN_SHOT_SECONDS = 0.4
FALLBACK_RATE = 25.0
MIN_CONTENT = 8.0  # with edges weighed in: finds the cuts of the shared test media, none in its static-camera clips
QUEUE_FRAMES = 32  # decoded frames waiting for the detector thread (~1.4 MB each at 720p)
BLEND_WIDTH = 48  # pixels across the frames a blend is checked on
MIN_STEP = 0.4  # mean change per pixel (0-255) between frames that makes a frame part of a possible transition
NOISE_FACTOR = 3.0  # ... and at least this times the recent typical change (grain, compression noise)
MIN_TOTAL = 12.0  # mean change per pixel between a transition's first and last frames (two different shots)
MAX_RESIDUAL = 0.12  # most of that change left over when a frame between is fitted as a blend of the two ends
MAX_JUMP = 0.6  # most of the blend one frame may do (more: a hard cut, PySceneDetect's)
MIN_TRANSITION_SECONDS = 0.1
MAX_TRANSITION_SECONDS = 3.0
DARK = 16.0  # mean level under which a frame is black (a fade's middle)


SAMPLE_COLUMNS = 64  # columns of the grid a frame is sampled on (rows in proportion)
RUN = 4  # neighbouring luma pixels averaged in each cell (one cache line)
ADAPTIVE_WINDOW = 2  # frames on each side a frame's score is compared with
ADAPTIVE_RATIO = 3.0  # a cut scores at least this times the mean of its neighbours ...
MIN_CUT_SCORE = 8.0  # ... and changes at least this much (mean per sample, 0-255)
DETECTOR_ENV = "FRAMESEARCH_CUT_DETECTOR"  # "frames" (default) or "scenedetect" (PySceneDetect, the [scenedetect] extra)


def _scenedetect() -> Any:
    try:
        import scenedetect
    except ImportError as exc:
        raise MissingDependency(
            f"{DETECTOR_ENV}=scenedetect needs PySceneDetect and OpenCV: pip install 'framesearch[scenedetect]' "
            f"(or unset {DETECTOR_ENV} for the built-in detector)"
        ) from exc
    return scenedetect


def median_u8(values: Any) -> float:
    """numpy.median of an 8-bit array, from its histogram (one pass instead of a partition; same value)."""
    import numpy as np

    counts = np.bincount(values.ravel(), minlength=256).cumsum()
    half = values.size // 2
    upper = float(np.searchsorted(counts, half, side="right"))
    if values.size % 2:
        return upper
    return (float(np.searchsorted(counts, half - 1, side="right")) + upper) / 2.0


@cache
def adaptive_detector_class() -> type:
    """PySceneDetect's AdaptiveDetector with its per-frame score computed in fewer passes: the same HSV split,
    Canny edges and dilation, the median from a histogram and each mean distance by cv2.norm (an exact sum of
    absolute differences). Same scores to the last bit (tests/test_cuts.py); the adaptive logic is untouched."""
    import cv2
    import numpy as np

    sd = _scenedetect()
    from scenedetect.detectors.content_detector import _estimated_kernel_size

    frame_data = sd.ContentDetector._FrameData

    class FastAdaptiveDetector(sd.AdaptiveDetector):
        def _calculate_frame_score(self, timecode: Any, frame_img: Any) -> float:
            hue, sat, lum = cv2.split(cv2.cvtColor(frame_img, cv2.COLOR_BGR2HSV))
            edges = self._detect_edges(lum) if self._weights.delta_edges > 0.0 else None
            last, self._last_frame = self._last_frame, frame_data(hue, sat, lum, edges)
            if last is None:
                return 0.0
            pixels = float(lum.size)
            components = (
                cv2.norm(hue, last.hue, cv2.NORM_L1) / pixels,
                cv2.norm(sat, last.sat, cv2.NORM_L1) / pixels,
                cv2.norm(lum, last.lum, cv2.NORM_L1) / pixels,
                0.0 if edges is None or last.edges is None else cv2.norm(edges, last.edges, cv2.NORM_L1) / pixels,
            )
            weights = self._weights
            return sum(c * w for c, w in zip(components, weights, strict=True)) / sum(abs(w) for w in weights)

        def _detect_edges(self, lum: Any) -> Any:
            if self._kernel is None:
                size = _estimated_kernel_size(lum.shape[1], lum.shape[0])
                self._kernel = np.ones((size, size), np.uint8)
            median = median_u8(lum)
            low = int(max(0, (1.0 - 1.0 / 3.0) * median))
            high = int(min(255, (1.0 + 1.0 / 3.0) * median))
            return cv2.dilate(cv2.Canny(lum, low, high), self._kernel)

    return FastAdaptiveDetector


class GradualDetector:
    """Dissolves and fades (see the module's doc): feed it each frame's downscaled pixels in order (`feed`), then
    read `transitions`: (first, last, boundary) times of each, the boundary where the blend is half way."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.max_frames = max(3, round(MAX_TRANSITION_SECONDS * rate))
        self.min_frames = max(2, round(MIN_TRANSITION_SECONDS * rate))
        self.run: list[tuple[float, Any]] = []  # (time, pixels) from the last still frame on
        self.steps: list[float] = []  # recent frame-to-frame changes outside transitions
        self.found: list[tuple[float, float, float]] = []
        self._dark_end: float | None = None  # end time of the last transition if it ended on black

    def feed(self, pixels: Any, timestamp: float, step: float | None = None) -> None:
        """One frame's small pixels (any shape, 0-255), and their mean absolute change from the previous frame's
        when the caller has it already."""
        import numpy as np

        small = pixels.astype(np.float32, copy=False)
        if not self.run:
            self.run = [(timestamp, small)]
            return
        step = float(np.abs(small - self.run[-1][1]).mean()) if step is None else step
        recent = sorted(self.steps[-50:])
        floor = max(MIN_STEP, NOISE_FACTOR * recent[len(recent) // 2]) if recent else MIN_STEP
        if step >= floor:
            self.run.append((timestamp, small))
            if len(self.run) > self.max_frames + 1:  # too long for a transition: slide on
                self.run.pop(0)
            return
        self.steps.append(step)
        self._close()
        self.run = [(timestamp, small)]

    def _close(self) -> None:
        """The run of changing frames just ended: a transition if it is a blend of its ends (or two, via black)."""
        if len(self.run) - 1 < self.min_frames:
            return
        if self._blend(self.run):
            return
        darkest = min(range(1, len(self.run) - 1), key=lambda k: float(self.run[k][1].mean()), default=None)
        if darkest is not None and float(self.run[darkest][1].mean()) < DARK:  # a fade out and in, without a pause
            out, into = self.run[: darkest + 1], self.run[darkest:]
            if len(out) > 2 and len(into) > 2 and self._blend(out, record=False) and self._blend(into, record=False):
                self.found.append((out[0][0], into[-1][0], self.run[darkest][0]))

    def _blend(self, run: list[tuple[float, Any]], record: bool = True) -> bool:
        import numpy as np

        first, last = run[0][1], run[-1][1]
        delta = (last - first).ravel()
        total = float(np.abs(delta).mean())
        norm = float(delta @ delta)
        if total < MIN_TOTAL or norm <= 0:
            return False
        mixes = []
        for _, frame in run[1:-1]:
            offset = (frame - first).ravel()
            mix = float(offset @ delta) / norm
            if float(np.abs(offset - mix * delta).mean()) > MAX_RESIDUAL * total:
                return False
            mixes.append(mix)
        curve = [0.0, *mixes, 1.0]
        jumps = [b - a for a, b in zip(curve, curve[1:], strict=False)]
        if min(jumps) < -0.1 or max(jumps) > MAX_JUMP:  # not rising, or most of it at once: a hard cut (and motion)
            return False
        if not record:
            return True
        times = [t for t, _ in run]
        half = next(k for k in range(1, len(curve)) if curve[k] >= 0.5)
        a, b = curve[half - 1], curve[half]
        boundary = times[half - 1] + (0.5 - a) / max(b - a, 1e-6) * (times[half] - times[half - 1])
        levels = [float(f.mean()) for _, f in run]
        darkest = min(range(len(run)), key=levels.__getitem__)
        if 0 < darkest < len(run) - 1 and levels[darkest] < min(DARK, levels[0] - 2, levels[-1] - 2):
            boundary = times[darkest]  # through black (a fade out of a dark shot and into the next): the black
        if float(first.mean()) < DARK and self._dark_end is not None and times[0] - self._dark_end <= MIN_SHOT_SECONDS:
            start, _, _ = self.found.pop()  # a fade in right after a fade out: one boundary, in the black between
            self.found.append((start, times[-1], (self._dark_end + times[0]) / 2))
        else:
            self.found.append((times[0], times[-1], boundary))
        self._dark_end = times[-1] if float(last.mean()) < DARK else None
        return True

    def transitions(self) -> list[tuple[float, float, float]]:
        self._close()
        self.run = []
        return list(self.found)


def combine(cuts: list[float], transitions: list[tuple[float, float, float]], frame: float) -> list[float]:
    """Hard cuts and gradual transitions' boundaries as one list: a cut inside a transition gives way to it."""
    inside = [c for c in cuts if any(a - frame <= c <= b + frame for a, b, _ in transitions)]
    return sorted({round(c, 4) for c in cuts if c not in inside} | {round(m, 4) for _, _, m in transitions})


class SceneDetectCuts:
    """PySceneDetect's AdaptiveDetector on frames scaled to 192 px (libswscale, then OpenCV), with the blend test:
    the detector before `CutDetector` (FRAMESEARCH_CUT_DETECTOR=scenedetect; needs the [scenedetect] extra).
    Feed it every decoded frame in order (`feed`), then read the cut times (`cuts`), gradual transitions' too."""

    def __init__(self, video_fps: float | None, width: int = DETECT_WIDTH) -> None:
        sd = _scenedetect()
        self.rate = float(video_fps or FALLBACK_RATE)
        self.width = width
        weights = sd.ContentDetector.Components(delta_hue=1.0, delta_sat=1.0, delta_lum=1.0, delta_edges=1.0)
        self.detector = adaptive_detector_class()(
            min_scene_len=max(1, round(MIN_SHOT_SECONDS * self.rate)), weights=weights, min_content_val=MIN_CONTENT
        )
        self._timecode = sd.FrameTimecode
        from av.video.reformatter import VideoReformatter

        self._scale = VideoReformatter()  # one scaler for every frame: a fresh one per frame costs more than the scaling
        self._times: list[float] = []
        self._cuts: list[float] = []
        self.gradual = GradualDetector(self.rate)

    def feed(self, frame: Any, timestamp: float) -> None:
        """One decoded frame (a PyAV VideoFrame) shown at `timestamp` seconds."""
        height = max(2, round(self.width * frame.height / max(frame.width, 1) / 2) * 2)
        # one scaling thread: libswscale's own pool costs more CPU in wake-ups than it saves on frames this small
        pixels = self._scale.reformat(frame, self.width, height, "bgr24", threads=1).to_ndarray()
        position = self._timecode(len(self._times), self.rate)
        self._times.append(timestamp)
        self._add(self.detector.process_frame(position, pixels))
        import cv2

        small = cv2.resize(pixels, (BLEND_WIDTH, max(2, round(BLEND_WIDTH * height / self.width))), interpolation=cv2.INTER_AREA)
        self.gradual.feed(small, timestamp)

    def _add(self, found: list[Any]) -> None:
        for cut in found:
            index = int(cut.frame_num)
            if 0 < index < len(self._times):
                self._cuts.append(round(self._times[index], 4))

    def cuts(self) -> list[float]:
        """The cut times found so far (after the last frame: all of them), ascending: hard cuts, and the
        boundaries of dissolves and fades."""
        if self._times:
            self._add(self.detector.post_process(self._timecode(len(self._times) - 1, self.rate)))
        return combine(sorted(set(self._cuts)), self.gradual.transitions(), 1 / self.rate)


class Detector(Protocol):
    """What an ingest feeds: every decoded frame in order, then the cut times."""

    def feed(self, frame: Any, timestamp: float) -> None: ...

    def cuts(self) -> list[float]: ...


# planar 8-bit formats read in place: (horizontal, vertical) chroma subsampling shifts
PLANAR = {
    "yuv420p": (1, 1),
    "yuvj420p": (1, 1),
    "yuv422p": (1, 0),
    "yuvj422p": (1, 0),
    "yuv444p": (0, 0),
    "yuvj444p": (0, 0),
    "yuv440p": (0, 1),
    "yuvj440p": (0, 1),
    "yuv411p": (2, 0),
}
# BT.601 studio-range YUV to RGB: affine, so a blend of frames stays a blend of their samples
YUV_TO_RGB = ((1.164, 0.0, 1.596), (1.164, -0.392, -0.813), (1.164, 2.017, 0.0))  # the same luma factor in each
YUV_OFFSET = (16.0, 128.0, 128.0)


@cache
def _yuv_arrays(run: int) -> tuple[Any, Any]:
    """The YUV-to-RGB matrix and offsets for cells whose luma is the sum of `run` pixels."""
    import numpy as np

    matrix = np.asarray(YUV_TO_RGB, np.float32)
    matrix[:, 0] /= run
    offset = np.asarray((YUV_OFFSET[0] * run, *YUV_OFFSET[1:]), np.float32)[:, None, None]
    return matrix, offset


class FrameSampler:
    """A decoded frame as a small RGB float32 array (3, rows, columns): one cell per square of a grid
    SAMPLE_COLUMNS wide, its luma the mean of RUN neighbouring pixels, its chroma one sample, read in place from
    the frame's own planes (nothing else of the picture is read or converted). Formats other than planar 8-bit
    YUV are scaled down by libswscale instead."""

    def __init__(self, columns: int = SAMPLE_COLUMNS) -> None:
        self.columns = columns
        self._scale: Any = None

    def __call__(self, frame: Any) -> Any:
        import numpy as np

        shifts = PLANAR.get(frame.format.name)
        if shifts is None or frame.width < 2 << max(shifts) or frame.height < 2 << max(shifts):
            return self._scaled(frame)
        align = 1 << max(shifts)  # a step of whole chroma samples: chroma cells line up with luma ones
        step = max(align, frame.width // self.columns // align * align)
        rows, cols = frame.height // step, frame.width // step
        yuv = np.empty((3, rows, cols), np.float32)
        luma, u, v = frame.planes[:3]
        run = min(RUN, step)
        # strided views straight onto the planes' buffers (one call each): a cell's first `run` luma pixels in a
        # row (one cache line), and its one chroma sample
        line = (step * luma.line_size, step)
        yuv[0] = np.ndarray((rows, cols), np.uint8, luma, 0, line)
        for start in range(1, run):  # separate adds: a reduction over an axis this short costs several times more
            np.add(yuv[0], np.ndarray((rows, cols), np.uint8, luma, start, line), out=yuv[0])
        (sx, sy) = shifts
        for k, plane in ((1, u), (2, v)):
            yuv[k] = np.ndarray((rows, cols), np.uint8, plane, 0, ((step >> sy) * plane.line_size, step >> sx))
        matrix, offset = _yuv_arrays(run)
        yuv -= offset
        return np.einsum("ij,jkl->ikl", matrix, yuv)  # einsum: BLAS costs more on arrays this small

    def _scaled(self, frame: Any) -> Any:
        import numpy as np
        from av.video.reformatter import VideoReformatter

        if self._scale is None:
            self._scale = VideoReformatter()
        width = min(self.columns, frame.width)
        height = max(1, round(width * frame.height / max(frame.width, 1)))
        image = self._scale.reformat(frame, width, height, "rgb24", interpolation="AREA", threads=1).to_ndarray()
        return image.transpose(2, 0, 1).astype(np.float32)


class AdaptiveCuts:
    """Hard cuts from a score per frame, as PySceneDetect's AdaptiveDetector judges them: a frame whose score is
    at least ADAPTIVE_RATIO times the mean of the ADAPTIVE_WINDOW frames on each side, and at least
    MIN_CUT_SCORE, starts a new shot (no shot shorter than `min_frames`)."""

    def __init__(self, min_frames: int) -> None:
        self.min_frames = min_frames
        self.window: list[tuple[int, float, float]] = []  # (frame number, time, score)
        self.found: list[float] = []
        self._last_cut = 0
        self._count = 0

    def add(self, timestamp: float, score: float) -> None:
        self.window.append((self._count, timestamp, score))
        self._count += 1
        if len(self.window) < 2 * ADAPTIVE_WINDOW + 1:
            return
        number, when, middle = self.window[ADAPTIVE_WINDOW]
        others = [s for k, (_, _, s) in enumerate(self.window) if k != ADAPTIVE_WINDOW]
        mean = sum(others) / len(others)
        ratio = middle / mean if mean > 1e-5 else (255.0 if middle >= MIN_CUT_SCORE else 0.0)
        if ratio >= ADAPTIVE_RATIO and middle >= MIN_CUT_SCORE and number - self._last_cut >= self.min_frames:
            self.found.append(round(when, 4))
            self._last_cut = number
        self.window.pop(0)


class CutDetector:
    """The default detector (see the module's doc): feed it every decoded frame in order (`feed`), then read the
    cut times (`cuts`): hard cuts, and the boundaries of dissolves and fades."""

    def __init__(self, video_fps: float | None, columns: int = SAMPLE_COLUMNS) -> None:
        self.rate = float(video_fps or FALLBACK_RATE)
        self.sample = FrameSampler(columns)
        self.hard = AdaptiveCuts(max(1, round(MIN_SHOT_SECONDS * self.rate)))
        self.gradual = GradualDetector(self.rate)
        self._last: Any = None

    def feed(self, frame: Any, timestamp: float) -> None:
        """One decoded frame (a PyAV VideoFrame) shown at `timestamp` seconds."""
        import numpy as np

        pixels = self.sample(frame)
        last, self._last = self._last, pixels
        step = 0.0 if last is None or last.shape != pixels.shape else float(np.abs(pixels - last).mean())
        self.hard.add(timestamp, step)
        self.gradual.feed(pixels, timestamp, step if last is not None and last.shape == pixels.shape else None)

    def cuts(self) -> list[float]:
        """The cut times found so far (after the last frame: all of them), ascending."""
        return combine(self.hard.found, self.gradual.transitions(), 1 / self.rate)


def cut_detector(video_fps: float | None, kind: str | None = None) -> Detector:
    """The detector an ingest uses: `kind` (default: FRAMESEARCH_CUT_DETECTOR, else "frames") is "frames" (the
    built-in `CutDetector`) or "scenedetect" (`SceneDetectCuts`, which needs the [scenedetect] extra)."""
    kind = (kind or os.environ.get(DETECTOR_ENV) or "frames").strip().lower()
    if kind == "frames":
        return CutDetector(video_fps)
    if kind == "scenedetect":
        return SceneDetectCuts(video_fps)
    raise InvalidInput(f"{DETECTOR_ENV} must be 'frames' or 'scenedetect', got {kind!r}")


_STOP = object()


class BackgroundCuts:
    """A CutDetector in its own thread, fed through a bounded queue: the decoder goes on while frames are
    scaled and scored (libswscale, OpenCV and numpy release the GIL). `feed` as a CutDetector's; `cuts` waits
    for the frames fed so far and re-raises the detector's error, if any; `close` stops the thread."""

    def __init__(self, detector: Detector, depth: int = QUEUE_FRAMES) -> None:
        self.detector = detector
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="framesearch-cuts", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self._error is None:  # after an error, frames are still taken (the feeder never blocks) but dropped
                try:
                    self.detector.feed(*item)
                except BaseException as exc:  # re-raised by cuts()
                    self._error = exc

    def feed(self, frame: Any, timestamp: float) -> None:
        self._queue.put((frame, timestamp))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def cuts(self) -> list[float]:
        self.close()
        if self._error is not None:
            raise self._error
        return self.detector.cuts()

    def __enter__(self) -> BackgroundCuts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
