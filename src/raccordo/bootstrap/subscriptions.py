"""Who reacts to which domain event: the one place where capabilities are wired to each other.

Services record facts (``platform.domain_events.record``); the handlers below react. Order
matters within an event type and is the order written here: routing queues a new message's
conversation before SLA picks a policy (a policy may match on the queue); SLA settles its clocks
before routing frees capacity on a status change, as the direct calls did.

A new capability (analytics rollups, a survey after resolution, a bot before routing, staffing)
adds its lines here; the service that records the event does not change.

``register`` is idempotent and is called by every composition root that builds a runtime: the
HTTP app (``bootstrap.http.create_app``), the CLI (``cli``), the worker (``bootstrap.worker``)
and the test fixtures.
"""

from __future__ import annotations

from raccordo.accounts.models import Tenant
from raccordo.channels.base import channel_kinds, get_channel
from raccordo.channels.models import Inbox
from raccordo.desk import search_index
from raccordo.platform import config_cache, domain_events
from raccordo.platform.domain_events import IN_TRANSACTION
from raccordo.record.domain.events import (
    ConversationStatusChanged,
    ConversationUpdated,
    MessageReceived,
    ReplySent,
)
from raccordo.routing.models import RoutingQueue, RoutingRule, SlaPolicy
from raccordo.routing.services import subscribers as routing_and_sla


def register() -> None:
    subscribe = domain_events.subscribe
    # A customer's message: routing first, then SLA (a policy may depend on the queue).
    subscribe(MessageReceived, routing_and_sla.route_message, IN_TRANSACTION)
    subscribe(MessageReceived, routing_and_sla.start_or_resume_clocks, IN_TRANSACTION)
    # An agent's reply: the first response is a routing fact; SLA meets the response clocks.
    subscribe(ReplySent, routing_and_sla.note_first_response, IN_TRANSACTION)
    subscribe(ReplySent, routing_and_sla.meet_response_clocks, IN_TRANSACTION)
    # A status change (a person, or a snooze ending): SLA stops, pauses or resumes its clocks.
    subscribe(ConversationStatusChanged, routing_and_sla.follow_status, IN_TRANSACTION)
    # A person changed status or assignee: routing keeps the queue item and its capacity in step.
    subscribe(ConversationUpdated, routing_and_sla.follow_conversation_update, IN_TRANSACTION)
    # The search index follows every write of a message, a subject or a contact in the same
    # transaction, whichever service made it (imports, merges, the widget, the demo), so it watches
    # the session's changes instead of a list of events.
    domain_events.extend_sessions(search_index.install)
    # Channels' own reactions (an SMS opt-out keyword recorded as consent), after the wiring above.
    for kind in channel_kinds():
        channel = get_channel(kind)
        if channel is not None:
            for event_type, handler in channel.subscriptions():
                subscribe(event_type, handler, IN_TRANSACTION)
    # What every message reads and only an administrator changes, cached per process and tenant:
    # a write of one of these rows (any writer) changes the tenant's configuration version.
    config_cache.watch(Tenant, Inbox, RoutingRule, RoutingQueue, SlaPolicy)
