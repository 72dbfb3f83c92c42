"""Request bodies shared by the HTTP routes, and the app state lookup."""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field

from framesearch.search.core import SearchRequest
from framesearch.service.state import AppState


class SearchFilters(BaseModel):
    """Where to look and how many: the filters every search body takes."""

    video_id: list[str] = Field(default_factory=list, description="Only these videos.")
    t_min: float | None = None
    t_max: float | None = None
    threshold: float | None = Field(None, ge=-1, le=1)
    limit: int = Field(20, ge=1, le=1000)
    mode: Literal["segments", "frames"] = "segments"

    def request(self, text: str | None = None, vector: list[float] | None = None) -> SearchRequest:
        """The core's search request for these filters and a query."""
        return SearchRequest(text, vector, self.video_id, self.t_min, self.t_max, self.threshold, self.limit, self.mode)


class SearchBody(SearchFilters):
    """POST /search: a text query `q` or a raw `vector`, and filters."""

    q: str | None = Field(None, description="Text query.")
    vector: list[float] | None = Field(None, description="Raw query vector (the collection's model).")


class FrameRef(BaseModel):
    """One stored frame of one video."""

    video_id: str
    frame: int = Field(ge=0)


class SimilarBody(SearchFilters):
    """POST /search/similar: frames like a stored frame ('more like this'), with the filters of POST /search."""

    like: FrameRef


def app_state(request: Request) -> AppState:
    """The state the app's lifespan set up (settings, open store, embedders)."""
    return request.app.state.framesearch
