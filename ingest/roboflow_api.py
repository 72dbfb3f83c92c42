"""Roboflow's Video Inference API over plain HTTP: signed upload, job creation, status polls, results.

Base URL from `API_URL` (default https://api.roboflow.com); the key travels as the `api_key` parameter.
`POST /video_upload_signed_url/` gives a signed URL to PUT the video to, `POST /videoinfer/` starts a
job, `GET /videoinfer/?job_id=` reports status 0 (done, with `output_signed_url`), 1 (running) or more
(failed). Signed URLs are followed whatever host they name. The key never appears in errors or logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from framesearch.embedders.roboflow import RoboflowHTTP, host_of
from framesearch.errors import InvalidInput, JobFailed, JobTimeout, UpstreamError, UpstreamUnavailable
from framesearch.settings import Settings

CLIP_MODEL_SPEC = {"model_id": "clip", "model_version": "1", "inference_type": "clip-embed-image"}
DONE, RUNNING = 0, 1
UPLOAD_CHUNK = 1 << 20
EXPIRED_CODES = (400, 401, 403, 404, 410)


class Interrupted(Exception):
    """Raised by an injected sleep to abandon polling; the remote job goes on and can be resumed."""


@dataclass(frozen=True)
class JobStatus:
    """One answer of `GET /videoinfer/`."""

    job_id: str
    status: int
    output_url: str | None = None
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status == DONE

    @property
    def failed(self) -> bool:
        return self.status > RUNNING


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask (growing by `backoff` up to `max_interval`) and for how long in all."""

    interval: float = 5.0
    max_interval: float = 60.0
    backoff: float = 1.5
    timeout: float = 3600.0


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(UPLOAD_CHUNK):
        yield chunk


def poll_policy(settings: Settings, interval: float | None = None, timeout: float | None = None) -> PollPolicy:
    """How to wait for a job: the given interval and timeout, else the `roboflow_*` settings."""
    interval = interval or settings.roboflow_poll_interval
    return PollPolicy(interval=interval, max_interval=max(interval, 60.0), timeout=timeout or settings.roboflow_timeout)


class RoboflowVideoAPI(RoboflowHTTP):
    """A client of the Video Inference endpoints for one API key."""

    service = "Roboflow API"

    def _api(
        self, method: str, path: str, what: str, *, params: dict | None = None, body: Any = None, transient: tuple[int, ...] = ()
    ) -> dict[str, Any]:
        data = self.request_json(method, path, what, params=params, body=body, transient=transient)
        if not isinstance(data, dict):
            raise UpstreamError(f"Roboflow {what}: expected a JSON object, got {type(data).__name__}")
        return data

    def upload(self, path: Path) -> str:
        """Upload a video file through a signed URL; returns that URL (the job's input)."""
        data = self._api("POST", "/video_upload_signed_url/", "upload URL request", body={"file_name": path.name})
        signed = data.get("signed_url")
        if not isinstance(signed, str) or not signed.startswith(("http://", "https://")):
            raise UpstreamError("Roboflow upload URL request: the answer holds no 'signed_url'")
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
                response = self._client.put(signed, content=_chunks(handle), headers=headers)
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"upload of {path.name} to {host_of(signed)} failed: {self.clean(str(exc))}") from None
        if response.status_code in EXPIRED_CODES:
            raise UpstreamError(
                f"upload of {path.name} refused by {host_of(signed)} (HTTP {response.status_code}): "
                "the signed upload URL expired or is invalid; run the command again"
            )
        self.check(response, f"upload of {path.name}")
        return signed

    def submit(self, input_url: str, fps: float) -> str:
        """Start a CLIP video inference job on a video URL; returns the job id."""
        infer_fps: float = int(fps) if float(fps).is_integer() else fps
        body = {"input_url": input_url, "infer_fps": infer_fps, "models": [CLIP_MODEL_SPEC]}
        data = self._api("POST", "/videoinfer/", "job submission", body=body)
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise UpstreamError("Roboflow job submission: the answer holds no 'job_id'")
        return job_id

    def status(self, job_id: str) -> JobStatus:
        """The job's current status (transient trouble raises UpstreamUnavailable)."""
        data = self._api("GET", "/videoinfer/", f"status of job {job_id}", params={"job_id": job_id}, transient=(429,))
        status = data.get("status", RUNNING)
        if not isinstance(status, int) or isinstance(status, bool):
            raise UpstreamError(f"Roboflow status of job {job_id}: unexpected status {status!r}")
        output = data.get("output_signed_url")
        reason = data.get("status_info") or data.get("message") or data.get("error")
        return JobStatus(job_id, status, output if isinstance(output, str) else None, self.clean(str(reason)) if reason else None)

    def _get_output(self, url: str) -> httpx.Response:
        try:
            return self._client.get(url)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"results download from {host_of(url)} failed: {self.clean(str(exc))}") from None

    def download(self, status: JobStatus) -> bytes:
        """The results JSON of a finished job; an expired output URL is refreshed once through a status poll."""
        if not status.output_url:
            raise JobFailed(f"Roboflow job {status.job_id} is done but names no output_signed_url")
        response = self._get_output(status.output_url)
        if response.status_code in EXPIRED_CODES:
            fresh = self.status(status.job_id)
            if fresh.output_url and fresh.output_url != status.output_url:
                response = self._get_output(fresh.output_url)
        if response.status_code in EXPIRED_CODES:
            raise JobFailed(
                f"the results of Roboflow job {status.job_id} are no longer downloadable "
                f"(HTTP {response.status_code} from {host_of(str(response.request.url))}): the signed URL expired"
            )
        self.check(response, f"results download of job {status.job_id}")
        return response.content


def wait_for_job(
    api: RoboflowVideoAPI,
    job_id: str,
    policy: PollPolicy = PollPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[int, float], None] | None = None,
) -> JobStatus:
    """Poll until the job is done (returned), failed (JobFailed) or `policy.timeout` passes (JobTimeout)."""
    start = clock()
    delay = policy.interval
    polls = 0
    trouble = ""
    while True:
        try:
            status, trouble = api.status(job_id), ""
        except UpstreamUnavailable as exc:
            status, trouble = None, f" (last status poll: {exc})"  # a blip: keep asking until the timeout
        polls += 1
        if status is not None and status.done:
            return status
        if status is not None and status.failed:
            why = f": {status.reason}" if status.reason else ""
            raise JobFailed(f"Roboflow job {job_id} failed (status {status.status}){why}")
        elapsed = clock() - start
        if on_poll:
            on_poll(polls, elapsed)
        if elapsed >= policy.timeout:
            raise JobTimeout(
                f"Roboflow job {job_id} is not done after {policy.timeout:g} s{trouble}; it goes on at Roboflow "
                "and can be resumed by its job id",
                job_id=job_id,
            )
        sleep(min(delay, policy.timeout - elapsed))
        delay = min(delay * policy.backoff, policy.max_interval)
