"""Round robin: pure rotation, and its invariants under Hypothesis."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.sales.roundrobin import Candidate, pick_next, rotation


def test_rotation_starts_after_the_last_one():
    people = [Candidate(3), Candidate(1), Candidate(2)]
    assert [c.user_id for c in rotation(people, None)] == [1, 2, 3]
    assert [c.user_id for c in rotation(people, 2)] == [3, 1, 2]
    assert [c.user_id for c in rotation(people, 3)] == [1, 2, 3]


def test_a_member_who_left_still_positions_the_turn():
    people = [Candidate(1), Candidate(5), Candidate(9)]
    # user 6 got the last lead and then left the team: the next is the next id after 6
    assert pick_next(people, 6).chosen.user_id == 9


def test_skips_away_and_full_members_and_says_why():
    people = [
        Candidate(1, is_away=True),
        Candidate(2, open_leads=3, capacity=3),
        Candidate(3, open_leads=0, capacity=3),
    ]
    pick = pick_next(people, None)
    assert pick.chosen.user_id == 3
    assert [(c.user_id, why) for c, why in pick.skipped] == [
        (1, "away"),
        (2, "at capacity 3/3"),
    ]


def test_nobody_eligible_returns_none():
    pick = pick_next([Candidate(1, is_away=True), Candidate(2, open_leads=1, capacity=1)], 1)
    assert pick.chosen is None
    assert len(pick.skipped) == 2


members = st.lists(
    st.builds(
        Candidate,
        user_id=st.integers(1, 60),
        is_away=st.booleans(),
        open_leads=st.integers(0, 5),
        capacity=st.one_of(st.none(), st.integers(0, 8)),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda c: c.user_id,
)


def _simulate(team, leads):
    """Assign `leads` leads one by one, as the service does: each pick raises the count."""
    state = {c.user_id: c for c in team}
    last = None
    given_to = []
    for _ in range(leads):
        pick = pick_next(list(state.values()), last)
        if pick.chosen is None:
            given_to.append(None)
            continue
        chosen = pick.chosen
        state[chosen.user_id] = Candidate(
            chosen.user_id, chosen.is_away, chosen.open_leads + 1, chosen.capacity
        )
        last = chosen.user_id
        given_to.append(chosen.user_id)
    return given_to, state


@settings(max_examples=300, deadline=None)
@given(team=members, leads=st.integers(0, 80))
def test_never_away_and_never_beyond_capacity(team, leads):
    given_to, state = _simulate(team, leads)
    away = {c.user_id for c in team if c.is_away}
    assert not away & {u for u in given_to if u is not None}
    for original in team:
        final = state[original.user_id]
        if original.capacity is not None:
            # never pushed past capacity (someone already over it gets nothing more)
            assert final.open_leads <= max(original.capacity, original.open_leads)
            if original.open_leads >= original.capacity:
                assert final.open_leads == original.open_leads


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(st.integers(1, 500), min_size=1, max_size=10, unique=True),
    away=st.sets(st.integers(0, 9)),
    leads=st.integers(1, 300),
)
def test_fair_among_available_members_without_limits(ids, away, leads):
    team = [Candidate(uid, is_away=i in away) for i, uid in enumerate(ids)]
    available = [c.user_id for c in team if not c.is_away]
    given_to, _state = _simulate(team, leads)
    if not available:
        assert given_to == [None] * leads
        return
    counts = Counter(given_to)
    spread = [counts.get(uid, 0) for uid in available]
    assert sum(spread) == leads
    assert max(spread) - min(spread) <= 1


@settings(max_examples=200, deadline=None)
@given(team=members, leads=st.integers(1, 60))
def test_a_lead_is_only_left_unassigned_when_nobody_can_take_it(team, leads):
    given_to, state = _simulate(team, leads)
    if given_to and given_to[-1] is None:
        # at that moment every member was away or full; counts never go down
        assert all(not c.is_eligible for c in state.values())
