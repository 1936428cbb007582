"""Provider webhooks: one URL shape for every channel, dispatched to the channel module."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from raccordo.channels.services import inbound
from raccordo.platform.web import schemas

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


@router.post("/{channel}/{identifier}/messages", response_model=schemas.InboundAccepted, status_code=200)
async def receive(channel: str, identifier: str, request: Request) -> schemas.InboundAccepted:
    """Store the raw request, then verify and ingest it. The channel in the URL must match the inbox's."""
    body = await request.body()
    rt = request.app.state.runtime
    headers = {k.lower(): v for k, v in request.headers.items()}
    remote = request.client.host if request.client else None
    outcome = await run_in_threadpool(inbound.receive, rt, identifier, headers, body, channel, remote)
    return schemas.InboundAccepted(raw_id=outcome.raw_id, message_ids=outcome.message_ids, duplicates=outcome.duplicates)
