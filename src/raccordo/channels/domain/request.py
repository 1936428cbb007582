"""The provider's HTTP request as a channel sees it, and what the channel answers. Pure.

Every inbound request is kept whole (method, URL, query, headers, body) because providers sign
different parts of it: Stripe-style schemes sign the body, Twilio signs the full URL plus the
sorted form parameters, Meta answers a ``GET`` verification with a query parameter. A channel
verifies from this object alone, so a stored request can be verified and parsed again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class InboundRequest:
    """One request to the webhook route (or a message a poller fetched, with ``method="POLL"``).

    ``url`` is the URL the provider called, as the public address names it (scheme and host
    included, query string included), which is what URL-signing providers sign. ``headers`` have
    lower-case names."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    query: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> InboundRequest:
        """A request with its query parsed from ``url`` and its header names lower-cased."""
        query = tuple(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        return cls(method.upper(), url, {k.lower(): v for k, v in headers.items()}, body, query)

    @classmethod
    def polled(cls, source: str, body: bytes, headers: dict[str, str] | None = None) -> InboundRequest:
        """A payload a poller fetched (an email from IMAP): no HTTP request, ``source`` says where from."""
        return cls("POLL", source, {k.lower(): v for k, v in (headers or {}).items()}, body)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def query_value(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    def form(self) -> list[tuple[str, str]]:
        """The body's ``application/x-www-form-urlencoded`` parameters, in order (empty for other bodies)."""
        if self.content_type != "application/x-www-form-urlencoded":
            return []
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass(frozen=True)
class WebhookResponse:
    """A provider-specific answer (TwiML, a handshake challenge); without one the route answers its own JSON."""

    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
