"""Routing (ACD) rules: who may take a waiting conversation, in which order, and which agent gets it.

Pure: the routing service loads queues, waiting items and agents from the database,
asks ``board.RoutingBoard`` for decisions and writes them back under a per-tenant lock. The
rules here are what the invariants are stated over (tests/routing/test_routing_domain.py);
the board (``board.py``) indexes the agents to apply them fast, and which queue a conversation
goes to is decided by the routing rules' conditions (``rules.py``):

- an agent is offered work only when online, a member of the item's queue, under
  capacity on the item's channel (an *exclusive* channel such as voice takes the whole
  agent), holding the skills the item still requires, and not in a decline cool-down;
- required skills relax with waiting time (``RelaxStep``: after N seconds accept level
  k - d, or any agent of the queue), as in bullseye / expanding routing;
- items are served by effective priority (priority plus ageing, capped), then by
  waiting time: a higher effective priority never waits behind a lower one;
- a returning customer's preferred agent, when online in the queue, holds the item for
  ``preferred_agent_seconds`` before anyone else may take it;
- among eligible agents the queue's strategy picks: longest idle, least occupied,
  round robin, or best skill match; ties always break on the agent id, so a decision is
  deterministic and can be checked against a full scan.

Hand-written: no maintained Python library does skills-based contact routing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from raccordo.platform.errors import InvalidInput

Strategy = Literal["longest_idle", "least_occupied", "round_robin", "best_skill"]
STRATEGIES: tuple[str, ...] = ("longest_idle", "least_occupied", "round_robin", "best_skill")
MIN_LEVEL, MAX_LEVEL = 1, 5


@dataclass(frozen=True)
class RelaxStep:
    """After ``after_seconds`` of waiting, lower every required level by ``drop_levels``
    (never below 1); ``drop_levels=None`` means any agent of the queue, skills or not."""

    after_seconds: float
    drop_levels: int | None


@dataclass(frozen=True)
class QueuePolicy:
    id: int
    strategy: str = "longest_idle"
    ageing_per_minute: float = 0.0  # effective priority gained per minute of waiting
    ageing_cap: float = 0.0  # at most this much gained
    relax: tuple[RelaxStep, ...] = ()
    preferred_agent_seconds: float = 0.0
    decline_cooldown_seconds: float = 300.0


@dataclass
class AgentState:
    id: int
    online: bool
    queues: frozenset[int]
    skills: dict[str, int]
    capacity: dict[str, int]  # channel -> conversations at once (missing channel: none)
    exclusive: frozenset[str] = frozenset()  # channels that take the agent's whole attention
    load: dict[str, int] = field(default_factory=dict)  # channel -> assigned + offered now
    idle_since: float = 0.0  # when the agent last got work (epoch seconds); longest idle = smallest

    @property
    def total_load(self) -> int:
        return sum(self.load.values())

    @property
    def total_capacity(self) -> int:
        return sum(self.capacity.values())

    def has_room(self, channel: str) -> bool:
        if self.load.get(channel, 0) >= self.capacity.get(channel, 0):
            return False
        if self.total_load and (channel in self.exclusive or any(self.load.get(c, 0) for c in self.exclusive)):
            return False
        return True

    def occupancy(self) -> float:
        capacity = self.total_capacity
        return self.total_load / capacity if capacity else 1.0


@dataclass
class WaitingItem:
    id: int
    queue_id: int
    channel: str
    priority: int
    required: dict[str, int]  # skill -> minimum level
    queued_at: float  # entered this queue (epoch seconds)
    declined: dict[int, float] = field(default_factory=dict)  # agent id -> when they declined or let the offer expire
    preferred_agent: int | None = None


def effective_priority(item: WaitingItem, policy: QueuePolicy, now: float) -> float:
    waited_minutes = max(0.0, now - item.queued_at) / 60.0
    return item.priority + min(policy.ageing_cap, policy.ageing_per_minute * waited_minutes)


def required_levels(item: WaitingItem, policy: QueuePolicy, now: float) -> dict[str, int] | None:
    """The skills still required after relaxation; None means any agent of the queue."""
    waited = max(0.0, now - item.queued_at)
    drop = 0
    for step in sorted(policy.relax, key=lambda s: s.after_seconds):
        if waited < step.after_seconds:
            break
        if step.drop_levels is None:
            return None
        drop = max(drop, step.drop_levels)
    return {skill: max(MIN_LEVEL, level - drop) for skill, level in item.required.items()}


def next_relaxation(item: WaitingItem, policy: QueuePolicy, now: float) -> float | None:
    """When this item's requirements next relax (to wake the router then), or None."""
    times = [item.queued_at + s.after_seconds for s in policy.relax if item.queued_at + s.after_seconds > now]
    return min(times) if times else None


def skills_match(agent: AgentState, required: dict[str, int] | None) -> bool:
    return required is None or all(agent.skills.get(skill, 0) >= level for skill, level in required.items())


def declined_recently(item: WaitingItem, agent_id: int, policy: QueuePolicy, now: float) -> bool:
    at = item.declined.get(agent_id)
    return at is not None and now - at < policy.decline_cooldown_seconds


def reserved_for(item: WaitingItem, agents: dict[int, AgentState], policy: QueuePolicy, now: float) -> int | None:
    """The preferred agent while the item is held for them: online, in the queue, within the hold time."""
    preferred = item.preferred_agent
    if preferred is None or now - item.queued_at >= policy.preferred_agent_seconds:
        return None
    agent = agents.get(preferred)
    if agent is None or not agent.online or item.queue_id not in agent.queues:
        return None
    return preferred


_UNSET: dict[str, int] = {}


def eligible(
    agent: AgentState,
    item: WaitingItem,
    policy: QueuePolicy,
    now: float,
    reserved: int | None = None,
    required: dict[str, int] | None = _UNSET,
) -> bool:
    """May ``agent`` be given ``item`` now? ``reserved``: the agent the item is held for, if
    any; ``required``: ``required_levels`` when the caller already computed it."""
    return (
        agent.online
        and item.queue_id in agent.queues
        and (reserved is None or agent.id == reserved)
        and agent.has_room(item.channel)
        and not declined_recently(item, agent.id, policy, now)
        and skills_match(agent, required_levels(item, policy, now) if required is _UNSET else required)
    )


def skill_score(agent: AgentState, item: WaitingItem) -> int:
    if item.required:
        return sum(agent.skills.get(skill, 0) for skill in item.required)
    return sum(agent.skills.values())


def strategy_key(
    agent: AgentState, item: WaitingItem, policy: QueuePolicy, last_picked: int | None
) -> tuple[float, ...]:
    """Smaller is better; every key ends with the agent id so decisions are deterministic."""
    if policy.strategy == "least_occupied":
        return (agent.occupancy(), agent.idle_since, agent.id)
    if policy.strategy == "round_robin":
        after = last_picked if last_picked is not None else -1
        return (0 if agent.id > after else 1, agent.id)
    if policy.strategy == "best_skill":
        return (-skill_score(agent, item), agent.idle_since, agent.id)
    return (agent.idle_since, agent.id)


def item_order_key(item: WaitingItem, policy: QueuePolicy, now: float) -> tuple[float, float, int]:
    return (-effective_priority(item, policy, now), item.queued_at, item.id)


def validate_policy(strategy: str, relax: Sequence[RelaxStep]) -> None:
    if strategy not in STRATEGIES:
        raise InvalidInput("routing.strategy_unknown", field="strategy", value=strategy)
    for index, step in enumerate(relax):
        if step.after_seconds < 0 or (step.drop_levels is not None and step.drop_levels < 1):
            raise InvalidInput("routing.relax_invalid", field=f"relax.{index}")


def validate_levels(skills: dict[str, int], where: str) -> None:
    for name, level in skills.items():
        if not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
            raise InvalidInput("routing.level_invalid", field=f"{where}.{name}", value=str(level))


def best_agent(
    candidates: Iterable[AgentState],
    item: WaitingItem,
    policy: QueuePolicy,
    now: float,
    reserved: int | None,
    last_picked: int | None,
) -> AgentState | None:
    """The full scan's pick among ``candidates``: the eligible agent with the smallest strategy key."""
    best: AgentState | None = None
    best_key: tuple[float, ...] | None = None
    required = required_levels(item, policy, now)
    for agent in candidates:
        if not eligible(agent, item, policy, now, reserved, required):
            continue
        key = strategy_key(agent, item, policy, last_picked)
        if best_key is None or key < best_key:
            best, best_key = agent, key
    return best
