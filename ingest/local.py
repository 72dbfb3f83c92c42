"""Local ingest: sample a video's frames at N fps here and embed them with an ImageEmbedder (a CLIP model folder,
or a remote one such as Roboflow Inference, which receives the decoded frames)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import numpy as np

from framesearch.embedders.base import ImageEmbedder, recorded_name
from framesearch.ingest.cuts import BackgroundCuts, CutDetector, Detector, cut_detector
from framesearch.ingest.ids import file_video_id, same_bytes_warning
from framesearch.ingest.index import index_frames
from framesearch.ingest.video import (
    DecodeTrack,
    Prefetch,
    SampledFrame,
    VideoInfo,
    prefetch,
    sample_frames,
    truncation_warning,
)
from framesearch.store.base import VectorStore
from framesearch.store.schema import FramePoint, VideoRecord

Progress = Callable[[int, int | None], None]
Warn = Callable[[str], None]
BATCH = 32


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the same video under another name or path is recognised."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def expected_samples(info: VideoInfo, fps: float) -> int | None:
    """Roughly how many frames sampling at `fps` keeps (for progress bars), when the duration is known."""
    return None if info.duration is None else max(1, round(info.duration * fps))


def embedded_batches(
    frames: Iterable[SampledFrame], embedder: ImageEmbedder, batch_size: int = BATCH
) -> Iterator[tuple[list[SampledFrame], np.ndarray]]:
    """Batches of sampled frames with their vectors (give it frames decoded in a reader thread, `Prefetch`, so
    that decoding goes on while the model runs)."""
    it = iter(frames)
    while batch := list(islice(it, batch_size)):
        yield batch, embedder.embed_images([f.image for f in batch])


def infer_video(
    path: Path, *, embedder: ImageEmbedder, fps: float, progress: Progress | None = None, batch_size: int = BATCH
) -> tuple[list[int], list[float], np.ndarray]:
    """Frame numbers, timestamps and vectors of a video, as a Roboflow results file would hold them."""
    info = VideoInfo.from_video_path(path)
    total = expected_samples(info, fps)
    frames: list[int] = []
    times: list[float] = []
    vectors: list[np.ndarray] = []
    for batch, vecs in embedded_batches(prefetch(sample_frames(path, fps, embedder.input_size)), embedder, batch_size):
        frames += [f.index for f in batch]
        times += [f.timestamp for f in batch]
        vectors.append(vecs)
        if progress:
            progress(len(frames), total)
    if not frames:
        from framesearch.ingest.video import DecodeError

        raise DecodeError(f"{path}: no frames could be decoded")
    return frames, times, np.concatenate(vectors)


def video_record(
    info: VideoInfo, *, video_id: str, model: str, fps: float, digest: str, paths: list[str] | None = None
) -> VideoRecord:
    """The library record of a local video before indexing (frames and time are filled in by `index_frames`);
    `paths`: every path the video is known under (default: this file's)."""
    here = str(Path(info.path).resolve())
    paths = paths or [here]
    return VideoRecord(
        video_id=video_id,
        model=model,
        source="local",
        frames=0,
        fps=fps,
        duration=info.duration,
        path=paths[0],
        paths=paths,
        content_hash=digest,
        width=info.width,
        height=info.height,
        extra={"video_fps": info.fps, "codec": info.codec},
    )


def ingest_video(
    store: VectorStore,
    path: Path,
    *,
    embedder: ImageEmbedder,
    fps: float,
    video_id: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH,
    digest: str | None = None,
    warn: Warn | None = None,
    paths: list[str] | None = None,
) -> VideoRecord:
    """Sample, embed and index one video file; returns its library record. `warn` hears what the caller should
    tell the user: a truncated or partly undecodable file, the same bytes already indexed under another id.
    `paths`: where the video is known (ingest/identity.py; default: this file)."""
    path = Path(path)
    info = VideoInfo.from_video_path(path)
    video_id = video_id or file_video_id(path)
    digest = digest or content_hash(path)
    total = expected_samples(info, fps)
    collection = store.info()
    name = recorded_name(embedder, collection.model if collection else None)
    if warn and (same := same_bytes_warning(store, video_id, digest)):
        warn(same)
    record = video_record(info, video_id=video_id, model=name, fps=fps, digest=digest, paths=paths)
    done = 0
    track = DecodeTrack()
    # Two threads at once: decoding (started before the store is prepared) with cut detection on every decoded
    # frame, and here the model on the sampled ones, then the store writes.
    with decoding(path, info, fps, embedder.input_size, track) as (sampled, detector), Prefetch(sampled) as frames:

        def points() -> Iterator[list[FramePoint]]:
            nonlocal done
            for batch, vecs in embedded_batches(frames, embedder, batch_size):
                done += len(batch)
                if progress:
                    progress(done, total)
                pairs = zip(batch, vecs, strict=True)
                yield [FramePoint(video_id, f.index, f.timestamp, v, fps, name, "local") for f, v in pairs]
            record.cuts = detector.cuts()  # every frame has been decoded: the record is written after this
            decoded(record, info, track, path, warn)

        dim = getattr(embedder, "dim", 0) or None  # a remote embedder learns its size from its first answer
        return index_frames(store, record, points(), model_path=embedder.model_path, dim=dim, expected_frames=total)


@contextmanager
def decoding(
    path: Path, info: VideoInfo, fps: float, size: int | None, track: DecodeTrack
) -> Iterator[tuple[Iterator[SampledFrame], Detector]]:
    """An ingest's decoding stage: the sampled frames, while every decoded frame goes to the cut detector and to
    `track`; read the cuts from the detector once the frames are consumed. The default detector (a few samples of
    each frame's planes) runs in the decoding thread; PySceneDetect's, which scales and scores whole frames, in
    its own (`BackgroundCuts`)."""
    detector = cut_detector(info.fps)
    if isinstance(detector, CutDetector):
        yield sample_frames(path, fps, size, on_frame=detector.feed, track=track), detector
        return
    with BackgroundCuts(detector) as background:
        yield sample_frames(path, fps, size, on_frame=background.feed, track=track), background


def decoded(record: VideoRecord, info: VideoInfo, track: DecodeTrack, path: Path, warn: Warn | None) -> None:
    """Complete the record with honest times once decoding is over: the container's duration, else where the
    last decoded frame ends; and how far decoding got (with a warning when that is short of the end)."""
    warning = truncation_warning(path, info.duration, track, 1 / info.fps if info.fps else None)
    if warning and warn:
        warn(warning)
    record.duration = info.duration if info.duration is not None else track.until
    record.decoded_until = track.until
    if track.error:
        record.extra = {**record.extra, "decode_error": track.error}
