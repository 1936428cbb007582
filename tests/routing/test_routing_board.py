"""The indexed routing board (order lists, skill-level prefixes, best-skill score groups)
against the reference full scan, over random interleavings of decisions, takes, releases and
declines, with enough agents that the bounded walk falls back to comparing skill holders."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raccordo.routing.domain.board import RoutingBoard
from raccordo.routing.domain.routing import STRATEGIES, AgentState, QueuePolicy, RelaxStep, WaitingItem

CHANNELS = ("chat", "email", "voice")
SKILLS = ("it", "en", "billing", "vip")

agents_strategy = st.lists(
    st.builds(
        lambda online, queues, skills, capacity, idle, load: AgentState(
            0, online, frozenset(queues), skills, capacity, frozenset({"voice"}), load, idle
        ),
        st.booleans() | st.just(True),
        st.sets(st.integers(1, 2), min_size=1),
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=1),
        st.fixed_dictionaries({"chat": st.integers(0, 4), "email": st.integers(1, 4), "voice": st.integers(0, 1)}),
        st.integers(0, 20).map(float),  # few distinct values: ties on idle time break on the id
        st.dictionaries(st.sampled_from(("chat", "email")), st.integers(0, 1)),
    ),
    min_size=5,
    max_size=40,
)
steps_strategy = st.lists(
    st.tuples(
        st.sampled_from(("decide", "decide", "decide", "release", "decline")),
        st.integers(1, 2),
        st.sampled_from(CHANNELS),
        st.just({}) | st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=2),
        st.integers(0, 200),
        st.integers(1, 40),
    ),
    min_size=10,
    max_size=60,
)
policies_strategy = st.fixed_dictionaries(
    {
        q: st.builds(
            lambda strategy, relax, q=q: QueuePolicy(q, strategy, relax=relax, decline_cooldown_seconds=100.0),
            st.sampled_from(STRATEGIES),
            st.lists(
                st.builds(RelaxStep, st.integers(0, 300).map(float), st.none() | st.integers(1, 3)), max_size=2
            ).map(tuple),
        )
        for q in (1, 2)
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents_strategy, steps_strategy, policies_strategy)
def test_board_decisions_equal_the_full_scan_through_takes_releases_and_declines(agents, steps, policies):
    for number, one in enumerate(agents, start=1):
        one.id = number
    board = RoutingBoard(agents, policies)
    now = 300.0
    for index, (action, queue_id, channel, required, queued, agent_id) in enumerate(steps, start=1):
        now += 1
        if action == "release":
            chosen = board.agents.get(agent_id)
            if chosen is not None and chosen.load.get(channel, 0):
                board.release(chosen, channel)
            continue
        waiting = WaitingItem(index, queue_id, channel, 0, required, float(queued))
        if action == "decline":
            waiting.declined = {agent_id: now - 50, agent_id % 7 + 1: now - 150}
        indexed, scanned = board.decide(waiting, now), board.decide_by_full_scan(waiting, now)
        assert (indexed.id if indexed else None) == (scanned.id if scanned else None)
        if indexed is not None:
            board.take(indexed, waiting, now)
