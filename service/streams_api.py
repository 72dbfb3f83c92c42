"""HTTP routes of watched live streams: POST /streams, GET /streams, DELETE /streams/{id}."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from framesearch.service.responses import ERRORS, VideoIdPath
from framesearch.service.streams import StreamInfo, StreamList, StreamManager, StreamRequest

router = APIRouter(tags=["streams"], responses=ERRORS)


def _streams(request: Request) -> StreamManager:
    return request.app.state.streams


@router.post("/streams", status_code=201)
async def add_stream(request: Request, body: StreamRequest) -> StreamInfo:
    """Watch a live stream: its frames are indexed as they air, committed every few seconds, and it is watched again
    after a service restart. http(s) sources must be public unless allowed; other schemes only from allowed hosts."""
    return await run_in_threadpool(_streams(request).add, body)  # resolves the host, loads the model: off the loop


@router.get("/streams")
def list_streams(request: Request) -> StreamList:
    """The watched streams and how each is doing."""
    streams = _streams(request).list()
    return StreamList(count=len(streams), streams=streams)


@router.delete("/streams/{video_id}")
async def delete_stream(request: Request, video_id: VideoIdPath) -> StreamInfo:
    """Stop watching a stream (what was indexed stays in the library: `DELETE /videos/{id}` removes it)."""
    return await run_in_threadpool(_streams(request).delete, video_id)
