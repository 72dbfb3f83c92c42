"""`framesearch alerts add|list|delete|tail` (standing searches) and `framesearch stats` (screen time).

Standing searches live beside the library (search/alerts.py); every ingest (here or in the service) checks its new
points against them. Like every command, these ask the service that `--url` / FRAMESEARCH_URL names, or the one
serving the library (cli/remote.py), through its HTTP API (`/alerts`, `GET /alerts/events`); with none, they read
and write the library's files here. The output is the same either way.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from framesearch.cli.main import (
    CollectionOpt,
    JsonOpt,
    ServiceOpt,
    StoreOpt,
    UrlOpt,
    app,
    err,
    fail_cleanly,
    out,
    print_json,
    request,
    settings_for,
)
from framesearch.errors import InvalidInput

if TYPE_CHECKING:
    from framesearch.service.client import ServiceClient
    from framesearch.settings import Settings
    from framesearch.store.base import VectorStore

alerts_app = typer.Typer(
    help="Standing searches: be told of each new moment that matches, as it is indexed.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")
TAIL_POLL_S = 0.5
MAX_STREAM_S = 86_400.0  # the longest stream the service grants in one request (`timeout`)
MAX_EVENTS_ASKED = 10_000  # the most events the service answers in one request (`limit`)


@contextmanager
def writing_store(settings: Settings, *, quiet: bool = False) -> Iterator[VectorStore]:
    """The store an ingest writes, opened here, with the library's standing searches checking every run it commits
    (service/alert_delivery.py); on the way out the webhooks due are given a few seconds, the rest stay queued.
    A library without standing searches loads none of that (~0.1 s of imports) until one appears: each commit
    then looks for them first (one stat), so a search added during a long ingest (a stream) still applies."""
    from contextlib import ExitStack
    from functools import cache

    from framesearch.store.open import open_store
    from framesearch.validation import alerts_dir

    with open_store(settings) as st, ExitStack() as stack:
        folder = alerts_dir(settings.store, settings.collection)
        checkers: list[Any] = []

        @cache
        def embedder() -> object:
            from framesearch.embedders.resolve import text_embedder

            return text_embedder(settings, st.info())

        def start() -> Any:
            from framesearch.service.alert_delivery import DRAIN_S, alerting

            checkers.append(stack.enter_context(alerting(st, settings, embedder, drain=DRAIN_S)))
            return checkers[0]

        waiting: list[Callable[[], None]] = []

        def first_commit(done: Any) -> None:  # no standing searches when the ingest began: are there now?
            if not checkers and (folder / "alerts.json").is_file():
                waiting.pop()()  # this listener stops; the checker hears the next commits itself
                start()(done)  # and is told of this one here

        if (folder / "alerts.json").is_file() or (folder / "outbox").is_dir():
            start()
        else:
            waiting.append(st.on_commit(first_commit))
            stack.callback(lambda: waiting and waiting.pop()())
        yield st
    found = checkers[0].found if checkers else 0
    if found and not quiet:
        err.print(f"standing searches: {found} new moments told", highlight=False)


@alerts_app.command("add")
@fail_cleanly
def alerts_add(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to watch for, in words.")],
    min_confidence: Annotated[
        Optional[float], typer.Option("--min-confidence", help="Calibrated confidence floor, 0-1 (default: the setting).")
    ] = None,
    video_id: Annotated[Optional[list[str]], typer.Option("--video-id", help="Only this video or stream (repeatable).")] = None,
    webhook: Annotated[
        Optional[str], typer.Option("--webhook", help="URL that receives each new moment (signed JSON POST).")
    ] = None,
    negative: Annotated[Optional[list[str]], typer.Option("--not", help="Leave out what matches this text (repeatable).")] = None,
    cooldown: Annotated[
        Optional[float], typer.Option("--cooldown", help="Seconds after a moment told before another is.")
    ] = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a standing search; with --webhook, its signing secret is printed this once."""
    from framesearch.search.alerts import AlertBook, AlertRequest

    req = request(
        AlertRequest,
        q=text,
        min_confidence=min_confidence,
        video_id=video_id or [],
        webhook=webhook,
        negatives=negative or [],
        cooldown=cooldown,
    )
    settings = settings_for(ctx, store=store, collection=collection, url=url)
    service = _service(settings)
    if service is not None:
        with service:
            created = service.add_alert(req)  # the service checks the webhook against its own allowed hosts
    else:
        from framesearch.service.fetch import check_url

        if req.webhook:
            check_url(req.webhook, settings.url_allow_hosts)
        created = AlertBook.of(settings).add(req)
    if as_json:
        print_json(created)
        return
    out.print(f"standing search {created.id}: {created.q!r}", highlight=False, markup=False)
    if created.secret:
        out.print(f"webhook secret (shown once; it signs the X-Framesearch-Signature header): {created.secret}", highlight=False)


@alerts_app.command("list")
@fail_cleanly
def alerts_list(
    ctx: typer.Context,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The library's standing searches."""
    from rich.table import Table

    from framesearch.search.alerts import AlertBook, AlertList

    settings = settings_for(ctx, store=store, collection=collection, url=url)
    service = _service(settings)
    if service is not None:
        with service:
            listed = service.alerts()
    else:
        views = [a.view() for a in AlertBook.of(settings).alerts()]
        listed = AlertList(count=len(views), alerts=views)
    if as_json:
        print_json(listed)
        return
    alerts = listed.alerts
    if not alerts:
        out.print('No standing searches. Add one with `framesearch alerts add "TEXT"`.', highlight=False, markup=False)
        return
    table = Table("id", "query", "min confidence", "videos", "webhook", "not", "cooldown (s)")
    for a in alerts:
        floor = "-" if a.min_confidence is None else f"{a.min_confidence:.2f}"
        table.add_row(
            a.id, a.q, floor, ", ".join(a.video_id) or "all", a.webhook or "-", ", ".join(a.negatives) or "-", f"{a.cooldown:g}"
        )
    out.print(table)


@alerts_app.command("delete")
@fail_cleanly
def alerts_delete(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="The standing search's id (`alerts list`).")],
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a standing search (its deliveries not yet made are dropped)."""
    from framesearch.search.alerts import AlertBook

    settings = settings_for(ctx, store=store, collection=collection, url=url)
    service = _service(settings)
    if service is not None:
        with service:
            gone = service.delete_alert(alert_id)
    else:
        gone = AlertBook.of(settings).delete(alert_id)
    if as_json:
        print_json(gone)
    else:
        out.print(f"deleted standing search {gone.id}: {gone.q!r}", highlight=False, markup=False)


@alerts_app.command("tail")
@fail_cleanly
def alerts_tail(
    ctx: typer.Context,
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, help="Print the last N events first.")] = 10,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep printing new events as they come.")] = True,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Stop after this many new events.")] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0, help="Stop after this many seconds.")] = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the new moments of every standing search as they are found (JSON lines with --json); Ctrl-C stops."""
    from framesearch.search.alerts import AlertBook

    settings = settings_for(ctx, store=store, collection=collection, url=url)
    show = functools.partial(_print_event, as_json=as_json)
    service = _service(settings)
    if service is not None:
        with service:
            _tail_service(service, lines, follow, limit, timeout, show)
        return
    book = AlertBook.of(settings)
    shown = book.events(limit=lines) if lines else []
    after = shown[-1].seq if shown else book.last_seq()
    for event in shown:
        show(event)
    if not follow:
        return
    _follow(book, after, limit, timeout, show)


def _service(settings: Settings) -> ServiceClient | None:
    from framesearch.cli.remote import service_for

    return service_for(settings)


def _follow(book: Any, after: int, limit: int | None, timeout: float | None, show: Callable[[Any], None]) -> None:
    started, told = time.monotonic(), 0
    try:
        while timeout is None or time.monotonic() - started < timeout:
            for event in book.events(after):
                show(event)
                after, told = event.seq, told + 1
                if limit is not None and told >= limit:
                    return
            time.sleep(TAIL_POLL_S)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _tail_service(
    service: ServiceClient, lines: int, follow: bool, limit: int | None, timeout: float | None, show: Callable[[Any], None]
) -> None:
    """`alerts tail` through a service: the last events logged, then its event stream (reconnecting after the last
    event seen if the stream ends before --limit or --timeout)."""
    shown = service.alert_events(after=0, limit=min(lines, MAX_EVENTS_ASKED) or 1).events
    after = shown[-1].seq if shown else 0
    for event in shown if lines else ():
        show(event)
    if not follow:
        return
    started, told = time.monotonic(), 0
    try:
        while True:
            left = None if timeout is None else min(timeout - (time.monotonic() - started), MAX_STREAM_S)
            if left is not None and left <= 0:
                return
            asked = None if limit is None else min(limit - told, MAX_EVENTS_ASKED)
            for event in service.follow_alert_events(after, asked, left):
                show(event)
                after, told = event.seq, told + 1
            if limit is not None and told >= limit:
                return
            time.sleep(TAIL_POLL_S)  # the stream ended early (the service restarting): ask again from the last seen
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _print_event(event: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(event.model_dump_json() + "\n")
        sys.stdout.flush()
        return
    when = f" (aired {event.start_utc})" if event.start_utc else ""
    confidence = "-" if event.confidence is None else f"{event.confidence:.2f}"
    out.print(
        f"{event.detected_at}  [{event.alert_id}] {event.q!r}: {event.video_id} {event.start:.2f}-{event.end:.2f} s{when}, "
        f"confidence {confidence}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _time_range(start: str | None, end: str | None) -> dict[str, Any]:
    """--from/--to: seconds into the videos (a number), or wall-clock times (ISO 8601; UTC unless they say)."""
    from datetime import UTC, datetime

    found: dict[str, Any] = {}
    for text, seconds, wall in ((start, "t_min", "since"), (end, "t_max", "until")):
        if text is None:
            continue
        try:
            found[seconds] = float(text)
            continue
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{text!r}: give seconds into the video (12.5) or a time (2026-12-07T10:00Z)") from None
        found[wall] = when if when.tzinfo else when.replace(tzinfo=UTC)
    return found


@app.command("stats")
@fail_cleanly
def stats_cmd(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to measure, in words.")],
    video_id: Annotated[Optional[list[str]], typer.Option("--video-id", help="Only this video or stream (repeatable).")] = None,
    start: Annotated[
        Optional[str], typer.Option("--from", help="From: seconds into the video, or a UTC time (ISO 8601).")
    ] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="To: seconds into the video, or a UTC time (ISO 8601).")] = None,
    by: Annotated[str, typer.Option("--by", help="video, hour or day (wall-clock, UTC).")] = "video",
    min_confidence: Annotated[
        Optional[float], typer.Option("--min-confidence", help="Calibrated confidence floor, 0-1 (default: the setting).")
    ] = None,
    negative: Annotated[Optional[list[str]], typer.Option("--not", help="Leave out what matches this text (repeatable).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    model: Annotated[Optional[str], typer.Option("--model", help="Query model (default: the collection's).")] = None,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    collection: CollectionOpt = None,
    url: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Screen time: seconds on screen of what TEXT finds, per video (or per hour or day), from the search's moments."""
    from framesearch.cli.remote import service_for
    from framesearch.search.screen_time import StatsRequest, screen_time, stats_csv
    from framesearch.store.open import open_store

    if as_csv and as_json:
        raise InvalidInput("give --csv or --json, not both")
    req = request(
        StatsRequest,
        q=text,
        video_id=video_id or [],
        by=by,
        min_confidence=min_confidence,
        negatives=negative or [],
        **_time_range(start, end),
    )
    settings = settings_for(ctx, model=model, store=store, qdrant_url=qdrant_url, collection=collection, url=url)
    service = service_for(settings)
    if service is not None:
        with service:
            answer = service.stats(req)
    else:
        from framesearch.embedders.resolve import text_embedder

        with open_store(settings, create=False) as st:
            answer = screen_time(st, req, settings, text_embedder(settings, st.info()))
    if as_csv:
        sys.stdout.write(stats_csv(answer))
    elif as_json:
        print_json(answer)
    else:
        _print_stats(answer)


def _print_stats(answer: Any) -> None:
    from rich.table import Table

    if not answer.rows:
        out.print(f"{answer.query!r} is on screen nowhere (confidence {answer.min_confidence}).", highlight=False, markup=False)
        return
    table = Table(answer.by, "seconds", "moments")
    for row in answer.rows:
        table.add_row(row.key, f"{row.seconds:.2f}", str(row.moments))
    table.add_row("total", f"{answer.total_seconds:.2f}", str(answer.moments))
    out.print(table)
