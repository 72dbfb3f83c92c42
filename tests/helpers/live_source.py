"""Live sources for the stream tests, on loopback only: shapes scenes encoded in real time (PyAV) as an HLS playlist
in a folder served by a local HTTP server on 127.0.0.1, or as MPEG-TS over UDP to 127.0.0.1. The test changes the
scene on air (`show`) and stops or restarts the source (a dropped stream)."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np

from framesearch.ingest.shapes import render_scene

SIZE = (96, 96)
FPS = 10


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveShapes:
    """Encodes the current scene (shape, colour, background) in real time into `target` (an .m3u8 path for HLS, or
    a udp://127.0.0.1:PORT URL), until `stop()`. `aired` records when each scene went on air (wall clock)."""

    def __init__(self, target: str, scene: tuple[str, str, str] = ("square", "blue", "yellow")) -> None:
        self.target = target
        self.scene = scene
        self.aired: list[tuple[float, tuple[str, str, str]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0

    def show(self, shape: str, colour: str, background: str) -> float:
        """Put a scene on air; returns the wall-clock time it did."""
        self.scene = (shape, colour, background)
        now = time.time()
        self.aired.append((now, self.scene))
        return now

    def start(self) -> LiveShapes:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _open(self):
        import av

        if self.target.startswith("udp:"):
            return av.open(self.target + "?pkt_size=1316", "w", format="mpegts")
        if self.target.endswith(".ts"):  # a growing file
            return av.open(self.target, "w", format="mpegts", options={"flush_packets": "1"})
        options = {"hls_time": "1", "hls_list_size": "6", "hls_flags": "delete_segments+omit_endlist"}
        return av.open(self.target, "w", format="hls", options=options)

    def _run(self) -> None:
        import av

        container = self._open()
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS), "keyint_min": str(FPS)}
        images: dict[tuple[str, str, str], np.ndarray] = {}
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                due = start + self.frames / FPS
                time.sleep(max(0.0, due - time.monotonic()))
                scene = self.scene
                if scene not in images:
                    images[scene] = np.asarray(render_scene(scene[0], scene[1], scene[2], 0.5, (0.5, 0.5), SIZE))
                frame = av.VideoFrame.from_ndarray(images[scene], format="rgb24")
                frame.pts = self.frames
                for packet in stream.encode(frame):
                    container.mux(packet)
                self.frames += 1
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class FolderServer:
    """Serves a folder over HTTP on 127.0.0.1 (port chosen once, kept across stop and start)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> FolderServer:
        handler = functools.partial(QuietHandler, directory=str(self.folder))
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"
