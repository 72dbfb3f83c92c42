"""Small videos in codecs browsers cannot play (Cinepak, MPEG-2, MS-MPEG4), rendered here with PyAV so tests of
playback need no shared media: the shapes renderer's scenes, re-encoded with an old codec."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framesearch.ingest.shapes import Scene, render_scene

# file suffix -> (encoder, pixel format, container format)
OLD_CODECS = {
    "cinepak": (".avi", "cinepak", "rgb24", "avi"),
    "mpeg2": (".mpg", "mpeg2video", "yuv420p", "mpeg"),
    "msmpeg4": (".avi", "msmpeg4", "yuv420p", "avi"),
}


def write_old_codec_video(folder: Path, codec: str, scenes: list[Scene], fps: int = 10, size=(160, 120)) -> Path:
    """A video of `scenes` encoded with `codec` (a key of OLD_CODECS) in its usual container; returns its path."""
    import av

    suffix, encoder, pix_fmt, container_format = OLD_CODECS[codec]
    path = Path(folder) / f"{codec}{suffix}"
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        if encoder != "cinepak":
            stream.bit_rate = 400_000
        for shape, colour, background, seconds in scenes:
            count = round(seconds * fps)
            for i in range(count):
                drift = 0.04 * np.sin(i / max(count, 1) * np.pi)
                image = render_scene(shape, colour, background, 0.45 + drift, (0.5 + drift, 0.5), size)
                for packet in stream.encode(av.VideoFrame.from_image(image).reformat(format=pix_fmt)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_colour_story(
    path: Path, story: list[tuple[tuple[int, int, int], tuple[int, int, int], float]], fps: int = 10, size=(160, 120)
) -> Path:
    """An H.264 video of solid colours: each (from RGB, to RGB, seconds) fades from one colour to the other."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for start, end, seconds in story:
            count = round(seconds * fps)
            for i in range(count):
                mix = i / max(count - 1, 1)
                colour = np.round((1 - mix) * np.asarray(start) + mix * np.asarray(end)).astype(np.uint8)
                pixels = np.broadcast_to(colour, (size[1], size[0], 3)).copy()
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
