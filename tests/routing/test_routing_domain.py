"""Routing rules and their invariants, over random sequences of arrivals, presence changes,
offers accepted, declined and timed out, transfers and resolutions (hypothesis, stateful).

After every routing pass:
- no conversation is with two agents, no agent is over capacity (exclusive channels too);
- no waiting conversation is left while an agent eligible for it has room;
- a higher effective priority never waits behind a lower one in the same queue;
- the indexed decision equals the reference full scan of every agent.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from raccordo.platform.errors import InvalidInput
from raccordo.routing.domain.board import RoutingBoard
from raccordo.routing.domain.routing import (
    STRATEGIES,
    AgentState,
    QueuePolicy,
    RelaxStep,
    WaitingItem,
    effective_priority,
    eligible,
    next_relaxation,
    required_levels,
    reserved_for,
    validate_levels,
    validate_policy,
)

CHANNELS = ("chat", "email", "voice")
SKILLS = ("it", "en", "billing")


def agent(agent_id: int, **kwargs) -> AgentState:
    defaults = {
        "online": True,
        "queues": frozenset({1}),
        "skills": {},
        "capacity": {"chat": 2, "email": 3, "voice": 1},
        "exclusive": frozenset({"voice"}),
    }
    return AgentState(agent_id, **{**defaults, **kwargs})


def item(item_id: int, **kwargs) -> WaitingItem:
    defaults = {"queue_id": 1, "channel": "chat", "priority": 0, "required": {}, "queued_at": 0.0}
    return WaitingItem(item_id, **{**defaults, **kwargs})


# --- examples ------------------------------------------------------------------------------------


def test_relaxation_lowers_levels_then_accepts_anyone():
    policy = QueuePolicy(1, relax=(RelaxStep(30, 1), RelaxStep(60, None)))
    waiting = item(1, required={"billing": 4, "it": 1})
    assert required_levels(waiting, policy, 10) == {"billing": 4, "it": 1}
    assert required_levels(waiting, policy, 31) == {"billing": 3, "it": 1}
    assert required_levels(waiting, policy, 61) is None
    assert next_relaxation(waiting, policy, 10) == 30 and next_relaxation(waiting, policy, 61) is None
    junior = agent(7, skills={"billing": 3, "it": 2})
    assert not eligible(junior, waiting, policy, 10) and eligible(junior, waiting, policy, 31)


def test_ageing_raises_priority_up_to_the_cap():
    policy = QueuePolicy(1, ageing_per_minute=2, ageing_cap=5)
    old = item(1, priority=1, queued_at=0)
    assert effective_priority(old, policy, 60) == 3 and effective_priority(old, policy, 3600) == 6
    young_urgent = item(2, priority=5, queued_at=3597)  # 5.1 after 3 s
    board = RoutingBoard([agent(1, capacity={"chat": 1})], {1: policy})
    ((first, _),) = board.plan([young_urgent, old], 3600)
    assert first.id == 1, "aged from 1 to 6, it overtakes the younger priority 5"


def test_exclusive_voice_takes_the_whole_agent():
    busy = agent(1, load={"chat": 1})
    assert not busy.has_room("voice") and busy.has_room("chat")
    on_call = agent(2, load={"voice": 1})
    assert not on_call.has_room("chat") and not on_call.has_room("voice")


def test_strategies_pick_as_documented():
    idle = agent(1, idle_since=10, skills={"billing": 2}, load={"chat": 1})
    busy_expert = agent(2, idle_since=50, skills={"billing": 5}, load={"chat": 1, "email": 2})
    free = agent(3, idle_since=30, skills={"billing": 3})
    waiting = item(1, required={"billing": 1})
    for strategy, expected in (("longest_idle", 1), ("least_occupied", 3), ("best_skill", 2), ("round_robin", 1)):
        board = RoutingBoard(copy.deepcopy([idle, busy_expert, free]), {1: QueuePolicy(1, strategy=strategy)})
        assert board.decide(waiting, 100).id == expected, strategy
    board = RoutingBoard(
        [agent(n, capacity={"chat": 9}) for n in (1, 2, 3)], {1: QueuePolicy(1, strategy="round_robin")}
    )
    picked = [board.plan([item(n)], 100)[0][1].id for n in range(4)]
    assert picked == [1, 2, 3, 1]


def test_preferred_agent_holds_the_item_then_lets_go():
    policy = QueuePolicy(1, preferred_agent_seconds=60)
    full = agent(1, capacity={"chat": 1}, load={"chat": 1})
    other = agent(2)
    board = RoutingBoard([full, other], {1: policy})
    returning = item(1, preferred_agent=1)
    assert reserved_for(returning, board.agents, policy, 10) == 1
    assert board.decide(returning, 10) is None, "held for the agent who served them last"
    assert board.decide(returning, 61).id == 2, "after the hold, anyone"
    full.online = False
    assert RoutingBoard([full, other], {1: policy}).decide(returning, 10).id == 2, (
        "an offline preferred agent holds nothing"
    )


def test_declined_agent_cools_down():
    policy = QueuePolicy(1, decline_cooldown_seconds=60)
    only = agent(1)
    refused = item(1, declined={1: 100.0})
    board = RoutingBoard([only], {1: policy})
    assert board.decide(refused, 120) is None and board.decide(refused, 161).id == 1


def test_validation_names_the_field():
    with pytest.raises(InvalidInput) as raised:
        validate_policy("fastest", ())
    assert raised.value.field == "strategy"
    with pytest.raises(InvalidInput) as raised:
        validate_policy("round_robin", (RelaxStep(10, 0),))
    assert raised.value.field == "relax.0"
    with pytest.raises(InvalidInput) as raised:
        validate_levels({"it": 6}, "skills")
    assert raised.value.field == "skills.it"


# --- properties ----------------------------------------------------------------------------------

agents_strategy = st.lists(
    st.builds(
        lambda online, queues, skills, capacity, idle, exclusive: AgentState(
            0,
            online,
            frozenset(queues),
            skills,
            capacity,
            frozenset({"voice"}) if exclusive else frozenset(),
            {},
            idle,
        ),
        st.booleans(),
        st.sets(st.integers(1, 2), min_size=1),
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5)),
        st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 3)),
        st.integers(0, 100).map(float),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)
items_strategy = st.lists(
    st.builds(
        lambda queue, channel, priority, required, queued, preferred: WaitingItem(
            0, queue, channel, priority, required, float(queued), {}, preferred
        ),
        st.integers(1, 2),
        st.sampled_from(CHANNELS),
        st.integers(0, 3),
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=2),
        st.integers(0, 200),
        st.none() | st.integers(1, 12),
    ),
    max_size=30,
)
policies_strategy = st.fixed_dictionaries(
    {
        q: st.builds(
            lambda strategy, ageing, cap, relax, preferred, q=q: QueuePolicy(
                q, strategy, ageing, cap, relax, preferred
            ),
            st.sampled_from(STRATEGIES),
            st.floats(0, 3),
            st.floats(0, 5),
            st.lists(
                st.builds(RelaxStep, st.integers(0, 300).map(float), st.none() | st.integers(1, 3)), max_size=2
            ).map(tuple),
            st.sampled_from([0.0, 60.0]),
        )
        for q in (1, 2)
    }
)


def _numbered(agents: list[AgentState], items: list[WaitingItem]) -> None:
    for number, one in enumerate(agents, start=1):
        one.id = number
    for number, one in enumerate(items, start=1):
        one.id = number


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents_strategy, items_strategy, policies_strategy, st.integers(200, 500).map(float))
def test_indexed_decisions_equal_the_full_scan(agents, items, policies, now):
    _numbered(agents, items)
    board = RoutingBoard(agents, policies)
    for waiting in sorted(items, key=lambda i: i.id):
        indexed, scanned = board.decide(waiting, now), board.decide_by_full_scan(waiting, now)
        assert (indexed.id if indexed else None) == (scanned.id if scanned else None)
        if indexed is not None:
            board.take(indexed, waiting, now)


def check_plan(
    agents: list[AgentState], policies: dict[int, QueuePolicy], waiting: list[WaitingItem], now: float
) -> list[tuple[WaitingItem, AgentState]]:
    """Run one routing pass on copies and assert every invariant about its decisions."""
    before = copy.deepcopy({a.id: a for a in agents})
    board = RoutingBoard(copy.deepcopy(agents), policies)
    decisions = board.plan(copy.deepcopy(waiting), now)
    decided_ids = [w.id for w, _ in decisions]
    assert len(decided_ids) == len(set(decided_ids)), "an item given twice"
    # Replay the decisions on the state before, with the plain rules only.
    state = before
    decided_so_far: set[int] = set()
    for taken, chosen in decisions:
        policy = policies[taken.queue_id]
        reserved = reserved_for(taken, state, policy, now)
        assert eligible(state[chosen.id], taken, policy, now, reserved), "given to an agent not eligible"
        for other in waiting:
            if other.id in decided_so_far or other.id == taken.id or other.queue_id != taken.queue_id:
                continue
            if effective_priority(other, policy, now) > effective_priority(taken, policy, now):
                other_reserved = reserved_for(other, state, policy, now)
                assert not eligible(state[chosen.id], other, policy, now, other_reserved), (
                    "a higher priority waited behind a lower one"
                )
        state[chosen.id].load[taken.channel] = state[chosen.id].load.get(taken.channel, 0) + 1
        decided_so_far.add(taken.id)
    for one in state.values():
        for channel, load in one.load.items():
            assert load <= one.capacity.get(channel, 0), "over capacity"
        if any(one.load.get(c, 0) for c in one.exclusive):
            assert one.total_load == 1, "an exclusive channel shared with other work"
    for left in waiting:
        if left.id in decided_so_far:
            continue
        policy = policies[left.queue_id]
        reserved = reserved_for(left, state, policy, now)
        assert not any(eligible(a, left, policy, now, reserved) for a in state.values()), (
            "a waiting item skipped while an eligible agent has room"
        )
    return decisions


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents_strategy, items_strategy, policies_strategy, st.integers(200, 500).map(float))
def test_one_pass_keeps_every_invariant(agents, items, policies, now):
    _numbered(agents, items)
    check_plan(agents, policies, items, now)


class RoutingSimulation(RuleBasedStateMachine):
    """A tenant over time: every rule changes the world, then a routing pass checks the invariants."""

    @initialize(agents=agents_strategy, policies=policies_strategy, offers=st.booleans())
    def setup(self, agents, policies, offers):
        _numbered(agents, [])
        self.agents = {a.id: a for a in agents}
        self.policies = policies
        self.offers = offers  # offer with timeout, or assign directly
        self.now = 1000.0
        self.waiting: dict[int, WaitingItem] = {}
        self.offered: dict[int, tuple[WaitingItem, int, float]] = {}  # item -> (item, agent, expires)
        self.assigned: dict[int, tuple[WaitingItem, int]] = {}
        self.next_id = 1

    def _load(self, agent_id: int, channel: str, delta: int) -> None:
        one = self.agents[agent_id]
        one.load[channel] = one.load.get(channel, 0) + delta
        assert one.load[channel] >= 0

    @rule(
        queue=st.integers(1, 2),
        channel=st.sampled_from(CHANNELS),
        priority=st.integers(0, 3),
        required=st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=2),
        preferred=st.none() | st.integers(1, 12),
    )
    def arrive(self, queue, channel, priority, required, preferred):
        self.waiting[self.next_id] = WaitingItem(
            self.next_id, queue, channel, priority, required, self.now, {}, preferred
        )
        self.next_id += 1

    @rule(data=st.data())
    def presence(self, data):
        one = self.agents[data.draw(st.sampled_from(sorted(self.agents)))]
        one.online = not one.online

    @rule(seconds=st.integers(1, 120))
    def tick(self, seconds):
        self.now += seconds
        for item_id, (waiting, agent_id, expires) in list(self.offered.items()):
            if expires <= self.now:  # offer timed out: counts as a decline
                del self.offered[item_id]
                self._load(agent_id, waiting.channel, -1)
                waiting.declined[agent_id] = self.now
                self.waiting[item_id] = waiting

    @precondition(lambda self: self.offered)
    @rule(data=st.data(), accept=st.booleans())
    def answer_offer(self, data, accept):
        item_id = data.draw(st.sampled_from(sorted(self.offered)))
        waiting, agent_id, _ = self.offered.pop(item_id)
        if accept:
            self.assigned[item_id] = (waiting, agent_id)
        else:
            self._load(agent_id, waiting.channel, -1)
            waiting.declined[agent_id] = self.now
            self.waiting[item_id] = waiting

    @precondition(lambda self: self.assigned)
    @rule(data=st.data())
    def resolve(self, data):
        item_id = data.draw(st.sampled_from(sorted(self.assigned)))
        waiting, agent_id = self.assigned.pop(item_id)
        self._load(agent_id, waiting.channel, -1)

    @precondition(lambda self: self.assigned or self.waiting)
    @rule(data=st.data(), queue=st.integers(1, 2))
    def transfer_to_queue(self, data, queue):
        item_id = data.draw(st.sampled_from(sorted({*self.assigned, *self.waiting})))
        if item_id in self.assigned:
            waiting, agent_id = self.assigned.pop(item_id)
            self._load(agent_id, waiting.channel, -1)
        else:
            waiting = self.waiting.pop(item_id)
        waiting.queue_id, waiting.queued_at, waiting.declined = queue, self.now, {}
        self.waiting[item_id] = waiting

    @rule()
    def route(self):
        decisions = check_plan(list(self.agents.values()), self.policies, list(self.waiting.values()), self.now)
        for taken, chosen in decisions:
            waiting = self.waiting.pop(taken.id)
            assert taken.id not in self.offered and taken.id not in self.assigned
            self._load(chosen.id, waiting.channel, +1)
            self.agents[chosen.id].idle_since = self.now
            if self.offers:
                self.offered[taken.id] = (waiting, chosen.id, self.now + 30)
            else:
                self.assigned[taken.id] = (waiting, chosen.id)

    @invariant()
    def each_item_in_one_place(self):
        if not hasattr(self, "agents"):
            return
        places = [set(self.waiting), set(self.offered), set(self.assigned)]
        assert sum(len(p) for p in places) == len(set().union(*places))


TestRoutingSimulation = RoutingSimulation.TestCase
TestRoutingSimulation.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
