"""The app-level webhook URL of a Meta channel (``/api/v1/channels/<kind>/webhook``), mounted by the channel.

The per-inbox URL (``/api/v1/channels/<kind>/{identifier}/messages``) serves one page; this one
serves every page of a Meta app, as Meta's single callback URL per app requires (``app_webhook.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from raccordo.channels.base import InboundRequest
from raccordo.channels.messenger import app_webhook


def _request(request: Request, body: bytes = b"") -> InboundRequest:
    public = request.app.state.runtime.settings.public_url.rstrip("/")
    url = str(request.url)
    if public:
        url = public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return InboundRequest.of(request.method, url, dict(request.headers.items()), body)


def router_for(kind: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/v1/channels/{kind}", tags=["channels"])

    @router.get("/webhook")
    async def verify(request: Request) -> Response:
        """Meta's verification of the app's callback URL (``hub.challenge`` echoed)."""
        answer = await run_in_threadpool(app_webhook.handshake, request.app.state.runtime, kind, _request(request))
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    @router.post("/webhook")
    async def receive(request: Request) -> Response:
        """Events for any page of the app, each handed to its inbox."""
        body = await request.body()
        remote = request.client.host if request.client else None
        outcomes = await run_in_threadpool(
            app_webhook.receive, request.app.state.runtime, kind, _request(request, body), remote
        )
        return JSONResponse(
            {
                "inboxes": [
                    {"raw_id": o.raw_id, "message_ids": o.message_ids, "duplicates": o.duplicates} for o in outcomes
                ]
            }
        )

    return router
