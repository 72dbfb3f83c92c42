"""Live ingest cost: CPU seconds per second of stream of `framesearch ingest stream` at --fps, against FFmpeg decoding
the same live stream (every frame, converting none), measured in one run.

    python bench/bench_stream.py [--seconds 60] [--size 1280x720] [--fps 2] [--model tiny-shapes-clip]
                                 [--quick] [--json-out F]

The source is FFmpeg's test pattern (testsrc2, 25 fps, H.264 ultrafast) sent as MPEG-TS over UDP to 127.0.0.1 in
real time (`-re`); its own CPU is not counted. The baseline is `ffmpeg -i udp://... -f null -` reading the same
source for the same wall time: the user + system CPU of that process over the stream seconds it decoded. The
ingest's figure is its own report's CPU time (every thread of the process: FFmpeg's decoding, the model, the
store) over the stream seconds it watched (frames committed / fps). On a loaded machine the source may play
slower than real time, as the second row shows; per stream second, the figures stay comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Row, add_output_args, emit, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def source(url: str, size: str) -> subprocess.Popen:
    cmd = ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50", "-f", "mpegts", f"{url}?pkt_size=1316"]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ffmpeg_decode(url: str, seconds: float) -> float:
    """CPU seconds per stream second of FFmpeg decoding the live source for `seconds` of wall clock (the stream
    seconds it decoded from its progress report: a loaded machine may play the source slower than real time)."""
    before = children_cpu()
    cmd = ["ffmpeg", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-i", url, "-f", "null", "-"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    time.sleep(seconds)
    out, _ = proc.communicate("q", timeout=60)
    decoded = [int(line.split("=", 1)[1]) for line in out.splitlines() if line.startswith("out_time_us=") and line[12:].isdigit()]
    return (children_cpu() - before) / max(decoded[-1] / 1e6 if decoded else seconds, 1e-3)


def ingest(url: str, seconds: float, fps: float, model: str) -> dict:
    with tempfile.TemporaryDirectory() as store:
        cmd = [sys.executable, "-m", "framesearch", "--store", store, "ingest", "stream", url, "--fps", str(fps)]
        cmd += ["--model", model, "--stop-after", str(seconds), "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180, env=env, cwd=ROOT, check=True)
        return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--model", default="tiny-shapes-clip")
    add_output_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.size = 10.0, "640x360"
    url = f"udp://127.0.0.1:{free_port()}"
    feed = source(url, args.size)
    try:
        time.sleep(1.0)
        baseline = ffmpeg_decode(url, args.seconds)
        report = ingest(url, args.seconds, args.fps, args.model)
    finally:
        feed.terminate()
        feed.wait(10)
    # stream seconds: frames are sampled every 1/fps s of the source's own clock (a loaded machine may encode the
    # source slower than real time, so wall seconds would undercount what was watched)
    stream_seconds = report["frames"] / args.fps
    per_second = report["cpu_seconds"] / stream_seconds
    print(machine())
    print(f"{args.size} H.264 at 25 fps over UDP, {args.seconds:g} s, ingest at {args.fps:g} fps with {args.model}")
    print(f"frames committed {report['frames']} in {report['chunks']} chunks; sampled frames dropped {report['dropped_frames']}")
    rows = [
        Row(
            "stream",
            f"CPU s per stream s, ingest at {args.fps:g} fps ({args.size})",
            per_second,
            "s/s",
            baseline,
            "ffmpeg decoding the same stream",
            "well under 1 core per stream",
            per_second < 1.0,
        ),
        Row("stream", "stream seconds watched per wall second", stream_seconds / report["seconds"], "s/s", 1.0, "real time"),
    ]
    emit(rows, args.json_out)


if __name__ == "__main__":
    main()
