"""`framesearch ingest results|roboflow|local` and `framesearch infer`: build the ingest request, run the pipeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from framesearch.cli.alerts import writing_store
from framesearch.cli.indexing import build_search_index, finish_index
from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    ServiceOpt,
    StoreOpt,
    UrlOpt,
    app,
    err,
    fail_cleanly,
    ingest_app,
    library_app,
    out,
    print_json,
    report,
    request,
    settings_for,
)
from framesearch.errors import FrameSearchError, InvalidInput
from framesearch.files import write_atomic

FpsOpt = Annotated[Optional[float], typer.Option("--fps", help="Frames sampled per second of video (default 3).")]
ModelDirOpt = Annotated[
    Optional[str], typer.Option("--model", help="CLIP model folder, bundled or pulled model name, or roboflow.")
]
DeferIndexOpt = Annotated[
    bool,
    typer.Option(
        "--defer-index",
        help="Write the frames without building the search index (bulk imports: build it once at the end with "
        "`framesearch store index`); until then they are searched exactly, correctly but slower.",
    ),
]


@ingest_app.command("results")
@fail_cleanly
def ingest_results_cmd(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Roboflow video inference results JSON file(s).")],
    video_id: Annotated[
        Optional[str], typer.Option("--video-id", help="Video id (default: the video the file names, else its name less .json).")
    ] = None,
    fps: Annotated[
        Optional[float], typer.Option("--fps", help="Sampling rate (default: the file's, else derived from the offsets).")
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            help="Model that made the vectors: folder, bundled/pulled name, 'roboflow' or clip/... "
            "(default: the file's, else clip/ViT-B-16).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check each file and print what would be indexed; write nothing.")
    ] = False,
    defer_index: DeferIndexOpt = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index Roboflow CLIP results files, one after another: each is checked in full before it is written."""
    from framesearch.ingest.ids import results_video_id
    from framesearch.ingest.requests import ResultsIngest
    from framesearch.ingest.results import load_results_file
    from framesearch.ingest.results_ingest import ingest_parsed_results

    req = request(ResultsIngest, video_id=video_id, fps=fps, model=model, dry_run=dry_run)
    if req.video_id and len(files) > 1:
        raise InvalidInput("--video-id names one video; give one file, or let ids default to the files' names")
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    reports, failed = [], 0
    service = _service(settings)
    if service is not None:
        _service_indexes(defer_index, as_json)
        with service:
            reports, failed = _upload_results(service, files, req, as_json)
        _finish_results(reports, failed, len(files), req.dry_run, as_json)
        return
    with writing_store(settings, quiet=as_json) as st:
        for path in files:
            try:
                parsed = load_results_file(path)
                rep = ingest_parsed_results(
                    st, parsed, req, settings, where=str(path), default_id=results_video_id(path, parsed.meta.video)
                )
            except FrameSearchError as exc:
                if len(files) == 1 or not isinstance(exc, InvalidInput):
                    raise
                report(exc)
                failed += 1
                continue
            del parsed
            reports.append(rep)
            if not as_json:
                _print_results_report(rep)
        if reports and not req.dry_run:
            finish_index(st, defer_index, show=not as_json)
    _finish_results(reports, failed, len(files), req.dry_run, as_json)


def _finish_results(reports: list, failed: int, files: int, dry_run: bool, as_json: bool) -> None:
    if as_json:
        print_json(reports)
    if failed:
        err.print(f"{failed} of {files} files failed; the others were {'checked' if dry_run else 'indexed'}")
        raise typer.Exit(1)


def _upload_results(service: Any, files: list[Path], req: Any, as_json: bool) -> tuple[list, int]:
    """`ingest results` through a running service: each file is sent as its video (the id defaulted here)."""
    from framesearch.ingest.ids import results_video_id
    from framesearch.ingest.results import load_results_file

    reports, failed = [], 0
    for path in files:
        try:
            video_id = req.video_id or results_video_id(path, load_results_file(path).meta.video)
            rep = service.upload_results(path, video_id, fps=req.fps, model=req.model, dry_run=req.dry_run)
        except FrameSearchError as exc:
            if len(files) == 1 or not isinstance(exc, InvalidInput):
                raise
            report(exc)
            failed += 1
            continue
        reports.append(rep)
        if not as_json:
            _print_results_report(rep)
    return reports, failed


def _print_results_report(rep: Any) -> None:
    from rich.markup import escape

    for note in rep.notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    for warning in rep.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    v = rep.video
    fps = f"{v.fps:g} fps" if v.fps else "fps unknown"
    what = (
        f"{v.frames} frames ({rep.skipped} null skipped), {v.model}, {fps}, "
        f"{v.extra.get('dim', '')}{'-d, ' if v.extra.get('dim') else ''}up to {v.duration or 0:.2f} s"
    )
    if rep.dry_run:
        out.print(f"would index {rep.video_id}: {what}; nothing written (dry run)", highlight=False, soft_wrap=True)
    else:
        out.print(f"indexed {rep.video_id}: {rep.frames} frames ({rep.skipped} null skipped)", highlight=False, soft_wrap=True)


def _roboflow_jobs(req: Any, root: Path) -> list[Any]:
    """The jobs an `ingest roboflow` call names, checked before anything is paid for."""
    from framesearch.ingest import roboflow_job as rj

    if req.job_id:
        source = req.sources[0] if req.sources else None
        return [rj.resumed_job(root, req.job_id, source=source, video_id=req.video_id, fps=req.fps)]
    for source in req.sources:
        rj.check_source(source)
    ids = [req.video_id or rj.default_video_id(v) for v in req.sources]
    if len(set(ids)) < len(ids):
        same = ", ".join(sorted(ids))
        raise InvalidInput(f"several videos would get the same id ({same}): run them one by one with --video-id")
    return [rj.VideoJob(source, vid, req.fps, path=rj.local_file(source)) for source, vid in zip(req.sources, ids, strict=True)]


def _stage_text(stage: str, info: dict[str, Any]) -> str:
    from framesearch.ingest.stages import Stage

    if stage == Stage.RUNNING:
        return f"running at Roboflow (poll {info['polls']}, {info['elapsed']:.0f} s)"
    if stage == Stage.SUBMITTED:
        return f"submitted job {info['job_id']}"
    return str(stage)


def _run_roboflow_jobs(api: Any, st: Any, jobs: list[Any], root: Path, policy: Any, workers: int, quiet: bool):
    """Run each job's pipeline concurrently (indexing one at a time); returns reports and failures."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from framesearch.ingest import roboflow_job as rj
    from framesearch.ingest.roboflow_api import Interrupted

    stop = threading.Event()
    index_lock = threading.Lock()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted()

    def work(job: Any, task: Any) -> Any:
        def on_stage(stage: Any, info: dict[str, Any]) -> None:
            progress.update(task, description=f"{job.video_id}: {_stage_text(stage, info)}")

        return rj.run_video(api, st, job, root, policy, on_stage=on_stage, sleep=sleep, index_lock=index_lock)

    reports: list = []
    failures: list = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err.console, disable=quiet) as progress, ThreadPoolExecutor(min(workers, len(jobs))) as pool:
        tasks = {job: progress.add_task(f"{job.video_id}: queued", total=None) for job in jobs}
        futures = {pool.submit(work, job, task): job for job, task in tasks.items()}
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    reports.append(future.result())
                    progress.update(tasks[job], description=f"{job.video_id}: indexed", total=1, completed=1)
                except FrameSearchError as exc:
                    progress.update(tasks[job], description=f"{job.video_id}: failed", total=1, completed=1)
                    failures.append((job, exc))
        except KeyboardInterrupt:
            stop.set()
            pool.shutdown(cancel_futures=True)
            err.print(f"interrupted: submitted jobs go on at Roboflow; resume each with --job-id (see {root / rj.PENDING})")
            raise typer.Exit(130) from None
    return reports, failures


@ingest_app.command("roboflow")
@fail_cleanly
def ingest_roboflow_cmd(
    ctx: typer.Context,
    videos: Annotated[
        Optional[list[str]], typer.Argument(metavar="VIDEO_OR_URL", help="Video files or http(s) URLs.", show_default=False)
    ] = None,
    fps: FpsOpt = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", help="Roboflow API key (env ROBOFLOW_API_KEY).")] = None,
    video_id: Annotated[
        Optional[str], typer.Option("--video-id", help="Video id (default: the file's or URL's name, extension included).")
    ] = None,
    job_id: Annotated[Optional[str], typer.Option("--job-id", help="Resume a job submitted earlier.")] = None,
    timeout: Annotated[
        Optional[float], typer.Option("--timeout", help="Give up waiting after this many seconds (default 3600).")
    ] = None,
    poll_interval: Annotated[
        Optional[float], typer.Option("--poll-interval", help="Seconds between first polls, backing off (default 5).")
    ] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", help="Jobs run at once (default 4).")] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed videos with CLIP in Roboflow's cloud (Video Inference), save the raw results and index them."""
    from framesearch.ingest import roboflow_job as rj
    from framesearch.ingest.requests import RoboflowIngest
    from framesearch.ingest.roboflow_api import RoboflowVideoAPI, poll_policy

    req = request(
        RoboflowIngest,
        sources=videos or [],
        fps=fps,
        video_id=video_id,
        job_id=job_id,
        timeout=timeout,
        poll_interval=poll_interval,
        concurrency=concurrency,
    )
    settings = settings_for(ctx, store=store, qdrant_url=qdrant_url, collection=collection, roboflow_api_key=api_key)
    root = rj.results_dir(settings)
    jobs = _roboflow_jobs(req, root)
    api = RoboflowVideoAPI(settings.roboflow_key(), settings.roboflow_api_url)
    policy = poll_policy(settings, req.poll_interval, req.timeout)
    try:
        with writing_store(settings, quiet=as_json) as st:
            rj.check_store(st)
            reports, failures = _run_roboflow_jobs(api, st, jobs, root, policy, req.concurrency, as_json)
            if reports:
                build_search_index(st, show=not as_json)
    finally:
        api.close()
    if as_json:
        print_json(reports)
    for r in [] if as_json else reports:
        out.print(
            f"indexed {r.video_id}: {r.frames} frames ({r.skipped} null skipped) "
            f"from Roboflow job {r.job_id}; raw results in {r.results_path}",
            highlight=False,
            soft_wrap=True,
        )
    for job, exc in failures:
        report(exc, prefix=f"{job.source}: ")
    if failures:
        raise typer.Exit(1)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr: frames done, rate, ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err.console, disable=not enabled, transient=False) as bar:
        yield bar


def tracker(bar: Any, label: str):
    """A progress callback (frames done, expected total) drawing one bar task."""
    task = bar.add_task(label, total=None, rate="")

    def update(done: int, total: int | None) -> None:
        elapsed = bar.tasks[task].elapsed or 0
        rate = f"{done / elapsed:5.1f} frames/s" if elapsed > 0 else ""
        bar.update(task, completed=done, total=max(total, done) if total else None, rate=rate)

    return update


@ingest_app.command("local")
@fail_cleanly
def ingest_local(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Video files and/or folders.")],
    fps: FpsOpt = None,
    model: ModelDirOpt = None,
    video_id: Annotated[
        Optional[str], typer.Option("--video-id", help="Id for a single video (default: its file name, extension included).")
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-index even if already indexed.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove from the library the videos of the folders given whose files are gone.")
    ] = False,
    ray: Annotated[
        Optional[str],
        typer.Option("--ray", help="Run on Ray: local, auto or a cluster address (env FRAMESEARCH_RAY_ADDRESS); off: here."),
    ] = None,
    ray_actors: Annotated[
        Optional[int], typer.Option("--ray-actors", help="Embedding actors on Ray (default: half the CPUs, or the GPUs).")
    ] = None,
    ray_gpus: Annotated[Optional[float], typer.Option("--ray-gpus", help="GPU share of each Ray actor, e.g. 0.25.")] = None,
    ray_range: Annotated[
        Optional[float], typer.Option("--ray-range", help="On Ray, split videos into ranges of about this many seconds.")
    ] = None,
    defer_index: DeferIndexOpt = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample frames locally, embed them with CLIP (CPU or GPU) and index them; folders index a whole library.
    A file already indexed keeps its id through any folder; a moved one is re-linked, not embedded again; videos of
    the folders whose files are gone are reported (--prune removes them). While `framesearch serve` holds the store,
    the service does it (a job) and this shows its progress."""
    from framesearch.ingest.library import gone_from, library_items, prune_missing
    from framesearch.ingest.requests import LocalIngest

    req = request(LocalIngest, fps=fps, video_id=video_id, recursive=recursive, force=force, prune=prune)
    items = library_items(inputs, req.recursive, req.video_id)
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection, ray_address=ray, url=url)
    on_ray = settings.ray_address not in (None, "", "off")
    service = None if on_ray else _service(settings)
    if service is not None:
        from framesearch.cli.remote import library_job

        _service_indexes(defer_index, as_json)
        try:
            with service:
                outcomes = library_job(service, inputs, req, settings.model, show=not as_json)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        _finish_local(outcomes, as_json)
        return
    options = None
    if on_ray:
        from framesearch.ingest.requests import RayIngest

        options = request(
            RayIngest, address=settings.ray_address, actors=ray_actors, gpus_per_actor=ray_gpus, range_seconds=ray_range
        )
    try:
        with writing_store(settings, quiet=as_json) as st:
            settings = first_model(settings, st.info(), quiet=as_json)
            outcomes = _index_library(st, items, req, settings, options, show=not as_json)
            outcomes += prune_missing(st, gone_from(st, inputs, req.recursive), remove=req.prune)
            if any(o.status == "indexed" for o in outcomes):
                finish_index(st, defer_index, show=not as_json)
    except KeyboardInterrupt:
        err.print(
            "interrupted: the videos indexed so far are kept, the unfinished one is not; run the same command again to go on"
        )
        raise typer.Exit(130) from None
    _finish_local(outcomes, as_json)


def _service_indexes(defer_index: bool, as_json: bool) -> None:
    """Through a running service, the service builds the index of what it writes, in its own background."""
    if defer_index and not as_json:
        err.print("--defer-index: the running service indexes new frames itself, in the background", highlight=False)


def _service(settings: Any) -> Any:
    from framesearch.cli.remote import service_for

    return service_for(settings)


def _finish_local(outcomes: list, as_json: bool) -> None:
    if as_json:
        print_json(outcomes)
    else:
        _summary(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def first_model(settings: Any, recorded: Any, quiet: bool = False) -> Any:
    """The settings of an ingest: with no model named and none recorded (an empty collection, or no store at
    all), the default model, said on stderr with how to choose another."""
    if settings.model is not None or recorded is not None:
        return settings
    from framesearch.embedders.resolve import default_model

    chosen = default_model(settings)
    if not quiet:
        err.print(
            f"note: no model named: using {chosen.why}; choose another with --model NAME (`framesearch model list`)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    return settings.model_copy(update={"model": chosen.spec})


@library_app.command("sync")
@fail_cleanly
def library_sync(
    ctx: typer.Context,
    folders: Annotated[list[Path], typer.Argument(help="Video folders (searched recursively).")],
    fps: FpsOpt = None,
    model: ModelDirOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove from the library the videos whose files are gone.")] = False,
    defer_index: DeferIndexOpt = False,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring the library in line with folders: index new and edited videos, re-link moved ones (no embedding), report
    those gone from disk (--prune removes them). The same as `ingest local FOLDER... --recursive`."""
    for folder in folders:
        if not folder.is_dir():
            raise InvalidInput(f"{folder}: not a folder")
    ingest_local(
        ctx,
        folders,
        fps=fps,
        model=model,
        video_id=None,
        recursive=True,
        force=False,
        prune=prune,
        ray=None,
        ray_actors=None,
        ray_gpus=None,
        ray_range=None,
        defer_index=defer_index,
        store=store,
        qdrant_url=qdrant_url,
        collection=collection,
        as_json=as_json,
    )


def _index_library(st, items, req, settings, ray_options, show: bool) -> list:
    """Index the library's videos here or, with `ray_options`, on Ray; a progress bar when `show`."""
    from framesearch.embedders.resolve import image_embedder

    with progress_bar(show) as bar:
        embedder = image_embedder(settings, st.info())
        if ray_options is not None:
            from framesearch.ingest.ray_library import ingest_library_ray

            return ingest_library_ray(
                st,
                items,
                embedder=embedder,
                settings=settings,
                fps=req.fps,
                force=req.force,
                options=ray_options,
                progress=tracker(bar, "frames"),
                on_start=lambda text: err.print(text, highlight=False),
            )
        from framesearch.ingest.library import ingest_library

        return ingest_library(
            st,
            items,
            embedder=embedder,
            fps=req.fps,
            force=req.force,
            progress_for=lambda item: tracker(bar, item.video_id),
            batch_size=settings.embed_batch,
        )


def _summary(outcomes) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("video", "status", "frames", "note")
    for o in outcomes:
        colour = {"indexed": "green", "failed": "red", "missing": "red", "removed": "magenta"}.get(o.status, "yellow")
        table.add_row(o.video_id, f"[{colour}]{o.status}[/{colour}]", str(o.frames or ""), o.reason)
    out.print(table)
    for o in outcomes:
        for warning in o.warnings:
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("indexed", "skipped", "failed")}
    more = {s: sum(o.status == s for o in outcomes) for s in ("moved", "linked", "missing", "removed")}
    extra = "".join(f", {s} {n}" for s, n in more.items() if n)
    out.print(f"indexed {counts['indexed']}, skipped {counts['skipped']}, failed {counts['failed']}{extra}")
    if more["missing"]:
        err.print(f"{more['missing']} video(s) of these folders are gone from disk: --prune removes them from the library")


@app.command("infer")
@fail_cleanly
def infer(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="Video file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the results JSON.")],
    fps: FpsOpt = None,
    model: ModelDirOpt = None,
) -> None:
    """Embed a video's frames locally and write Roboflow's results format (no store needed); the file also
    records the model, the video's name and the fps, which `ingest results` uses as its defaults."""
    import msgspec

    from framesearch.embedders.resolve import image_embedder
    from framesearch.ingest.local import infer_video
    from framesearch.ingest.requests import LocalIngest
    from framesearch.ingest.results import to_results_json

    req = request(LocalIngest, fps=fps)
    settings = first_model(settings_for(ctx, model=model), None)
    embedder = image_embedder(settings, None)
    with progress_bar() as bar:
        frames, times, vectors = infer_video(
            video, embedder=embedder, fps=req.fps, progress=tracker(bar, video.name), batch_size=settings.embed_batch
        )
    meta = {"model": embedder.name, "video": video.name, "fps": req.fps}
    write_atomic(output, msgspec.json.encode(to_results_json(frames, times, vectors, meta=meta)))
    out.print(f"wrote {output}: {len(frames)} frames of {embedder.name} at {req.fps:g} fps")
