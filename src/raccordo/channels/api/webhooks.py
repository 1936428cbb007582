"""The one webhook route of every channel: ``/api/v1/channels/{channel}/{identifier}/messages``.

``GET`` is the provider's verification of the URL (``Feature.HANDSHAKE``: Meta's
``hub.challenge``), answered by the channel. ``POST`` carries messages and status callbacks: the
whole request (method, URL, query, headers, body) is handed to the channel, stored raw and
ingested; the answer is the channel's own (``webhook_response``: TwiML for Twilio) or, without
one, the stored and ingested ids as JSON.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from raccordo.channels import schemas
from raccordo.channels.domain.request import InboundRequest, WebhookResponse
from raccordo.channels.services import inbound

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])
PATH = "/{channel}/{identifier}/messages"


def _request(request: Request, body: bytes = b"") -> InboundRequest:
    """The request as the provider addressed it: behind a proxy, at ``RACCORDO_PUBLIC_URL`` (which
    URL-signing providers sign), else as this server received it."""
    public = request.app.state.runtime.settings.public_url.rstrip("/")
    url = str(request.url)
    if public:
        url = public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return InboundRequest.of(request.method, url, dict(request.headers.items()), body)


def _answer(response: WebhookResponse) -> Response:
    return Response(
        response.body, status_code=response.status, media_type=response.content_type, headers=response.headers
    )


@router.get(
    PATH, responses={200: {"description": "The channel's answer to the provider's verification (e.g. the challenge)."}}
)
async def verify(channel: str, identifier: str, request: Request) -> Response:
    """The provider checks the webhook URL; channels without a handshake answer 405."""
    rt = request.app.state.runtime
    remote = request.client.host if request.client else None
    answer = await run_in_threadpool(inbound.handshake, rt, identifier, _request(request), channel, remote)
    return _answer(answer)


@router.post(PATH, response_model=schemas.InboundAccepted, status_code=200)
async def receive(channel: str, identifier: str, request: Request) -> Response:
    """Store the raw request, then verify and ingest it. The channel in the URL must match the inbox's."""
    body = await request.body()
    rt = request.app.state.runtime
    remote = request.client.host if request.client else None
    outcome = await run_in_threadpool(inbound.receive, rt, identifier, _request(request, body), channel, remote)
    if outcome.response is not None:
        return _answer(outcome.response)
    accepted = schemas.InboundAccepted(
        raw_id=outcome.raw_id, message_ids=outcome.message_ids, duplicates=outcome.duplicates
    )
    return JSONResponse(accepted.model_dump())
