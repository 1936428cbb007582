"""The signed-in agent's current load against their capacity, per channel (the desktop header).

Load is counted exactly as routing counts it (``routing.agent_loads``: open and pending
conversations assigned to the agent plus offers awaiting an answer); capacity is the agent's
own setting over the channel's default, as in ``routing.load_agents``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.models import Inbox
from raccordo.routing.models import AgentCapacity
from raccordo.routing.services.routing_pass import agent_loads, default_capacity


@dataclass(frozen=True)
class ChannelLoad:
    channel: str
    load: int
    capacity: int

    @property
    def full(self) -> bool:
        return self.load >= self.capacity


def my_load(session: Session, actor: Actor) -> list[ChannelLoad]:
    """One row per installed channel the tenant has an active inbox on (or the agent has work on), sorted by channel."""
    actor.require(Permission.READ)
    assert actor.user_id is not None
    defaults, _ = default_capacity()
    profile = session.scalars(
        select(AgentCapacity).where(AgentCapacity.tenant_id == actor.tenant_id, AgentCapacity.user_id == actor.user_id)
    ).first()
    capacity = {**defaults, **{k: int(v) for k, v in ((profile.capacity or {}) if profile else {}).items()}}
    load = agent_loads(session, actor.tenant_id, actor.user_id).get(actor.user_id, {})
    channels = set(
        session.scalars(
            select(Inbox.channel).where(Inbox.tenant_id == actor.tenant_id, Inbox.active.is_(True)).distinct()
        )
    )
    channels |= {channel for channel, count in load.items() if count and channel}
    # Only channels with a module: the others (history-only inboxes) are never routed, and
    # "Messenger 1/0" would read as a full channel.
    channels &= set(defaults)
    return [ChannelLoad(channel, load.get(channel, 0), capacity.get(channel, 0)) for channel in sorted(channels)]
