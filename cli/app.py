"""The `framesearch` command: ingest, search, videos, serve. A thin layer: parse, call the core, print."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from framesearch.errors import FrameSearchError, InvalidInput
from framesearch.settings import Settings

app = typer.Typer(help="Search for moments in video: CLIP frame vectors in Qdrant.", no_args_is_help=True)
ingest_app = typer.Typer(help="Index videos (or Roboflow results for them) into the store.", no_args_is_help=True)
videos_app = typer.Typer(help="The indexed video library.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(videos_app, name="videos")

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="Qdrant Edge folder (env FRAMESEARCH_STORE).")]
UrlOpt = Annotated[Optional[str], typer.Option("--qdrant-url", help="Qdrant server URL (env FRAMESEARCH_QDRANT_URL).")]
CollectionOpt = Annotated[Optional[str], typer.Option("--collection", help="Collection name (default frames).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one 'error: ...' line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FrameSearchError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
@fail_cleanly
def main(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="Query model: folder, bundled name or 'roboflow'.")
    ] = None,
    collection: CollectionOpt = None,
) -> None:
    """Global options apply to every command (and may also be given after the command)."""
    ctx.obj = {"store": store, "qdrant_url": qdrant_url, "model": model, "collection": collection}


def settings_for(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings from env, overridden by global options, overridden by the command's own options."""
    chosen = {k: v for k, v in (ctx.find_root().obj or {}).items() if v is not None}
    chosen.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**chosen)
    except ValueError as exc:
        raise InvalidInput(f"bad setting: {exc}") from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@ingest_app.command("results")
@fail_cleanly
def ingest_results_cmd(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Roboflow video inference results JSON file(s).")],
    video_id: Annotated[Optional[str], typer.Option("--video-id", help="Video id (default: file stem).")] = None,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Sampling rate of the results (default: inferred).")] = None,
    model: Annotated[str, typer.Option("--model", help="Model that made the vectors.")] = "clip/ViT-B-16",
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index Roboflow CLIP results files: every file is validated before anything is written."""
    from framesearch.ingest.index import ingest_results
    from framesearch.ingest.results import load_results_file
    from framesearch.store.open import open_store

    if video_id and len(files) > 1:
        raise InvalidInput("--video-id names one video; give one file, or let ids default to file stems")
    parsed = [(path, load_results_file(path)) for path in files]
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)
    reports = []
    with open_store(settings) as st:
        for path, results in parsed:
            record = ingest_results(st, results, video_id or path.stem, fps=fps, model=model, path=None)
            reports.append({"video_id": record.video_id, "frames": record.frames, "skipped": results.skipped})
            if not as_json:
                out.print(f"indexed {record.video_id}: {record.frames} frames ({results.skipped} null skipped)")
    if as_json:
        print_json(reports)


def _roboflow_jobs(videos: list[str], fps: float, video_id: str | None, job_id: str | None, root: Path) -> list[Any]:
    """The jobs an `ingest roboflow` call names, validated before anything is paid for."""
    from framesearch.ingest import roboflow_job as rj

    if fps <= 0:
        raise InvalidInput(f"--fps must be positive, got {fps}")
    if job_id:
        if len(videos) > 1:
            raise InvalidInput("--job-id resumes one job: give at most one VIDEO_OR_URL with it")
        return [rj.resumed_job(root, job_id, source=videos[0] if videos else None, video_id=video_id, fps=fps)]
    if not videos:
        raise InvalidInput("give at least one video file or URL (or --job-id to resume a job)")
    if video_id and len(videos) > 1:
        raise InvalidInput("--video-id names one video; give one, or let ids default to file names")
    for source in videos:
        rj.check_source(source)
    ids = [video_id or rj.default_video_id(v) for v in videos]
    if len(set(ids)) < len(ids):
        same = ", ".join(sorted(ids))
        raise InvalidInput(f"several videos would get the same id ({same}): run them one by one with --video-id")
    return [rj.VideoJob(source, vid, fps) for source, vid in zip(videos, ids, strict=True)]


def _stage_text(stage: str, info: dict[str, Any]) -> str:
    if stage == "running":
        return f"running at Roboflow (poll {info['polls']}, {info['elapsed']:.0f} s)"
    if stage == "submitted":
        return f"submitted job {info['job_id']}"
    return stage


def _run_roboflow_jobs(
    api: Any, st: Any, jobs: list[Any], root: Path, policy: Any, workers: int, quiet: bool
) -> tuple[list, list]:
    """Submit, poll and download concurrently; index in this thread as results arrive."""
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from framesearch.ingest import roboflow_job as rj
    from framesearch.ingest.roboflow_api import Interrupted

    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted()

    def work(job: Any, task: Any) -> tuple[Any, Path]:
        def on_stage(stage: str, info: dict[str, Any]) -> None:
            progress.update(task, description=f"{job.video_id}: {_stage_text(stage, info)}")

        submitted = job if job.job_id else rj.submit(api, job, root, on_stage)
        return submitted, rj.fetch(api, submitted, root, policy, on_stage=on_stage, sleep=sleep)

    outcomes: list = []
    failures: list = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=quiet) as progress, ThreadPoolExecutor(min(workers, len(jobs))) as pool:
        tasks = {job: progress.add_task(f"{job.video_id}: queued", total=None) for job in jobs}
        futures = {pool.submit(work, job, task): job for job, task in tasks.items()}
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    submitted, path = future.result()
                    progress.update(tasks[job], description=f"{job.video_id}: indexing")
                    outcomes.append(rj.index_saved(st, submitted, path, root))
                    progress.update(tasks[job], description=f"{job.video_id}: indexed", total=1, completed=1)
                except FrameSearchError as exc:
                    progress.update(tasks[job], description=f"{job.video_id}: failed", total=1, completed=1)
                    failures.append((job, exc))
        except KeyboardInterrupt:
            stop.set()
            pool.shutdown(cancel_futures=True)
            err.print(f"interrupted: submitted jobs go on at Roboflow; resume each with --job-id (see {root / rj.PENDING})")
            raise typer.Exit(130) from None
    return outcomes, failures


@ingest_app.command("roboflow")
@fail_cleanly
def ingest_roboflow_cmd(
    ctx: typer.Context,
    videos: Annotated[
        Optional[list[str]], typer.Argument(metavar="VIDEO_OR_URL", help="Video files or http(s) URLs.", show_default=False)
    ] = None,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second Roboflow embeds.")] = 3.0,
    api_key: Annotated[Optional[str], typer.Option("--api-key", help="Roboflow API key (env ROBOFLOW_API_KEY).")] = None,
    video_id: Annotated[Optional[str], typer.Option("--video-id", help="Video id (default: file or URL name).")] = None,
    job_id: Annotated[Optional[str], typer.Option("--job-id", help="Resume a job submitted earlier.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Stop waiting after this many seconds.")] = 3600.0,
    poll_interval: Annotated[float, typer.Option("--poll-interval", help="Seconds between first polls (backs off).")] = 5.0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Jobs run at once.")] = 4,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed videos with CLIP in Roboflow's cloud (Video Inference), save the raw results and index them."""
    from framesearch.ingest import roboflow_job as rj
    from framesearch.ingest.roboflow_api import PollPolicy, RoboflowVideoAPI
    from framesearch.store.open import open_store

    if timeout <= 0 or poll_interval <= 0:
        raise InvalidInput("--timeout and --poll-interval must be positive")
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, roboflow_api_key=api_key)
    root = rj.results_dir(settings)
    jobs = _roboflow_jobs(videos or [], fps, video_id, job_id, root)
    key = settings.roboflow_api_key.get_secret_value() if settings.roboflow_api_key else None
    api = RoboflowVideoAPI(key, settings.roboflow_api_url)
    policy = PollPolicy(interval=poll_interval, max_interval=max(poll_interval, 60.0), timeout=timeout)
    try:
        with open_store(settings) as st:
            rj.check_store(st)
            outcomes, failures = _run_roboflow_jobs(api, st, jobs, root, policy, concurrency, as_json)
    finally:
        api.close()
    for o in outcomes:
        if not as_json:
            out.print(f"indexed {o.record.video_id}: {o.record.frames} frames ({o.skipped} null skipped) "
                      f"from Roboflow job {o.job.job_id}; raw results in {o.results_path}", highlight=False, soft_wrap=True)
    if as_json:
        print_json([{"video_id": o.record.video_id, "frames": o.record.frames, "skipped": o.skipped,
                     "job_id": o.job.job_id, "results_path": str(o.results_path)} for o in outcomes])
    for job, exc in failures:
        err.print(f"[red]error:[/red] {job.source}: {exc}", highlight=False, markup=True, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def _read_vector_file(path: Path) -> list[float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: cannot read a vector: {exc}") from None
    if isinstance(data, dict):
        data = data.get("vector", data.get("embeddings"))
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
        data = data[0]
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a JSON list of numbers (or {{'vector': [...]}})")
    return data


@app.command("search")
@fail_cleanly
def search_cmd(
    ctx: typer.Context,
    text: Annotated[Optional[str], typer.Argument(help="What to find, in words.")] = None,
    vector_file: Annotated[Optional[Path], typer.Option("--vector-file", help="JSON file with a query vector.")] = None,
    video_id: Annotated[Optional[list[str]], typer.Option("--video-id", help="Only this video (repeatable).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Cosine score floor.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most results to return.")] = 20,
    mode: Annotated[str, typer.Option("--mode", help="segments or frames.")] = "segments",
    t_min: Annotated[Optional[float], typer.Option("--from", help="Only frames at or after (s).")] = None,
    t_max: Annotated[Optional[float], typer.Option("--to", help="Only frames at or before (s).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Query model (default: the collection's).")] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the moments matching TEXT (or a vector) across the library, best first."""
    from framesearch.embedders.resolve import load_text_embedder
    from framesearch.search.core import SearchRequest, search
    from framesearch.store.open import open_store

    if (text is None) == (vector_file is None):
        raise InvalidInput("give a text query or --vector-file, not both or neither")
    vector = _read_vector_file(vector_file) if vector_file else None
    request = SearchRequest(text, vector, video_id or [], t_min, t_max, threshold, limit, mode)  # type: ignore[arg-type]
    request.validate()
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection)
    with open_store(settings) as st:
        embedder = load_text_embedder(settings, st.info()) if text is not None else None
        response = search(st, request, embedder)
    if as_json:
        print_json(response.to_dict())
    else:
        _print_results(response.to_dict())


def _print_results(data: dict[str, Any]) -> None:
    if not data["results"]:
        out.print(f"no matches above threshold {data['threshold']}")
        return
    table = Table("score", "video", "time (s)", "frames" if data["mode"] == "segments" else "frame")
    for r in data["results"]:
        if data["mode"] == "segments":
            table.add_row(f"{r['score']:.3f}", r["video_id"], f"{r['start']:.2f}-{r['end']:.2f}", str(r["frame_count"]))
        else:
            table.add_row(f"{r['score']:.3f}", r["video_id"], f"{r['timestamp']:.2f}", str(r["frame"]))
    out.print(table)


@videos_app.command("list")
@fail_cleanly
def videos_list(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List indexed videos."""
    from framesearch.store.open import open_store

    with open_store(settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)) as st:
        records = st.list_videos()
    if as_json:
        print_json([r.to_payload() for r in records])
        return
    table = Table("video", "frames", "fps", "duration (s)", "model", "source", "indexed")
    for r in records:
        fps = f"{r.fps:g}" if r.fps else "-"
        duration = f"{r.duration:.1f}" if r.duration is not None else "-"
        table.add_row(r.video_id, str(r.frames), fps, duration, r.model, r.source, r.indexed_at or "-")
    out.print(table if records else "no videos indexed yet")


@videos_app.command("delete")
@fail_cleanly
def videos_delete(
    ctx: typer.Context,
    video_id: Annotated[str, typer.Argument(help="Id of the video to delete.")],
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Delete a video's frames and record."""
    from framesearch.store.open import open_store

    with open_store(settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection)) as st:
        deleted = st.delete_video(video_id)
    out.print(f"deleted {video_id}: {deleted} frames")


@app.command("serve")
@fail_cleanly
def serve(
    ctx: typer.Context,
    host: Annotated[Optional[str], typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8000).")] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Run the HTTP API and web page (uvicorn); docs at /docs."""
    import uvicorn

    from framesearch.service.app import create_app
    from framesearch.store.open import open_store

    settings = settings_for(ctx, host=host, port=port, store=store, qdrant_url=qdrant_url, collection=collection)
    opened = open_store(settings)
    try:
        uvicorn.run(create_app(settings, opened), host=settings.host, port=settings.port, log_level="info")
    finally:
        opened.close()


from framesearch.cli import local, model  # noqa: E402,F401  (register their commands on the apps above)
