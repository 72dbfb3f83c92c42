"""Bulk indexing on a Ray cluster: the same library and the same answers as `library.ingest_library`, on many machines.

A task plans each video (content hash, probe, ranges cut at keyframes: ranges.py); a task decodes each range; a
pool of actors embeds the frames, each actor loading its model once (ONNX Runtime on CPU or a GPU share, or any
embedder the resolver returns: a remote one gets several calls in flight). The driver keeps a bounded number of
ranges in flight (backpressure) and is the one writer: it writes videos in order through `index.index_frames`,
so skipping, sweeping and records are exactly those of one process, and an interrupted run leaves only whole
videos. Ray Core (tasks, actors, a window of object refs) rather than Ray Data: videos must be committed whole,
in order, by one writer, which a stream of rows does not express.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, groupby
from pathlib import Path
from typing import Any

import numpy as np

from framesearch.embedders.base import ImageEmbedder, recorded_name
from framesearch.errors import FrameSearchError, InvalidInput, MissingDependency, UpstreamUnavailable
from framesearch.ingest.cuts import cut_detector
from framesearch.ingest.identity import identify, resolved
from framesearch.ingest.ids import same_bytes_warning
from framesearch.ingest.index import index_frames
from framesearch.ingest.library import LibraryItem, Outcome, relink, up_to_date
from framesearch.ingest.local import BATCH, Progress, content_hash, decoded, expected_samples, video_record
from framesearch.ingest.ranges import WHOLE, FrameRange, plan_ranges, sample_range
from framesearch.ingest.requests import RayIngest
from framesearch.ingest.video import DecodeTrack, VideoInfo, sample_frames
from framesearch.settings import Settings
from framesearch.store.base import VectorStore
from framesearch.store.schema import FramePoint, VideoRecord

INSTALL = "pip install 'framesearch[ray]'"
RANGE_FRAMES = 256  # sampled frames per range by default: about 70 MB of 224-px pixels in Ray's object store
PLANS_AHEAD = 8
_END = object()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependency(f"indexing on Ray needs Ray: {INSTALL}") from None
    return ray


@contextmanager
def ray_cluster(address: str) -> Iterator[str]:
    """Start (`local`) or join Ray for the duration; a Ray this process already runs is used and left running."""
    ray = _ray()
    if ray.is_initialized():
        yield "the Ray instance of this process"
        return
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address == "local":
            ray.init(include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UpstreamUnavailable(f"cannot reach the Ray cluster at {address}: {exc}") from None
    try:
        yield "a local Ray instance" if address == "local" else f"the Ray cluster at {address}"
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Pool:
    """The embedding actors: how many, what each holds, and how many ranges the driver keeps in flight."""

    actors: int
    cpus: float
    gpus: float
    concurrency: int

    @property
    def window(self) -> int:
        return 2 * self.actors * self.concurrency + 2


def pool_for(resources: dict[str, float], options: RayIngest, remote: bool) -> Pool:
    """Size the actor pool from the cluster's resources, leaving at least one CPU for decoding."""
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    per_actor = 0.25 if remote else 1.0
    if options.gpus_per_actor:
        if gpus < options.gpus_per_actor:
            raise InvalidInput(f"actors with {options.gpus_per_actor:g} GPU each need GPUs; the Ray cluster has {gpus:g}")
        default = int(gpus // options.gpus_per_actor)
    else:
        default = max(1, int(cpus // 2))
    actors = options.actors or default
    if cpus - actors * per_actor < 1:
        raise InvalidInput(
            f"{actors} embedding actors take {actors * per_actor:g} of the Ray cluster's {cpus:g} CPUs "
            "and leave none for decoding: ask for fewer actors"
        )
    concurrency = options.requests_per_actor if remote else 1
    return Pool(actors, per_actor, options.gpus_per_actor, concurrency)


# ---- what runs on the cluster -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoPlan:
    digest: str
    info: VideoInfo
    ranges: tuple[FrameRange, ...]


def plan_video(path: str, fps: float, range_seconds: float) -> VideoPlan:
    """A Ray task: hash, probe and cut one video (hash first, as one process does, so failures read the same)."""
    digest = content_hash(Path(path))
    info = VideoInfo.from_video_path(Path(path))
    short = info.duration is not None and info.duration < 1.5 * range_seconds
    return VideoPlan(digest, info, (WHOLE,) if short else tuple(plan_ranges(Path(path), fps, range_seconds)))


@dataclass(frozen=True)
class RangeFrames:
    """The numbers and times of a range's sampled frames (their pixels travel separately, to the actors);
    for a video decoded whole, its shot cuts too."""

    indices: list[int]
    timestamps: list[float]
    exact: bool
    cuts: list[float] | None = None
    track: DecodeTrack | None = None  # how far decoding got, for a video decoded whole


def decode_range(
    path: str, fps: float, short_side: int | None, rng: FrameRange, one_pass: bool, video_fps: float | None = None
) -> tuple[RangeFrames, list[np.ndarray]]:
    """A Ray task with two returns: the frames' numbers and times (for the writer), their pixels (for an actor).

    A video decoded whole also feeds every frame to the shot cut detector, in that same pass, as one process does."""
    if rng.whole:
        detector, track = cut_detector(video_fps), DecodeTrack()
        frames = list(sample_frames(Path(path), fps, short_side, on_frame=detector.feed, track=track))
        meta = RangeFrames([f.index for f in frames], [f.timestamp for f in frames], True, detector.cuts(), track)
        return meta, [f.image for f in frames]
    frames, exact = sample_range(Path(path), fps, short_side, rng, one_pass)
    return RangeFrames([f.index for f in frames], [f.timestamp for f in frames], exact), [f.image for f in frames]


def detect_cuts(path: str, fps: float, video_fps: float | None) -> tuple[list[float], DecodeTrack]:
    """A Ray task: the shot cuts of a video cut into ranges, and how far it decodes. The detector needs every frame
    in order, so it gets a pass of its own over the whole file (the same pass and timestamps as one process)."""
    detector, track = cut_detector(video_fps), DecodeTrack()
    for _ in sample_frames(Path(path), fps, 1, on_frame=detector.feed, track=track):
        pass
    return detector.cuts(), track


class FrameEmbedder:
    """A Ray actor holding one image embedder from the resolver, loaded once; embeds ranges in batches."""

    def __init__(self, settings: Settings, recorded: Any, threads: int) -> None:
        from framesearch.embedders.resolve import image_embedder

        if settings.ort_threads is None:
            settings = settings.model_copy(update={"ort_threads": threads})
        self.embedder = image_embedder(settings, recorded)

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate([self.embedder.embed_images(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])


# ---- the driver ----------------------------------------------------------------------------------------------


def window(items: Iterable[Any], submit: Callable[[Any], Any], depth: int) -> Iterator[tuple[Any, Any]]:
    """(item, submit(item)) in order, keeping `depth` items submitted ahead of the consumer: the backpressure."""
    pending: deque = deque()
    source = iter(items)

    def fill() -> None:
        while len(pending) < depth:
            item = next(source, _END)
            if item is _END:
                return
            pending.append((item, submit(item)))

    fill()
    while pending:
        head = pending.popleft()
        fill()
        yield head


def frame_size(embedder: ImageEmbedder) -> int | None:
    """The shorter side frames are decoded at for this embedder (the side it looks at), None for full size."""
    return getattr(embedder, "input_size", None) or getattr(getattr(embedder, "config", None), "image_size", None)


def model_path(embedder: ImageEmbedder) -> str | None:
    """Where the embedder's model folder is (recorded with the collection), None for a remote model."""
    if getattr(embedder, "model_path", None):
        return str(embedder.model_path)
    folder = getattr(embedder, "folder", None)
    return str(Path(folder).resolve()) if folder else None


@dataclass(frozen=True)
class _Video:
    pos: int
    item: LibraryItem
    plan: VideoPlan
    cuts: Any = None  # the cut detection task of a video cut into ranges
    paths: list[str] | None = None  # where the video is known (ingest/identity.py)


@dataclass(frozen=True)
class _Unit:
    video: _Video
    rng: FrameRange


def _cause(exc: BaseException) -> BaseException:
    """The exception a task raised, out of Ray's wrapper."""
    from ray.exceptions import RayTaskError

    while isinstance(exc, RayTaskError) and getattr(exc, "cause", None) is not None:
        exc = exc.cause
    return exc


def _retryable(exc: BaseException) -> bool:
    """Lost workers, nodes or objects, and remote services answering 'try later', are worth another try."""
    from ray.exceptions import RayError, RayTaskError

    cause = _cause(exc)
    return isinstance(cause, UpstreamUnavailable) or (isinstance(cause, RayError) and not isinstance(cause, RayTaskError))


class _Run:
    """One library ingest on Ray: plans and ranges stream through bounded windows to the one writer."""

    def __init__(
        self,
        ray: Any,
        store: VectorStore,
        embedder: ImageEmbedder,
        settings: Settings,
        fps: float,
        force: bool,
        options: RayIngest,
        pool: Pool,
        progress: Progress | None,
    ) -> None:
        self.ray, self.store, self.embedder, self.fps, self.force = ray, store, embedder, fps, force
        self.options, self.pool, self.progress = options, pool, progress
        self.short_side = frame_size(embedder)
        self.range_seconds = options.range_seconds or RANGE_FRAMES / fps
        self.model_path = model_path(embedder)
        self.outcomes: dict[int, Outcome] = {}
        self.done = self.total = self.turn = 0
        self.plan_task = ray.remote(num_cpus=0.5, max_retries=options.retries)(plan_video)
        self.decode_task = ray.remote(num_cpus=1, num_returns=2, max_retries=options.retries)(decode_range)
        self.cuts_task = ray.remote(num_cpus=1, max_retries=options.retries)(detect_cuts)
        actor = ray.remote(FrameEmbedder).options(
            num_cpus=pool.cpus,
            num_gpus=pool.gpus,
            max_concurrency=pool.concurrency,
            max_restarts=options.retries,
            max_task_retries=options.retries,
        )
        threads = max(1, int(pool.cpus))
        self.actors = [actor.remote(settings, store.info(), threads) for _ in range(pool.actors)]

    def stop(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)

    def run(self, items: list[LibraryItem]) -> list[Outcome]:
        units = (_Unit(video, rng) for video in self._planned(items) for rng in video.plan.ranges)
        stream = window(units, lambda unit: self._submit(unit, one_pass=False), self.pool.window)
        for _, group in groupby(stream, key=lambda pair: pair[0].video.pos):
            self._write(group)
        return [self.outcomes[pos] for pos in range(len(items))]

    def _get(self, refs: Any, resubmit: Callable[[], Any]) -> tuple[Any, int]:
        """ray.get with bounded retries of transient failures; returns the value and the retries it took."""
        for attempt in range(self.options.retries + 1):
            try:
                return self.ray.get(refs), attempt
            except Exception as exc:
                if attempt == self.options.retries or not _retryable(exc):
                    raise
                refs = resubmit()
        raise AssertionError("unreachable")

    def _failure(self, exc: Exception, item: LibraryItem) -> Outcome:
        """A failed video's outcome, as one process reports it; errors that concern the whole run are raised."""
        from ray.exceptions import RayError

        cause = _cause(exc)
        if isinstance(cause, FrameSearchError) and cause.http_status in (404, 422) or isinstance(cause, OSError):
            reason = str(cause)
        elif isinstance(cause, RayError | UpstreamUnavailable):
            reason = f"failed after {self.options.retries} retries: {cause}"
        else:
            raise cause if cause is not exc else exc
        return Outcome(video_id=item.video_id, path=str(item.path), status="failed", reason=reason)

    def _name(self) -> str:
        collection = self.store.info()
        return recorded_name(self.embedder, collection.model if collection else None)

    def _planned(self, items: list[LibraryItem]) -> Iterator[_Video]:
        def submit(pair: tuple[int, LibraryItem]) -> Any:
            return self.plan_task.remote(str(pair[1].path), self.fps, self.range_seconds)

        for (pos, item), ref in window(enumerate(items), submit, PLANS_AHEAD):
            try:
                plan, _ = self._get(ref, lambda item=item, pos=pos: submit((pos, item)))
            except Exception as exc:
                self.outcomes[pos] = self._failure(exc, item)
                continue
            try:
                ident = identify(self.store, item.path, item.video_id, plan.digest, explicit=item.explicit)
                if not self.force and up_to_date(ident.record, plan.digest, self._name(), self.fps):
                    if ident.relation in ("moved", "copy"):
                        self.outcomes[pos] = relink(self.store, ident, item)
                    else:
                        self.outcomes[pos] = Outcome(
                            video_id=ident.video_id, path=str(item.path), status="skipped", reason="already indexed"
                        )
                    continue
            except FrameSearchError as exc:
                self.outcomes[pos] = self._failure(exc, item)
                continue
            self.total += expected_samples(plan.info, self.fps) or 0
            split = len(plan.ranges) > 1
            item = LibraryItem(item.path, ident.video_id, item.explicit)
            paths = ident.paths(resolved(item.path))
            yield _Video(pos, item, plan, self._submit_cuts(item, plan) if split else None, paths)

    def _submit_cuts(self, item: LibraryItem, plan: VideoPlan) -> Any:
        return self.cuts_task.remote(str(item.path), self.fps, plan.info.fps)

    def _submit(self, unit: _Unit, one_pass: bool) -> tuple[Any, Any]:
        path = str(unit.video.item.path)
        meta, pixels = self.decode_task.remote(path, self.fps, self.short_side, unit.rng, one_pass, unit.video.plan.info.fps)
        actor = self.actors[self.turn % len(self.actors)]
        self.turn += 1
        return meta, actor.embed.remote(pixels)

    def _write(self, group: Iterator[tuple[_Unit, Any]]) -> None:
        first = next(group)
        video = first[0].video
        item = video.item
        try:
            name = self._name()
            record = video_record(
                video.plan.info, video_id=item.video_id, model=name, fps=self.fps, digest=video.plan.digest, paths=video.paths
            )
            warnings = [same] if (same := same_bytes_warning(self.store, item.video_id, video.plan.digest)) else []
            batches = self._batches(video, record, chain([first], group), warnings.append)
            written = index_frames(self.store, record, batches, self.model_path)
            self.outcomes[video.pos] = Outcome(
                video_id=item.video_id, path=str(item.path), status="indexed", frames=written.frames, warnings=warnings
            )
        except Exception as exc:
            self.outcomes[video.pos] = self._failure(exc, item)
            for _ in group:  # this video's other ranges: dropped
                pass

    def _batches(
        self, video: _Video, record: VideoRecord, units: Iterator[tuple[_Unit, Any]], warn: Callable[[str], None]
    ) -> Iterator[list[FramePoint]]:
        """The video's frame points, range by range in order (after a range that missed its plan, the rest in one
        pass); then its shot cuts go into the record, which `index_frames` writes last."""
        name, one_pass, track = record.model, False, DecodeTrack()
        for unit, refs in units:
            if one_pass:
                refs = self._submit(unit, one_pass=True)
            (meta, vectors), _ = self._get(list(refs), lambda unit=unit, again=one_pass: list(self._submit(unit, again)))
            one_pass = one_pass or not meta.exact
            points = [
                FramePoint(video.item.video_id, index, time, vector, self.fps, name, "local")
                for index, time, vector in zip(meta.indices, meta.timestamps, vectors, strict=True)
            ]
            self.done += len(points)
            if self.progress:
                self.progress(self.done, max(self.total, self.done))
            if meta.cuts is not None:
                record.cuts, track = meta.cuts, meta.track
            for start in range(0, len(points), BATCH):
                yield points[start : start + BATCH]
        if video.cuts is not None:
            (record.cuts, track), _ = self._get(video.cuts, lambda: self._submit_cuts(video.item, video.plan))
        decoded(record, video.plan.info, track, Path(video.item.path), warn)


def ingest_library_ray(
    store: VectorStore,
    items: list[LibraryItem],
    *,
    embedder: ImageEmbedder,
    settings: Settings,
    fps: float,
    force: bool = False,
    options: RayIngest | None = None,
    progress: Progress | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Index each item on Ray; failures are recorded per video (after bounded retries) and the run goes on."""
    options = options or RayIngest()
    if not items:
        return []
    ray = _ray()
    with ray_cluster(options.address) as where:
        pool = pool_for(ray.cluster_resources(), options, remote=hasattr(embedder, "base_url"))
        if on_start:
            gpu = f", {pool.gpus:g} GPU each" if pool.gpus else ""
            on_start(f"on {where}: {pool.actors} embedding actor{'s' * (pool.actors > 1)}{gpu}")
        run = _Run(ray, store, embedder, settings, fps, force, options, pool, progress)
        try:
            return run.run(items)
        finally:
            run.stop()
