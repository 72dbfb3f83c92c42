"""HTTP routes about the store itself, as `framesearch store info|check` show them: its description and its check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from framesearch.service.responses import ERRORS
from framesearch.service.state import app_state
from framesearch.store.check import CheckReport, check_store
from framesearch.store.info import StoreInfo, describe

router = APIRouter(tags=["store"], responses={**ERRORS})
T = TypeVar("T")


def on_store(store: Any, function: Callable[..., T], *args: Any) -> T:
    """`function(store, *args)` where the store is: in its own process for a hosted Edge store, else here."""
    from framesearch.store.hosted import HostedStore

    if isinstance(store, HostedStore):
        return store.apply(function, *args)
    return function(store, *args)


@router.get("/store")
async def store_info(request: Request) -> StoreInfo:
    """Backend, location, collection, model, points, videos and index state (what `framesearch store info` shows)."""
    return await run_in_threadpool(on_store, app_state(request).store, describe)


@router.get("/store/check")
async def store_check(request: Request) -> CheckReport:
    """Check every video record against its points and find unfinished runs and stray points; changes nothing."""
    return await run_in_threadpool(on_store, app_state(request).store, check_store, False)


@router.post("/store/repair")
async def store_repair(request: Request) -> CheckReport:
    """Check, fix what can be fixed (as `framesearch store check --repair`), and check again."""
    return await run_in_threadpool(on_store, app_state(request).store, check_store, True)
