"""A typed HTTP client of a running `framesearch serve`: what the CLI uses when a service holds the store.

Each method is one request and answers the same models the core answers, so a command prints the same thing
whether it opened the store itself or asked the service. An error answer (`{"error", "detail"}`) becomes the
domain error it names; a service that does not answer is a StoreError naming its address. Each method imports
the models it answers (a CLI read command asking a service loads no engine, no web framework).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from framesearch import errors
from framesearch.errors import FrameSearchError, StoreError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from framesearch.ingest.deletes import DeleteReport
    from framesearch.ingest.index import IngestReport
    from framesearch.ingest.requests import DeleteVideos
    from framesearch.search.alerts import AlertCreated, AlertEvent, AlertList, AlertRequest, AlertView, EventList
    from framesearch.search.models import SearchRequest, SearchResponse
    from framesearch.search.screen_time import StatsRequest, StatsResponse
    from framesearch.service.jobs import Job, JobAccepted
    from framesearch.service.library_jobs import LibraryJobRequest
    from framesearch.service.responses import Deleted
    from framesearch.service.streams import StreamInfo, StreamRequest
    from framesearch.store.check import CheckReport
    from framesearch.store.info import StoreInfo
    from framesearch.store.schema import VideoRecord

M = TypeVar("M", bound="BaseModel")
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
PAGE = 1000  # videos asked per page (the service's largest page)
LONG_TIMEOUT = httpx.Timeout(3600.0, connect=5.0)  # a repair, a results file indexed in the request
STREAM_TIMEOUT = httpx.Timeout(5.0, read=60.0)  # an event stream: a quiet one sends a ping every 15 s


def error_from(code: str, detail: str) -> FrameSearchError:
    """The domain error an error answer names (its base class for names this version does not know)."""
    kind = getattr(errors, code, None)
    if isinstance(kind, type) and issubclass(kind, FrameSearchError):
        try:
            return kind(detail)
        except TypeError:
            pass
    return FrameSearchError(detail)


class ServiceClient:
    """One running service, at `url`, with the key (full or read-only) the caller has."""

    def __init__(self, url: str, api_key: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT, transport=transport)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._silent(exc) from None
        self._check(response)
        return response

    def _silent(self, exc: Exception) -> StoreError:
        return StoreError(f"the framesearch service at {self.url} does not answer ({type(exc).__name__})")

    def _check(self, response: httpx.Response) -> None:
        """Raise the domain error an error answer names (a streamed answer is read first)."""
        if response.status_code < 400:
            return
        try:
            body = json.loads(response.read())
            code, detail = str(body["error"]), str(body["detail"])
        except (ValueError, KeyError, TypeError):
            code, detail = "StoreError", f"the service at {self.url} answered {response.status_code}"
        raise error_from(code, detail)

    def _model(self, schema: type[M], method: str, path: str, **kwargs: Any) -> M:
        return schema.model_validate_json(self._send(method, path, **kwargs).content)

    # reads

    def ping(self, timeout: float | None = None) -> None:
        """Whether the service answers (StoreError if not); its health details may be kept from keyless callers."""
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        self._send("GET", "/healthz", **options)

    def search(self, req: SearchRequest) -> SearchResponse | str:
        """The search answer, or the export's text for csv, vtt and edl."""
        from framesearch.search.models import SearchResponse

        response = self._send("POST", "/search", content=req.model_dump_json(exclude_none=True), headers=_JSON)
        if req.format in ("csv", "vtt", "edl"):
            return response.text
        return SearchResponse.model_validate_json(response.content)

    def stats(self, req: StatsRequest) -> StatsResponse:
        """Screen time (GET /stats), as the core answers it."""
        from framesearch.search.screen_time import StatsResponse

        params = req.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
        params["q"] = req.q
        return self._model(StatsResponse, "GET", "/stats", params=params)

    def video_page(
        self, limit: int | None = None, match: str | None = None, under: str | None = None, sort: str = "name"
    ) -> tuple[int, list[VideoRecord]]:
        """(videos matching in all, the first `limit` of them, or all), read page by page as the store's video_page
        (each page a service.responses.VideoList, read here without importing the service)."""
        from framesearch.store.schema import VideoRecord

        params: dict[str, Any] = {k: v for k, v in {"q": match, "under": under, "sort": sort}.items() if v is not None}
        records: list[VideoRecord] = []
        total, cursor = 0, None
        while limit is None or len(records) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(records))
            query = {**params, "limit": size, **({"cursor": cursor} if cursor else {})}
            try:
                page = json.loads(self._send("GET", "/videos", params=query).content)
                total, videos, cursor = int(page["total"]), page["videos"], page.get("next_cursor")
            except (ValueError, KeyError, TypeError):
                raise StoreError(f"the service at {self.url} answered an unreadable video list") from None
            records += [VideoRecord.model_validate(v) for v in videos]
            if not cursor or not videos:
                break
        return total, records

    def list_videos(self) -> list[VideoRecord]:
        return self.video_page()[1]

    def get_video(self, video_id: str) -> VideoRecord:
        from framesearch.store.schema import VideoRecord

        return self._model(VideoRecord, "GET", f"/videos/{_quote(video_id)}")

    def store_info(self) -> StoreInfo:
        from framesearch.store.info import StoreInfo

        return self._model(StoreInfo, "GET", "/store")

    def check(self, repair: bool = False) -> CheckReport:
        from framesearch.store.check import CheckReport

        if repair:
            return self._model(CheckReport, "POST", "/store/repair", timeout=LONG_TIMEOUT)
        return self._model(CheckReport, "GET", "/store/check", timeout=LONG_TIMEOUT)

    def job(self, job_id: str) -> Job:
        from framesearch.service.jobs import Job

        return self._model(Job, "GET", f"/jobs/{_quote(job_id)}")

    def alerts(self) -> AlertList:
        """The standing searches (GET /alerts), without their secrets."""
        from framesearch.search.alerts import AlertList

        return self._model(AlertList, "GET", "/alerts")

    def alert_events(self, after: int = 0, limit: int | None = None) -> EventList:
        """The events logged after `after` (the last `limit` of them), at once (GET /alerts/events?stream=false)."""
        from framesearch.search.alerts import EventList

        params: dict[str, Any] = {"stream": "false", "after": after, **({"limit": limit} if limit else {})}
        return self._model(EventList, "GET", "/alerts/events", params=params)

    def follow_alert_events(
        self, after: int | None = None, limit: int | None = None, timeout: float | None = None
    ) -> Iterator[AlertEvent]:
        """Each new event as the service sends it (server-sent events of GET /alerts/events), until the stream ends:
        after `limit` events, `timeout` seconds, or when the service stops."""
        from framesearch.search.alerts import AlertEvent

        options = {"after": after, "limit": limit, "timeout": timeout}
        params = {k: v for k, v in options.items() if v is not None}
        try:
            with self._http.stream("GET", "/alerts/events", params=params, timeout=STREAM_TIMEOUT) as response:
                self._check(response)
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif not line and data:
                        yield AlertEvent.model_validate_json("\n".join(data))
                        data = []
        except httpx.TransportError as exc:
            raise self._silent(exc) from None

    # writes

    def add_alert(self, req: AlertRequest) -> AlertCreated:
        """Create a standing search (POST /alerts); its webhook's secret is in this answer only."""
        from framesearch.search.alerts import AlertCreated

        body = req.model_dump_json(by_alias=True, exclude_none=True)
        return self._model(AlertCreated, "POST", "/alerts", content=body, headers=_JSON)

    def delete_alert(self, alert_id: str) -> AlertView:
        from urllib.parse import quote

        from framesearch.search.alerts import AlertView

        return self._model(AlertView, "DELETE", f"/alerts/{quote(alert_id, safe='')}")

    def delete_video(self, video_id: str) -> Deleted:
        from framesearch.service.responses import Deleted

        return self._model(Deleted, "DELETE", f"/videos/{_quote(video_id)}")

    def delete_videos(self, req: DeleteVideos) -> DeleteReport:
        from framesearch.ingest.deletes import DeleteReport

        return self._model(DeleteReport, "POST", "/videos/delete", content=req.model_dump_json(), headers=_JSON)

    def submit_library(self, req: LibraryJobRequest) -> JobAccepted:
        from framesearch.service.jobs import JobAccepted

        return self._model(JobAccepted, "POST", "/jobs/library", content=req.model_dump_json(exclude_none=True), headers=_JSON)

    def add_stream(self, req: StreamRequest) -> StreamInfo:
        from framesearch.service.streams import StreamInfo

        return self._model(StreamInfo, "POST", "/streams", content=req.model_dump_json(exclude_none=True), headers=_JSON)

    def upload_results(self, path: Path, video_id: str, **options: Any) -> IngestReport:
        """Index a results JSON file as `video_id` (options: fps, model, dry_run)."""
        from framesearch.ingest.index import IngestReport

        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in options.items() if v is not None}
        with path.open("rb") as body:
            return self._model(
                IngestReport,
                "POST",
                f"/videos/{_quote(video_id)}/results",
                params=params,
                content=body,
                headers=_JSON,
                timeout=LONG_TIMEOUT,
            )


_JSON = {"content-type": "application/json"}


def _quote(video_id: str) -> str:
    from urllib.parse import quote

    return quote(video_id, safe="/")
