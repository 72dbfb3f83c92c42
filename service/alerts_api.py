"""HTTP routes of standing searches and screen time: /alerts (create, list, delete), /alerts/events (server-sent
events, what the page shows live) and /stats. They only translate; the core is search/alerts.py and
search/screen_time.py, the check and the deliveries service/alert_delivery.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from framesearch.search.alerts import AlertBook, AlertCreated, AlertList, AlertRequest, AlertView, EventList
from framesearch.search.screen_time import StatsRequest, StatsResponse, screen_time, stats_csv
from framesearch.service.fetch import check_url
from framesearch.service.responses import ERRORS
from framesearch.service.state import app_state

router = APIRouter(responses=ERRORS)
POLL_S = 0.5  # how often the event stream looks for new events
PING_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream
CLOSING = threading.Event()  # set when the server is stopping (cli/search.py): open streams end, clients reconnect
AlertIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$", description="A standing search's id.")]


def book_of(request: Request) -> AlertBook:
    return AlertBook.of(app_state(request).settings)


@router.post("/alerts", status_code=201, tags=["alerts"])
def create_alert(request: Request, body: AlertRequest) -> AlertCreated:
    """A standing search: every newly committed chunk or video is checked against it, and each new moment is told
    once (webhook, `GET /alerts/events`, `framesearch alerts tail`). The webhook's signing `secret` is in this answer
    only. A webhook must be a public address (or a host in `url_allow_hosts`), as URL jobs' sources."""
    if body.webhook:
        check_url(body.webhook, app_state(request).settings.url_allow_hosts)
    return book_of(request).add(body)


@router.get("/alerts", tags=["alerts"])
def list_alerts(request: Request) -> AlertList:
    """The library's standing searches (without their secrets)."""
    alerts = [a.view() for a in book_of(request).alerts()]
    return AlertList(count=len(alerts), alerts=alerts)


@router.get("/alerts/events", tags=["alerts"], response_model=EventList, responses={200: {"content": {"text/event-stream": {}}}})
async def alert_events(
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=2**53, description="Events numbered above this (default: from now on).")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="Close the stream after this many events.")] = None,
    timeout: Annotated[float | None, Query(gt=0, le=86_400, description="Close the stream after this many seconds.")] = None,
    stream: Annotated[bool, Query(description="false: answer the events logged so far as JSON, at once.")] = True,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**53, include_in_schema=False)] = None,
) -> Response:
    """Server-sent events: one `alert` event per new moment of any standing search (`id` is its number, `data` its
    JSON), as they are found; a reconnecting client's Last-Event-ID resumes after the last one it saw. With
    `stream=false`, the events logged (after `after`, the last `limit`) as one JSON answer."""
    book = book_of(request)
    if not stream:
        events = await run_in_threadpool(book.events, after or 0, limit or 100)
        return Response(EventList(count=len(events), events=events).model_dump_json(), media_type="application/json")
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await run_in_threadpool(book.last_seq)
    return StreamingResponse(
        _event_stream(request, book, start, limit, timeout),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    request: Request, book: AlertBook, after: int, limit: int | None, timeout: float | None
) -> AsyncIterator[str]:
    sent = 0
    started = last_ping = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        for event in await run_in_threadpool(book.events, after):
            yield f"id: {event.seq}\nevent: alert\ndata: {event.model_dump_json()}\n\n"
            after, sent = event.seq, sent + 1
            if limit is not None and sent >= limit:
                return
        now = time.monotonic()
        if timeout is not None and now - started >= timeout:
            return
        if now - last_ping >= PING_S:
            last_ping = now
            yield ": ping\n\n"
        if CLOSING.is_set() or await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)


@router.delete("/alerts/{alert_id}", tags=["alerts"])
def delete_alert(request: Request, alert_id: AlertIdPath) -> AlertView:
    """Stop a standing search (its deliveries not yet made are dropped)."""
    return book_of(request).delete(alert_id)


@router.get("/stats", tags=["search"], response_model=StatsResponse, responses={200: {"content": {"text/csv": {}}}})
def stats(request: Request, query: Annotated[StatsRequest, Query()]) -> StatsResponse | Response:
    """Screen time: seconds on screen of what `q` finds, per video or per hour or day (UTC), made of the same moments
    as a search (the sum of their durations)."""
    state = app_state(request)
    answer = screen_time(state.store, query, state.settings, state.embedder())
    if query.format == "csv":
        return Response(stats_csv(answer), media_type="text/csv")
    return answer
