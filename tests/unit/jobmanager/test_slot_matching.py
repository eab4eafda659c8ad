"""Slot matching: which free slots a request gets (pure)."""

from __future__ import annotations

import pytest

from strom.jobmanager.resourcemanager.slot_matching import (
    MatchingStrategy,
    SlotRef,
    TaskManagerSlots,
    match_slots,
)


def tm(resource_id: str, order: int, num_slots: int, free: tuple[int, ...]) -> TaskManagerSlots:
    return TaskManagerSlots(resource_id, order, num_slots, free)


def test_any_fills_the_first_registered_taskmanager_first() -> None:
    tms = [tm("b", 2, 2, (0, 1)), tm("a", 1, 3, (2, 0))]
    assert match_slots(tms, 3) == [SlotRef("a", 0), SlotRef("a", 2), SlotRef("b", 0)]


def test_all_or_nothing_when_too_few_slots_are_free() -> None:
    assert match_slots([tm("a", 1, 2, (1,))], 2) is None
    assert match_slots([], 1) is None


def test_zero_slots_is_an_empty_match() -> None:
    assert match_slots([tm("a", 1, 2, (0, 1))], 0) == []


def test_negative_request_is_refused() -> None:
    with pytest.raises(ValueError):
        match_slots([], -1)


def test_spread_picks_the_least_utilized_taskmanager_each_time() -> None:
    tms = [tm("a", 1, 2, (0, 1)), tm("b", 2, 2, (0, 1)), tm("c", 3, 4, (1, 2, 3))]
    # c is 25% used; a and b 0%: a, b, then c (25%) before a again (50%).
    assert match_slots(tms, 4, MatchingStrategy.SPREAD) == [
        SlotRef("a", 0), SlotRef("b", 0), SlotRef("c", 1), SlotRef("a", 1)]


def test_matching_is_deterministic() -> None:
    tms = [tm("x", 5, 4, (3, 1, 2)), tm("y", 4, 4, (0,))]
    assert match_slots(tms, 4) == match_slots(list(reversed(tms)), 4) == [
        SlotRef("y", 0), SlotRef("x", 1), SlotRef("x", 2), SlotRef("x", 3)]


@pytest.mark.parametrize(("flag", "expected"), [(None, MatchingStrategy.ANY), ("false", MatchingStrategy.ANY),
                                                ("true", MatchingStrategy.SPREAD), (" TRUE ", MatchingStrategy.SPREAD)])
def test_strategy_from_flink_flag(flag: str | None, expected: MatchingStrategy) -> None:
    assert MatchingStrategy.from_flag(flag) is expected
