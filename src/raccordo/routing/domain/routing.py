"""Routing (ACD) rules: who may take a waiting conversation, in which order, and which agent gets it.

Pure: the routing service loads queues, waiting items and agents from the database,
asks ``RoutingBoard`` for decisions and writes them back under a per-tenant lock. The
rules here are what the invariants are stated over (tests/routing/test_routing_domain.py):

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

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
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


class RoutingBoard:
    """The agents of one tenant, indexed for fast decisions that equal the full scan's.

    ``decide`` returns the same agent as ``decide_by_full_scan`` (the reference, and the
    bench's baseline) without looking at every agent:

    - longest idle, least occupied, round robin: per (queue, channel), the queue's agents
      that have room on the channel, kept sorted in the strategy's order ((idle since, id),
      (occupancy, idle since, id), id); the decision walks that order and stops at the first
      agent that holds the item's skills. When the item requires skills, the walk is
      bounded by the number of agents holding the rarest required skill at its level (a
      prefix of a per-(queue, skill) list sorted by level, which never changes during a
      pass); past that bound those few candidates are compared directly.
    - best skill: an agent's score for a set of skill names never changes, so the queue's
      agents are grouped by score once per (queue, skill names); the decision walks the
      groups from the best score down and stops at the first group with an eligible agent,
      taking its longest idle.

    ``take`` and ``release`` move only the taken agent in the order lists (sortedcontainers:
    a pure-Python sorted list with O(log n) updates). The board assumes, as the routing
    service does, that agents and policies change only through it while it lives.
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
        # (queue, channel) -> strategy keys of the queue's agents with room on that channel now
        # A queue's strategy picks the key's shape (an id, or a tuple ending in the id), hence Any.
        self._order: dict[tuple[int, str], SortedList[Any]] = {}
        self._channels: dict[int, list[str]] = {}  # queue -> channels with an order list
        # (queue, skill) -> (negated levels ascending, the agents in that order): "level >= n" is a prefix
        self._by_level: dict[tuple[int, str], tuple[list[int], list[AgentState]]] = {}
        # (queue, skill names or None for all skills) -> [(score, agents)], best score first
        self._score_groups: dict[tuple[int, frozenset[str] | None], list[tuple[int, list[AgentState]]]] = {}
        # Requirements no agent could meet: taking work only removes room, so they stay
        # unmet until a release. Only for items with no declines (those are item-specific).
        self._unservable: set[tuple[int, str, tuple[tuple[str, int], ...] | None]] = set()

    # --- indexes -------------------------------------------------------------------------

    def _key(self, queue_id: int, agent: AgentState) -> Any:
        strategy = self.policies[queue_id].strategy
        if strategy == "least_occupied":
            return (agent.occupancy(), agent.idle_since, agent.id)
        if strategy == "round_robin":
            return agent.id
        return (agent.idle_since, agent.id)

    def _order_list(self, queue_id: int, channel: str) -> SortedList[Any]:
        key = (queue_id, channel)
        order = self._order.get(key)
        if order is None:
            order = self._order[key] = SortedList(
                self._key(queue_id, a) for a in self._members.get(queue_id, ()) if a.has_room(channel)
            )
            self._channels.setdefault(queue_id, []).append(channel)
        return order

    def _holders(self, queue_id: int, required: dict[str, int]) -> list[AgentState]:
        """The queue's agents at the required level of the rarest required skill (a superset of those matching)."""
        best: list[AgentState] | None = None
        for skill, level in required.items():
            index = self._by_level.get((queue_id, skill))
            if index is None:
                ranked = sorted(
                    (a for a in self._members.get(queue_id, ()) if a.skills.get(skill, 0) > 0),
                    key=lambda a: (-a.skills[skill], a.id),
                )
                index = self._by_level[(queue_id, skill)] = ([-a.skills[skill] for a in ranked], ranked)
            levels, ranked = index
            end = bisect_right(levels, -level)
            if best is None or end < len(best):
                best = ranked[:end]
        return best or []

    def _groups(self, queue_id: int, names: frozenset[str] | None) -> list[tuple[int, list[AgentState]]]:
        groups = self._score_groups.get((queue_id, names))
        if groups is None:
            by_score: dict[int, list[AgentState]] = {}
            for agent in self._members.get(queue_id, ()):
                score = sum(agent.skills.values()) if names is None else sum(agent.skills.get(s, 0) for s in names)
                by_score.setdefault(score, []).append(agent)
            groups = self._score_groups[(queue_id, names)] = sorted(by_score.items(), key=lambda group: -group[0])
        return groups

    def _move(self, agent: AgentState, change: Callable[[], None]) -> None:
        """Apply ``change`` to the agent and keep the order lists current."""
        before = []
        for queue_id in agent.queues:
            for channel in self._channels.get(queue_id, ()) if agent.online else ():
                before.append((queue_id, channel, self._key(queue_id, agent) if agent.has_room(channel) else None))
        change()
        for queue_id, channel, old in before:
            new = self._key(queue_id, agent) if agent.has_room(channel) else None
            if old != new:
                order = self._order[(queue_id, channel)]
                if old is not None:
                    order.discard(old)
                if new is not None:
                    order.add(new)

    # --- decisions -----------------------------------------------------------------------

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
        if policy.strategy == "best_skill":
            found = self._best_skill(item, policy, now, required)
        else:
            found = self._first_in_order(item, policy, now, required)
        if found is None and cacheable:
            self._unservable.add(signature)
        return found

    def _first_in_order(
        self, item: WaitingItem, policy: QueuePolicy, now: float, required: dict[str, int] | None
    ) -> AgentState | None:
        order = self._order_list(item.queue_id, item.channel)
        if policy.strategy == "round_robin":
            start = order.bisect_right(self.last_picked.get(item.queue_id, -1))
            ids: Iterable[Any] = chain(order.islice(start), order.islice(0, start))
        else:
            ids = (key[-1] for key in order)
        agents, declined = self.agents, item.declined
        if not required:  # everyone in the list has room and the skills: the first not in cool-down
            return next(
                (a for a in (agents[i] for i in ids) if not (declined and declined_recently(item, a.id, policy, now))),
                None,
            )
        holders = self._holders(item.queue_id, required)
        if not holders:
            return None
        for steps, agent_id in enumerate(ids):
            if steps == len(holders):  # a long walk: compare the few holders instead
                return _best(holders, item, policy, now, None, self.last_picked.get(item.queue_id))
            agent = agents[agent_id]
            if skills_match(agent, required) and not (declined and declined_recently(item, agent_id, policy, now)):
                return agent
        return None

    def _best_skill(
        self, item: WaitingItem, policy: QueuePolicy, now: float, required: dict[str, int] | None
    ) -> AgentState | None:
        channel, declined = item.channel, item.declined
        for _, group in self._groups(item.queue_id, frozenset(item.required) if item.required else None):
            best: AgentState | None = None
            for agent in group:
                if (
                    (best is None or (agent.idle_since, agent.id) < (best.idle_since, best.id))
                    and agent.has_room(channel)
                    and skills_match(agent, required)
                    and not (declined and declined_recently(item, agent.id, policy, now))
                ):
                    best = agent
            if best is not None:
                return best
        return None

    def decide_by_full_scan(self, item: WaitingItem, now: float) -> AgentState | None:
        """The reference decision: every agent of the tenant checked against every rule."""
        policy = self.policies[item.queue_id]
        reserved = reserved_for(item, self.agents, policy, now)
        return _best(self.agents.values(), item, policy, now, reserved, self.last_picked.get(item.queue_id))

    def take(self, agent: AgentState, item: WaitingItem, now: float) -> None:
        def change() -> None:
            agent.load[item.channel] = agent.load.get(item.channel, 0) + 1
            agent.idle_since = now

        self._move(agent, change)
        self.last_picked[item.queue_id] = agent.id

    def release(self, agent: AgentState, channel: str) -> None:
        self._unservable.clear()

        def change() -> None:
            agent.load[channel] = max(0, agent.load.get(channel, 0) - 1)

        self._move(agent, change)

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
    candidates: Iterable[AgentState],
    item: WaitingItem,
    policy: QueuePolicy,
    now: float,
    reserved: int | None,
    last_picked: int | None,
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
RULE_FIELDS = (
    "channel",
    "inbox_id",
    "language",
    "label",
    "priority",
    "queue_id",
)  # plus contact.<attribute>, conversation.<attribute>


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
        if not isinstance(name, str) or not (
            name in RULE_FIELDS or (name.startswith(("contact.", "conversation.")) and len(name.split(".", 1)[1]) > 0)
        ):
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
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "contains":
        return isinstance(actual, (str, list)) and expected in actual
    try:
        return bool(actual >= expected if op == "gte" else actual <= expected)
    except TypeError:
        return False


def rule_matches(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> bool:
    """Facts: channel, inbox_id, language, labels, priority, contact (attributes), conversation (attributes)."""
    return all(_holds(condition, facts) for condition in conditions)
