"""The routing board: the agents of one tenant indexed so that each decision looks at a few agents,
not all of them, and still equals the full scan of ``routing.best_agent`` (the reference and the
bench's baseline). Pure, like the rules it applies (``routing.py``)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from sortedcontainers import SortedList

from raccordo.routing.domain.routing import (
    AgentState,
    QueuePolicy,
    WaitingItem,
    best_agent,
    declined_recently,
    item_order_key,
    required_levels,
    reserved_for,
    skills_match,
)


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
            return best_agent([self.agents[reserved]], item, policy, now, reserved, self.last_picked.get(item.queue_id))
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
                return best_agent(holders, item, policy, now, None, self.last_picked.get(item.queue_id))
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
        return best_agent(self.agents.values(), item, policy, now, reserved, self.last_picked.get(item.queue_id))

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
