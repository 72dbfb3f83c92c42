"""Render a synthetic video of coloured shapes with known segments (the renderer is the demo's, in the package)."""

from framesearch.ingest.shapes import Scene as Segment  # noqa: F401  (shape, colour, background, seconds)
from framesearch.ingest.shapes import write_shapes_video  # noqa: F401


def write_transition_video(
    path, scenes, transitions, fps: int = 25, size: tuple[int, int] = (160, 120)
) -> tuple[object, list[float]]:
    """H.264 video of `scenes` (shape, colour, background, seconds) joined by `transitions`, one (kind, seconds)
    between each two scenes: "cut", "dissolve" (a cross-fade of that length centred on the scenes' boundary) or
    "fade" (to black and back, the black at the boundary). Returns the path and the boundaries' times."""
    import av
    import numpy as np

    from framesearch.ingest.shapes import render_scene

    starts = np.cumsum([0.0] + [s[3] for s in scenes])
    boundaries = [float(b) for b in starts[1:-1]]

    def scene_image(k: int, t: float) -> np.ndarray:
        shape, colour, background, seconds = scenes[k]
        drift = 0.04 * np.sin((t - starts[k]) / seconds * np.pi)
        return np.asarray(render_scene(shape, colour, background, 0.45 + drift, (0.5 + drift, 0.5), size), dtype=np.float32)

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i in range(round(starts[-1] * fps)):
            t = i / fps
            k = min(int(np.searchsorted(starts, t, side="right")) - 1, len(scenes) - 1)
            image = scene_image(k, t)
            for j, boundary in enumerate(boundaries):
                kind, seconds = transitions[j]
                if kind == "cut" or abs(t - boundary) >= seconds / 2:
                    continue
                mix = (t - (boundary - seconds / 2)) / seconds  # 0 -> 1 across the transition
                a, b = scene_image(j, min(t, starts[j + 1] - 1e-3)), scene_image(j + 1, max(t, starts[j + 1]))
                if kind == "dissolve":
                    image = (1 - mix) * a + mix * b
                else:
                    image = a * max(0.0, 1 - 2 * mix) if mix < 0.5 else b * min(1.0, 2 * mix - 1)
            frame = av.VideoFrame.from_ndarray(np.clip(np.round(image), 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path, boundaries
