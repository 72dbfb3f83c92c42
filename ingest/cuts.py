"""Shot cuts, detected while a video is sampled: PySceneDetect's adaptive detector sees every decoded frame.

The detector compares each frame's content (hue, saturation, luma, edges) with a rolling average of its neighbours,
so camera motion does not read as a cut while a hard cut does. Frames reach it downscaled (libswscale, in the
same decoding pass that samples frames for embedding); a cut is the time of the first frame of a new shot.
`BackgroundCuts` runs a detector in its own thread, so an ingest decodes, detects cuts and embeds at once.
"""

from __future__ import annotations

import queue
import threading
from functools import cache
from typing import Any

from framesearch.errors import MissingDependency

DETECT_WIDTH = 192
MIN_SHOT_SECONDS = 0.4
FALLBACK_RATE = 25.0
MIN_CONTENT = 8.0  # with edges weighed in: finds the cuts of the shared test media, none in its static-camera clips
QUEUE_FRAMES = 32  # decoded frames waiting for the detector thread (~1.4 MB each at 720p)


def _scenedetect() -> Any:
    try:
        import scenedetect
    except ImportError as exc:
        raise MissingDependency("shot cut detection needs PySceneDetect: pip install scenedetect-headless") from exc
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


class CutDetector:
    """Feed it every decoded frame in order (`feed`), then read the cut times (`cuts`)."""

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

    def feed(self, frame: Any, timestamp: float) -> None:
        """One decoded frame (a PyAV VideoFrame) shown at `timestamp` seconds."""
        height = max(2, round(self.width * frame.height / max(frame.width, 1) / 2) * 2)
        # one scaling thread: libswscale's own pool costs more CPU in wake-ups than it saves on frames this small
        pixels = self._scale.reformat(frame, self.width, height, "bgr24", threads=1).to_ndarray()
        position = self._timecode(len(self._times), self.rate)
        self._times.append(timestamp)
        self._add(self.detector.process_frame(position, pixels))

    def _add(self, found: list[Any]) -> None:
        for cut in found:
            index = int(cut.frame_num)
            if 0 < index < len(self._times):
                self._cuts.append(round(self._times[index], 4))

    def cuts(self) -> list[float]:
        """The cut times found so far (after the last frame: all of them), ascending."""
        if self._times:
            self._add(self.detector.post_process(self._timecode(len(self._times) - 1, self.rate)))
        return sorted(set(self._cuts))


_STOP = object()


class BackgroundCuts:
    """A CutDetector in its own thread, fed through a bounded queue: the decoder goes on while frames are
    scaled and scored (libswscale, OpenCV and numpy release the GIL). `feed` as a CutDetector's; `cuts` waits
    for the frames fed so far and re-raises the detector's error, if any; `close` stops the thread."""

    def __init__(self, detector: CutDetector, depth: int = QUEUE_FRAMES) -> None:
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
