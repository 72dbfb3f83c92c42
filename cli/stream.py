"""`framesearch ingest stream URL`: watch a live stream, committing what aired every few seconds."""

from __future__ import annotations

import signal
from typing import Annotated, Any, Optional

import typer

from framesearch.cli.ingest import ModelDirOpt, first_model
from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    ServiceOpt,
    StoreOpt,
    UrlOpt,
    err,
    fail_cleanly,
    ingest_app,
    out,
    print_json,
    settings_for,
)


@ingest_app.command("stream")
@fail_cleanly
def ingest_stream(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Stream URL (HLS .m3u8, rtsp://, udp://, srt://, ...) or a growing file.")],
    video_id: Annotated[Optional[str], typer.Option("--video-id", help="Id of the stream in the library.")] = None,
    fps: Annotated[float, typer.Option("--fps", help="Frames sampled per second of stream.")] = 2.0,
    model: ModelDirOpt = None,
    keep: Annotated[
        Optional[str], typer.Option("--keep", help="Keep this much of the stream (e.g. 24h, 90m); older chunks are deleted.")
    ] = None,
    stop_after: Annotated[
        Optional[float], typer.Option("--stop-after", help="Stop after this many seconds (default: run until stopped).")
    ] = None,
    chunk: Annotated[float, typer.Option("--chunk", help="Seconds between commits (what a search sees lags by this).")] = 3.0,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url_opt: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index a live stream as it plays: sampled frames are embedded and committed every few seconds, each with the
    wall-clock time it aired. A dropped stream is reconnected with backoff; the outage stays a gap. Ctrl-C or
    SIGTERM stops it after committing what was embedded."""
    from framesearch.cli.alerts import writing_store
    from framesearch.embedders.resolve import image_embedder
    from framesearch.errors import InvalidInput
    from framesearch.ingest.stream import StreamIngest, StreamOptions, parse_duration

    if stop_after is not None and stop_after <= 0:
        raise InvalidInput("--stop-after must be a positive number of seconds")
    if chunk <= 0:
        raise InvalidInput("--chunk must be a positive number of seconds")
    options = StreamOptions(
        url=url,
        video_id=video_id,
        fps=fps,
        keep=parse_duration(keep) if keep is not None else None,
        stop_after=stop_after,
        chunk_s=chunk,
    )
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection, url=url_opt)
    if _watched_by_service(settings, url, options, keep, as_json):
        return
    with writing_store(settings, quiet=as_json) as st:  # standing searches check every chunk committed
        settings = first_model(settings, st.info(), quiet=as_json)
        ingest = StreamIngest(st, image_embedder(settings, st.info()), options, say=_say(as_json))
        previous = _stop_on_signals(ingest)
        try:
            if not as_json:
                err.print(f"watching {url} as {options.video_id!r} at {fps:g} fps; Ctrl-C stops", highlight=False, markup=False)
            result = ingest.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if as_json:
        print_json(result)
    else:
        out.print(
            f"{result.video_id}: {result.frames} frames committed in {result.chunks} chunks over {result.seconds:.0f} s"
            f" ({result.drops} drops, {result.expired} frames retired)",
            highlight=False,
        )


def _watched_by_service(settings: Any, url: str, options: Any, keep: str | None, as_json: bool) -> bool:
    """While `framesearch serve` holds the library, the service watches the stream (`POST /streams`)."""
    from framesearch.cli.remote import service_for
    from framesearch.errors import InvalidInput
    from framesearch.service.streams import StreamRequest

    service = service_for(settings)
    if service is None:
        return False
    if options.stop_after is not None:
        raise InvalidInput("the service holds this library and watches streams until told to stop: drop --stop-after")
    with service:
        info = service.add_stream(StreamRequest(url=url, video_id=options.video_id, fps=options.fps, keep=keep))
    if as_json:
        print_json(info)
    else:
        out.print(
            f"the service watches {info.url} as {info.video_id!r} now (GET /streams shows it; DELETE /streams/"
            f"{info.video_id} stops it)",
            highlight=False,
            markup=False,
        )
    return True


def _say(quiet: bool) -> Any:
    def say(text: str) -> None:
        if not quiet:
            err.print(text, highlight=False, markup=False, soft_wrap=True)

    return say


def _stop_on_signals(ingest: Any) -> dict[int, Any]:
    """SIGTERM and SIGINT stop the ingest after its next commit (never in the middle of one)."""
    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, lambda *_: ingest.stop.set())
    return previous
