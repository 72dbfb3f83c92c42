"""Re-encode a test video with frequent keyframes, so that it can be cut into ranges (x264 puts one in a short clip)."""

from __future__ import annotations

from pathlib import Path


def with_keyframes(source: Path, target: Path, every: int = 10) -> Path:
    """H.264 with a keyframe at least every `every` frames (and B-frames, as x264's preset makes them)."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        video = src.streams.video[0]
        stream = out.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "g": str(every)}
        for frame in src.decode(video):
            fresh = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")  # numbered anew
            for packet in stream.encode(fresh):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target
