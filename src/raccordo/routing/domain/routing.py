"""Routing (ACD) rules: who may take a waiting conversation, in which order, and which agent gets it.

Pure: the routing service loads queues, waiting items and agents from the database,
asks ``RoutingBoard`` for decisions and writes them back under a per-tenant lock. The
rules here are what the invariants are stated over (tests/test_routing_domain.py):

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
from typing import Any, Literal

from sortedcontainers import SortedList

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
    agent: AgentState, item: WaitingItem, policy: QueuePolicy, now: float, reserved: int | None = None,
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


def strategy_key(agent: AgentState, item: WaitingItem, policy: QueuePolicy, last_picked: int | None) -> tuple[float, ...]:
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


class RoutingBoard:
    """The agents of one tenant, indexed by queue and channel, for fast decisions.

    ``decide`` returns the same agent as ``decide_by_full_scan`` (the reference, and the
    bench's baseline) but looks only at the agents of the item's queue that have room on
    its channel, kept sorted in each strategy's order: (idle since, id) for longest idle,
    (occupancy, idle since, id) for least occupied, ids from the last one picked for round
    robin; it walks that order and stops at the first eligible agent. Best skill depends
    on the item's skills, so it compares every agent with room. ``take`` and ``release`` keep the
    index current. (sortedcontainers: a pure-Python sorted list with O(log n) updates.)
    """

    def __init__(self, agents: Iterable[AgentState], policies: dict[int, QueuePolicy]) -> None:
        self.agents = {a.id: a for a in agents}
        self.policies = policies
        self.last_picked: dict[int, int] = {}  # queue id -> agent id (round robin)
        self._members: dict[int, list[AgentState]] = {}
        for agent in self.agents.values():
            if agent.online:
                for queue_id in agent.queues:
                    self._members.setdefault(queue_id, []).append(agent)
        # (queue, channel) -> (idle_since, id) of the queue's agents with room on that channel now
        self._room: dict[tuple[int, str], SortedList] = {}
        self._by_id: dict[tuple[int, str], SortedList] = {}
        self._by_occupancy: dict[tuple[int, str], SortedList] = {}
        # Requirements no agent could meet: taking work only removes room, so they stay
        # unmet until a release. Only for items with no declines (those are item-specific).
        self._unservable: set[tuple[int, str, tuple[tuple[str, int], ...] | None]] = set()

    def _index(self, queue_id: int, channel: str) -> tuple[SortedList, SortedList]:
        key = (queue_id, channel)
        if key not in self._room:
            members = [a for a in self._members.get(queue_id, ()) if a.has_room(channel)]
            self._room[key] = SortedList((a.idle_since, a.id) for a in members)
            self._by_id[key] = SortedList(a.id for a in members)
            self._by_occupancy[key] = SortedList((a.occupancy(), a.idle_since, a.id) for a in members)
        return self._room[key], self._by_id[key]

    def _unindex(self, agent: AgentState) -> None:
        for key, by_idle in self._room.items():
            if key[0] in agent.queues:
                by_idle.discard((agent.idle_since, agent.id))
                self._by_id[key].discard(agent.id)
                self._by_occupancy[key].discard((agent.occupancy(), agent.idle_since, agent.id))

    def _reindex(self, agent: AgentState) -> None:
        if not agent.online:
            return
        for (queue_id, channel), by_idle in self._room.items():
            if queue_id in agent.queues and agent.has_room(channel):
                by_idle.add((agent.idle_since, agent.id))
                self._by_id[(queue_id, channel)].add(agent.id)
                self._by_occupancy[(queue_id, channel)].add((agent.occupancy(), agent.idle_since, agent.id))

    def _ordered(self, item: WaitingItem, policy: QueuePolicy) -> Iterable[AgentState]:
        by_idle, by_id = self._index(item.queue_id, item.channel)
        if policy.strategy == "round_robin":
            start = by_id.bisect_right(self.last_picked.get(item.queue_id, -1))
            return (self.agents[i] for i in [*by_id.islice(start), *by_id.islice(0, start)])
        if policy.strategy == "least_occupied":
            return (self.agents[agent_id] for _, _, agent_id in self._by_occupancy[(item.queue_id, item.channel)])
        return (self.agents[agent_id] for _, agent_id in by_idle)

    def decide(self, item: WaitingItem, now: float) -> AgentState | None:
        policy = self.policies[item.queue_id]
        reserved = reserved_for(item, self.agents, policy, now)
        if reserved is not None:
            return _best([self.agents[reserved]], item, policy, now, reserved, self.last_picked.get(item.queue_id))
        required = required_levels(item, policy, now)
        signature = (item.queue_id, item.channel, tuple(sorted(required.items())) if required is not None else None)
        cacheable = not item.declined
        if cacheable and signature in self._unservable:
            return None
        candidates = self._ordered(item, policy)
        if policy.strategy in ("longest_idle", "round_robin", "least_occupied"):
            # The index is already in the strategy's order: the first eligible agent wins.
            found = next((agent for agent in candidates if eligible(agent, item, policy, now, None, required)), None)
        else:
            found = _best(candidates, item, policy, now, None, self.last_picked.get(item.queue_id))
        if found is None and cacheable:
            self._unservable.add(signature)
        return found

    def decide_by_full_scan(self, item: WaitingItem, now: float) -> AgentState | None:
        """The reference decision: every agent of the tenant checked against every rule."""
        policy = self.policies[item.queue_id]
        reserved = reserved_for(item, self.agents, policy, now)
        return _best(self.agents.values(), item, policy, now, reserved, self.last_picked.get(item.queue_id))

    def take(self, agent: AgentState, item: WaitingItem, now: float) -> None:
        self._unindex(agent)
        agent.load[item.channel] = agent.load.get(item.channel, 0) + 1
        agent.idle_since = now
        self.last_picked[item.queue_id] = agent.id
        self._reindex(agent)

    def release(self, agent: AgentState, channel: str) -> None:
        self._unservable.clear()
        self._unindex(agent)
        agent.load[channel] = max(0, agent.load.get(channel, 0) - 1)
        self._reindex(agent)

    def plan(self, items: Iterable[WaitingItem], now: float) -> list[tuple[WaitingItem, AgentState]]:
        """Serve waiting items in priority order; each decision takes the agent's capacity."""
        ordered = sorted(items, key=lambda i: item_order_key(i, self.policies[i.queue_id], now))
        decisions = []
        for item in ordered:
            agent = self.decide(item, now)
            if agent is not None:
                self.take(agent, item, now)
                decisions.append((item, agent))
        return decisions


def _best(
    candidates: Iterable[AgentState], item: WaitingItem, policy: QueuePolicy, now: float, reserved: int | None, last_picked: int | None,
) -> AgentState | None:
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


# --- routing rules -------------------------------------------------------------------------------

RULE_OPERATORS = ("eq", "ne", "in", "not_in", "contains", "exists", "gte", "lte")
RULE_FIELDS = ("channel", "inbox_id", "language", "label", "priority", "queue_id")  # plus contact.<attribute>, conversation.<attribute>


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """``[{"field": "contact.vip", "op": "eq", "value": true}, ...]``; all must hold (an empty list matches everything)."""
    if not isinstance(conditions, list):
        raise InvalidInput("routing.conditions_invalid", field="conditions")
    clean = []
    for index, condition in enumerate(conditions):
        where = f"conditions.{index}"
        if not isinstance(condition, dict):
            raise InvalidInput("routing.conditions_invalid", field=where)
        name, op = condition.get("field"), condition.get("op", "eq")
        if not isinstance(name, str) or not (name in RULE_FIELDS or (name.startswith(("contact.", "conversation.")) and len(name.split(".", 1)[1]) > 0)):
            raise InvalidInput("routing.condition_field_unknown", field=f"{where}.field", value=str(name))
        if op not in RULE_OPERATORS:
            raise InvalidInput("routing.condition_op_unknown", field=f"{where}.op", value=str(op))
        if op in ("in", "not_in") and not isinstance(condition.get("value"), list):
            raise InvalidInput("routing.condition_needs_list", field=f"{where}.value")
        clean.append({"field": name, "op": op, "value": condition.get("value")})
    return clean


def _fact(facts: dict[str, Any], name: str) -> Any:
    if name.startswith("contact."):
        return (facts.get("contact") or {}).get(name.split(".", 1)[1])
    if name.startswith("conversation."):
        return (facts.get("conversation") or {}).get(name.split(".", 1)[1])
    return facts.get(name)


def _holds(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
    op, expected = condition["op"], condition["value"]
    if condition["field"] == "label":  # labels are a set: eq/contains mean "has the label"
        labels = set(facts.get("labels") or ())
        if op in ("eq", "contains"):
            return expected in labels
        if op == "ne":
            return expected not in labels
        if op == "in":
            return bool(labels & set(expected))
        if op == "not_in":
            return not labels & set(expected)
        if op == "exists":
            return bool(labels) == bool(expected if expected is not None else True)
        return False
    actual = _fact(facts, condition["field"])
    if op == "exists":
        return (actual is not None) == bool(expected if expected is not None else True)
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "contains":
        return isinstance(actual, (str, list)) and expected in actual
    try:
        return actual >= expected if op == "gte" else actual <= expected
    except TypeError:
        return False


def rule_matches(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> bool:
    """Facts: channel, inbox_id, language, labels, priority, contact (attributes), conversation (attributes)."""
    return all(_holds(condition, facts) for condition in conditions)
