"""Attribute merging: last writer by timestamp wins, removals leave tombstones, order does not matter."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from relata.core.attributes import AttributeState

names = st.sampled_from(["a", "b", "c", "status"])
values = st.one_of(
    st.none(),
    st.just(""),
    st.integers(-3, 3),
    st.sampled_from(["x", "y", "active"]),
    st.booleans(),
    st.lists(st.integers(0, 2), max_size=2),
)
writes = st.lists(st.tuples(st.dictionaries(names, values, max_size=3), st.integers(0, 5)), max_size=6)


def apply_all(ops: list[tuple[dict[str, object], int]]) -> AttributeState:
    state = AttributeState()
    for attrs, stamp in ops:
        state, _ = state.merge(attrs, stamp)
    return state


@settings(max_examples=300, deadline=None)
@given(writes, st.randoms(use_true_random=False))
def test_any_permutation_of_writes_gives_the_same_state(ops, rnd) -> None:
    shuffled = list(ops)
    rnd.shuffle(shuffled)
    assert apply_all(shuffled) == apply_all(ops)


@settings(max_examples=200, deadline=None)
@given(writes)
def test_merge_is_idempotent(ops) -> None:
    once = apply_all(ops)
    assert apply_all(ops + ops) == once


def test_newer_write_wins_and_older_is_ignored() -> None:
    state, diff = AttributeState().merge({"status": "active"}, 10)
    assert diff == {"status": (None, "active")}
    state, diff = state.merge({"status": "abandoned"}, 5)
    assert diff == {}
    assert state.values == {"status": "active"}
    state, diff = state.merge({"status": "converted"}, 11)
    assert diff == {"status": ("active", "converted")}


def test_null_and_empty_string_remove_and_block_older_writes() -> None:
    state, _ = AttributeState().merge({"a": 1, "b": 2}, 10)
    state, diff = state.merge({"a": None, "b": ""}, 20)
    assert state.values == {}
    assert diff == {"a": (1, None), "b": (2, None)}
    state, diff = state.merge({"a": 5}, 15)
    assert state.values == {}
    assert diff == {}
    assert state.stamps == {"a": 20, "b": 20}


def test_all_orders_of_three_conflicting_writes_agree() -> None:
    ops = [({"a": 1}, 7), ({"a": 2}, 7), ({"a": None}, 7)]
    results = {repr(apply_all(list(p)).values) for p in itertools.permutations(ops)}
    assert len(results) == 1


def test_writes_stamped_on_arrival_keep_the_later_one_on_a_tie() -> None:
    state, _ = AttributeState().merge({"status": "converted"}, 10, arrival=True)
    state, diff = state.merge({"status": "active"}, 10, arrival=True)
    assert state.values == {"status": "active"}
    assert diff == {"status": ("converted", "active")}
    # a sender's own older timestamp still loses
    state, diff = state.merge({"status": "abandoned"}, 9)
    assert diff == {}


def test_json_types_are_not_confused_with_pythons_equal_values() -> None:
    # Python has 0 == False and [1] == [True]; JSON does not, and neither may the merge.
    state, _ = AttributeState().merge({"status": 0, "tags": [1]}, 0)
    state, diff = state.merge({"status": False, "tags": [True]}, 0)
    assert state.values == {"status": False, "tags": [True]}
    assert type(state.values["status"]) is bool
    assert set(diff) == {"status", "tags"}
    for order in itertools.permutations(
        [({"status": False}, 0), ({"status": 1}, 0), ({"a": None, "status": 0}, 0)]
    ):
        assert apply_all(list(order)).values == {"status": False}
