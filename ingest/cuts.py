"""Shot cuts, detected while a video is sampled: PySceneDetect's adaptive detector sees every decoded frame.

The detector compares each frame's content (hue, saturation, luma, edges) with a rolling average of its neighbours,
so camera motion does not read as a cut while a hard cut does. Frames reach it downscaled (libswscale, in the
same decoding pass that samples frames for embedding); a cut is the time of the first frame of a new shot.
"""

from __future__ import annotations

from typing import Any

from framesearch.errors import MissingDependency

DETECT_WIDTH = 192
MIN_SHOT_SECONDS = 0.4
FALLBACK_RATE = 25.0
MIN_CONTENT = 8.0  # with edges weighed in: finds the cuts of the shared test media, none in its static-camera clips


def _scenedetect() -> Any:
    try:
        import scenedetect
    except ImportError as exc:
        raise MissingDependency("shot cut detection needs PySceneDetect: pip install scenedetect-headless") from exc
    return scenedetect


class CutDetector:
    """Feed it every decoded frame in order (`feed`), then read the cut times (`cuts`)."""

    def __init__(self, video_fps: float | None, width: int = DETECT_WIDTH) -> None:
        sd = _scenedetect()
        self.rate = float(video_fps or FALLBACK_RATE)
        self.width = width
        weights = sd.ContentDetector.Components(delta_hue=1.0, delta_sat=1.0, delta_lum=1.0, delta_edges=1.0)
        self.detector = sd.AdaptiveDetector(
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
        pixels = self._scale.reformat(frame, self.width, height, "bgr24").to_ndarray()
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
